"""Microsoft Teams: Bot Framework activities in, neutral inputs to the engine, Adaptive Cards out.

The only module that imports the Bot Framework SDK. botbuilder-python is archived upstream,
so a later move to the Microsoft 365 Agents SDK should touch this file and nothing else.

Everything about the case happens in the user's 1:1 chat with the bot. A start from a
channel or group chat gets one line there ("I've messaged you privately") and the
conversation continues in a 1:1 chat the bot creates.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiohttp import web
from botbuilder.core import CardFactory, InvokeResponse, MessageFactory, TurnContext
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication
from botbuilder.schema import (
    Activity,
    ActivityTypes,
    ChannelAccount,
    ConversationParameters,
    TextFormatTypes,
)
from botframework.connector.aio import ConnectorClient
from botframework.connector.auth import AuthenticateRequestResult, ConnectorFactory
from msrest.exceptions import DeserializationError
from msrest.universal_http.requests import ClientRetryPolicy

from bot.config import TeamsSettings
from conversation import plaintext
from conversation.engine import Busy, Engine
from conversation.flow import Resource
from conversation.messages import (
    Answered,
    Choose,
    Guidance,
    Input,
    Notice,
    Outcome,
    Question,
    Reply,
    Say,
    Start,
    Turn,
    UserKey,
)
from conversation.store import StoreUnavailable

log = logging.getLogger("adapters.teams")
# msrest logs whole requests (so replies and the checklist) at DEBUG, and urllib3's retry
# warnings name the conversation in the URL.
for _name in ("msrest", "urllib3", "botbuilder", "botframework"):
    logging.getLogger(_name).setLevel(logging.ERROR if _name == "urllib3" else logging.WARNING)

# msrest (under the SDK's Connector client) builds a retry policy for every client, two per
# turn, testing 999 status codes for membership in a 500-item list: about 4 ms each, half
# of a whole turn. A set gives the same answers at once (Azure/msrest-for-python#266; msrest
# is deprecated, so the fix will not be released).
ClientRetryPolicy.safe_codes = frozenset(ClientRetryPolicy.safe_codes)

COMMAND = "report-harassment"
"""The bot command in the app manifest's commandLists; Teams sends its title as the text."""

MOVED_PRIVATE = "I've messaged you privately."
CANNOT_MOVE = (
    "I couldn't message you privately. Open a chat with me in Teams and send me any message "
    "to start."
)
CARD_VERSION = "1.4"
"""Adaptive Cards above 1.4 do not render on Teams mobile clients."""

MULTI_INPUT = "options"
"""The id of the "choose all that apply" Input.ChoiceSet; its value arrives comma-separated."""

NOT_INVOKABLE = Activity(
    type=ActivityTypes.invoke_response,
    value=InvokeResponse(status=400, body={"error": "this bot takes no invoke activities"}),
)


class Malformed(ValueError):
    """The request is not an activity this bot can read: answered 400, nothing stored or sent."""


def attach(app: web.Application, engine: Engine, settings: TeamsSettings) -> None:
    """Serve POST /api/messages with the SDK's CloudAdapter and JWT authentication."""
    authentication = Authentication(_SdkConfig(settings))
    adapter = CloudAdapter(authentication)
    adapter.on_turn_error = _turn_failed
    bot = TeamsBot(engine, settings.app_id)
    app.on_startup.append(connector_threads)

    async def messages(request: web.Request) -> web.Response:
        activity, malformed = Activity(), None
        try:
            activity = await _read(request)
            _check(activity)
        except Malformed as exc:
            malformed = exc
        # The sender first: whoever cannot sign learns nothing about the body but 401. The
        # SDK refuses a bad token with errors of many kinds (PermissionError, PyJWT's,
        # IndexError for an unknown key id, Exception for a disallowed algorithm), and
        # every one of them means the same.
        try:
            authenticated = await authentication.authenticate_request(
                activity, request.headers.get("Authorization", "")
            )
        except Exception as exc:
            log.info("teams request refused", extra={"error": type(exc).__name__})
            return web.json_response({"error": "unauthorized"}, status=401)
        if malformed:
            return web.json_response({"error": str(malformed)}, status=400)
        invoke = await adapter.process_activity(authenticated, activity, bot.on_turn)
        if invoke:
            return web.json_response(invoke.body, status=invoke.status)
        return web.Response(status=201)

    app.router.add_post("/api/messages", messages)


