"""Slack: Events API, `/report-harassment` and button clicks in; Block Kit in the user's DM out.

Every request arrives at `POST /slack/events` and goes through a slack_bolt `AsyncApp`.
The route checks the signature and the shape of the body before Bolt sees it, because
Bolt parses a body before it verifies it, and a malformed one would end in a 500.

Nothing about a case is ever posted where others can see it: a slash command from a
channel gets only an ephemeral "I've sent you a direct message", and every question,
answer and the final checklist go to the user's DM with the bot.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
from collections.abc import AsyncIterator, Coroutine, Mapping
from dataclasses import replace
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    CheckboxesElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    Option,
    SectionBlock,
)
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import SlackSettings
from conversation import plaintext
from conversation.engine import Busy, Engine
from conversation.flow import Resource
from conversation.messages import (
    Answered,
    Choose,
    Guidance,
    Input,
    Notice,
    Question,
    Reply,
    Say,
    Start,
    UserKey,
)
from conversation.store import StoreUnavailable

log = logging.getLogger("adapters.slack")
# Both libraries log request and response bodies at DEBUG, and those carry what the user
# typed and the guidance (which reveals their answers).
for _name in ("slack_bolt", "slack_sdk"):
    logging.getLogger(_name).setLevel(logging.WARNING)
# slack_sdk looks this up in the environment before every Web API call, to warn about
# deprecated methods (this bot calls none); finding it missing costs 5% of a turn.
os.environ.setdefault("SLACKCLIENT_SKIP_DEPRECATION", "1")

ANSWER = "answer:"
"""Prefix of a single-choice button's action_id; the option id follows, the token is its value."""
PICK = "pick"
"""The "choose all that apply" checkboxes: each tick is acknowledged and otherwise ignored."""
SUBMIT = "submit"
"""The Continue button under the checkboxes; its value is the token, the ticks come from
`state.values`."""

MOVED_PRIVATE = "I've sent you a direct message, so we can carry on privately."
API_ERRORS = (SlackApiError, SlackClientError, aiohttp.ClientError, asyncio.TimeoutError)


BOT: web.AppKey[SlackBot] = web.AppKey("slack_bot")


class Malformed(ValueError):
    """Signed, but not a request this bot can read: answered 400, nothing stored or sent."""


class Ignored(Exception):
    """A well-formed request this bot has nothing to do with: acknowledged with 200."""


def attach(app: web.Application, engine: Engine, settings: SlackSettings) -> None:
    bot = SlackBot(engine, settings)
    app[BOT] = bot
    app.router.add_post("/slack/events", bot.receive)
    app.cleanup_ctx.append(bot.running)


