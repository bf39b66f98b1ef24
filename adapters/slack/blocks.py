"""Block Kit: the engine's neutral replies as Slack messages, and the action ids they carry.

The ids drawn here are the ones `request` checks and `app` listens for.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from typing import Any

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

from conversation import plaintext
from conversation.flow import Resource
from conversation.messages import Answered, Guidance, Question, Reply

ANSWER = "answer:"
"""Prefix of a single-choice button's action_id; the option id follows, the token is its value."""
PICK = "pick"
"""The "choose all that apply" checkboxes: each tick is acknowledged and otherwise ignored."""
SUBMIT = "submit"
"""The Continue button under the checkboxes; its value is the token, the ticks come from
`state.values`."""

# Messages are built once for each distinct content and kept: the questions, notices and
# checklists are few, and only a question's token changes from one turn to the next.


def render(reply: Reply) -> tuple[str, list[dict[str, Any]]]:
    """A message's plain-text fallback (notifications, screen readers) and its blocks."""
    if isinstance(reply, Question):
        text, blocks, buttons = _question(replace(reply, token="", version=0))
        return text, [*blocks, _with_token(buttons, reply.token)]
    if isinstance(reply, Guidance):
        return _guidance(reply)
    # Not cached: a notice can quote a few words the user typed ("I understood ..., but not
    # ..."), and nothing the user typed is kept past the turn, in memory or anywhere else.
    return escape(plaintext.render(reply)), _dicts([_section(_mrkdwn(reply.text))])


@lru_cache(maxsize=1024)
def _guidance(reply: Guidance) -> tuple[str, list[dict[str, Any]]]:
    return escape(plaintext.guidance(reply)), guidance_blocks(reply)


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
    return escape(plaintext.question(q)), _dicts(blocks), ActionsBlock(elements=elements).to_dict()


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
    text = escape(f"{plaintext.strip_bold(a.title)}: {chosen}")
    return text, _dicts([_section(f"*{_mrkdwn(a.title)}*\n✓ {_mrkdwn(chosen)}")])


CLOSED = "This question is closed: answer the newest one below."


@lru_cache(maxsize=1)
def closed_blocks() -> tuple[str, list[dict[str, Any]]]:
    """An older question, once the same or a newer one is posted below it: no live buttons
    are left behind."""
    return CLOSED, _dicts([ContextBlock(elements=[MarkdownTextObject(text=f"_{CLOSED}_")])])


CHOOSE_ALL = "Choose all that apply, then press *Continue*."


def _section(mrkdwn: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=mrkdwn))


def _dicts(blocks: list[Block]) -> list[dict[str, Any]]:
    """Block Kit's models check every length limit as they are turned into JSON."""
    return [b.to_dict() for b in blocks]


def escape(text: str) -> str:
    """&, < and > as Slack asks, in blocks and in a message's `text` alike: otherwise a
    name such as `<!channel>` would notify everyone, or `<https://…|…>` draw a link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _mrkdwn(text: str) -> str:
    """The flow's **bold** as Slack's *bold*, the rest escaped."""
    return escape(text).replace("**", "*")


def _links(resources: tuple[Resource, ...]) -> str:
    return "\n".join(f"• {_resource(r)}" for r in resources)


def _address(url: str) -> str:
    """A link's address inside `<…|…>`: escaped, and a `|` (which would end it) encoded."""
    return escape(url).replace("|", "%7C")


def _resource(r: Resource) -> str:
    name = f"<{_address(r.url)}|{_mrkdwn(r.name)}>" if r.url else f"*{_mrkdwn(r.name)}*"
    details = " · ".join(x for x in (r.phone, r.email) if x)
    return f"{name}: {_mrkdwn(r.description)}" + (f" ({_mrkdwn(details)})" if details else "")
