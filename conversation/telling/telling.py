"""Telling the person who leads: the offer, the consent, the report and its dated record.

Who is offered follows the flowchart's "Decide investigation lead" (the school's nominated
lead, or a governor when the person affected is the headteacher or nominated lead); nothing
is sent before the member of staff has seen it and pressed Send (or typed "yes"); and
everything the person told does is kept in the case with its time. What leaves a turn for
someone else is a `Deliver`; the turn runner has the platform post or update it and report
back where it went.

This layer knows the conversation only through the user's view and stored progress; it
never calls the engine. A walk-through of a report is asked for as a `Walk`, which the
runner begins.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Protocol

from .. import plaintext
from ..dates import when
from ..guidance import build as build_guidance
from ..messages import (
    Act,
    Answered,
    Choice,
    Deliver,
    Notice,
    Offer,
    Outcome,
    Plain,
    Preview,
    RecordFile,
    Reply,
    Tell,
    Turn,
    UserKey,
)
from ..progress import Progress
from ..school import Person
from ..storage import (
    Case,
    Cases,
    Changed,
    Cipher,
    Created,
    Statistics,
    Store,
    parse_reference,
    reference,
)
from ..storage.cases import DONE
from ..typed import normalise
from ..typed import reference as typed_reference
from ..views import View, Views
from . import report as drawn
from .counting import Counting
from .due import Due
from .overview import overview as overview_of
from .people import (
    MESSAGING,
    handling,
    head_or_lead_affected,
    holds,
    next_person,
    people,
    platform_id,
)
from .references import References
from .report import wording

log = logging.getLogger("conversation.telling")

FORWARD = "forward"
"""The offer's one choice when nobody can be messaged: the checklist as text."""
YES = frozenset({"yes", "y", "send", "send it", "yes send", "yes please", "ok send"})
NO = frozenset({"no", "n", "not now", "dont send", "cancel"})

SENDS_ONLY = frozenset({Act.RECORD, Act.FILE, Act.WALK, Act.REFERENCE})
"""The report's buttons that send something without changing the report: a second click of
one within moments is a doubled click, and sends nothing (the others are applied once by
the case itself, and a second says it was done already)."""

RETRIES = (1.0, 5.0, 30.0)
"""Seconds before each new try at removing a withdrawn report from the message of the person
told, when the platform refused the update."""


@dataclass(frozen=True, slots=True)
class Walk:
    """The person told asked to be walked through a report: their own conversation, begun
    from its answers (worded for them), marked as that report's (`origin`)."""

    answers: Mapping[str, tuple[str, ...]]
    origin: str
    notice: Notice


class Plans(Protocol):
    """What keeps a report's time (the follow-ups, a layer above this one): told when a
    report has been sent and when nothing more is due on it."""

    async def sent(self, reporter: UserKey, case: Case) -> int:
        """Schedule the report's reminders (and its escalation, if agreed); returns when it
        would go to the school's next person (0: never)."""
        ...

    async def settled(self, reporter: UserKey, case: Case) -> None:
        """Acknowledged or withdrawn: every timer of the report is cancelled."""
        ...

    async def next_due(self, reporter: UserKey, case: Case) -> Due | None:
        """What happens next on the report, and when, as its holder reads it (None: nothing)."""
        ...


