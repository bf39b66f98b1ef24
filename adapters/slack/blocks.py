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
from conversation.messages import (
    Act,
    Answered,
    Closed,
    Follow,
    Guidance,
    Item,
    Nudge,
    Offer,
    Plain,
    Preview,
    Question,
    Reply,
    Report,
)

ANSWER = "answer:"
"""Prefix of a single-choice button's action_id; the option id follows, the token is its value."""
PICK = "pick"
"""The "choose all that apply" checkboxes: each tick is acknowledged and otherwise ignored."""
SUBMIT = "submit"
"""The Continue button under the checkboxes; its value is the token, the ticks come from
`state.values`."""

TELL = "tell:"
"""Prefix of an offer's buttons: the person's choice id follows; the value is the token."""
SEND = "tell-send"
"""The preview's Send: its value is `token|person`."""
SEND_ESCALATE = "tell-send-esc"
"""The preview's second Send, which also agrees to escalation: its value is `token|person`."""
NOT_NOW = "tell-not-now"
FOLLOW = "follow:"
"""Prefix of a follow-up's buttons: `follow:<topic>:<answer>`; the value is its token."""
CASE = "case:"
"""Prefix of the report's buttons: `case:ack`, `case:done:<item>`, `case:walk`,
`case:record`; the value is the report's reference."""

# Messages are built once for each distinct content and kept: the questions, notices and
# checklists are few, and only a question's token changes from one turn to the next.


def render(shown: Reply | Answered | Closed) -> tuple[str, list[dict[str, Any]]]:
    """A message's plain-text fallback (notifications, screen readers) and its blocks."""
    if isinstance(shown, Question):
        text, blocks, buttons = _question(replace(shown, token="", version=0))
        return text, [*blocks, _with_token(buttons, shown.token)]
    if isinstance(shown, Guidance):
        return _guidance(shown)
    if isinstance(shown, Answered):
        return answered_blocks(shown)
    if isinstance(shown, Closed):
        return closed_blocks(shown.answered)
    if isinstance(shown, Offer):
        return escape(plaintext.offer(shown)), offer_blocks(shown)
    if isinstance(shown, Preview):
        return escape(plaintext.preview(shown)), preview_blocks(shown)
    if isinstance(shown, Report):
        # A NUL holds the mention's place while the rest is escaped: no text can hold one.
        text = escape(plaintext.report(shown, "\0")).replace("\0", mention(shown))
        return text, report_blocks(shown)
    if isinstance(shown, Nudge):
        return escape(plaintext.nudge(shown)), nudge_blocks(shown)
    if isinstance(shown, Plain):
        parts = _parts(shown.text)
        return escape(shown.text), _dicts([_section(_mrkdwn(part)) for part in parts])
    # Not cached: a notice can quote a few words the user typed ("I understood ..., but not
    # ..."), and nothing the user typed is kept past the turn, in memory or anywhere else.
    return escape(plaintext.render(shown)), _dicts([_section(_mrkdwn(shown.text))])


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
    blocks = _dicts([HeaderBlock(text=plaintext.strip_bold(g.title)), _section(_mrkdwn(g.intro))])
    for item in g.items:
        blocks += _item_blocks(item)
    return [*blocks, *_dicts([DividerBlock(), _section(_mrkdwn(g.footer))])]


@lru_cache(maxsize=256)
def _item_blocks(item: Item) -> tuple[dict[str, Any], ...]:
    """One thing to do: the flowchart has a few dozen, and each checklist is a different
    handful of them, so they are drawn once each rather than once per checklist."""
    lines = [f"☐ *{_mrkdwn(item.title)}*", *(_mrkdwn(line) for line in item.lines)]
    blocks: list[Block] = [DividerBlock(), _section("\n".join(lines))]
    if item.links:
        blocks.append(_section(_links(item.links)))
    return tuple(_dicts(blocks))


