"""Telling the person who leads, in Teams: the offer, the preview and the report as
Adaptive Cards, what their submits carry, and delivering to a person's own 1:1 chat.

A report goes to the 1:1 chat the Connector creates (or finds) for the person's Entra
object id, through the turn's own Connector client: never to a channel or group chat. A
person who cannot be messaged (the app is not installed for them) is reported back as None,
for the member of staff to be told and given the text to forward.
"""

from __future__ import annotations

import logging
from typing import Any

from botbuilder.core import BotAdapter, TurnContext
from botbuilder.schema import (
    Activity,
    ChannelAccount,
    ConversationAccount,
    ConversationParameters,
    TextFormatTypes,
)

from conversation import plaintext
from conversation.messages import Act, Deliver, Offer, Preview, Reply, Report, Tell, UserKey

from . import cards
from .cards import _adaptive, _block, _buttons, _card, _resource, _text, markdown

log = logging.getLogger("adapters.teams")

SOMEONE = "the member of staff"
"""Drawn in a mention when Teams did not name the reporter in this turn (an update)."""


def as_activity(reply: Reply) -> Activity:
    """Any reply as an activity: the new kinds here, the rest as `cards` draws them."""
    if isinstance(reply, Offer):
        return _card(offer_card(reply), plaintext.offer(reply))
    if isinstance(reply, Preview):
        message = _card(preview_card(reply), plaintext.strip_bold(reply.text))
        message.text = plaintext.preview(reply, _name(reply.report))
        message.text_format = TextFormatTypes.plain  # names in it draw no markdown
        return message
    if isinstance(reply, Report):
        message = _card(report_card(reply), plaintext.strip_bold(reply.heading))
        message.text = plaintext.report(reply, _name(reply))
        message.text_format = TextFormatTypes.plain
        return message
    return cards.as_activity(reply)


def offer_card(o: Offer) -> dict[str, Any]:
    body = [_text(o.title, weight="Bolder", size="Medium")]
    body += [_text(p) for p in o.text.split("\n\n") if p.strip()]
    body += [_buttons([(c.label, {"tell": c.id, "token": o.token})]) for c in o.choices]
    return _adaptive(body)


def preview_card(p: Preview) -> dict[str, Any]:
    inner = report_card(p.report)
    body = [_text(p.text), {"type": "Container", "style": "emphasis", "items": inner["body"]}]
    body.append(
        _buttons(
            [
                (p.send, {"send": p.person, "token": p.token}),
                (p.not_now, {"tell": "", "token": p.token}),
            ]
        )
    )
    card = _adaptive(body)
    card["msteams"] = inner["msteams"]
    return card


def report_card(r: Report) -> dict[str, Any]:
    """The report: who and when, the checklist with a Mark done on each item, and its
    buttons. Withdrawn, only that is said."""
    at = f"<at>{_name(r)}</at>"
    mention = {
        "entities": [
            {"type": "mention", "text": at, "mentioned": {"id": r.reporter, "name": _name(r)}}
        ]
    }
    if r.withdrawn:
        card = _adaptive([_block(markdown(r.withdrawn).format(reporter=at))])
        card["msteams"] = mention
        return card
    live = bool(r.case and r.labels)
    body = [
        _text(r.heading, weight="Bolder", size="Large"),
        _block(markdown(r.text).format(reporter=at)),
        *(_text(s, isSubtle=True, spacing="Small") for s in r.status),
    ]
    for task in r.tasks:
        item = task.item
        parts = [_text(f"{'☑' if task.done else '☐'} {item.title}", weight="Bolder")]
        parts += [_text(line) for line in item.lines]
        parts += [_block(_resource(x), spacing="Small") for x in item.links]
        if task.done:
            parts.append(_text(task.done, color="Good"))
        elif live and r.labels:
            parts.append(_buttons([(r.labels.done, _act(r, Act.DONE, item.id))]))
        body.append({"type": "Container", "separator": True, "spacing": "Medium", "items": parts})
    body.append(_text(r.guidance.footer, separator=True))
    if live and r.labels:
        actions = [(r.labels.walk, _act(r, Act.WALK)), (r.labels.record, _act(r, Act.RECORD))]
        if not r.acknowledged:
            actions.insert(0, (r.labels.acknowledge, _act(r, Act.ACKNOWLEDGE)))
        body.append(_buttons(actions))
    card = _adaptive(body)
    card["msteams"] = mention
    return card


def _act(r: Report, action: str, item: str = "") -> dict[str, str]:
    return {"case": r.case, "act": action, **({"item": item} if item else {})}


_UNSAFE_IN_NAMES = frozenset("<>[]\\`&")
"""What could end a mention (`</at>`, `&lt;/at&gt;`) or start a link or code in a card."""


def _name(r: Report) -> str:
    """The reporter's display name as Teams sent it, which anyone can set, kept to what can
    only be shown: no character from `_UNSAFE_IN_NAMES`, no control character, one line."""
    kept = "".join(c if c.isprintable() else " " for c in r.reporter_name)
    name = " ".join("".join(c for c in kept if c not in _UNSAFE_IN_NAMES).split())
    return name[:100] or SOMEONE


class SubmitError(ValueError):
    """A submit of these cards with a field that is not a string."""


def submitted(value: Any) -> Tell | Act | None:
    """The neutral input a submit of these cards is (None: not one of them)."""
    if not isinstance(value, dict):
        return None
    if "case" in value:
        fields = (value.get("act"), value.get("case"), value.get("item", ""))
        if not all(isinstance(f, str) for f in fields):
            raise SubmitError("a report's submit carries strings only")
        return Act(*fields)  # type: ignore[arg-type]
    if "tell" in value or "send" in value:
        person, token = value.get("send", value.get("tell")), value.get("token")
        if not isinstance(person, str) or not isinstance(token, str):
            raise SubmitError("an offer's submit carries strings only")
        return Tell(person, token, confirmed="send" in value)
    return None


class Courier:
    """Delivers a `Deliver` through the turn's own Connector client: into this chat, into
    another person's 1:1 chat (created for their object id), or over a message sent before."""

    def __init__(self, context: TurnContext, here: UserKey, tenant: str) -> None:
        self.context = context
        self.here = here
        self.tenant = tenant

    async def deliver(self, d: Deliver) -> str | None:
        """Where the message now is (`conversation\\nactivity`), or None if it could not be
        delivered."""
        activity = as_activity(d.reply)
        context = self.context
        client = context.turn_state.get(BotAdapter.BOT_CONNECTOR_CLIENT_KEY)
        bot = context.activity.recipient
        try:
            if d.update:
                conversation, _, activity_id = d.update.partition("\n")
                activity.id = activity_id
                activity.conversation = ConversationAccount(id=conversation)
                activity.from_property = bot
                await client.conversations.update_activity(conversation, activity_id, activity)
                return d.update
            if d.to == self.here:
                sent = await context.send_activity(activity)
                return f"{context.activity.conversation.id}\n{sent.id}"
            params = ConversationParameters(
                is_group=False,
                bot=ChannelAccount(id=bot.id),
                members=[ChannelAccount(id=d.to.user)],
                tenant_id=self.tenant or None,
                channel_data={"tenant": {"id": self.tenant}} if self.tenant else None,
            )
            created = await client.conversations.create_conversation(params)
            activity.from_property = bot
            activity.conversation = ConversationAccount(id=created.id)
            sent = await client.conversations.send_to_conversation(created.id, activity)
        except Exception as exc:  # msrest raises errors of several kinds
            log.warning("teams delivery failed", extra={"error": type(exc).__name__})
            return None
        return f"{created.id}\n{sent.id}"