class Telling:
    def __init__(
        self,
        cases: Cases,
        store: Store,
        views: Views,
        cipher: Cipher | None = None,
        statistics: Statistics | None = None,
        plans: Plans | None = None,
    ) -> None:
        """`cipher` seals the reference numbers (a key of this process alone if None);
        `statistics` keeps the governors' counts (none are kept if None)."""
        self.cases = cases
        self.store = store
        self.views = views
        self.plans = plans
        self.words = wording()
        self.references = References(cases, views, cipher or Cipher.ephemeral())
        self.counting = Counting(statistics) if statistics else None

    # --- the offer ----------------------------------------------------------------------

    async def offer(self, user: UserKey, progress: Progress) -> Reply | None:
        """At the end, for the member of staff being targeted: whom they could tell."""
        view = self.views.for_user(user)
        answers = progress.answer_map
        if answers.get("role") != ("affected",):
            return None
        if (case := await self.cases.get(user)) is not None:
            name = drawn.name_of(view, case)
            return self._notice("already", name=name, date=when(case.created))
        w = self.words["offer"]
        everyone = people(view.school, answers)
        reachable = [(cid, p) for cid, p in everyone if platform_id(p, user.platform)]
        governor = head_or_lead_affected(answers)
        if user.platform not in MESSAGING:  # nobody to send to, nothing to click
            return self._text_only(view, user, progress, everyone, governor)
        if not reachable:
            why = w["nobody_governor" if governor else "nobody_lead"]
            choices = (Choice(FORWARD, w["forward"]),)
            return Offer(progress.token, w["title"], f"{why} {w['nobody']}", choices)
        group = "governors." if governor else "leads."
        cid, first = reachable[0]
        if cid.startswith(group):
            paragraphs = [drawn.recommend(view, first, governor), w["text"]]
            if len(reachable) > 1:
                paragraphs.append(w["others"])
        else:  # the flowchart's choice cannot be messaged here: say so, offer the others
            why = w["nobody_governor" if governor else "nobody_lead"]
            paragraphs = [f"{why} {w['unreachable']}", w["text"]]
        choices = tuple(Choice(cid, w["choice"].format(name=p.name)) for cid, p in reachable)
        return Offer(progress.token, w["title"], "\n\n".join(paragraphs), choices)

    def _text_only(
        self,
        view: View,
        user: UserKey,
        progress: Progress,
        everyone: list[tuple[str, Person]],
        governor: bool,
    ) -> Reply:
        """Nobody to send to and nothing to click: what would be sent, or, where the school
        names nobody, the checklist to forward, at once."""
        w = self.words["offer"]
        answers = progress.answer_map
        if everyone:
            _, person = everyone[0]
            shown = drawn.report(view, None, user, answers, progress.updated)
            intro = drawn.recommend(view, person, governor)
            text = f"{intro}\n\n" + w["elsewhere"].format(name=person.name)
            return Offer(progress.token, w["title"], text, (), shown)
        why = w["nobody_governor" if governor else "nobody_lead"]
        checklist = build_guidance(view.flow, handling(answers))
        text = f"{why} {w['nobody']}\n\n{self.words['notices']['forward']}\n\n"
        return Notice(text + plaintext.guidance(checklist))

    # --- the member of staff's choices: a person, Send, Not now ---------------------------

    async def tell(self, user: UserKey, inp: Tell, name: str = "") -> Turn:
        """A click on the offer or the preview (or a typed "yes" or "no" to a preview)."""
        view = self.views.for_user(user)
        progress = await self.store.read(user)  # what is stored, not this process's copy
        if not _current(progress, inp.token):
            return self._stale(view, progress)
        assert progress is not None
        if inp.confirmed:
            return await self._send(view, user, progress, inp, name)
        # Anything short of Send spends the offer's token: a second click finds it stale.
        spent = await self.store.commit(user, progress, progress.bumped(self.cases.now()))
        if not spent.applied or spent.progress is None:
            return self._stale(view, spent.progress)
        again = spent.progress
        question = view.question(again)
        answers = again.answer_map
        w = self.words
        if inp.person == "":
            await self.cases.forget_pending(user)
            chose = Answered(w["preview"]["title"], (w["preview"]["not_now"],))
            replies: tuple[Reply, ...] = (self._notice("not_now"), question)
        elif inp.person == FORWARD:
            chose = Answered(w["offer"]["title"], (w["offer"]["forward"],))
            replies = (*self._forward(view, answers), question)
        else:
            person = dict(people(view.school, answers)).get(inp.person)
            if person is None or not platform_id(person, user.platform):
                return self._stale(view, again)
            await self.cases.pend(user, again.token, inp.person)
            shown = drawn.report(view, None, user, answers, self.cases.now())
            text, escalate = self._escalation_offer(view, user, inp.person, person)
            preview = Preview(
                again.token,
                inp.person,
                text,
                shown,
                w["preview"]["send"],
                w["preview"]["not_now"],
                escalate,
            )
            label = w["offer"]["choice"].format(name=person.name)
            chose = Answered(w["offer"]["title"], (label,))
            replies = (preview, question)
        return Turn(
            Outcome.PREVIEWED, replies, answered=chose, step=again.step, closes=progress.version
        )

    def _escalation_offer(
        self, view: View, user: UserKey, cid: str, person: Person
    ) -> tuple[str, str]:
        """The preview's text, and the label of a Send that also agrees to escalation ("":
        the school names nobody it could go to next)."""
        w = self.words["preview"]
        text = w["text"].format(name=person.name)
        found = next_person(view.school, cid, user, platform_id(person, user.platform))
        if found is None or view.school is None:
            return text, ""
        after = str(view.school.follow_up.escalate_after)
        more = w["escalate_text"].format(name=person.name, next=found[1].name, after=after)
        return f"{text}\n\n{more}", w["escalate"].format(next=found[1].name)

    async def _send(
        self, view: View, user: UserKey, progress: Progress, inp: Tell, name: str
    ) -> Turn:
        answers = progress.answer_map
        person = dict(people(view.school, answers)).get(inp.person)
        lead_id = platform_id(person, user.platform) if person else ""
        if person is None or not lead_id:
            return self._stale(view, progress)
        lead = UserKey(user.platform, user.workspace, lead_id)
        school = view.school.id if view.school else ""
        agreed = None
        if inp.escalate:  # only with the member of staff's own click, and only to this person
            found = next_person(view.school, inp.person, user, lead_id)
            if found is None:
                return self._stale(view, progress)
            pid = platform_id(found[1], user.platform)
            agreed = (found[0], UserKey(user.platform, user.workspace, pid), 0)
        status, case = await self.cases.create(user, progress, school, lead, inp.person, agreed)
        if status is Created.STALE or (status is Created.LIMITED) or case is None:
            if status is Created.LIMITED:
                return Turn(Outcome.STALE, (self._notice("limited"),))
            return self._stale(view, progress)
        if status is Created.EXISTS:  # a doubled Send: the first one sends
            told_name = drawn.name_of(view, case)
            notice = self._notice("already", name=told_name, date=when(case.created))
            return Turn(Outcome.STALE, (notice,))
        shown = drawn.report(view, case, user, answers, case.created, name)
        sent_word = (self.words["preview"]["send"],)

        async def sent(ref: str | None) -> Turn:
            return await self._sent(view, user, case, person, ref)

        return Turn(
            Outcome.SENT,
            (),
            answered=Answered(self.words["preview"]["title"], sent_word),
            deliveries=(Deliver(lead, shown, then=sent),),
            timed=self.plans is not None,
        )

    async def _sent(
        self, view: View, user: UserKey, case: Case, person: Person, ref: str | None
    ) -> Turn:
        if ref is None:
            # Not reachable: nothing is kept, and the member of staff can forward it.
            await self.cases.remove(user, case.id, unsent_only=True)
            notice = self._notice("unreachable", name=person.name)
            _, checklist = self._forward(view, dict(case.answer_pairs))
            return Turn(Outcome.SENT, (notice, checklist))
        now = self.cases.now()
        changed = await self.cases.change(user, case.id, {"sent": now, "msg": ref}, once="sent")
        if changed.case is None:  # withdrawn while it was on its way
            gone = drawn.withdrawn(view, case, user, now)
            return Turn(Outcome.SENT, (), deliveries=(Deliver(case.lead, gone, update=ref),))
        await self.cases.point(case.lead, user, case.id)
        if self.counting:
            await self.counting.sent(view, changed.case)
        at = await self.plans.sent(user, changed.case) if self.plans else 0
        if at and changed.case.escalate_to:
            nxt = drawn.next_name(view, changed.case)
            notice = self._notice(
                "sent_escalate", name=person.name, date=when(now), at=when(at), next=nxt
            )
        else:
            notice = self._notice("sent", name=person.name, date=when(now))
        return Turn(Outcome.SENT, (notice,))

    def _forward(self, view: View, answers: Mapping[str, tuple[str, ...]]) -> tuple[Reply, Reply]:
        checklist = build_guidance(view.flow, handling(answers))
        return self._notice("forward"), Plain(plaintext.guidance(checklist))

    def _stale(self, view: View, progress: Progress | None) -> Turn:
        if progress is None:
            return Turn(Outcome.STALE, (self._notice("stale"),))
        return Turn(
            Outcome.STALE,
            (self._notice("stale"), view.question(progress)),
            step=progress.step,
            closes=progress.version,
        )

    @staticmethod
    def may_answer_preview(text: str) -> bool:
        said = normalise(text)
        return said in YES or said in NO

    async def typed(self, user: UserKey, text: str) -> Tell | None:
        """A typed "yes" (Send) or "no" (Not now) while a preview is waiting for one."""
        said = normalise(text)
        if said not in YES and said not in NO:
            return None
        pending = await self.cases.pending(user)
        progress = await self.store.read(user)
        if pending is None or progress is None or pending[0] != progress.token:
            return None
        return Tell(pending[1] if said in YES else "", pending[0], confirmed=said in YES)

    # --- the person told's buttons -------------------------------------------------------

    async def act(self, lead: UserKey, inp: Act) -> Turn | Walk:
        """A button on a report, pressed by `lead`. Whether the report is gone, or is someone
        else's, is never said apart: either way the answer is the same, and nothing changes."""
        view = self.views.for_user(lead)
        named = parse_reference(inp.case, lead)
        if named is None or inp.action not in Act.ACTIONS:
            return self._unavailable()
        case_id, reporter = named
        case = await self.cases.get(reporter)
        if case is None or case.id != case_id or not self.holds(view, case, lead):
            return self._unavailable()
        ref = reference(case, reporter)
        click = f"{inp.action}:{inp.item}:{ref}"
        if inp.action in SENDS_ONLY and not await self.cases.first_click(lead, click):
            return Turn(Outcome.DUPLICATE, ())  # a doubled click: the first one sends
        if inp.action in (Act.RECORD, Act.FILE):
            return self._record(view, reporter, case, inp)
        if inp.action == Act.REFERENCE:
            return await self.references.choose(lead, ref)
        if inp.action == Act.WALK:
            return Walk(handling(dict(case.answer_pairs)), ref, self._notice("walk"))
        now = self.cases.now()
        values: dict[str, str | int]
        if inp.action == Act.ACKNOWLEDGE:
            field = "ack"
            values = {"ack": now, **({"ackby": "next"} if lead != case.lead else {})}
        else:
            field = DONE + inp.item
            values = {field: now}
            if inp.item not in dict(drawn.items(view, case)):
                return self._unavailable()
        changed = await self.cases.change(reporter, case_id, values, once=field, by=lead)
        if changed.status in (Changed.GONE, Changed.NOT_THEIRS) or changed.case is None:
            return self._unavailable()
        case = changed.case
        if changed.status is Changed.ALREADY:
            at = case.acknowledged if field == "ack" else case.done.get(inp.item, 0)
            name = "already_acknowledged" if field == "ack" else "already_done"
            return Turn(Outcome.STALE, (self._notice(name, date=when(at)),))
        await self._count(view, case, field)
        name = drawn.actor_name(view, case, lead)
        if field == "ack":
            if self.plans:
                await self.plans.settled(reporter, case)
            news = self._notice("acknowledged", name=name, date=when(now))
        else:
            item = dict(drawn.items(view, case))[inp.item]
            news = self._notice("done", name=name, item=item, date=when(now))
        return Turn(
            Outcome.ACTED,
            (),
            deliveries=(*self.refreshed(view, reporter, case), Deliver(reporter, news)),
        )

    def _record(self, view: View, reporter: UserKey, case: Case, inp: Act) -> Turn:
        """The record as text to copy and as files to keep; a file alone once a platform's
        consent for it was given (`Act.FILE`, its format in `item`)."""
        noted = self.references.opened(case)
        ref = reference(case, reporter)
        files = drawn.record_file(view, case, reporter, noted, self.cases.now())
        if inp.action == Act.FILE:
            if inp.item not in RecordFile.FORMATS:
                return self._unavailable()
            return Turn(Outcome.STATUS, (replace(files, only=inp.item),), about=(ref,))
        shown = Notice(drawn.record(view, case, noted))
        return Turn(Outcome.STATUS, (shown, files), about=(ref,))

    async def _count(self, view: View, case: Case, field: str) -> None:
        """The governors' counts: acknowledged, or (its last step marked done) completed."""
        if self.counting is None:
            return
        if field == "ack":
            await self.counting.acknowledged(view, case)
        elif all(item_id in case.done for item_id, _ in drawn.items(view, case)):
            await self.counting.completed(view, case)

    @staticmethod
    def holds(view: View, case: Case, person: UserKey) -> bool:
        return holds(view.school, case, person)

    def refreshed(self, view: View, reporter: UserKey, case: Case) -> tuple[Deliver, ...]:
        """Every copy of the report its holders received, drawn again from `case`."""
        found = [self._refresh(view, reporter, case)]
        if case.escalate_user and case.escalated_message:
            found.append(self._refresh(view, reporter, case, escalation=True))
        return tuple(found)

    def _refresh(
        self, view: View, reporter: UserKey, case: Case, escalation: bool = False
    ) -> Deliver:
        """The report updated to `case` (the escalated copy, with `escalation`); once the
        platform has it, the case is read again, so that an update drawn from an older copy
        (two clicks on two workers finishing in the other order, or a withdrawal meanwhile)
        is never the last one shown."""
        holder = case.escalate_user if escalation and case.escalate_user else case.lead
        message = case.escalated_message if escalation else case.message

        async def check(ref: str | None) -> Turn:
            latest = await self.cases.get(reporter)
            if latest is None or latest.id != case.id:
                gone = drawn.withdrawn(view, case, reporter, self.cases.now())
                return Turn(Outcome.ACTED, (), deliveries=(Deliver(holder, gone, message),))
            if latest.version > case.version:
                again = self._refresh(view, reporter, latest, escalation)
                return Turn(Outcome.ACTED, (), deliveries=(again,))
            return Turn(Outcome.ACTED, ())

        shown = drawn.report_of(view, case, reporter, escalation)
        return Deliver(holder, shown, message, check)

    # --- status, withdrawing ---------------------------------------------------------------

    async def status(self, user: UserKey) -> tuple[tuple[Reply, ...], tuple[str, ...]]:
        """The member of staff's report as a dated record; for a person told, theirs; and
        the references of the reports shown."""
        view = self.views.for_user(user)
        case = await self.cases.get(user)
        opened = self.references.opened
        records = [drawn.record(view, case, opened(case))] if case else []
        about = []  # the reports of others shown here: copies, removed with each report
        for reporter in await self.cases.pointed(user):
            led = await self.cases.get(reporter)
            if led is not None and self.holds(view, led, user):
                records.append(drawn.record(view, led, opened(led)))
                about.append(reference(led, reporter))
        if not records:
            return (self._notice("no_case"),), ()
        return tuple(Notice(r) for r in records), tuple(about)

    async def overview(self, person: UserKey) -> Turn:
        """The reports `person` holds, for them alone."""
        due = self.plans.next_due if self.plans else None
        shown, about = await overview_of(self.cases, self.views.for_user(person), person, due)
        return Turn(Outcome.OVERVIEW, (shown,), about=about)

    async def reference(self, person: UserKey, text: str) -> tuple[Reply, ...]:
        """A reference number typed for a record: kept, or refused saying why."""
        return await self.references.add(person, typed_reference(text))

    async def withdraw(self, user: UserKey) -> Turn | None:
        """`delete my data` withdraws the report: the case goes; the person told sees that it
        was withdrawn in place of its checklist, and every other message of theirs that
        showed it (the walk-through, the record) says so too, their walk-through deleted."""
        case = await self.cases.remove(user)
        if case is None:
            return None
        view = self.views.for_user(user)
        steps = drawn.items(view, case)
        if self.counting and not all(item_id in case.done for item_id, _ in steps):
            await self.counting.withdrawn(view, case)
        ref = reference(case, user)
        if self.plans:
            await self.plans.settled(user, case)
        now = self.cases.now()
        name = drawn.name_of(view, case)
        removed = Notice(self.words["notices"]["copy_withdrawn"].format(date=when(now)))
        deliveries = []
        holders = [case.lead]
        if case.escalate_user and case.escalated:
            holders.append(case.escalate_user)
            if case.escalated_message:  # the next person's copy: withdrawn in place too
                gone = drawn.withdrawn(view, case, user, now)
                deliveries.append(Deliver(case.escalate_user, gone, update=case.escalated_message))
        for holder in holders:
            await self.cases.unpoint(holder, user)
            copies = await self.cases.forget_copies(holder, ref)
            deliveries += [Deliver(holder, removed, update=copy) for copy in copies]
        if case.message:
            gone = drawn.withdrawn(view, case, user, now)

            async def updated(at: str | None, tries: int = 0) -> Turn:
                """Said once the platform has the withdrawal, or has refused it every time."""
                if at is not None:
                    said = "withdrawn" if tries == 0 else "withdrawn_late"
                    return Turn(Outcome.DELETED, (self._notice(said, name=name),))
                if tries == len(RETRIES):
                    log.warning("withdrawal not shown to the person told")
                    return Turn(Outcome.DELETED, (self._notice("withdraw_failed", name=name),))

                async def again(at: str | None) -> Turn:
                    return await updated(at, tries + 1)

                retry = Deliver(case.lead, gone, case.message, again, after=RETRIES[tries])
                said = (self._notice("withdraw_retrying", name=name),) if tries == 0 else ()
                return Turn(Outcome.DELETED, said, deliveries=(retry,))

            deliveries.insert(0, Deliver(case.lead, gone, update=case.message, then=updated))
        return Turn(Outcome.DELETED, (), deliveries=tuple(deliveries))

    def _unavailable(self) -> Turn:
        return Turn(Outcome.STALE, (self._notice("unavailable"),))

    def _notice(self, key: str, **values: str) -> Notice:
        notices = self.words["notices"]
        text = notices[key] if key in notices else self.words["offer"][key]
        return Notice(text.format(**values))


def _current(progress: Progress | None, token: str) -> bool:
    return (
        progress is not None
        and progress.token == token
        and progress.answer_map.get("role") == ("affected",)
    )
