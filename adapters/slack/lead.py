"""Telling the person who leads, in Slack: the offer, the preview and the report as Block
Kit, the action ids they carry, and delivering a report to the person's own DM.

A report only ever goes to the DM that `conversations.open` gives for the person's user
id (a channel id starting with D), with the reporter's workspace's token: never to a
channel. A person who cannot be messaged is reported back as None, for the member of
staff to be told and given the text to forward.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)
from slack_sdk.web.async_client import AsyncWebClient

from conversation import plaintext
from conversation.messages import Act, Deliver, Offer, Preview, Reply, Report, Tell

from . import blocks
from .blocks import _dicts, _links, _mrkdwn, _section, escape

log = logging.getLogger("adapters.slack")

TELL = "tell:"
"""Prefix of an offer's buttons: the person's choice id follows; the value is the token."""
SEND = "tell-send"
"""The preview's Send: its value is `token|person`."""
NOT_NOW = "tell-not-now"
CASE = "case:"
"""Prefix of the report's buttons: `case:ack`, `case:done:<item>`, `case:walk`,
`case:record`; the value is the report's reference."""
PREFIXES = (TELL, SEND, NOT_NOW, CASE)


def render(reply: Reply) -> tuple[str, list[dict[str, Any]]]:
    """Any reply as a message: the new kinds here, the rest as `blocks` draws them."""
    if isinstance(reply, Offer):
        return escape(plaintext.offer(reply)), offer_blocks(reply)
    if isinstance(reply, Preview):
        return escape(plaintext.preview(reply)), preview_blocks(reply)
    if isinstance(reply, Report):
        # A NUL holds the mention's place while the rest is escaped: no text can hold one.
        text = escape(plaintext.report(reply, "\0")).replace("\0", mention(reply))
        return text, report_blocks(reply)
    return blocks.render(reply)


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
    intro = _dicts([_section(_mrkdwn(p.text)), DividerBlock()])
    buttons = ActionsBlock(
        elements=[
            ButtonElement(
                text=p.send, action_id=SEND, value=f"{p.token}|{p.person}", style="primary"
            ),
            ButtonElement(text=p.not_now, action_id=NOT_NOW, value=p.token),
        ]
    )
    return [*intro, *report_blocks(p.report), *_dicts([DividerBlock(), buttons])]


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


def clicked_input(action: dict[str, Any]) -> Tell | Act | None:
    """The neutral input a click on one of these buttons is (None: not one of them)."""
    action_id, value = action["action_id"], action.get("value", "")
    if action_id.startswith(TELL):
        return Tell(action_id[len(TELL) :], value)
    if action_id == SEND:
        token, _, person = value.partition("|")
        return Tell(person, token, confirmed=True) if person else None
    if action_id == NOT_NOW:
        return Tell("", value)
    if action_id.startswith(CASE):
        what, _, item = action_id[len(CASE) :].partition(":")
        return Act(what, value, item)
    return None


class Courier:
    """Posts a `Deliver` to its person's own DM, or updates the message it names."""

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client

    async def deliver(self, d: Deliver) -> str | None:
        """Where the message now is (`channel\\nts`), or None if it could not be delivered."""
        from .turns import API_ERRORS

        text, shown = render(d.reply)
        try:
            if d.update:
                channel, _, ts = d.update.partition("\n")
                await self.client.chat_update(channel=channel, ts=ts, text=text, blocks=shown)
                return d.update
            opened = await self.client.conversations_open(users=d.to.user)
            channel = opened["channel"]["id"]
            if not channel.startswith("D"):  # only ever a person's own DM
                return None
            posted = await self.client.chat_postMessage(
                channel=channel, text=text, blocks=shown, unfurl_links=False, unfurl_media=False
            )
        except API_ERRORS as exc:
            log.warning("slack delivery failed", extra={"error": type(exc).__name__})
            return None
        return f"{channel}\n{posted['ts']}"
