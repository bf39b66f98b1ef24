"""Reading and checking Slack's requests: the signature first, then the shape of the body.

The route checks both before Bolt sees anything, because Bolt parses a body before it
verifies it, and a malformed one would end in a 500. Nothing here stores or sends.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import yarl
from aiohttp import web
from slack_bolt.async_app import AsyncBoltContext
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier

from conversation.messages import Act, Choose, Follow, Input, Tell, UserKey

from .blocks import ANSWER, CASE, FOLLOW, NOT_NOW, PICK, SEND, SEND_ESCALATE, SUBMIT, TELL

TELLING = (TELL, SEND, NOT_NOW, CASE, FOLLOW)
"""The action ids of telling's and the follow-ups' buttons (prefixes)."""


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
        body, as_json = read(text, request.content_type)
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
        bolt = AsyncBoltRequest(body=as_json, query=request.query_string, headers=headers)
    except (AttributeError, KeyError, IndexError, TypeError, ValueError, RecursionError):
        return web.json_response({"error": "unexpected ids in the body"}, status=400)
    # Bolt guesses the ids from wherever it finds them first (a stray top-level `user`, the
    # team of `authorizations[0]`); the user's key and the installation used come from the
    # fields checked above instead.
    for name, value in ids(body).items():
        if value is None:
            bolt.context.pop(name, None)
        else:
            bolt.context[name] = value
    return bolt


def signed(verifier: SignatureVerifier, body: str, headers: Mapping[str, str]) -> bool:
    """Slack's signature over the timestamp and body, from the last five minutes."""
    timestamp = headers.get("X-Slack-Request-Timestamp", "")
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        return False
    return verifier.is_valid(body, timestamp, headers.get("X-Slack-Signature", ""))


def read(text: str, content_type: str) -> tuple[dict[str, Any], str]:
    """The body, if it is one of the requests this bot answers, and it as JSON (for Bolt);
    Malformed or Ignored if not."""
    if content_type == "application/json":
        body = _json(text)
        _check_envelope(body)
        return body, text
    if content_type != "application/x-www-form-urlencoded":
        raise Malformed("expected application/json or application/x-www-form-urlencoded")
    form = _form(text)
    if "payload" in form:
        body = _json(form["payload"])
        _check_interaction(body)
        return body, form["payload"]
    _need_strings(form, "command", "response_url")
    _need_ids(form, "user_id", "team_id", "channel_id")
    _maybe_id(form, "enterprise_id")
    if form.get("is_enterprise_install", "false") not in ("true", "false"):
        raise Malformed("is_enterprise_install must be true or false")
    if not form["command"].startswith("/"):
        raise Malformed("a slash command starts with /")
    where = urlsplit(form["response_url"])
    if where.scheme not in ("https", "http") or not where.hostname:
        # The one-line "I've sent you a direct message" is posted there.
        raise Malformed("a slash command's response_url must be an http(s) URL")
    return form, json.dumps(form)


def _form(text: str) -> dict[str, str]:
    """A form body's fields, as `urllib.parse.parse_qsl(text, keep_blank_values=True)` reads
    them (the last of a repeated field wins), decoded by yarl's unquoter, in C: a click's
    form is JSON of several kilobytes, nearly every other character %-escaped, and
    parse_qsl's pure-Python decoding of it was a tenth of a click's CPU."""
    return dict(yarl.URL.build(query_string=text, encoded=True).query.items())


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
    _need_strings(body, "event_id")
    _need_ids(body, "team_id")
    _maybe_id(body, "enterprise_id")
    _maybe_bool(body, "is_enterprise_install")
    if event["type"] == "tokens_revoked":
        tokens = event.get("tokens", {})
        if not isinstance(tokens, dict) or not all(
            isinstance(tokens.get(kind, []), list) for kind in ("oauth", "bot")
        ):
            raise Malformed("tokens_revoked needs lists of tokens")
    if event["type"] == "app_home_opened":
        _need_ids(event, "user")
        if not isinstance(event.get("tab", ""), str):
            raise Malformed("app_home_opened's tab must be a string")
        return
    if event["type"] != "message" or event.get("subtype") or event.get("bot_id"):
        return
    _need_ids(event, "user", "channel")
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
    _need_ids(user, "id")
    if not isinstance(actions[0].get("action_id"), str) or not actions[0]["action_id"]:
        raise Malformed("an action needs an action_id")
    if not isinstance(actions[0].get("value", ""), str):
        raise Malformed("an action's value must be a string")
    enterprise = body.get("enterprise")
    if enterprise is not None:
        if not isinstance(enterprise, dict):
            raise Malformed("enterprise must be an object")
        _need_ids(enterprise, "id")
    _maybe_bool(body, "is_enterprise_install")
    team = body.get("team")
    if isinstance(team, dict):
        _need_ids(team, "id")
    elif team is None and enterprise is not None:
        _need_ids(user, "team_id")  # an org-wide install's clicks may carry no team
    else:
        raise Malformed("block_actions needs a team")
    if actions[0]["action_id"].startswith((ANSWER, SUBMIT, *TELLING)):
        container = body.get("container")
        if not isinstance(container, dict):
            raise Malformed("a click needs the message it came from")
        if not (from_home(body) and actions[0]["action_id"].startswith(CASE)):
            _need_ids(container, "channel_id")
            _need_strings(container, "message_ts")
        state = body.get("state", {})
        if not isinstance(state, dict) or not isinstance(state.get("values", {}), dict):
            raise Malformed("state.values must be an object")
        _check_ticks(state.get("values", {}))


