"""A report's time: reminders to the person told, the escalation the member of staff agreed
to, and each lead's weekly digest. What each timer does is decided when it fires, from the
case as it is then, inside the case's compare-and-set (`Cases.change(..., once=...)`):

| timer | applies only while | sets | then |
| --- | --- | --- | --- |
| `remind1`, `remind2` | not acknowledged | `r1`, `r2` | a short reminder to the person told |
| `warn` | not acknowledged, stopped or escalated | `warned` | the member of staff told; a Stop |
| `escalate` | not acknowledged or stopped | `esc` | the report to the school's next person |

So a reminder never goes for a report acknowledged, withdrawn or deleted, whichever worker
fires it and whenever. A timer found already applied (its field set) by a claim that ran
out is a worker that died before it could deliver: it delivers again (at most one extra
message, never a lost one), except an escalation whose message is known to have arrived.
A message that could not be delivered raises `NotDelivered`, and the timer is tried again.
"""

from __future__ import annotations

from ..dates import when
from ..messages import (
    Act,
    Answered,
    Button,
    Deliver,
    Follow,
    Notice,
    Nudge,
    Outcome,
    Reply,
    Turn,
    UserKey,
)
from ..storage import Case, Cases, Changed, Timer, Timers, parse_reference, reference
from ..telling import Telling
from ..telling import report as drawn
from ..telling.due import Due as NextOne
from ..telling.people import escalated, told
from ..views import View, Views
from . import kinds
from .calendar import Calendars
from .words import wording

NOTHING = Turn(Outcome.FOLLOWED, ())


class NotDelivered(Exception):
    """A message a timer sent could not be delivered: the timer is tried again later."""


async def delivered(where: str | None) -> Turn:
    if where is None:
        raise NotDelivered()
    return NOTHING