class SlackBot:
    """Turns Slack requests into engine turns, and the engine's replies into DMs."""

    def __init__(self, engine: Engine, settings: SlackSettings) -> None:
        self.engine = engine
        self.verifier = SignatureVerifier(settings.signing_secret)
        self.bolt = AsyncApp(
            token=settings.bot_token,
            # The route has verified the signature already, before anything was parsed.
            request_verification_enabled=False,
            # Each listener acks and hands the turn to a task of its own (see `_spawn`), so
            # Slack has its answer at once and the turn is tracked from the moment it exists.
            process_before_response=True,
            logger=logging.getLogger("slack_bolt"),
        )
        # Bolt's own client (given one of ours, it warns that the token is unused).
        self.client: AsyncWebClient = self.bolt.client
        self.client.base_url, self.client.timeout = settings.api_url, 10
        self._in_flight: set[asyncio.Task] = set()
        self._listen()

    async def running(self, app: web.Application) -> AsyncIterator[None]:
        """One HTTP session for every Web API call; on shutdown, turns in flight finish
        before the session and then Redis close."""
        self.client.session = aiohttp.ClientSession()
        yield
        await self.idle()
        await self.client.session.close()

    async def idle(self, timeout: float = 10) -> None:
        """Wait (up to `timeout` seconds) for every turn in flight to finish."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self._in_flight and (left := deadline - asyncio.get_running_loop().time()) > 0:
            await asyncio.wait(set(self._in_flight), timeout=left)

    # --- the route ---------------------------------------------------------------------

    async def receive(self, request: web.Request) -> web.Response:
        raw = await request.read()
        if raw.startswith(b"ssl_check=1"):  # Slack checking the certificate: unsigned
            return web.Response(status=200)
        try:
            text = raw.decode()
        except UnicodeDecodeError:
            return web.json_response({"error": "the body is not UTF-8"}, status=400)
        if not self._signed(text, request.headers):
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
            bolt_request = AsyncBoltRequest(
                body=json.dumps(body), query=request.query_string, headers=headers
            )
        except (AttributeError, KeyError, IndexError, TypeError, ValueError, RecursionError):
            return web.json_response({"error": "unexpected ids in the body"}, status=400)
        return await to_aiohttp_response(await self.bolt.async_dispatch(bolt_request))

    def _signed(self, body: str, headers: Mapping[str, str]) -> bool:
        """Slack's signature over the timestamp and body, from the last five minutes."""
        timestamp = headers.get("X-Slack-Request-Timestamp", "")
        if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
            return False
        return self.verifier.is_valid(body, timestamp, headers.get("X-Slack-Signature", ""))

    # --- listeners: ack within Slack's 3 seconds, then the turn in its own task ----------

    def _listen(self) -> None:
        bolt = self.bolt

        @bolt.command(re.compile(r"^/"))
        async def command(ack, body: dict, context: AsyncBoltContext, respond) -> None:
            await ack()
            self._spawn(self._command(_user(context), body["channel_id"], respond))

        @bolt.event("message")
        async def message(event: dict, body: dict, context: AsyncBoltContext) -> None:
            if event.get("channel_type") != "im" or event.get("subtype") or event.get("bot_id"):
                return
            # Slack re-sends an event it saw no 200 for within 3 seconds, with the same id:
            # the engine applies each delivery once.
            said, delivery = Say(event.get("text", "")), f"slack:{body['event_id']}"
            self._spawn(self._turn(_user(context), event["channel"], said, delivery=delivery))

        @bolt.event(re.compile(".*"))
        async def other_event() -> None:
            """Acknowledged, so Slack does not retry what this bot does not use."""

        @bolt.action(re.compile("^" + re.escape(ANSWER)))
        async def answer(ack, body: dict, action: dict, context: AsyncBoltContext) -> None:
            await ack()
            option = action["action_id"][len(ANSWER) :]
            self._spawn(self._clicked(body, context, Choose((option,), action.get("value", ""))))

        @bolt.action(SUBMIT)
        async def submit(ack, body: dict, action: dict, context: AsyncBoltContext) -> None:
            await ack()
            self._spawn(
                self._clicked(body, context, Choose(_ticked(body), action.get("value", "")))
            )

        @bolt.action(re.compile(".*"))
        async def other_action(ack) -> None:
            """A tick in the checkboxes, or a button this bot never drew: nothing to do."""
            await ack()

    def _spawn(self, turn: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(self._guarded(turn))
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    @staticmethod
    async def _guarded(turn: Coroutine[Any, Any, None]) -> None:
        try:
            await turn
        except Exception as exc:
            # The class only: SDK errors can quote request and response bodies.
            log.error("slack turn failed", extra={"error": type(exc).__name__})

    # --- a turn ------------------------------------------------------------------------

    async def _command(self, user: UserKey, channel: str, respond) -> None:
        dm = await self._dm(user.user)
        if channel != dm:
            await respond(text=MOVED_PRIVATE, response_type="ephemeral")
        await self._turn(user, dm, Start())

    async def _clicked(self, body: dict, context: AsyncBoltContext, choice: Choose) -> None:
        dm = context.channel_id or ""
        if not dm.startswith("D"):  # never answer anywhere but the DM
            dm = await self._dm(context.user_id)
        clicked = f"{body['container']['channel_id']}\n{body['container']['message_ts']}"
        await self._turn(_user(context), dm, choice, clicked)

    async def _turn(
        self,
        user: UserKey,
        dm: str,
        inp: Input,
        clicked: str | None = None,
        delivery: str | None = None,
    ) -> None:
        try:
            turn = await self.engine.handle(user, inp, delivery)
        except (StoreUnavailable, Busy) as exc:
            log.warning("slack turn unavailable", extra={"error": type(exc).__name__})
            await self._post(dm, self.engine.notice("unavailable"))
            return
        question = None
        if turn.answered:
            question = clicked or await self.engine.store.recall_message(user)
        # The answer shown in place and the replies posted after it are independent calls,
        # so they go out together: a turn costs one Slack round trip, not two.
        posting = self._post_all(user, dm, turn.replies)
        if question and turn.answered:
            await asyncio.gather(self._replace(question, turn.answered), posting)
        else:
            await posting

    async def _post_all(self, user: UserKey, dm: str, replies: tuple[Reply, ...]) -> None:
        """The replies in order; then note where the question is, for a typed answer."""
        posted = None
        for reply in replies:
            ts = await self._post(dm, reply)
            if isinstance(reply, Question) and ts:
                posted = reply, f"{dm}\n{ts}"
        if posted:
            await self.engine.store.remember_message(user, *posted)

    async def _post(self, channel: str, reply: Reply) -> str | None:
        text, blocks = render(reply)
        response = await self.client.chat_postMessage(
            channel=channel, text=text, blocks=blocks, unfurl_links=False, unfurl_media=False
        )
        return response.get("ts")

    async def _replace(self, message: str, answered: Answered) -> None:
        """Show the answer in place of its question. Only cosmetic, so a refusal (the
        message was deleted, say) must not stop the next question being sent."""
        channel, _, ts = message.partition("\n")
        text, blocks = answered_blocks(answered)
        try:
            await self.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
        except API_ERRORS as exc:
            log.warning("slack update failed", extra={"error": type(exc).__name__})

    async def _dm(self, user_id: str | None) -> str:
        response = await self.client.conversations_open(users=user_id)
        return response["channel"]["id"]


def _user(context: AsyncBoltContext) -> UserKey:
    return UserKey("slack", context.team_id or context.enterprise_id or "", context.user_id or "")


def _ticked(body: dict) -> tuple[str, ...]:
    """The ticked options of the checkboxes in the message whose Continue was pressed."""
    for block in body.get("state", {}).get("values", {}).values():
        picked = block.get(PICK) if isinstance(block, dict) else None
        if isinstance(picked, dict):
            options = picked.get("selected_options") or []
            return tuple(o["value"] for o in options if isinstance(o.get("value"), str))
    return ()


# --- reading requests ---------------------------------------------------------------------


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


# --- Block Kit -----------------------------------------------------------------------------


# Messages are built once for each distinct content and kept: the questions, notices and
# checklists are few, and only a question's token changes from one turn to the next.


def render(reply: Reply) -> tuple[str, list[dict[str, Any]]]:
    """A message's plain-text fallback (notifications, screen readers) and its blocks."""
    if isinstance(reply, Question):
        text, blocks, buttons = _question(replace(reply, token="", version=0))
        return text, [*blocks, _with_token(buttons, reply.token)]
    return _rendered(reply)


@lru_cache(maxsize=1024)
def _rendered(reply: Guidance | Notice) -> tuple[str, list[dict[str, Any]]]:
    if isinstance(reply, Guidance):
        return plaintext.guidance(reply), guidance_blocks(reply)
    return plaintext.render(reply), _dicts([_section(_mrkdwn(reply.text))])


@lru_cache(maxsize=1024)
def _question(q: Question) -> tuple[str, list[dict[str, Any]], dict[str, Any]]:
    """A question without its token: the text, the blocks above the buttons, the buttons."""
    blocks: list[Block] = [_section(f"*{_mrkdwn(q.title)}*\n\n{_mrkdwn(q.text)}")]
    if q.links:
        blocks.append(_section(_links(q.links)))
    if q.multi:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=CHOOSE_ALL)]))
        elements: list = [
            CheckboxesElement(
                action_id=PICK, options=[Option(value=c.id, label=c.label) for c in q.options]
            ),
            ButtonElement(text="Continue", action_id=SUBMIT, value=_TOKEN, style="primary"),
        ]
    else:
        elements = [
            ButtonElement(text=c.label, action_id=ANSWER + c.id, value=_TOKEN) for c in q.options
        ]
    return plaintext.question(q), _dicts(blocks), ActionsBlock(elements=elements).to_dict()


