"""Wiring Slack into the web app: the route, the Bolt app and its listeners, shutdown.

Every request arrives at `POST /slack/events`; `request` checks it, Bolt authorizes it
(one workspace's `SLACK_BOT_TOKEN`, or the installation of the workspace it came from, see
`install`) and dispatches it to a listener here, and the listener acks within Slack's 3
seconds and hands the input to the turn runner in a task of its own, with an `outbox` for
the user's DM and that workspace's client.

Nothing about a case is ever posted where others can see it: a slash command from a
channel gets only an ephemeral "I've sent you a direct message", and every question,
answer and the final checklist go to the user's DM with the bot.
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

from conversation.messages import Input, Overview, Say, Start, UserKey
from conversation.runner import Runner

from .install import Install
from .outbox import API_ERRORS, HomeOutbox, SlackOutbox, dm_of
from .request import clicked, from_home, to_bolt_request, user
from .settings import SlackSettings
from .uninstall import Uninstall

log = logging.getLogger("adapters.slack")
# Both libraries log request and response bodies at DEBUG, and those carry what the user
# typed and the guidance (which reveals their answers).
for _name in ("slack_bolt", "slack_sdk"):
    logging.getLogger(_name).setLevel(logging.WARNING)
# slack_sdk looks this up in the environment before every Web API call, to warn about
# deprecated methods (this bot calls none); finding it missing costs 5% of a turn.
os.environ.setdefault("SLACKCLIENT_SKIP_DEPRECATION", "1")


MOVED_PRIVATE = "I've sent you a direct message, so we can carry on privately."

BOT: web.AppKey[SlackBot] = web.AppKey("slack_bot")


def attach(app: web.Application, runner: Runner, settings: SlackSettings) -> None:
    bot = SlackBot(runner, settings)
    app[BOT] = bot
    runner.outboxes["slack"] = bot.outbox_for  # timers reach people outside any request
    app.router.add_post("/slack/events", bot.receive)
    if bot.install is not None:
        bot.install.attach(app)
    app.cleanup_ctx.append(bot.running)


class SlackBot:
    """Turns Slack requests into the runner's inputs, in the user's DM."""

    def __init__(self, runner: Runner, settings: SlackSettings) -> None:
        self.runner = runner
        store = runner.store
        self.verifier = SignatureVerifier(settings.signing_secret)
        self.install = Install(settings, store) if settings.oauth else None
        if self.install is not None:
            # Many workspaces: each request runs with its own workspace's installation.
            auth: dict[str, Any] = {
                "oauth_flow": self.install.flow,
                "authorize": self.install.authorize,
            }
        else:
            auth = {"token": settings.bot_token}
        self.bolt = AsyncApp(
            signing_secret=settings.signing_secret,
            # The route has verified the signature already, before anything was parsed.
            request_verification_enabled=False,
            # Each listener acks and hands the turn to a task of its own (see `_spawn`), so
            # Slack has its answer at once and the turn is tracked from the moment it exists.
            process_before_response=True,
            # Bolt's middleware for what this app never receives: the route answers
            # `ssl_check` itself, and the app has no workflow functions. Each is a step on
            # every request.
            ssl_check_enabled=False,
            attaching_function_token_enabled=False,
            logger=logging.getLogger("slack_bolt"),
            **auth,
        )
        # Bolt's own client (given one of ours, it warns that the token is unused); each
        # request's client is a copy with the request's token, sharing its session.
        self.client: AsyncWebClient = self.bolt.client
        self.client.base_url, self.client.timeout = settings.api_url, 10
        self.uninstall = Uninstall(store, self.install and self.install.installations)
        self._in_flight: set[asyncio.Task] = set()
        self._listen()

    async def client_for(
        self, team_id: str, enterprise_id: str | None = None
    ) -> AsyncWebClient | None:
        """A Web API client with the token of the workspace `team_id` (for messages the bot
        starts itself, outside any request); None where the app is not installed."""
        token = self.client.token
        if self.install is not None:
            found = await self.install.installations.find(enterprise_id, team_id, False)
            token = found.bot_token if found else None
        if not token:
            return None
        return AsyncWebClient(
            token=token,
            base_url=self.client.base_url,
            timeout=self.client.timeout,
            session=self.client.session,
        )

    async def outbox_for(self, who: UserKey) -> SlackOutbox | None:
        """An outbox for `who`'s DM outside any request (a timer firing), with their
        workspace's token from the installation store; None if the app is not installed
        there any more, or Slack would not open the DM (they left, say)."""
        grid = who.workspace.startswith("E")  # Grid users are kept under the organisation
        team, enterprise = ("", who.workspace) if grid else (who.workspace, None)
        try:
            client = await self.client_for(team, enterprise)
            if client is None:
                return None
            return SlackOutbox(client, who, await dm_of(client, who.user))
        except API_ERRORS as exc:
            log.warning("slack outbox unavailable", extra={"error": type(exc).__name__})
            return None

    async def running(self, app: web.Application) -> AsyncIterator[None]:
        """One HTTP session for every Web API call; on shutdown, turns in flight finish
        before the session and then Redis close."""
        self.client.session = aiohttp.ClientSession()
        if self.install is not None:
            await self.install.running(app)
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
        bolt = self.bolt

        # Clicks first: Bolt tries listeners in order, building each one's arguments, and a
        # click is most of the traffic (the listeners' matchers do not overlap).
        @bolt.action(re.compile(".*"))
        async def action(ack, body: dict, context: AsyncBoltContext) -> None:
            await ack()
            # A tick in the checkboxes, or a button this bot never drew: nothing to do.
            if (inp := clicked(body)) is not None:
                self._spawn(self._clicked(body, context, inp))

        @bolt.command(re.compile(r"^/"))
        async def command(ack, body: dict, context: AsyncBoltContext, respond) -> None:
            await ack()
            self._spawn(self._command(context, body["channel_id"], respond))

        @bolt.event("message")
        async def message(event: dict, body: dict, context: AsyncBoltContext) -> None:
            if event.get("channel_type") != "im" or event.get("subtype") or event.get("bot_id"):
                return
            # Slack re-sends an event it saw no 200 for within 3 seconds, with the same id:
            # the runner applies each delivery once.
            said, delivery = Say(event.get("text", "")), f"slack:{body['event_id']}"
            outbox = SlackOutbox(context.client, user(context), event["channel"])
            self._spawn(self.runner.run(user(context), said, outbox, delivery))

        @bolt.event("app_uninstalled")
        async def uninstalled(context: AsyncBoltContext) -> None:
            self._spawn(self._uninstalled(context))

        @bolt.event("tokens_revoked")
        async def revoked(event: dict, context: AsyncBoltContext) -> None:
            # The bot's token revoked is the app removed; a user's tokens (this bot asks for
            # none) leave the installation as it is.
            if event.get("tokens", {}).get("bot"):
                self._spawn(self._uninstalled(context))

        @bolt.event("app_home_opened")
        async def home_opened(event: dict, context: AsyncBoltContext) -> None:
            # The Home tab is the person's own: their overview of the reports they hold.
            if event.get("tab", "home") == "home":
                self._spawn(self._home(context, event.get("channel", "")))

        @bolt.event(re.compile(".*"))
        async def other_event() -> None:
            """Acknowledged, so Slack does not retry what this bot does not use."""

    async def _command(self, context: AsyncBoltContext, channel: str, respond) -> None:
        who = user(context)
        dm = await dm_of(context.client, who.user)
        if channel != dm:
            await respond(text=MOVED_PRIVATE, response_type="ephemeral")
        await self.runner.run(who, Start(), SlackOutbox(context.client, who, dm))

    async def _clicked(self, body: dict, context: AsyncBoltContext, inp: Input) -> None:
        who: UserKey = user(context)
        dm = context.channel_id or ""
        if not dm.startswith("D"):  # never answer anywhere but the DM
            dm = await dm_of(context.client, who.user)
        container = body["container"]
        # Only a question in the DM is updated in place: a click on a copy elsewhere is
        # answered in the DM, and nothing about the case is written into that channel.
        home = from_home(body)
        where = None
        if not home and container["channel_id"] == dm:
            where = f"{dm}\n{container['message_ts']}"
        await self.runner.run(who, inp, SlackOutbox(context.client, who, dm, where))
        if home:  # the Home tab drawn again, as the click left the report
            await self._home(context, dm)

    async def _home(self, context: AsyncBoltContext, dm: str) -> None:
        who = user(context)
        if not dm.startswith("D"):
            dm = await dm_of(context.client, who.user)
        await self.runner.run(who, Overview(), HomeOutbox(context.client, who, dm))

    async def _uninstalled(self, context: AsyncBoltContext) -> None:
        team = context.team_id or ""
        await self.uninstall(context.enterprise_id, team, bool(context.is_enterprise_install))

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
