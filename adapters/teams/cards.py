"""Rendering: the engine's neutral replies as Bot Framework activities and Adaptive Cards.

Cards are plain dicts of schema 1.4; the input ids and submit data drawn here are the ones
`request` reads. Every card built here is checked by Microsoft's own Adaptive Cards library
(tests/test_cards.py), and drawn by it in `python -m bot preview`.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from typing import Any

from botbuilder.core import CardFactory, MessageFactory
from botbuilder.schema import Activity, TextFormatTypes

from conversation import plaintext
from conversation.flow import Resource
from conversation.messages import (
    Act,
    Answered,
    Closed,
    Follow,
    Guidance,
    Notice,
    Nudge,
    Offer,
    Plain,
    Preview,
    Question,
    Reply,
    Report,
)

CARD_VERSION = "1.4"
"""Adaptive Cards above 1.4 do not render on Teams mobile clients."""

MULTI_INPUT = "options"
"""The id of the "choose all that apply" Input.ChoiceSet; its value arrives comma-separated."""
MULTI_LABEL = "Choose all that apply"
"""Microsoft's library refuses a required input without a label (the card is drawn blank),
and screen readers read it out."""

CARD_ID = "card"
"""Submit data naming the card a click came from, for clients that send no replyToId."""
AS_TEXT = "as"
"""Submit data of the checklist's "Copy as text" button (value "text")."""
COPY_AS_TEXT = "Copy as text"
RESEND = "resend"
"""The final step's option that sends the checklist again: "Copy as text" asks for it as text."""
CLOSED = "This question is closed: answer the newest one below."


def new_card_id() -> str:
    """A question card's own name (random, says nothing about the case)."""
    return secrets.token_hex(6)


def activities(replies: Iterable[Reply]) -> list[tuple[Activity, str | None]]:
    """Each reply as an activity, with the card id of each question card (else None).

    The checklist comes just before the final question and carries its token, so that its
    "Copy as text" button asks for the checklist of this very conversation."""
    replies = list(replies)
    out: list[tuple[Activity, str | None]] = []
    for i, reply in enumerate(replies):
        if isinstance(reply, Question):
            card_id = new_card_id()
            out.append((question_activity(reply, card_id), card_id))
        elif isinstance(reply, Guidance):
            after = next((r for r in replies[i + 1 :] if isinstance(r, Question)), None)
            out.append((guidance_activity(reply, after.token if after else None), None))
        else:
            out.append((_other(reply), None))
    return out


def _other(reply: Reply) -> Activity:
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
    if isinstance(reply, Plain):
        return plain_text(reply.text)
    if isinstance(reply, Nudge):
        return _card(nudge_card(reply), plaintext.strip_bold(reply.title or reply.text))
    assert isinstance(reply, Notice)
    return notice(reply)


def as_activity(shown: Reply | Answered | Closed) -> Activity:
    """One reply on its own (a checklist without a following question has no copy button),
    or what an earlier message becomes."""
    if isinstance(shown, Answered):
        return answered(shown)
    if isinstance(shown, Closed):
        return closed()
    ((activity, _),) = activities([shown])
    return activity


def question_activity(q: Question, card_id: str = "") -> Activity:
    return _card(question_card(q, card_id), plaintext.question(q))


def guidance_activity(g: Guidance, token: str | None = None) -> Activity:
    """The checklist, once, as a card. Its plain-text summary is short on purpose: the whole
    checklist as text (about 3,000 characters) is what a person asks for with the button."""
    summary = plaintext.strip_bold(g.title)
    return _card(guidance_card(g, token), f"{summary}: open this message to read it.")


def plain_text(text: str) -> Activity:
    """Text to copy, search and forward (the checklist as text, every link written out).
    Plain, so that clients keep its line breaks and link nothing by guesswork."""
    message = MessageFactory.text(text)
    message.text_format = TextFormatTypes.plain
    return message


def notice(reply: Notice) -> Activity:
    message = MessageFactory.text(markdown(reply.text))
    message.text_format = TextFormatTypes.markdown
    return message


def _card(card: dict[str, Any], summary: str) -> Activity:
    """A card with its plain-text fallbacks: `summary` for notifications and chat lists,
    `fallbackText` for clients that cannot draw the card."""
    card["fallbackText"] = summary
    message = MessageFactory.attachment(CardFactory.adaptive_card(card))
    message.summary = summary
    return message


def answered(reply: Answered) -> Activity:
    """The answered question, in place of its card: the choice, and no buttons."""
    return _card(answered_card(reply), answered_summary(reply))


def answered_summary(reply: Answered) -> str:
    return f"{plaintext.strip_bold(reply.title)}: {', '.join(reply.chosen)}"


def closed() -> Activity:
    """An older question card, once the same or a newer question is shown below it: no live
    buttons are left behind to answer the wrong card."""
    return _card(closed_card(), CLOSED)


# --- Adaptive Cards ---------------------------------------------------------------------

