"""Reading and checking Bot Framework activities, and reading them as the engine's terms.

Everything is checked before the SDK acts on it: a body it cannot read is answered 400 (after
the sender is authenticated, see `app`), and nothing is stored or sent.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from botbuilder.schema import Activity, ActivityTypes

from adapters.addresses import is_loopback
from conversation.messages import Act, Choose, Follow, Input, Overview, Say, Start, Tell, UserKey

from .cards import AS_TEXT, CARD_ID, MULTI_INPUT, RESEND
from .reports import CONSENT_INVOKE, CONTEXT_CASE, CONTEXT_FORMAT
from .settings import TeamsSettings

COMMAND = "report-harassment"
"""The bot command in the app manifest's commandLists; Teams sends its title as the text."""
REPORTS = "reports"
"""The command that shows a person the reports they hold."""
UPLOAD_HOSTS = (".sharepoint.com", ".sharepoint.us", ".sharepoint-mil.us", ".sharepoint.cn")
"""Where a file the person agreed to receive is uploaded: their OneDrive, on SharePoint."""


MAX_ACTIVITY = 128 * 1024
"""Teams caps a message at about 28 KB; even written out as \\uXXXX escapes, no activity it
sends to a bot comes near this."""

BODY_SECONDS = 10
"""Teams sends an activity whole; a body still arriving after this is someone holding the
connection open. The route reads its own body (after the token is checked), so the web
process's body deadline leaves it alone and this one applies instead."""

CHANNEL = "msteams"
"""The only Bot Framework channel served: "webchat" and the rest are on for every Azure Bot."""


class Malformed(ValueError):
    """The request is not an activity this bot can read: answered 400, nothing stored or sent."""


class TooLarge(ValueError):
    """Bigger than any activity Teams sends: answered 413, and not read any further."""


class TooSlow(ValueError):
    """The body did not arrive within BODY_SECONDS of its headers: answered 408 and closed."""


class Refused(ValueError):
    """A readable activity this deployment does not serve: answered 403, nothing stored or sent."""


async def read(request: web.Request) -> Activity:
    """The body as an activity, if it is JSON this bot can read; Malformed if not."""
    if request.content_type != "application/json":
        raise Malformed("expected an application/json activity")
    raw = bytearray()
    try:
        async with asyncio.timeout(BODY_SECONDS):
            async for chunk in request.content.iter_chunked(16 * 1024):
                raw += chunk
                if len(raw) > MAX_ACTIVITY:
                    raise TooLarge(f"an activity is at most {MAX_ACTIVITY} bytes")
    except TimeoutError:
        raise TooSlow("the activity's body was too slow") from None
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):  # nested deeper than Python goes
        raise Malformed("the body is not JSON") from None
    if not isinstance(body, dict):
        raise Malformed("the body is not an activity object")
    if not isinstance(body.get("type"), str) or not body["type"]:
        raise Malformed("the activity has no type")
    _check_strings(body)
    try:
        return Activity().deserialize(body)
    except Exception:  # the SDK's models raise msrest's DeserializationError
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
    "action",
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


_ACTED_ON = (
    ActivityTypes.message,
    ActivityTypes.conversation_update,
    ActivityTypes.installation_update,
)


def check(activity: Activity) -> None:
    if activity.type in _ACTED_ON or is_consent(activity):
        _check_addressing(activity)
    if activity.type == ActivityTypes.message:
        input_of(activity)
    if is_consent(activity):
        consented(activity)


def admit(activity: Activity, settings: TeamsSettings) -> None:
    """Refused unless it comes from Teams, from a tenant served, naming a service URL on
    Microsoft's Teams hosts (in local unauthenticated mode, loopback too)."""
    if activity.channel_id != CHANNEL:
        raise Refused("this bot serves Microsoft Teams only")
    if activity.type not in _ACTED_ON and not is_consent(activity):
        return
    where = tenant(activity)
    if settings.app_type == "SingleTenant" and where != settings.tenant_id:
        raise Refused("this bot serves its own tenant only")
    if settings.allowed_tenants and where not in settings.allowed_tenants:
        raise Refused("this tenant is not served")
    check_service_url(activity.service_url, settings)
    accepted = consented(activity) if is_consent(activity) else None
    if accepted is not None:
        where = urlsplit(accepted[1].url)
        upload_host = (where.hostname or "").lower()
        if not (where.scheme == "https" and upload_host.endswith(UPLOAD_HOSTS)) and not (
            is_loopback(upload_host) and settings.allow_unauthenticated
        ):
            raise Refused("uploadUrl is not a OneDrive address")


