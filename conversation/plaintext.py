"""Replies as plain text: the terminal chat, and every platform's notification fallback."""

from __future__ import annotations

from textwrap import indent

from .flow import Resource
from .messages import Guidance, Notice, Question, Reply


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


def render(reply: Reply) -> str:
    if isinstance(reply, Question):
        return question(reply)
    if isinstance(reply, Guidance):
        return guidance(reply)
    assert isinstance(reply, Notice)
    return strip_bold(reply.text)
