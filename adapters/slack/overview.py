"""Block Kit for the reports a person holds: their Home tab, and a notice drawn there.

Each report shows its reporter's mention, its dated state and the report's own buttons
(`case:<action>`, the report's reference as the value), which `request` reads as `Act`s.
"""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
)

from conversation import plaintext
from conversation.messages import Act, Notice, Reports

from .blocks import CASE, _dicts, _mrkdwn, _section

MOST_SHOWN = 30
"""Reports drawn at most: a view holds 100 blocks, and each report takes three."""
REOPEN = "Open this tab again to see the reports you hold."


def reports_text(r: Reports) -> str:
    return plaintext.reports(r)


def reports_blocks(r: Reports) -> list[dict[str, Any]]:
    shown: list[Block] = [
        HeaderBlock(text=plaintext.strip_bold(r.title)),
        _section(_mrkdwn(r.text)),
    ]
    for held in r.held[:MOST_SHOWN]:
        heading = _mrkdwn(held.heading).format(reporter=f"<@{held.reporter}>")
        lines = "\n".join(_mrkdwn(line) for line in held.lines)
        buttons = [
            ButtonElement(
                text=label,
                action_id=CASE + action,
                value=held.case,
                style="primary" if action == Act.ACKNOWLEDGE else None,
            )
            for label, action in held.actions
        ]
        shown += [DividerBlock(), _section(f"*{heading}*\n{lines}"), ActionsBlock(elements=buttons)]
    if r.footer:
        shown += [
            DividerBlock(),
            ContextBlock(elements=[MarkdownTextObject(text=_mrkdwn(r.footer))]),
        ]
    return _dicts(shown)


def home_view(shown: Reports | Notice) -> dict[str, Any]:
    """The Home tab: the overview, or a notice in its place (a report shown there withdrawn)."""
    if isinstance(shown, Reports):
        return {"type": "home", "blocks": reports_blocks(shown)}
    blocks: list[Block] = [
        _section(_mrkdwn(shown.text)),
        ContextBlock(elements=[MarkdownTextObject(text=REOPEN)]),
    ]
    return {"type": "home", "blocks": _dicts(blocks)}