class CaseTimers:
    def __init__(self, telling: Telling, timers: Timers, views: Views, calendars: Calendars):
        self.telling = telling
        self.cases: Cases = telling.cases
        self.timers = timers
        self.views = views
        self.calendars = calendars

    # --- planned at Send, cancelled when settled (`telling.Plans`) ---------------------------

    async def sent(self, reporter: UserKey, case: Case) -> int:
        """Every timer of a report just sent, in one write: two reminders, and, where the
        member of staff agreed, the warning and the escalation; and the lead's digest, if
        none is due yet. Returns when it would go further (0: never)."""
        view = self.views.for_user(reporter)
        cal = self.calendars.of(view.school)
        every = cal.settings.lead_reminder
        first = cal.deliverable(cal.after(case.sent, every))
        second = cal.deliverable(cal.after(first, every))
        due = [(Timer(kinds.REMIND[0], reporter, case.id), first)]
        due.append((Timer(kinds.REMIND[1], reporter, case.id), second))
        goes = 0
        if case.escalate_to:
            goes = cal.deliverable(cal.after(case.sent, cal.settings.escalate_after))
            warn = min(goes, cal.deliverable(max(case.sent, cal.before(goes, every))))
            due += [(Timer(kinds.WARN, reporter, case.id), warn)]
            due += [(Timer(kinds.ESCALATE, reporter, case.id), goes)]
            await self.cases.change(reporter, case.id, {"eat": goes})
        await self.timers.set(due, only_new=True)
        await self.digest_for(case.lead, view)
        return goes

    async def settled(self, reporter: UserKey, case: Case) -> None:
        await self.timers.cancel(kinds.of_case(reporter, case.id))

    async def next_due(self, reporter: UserKey, case: Case) -> NextOne | None:
        """The earliest of the report's timers still due, as its holder reads it."""
        soonest: tuple[int, str] | None = None
        for timer in kinds.of_case(reporter, case.id):
            at = await self.timers.due_at(timer)
            if at is not None and (soonest is None or at < soonest[0]):
                soonest = (at, timer.kind)
        if soonest is None:
            return None
        at, kind = soonest
        what = wording()["due"][kind]
        view = self.views.for_user(reporter)
        return NextOne(what.format(next=drawn.next_name(view, case)), at)

    async def digest_for(self, lead: UserKey, view: View) -> None:
        """The weekly digest of someone now holding a report, if none is due yet."""
        weekly = self.calendars.of(view.school).settings.digest
        if weekly is not None:
            at = self.calendars.of(view.school).next_weekly(self.cases.now(), weekly)
            await self.timers.set([(Timer(kinds.DIGEST, lead), at)], only_new=True)

    # --- firing ----------------------------------------------------------------------------

    async def fire(self, reporter: UserKey, kind: str, case_id: str) -> Turn:
        view = self.views.for_user(reporter)
        case = await self.cases.get(reporter)
        if case is None or case.id != case_id or not case.sent or told(view.school, case) is None:
            return NOTHING  # withdrawn, expired, or its lead no longer named: nothing is due
        if kind in kinds.REMIND:
            return await self._remind(view, reporter, case, kinds.REMIND.index(kind) + 1)
        if kind == kinds.WARN:
            return await self._warn(view, reporter, case)
        if kind == kinds.ESCALATE:
            return await self._escalate(view, reporter, case)
        return NOTHING

    async def _remind(self, view: View, reporter: UserKey, case: Case, n: int) -> Turn:
        field = f"r{n}"
        now = self.cases.now()
        changed = await self.cases.change(reporter, case.id, {field: now}, once=f"ack {field}")
        case = changed.case  # type: ignore[assignment]
        if changed.status is Changed.GONE or case is None:
            return NOTHING
        if changed.status is Changed.ALREADY and case.acknowledged:
            return NOTHING  # else `r{n}` was set by a claim that died: deliver again
        w = wording()["reminder"]
        ref = reference(case, reporter)
        text = w["text"].format(date=when(case.sent))
        nudge = Nudge(w["title"], text, (Button(w["acknowledge"], Act(Act.ACKNOWLEDGE, ref)),))
        return Turn(Outcome.FOLLOWED, (), deliveries=(Deliver(case.lead, nudge, then=delivered),))

    async def _warn(self, view: View, reporter: UserKey, case: Case) -> Turn:
        now = self.cases.now()
        changed = await self.cases.change(
            reporter, case.id, {"warned": now}, once="ack estop esc warned"
        )
        case = changed.case  # type: ignore[assignment]
        if changed.status is Changed.GONE or case is None:
            return NOTHING
        if changed.status is Changed.ALREADY and (
            case.acknowledged or case.stopped or case.escalated
        ):
            return NOTHING  # else `warned` was set by a claim that died: deliver again
        w = wording()["warning"]
        nxt = drawn.next_name(view, case)
        text = w["text"].format(
            name=drawn.name_of(view, case),
            date=when(case.sent),
            next=nxt,
            at=when(case.escalate_at),
        )
        stop = Follow(Follow.ESCALATION, "stop", reference(case, reporter))
        return Turn(
            Outcome.FOLLOWED,
            (Nudge(w["title"], text, (Button(w["stop"].format(next=nxt), stop),)),),
        )

    async def _escalate(self, view: View, reporter: UserKey, case: Case) -> Turn:
        person = escalated(view.school, case)
        target = case.escalate_user
        if person is None or target is None:
            return NOTHING  # the next person is no longer named by the school file
        now = self.cases.now()
        changed = await self.cases.change(reporter, case.id, {"esc": now}, once="ack estop esc")
        case = changed.case  # type: ignore[assignment]
        if changed.status is Changed.GONE or case is None:
            return NOTHING
        if changed.status is Changed.ALREADY and (
            case.acknowledged or case.stopped or case.escalated_message
        ):
            return NOTHING  # settled meanwhile, or delivered already by an earlier claim
        if changed.status is Changed.APPLIED and self.telling.counting:
            await self.telling.counting.escalated(view, case)  # the governors' count, once
        shown = drawn.report_of(view, case, reporter, escalation=True)

        async def arrived(where: str | None) -> Turn:
            if where is None:
                raise NotDelivered()
            latest = await self.cases.change(reporter, case.id, {"emsg": where})
            await self.cases.point(target, reporter, case.id)
            await self.digest_for(target, view)
            if latest.case is None:
                return NOTHING
            w = wording()["warning"]
            news = w["sent"].format(
                next=person.name, date=when(now), name=drawn.name_of(view, latest.case)
            )
            refresh = self.telling.refreshed(view, reporter, latest.case)
            return Turn(Outcome.FOLLOWED, (Notice(news),), deliveries=refresh[:1])

        return Turn(Outcome.FOLLOWED, (), deliveries=(Deliver(target, shown, then=arrived),))

    # --- the member of staff stopping it -------------------------------------------------------

    async def stop(self, reporter: UserKey, inp: Follow) -> Turn:
        """The warning's Stop (or typed "don't send it"): the report stays with the person
        told. Spent once: a second click says so and changes nothing."""
        w = wording()["warning"]
        view = self.views.for_user(reporter)
        named = parse_reference(inp.token, reporter)
        if inp.answer != "stop" or named is None or named[1] != reporter:
            return _said(w["gone"], Outcome.STALE)
        now = self.cases.now()
        changed = await self.cases.change(reporter, named[0], {"estop": now}, once="estop esc ack")
        case = changed.case
        if changed.status is Changed.GONE or case is None:
            return _said(w["gone"], Outcome.STALE)
        nxt, name = drawn.next_name(view, case), drawn.name_of(view, case)
        if changed.status is Changed.ALREADY:
            if case.stopped:
                return _said(w["already_stopped"].format(date=when(case.stopped)), Outcome.STALE)
            if case.escalated:
                said = w["already_sent"].format(next=nxt, date=when(case.escalated))
                return _said(said, Outcome.STALE)
            said = w["acknowledged"].format(name=name, date=when(case.acknowledged))
            return _said(said, Outcome.STALE)
        await self.timers.cancel([Timer(kinds.WARN, reporter, case.id)])
        await self.timers.cancel([Timer(kinds.ESCALATE, reporter, case.id)])
        chose = Answered(w["title"], (w["stop"].format(next=nxt),))
        said = w["stopped"].format(next=nxt, name=name)
        return Turn(Outcome.FOLLOWED, (Notice(said),), answered=chose)

    async def warned(self, reporter: UserKey) -> str | None:
        """The reference of the report whose warning is open (for a typed "don't send it")."""
        case = await self.cases.get(reporter)
        if case and case.warned and not (case.stopped or case.escalated or case.acknowledged):
            return reference(case, reporter)
        return None

    # --- the weekly digest ---------------------------------------------------------------------

    async def digest(self, lead: UserKey) -> Turn:
        """The reports `lead` holds, by reference and date only, and what is due next on each;
        next week's is due once this one is decided. Nothing (and no next one) once they hold
        none."""
        view = self.views.for_user(lead)
        w = wording()["digest"]
        lines = []
        for reporter in await self.cases.pointed(lead):
            case = await self.cases.get(reporter)
            if case is None or not self.telling.holds(view, case, lead):
                continue
            items = drawn.items(view, case)
            done = [i for i, _ in items if i in case.done]
            if not case.acknowledged:
                nxt, ack = w["next_ack"], w["not_acknowledged"]
            else:
                ack = w["acknowledged"].format(date=when(case.acknowledged))
                left = [n for n, (i, _) in enumerate(items, 1) if i not in case.done]
                nxt = w["next_step"].format(n=left[0]) if left else w["next_none"]
            lines.append(
                w["line"].format(
                    id=case.id,
                    date=when(case.sent),
                    ack=ack,
                    done=len(done),
                    total=len(items),
                    next=nxt,
                )
            )
        if not lines:
            return NOTHING
        weekly = self.calendars.of(view.school).settings.digest
        if weekly is not None:
            at = self.calendars.of(view.school).next_weekly(self.cases.now(), weekly)
            await self.timers.set([(Timer(kinds.DIGEST, lead), at)])
        text = "\n".join([w["text"], *lines, "", w["footer"]])
        return Turn(Outcome.FOLLOWED, (Nudge(w["title"], text),))


def _said(text: str, outcome: Outcome) -> Turn:
    shown: tuple[Reply, ...] = (Notice(text),)
    return Turn(outcome, shown)
