"""What the person told sees, and the dated record both sides can copy: drawn from a case.

Pure: every function takes the reader's view of the flowchart (their school's and
surface's wording) and the case as stored, and every date goes through `dates.when`.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

from ..dates import when
from ..guidance import build as build_guidance
from ..messages import Report, ReportLabels, Task, UserKey
from ..school import Person
from ..storage import Case, reference
from ..views import View
from .people import escalated, handling, named, told

WORDING = Path(__file__).with_name("wording.toml")


@cache
def wording(path: Path = WORDING) -> dict[str, Any]:
    """The words of telling, from `wording.toml` (placeholders in braces)."""
    with open(path, "rb") as fh:
        return tomllib.load(fh)


def name_of(view: View, case: Case) -> str:
    person = told(view.school, case)
    return person.name if person else wording()["record"]["someone"]


def next_name(view: View, case: Case) -> str:
    """The name of the person a report goes (or went) to next."""
    person = escalated(view.school, case) or named(view.school, case.escalate_to)
    return person.name if person else wording()["record"]["next"]


def actor_name(view: View, case: Case, actor: UserKey) -> str:
    """Who pressed a report's button: the person told, or the one it was escalated to."""
    return next_name(view, case) if actor != case.lead else name_of(view, case)


def report(
    view: View,
    case: Case | None,
    reporter: UserKey,
    answers: Mapping[str, tuple[str, ...]],
    at: float,
    reporter_name: str = "",
    escalation: bool = False,
) -> Report:
    """The report as the person told sees it (`case` None: a preview, nothing sent yet);
    with `escalation`, as the person it went to next sees it."""
    w = wording()["report"]
    checklist = build_guidance(view.flow, handling(answers))
    done = case.done if case else {}
    tasks = tuple(
        Task(item, w["done_at"].format(date=when(done[item.id])) if item.id in done else "")
        for item in checklist.items
    )
    status = []
    if case and case.sent:
        status.append(w["sent"].format(date=when(case.sent)))
    if case and case.escalated:
        status.append(w["escalated"].format(name=next_name(view, case), date=when(case.escalated)))
    if case and case.acknowledged:
        status.append(w["acknowledged"].format(date=when(case.acknowledged)))
    else:
        status.append(w["not_acknowledged"])
    return Report(
        case=reference(case, reporter) if case else "",
        reporter=reporter.user,
        heading=w["heading"],
        text=w["escalated_text" if escalation else "text"].format(
            reporter="{reporter}",
            date=when(int(case.sent if escalation and case else at)),
            name=name_of(view, case) if case else "",
        ),
        status=tuple(status),
        guidance=checklist,
        tasks=tasks,
        acknowledged=bool(case and case.acknowledged),
        labels=ReportLabels(w["acknowledge"], w["done"], w["walk"], w["record"]),
        reporter_name=reporter_name,
    )


def report_of(view: View, case: Case, reporter: UserKey, escalation: bool = False) -> Report:
    answers = dict(case.answer_pairs)
    return report(view, case, reporter, answers, case.created, escalation=escalation)


def withdrawn(view: View, case: Case, reporter: UserKey, now: int) -> Report:
    """The report once withdrawn: only that it was, and no checklist."""
    text = wording()["report"]["withdrawn"].format(reporter="{reporter}", date=when(now))
    shown = report_of(view, case, reporter)
    return replace(shown, withdrawn=text, tasks=(), status=(), labels=None)


def items(view: View, case: Case) -> list[tuple[str, str]]:
    """The report's checklist items: (id, title)."""
    checklist = build_guidance(view.flow, handling(dict(case.answer_pairs)))
    return [(item.id, item.title) for item in checklist.items]


def record(view: View, case: Case) -> str:
    """The report's history as one dated text, to copy into the school's own log."""
    w = wording()["record"]
    name = name_of(view, case)
    lines = [w["title"]]
    if view.school:
        lines.append(w["school"].format(school=view.school.name))
    lines.append(
        w["told"].format(name=name, date=when(case.sent))
        if case.sent
        else w["sending"].format(name=name)
    )
    if case.escalate_to:
        at = when(case.escalate_at) if case.escalate_at else w["later"]
        lines.append(w["may_escalate"].format(name=next_name(view, case), date=at))
    for at in case.reminded:
        lines.append(w["reminded"].format(name=name, date=when(at)))
    if case.warned:
        lines.append(w["warned"].format(name=next_name(view, case), date=when(case.warned)))
    if case.stopped:
        lines.append(w["stopped"].format(date=when(case.stopped)))
    if case.escalated:
        lines.append(w["escalated"].format(name=next_name(view, case), date=when(case.escalated)))
    if case.acknowledged:
        lines.append(w["acknowledged"].format(date=when(case.acknowledged)))
    else:
        lines.append(w["not_acknowledged"])
    events = w["events"]
    for code, at in case.events:
        if code in events:
            lines.append(events[code].format(date=when(at)))
    lines.append(w["items"])
    for item_id, title in items(view, case):
        at = case.done.get(item_id)
        lines.append(
            w["done"].format(item=title, date=when(at)) if at else w["not_done"].format(item=title)
        )
    return "\n".join(lines)


def recommend(view: View, person: Person, governor: bool) -> str:
    school = view.school.name if view.school else ""
    key = "governor" if governor else "lead"
    return wording()["offer"][key].format(school=school, name=person.name)
