"""What the person told sees, and the dated record both sides can copy: drawn from a case.

Pure: every function takes the reader's view of the flowchart (their school's and
surface's wording) and the case as stored, and every date goes through `dates.when`.
"""

from __future__ import annotations

import csv
import io
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from ..dates import ZONE, when
from ..guidance import build as build_guidance
from ..messages import RecordFile, Report, ReportLabels, Task, UserKey
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


@dataclass(frozen=True, slots=True)
class Line:
    """One line of a report's record: as shown (`text`), and as a row of its file."""

    entry: str
    detail: str
    date: str
    text: str


@dataclass(frozen=True, slots=True)
class Noted:
    """A reference number of the record, opened: its kind (a `[references.kinds]` key, "" if
    it could not be opened), the reference, and when it was added."""

    kind: str
    value: str
    at: int


def lines(view: View, case: Case, references: Sequence[Noted] = ()) -> list[Line]:
    """The report's history, line by line: what `record` shows and the file holds."""
    w = wording()["record"]
    entry = w["file"]
    name = name_of(view, case)
    found = [Line(entry["title"], w["title"], "", w["title"])]
    if view.school:
        school = view.school.name
        found.append(Line(entry["school"], school, "", w["school"].format(school=school)))
    if case.sent:
        text = w["told"].format(name=name, date=when(case.sent))
        found.append(Line(entry["told"], name, when(case.sent), text))
    else:
        found.append(Line(entry["told"], name, "", w["sending"].format(name=name)))
    if case.escalate_to:
        nxt = next_name(view, case)
        at = when(case.escalate_at) if case.escalate_at else ""
        text = w["may_escalate"].format(name=nxt, date=at or w["later"])
        found.append(Line(entry["may_escalate"], nxt, at, text))
    for at in map(when, case.reminded):
        found.append(Line(entry["reminded"], name, at, w["reminded"].format(name=name, date=at)))
    if case.warned:
        nxt, at = next_name(view, case), when(case.warned)
        found.append(Line(entry["warned"], nxt, at, w["warned"].format(name=nxt, date=at)))
    if case.stopped:
        at = when(case.stopped)
        found.append(Line(entry["stopped"], "", at, w["stopped"].format(date=at)))
    if case.escalated:
        nxt, at = next_name(view, case), when(case.escalated)
        found.append(Line(entry["escalated"], nxt, at, w["escalated"].format(name=nxt, date=at)))
    if case.acknowledged:
        at = when(case.acknowledged)
        found.append(Line(entry["acknowledged"], "", at, w["acknowledged"].format(date=at)))
    else:
        found.append(Line(entry["acknowledged"], "", "", w["not_acknowledged"]))
    events = w["events"]
    for code, at in case.events:
        if code in events:
            text = events[code].format(date=when(at))
            found.append(Line(entry["follow_up"], code, when(at), text))
    found.append(Line(entry["item"], "", "", w["items"]))
    for item_id, title in items(view, case):
        done = case.done.get(item_id)
        if done:
            text = w["done"].format(item=title, date=when(done))
        else:
            text = w["not_done"].format(item=title)
        found.append(Line(entry["item"], title, when(done) if done else "", text))
    if references:
        found.append(Line(entry["reference"], "", "", w["references"]))
    kinds = wording()["references"]["kinds"]
    for noted in sorted(references, key=lambda n: n.at):
        if not noted.kind:
            found.append(Line(entry["reference"], "", "", w["unreadable"]))
            continue
        kind, at = kinds[noted.kind], when(noted.at)
        text = w["reference"].format(kind=kind, value=noted.value, date=at)
        found.append(Line(entry["reference"], f"{kind}: {noted.value}", at, text))
    return found


def record(view: View, case: Case, references: Sequence[Noted] = ()) -> str:
    """The report's history as one dated text, to copy into the school's own log."""
    return "\n".join(line.text for line in lines(view, case, references))


def record_file(
    view: View, case: Case, reporter: UserKey, references: Sequence[Noted], now: int
) -> RecordFile:
    """The record as files: the text exactly as `record` shows it, and its lines as CSV rows."""
    found = lines(view, case, references)
    w = wording()["record"]["file"]
    rows = io.StringIO()
    out = csv.writer(rows, lineterminator="\n")
    out.writerow(w["header"])
    out.writerows(tuple(_cell(x) for x in (line.entry, line.detail, line.date)) for line in found)
    day = datetime.fromtimestamp(now, ZONE).date().isoformat()
    text = "\n".join(line.text for line in found) + "\n"
    return RecordFile(reference(case, reporter), w["name"].format(date=day), text, rows.getvalue())


def _cell(value: str) -> str:
    """A spreadsheet cell that a spreadsheet never reads as a formula."""
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value


def recommend(view: View, person: Person, governor: bool) -> str:
    school = view.school.name if view.school else ""
    key = "governor" if governor else "lead"
    return wording()["offer"][key].format(school=school, name=person.name)