class Authentication(ConfigurationBotFrameworkAuthentication):
    """The SDK's own, but with Connector clients kept from turn to turn (see `_Reused`)."""

    def __init__(self, configuration: Any) -> None:
        super().__init__(configuration)
        self._clients: dict[tuple[str, str | None], ConnectorClient] = {}

    async def authenticate_request(
        self, activity: Activity, auth_header: str
    ) -> AuthenticateRequestResult:
        result = await super().authenticate_request(activity, auth_header)
        result.connector_factory = _Reused(self._clients, result.connector_factory)
        return result


class _Reused(ConnectorFactory):
    """One Connector client for each service URL, kept from turn to turn.

    botbuilder makes a new client for every turn, and with it a new HTTP session: a new
    TCP (and in production, TLS) connection for every reply. The client's credentials
    renew their own token, so a kept client stays good.
    """

    LIMIT = 32
    """Teams uses a handful of service URLs; the bound only matters to a forged flood."""

    def __init__(
        self, clients: dict[tuple[str, str | None], ConnectorClient], factory: ConnectorFactory
    ) -> None:
        self.clients = clients
        self.factory = factory

    async def create(self, service_url: str, audience: str | None = None) -> ConnectorClient:
        key = (service_url, audience)
        if (client := self.clients.get(key)) is None:
            client = await self.factory.create(service_url, audience)
            if len(self.clients) >= self.LIMIT:
                self.clients.pop(next(iter(self.clients)))
            self.clients[key] = client
        return client


async def connector_threads(app: web.Application) -> None:
    """msrest sends each Connector call with `requests` on the loop's default executor,
    which has min(32, CPUs + 4) threads: 6 on two cores, so a seventh reply in flight
    waited for a thread while the loop had nothing to do."""
    executor = ThreadPoolExecutor(max_workers=32, thread_name_prefix="connector")
    asyncio.get_running_loop().set_default_executor(executor)


class _SdkConfig:
    """The attribute names ConfigurationBotFrameworkAuthentication reads."""

    def __init__(self, settings: TeamsSettings) -> None:
        self.APP_ID = settings.app_id
        self.APP_PASSWORD = settings.app_password
        self.APP_TYPE = settings.app_type
        self.APP_TENANTID = settings.tenant_id


async def _turn_failed(context: TurnContext, error: Exception) -> None:
    # The Connector refused a send, or something unexpected: the class name only, because
    # SDK error messages can quote response bodies. Answering 201 stops Teams retrying a
    # turn that was already applied.
    log.error("teams turn failed", extra={"error": type(error).__name__})


# --- reading requests -----------------------------------------------------------------


async def _read(request: web.Request) -> Activity:
    if request.content_type != "application/json":
        raise Malformed("expected an application/json activity")
    try:
        body = json.loads(await request.read())
    except (ValueError, UnicodeDecodeError, RecursionError):  # nested deeper than Python goes
        raise Malformed("the body is not JSON") from None
    if not isinstance(body, dict):
        raise Malformed("the body is not an activity object")
    if not isinstance(body.get("type"), str) or not body["type"]:
        raise Malformed("the activity has no type")
    _check_strings(body)
    try:
        return Activity().deserialize(body)
    except DeserializationError:
        raise Malformed("the body is not a Bot Framework activity") from None


_READ_AS_TEXT = (
    "id",
    "channelId",
    "serviceUrl",
    "text",
    "replyToId",
    "from.id",
    "from.aadObjectId",
    "recipient.id",
    "conversation.id",
    "conversation.conversationType",
)
"""The fields this bot reads as text. The SDK makes a string of whatever it finds in them
(a list becomes "[]", and the number 1 becomes "1", which reads as the first option), so they
are checked as they arrived."""