@lru_cache(maxsize=1024)
def answered_blocks(a: Answered) -> tuple[str, list[dict[str, Any]]]:
    """The answered question, in place of the question: the choice, and no buttons; below
    the answers given before it, where the message showed them."""
    chosen = ", ".join(a.chosen)
    text = escape(f"{plaintext.strip_bold(a.title)}: {chosen}")
    blocks = _dicts([_section(f"*{_mrkdwn(a.title)}*\n✓ {_mrkdwn(chosen)}")])
    if not a.before:
        return text, blocks
    said, summary = _summary(a.before)
    return f"{said}\n\n{text}", [*summary, *blocks]


ANSWERS = "answers"
"""The block_id of the answers so far, above a question shown in place of the one answered."""
SUMMARY_LIMIT = 2000
"""Most characters of that summary (a context element holds 3000; escaping can lengthen)."""


def in_place(
    answered: tuple[Answered, ...] | list[Answered], question: Question
) -> tuple[str, list[dict[str, Any]]]:
    """The answers so far, one "✓ question: answer" line each, above the next question: one
    message updated in place per click. The oldest lines give way first, so the message
    stays within Block Kit's limits however long the conversation."""
    text, blocks = render(question)
    if not answered:
        return text, blocks
    said, summary = _summary(tuple(answered))
    return f"{said}\n\n{text}", [*summary, *blocks]


def _summary(answered: tuple[Answered, ...]) -> tuple[str, list[dict[str, Any]]]:
    """The answers so far: their plain text, and a context block and a divider."""
    lines = [f"✓ *{_mrkdwn(a.title)}*: {_mrkdwn(', '.join(a.chosen))}" for a in answered]
    kept: list[str] = []
    for line in reversed(lines):
        if sum(len(k) + 1 for k in kept) + len(line) > SUMMARY_LIMIT:
            kept.append("…")
            break
        kept.append(line)
    said = "\n".join(
        escape(f"{plaintext.strip_bold(a.title)}: {', '.join(a.chosen)}") for a in answered
    )
    # Plain dicts, not Block Kit's models: built on every click, and kept within the limits
    # the models would check (one element, at most SUMMARY_LIMIT characters and an ellipsis).
    summary = {
        "type": "context",
        "block_id": ANSWERS,
        "elements": [{"type": "mrkdwn", "text": "\n".join(reversed(kept))}],
    }
    return said, [summary, _DIVIDER]


_DIVIDER = DividerBlock().to_dict()

CLOSED = "This question is closed: answer the newest one below."


def closed_blocks(answered: tuple[Answered, ...] = ()) -> tuple[str, list[dict[str, Any]]]:
    """An older question, once the same or a newer one is posted below it: no live buttons
    are left behind, and the answers it showed above its question stay."""
    closed = _dicts([ContextBlock(elements=[MarkdownTextObject(text=f"_{CLOSED}_")])])
    if not answered:
        return CLOSED, closed
    said, summary = _summary(answered)
    return f"{said}\n\n{CLOSED}", [*summary, *closed]


CHOOSE_ALL = "Choose all that apply, then press *Continue*."


# --- telling the person who leads: the offer, the preview, the report ------------------


def mention(r: Report) -> str:
    return f"<@{r.reporter}>"


def offer_blocks(o: Offer) -> list[dict[str, Any]]:
    shown: list[Block] = [_section(f"*{_mrkdwn(o.title)}*\n\n{_mrkdwn(o.text)}")]
    if o.choices:
        buttons = [
            ButtonElement(text=c.label, action_id=TELL + c.id, value=o.token) for c in o.choices
        ]
        shown.append(ActionsBlock(elements=buttons))
    return _dicts(shown)


def preview_blocks(p: Preview) -> list[dict[str, Any]]:
    intro = _dicts([_section(_mrkdwn(part)) for part in p.text.split("\n\n")] + [DividerBlock()])
    value = f"{p.token}|{p.person}"
    elements = [ButtonElement(text=p.send, action_id=SEND, value=value, style="primary")]
    if p.escalate:
        elements.append(ButtonElement(text=p.escalate, action_id=SEND_ESCALATE, value=value))
    elements.append(ButtonElement(text=p.not_now, action_id=NOT_NOW, value=p.token))
    buttons = ActionsBlock(elements=elements)
    return [*intro, *report_blocks(p.report), *_dicts([DividerBlock(), buttons])]


