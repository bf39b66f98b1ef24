"""Replies as plain text: the terminal chat, and every platform's notification fallback."""

from __future__ import annotations

from textwrap import indent

from .flow import Resource
from .messages import (
    Guidance,
    Notice,
    Nudge,
    Offer,
    Plain,
    Preview,
    Question,
    RecordFile,
    Reply,
    Report,
    Reports,
)


def strip_bold(text: str) -> str:
    return text.replace("**", "")


def resource(r: Resource) -> str:
    details = " · ".join(x for x in (r.url, r.phone, r.email) if x)
    return f"{r.name}: {r.description}" + (f"\n  {details}" if details else "")


def question(q: Question, numbered: bool = True) -> str:
    parts = [strip_bold(q.title), *([strip_bold(q.text)] if q.text else [])]
    if q.links:
        parts.append("\n".join(indent(f"• {resource(r)}", "  ") for r in q.links))
    marks = [f"{i}) {c.label}" if numbered else f"• {c.label}" for i, c in enumerate(q.options, 1)]
    if q.multi:
        marks.append("(Choose all that apply, for example: 1,3)")
    parts.append("\n".join(marks))
    return "\n\n".join(parts)


def guidance(g: Guidance) -> str:
    parts = [strip_bold(g.title), strip_bold(g.intro)]
    for item in g.items:
        lines = [f"[ ] {item.title}"]
        lines += [indent(strip_bold(line), "    ") for line in item.lines]
        lines += [indent(f"• {resource(r)}", "    ") for r in item.links]
        parts.append("\n".join(lines))
    parts.append(strip_bold(g.footer))
    return "\n\n".join(parts)


def report(r: Report, mention: str) -> str:
    """What the person told receives, with `mention` for the member of staff."""
    if r.withdrawn:
        return strip_bold(r.withdrawn.format(reporter=mention))
    parts = [strip_bold(r.heading), strip_bold(r.text.format(reporter=mention))]
    if r.status:
        parts.append("\n".join(strip_bold(s) for s in r.status))
    g = r.guidance
    for task in r.tasks:
        item = task.item
        lines = [f"[{'x' if task.done else ' '}] {item.title}"]
        lines += [indent(strip_bold(line), "    ") for line in item.lines]
        lines += [indent(f"• {resource(x)}", "    ") for x in item.links]
        if task.done:
            lines.append(indent(task.done, "    "))
        parts.append("\n".join(lines))
    parts.append(strip_bold(g.footer))
    return "\n\n".join(parts)


def offer(o: Offer, mention: str = "[your name]") -> str:
    parts = [strip_bold(o.title), strip_bold(o.text)]
    if o.report is not None:
        parts.append(indent(report(o.report, mention), "  | ", lambda _: True))
    if o.choices:
        parts.append("\n".join(f"• {c.label}" for c in o.choices))
    return "\n\n".join(parts)


def preview(p: Preview, mention: str = "[your name]") -> str:
    body = indent(report(p.report, mention), "  | ", lambda _: True)
    choices = [p.send, *([p.escalate] if p.escalate else []), p.not_now]
    return "\n\n".join([strip_bold(p.text), body, "\n".join(f"• {c}" for c in choices)])


def nudge(n: Nudge) -> str:
    """A message the bot starts itself; its buttons as a list (typed words answer them)."""
    parts = [strip_bold(x) for x in (n.title, n.text) if x]
    if n.links:
        parts.append("\n".join(indent(f"• {resource(r)}", "  ") for r in n.links))
    if n.buttons:
        parts.append("\n".join(f"• {b.label}" for b in n.buttons))
    return "\n\n".join(parts)


def reports(r: Reports, mention: str = "a member of staff") -> str:
    """A person's overview of the reports they hold; `mention` stands for each reporter."""
    parts = [strip_bold(r.title), strip_bold(r.text)]
    for held in r.held:
        lines = [strip_bold(held.heading.format(reporter=mention))]
        lines += [indent(strip_bold(line), "    ") for line in held.lines]
        parts.append("\n".join(lines))
    if r.footer:
        parts.append(strip_bold(r.footer))
    return "\n\n".join(parts)


def render(reply: Reply) -> str:
    if isinstance(reply, Question):
        return question(reply)
    if isinstance(reply, Guidance):
        return guidance(reply)
    if isinstance(reply, Offer):
        return offer(reply)
    if isinstance(reply, Preview):
        return preview(reply)
    if isinstance(reply, Report):
        return report(reply, "the member of staff")
    if isinstance(reply, Reports):
        return reports(reply)
    if isinstance(reply, RecordFile):
        return reply.text
    if isinstance(reply, Plain):
        return reply.text
    if isinstance(reply, Nudge):
        return nudge(reply)
    assert isinstance(reply, Notice)
    return strip_bold(reply.text)
