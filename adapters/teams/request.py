"""Reading and checking Bot Framework activities, and reading them as the engine's terms.

Everything is checked before the SDK acts on it: a body it cannot read is answered 400 (after
the sender is authenticated, see `app`), and nothing is stored or sent.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from botbuilder.schema import Activity, ActivityTypes
from msrest.exceptions import DeserializationError

from conversation.messages import Choose, Input, Say, Start, UserKey

from .cards import AS_TEXT, CARD_ID, MULTI_INPUT

COMMAND = "report-harassment"
"""The bot command in the app manifest's commandLists; Teams sends its title as the text."""


class Malformed(ValueError):
    """The request is not an activity this bot can read: answered 400, nothing stored or sent."""


async def read(request: web.Request) -> Activity:
    """The body as an activity, if it is JSON this bot can read; Malformed if not."""
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


def check(activity: Activity) -> None:
    if activity.type in (ActivityTypes.message, ActivityTypes.conversation_update):
        _check_addressing(activity)
    if activity.type == ActivityTypes.message:
        input_of(activity)


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
    if activity.channel_id == "msteams" and not tenant(activity):
        raise Malformed("a Teams activity must name its tenant")


def tenant(activity: Activity) -> str:
    conversation = activity.conversation
    found = None
    if conversation:
        # The SDK maps conversation.tenantID; Teams sends tenantId, which lands here.
        extra = conversation.additional_properties or {}
        found = conversation.tenant_id or extra.get("tenantId")
    if not found and isinstance(activity.channel_data, dict):
        inner = activity.channel_data.get("tenant")
        found = inner.get("id") if isinstance(inner, dict) else None
    return found if isinstance(found, str) else ""


def user(activity: Activity) -> UserKey:
    """The same person in every chat of their tenant: aadObjectId where Teams gives it."""
    person = activity.from_property
    return UserKey(
        "teams", tenant(activity) or activity.channel_id or "", person.aad_object_id or person.id
    )


def input_of(activity: Activity) -> Input:
    """A card submit carries our token; anything else is typed text for the engine to read."""
    value = activity.value
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
            return Choose((value["option"],), token)
        picked = value.get(MULTI_INPUT, "")
        if not isinstance(picked, str):
            raise Malformed("a multi-select submit's options must be a string")
        return Choose(tuple(p for p in picked.split(",") if p), token)
    text = activity.text if isinstance(activity.text, str) else ""
    if text.strip().lstrip("/").casefold() == COMMAND:
        return Start()
    return Say(text.strip())


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


def wants_text(activity: Activity) -> bool:
    """The checklist's "Copy as text" button: the checklist as text, instead of a card."""
    value = activity.value
    return isinstance(value, dict) and value.get(AS_TEXT) == "text"