def check_service_url(service_url: str, settings: TeamsSettings) -> None:
    """Refused unless replies to `service_url` may go: https on Microsoft's Teams hosts (in
    local unauthenticated mode, loopback too). Checked as each activity arrives, and again
    before a timer sends to a service URL kept from an earlier one."""
    url = urlsplit(service_url)
    host = (url.hostname or "").lower()
    local = is_loopback(host)
    if url.scheme != "https" and not local:
        raise Refused("serviceUrl must be https")
    if host not in settings.service_url_hosts and not (local and settings.allow_unauthenticated):
        raise Refused("serviceUrl is not a Microsoft Teams host")


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
    if activity.channel_id == CHANNEL:
        if not tenant(activity):
            raise Malformed("a Teams activity must name its tenant")
        aad = activity.from_property.aad_object_id
        if not isinstance(aad, str) or not aad or not aad.isprintable():
            raise Malformed("a Teams activity must carry from.aadObjectId")


def tenant(activity: Activity) -> str:
    """The tenant, where Teams puts it (both places, if both are given, must agree)."""
    found: list[object] = []
    if conversation := activity.conversation:
        # The SDK maps conversation.tenantID; Teams sends tenantId, which lands here.
        extra = conversation.additional_properties or {}
        found.append(conversation.tenant_id or extra.get("tenantId"))
    if isinstance(activity.channel_data, dict):
        inner = activity.channel_data.get("tenant")
        found.append(inner.get("id") if isinstance(inner, dict) else None)
    if any(t is not None and not isinstance(t, str) for t in found):
        return ""  # a list or an object where an id goes: no tenant named
    named = {t for t in found if t}
    if len(named) != 1:
        return ""
    (only,) = named
    return only if isinstance(only, str) and only.isprintable() else ""


def user(activity: Activity) -> UserKey:
    """The same person in every chat of their tenant: their Entra object id, in Teams only
    (the key's platform is the channel's: another channel raises, never shares a key)."""
    if activity.channel_id != CHANNEL:
        raise Refused("this bot serves Microsoft Teams only")
    where, person = tenant(activity), activity.from_property.aad_object_id
    if not where or not person:
        raise Malformed("a Teams user is known by tenant and aadObjectId")
    return UserKey("teams", where, person)


def removed(activity: Activity) -> bool:
    """The app uninstalled from someone's personal scope: their progress goes with it."""
    action = activity.action if isinstance(activity.action, str) else ""
    return activity.type == ActivityTypes.installation_update and action.startswith("remove")


def input_of(activity: Activity) -> Input:
    """A card submit carries our token; anything else is typed text for the engine to read."""
    value = activity.value
    told = submitted(value)
    if told is not None:
        return told
    if isinstance(value, dict) and "token" in value:
        token = value["token"]
        if not isinstance(token, str):
            raise Malformed("a card submit's token must be a string")
        for name in (CARD_ID, AS_TEXT):
            if not isinstance(value.get(name, ""), str):
                raise Malformed(f"a card submit's {name} must be a string")
        if "option" in value:
            if not isinstance(value["option"], str):
                raise Malformed("a card submit's option must be a string")
            # The checklist's "Copy as text": the checklist again, as text to copy.
            as_text = value["option"] == RESEND and value.get(AS_TEXT) == "text"
            return Choose((value["option"],), token, as_text)
        picked = value.get(MULTI_INPUT, "")
        if not isinstance(picked, str):
            raise Malformed("a multi-select submit's options must be a string")
        return Choose(tuple(p for p in picked.split(",") if p), token)
    text = activity.text if isinstance(activity.text, str) else ""
    said = text.strip().lstrip("/").casefold()
    if said == COMMAND:
        return Start()
    if said == REPORTS:
        return Overview()
    return Say(text.strip())