def _check_strings(body: dict[str, Any]) -> None:
    for name in _READ_AS_TEXT:
        value: Any = body
        for part in name.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value is not None and not isinstance(value, str):
            raise Malformed(f"the activity's {name} is not a string")
        if isinstance(value, str) and not value.isprintable() and name != "text":
            # A lone surrogate (JSON can carry one) cannot become part of a Redis key.
            raise Malformed(f"the activity's {name} is not printable text")


def _check(activity: Activity) -> None:
    if activity.type in (ActivityTypes.message, ActivityTypes.conversation_update):
        _check_addressing(activity)
    if activity.type == ActivityTypes.message:
        _input(activity)


def _check_addressing(activity: Activity) -> None:
    """What every turn needs: who, where, where to answer, and an id to recognise retries."""
    for name, value in (
        ("id", activity.id),
        ("from.id", activity.from_property and activity.from_property.id),
        ("recipient.id", activity.recipient and activity.recipient.id),
        ("conversation.id", activity.conversation and activity.conversation.id),
        ("serviceUrl", activity.service_url),
    ):
        if not isinstance(value, str) or not value:
            raise Malformed(f"the activity has no {name}")
    if not activity.service_url.startswith(("https://", "http://")):
        raise Malformed("serviceUrl is not an http(s) URL")
    if activity.channel_id == "msteams" and not _tenant(activity):
        raise Malformed("a Teams activity must name its tenant")


def _tenant(activity: Activity) -> str:
    conversation = activity.conversation
    tenant = None
    if conversation:
        # The SDK maps conversation.tenantID; Teams sends tenantId, which lands here.
        extra = conversation.additional_properties or {}
        tenant = conversation.tenant_id or extra.get("tenantId")
    if not tenant and isinstance(activity.channel_data, dict):
        inner = activity.channel_data.get("tenant")
        tenant = inner.get("id") if isinstance(inner, dict) else None
    return tenant if isinstance(tenant, str) else ""


def _user(activity: Activity) -> UserKey:
    """The same person in every chat of their tenant: aadObjectId where Teams gives it."""
    person = activity.from_property
    return UserKey(
        "teams", _tenant(activity) or activity.channel_id or "", person.aad_object_id or person.id
    )


def _input(activity: Activity) -> Input:
    """A card submit carries our token; anything else is typed text for the engine to read."""
    value = activity.value
    if isinstance(value, dict) and "token" in value:
        token = value["token"]
        if not isinstance(token, str):
            raise Malformed("a card submit's token must be a string")
        if "option" in value:
            if not isinstance(value["option"], str):
                raise Malformed("a card submit's option must be a string")
            return Choose((value["option"],), token)
        picked = value.get(MULTI_INPUT, "")
        if not isinstance(picked, str):
            raise Malformed("a multi-select submit's options must be a string")
        return Choose(tuple(p for p in picked.split(",") if p), token)
    text = activity.text if isinstance(activity.text, str) else ""
    if text.strip().lstrip("/").casefold() == COMMAND:
        return Start()
    return Say(text.strip())


def _is_personal(activity: Activity) -> bool:
    conversation = activity.conversation
    if conversation.conversation_type in ("channel", "groupChat"):
        return False
    return not conversation.is_group


def _delivery(activity: Activity) -> str:
    """Activity ids are unique within a conversation; Teams re-sends with the same one."""
    raw = f"{activity.conversation.id}\n{activity.id}".encode()
    return "teams:" + hashlib.blake2b(raw, digest_size=16).hexdigest()


# --- the bot ----------------------------------------------------------------------------