def nudge_blocks(n: Nudge) -> list[dict[str, Any]]:
    """A message the bot starts itself: its title and text, links, and its buttons (a
    report's, or a follow-up's)."""
    head = f"*{_mrkdwn(n.title)}*\n\n" if n.title else ""
    shown: list[Block] = [_section(head + _mrkdwn(n.text))]
    if n.links:
        shown.append(_section(_links(n.links)))
    if n.buttons:
        elements = []
        for b in n.buttons:
            if isinstance(b.input, Follow):
                action_id, value = f"{FOLLOW}{b.input.topic}:{b.input.answer}", b.input.token
            else:
                action_id = CASE + b.input.action + (f":{b.input.item}" if b.input.item else "")
                value = b.input.case
            elements.append(ButtonElement(text=b.label, action_id=action_id, value=value))
        shown.append(ActionsBlock(elements=elements))
    return _dicts(shown)


def report_blocks(r: Report) -> list[dict[str, Any]]:
    """The report: who and when, the checklist with a Mark done on each item, and its
    buttons. Withdrawn, only that is said."""
    who = mention(r)
    if r.withdrawn:
        return _dicts([_section(_mrkdwn(r.withdrawn).format(reporter=who))])
    live = bool(r.case and r.labels)
    shown: list[Block] = [
        HeaderBlock(text=plaintext.strip_bold(r.heading)),
        _section(_mrkdwn(r.text).format(reporter=who)),
    ]
    if r.status:
        shown.append(ContextBlock(elements=[MarkdownTextObject(text=_mrkdwn(s)) for s in r.status]))
    for task in r.tasks:
        item = task.item
        mark = "☑" if task.done else "☐"
        lines = [f"{mark} *{_mrkdwn(item.title)}*", *(_mrkdwn(line) for line in item.lines)]
        if task.done:
            lines.append(f"_{_mrkdwn(task.done)}_")
        button = None
        if live and not task.done and r.labels:
            button = ButtonElement(
                text=r.labels.done, action_id=f"{CASE}{Act.DONE}:{item.id}", value=r.case
            )
        text = MarkdownTextObject(text="\n".join(lines))
        shown += [DividerBlock(), SectionBlock(text=text, accessory=button)]
        if item.links:
            shown.append(_section(_links(item.links)))
    shown += [DividerBlock(), _section(_mrkdwn(r.guidance.footer))]
    if live and r.labels:
        buttons = [
            (r.labels.walk, Act.WALK),
            (r.labels.record, Act.RECORD),
        ]
        if not r.acknowledged:
            buttons.insert(0, (r.labels.acknowledge, Act.ACKNOWLEDGE))
        elements = [
            ButtonElement(
                text=label,
                action_id=CASE + action,
                value=r.case,
                style="primary" if action == Act.ACKNOWLEDGE else None,
            )
            for label, action in buttons
        ]
        shown.append(ActionsBlock(elements=elements))
    return _dicts(shown)


SECTION_LIMIT = 3000
"""Block Kit's most characters in a section's text."""


def _parts(text: str) -> list[str]:
    """Long text in paragraphs, gathered into pieces a section can hold (escaping can
    lengthen a piece, hence the margin)."""
    pieces = [""]
    for paragraph in text.split("\n\n"):
        while len(paragraph) > SECTION_LIMIT // 2:
            pieces.append(paragraph[: SECTION_LIMIT // 2])
            paragraph = paragraph[SECTION_LIMIT // 2 :]
        if len(pieces[-1]) + len(paragraph) + 2 > SECTION_LIMIT // 2:
            pieces.append(paragraph)
        else:
            pieces[-1] = f"{pieces[-1]}\n\n{paragraph}" if pieces[-1] else paragraph
    return [p for p in pieces if p.strip()]


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
