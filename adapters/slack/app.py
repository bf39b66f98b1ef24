"""Wiring Slack into the web app: the route, the Bolt app and its listeners, shutdown.

Every request arrives at `POST /slack/events`; `request` checks it, Bolt dispatches it to a
listener here, the listener acks within Slack's 3 seconds and hands the turn to `turns` in
a task of its own.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from conversation.engine import Engine
from conversation.messages import Choose, Say

from .blocks import ANSWER, SUBMIT
from .request import ticked, to_bolt_request, user
from .settings import SlackSettings
from .turns import Turns

log = logging.getLogger("adapters.slack")
# Both libraries log request and response bodies at DEBUG, and those carry what the user
# typed and the guidance (which reveals their answers).
for _name in ("slack_bolt", "slack_sdk"):
    logging.getLogger(_name).setLevel(logging.WARNING)
# slack_sdk looks this up in the environment before every Web API call, to warn about
# deprecated methods (this bot calls none); finding it missing costs 5% of a turn.
os.environ.setdefault("SLACKCLIENT_SKIP_DEPRECATION", "1")


BOT: web.AppKey[SlackBot] = web.AppKey("slack_bot")


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
        self.turns = Turns(engine, self.client)
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

    async def receive(self, request: web.Request) -> web.Response:
        checked = await to_bolt_request(request, self.verifier)
        if isinstance(checked, web.Response):
            return checked
        return await to_aiohttp_response(await self.bolt.async_dispatch(checked))

    # --- listeners: ack within Slack's 3 seconds, then the turn in its own task ----------

    def _listen(self) -> None:
        bolt, turns = self.bolt, self.turns

        @bolt.command(re.compile(r"^/"))
        async def command(ack, body: dict, context: AsyncBoltContext, respond) -> None:
            await ack()
            self._spawn(turns.command(user(context), body["channel_id"], respond))

        @bolt.event("message")
        async def message(event: dict, body: dict, context: AsyncBoltContext) -> None:
            if event.get("channel_type") != "im" or event.get("subtype") or event.get("bot_id"):
                return
            # Slack re-sends an event it saw no 200 for within 3 seconds, with the same id:
            # the engine applies each delivery once.
            said, delivery = Say(event.get("text", "")), f"slack:{body['event_id']}"
            self._spawn(turns.turn(user(context), event["channel"], said, delivery=delivery))

        @bolt.event(re.compile(".*"))
        async def other_event() -> None:
            """Acknowledged, so Slack does not retry what this bot does not use."""

        @bolt.action(re.compile("^" + re.escape(ANSWER)))
        async def answer(ack, body: dict, action: dict, context: AsyncBoltContext) -> None:
            await ack()
            option = action["action_id"][len(ANSWER) :]
            self._spawn(turns.clicked(body, context, Choose((option,), action.get("value", ""))))

        @bolt.action(SUBMIT)
        async def submit(ack, body: dict, action: dict, context: AsyncBoltContext) -> None:
            await ack()
            self._spawn(turns.clicked(body, context, Choose(ticked(body), action.get("value", ""))))

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