class TeamsBot:
    """One turn per activity: translate, ask the engine, show the replies in the 1:1 chat."""

    def __init__(self, engine: Engine, app_id: str) -> None:
        self.engine = engine
        self.app_id = app_id

    async def on_turn(self, context: TurnContext) -> None:
        activity = context.activity
        if activity.type == ActivityTypes.message:
            if _is_personal(activity):
                await self._personal(context, _input(activity))
            else:
                await self._move_to_private(context)
        elif activity.type == ActivityTypes.conversation_update and _bot_added(activity):
            await self._installed(context)
        elif activity.type == ActivityTypes.invoke:
            # No card or extension of this bot invokes it, and left unanswered the SDK would
            # answer 501: say it is not a request this bot takes.
            await context.send_activity(NOT_INVOKABLE)

    async def _installed(self, context: TurnContext) -> None:
        """Installed, or the 1:1 chat opened: the welcome. Added to a team or group chat:
        nothing is said there, because the case never starts in public."""
        if _is_personal(context.activity):
            await self._personal(context, Start())

    async def _personal(self, context: TurnContext, inp: Input) -> None:
        user = _user(context.activity)
        result = await self._turn(context.activity, user, inp)
        if isinstance(result, Turn):
            card = _submitted_card(context.activity) if isinstance(inp, Choose) else None
            await self._show(context, user, result, card)
        elif result is not None:
            await context.send_activity(_notice(result))

    async def _move_to_private(self, context: TurnContext) -> None:
        activity = context.activity
        user = _user(activity)
        result = await self._turn(activity, user, Start())
        if result is None:
            return
        if isinstance(result, Notice):  # storage is down: says nothing about the case
            await context.send_activity(_notice(result))
            return
        tenant = _tenant(activity)
        params = ConversationParameters(
            is_group=False,
            bot=ChannelAccount(id=activity.recipient.id),
            members=[ChannelAccount(id=activity.from_property.id)],
            tenant_id=tenant or None,
            channel_data={"tenant": {"id": tenant}} if tenant else None,
        )

        async def in_private(private: TurnContext) -> None:
            await self._show(private, user, result, None)

        try:
            await context.adapter.create_conversation(
                self.app_id, in_private, params, activity.channel_id, activity.service_url
            )
        except Exception as exc:  # the SDK raises msrest errors of several kinds
            log.warning("teams private chat failed", extra={"error": type(exc).__name__})
            await context.send_activity(MessageFactory.text(CANNOT_MOVE))
            return
        await context.send_activity(MessageFactory.text(MOVED_PRIVATE))

    async def _turn(self, activity: Activity, user: UserKey, inp: Input) -> Turn | Notice | None:
        """The engine's turn; None for a re-delivery; the polite notice if storage is down."""
        try:
            # Teams re-sends an activity it saw no answer to within 15 seconds, with the
            # same id: the engine applies each delivery once.
            turn = await self.engine.handle(user, inp, _delivery(activity))
        except (StoreUnavailable, Busy) as exc:
            log.warning("teams turn unavailable", extra={"error": type(exc).__name__})
            return self.engine.notice("unavailable")
        return None if turn.outcome is Outcome.DUPLICATE else turn

    async def _show(
        self, context: TurnContext, user: UserKey, turn: Turn, card: str | None
    ) -> None:
        conversation = context.activity.conversation.id
        if not turn.replies:  # an answered turn always has the next question to send
            return
        if turn.answered:
            card = card or await self._last_card(user, conversation)
        # The answer shown in place and the replies are independent calls: both at once.
        sending = context.send_activities([_activity(r) for r in turn.replies])
        if card and turn.answered:
            _, sent = await asyncio.gather(self._replace(context, card, turn.answered), sending)
        else:
            sent = await sending
        questions = [
            (reply, f"{conversation}\n{response.id}")
            for reply, response in zip(turn.replies, sent, strict=True)
            if isinstance(reply, Question) and response and response.id
        ]
        if questions:
            await self.engine.store.remember_message(user, *questions[-1])

    async def _last_card(self, user: UserKey, conversation: str) -> str | None:
        """The newest question card in this chat, so a typed answer replaces it too."""
        where, _, activity_id = (await self.engine.store.recall_message(user) or "").partition("\n")
        return activity_id if where == conversation and activity_id else None

    @staticmethod
    async def _replace(context: TurnContext, card: str, answered: Answered) -> None:
        """Show the answer in place of its card. Only cosmetic, so a refusal (the card was
        deleted, say) must not stop the next question from being sent."""
        try:
            await context.update_activity(_answered(card, answered))
        except Exception as exc:  # msrest raises errors of several kinds
            log.warning("teams card update failed", extra={"error": type(exc).__name__})