def from_home(body: dict[str, Any]) -> bool:
    """A click in the Home tab (a view), not in a message: a report's button only."""
    container = body.get("container")
    return isinstance(container, dict) and container.get("type") == "view"


def _check_ticks(values: dict[str, Any]) -> None:
    """The checkboxes' state: each block an object, each tick an option with a value."""
    for block in values.values():
        if not isinstance(block, dict):
            raise Malformed("state.values must hold objects")
        picked = block.get(PICK)
        if picked is None:
            continue
        options = picked.get("selected_options", []) if isinstance(picked, dict) else None
        if not isinstance(options, list) or not all(
            isinstance(o, dict) and isinstance(o.get("value"), str) for o in options
        ):
            raise Malformed("selected_options must be a list of options with values")


def _need_strings(where: dict[str, Any], *fields: str) -> None:
    """Short ASCII strings: a command, a URL, an event id, a message's timestamp."""
    for field in fields:
        value = where.get(field)
        if not isinstance(value, str) or not value or not value.isascii() or len(value) > 255:
            raise Malformed(f"{field} is missing or not a string")


SLACK_ID = re.compile(r"[A-Z0-9]{1,64}")
"""A Slack id: a team (T…), organisation (E…), user (U… or W…) or channel (C…, D…, G…), all
uppercase letters and digits. They become parts of Redis key names, where a `:` or a `{}`
would change whose key it is (or which Cluster slot), so nothing else is let through."""


def _need_ids(where: dict[str, Any], *fields: str) -> None:
    for field in fields:
        value = where.get(field)
        if not isinstance(value, str) or not SLACK_ID.fullmatch(value):
            raise Malformed(f"{field} is missing or not a Slack id")


def _maybe_id(where: dict[str, Any], field: str) -> None:
    """An id Slack sends only sometimes (`enterprise_id` outside Enterprise Grid is absent,
    null or empty), but an id when it is there."""
    if where.get(field) not in (None, ""):
        _need_ids(where, field)


def _maybe_bool(where: dict[str, Any], field: str) -> None:
    if not isinstance(where.get(field, False), bool):
        raise Malformed(f"{field} must be true or false")


# --- the checked ids, as Bolt's context and the engine's terms -----------------------------


def ids(body: dict[str, Any]) -> dict[str, Any]:
    """Who sent a checked request, from the fields `read` checked and no others: the context
    Bolt authorizes with (which installation, so which token) and the user's `UserKey`."""
    enterprise: str | None
    if "command" in body:  # a slash command's form
        enterprise, team, user_id = body.get("enterprise_id"), body["team_id"], body["user_id"]
        org_wide = body.get("is_enterprise_install") == "true"
    elif body.get("type") == "block_actions":
        enterprise = (body.get("enterprise") or {}).get("id")
        team = (body.get("team") or {}).get("id") or body["user"]["team_id"]
        user_id, org_wide = body["user"]["id"], bool(body.get("is_enterprise_install"))
    elif body.get("type") == "event_callback":
        enterprise, team, event = body.get("enterprise_id"), body["team_id"], body["event"]
        said = event["type"] == "message" and not event.get("subtype") and not event.get("bot_id")
        user_id = event["user"] if said or event["type"] == "app_home_opened" else None
        org_wide = bool(body.get("is_enterprise_install"))
    else:
        return {}
    enterprise = enterprise or None
    # An Enterprise Grid user has one id across the organisation's workspaces, and may reach
    # the bot through an org-wide install and a workspace's: their progress is kept once,
    # under the organisation, so that `delete my data` deletes all of it.
    key = UserKey("slack", enterprise or team, user_id) if user_id else None
    return {
        "enterprise_id": enterprise,
        "team_id": team,
        "user_id": user_id,
        "is_enterprise_install": org_wide,
        USER_KEY: key,
    }


USER_KEY = "user_key"
"""Where the request's `UserKey` sits in Bolt's context."""


def user(context: AsyncBoltContext) -> UserKey:
    return context[USER_KEY]


def ticked(body: dict) -> tuple[str, ...]:
    """The ticked options of the checkboxes in the message whose Continue was pressed."""
    for block in body.get("state", {}).get("values", {}).values():
        picked = block.get(PICK)
        if isinstance(picked, dict):
            return tuple(o["value"] for o in picked.get("selected_options", []))
    return ()


def clicked(body: dict[str, Any]) -> Input | None:
    """The neutral input a checked click is (None: a button this bot does not act on, such
    as a tick in the checkboxes)."""
    action = body["actions"][0]
    action_id, value = action["action_id"], action.get("value", "")
    if action_id.startswith(ANSWER):
        return Choose((action_id[len(ANSWER) :],), value)
    if action_id == SUBMIT:
        return Choose(ticked(body), value)
    if action_id.startswith(TELL):
        return Tell(action_id[len(TELL) :], value)
    if action_id in (SEND, SEND_ESCALATE):
        token, _, person = value.partition("|")
        escalate = action_id == SEND_ESCALATE
        return Tell(person, token, confirmed=True, escalate=escalate) if person else None
    if action_id == NOT_NOW:
        return Tell("", value)
    if action_id.startswith(CASE):
        what, _, item = action_id[len(CASE) :].partition(":")
        return Act(what, value, item)
    if action_id.startswith(FOLLOW):
        topic, _, answer = action_id[len(FOLLOW) :].partition(":")
        return Follow(topic, answer, value)
    return None
