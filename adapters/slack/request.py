"""Reading and checking Slack's requests: the signature first, then the shape of the body.

The route checks both before Bolt sees anything, because Bolt parses a body before it
verifies it, and a malformed one would end in a 500. Nothing here stores or sends.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web
from slack_bolt.async_app import AsyncBoltContext
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier

from conversation.messages import UserKey

from .blocks import ANSWER, PICK, SUBMIT


class Malformed(ValueError):
    """Signed, but not a request this bot can read: answered 400, nothing stored or sent."""


class Ignored(Exception):
    """A well-formed request this bot has nothing to do with: acknowledged with 200."""


async def to_bolt_request(
    request: web.Request, verifier: SignatureVerifier
) -> AsyncBoltRequest | web.Response:
    """The request for Bolt to dispatch, or the answer it gets without Bolt seeing it."""
    raw = await request.read()
    if raw.startswith(b"ssl_check=1"):  # Slack checking the certificate: unsigned
        return web.Response(status=200)
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        return web.json_response({"error": "the body is not UTF-8"}, status=400)
    if not signed(verifier, text, request.headers):
        return web.json_response({"error": "invalid signature"}, status=401)
    try:
        body = read(text, request.content_type)
    except Malformed as exc:
        return web.json_response({"error": str(exc)}, status=400)
    except Ignored:
        return web.Response(status=200)
    # Bolt gets the body this route read, as JSON: left to itself it reads a form as
    # JSON when it starts with "{", and as nothing when "payload" appears anywhere in it
    # (a command typed as "/report-harassment payload"). Reading it, Bolt looks for ids
    # in places this route does not check, and fails on any other shape there.
    headers = {**request.headers, "Content-Type": "application/json"}
    try:
        return AsyncBoltRequest(body=json.dumps(body), query=request.query_string, headers=headers)
    except (AttributeError, KeyError, IndexError, TypeError, ValueError, RecursionError):
        return web.json_response({"error": "unexpected ids in the body"}, status=400)


def signed(verifier: SignatureVerifier, body: str, headers: Mapping[str, str]) -> bool:
    """Slack's signature over the timestamp and body, from the last five minutes."""
    timestamp = headers.get("X-Slack-Request-Timestamp", "")
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        return False
    return verifier.is_valid(body, timestamp, headers.get("X-Slack-Signature", ""))


def read(text: str, content_type: str) -> dict[str, Any]:
    """The body, if it is one of the requests this bot answers; Malformed or Ignored if not."""
    if content_type == "application/json":
        body = _json(text)
        _check_envelope(body)
        return body
    if content_type != "application/x-www-form-urlencoded":
        raise Malformed("expected application/json or application/x-www-form-urlencoded")
    form = dict(parse_qsl(text, keep_blank_values=True))
    if "payload" in form:
        body = _json(form["payload"])
        _check_interaction(body)
        return body
    _need_strings(form, "command", "user_id", "team_id", "channel_id", "response_url")
    if not form["command"].startswith("/"):
        raise Malformed("a slash command starts with /")
    return form


def _json(text: str) -> dict[str, Any]:
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than Python goes
        raise Malformed("the body is not JSON") from None
    if not isinstance(body, dict) or not isinstance(body.get("type"), str):
        raise Malformed("expected a JSON object with a type")
    return body


def _check_envelope(body: dict[str, Any]) -> None:
    if body["type"] == "url_verification":
        if not isinstance(body.get("challenge"), str):
            raise Malformed("url_verification needs a challenge")
        return
    if body["type"] != "event_callback":
        raise Ignored()
    event = body.get("event")
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        raise Malformed("event_callback needs an event with a type")
    _need_strings(body, "event_id", "team_id")
    if event["type"] != "message" or event.get("subtype") or event.get("bot_id"):
        return
    _need_strings(event, "user", "channel")
    if not isinstance(event.get("text", ""), str):
        raise Malformed("a message's text must be a string")


def _check_interaction(body: dict[str, Any]) -> None:
    if body["type"] != "block_actions":
        raise Ignored()
    actions, user = body.get("actions"), body.get("user")
    if not isinstance(actions, list) or len(actions) != 1 or not isinstance(actions[0], dict):
        raise Malformed("block_actions needs one action")
    if not isinstance(user, dict):
        raise Malformed("block_actions needs a user")
    _need_strings(user, "id")
    if not isinstance(actions[0].get("action_id"), str) or not actions[0]["action_id"]:
        raise Malformed("an action needs an action_id")
    if not isinstance(actions[0].get("value", ""), str):
        raise Malformed("an action's value must be a string")
    team = body.get("team")
    if not (isinstance(team, dict) and isinstance(team.get("id"), str)):
        raise Malformed("block_actions needs a team")
    if actions[0]["action_id"].startswith(ANSWER) or actions[0]["action_id"] == SUBMIT:
        container = body.get("container")
        if not isinstance(container, dict):
            raise Malformed("a click needs the message it came from")
        _need_strings(container, "channel_id", "message_ts")
        state = body.get("state", {})
        if not isinstance(state, dict) or not isinstance(state.get("values", {}), dict):
            raise Malformed("state.values must be an object")


def _need_strings(where: dict[str, Any], *fields: str) -> None:
    """Slack's ids are short ASCII; they become Redis keys, so nothing else is let through."""
    for field in fields:
        value = where.get(field)
        if not isinstance(value, str) or not value or not value.isascii() or len(value) > 255:
            raise Malformed(f"{field} is missing or not an id")


# --- what Bolt parsed, as the engine's terms ----------------------------------------------


def user(context: AsyncBoltContext) -> UserKey:
    return UserKey("slack", context.team_id or context.enterprise_id or "", context.user_id or "")


def ticked(body: dict) -> tuple[str, ...]:
    """The ticked options of the checkboxes in the message whose Continue was pressed."""
    for block in body.get("state", {}).get("values", {}).values():
        picked = block.get(PICK) if isinstance(block, dict) else None
        if isinstance(picked, dict):
            options = picked.get("selected_options") or []
            return tuple(o["value"] for o in options if isinstance(o.get("value"), str))
    return ()
