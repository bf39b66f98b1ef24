"""Telling the person who leads: the offer, the consent, the report and its dated record.

Platform-neutral, like the engine that calls it: who is offered follows the flowchart's
"Decide investigation lead" (the school's nominated lead, or a governor when the person
affected is the headteacher or nominated lead), nothing is sent before the member of staff
has seen it and pressed Send (or typed "yes"), and everything the person told does is kept
in the case (`case.Cases`) with its time. What leaves a turn for someone else is a
`Deliver`; the adapters post or update it and report back where it went.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import plaintext
from .case import DONE, Case, Cases
from .guidance import build as build_guidance
from .messages import (
    Act,
    Choice,
    Deliver,
    Notice,
    Offer,
    Outcome,
    Preview,
    Reply,
    Report,
    ReportLabels,
    Task,
    Tell,
    Turn,
    UserKey,
)
from .progress import Progress
from .school import Person, School
from .typed import normalise

if TYPE_CHECKING:
    from .engine import Engine

WORDING = Path(__file__).with_name("telling.toml")
FORWARD = "forward"
"""The offer's one choice when nobody can be messaged: the checklist as text."""
YES = frozenset({"yes", "y", "send", "send it", "yes send", "yes please", "ok send"})
NO = frozenset({"no", "n", "not now", "dont send", "cancel"})

try:
    from zoneinfo import ZoneInfo

    _ZONE: Any = ZoneInfo("Europe/London")
except Exception:  # no time zone data on this system: UTC, and said so
    _ZONE = UTC


@cache
def wording(path: Path = WORDING) -> dict[str, Any]:
    with open(path, "rb") as fh:
        return tomllib.load(fh)


def when(seconds: int) -> str:
    """A time as people in English schools read it: 3 March 2025, 10:02."""
    at = datetime.fromtimestamp(seconds, _ZONE)
    return f"{at.day} {at:%B %Y}, {at:%H:%M}" + ("" if _ZONE is not UTC else " UTC")


def platform_id(person: Person, platform: str) -> str:
    """The id a message to `person` is addressed to on `platform` ("" if none there)."""
    return {"slack": person.slack, "teams": person.teams}.get(platform, "")


def head_or_lead_affected(answers: Mapping[str, tuple[str, ...]]) -> bool:
    return tuple(answers.get("lead", ())) == ("yes",)


def people(
    school: School | None, answers: Mapping[str, tuple[str, ...]]
) -> list[tuple[str, Person]]:
    """Everyone the school names who could take the case, the flowchart's choice first."""
    if school is None:
        return []
    groups = [("leads", school.leads), ("governors", school.governors)]
    if head_or_lead_affected(answers):
        groups.reverse()
    return [(f"{name}.{i}", p) for name, group in groups for i, p in enumerate(group)]