SOMEONE = "the member of staff"
"""Drawn in a mention when Teams did not name the reporter in this turn (an update)."""


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
    if p.escalate:  # its own row: the label is long
        body.append(_buttons([(p.escalate, {"escalate": p.person, "token": p.token})]))
    card = _adaptive(body)
    card["msteams"] = inner["msteams"]
    return card


def nudge_card(n: Nudge) -> dict[str, Any]:
    """A message the bot starts itself: its title and text, links, and its buttons, one a
    row (a report's, or a follow-up's)."""
    body = [_text(n.title, weight="Bolder", size="Medium")] if n.title else []
    body += [_text(p) for p in n.text.split("\n\n") if p.strip()]
    body += [_text(_resource(r), spacing="Small") for r in n.links]
    for b in n.buttons:
        if isinstance(b.input, Follow):
            data = {"follow": b.input.answer, "topic": b.input.topic, "token": b.input.token}
        else:
            data = {"case": b.input.case, "act": b.input.action}
            if b.input.item:
                data["item"] = b.input.item
        body.append(_buttons([(b.label, data)]))
    return _adaptive(body)


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


def question_card(q: Question, card_id: str = "") -> dict[str, Any]:
    body: list[dict[str, Any]] = [_text(q.title, weight="Bolder", size="Medium")]
    body += [_text(p) for p in q.text.split("\n\n") if p.strip()]
    body += [_block(_resource(r), spacing="Small") for r in q.links]
    data = {"token": q.token, **({CARD_ID: card_id} if card_id else {})}
    if q.multi:
        body.append(
            {
                "type": "Input.ChoiceSet",
                "id": MULTI_INPUT,
                "label": MULTI_LABEL,
                "isMultiSelect": True,
                "style": "expanded",
                "isRequired": True,
                "errorMessage": "Choose at least one.",
                "choices": [{"title": c.label, "value": c.id} for c in q.options],
            }
        )
        body.append(_buttons([("Continue", data)]))
    else:
        # One button per row: long labels stay readable instead of being cut short.
        body += [_buttons([(c.label, {**data, "option": c.id})]) for c in q.options]
    return _adaptive(body)


def guidance_card(g: Guidance, token: str | None = None) -> dict[str, Any]:
    body: list[dict[str, Any]] = [
        _text(g.title, weight="Bolder", size="Large"),
        _text(g.intro),
    ]
    for item in g.items:
        parts = [_text(f"☐ {item.title}", weight="Bolder")]
        parts += [_text(line) for line in item.lines]
        parts += [_block(_resource(r), spacing="Small") for r in item.links]
        body.append({"type": "Container", "separator": True, "spacing": "Medium", "items": parts})
    body.append(_text(g.footer, separator=True))
    if token:
        body.append(_buttons([(COPY_AS_TEXT, {"token": token, "option": RESEND, AS_TEXT: "text"})]))
    return _adaptive(body)


def answered_card(reply: Answered) -> dict[str, Any]:
    chosen = ", ".join(reply.chosen)
    return _adaptive([_text(reply.title, weight="Bolder"), _text(f"✓ {chosen}", color="Good")])


def closed_card() -> dict[str, Any]:
    return _adaptive([_text(CLOSED, isSubtle=True)])


def _adaptive(body: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": CARD_VERSION,
        "body": body,
    }


_MARKUP = re.compile(r"([\\`\[\]<>])")
"""What could begin a link (`[…](…)`, `<https://…>`), a mention (`<at>`) or code in Teams
markdown, or escape what follows it."""


def markdown(text: str) -> str:
    """The flow's text as Teams markdown: its **bold** kept, and every character that could
    make a link, a mention or code escaped, so that a name cannot add one."""
    return _MARKUP.sub(r"\\\1", text)


def _text(text: str, **style: Any) -> dict[str, Any]:
    """A TextBlock of the flow's text (with the school's details and names in it)."""
    return _block(markdown(text), **style)


def _block(drawn: str, **style: Any) -> dict[str, Any]:
    """A TextBlock of markdown drawn here: a link or a mention with the text around it."""
    return {"type": "TextBlock", "text": drawn, "wrap": True, **style}


def _buttons(actions: list[tuple[str, dict[str, str]]]) -> dict[str, Any]:
    return {
        "type": "ActionSet",
        "actions": [{"type": "Action.Submit", "title": t, "data": d} for t, d in actions],
    }


def _resource(r: Resource) -> str:
    name = f"[{markdown(r.name)}]({_address(r.url)})" if r.url else f"**{markdown(r.name)}**"
    details = " · ".join(x for x in (r.phone, r.email) if x)
    described = f"{name}: {markdown(r.description)}"
    return described + (f" ({markdown(details)})" if details else "")


_IN_ADDRESSES = {ord(c): f"%{ord(c):02X}" for c in ' "()<>[]\\`'}


def _address(url: str) -> str:
    """A link's address inside `(…)`: percent-encoded where a character would end it."""
    return url.translate(_IN_ADDRESSES)
