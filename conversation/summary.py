"""The governors' termly summary: for one school and term, counts and times only.

Reports sent, by kind of harassment and by who the alleged perpetrator was, the time to
acknowledge (median and longest), how many were escalated and how many are still open. Every
count under `FEWEST` is shown as "fewer than 5", and the times only when at least `FEWEST`
reports were acknowledged, so that nobody can be recognised. It is built from the statistics
store alone (`telling.counting` fills it), which holds no names, ids or answers.

`python -m bot summary` prints it; `send` sends it to the governor the school file names, in
their own chat, through the platform's outbox (the follow-ups' scheduler calls it when a term
closes: see `Term.closes_at`).
"""

from __future__ import annotations

import statistics as stats
from datetime import date, timedelta

from .flow import Flow
from .messages import Notice, UserKey
from .runner import Outbox, Runner
from .school import School, Schools
from .storage import Statistics, Tally, Timer
from .telling import wording
from .telling.counting import KINDS, PERPETRATOR, WHOLE_SCHOOL
from .telling.people import MESSAGING, platform_id
from .terms import Term, school_term, school_term_of

FEWEST = 5
"""Counts below this are not shown as numbers."""


def few(n: int) -> str:
    return wording()["summary"]["few"] if n < FEWEST else str(n)


def duration(seconds: float) -> str:
    """A time to acknowledge as people say it: "3 hours 10 minutes", "2 days 4 hours"."""
    minutes = round(seconds / 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [(days, "day"), (hours, "hour")] if days else [(hours, "hour"), (minutes, "minute")]
    said = [f"{n} {unit}{'' if n == 1 else 's'}" for n, unit in parts if n]
    return " ".join(said) or "under a minute"


def text(tally: Tally, school: School | None, term: Term, flow: Flow) -> str:
    """The summary as one text: the same for the terminal, a file and a chat."""
    w = wording()["summary"]
    first = term.after + timedelta(days=1)
    lines = [w["title"]]
    if school:
        lines.append(w["school"].format(school=school.name))
    lines.append(
        w["term"].format(term=f"{term.season} {term.year}", first=_day(first), last=_day(term.last))
    )
    lines.append(w["sent"].format(n=few(tally.count("sent"))))
    steps = {s.id: s for s in flow.steps}
    for heading, step, prefix in (("kinds", KINDS, "k:"), ("perpetrators", PERPETRATOR, "p:")):
        lines.append(w[heading])
        for option in steps[step].options:
            n = few(tally.count(prefix + option.id))
            lines.append(w["row"].format(label=option.label, n=n))
    if len(tally.acks) >= FEWEST:
        median, longest = duration(stats.median(tally.acks)), duration(max(tally.acks))
        lines.append(
            w["acknowledge"].format(median=median, longest=longest, n=few(len(tally.acks)))
        )
    else:
        lines.append(w["acknowledge_hidden"])
    lines.append(w["escalated"].format(n=few(tally.count("escalated"))))
    still = tally.count("sent") - tally.count("done") - tally.count("withdrawn")
    lines.append(w["open"].format(n=few(max(0, still))))
    lines.append(w["footer"])
    return "\n".join(lines)


async def summary(statistics: Statistics, school: School | None, term: Term, flow: Flow) -> str:
    """The summary of `school`'s `term` (None: the deployment's `[school]`, or no school file)."""
    tally = await statistics.read(school_id(school), term.name)
    return text(tally, school, term, flow)


def school_id(school: School | None) -> str:
    """The id the statistics of `school` are kept under (as `counting` writes them)."""
    return school.id if school and school.id else WHOLE_SCHOOL


def governor(school: School, platform: str, workspace: str) -> UserKey | None:
    """Who receives the summary on `platform` in `workspace`: the governor the school file
    names in `[school.summary]`, if they can be messaged there."""
    named = next((g for g in school.governors if g.name == school.summary.governor), None)
    person_id = platform_id(named, platform) if named else ""
    return UserKey(platform, workspace, person_id) if person_id else None


async def send(
    runner: Runner, school: School, term: Term, outbox: Outbox, platform: str, workspace: str
) -> bool:
    """Send `term`'s summary to the school's governor, in their own DM or 1:1 chat, through
    `outbox` (one for `platform` and `workspace`, such as the scheduler makes for a timer).
    False when the school names no governor there, or the platform refused it."""
    to = governor(school, platform, workspace)
    if to is None or runner.telling is None or runner.telling.counting is None:
        return False
    statistics = runner.telling.counting.statistics
    view = runner.views.of(school, platform)
    shown = await summary(statistics, school, term, view.flow)
    return await outbox.send(to, Notice(shown)) is not None


SUMMARY = "summary"
"""The timer kind of a school's termly summary: its governor's, due as the term closes; its
case is the term's name."""


def timers(schools: Schools, now: int) -> list[tuple[Timer, int]]:
    """The summary timer of every school that names a governor for it, for the term under
    way, on each platform and workspace the school has (`[schools.<id>]` and `also`: a
    `[school]` with no id names no workspace, so its summary is printed, never sent)."""
    found = []
    for school in schools.all():
        if not school.id or not school.summary.governor:
            continue
        term = school_term_of(school, now)
        for workspace in (school.id, *school.also):
            for platform in MESSAGING:
                if _kind_of(workspace) == platform and (
                    to := governor(school, platform, workspace)
                ):
                    found.append((Timer(SUMMARY, to, term.name), term.closes_at))
    return found


async def fire(runner: Runner, timer: Timer, outbox: Outbox) -> tuple[Timer, int] | None:
    """A summary timer firing: the term's summary sent to its governor; then the next term's
    timer, to be set. None when it could not be sent (the timer is tried again)."""
    school = runner.views.schools.for_workspace(timer.user.workspace)
    if school is None or not school.summary.governor:
        return None
    term = school_term(school, timer.case)
    if not await send(runner, school, term, outbox, timer.user.platform, timer.user.workspace):
        return None
    after = school_term_of(school, term.closes_at + 86_400)
    return Timer(SUMMARY, timer.user, after.name), after.closes_at


def _kind_of(workspace: str) -> str:
    """The platform a workspace id belongs to: a Slack team or org (T…, E…), else a tenant."""
    return "slack" if workspace[:1] in ("T", "E") and workspace.isupper() else "teams"


def _day(day: date) -> str:
    return f"{day.day} {day:%B %Y}"