class Telling:
    def __init__(self, cases: Cases) -> None:
        self.cases = cases
        self.words = wording()

    # --- the offer ----------------------------------------------------------------------

    async def offer(self, speaker: Engine, user: UserKey, progress: Progress) -> Reply | None:
        """At the end, for the member of staff being targeted: whom they could tell."""
        answers = progress.answer_map
        if answers.get("role") != ("affected",):
            return None
        if (case := await self.cases.get(user)) is not None:
            return self._notice("already", name=self._name(speaker, case), date=when(case.created))
        w = self.words["offer"]
        everyone = people(speaker.school, answers)
        reachable = [(cid, p) for cid, p in everyone if platform_id(p, user.platform)]
        text_only = user.platform not in ("slack", "teams")
        governor = head_or_lead_affected(answers)
        if text_only and everyone:
            _, person = everyone[0]
            report = self._report(speaker, None, user, answers, person, progress.updated)
            intro = self._recommend(speaker, person, governor)
            text = f"{intro}\n\n" + w["elsewhere"].format(name=person.name)
            return Offer(progress.token, w["title"], text, (), report)
        if not reachable:
            why = w["nobody_governor" if governor else "nobody_lead"]
            choices = (Choice(FORWARD, w["forward"]),)
            return Offer(progress.token, w["title"], f"{why} {w['nobody']}", choices)
        group = "governors." if governor else "leads."
        cid, first = reachable[0]
        if cid.startswith(group):
            paragraphs = [self._recommend(speaker, first, governor), w["text"]]
            if len(reachable) > 1:
                paragraphs.append(w["others"])
        else:  # the flowchart's choice cannot be messaged here: say so, offer the others
            why = w["nobody_governor" if governor else "nobody_lead"]
            paragraphs = [f"{why} {w['unreachable']}", w["text"]]
        choices = tuple(Choice(cid, w["choice"].format(name=p.name)) for cid, p in reachable)
        return Offer(progress.token, w["title"], "\n\n".join(paragraphs), choices)

    def _recommend(self, speaker: Engine, person: Person, governor: bool) -> str:
        school = speaker.school.name if speaker.school else ""
        return self.words["offer"]["governor" if governor else "lead"].format(
            school=school, name=person.name
        )

    # --- the member of staff's choices: a person, Send, Not now ---------------------------

    async def tell(
        self, speaker: Engine, user: UserKey, progress: Progress | None, inp: Tell, name: str = ""
    ) -> Turn:
        if not self._current(progress, inp.token):
            replies: tuple[Reply, ...] = (self._notice("stale"),)
            if progress is not None:
                replies += (speaker.question(progress),)
            return Turn(Outcome.STALE, replies)
        assert progress is not None
        answers = progress.answer_map
        if inp.person == "":
            await self.cases.forget_pending(user)
            return Turn(Outcome.PREVIEWED, (self._notice("not_now"),))
        if inp.person == FORWARD:
            return Turn(Outcome.PREVIEWED, self._forward(speaker, answers))
        person = dict(people(speaker.school, answers)).get(inp.person)
        lead_id = platform_id(person, user.platform) if person else ""
        if person is None or not lead_id:
            return Turn(Outcome.STALE, (self._notice("stale"), speaker.question(progress)))
        if not inp.confirmed:
            await self.cases.pend(user, inp.token, inp.person)
            report = self._report(speaker, None, user, answers, person, speaker.clock())
            w = self.words["preview"]
            text = w["text"].format(name=person.name)
            preview = Preview(inp.token, inp.person, text, report, w["send"], w["not_now"])
            return Turn(Outcome.PREVIEWED, (preview,))
        lead = UserKey(user.platform, user.workspace, lead_id)
        school = speaker.school.id if speaker.school else ""
        status, case = await self.cases.create(user, progress, school, lead, inp.person)
        if status == 2 or case is None:
            return Turn(Outcome.STALE, (self._notice("stale"), speaker.question(progress)))
        if status == 0:  # a doubled Send: the first one sends
            told = self._name(speaker, case)
            return Turn(
                Outcome.STALE, (self._notice("already", name=told, date=when(case.created)),)
            )
        report = self._report(speaker, case, user, answers, person, case.created, name)

        async def sent(ref: str | None) -> Turn:
            return await self._sent(speaker, user, case, person, ref)

        return Turn(Outcome.SENT, (), deliveries=(Deliver(lead, report, then=sent),))

    async def _sent(
        self, speaker: Engine, user: UserKey, case: Case, person: Person, ref: str | None
    ) -> Turn:
        if ref is None:
            # Not reachable: nothing is kept, and the member of staff can forward it.
            await self.cases.remove(user, case.id, unsent_only=True)
            notice = self._notice("unreachable", name=person.name)
            return Turn(
                Outcome.SENT, (notice, *self._forward(speaker, dict(case.answer_pairs))[1:])
            )
        now = self.cases.now()
        changed = await self.cases.change(user, case.id, {"sent": now, "msg": ref}, once="sent")
        if changed.case is None:  # withdrawn while it was on its way
            gone = self._withdrawn(speaker, case, user, now)
            return Turn(Outcome.SENT, (), deliveries=(Deliver(case.lead, gone, update=ref),))
        await self.cases.point(case.lead, user, case.id)
        return Turn(Outcome.SENT, (self._notice("sent", name=person.name, date=when(now)),))

    def _forward(
        self, speaker: Engine, answers: Mapping[str, tuple[str, ...]]
    ) -> tuple[Reply, ...]:
        checklist = build_guidance(speaker.flow, _handling(answers))
        return self._notice("forward"), Notice(plaintext.guidance(checklist))

    @staticmethod
    def _current(progress: Progress | None, token: str) -> bool:
        return (
            progress is not None
            and progress.token == token
            and progress.answer_map.get("role") == ("affected",)
        )

    @staticmethod
    def may_answer_preview(text: str) -> bool:
        said = normalise(text)
        return said in YES or said in NO

    async def typed(self, user: UserKey, progress: Progress | None, text: str) -> Tell | None:
        """A typed "yes" (Send) or "no" (Not now) while a preview is waiting for one."""
        said = normalise(text)
        if (said not in YES and said not in NO) or progress is None:
            return None
        pending = await self.cases.pending(user)
        if pending is None or pending[0] != progress.token:
            return None
        return Tell(pending[1] if said in YES else "", pending[0], confirmed=said in YES)

    # --- the person told's buttons -------------------------------------------------------

    async def act(self, speaker: Engine, lead: UserKey, inp: Act) -> Turn:
        case_id, _, reporter_id = inp.case.partition(".")
        reporter = UserKey(lead.platform, lead.workspace, reporter_id)
        if not case_id or not reporter_id or inp.action not in Act.ACTIONS:
            return Turn(Outcome.STALE, (self._notice("gone"),))
        if inp.action in (Act.RECORD, Act.WALK):
            case = await self.cases.get(reporter)
            if case is None or case.id != case_id:
                return Turn(Outcome.STALE, (self._notice("gone"),))
            if case.lead != lead:
                return Turn(Outcome.STALE, (self._notice("not_yours"),))
            if inp.action == Act.RECORD:
                return Turn(Outcome.STATUS, (Notice(self.record(speaker, case, reporter)),))
            walk = await speaker.begin_with(lead, _handling(dict(case.answer_pairs)))
            return replace(walk, replies=(self._notice("walk"), *walk.replies))
        now = self.cases.now()
        if inp.action == Act.ACKNOWLEDGE:
            field = "ack"
        else:
            field = DONE + inp.item
            case = await self.cases.get(reporter)
            if case is None or inp.item not in _item_ids(speaker, case):
                return Turn(Outcome.STALE, (self._notice("gone"),))
        changed = await self.cases.change(reporter, case_id, {field: now}, once=field, by=lead)
        if changed.not_theirs:
            return Turn(Outcome.STALE, (self._notice("not_yours"),))
        if changed.case is None:
            return Turn(Outcome.STALE, (self._notice("gone"),))
        case = changed.case
        if not changed.applied:
            at = case.acknowledged if field == "ack" else case.done.get(inp.item, 0)
            name = "already_acknowledged" if field == "ack" else "already_done"
            return Turn(Outcome.STALE, (self._notice(name, date=when(at)),))
        told = self._name(speaker, case)
        if field == "ack":
            news = self._notice("acknowledged", name=told, date=when(now))
        else:
            item = next(t.item.title for t in self._tasks(speaker, case) if t.item.id == inp.item)
            news = self._notice("done", name=told, item=item, date=when(now))
        return Turn(
            Outcome.ACTED,
            (),
            deliveries=(self._refresh(speaker, reporter, case), Deliver(reporter, news)),
        )

    def _refresh(self, speaker: Engine, reporter: UserKey, case: Case) -> Deliver:
        """The report updated to `case`; once the platform has it, the case is read again,
        so that an update drawn from an older copy (two clicks on two workers finishing in
        the other order, or a withdrawal meanwhile) is never the last one shown."""

        async def check(ref: str | None) -> Turn:
            latest = await self.cases.get(reporter)
            if latest is None or latest.id != case.id:
                gone = self._withdrawn(speaker, case, reporter, self.cases.now())
                return Turn(Outcome.ACTED, (), deliveries=(Deliver(case.lead, gone, case.message),))
            if latest.version > case.version:
                return Turn(
                    Outcome.ACTED, (), deliveries=(self._refresh(speaker, reporter, latest),)
                )
            return Turn(Outcome.ACTED, ())

        return Deliver(case.lead, self.report_of(speaker, case, reporter), case.message, check)

    # --- status, the record, withdrawing ------------------------------------------------

    async def status(self, speaker: Engine, user: UserKey) -> tuple[Reply, ...]:
        """The member of staff's report as a dated record; for a person told, theirs."""
        case = await self.cases.get(user)
        records = [self.record(speaker, case, user)] if case else []
        for reporter in await self.cases.pointed(user):
            led = await self.cases.get(reporter)
            if led is not None and led.lead == user:
                records.append(self.record(speaker, led, reporter))
        if not records:
            return (self._notice("no_case"),)
        return tuple(Notice(r) for r in records)

    def record(self, speaker: Engine, case: Case, reporter: UserKey) -> str:
        """The report's history as one dated text, to copy into the school's own log."""
        w = self.words["record"]
        told = self._name(speaker, case)
        lines = [w["title"]]
        if speaker.school:
            lines.append(w["school"].format(school=speaker.school.name))
        lines.append(
            w["told"].format(name=told, date=when(case.sent))
            if case.sent
            else w["sending"].format(name=told)
        )
        if case.acknowledged:
            lines.append(w["acknowledged"].format(date=when(case.acknowledged)))
        else:
            lines.append(w["not_acknowledged"])
        lines.append(w["items"])
        for task in self._tasks(speaker, case):
            at = case.done.get(task.item.id)
            title = task.item.title
            lines.append(
                w["done"].format(item=title, date=when(at))
                if at
                else w["not_done"].format(item=title)
            )
        return "\n".join(lines)

    async def withdraw(self, speaker: Engine, user: UserKey) -> Turn | None:
        """`delete my data` withdraws the report: the case goes, and the person told sees
        that it was withdrawn in place of its checklist."""
        case = await self.cases.remove(user)
        if case is None:
            return None
        await self.cases.unpoint(case.lead, user)
        replies: tuple[Reply, ...] = ()
        deliveries: tuple[Deliver, ...] = ()
        if case.message:
            gone = self._withdrawn(speaker, case, user, self.cases.now())
            deliveries = (Deliver(case.lead, gone, update=case.message),)
            replies = (self._notice("withdrawn", name=self._name(speaker, case)),)
        return Turn(Outcome.DELETED, replies, deliveries=deliveries)

    # --- the report ---------------------------------------------------------------------

    def report_of(self, speaker: Engine, case: Case, reporter: UserKey) -> Report:
        person = self._person(speaker, case)
        return self._report(speaker, case, reporter, dict(case.answer_pairs), person, case.created)

    def _report(
        self,
        speaker: Engine,
        case: Case | None,
        reporter: UserKey,
        answers: Mapping[str, tuple[str, ...]],
        person: Person | None,
        at: float,
        reporter_name: str = "",
    ) -> Report:
        w = self.words["report"]
        checklist = build_guidance(speaker.flow, _handling(answers))
        done = case.done if case else {}
        tasks = tuple(
            Task(item, w["done_at"].format(date=when(done[item.id])) if item.id in done else "")
            for item in checklist.items
        )
        status = []
        if case and case.sent:
            status.append(w["sent"].format(date=when(case.sent)))
        if case and case.acknowledged:
            status.append(w["acknowledged"].format(date=when(case.acknowledged)))
        else:
            status.append(w["not_acknowledged"])
        return Report(
            case=f"{case.id}.{reporter.user}" if case else "",
            reporter=reporter.user,
            heading=w["heading"],
            text=w["text"].format(reporter="{reporter}", date=when(int(at))),
            status=tuple(status),
            guidance=checklist,
            tasks=tasks,
            acknowledged=bool(case and case.acknowledged),
            labels=ReportLabels(w["acknowledge"], w["done"], w["walk"], w["record"]),
            reporter_name=reporter_name,
        )

    def _withdrawn(self, speaker: Engine, case: Case, reporter: UserKey, now: int) -> Report:
        report = self.report_of(speaker, case, reporter)
        text = self.words["report"]["withdrawn"].format(reporter="{reporter}", date=when(now))
        return replace(report, withdrawn=text, tasks=(), status=(), labels=None)

    def _tasks(self, speaker: Engine, case: Case) -> tuple[Task, ...]:
        checklist = build_guidance(speaker.flow, _handling(dict(case.answer_pairs)))
        return tuple(Task(item) for item in checklist.items)

    def _person(self, speaker: Engine, case: Case) -> Person | None:
        everyone = dict(people(speaker.school, dict(case.answer_pairs)))
        person = everyone.get(case.person)
        if person and platform_id(person, case.lead.platform) == case.lead.user:
            return person
        # The school file changed since: find them by their id, or name nobody.
        return next(
            (p for p in everyone.values() if platform_id(p, case.lead.platform) == case.lead.user),
            None,
        )

    def _name(self, speaker: Engine, case: Case) -> str:
        person = self._person(speaker, case)
        return person.name if person else "the person you told"

    def _notice(self, key: str, **values: str) -> Notice:
        return Notice(
            self.words["notices"].get(key, self.words["offer"].get(key, "")).format(**values)
        )


def _handling(answers: Mapping[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    """The same answers, worded for the person handling the case."""
    return {k: (("handling",) if k == "role" else v) for k, v in answers.items()}


def _item_ids(speaker: Engine, case: Case) -> set[str]:
    checklist = build_guidance(speaker.flow, _handling(dict(case.answer_pairs)))
    return {item.id for item in checklist.items}