def submitted(value: Any) -> Tell | Act | Follow | None:
    """The neutral input a submit of a report, offer or follow-up card is (None: not one of
    them)."""
    if not isinstance(value, dict):
        return None
    if "follow" in value:
        fields = (value.get("topic"), value.get("follow"), value.get("token"))
        if not all(isinstance(f, str) for f in fields):
            raise Malformed("a follow-up's submit carries strings only")
        return Follow(*fields)  # type: ignore[arg-type]
    if "case" in value:
        fields = (value.get("act"), value.get("case"), value.get("item", ""))
        if not all(isinstance(f, str) for f in fields):
            raise Malformed("a report's submit carries strings only")
        return Act(*fields)  # type: ignore[arg-type]
    if "tell" in value or "send" in value or "escalate" in value:
        # The preview's second Send names the person under "escalate": it also agrees to
        # the report going to the school's next person if not acknowledged.
        person = value.get("send", value.get("escalate", value.get("tell")))
        token = value.get("token")
        if not isinstance(person, str) or not isinstance(token, str):
            raise Malformed("an offer's submit carries strings only")
        sent = "send" in value or "escalate" in value
        return Tell(person, token, confirmed=sent, escalate="escalate" in value)
    return None


@dataclass(frozen=True, slots=True)
class Upload:
    """Where Teams lets the bot put a file the person agreed to receive (their OneDrive)."""

    url: str
    content_url: str
    name: str
    unique_id: str
    file_type: str


def is_consent(activity: Activity) -> bool:
    return activity.type == ActivityTypes.invoke and activity.name == CONSENT_INVOKE


def consented(activity: Activity) -> tuple[Act, Upload] | None:
    """An answer to a file consent card: the record's file asked for, and where it goes;
    None if the person declined. Malformed if it is not one this bot's card asked for."""
    value = activity.value
    if not isinstance(value, dict) or value.get("action") not in ("accept", "decline"):
        raise Malformed("a file consent answer is accept or decline")
    context = value.get("context")
    if not isinstance(context, dict) or not all(
        isinstance(context.get(k), str) for k in (CONTEXT_CASE, CONTEXT_FORMAT)
    ):
        raise Malformed("a file consent answer carries the report and format it was for")
    if value["action"] == "decline":
        return None
    info = value.get("uploadInfo")
    names = ("uploadUrl", "contentUrl", "name", "uniqueId", "fileType")
    if not isinstance(info, dict) or not all(isinstance(info.get(k), str) for k in names):
        raise Malformed("an accepted file consent carries its uploadInfo")
    act = Act(Act.FILE, context[CONTEXT_CASE], context[CONTEXT_FORMAT])
    return act, Upload(*(info[k] for k in names))


def is_personal(activity: Activity) -> bool:
    conversation = activity.conversation
    if conversation.conversation_type in ("channel", "groupChat"):
        return False
    return not conversation.is_group


def delivery(activity: Activity) -> str:
    """Activity ids are unique within a conversation; Teams re-sends with the same one."""
    raw = f"{activity.conversation.id}\n{activity.id}".encode()
    return "teams:" + hashlib.blake2b(raw, digest_size=16).hexdigest()


def bot_added(activity: Activity) -> bool:
    bot = activity.recipient.id if activity.recipient else None
    return any(m.id == bot for m in activity.members_added or ())


@dataclass(frozen=True, slots=True)
class Clicked:
    """Which card a submit came from, as far as the click tells."""

    activity_id: str | None
    """Teams sends the card's activity as replyToId; some clients (Web Chat) send none."""
    card_id: str | None
    """The card's own name from its submit data, which every client sends back."""


def clicked(activity: Activity) -> Clicked:
    value = activity.value if isinstance(activity.value, dict) else {}
    reply_to = activity.reply_to_id if isinstance(activity.reply_to_id, str) else None
    return Clicked(reply_to or None, value.get(CARD_ID) or None)