_TOKEN = "token"
"""Where a question's token goes: every button's value."""


def _with_token(actions: dict[str, Any], token: str) -> dict[str, Any]:
    elements = [
        {**e, "value": token} if e.get("value") == _TOKEN else e for e in actions["elements"]
    ]
    return {**actions, "elements": elements}


def guidance_blocks(g: Guidance) -> list[dict[str, Any]]:
    """A checklist: one section per thing to do, with its links under it."""
    blocks: list[Block] = [
        HeaderBlock(text=plaintext.strip_bold(g.title)),
        _section(_mrkdwn(g.intro)),
    ]
    for item in g.items:
        lines = [f"☐ *{_mrkdwn(item.title)}*", *(_mrkdwn(line) for line in item.lines)]
        blocks += [DividerBlock(), _section("\n".join(lines))]
        if item.links:
            blocks.append(_section(_links(item.links)))
    blocks += [DividerBlock(), _section(_mrkdwn(g.footer))]
    return _dicts(blocks)


@lru_cache(maxsize=1024)
def answered_blocks(a: Answered) -> tuple[str, list[dict[str, Any]]]:
    """The answered question, in place of the question: the choice, and no buttons."""
    chosen = ", ".join(a.chosen)
    text = f"{plaintext.strip_bold(a.title)}: {chosen}"
    return text, _dicts([_section(f"*{_mrkdwn(a.title)}*\n✓ {_mrkdwn(chosen)}")])


CHOOSE_ALL = "Choose all that apply, then press *Continue*."


def _section(mrkdwn: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=mrkdwn))


def _dicts(blocks: list[Block]) -> list[dict[str, Any]]:
    """Block Kit's models check every length limit as they are turned into JSON."""
    return [b.to_dict() for b in blocks]


def _mrkdwn(text: str) -> str:
    """The flow's **bold** as Slack's *bold*, with &, < and > escaped as Slack asks."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return escaped.replace("**", "*")


def _links(resources: tuple[Resource, ...]) -> str:
    return "\n".join(f"• {_resource(r)}" for r in resources)


def _resource(r: Resource) -> str:
    name = f"<{r.url}|{_mrkdwn(r.name)}>" if r.url else f"*{_mrkdwn(r.name)}*"
    details = " · ".join(x for x in (r.phone, r.email) if x)
    return f"{name}: {_mrkdwn(r.description)}" + (f" ({_mrkdwn(details)})" if details else "")
