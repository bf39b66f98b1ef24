"""Rendering: the engine's neutral replies as Bot Framework activities and Adaptive Cards.

Cards are plain dicts of schema 1.4; the input ids drawn here are the ones `request` reads.
"""

from __future__ import annotations

from typing import Any

from botbuilder.core import CardFactory, MessageFactory
from botbuilder.schema import Activity, TextFormatTypes

from conversation import plaintext
from conversation.flow import Resource
from conversation.messages import Answered, Guidance, Notice, Question, Reply

CARD_VERSION = "1.4"
"""Adaptive Cards above 1.4 do not render on Teams mobile clients."""

MULTI_INPUT = "options"
"""The id of the "choose all that apply" Input.ChoiceSet; its value arrives comma-separated."""


def as_activity(reply: Reply) -> Activity:
    if isinstance(reply, Question):
        return _card(question_card(reply), plaintext.question(reply))
    if isinstance(reply, Guidance):
        # The checklist to keep: a card to read, and the same as text to copy, search
        # and forward, with every link written out.
        message = _card(guidance_card(reply), plaintext.strip_bold(reply.title))
        message.text = plaintext.guidance(reply)
        return message
    return notice(reply)


def notice(reply: Notice) -> Activity:
    message = MessageFactory.text(reply.text)
    message.text_format = TextFormatTypes.markdown
    return message


def _card(card: dict[str, Any], summary: str) -> Activity:
    """A card with its plain-text fallbacks: `summary` for notifications and chat lists,
    `fallbackText` for clients that cannot draw the card."""
    card["fallbackText"] = summary
    message = MessageFactory.attachment(CardFactory.adaptive_card(card))
    message.summary = summary
    return message


def answered(activity_id: str, reply: Answered) -> Activity:
    """The answered question, in place of its card: the choice, and no buttons."""
    chosen = ", ".join(reply.chosen)
    card = _adaptive(
        [
            _text(reply.title, weight="Bolder"),
            _text(f"✓ {chosen}", color="Good"),
        ]
    )
    message = _card(card, f"{plaintext.strip_bold(reply.title)}: {chosen}")
    message.id = activity_id
    return message


# --- Adaptive Cards ---------------------------------------------------------------------


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