def _bot_added(activity: Activity) -> bool:
    bot = activity.recipient.id if activity.recipient else None
    return any(m.id == bot for m in activity.members_added or ())


def _submitted_card(activity: Activity) -> str | None:
    """A card's Action.Submit arrives as a reply to the activity that carried the card."""
    return activity.reply_to_id if isinstance(activity.reply_to_id, str) else None


# --- replies as activities --------------------------------------------------------------


def _activity(reply: Reply) -> Activity:
    if isinstance(reply, Question):
        return _card(question_card(reply), plaintext.question(reply))
    if isinstance(reply, Guidance):
        # The checklist to keep: a card to read, and the same as text to copy, search
        # and forward, with every link written out.
        message = _card(guidance_card(reply), plaintext.strip_bold(reply.title))
        message.text = plaintext.guidance(reply)
        return message
    return _notice(reply)


def _notice(notice: Notice) -> Activity:
    message = MessageFactory.text(notice.text)
    message.text_format = TextFormatTypes.markdown
    return message


def _card(card: dict[str, Any], summary: str) -> Activity:
    """A card with its plain-text fallbacks: `summary` for notifications and chat lists,
    `fallbackText` for clients that cannot draw the card."""
    card["fallbackText"] = summary
    message = MessageFactory.attachment(CardFactory.adaptive_card(card))
    message.summary = summary
    return message


def _answered(activity_id: str, answered: Answered) -> Activity:
    """The answered question, in place of its card: the choice, and no buttons."""
    chosen = ", ".join(answered.chosen)
    card = _adaptive(
        [
            _text(answered.title, weight="Bolder"),
            _text(f"✓ {chosen}", color="Good"),
        ]
    )
    message = _card(card, f"{plaintext.strip_bold(answered.title)}: {chosen}")
    message.id = activity_id
    return message


# --- Adaptive Cards (plain dicts, schema 1.4) ------------------------------------------


def question_card(q: Question) -> dict[str, Any]:
    body: list[dict[str, Any]] = [_text(q.title, weight="Bolder", size="Medium")]
    body += [_text(p) for p in q.text.split("\n\n") if p.strip()]
    body += [_text(_resource(r), spacing="Small") for r in q.links]
    if q.multi:
        body.append(
            {
                "type": "Input.ChoiceSet",
                "id": MULTI_INPUT,
                "isMultiSelect": True,
                "style": "expanded",
                "isRequired": True,
                "errorMessage": "Choose at least one.",
                "choices": [{"title": c.label, "value": c.id} for c in q.options],
            }
        )
        body.append(_buttons([("Continue", {"token": q.token})]))
    else:
        # One button per row: long labels stay readable instead of being cut short.
        body += [_buttons([(c.label, {"token": q.token, "option": c.id})]) for c in q.options]
    return _adaptive(body)


def guidance_card(g: Guidance) -> dict[str, Any]:
    body: list[dict[str, Any]] = [
        _text(g.title, weight="Bolder", size="Large"),
        _text(g.intro),
    ]
    for item in g.items:
        parts = [_text(f"☐ {item.title}", weight="Bolder")]
        parts += [_text(line) for line in item.lines]
        parts += [_text(_resource(r), spacing="Small") for r in item.links]
        body.append({"type": "Container", "separator": True, "spacing": "Medium", "items": parts})
    body.append(_text(g.footer, separator=True))
    return _adaptive(body)


def _adaptive(body: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": CARD_VERSION,
        "body": body,
    }


def _text(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def _buttons(actions: list[tuple[str, dict[str, str]]]) -> dict[str, Any]:
    return {
        "type": "ActionSet",
        "actions": [{"type": "Action.Submit", "title": t, "data": d} for t, d in actions],
    }


def _resource(r: Resource) -> str:
    name = f"[{r.name}]({r.url})" if r.url else f"**{r.name}**"
    details = " · ".join(x for x in (r.phone, r.email) if x)
    return f"{name}: {r.description}" + (f" ({details})" if details else "")
