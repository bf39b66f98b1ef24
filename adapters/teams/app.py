"""Wiring Teams into the web app: `POST /api/messages`, through the SDK's CloudAdapter.

The sender is authenticated first, from the Authorization header alone (`signatures`, via
`connector`); only then is the body read, capped at what Teams sends, and checked
(`request`); then `TeamsBot` hands it to the turn runner, inside the request, with an
`outbox` for the chat it came from.

Everything about the case happens in the user's 1:1 chat with the bot. A start from a
channel or group chat gets one line there ("I've messaged you privately") and the
conversation continues in a 1:1 chat the bot creates.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from botbuilder.core import InvokeResponse, MessageFactory, TurnContext
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import Activity, ActivityTypes, ChannelAccount, ConversationParameters

from conversation.messages import Command, Do, Input, Outcome, Overview, Start, UserKey
from conversation.runner import Runner

from . import request
from .connector import Authentication, ConnectorApi, ConnectorError, SdkConfig
from .outbox import TeamsOutbox
from .request import (
    MAX_ACTIVITY,
    Malformed,
    Refused,
    TooLarge,
    TooSlow,
    admit,
    check,
    check_service_url,
    read,
)
from .settings import TeamsSettings
from .signatures import KeysUnavailable, Unauthorized
from .tenants import Tenants

log = logging.getLogger("adapters.teams")
# msrest logs whole requests (so replies and the checklist) at DEBUG, and urllib3's retry
# warnings name the conversation in the URL.
for _name in ("msrest", "urllib3", "botbuilder", "botframework", "msal"):
    logging.getLogger(_name).setLevel(logging.ERROR if _name == "urllib3" else logging.WARNING)


MOVED_PRIVATE = "I've messaged you privately."
CANNOT_MOVE = (
    "I couldn't message you privately. Open a chat with me in Teams and send me any message "
    "to start."
)

NOT_INVOKABLE = Activity(
    type=ActivityTypes.invoke_response,
    value=InvokeResponse(status=400, body={"error": "this bot takes no invoke activities"}),
)
INVOKED = Activity(type=ActivityTypes.invoke_response, value=InvokeResponse(status=200))


def attach(
    app: web.Application, runner: Runner, settings: TeamsSettings
) -> Callable[[], Awaitable[bool]]:
    """Serve POST /api/messages with the SDK's CloudAdapter and the Bot Framework's JWT.
    Returns the readiness check: until a signing key has arrived every activity is
    answered 503, so the process is not ready for Teams."""
    authentication = Authentication(SdkConfig(settings))
    adapter = CloudAdapter(authentication)
    adapter.on_turn_error = _turn_failed
    bot = TeamsBot(runner, authentication.api, settings)
    runner.outboxes["teams"] = bot.outbox_for  # timers reach people outside any request
    app.on_startup.append(authentication.start)
    app.on_cleanup.append(authentication.close)
    if settings.allowed_tenants:
        log.info("teams tenants served", extra={"tenants": len(settings.allowed_tenants)})
    else:
        log.warning("teams serves every tenant (TEAMS_ALLOWED_TENANTS is not set)")

    async def messages(request: web.Request) -> web.Response:
        if (request.content_length or 0) > MAX_ACTIVITY:  # refused unread, signed or not
            return _refuse(413, f"an activity is at most {MAX_ACTIVITY} bytes")
        # The sender first: whoever cannot sign learns nothing about the body but 401, and
        # costs no more than the header's check.
        try:
            identity = authentication.identify(request.headers.get("Authorization", ""))
        except KeysUnavailable:
            log.warning("teams request deferred: no signing keys yet")
            return _refuse(503, "starting up", {"Retry-After": "5"})
        except Unauthorized as exc:
            log.info("teams request refused", extra={"error": str(exc)})
            return _refuse(401, "unauthorized")
        try:
            activity = await read(request)
            check(activity)
            authenticated = authentication.result(identity, activity)
            admit(activity, settings)
        except TooLarge as exc:
            return _refuse(413, str(exc))
        except TooSlow as exc:
            response = _refuse(408, str(exc))
            response.force_close()  # the rest may never come
            return response
        except Malformed as exc:
            return _refuse(400, str(exc))
        except Unauthorized as exc:
            log.info("teams request refused", extra={"error": str(exc)})
            return _refuse(401, "unauthorized")
        except Refused as exc:
            return _refuse(403, str(exc))
        invoke = await adapter.process_activity(authenticated, activity, bot.on_turn)
        if invoke:
            return web.json_response(invoke.body, status=invoke.status)
        return web.Response(status=201)

    app.router.add_post("/api/messages", messages)

    async def ready() -> bool:
        return authentication.anonymous or authentication.keys.loaded

    return ready


def _refuse(status: int, why: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": why}, status=status, headers=headers)


async def _turn_failed(context: TurnContext, error: Exception) -> None:
    # The Connector refused a send, or something unexpected: the class name only, because
    # SDK error messages can quote response bodies. Answering 201 stops Teams retrying a
    # turn that was already applied.
    log.error("teams turn failed", extra={"error": type(error).__name__})


class TeamsBot:
    """One turn per activity: read as a neutral input, run, shown in the user's 1:1 chat."""

    def __init__(self, runner: Runner, api: ConnectorApi, settings: TeamsSettings) -> None:
        self.runner = runner
        self.api = api
        self.settings = settings
        self.tenants = Tenants(runner.store.db)

    async def outbox_for(self, who: UserKey) -> TeamsOutbox | None:
        """An outbox for `who`'s 1:1 chat outside any request (a timer firing): the chat
        created (or found: Teams keeps one) for their Entra object id, at the service URL
        their tenant's activities came from, checked against the allowed hosts again now.
        None if no activity of the tenant was seen, or Teams will not open the chat."""
        found = await self.tenants.find(who.workspace)
        if found is None:
            return None
        service_url, bot_id = found
        try:
            check_service_url(service_url, self.settings)
        except Refused:
            log.warning("teams outbox refused: serviceUrl not allowed")
            return None
        bot = ChannelAccount(id=bot_id)
        tenant = who.workspace
        params = ConversationParameters(
            is_group=False,
            bot=bot,
            members=[ChannelAccount(id=who.user)],
            tenant_id=tenant,
            channel_data={"tenant": {"id": tenant}},
        )
        try:
            chat = await self.api.create_conversation(service_url, params)
        except ConnectorError as exc:
            log.warning("teams outbox unavailable", extra={"error": type(exc).__name__})
            return None
        return TeamsOutbox(self.api, service_url, bot, tenant, who, chat)

    async def on_turn(self, context: TurnContext) -> None:
        activity = context.activity
        if activity.type == ActivityTypes.message:
            await self._turn(activity, request.input_of(activity))
        elif activity.type == ActivityTypes.conversation_update and request.bot_added(activity):
            # Installed, or the 1:1 chat opened: the welcome. Added to a team or group chat:
            # nothing is said there, because the case never starts in public.
            if request.is_personal(activity):
                await self._turn(activity, Start())
        elif request.removed(activity) and request.is_personal(activity):
            # Uninstalled from their personal scope: their progress is deleted, as if they had
            # said "delete my data", and a report they made is withdrawn from the person told.
            await self._turn(activity, Do(Command.DELETE), silent=True)
        elif request.is_consent(activity) and request.is_personal(activity):
            # The answer to a file consent card: accepted, the file is made again from the
            # report (if it is still theirs) and put where Teams said; declined, nothing.
            if (accepted := request.consented(activity)) is not None:
                await self._turn(activity, accepted[0], upload=accepted[1])
            await context.send_activity(INVOKED)
        elif activity.type == ActivityTypes.invoke:
            # No other card or extension of this bot invokes it, and left unanswered the SDK
            # would answer 501: say it is not a request this bot takes.
            await context.send_activity(NOT_INVOKABLE)

    async def _turn(
        self,
        activity: Activity,
        inp: Input,
        silent: bool = False,
        upload: request.Upload | None = None,
    ) -> None:
        user = request.user(activity)
        personal = request.is_personal(activity)
        chat = activity.conversation.id
        if not personal:
            chat = await self._private(activity)
            if chat is None:
                return
        outbox = TeamsOutbox(
            self.api,
            activity.service_url,
            activity.recipient,
            request.tenant(activity),
            user,
            chat,
            reply_to=activity.id if personal else "",
            click=request.clicked(activity) if isinstance(activity.value, dict) else None,
            upload=upload,
        )
        if silent:  # the chat has no bot any more: nothing is said in it
            outbox = _Silent(outbox)  # type: ignore[assignment]
        # Teams re-sends an activity it saw no answer to within 15 seconds, with the same id:
        # the runner applies each delivery once.
        name = activity.from_property.name if activity.from_property else None
        turn = await self.runner.run(
            user,
            # From a channel, only the person's own overview goes with them to their 1:1 chat.
            inp if personal or isinstance(inp, Overview) else Start(),
            outbox,
            request.delivery(activity),
            name if isinstance(name, str) else "",
        )
        if turn is not None and turn.timed:  # a timer will need to reach this tenant later
            await self.tenants.remember(user.workspace, activity.service_url, activity.recipient.id)
        if turn is not None and turn.outcome is not Outcome.DUPLICATE and not personal:
            await self._say_in_channel(activity, MOVED_PRIVATE)

    async def _private(self, activity: Activity) -> str | None:
        """The user's 1:1 chat, for a start from a channel or group chat."""
        tenant = request.tenant(activity)
        params = ConversationParameters(
            is_group=False,
            bot=ChannelAccount(id=activity.recipient.id),
            members=[ChannelAccount(id=activity.from_property.id)],
            tenant_id=tenant or None,
            channel_data={"tenant": {"id": tenant}} if tenant else None,
        )
        try:
            return await self.api.create_conversation(activity.service_url, params)
        except ConnectorError as exc:
            log.warning("teams private chat failed", extra={"error": type(exc).__name__})
            await self._say_in_channel(activity, CANNOT_MOVE)
            return None

    async def _say_in_channel(self, activity: Activity, text: str) -> None:
        """One line where the user wrote, about nothing but where the case went."""
        line = MessageFactory.text(text)
        line.from_property = activity.recipient
        line.conversation = activity.conversation
        line.reply_to_id = activity.id
        await self.api.send(activity.service_url, activity.conversation.id, line, activity.id)


class _Silent:
    """An outbox for a chat that is gone: its own replies are dropped, while messages to
    other people (the report withdrawn) still go."""

    def __init__(self, outbox: TeamsOutbox) -> None:
        self._outbox = outbox
        self.here = outbox.here
        self.origin = lambda newest: None
        self.send = outbox.send
        self.update = outbox.update

    async def reply(self, replies) -> list[str | None]:
        return [None] * len(replies)
