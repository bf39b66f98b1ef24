"""The platform-neutral conversation: one input in, replies out, progress saved atomically.

`decide` is pure: from the stored progress and the input it works out the replies and
the change to store. `handle` commits that change with compare-and-set and, if another
turn for the same user got there first, decides again from what that turn stored, so
two clicks racing on two workers never both apply.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from .case import Cases
from .flow import Flow
from .guidance import build as build_guidance
from .guidance import links, paragraphs
from .machine import FlowMachine
from .messages import (
    Act,
    Answered,
    Choice,
    Choose,
    Command,
    Do,
    Input,
    Notice,
    Outcome,
    Question,
    Reply,
    Say,
    Start,
    Tell,
    Turn,
    UserKey,
)
from .progress import Progress
from .school import NO_SCHOOLS, School, Schools
from .school_flow import apply as school_view
from .store import DELETED, UNCHANGED, Change, Duplicate, Store
from .telling import Telling
from .typed import Reading, greeting, nearly_command, nearly_greeting, read, shown
from .typed import command as typed_command

log = logging.getLogger("conversation")

MAX_ATTEMPTS = 10
"""Compare-and-set attempts. Each failed attempt means another turn for this user committed,
so K simultaneous turns need at most K attempts each; a real user makes two or three."""


class Busy(Exception):
    """Too many simultaneous turns for one user; nothing was changed."""


@dataclass(frozen=True, slots=True)
class _Unread:
    """Typed text that answered nothing, or only part of a "choose all that apply"."""

    reading: Reading


class Engine:
    def __init__(
        self,
        flow: Flow,
        store: Store,
        ttl_days: int,
        clock: Callable[[], float] = time.time,
        log_salt: bytes | None = None,
        schools: Schools = NO_SCHOOLS,
        school: School | None = None,
        cases: Cases | None = None,
    ) -> None:
        self.flow = flow
        self.schools = schools
        self.school = school
        """The school whose details this engine's flow carries (None: the generic wording)."""
        self.store = store
        self.ttl_days = ttl_days
        self.clock = clock
        self.cases = cases
        self.telling = Telling(cases) if cases else None
        """Telling the person who leads (None: no case store, so nothing is offered)."""
        self._machine = FlowMachine(flow)
        self._salt = log_salt if log_salt is not None else os.urandom(16)
        self._steps = {s.id: s for s in flow.steps}
        self._known = {(s.id, o.id) for s in flow.steps for o in s.options}
        # Which step follows which reveals answers (perpetrator then police: not known), so
        # logs name only the steps every user sees in the same order: those before the first
        # step asked only on some answers. After it, a turn line names no step at all.
        conditional = [i for i, s in enumerate(flow.steps) if s.ask_if is not None]
        self._loggable = {s.id for s in flow.steps[: conditional[0] if conditional else None]}
        # The same conversation in each surface's own words, chosen by the user's platform
        # name from the flow data: this engine knows no platform.
        self._surfaces = {
            name: Engine(worded, store, ttl_days, clock, self._salt, school=school, cases=cases)
            for name, worded in flow.surfaces.items()
        }
        # One engine per school, each with that school's view of the same flowchart (and
        # of each surface's wording of it).
        self._by_school = {
            s.id: Engine(
                school_view(flow, s), store, ttl_days, clock, self._salt, school=s, cases=cases
            )
            for s in schools.all()
        }

    def for_user(self, user: UserKey) -> Engine:
        """The engine for the user's school, picked by their workspace (a team or tenant id)."""
        school = self.schools.for_workspace(user.workspace)
        return self._by_school[school.id] if school else self

    def on(self, surface: str) -> Engine:
        """This engine worded for `surface` (a user's platform name), if the flow data words
        anything differently there."""
        return self._surfaces.get(surface, self)

    async def handle(
        self, user: UserKey, inp: Input, delivery: str | None = None, name: str = ""
    ) -> Turn:
        """One turn. `delivery` names the platform's delivery of this input (an event or
        activity id): a retry of one already applied changes nothing and answers nothing.
        `name` is the user's display name where the platform gave one (never stored)."""
        if (engine := self.for_user(user)) is not self:
            return await engine.handle(user, inp, delivery, name)
        started = time.perf_counter()
        progress = await self.store.load(user)
        speaker = self.on(user.platform)
        telling = speaker.telling
        if telling and isinstance(inp, Say) and telling.may_answer_preview(inp.text):
            progress = await telling.cases.progress(user)
            inp = await telling.typed(user, progress, inp.text) or inp
        if telling and isinstance(inp, Tell | Act):
            # What is stored, not this process's copy: a Send is checked against it.
            progress = await telling.cases.progress(user)
            turn = await speaker._telling(user, progress, inp, name)
            self._log(user, turn, started)
            return turn
        for _ in range(MAX_ATTEMPTS):
            turn, change = speaker.decide(progress, inp)
            try:
                applied, progress = await self.store.commit(user, progress, change, delivery)
            except Duplicate:
                turn = Turn(Outcome.DUPLICATE, ())
                applied = True
            if applied:
                if telling:
                    turn = await speaker._after(user, progress, turn)
                self._log(user, turn, started)
                return turn
        raise Busy()

    async def _telling(
        self, user: UserKey, progress: Progress | None, inp: Tell | Act, name: str
    ) -> Turn:
        assert self.telling is not None
        if isinstance(inp, Act):
            return await self.telling.act(self, user, inp)
        return await self.telling.tell(self, user, progress, inp, name)

    async def _after(self, user: UserKey, progress: Progress | None, turn: Turn) -> Turn:
        """What telling the person who leads adds to a committed turn: the offer after the
        checklist, `status`, and the report withdrawn with `delete my data`."""
        assert self.telling is not None
        if turn.outcome in (Outcome.FINISHED, Outcome.RESENT) and progress is not None:
            offer = await self.telling.offer(self, user, progress)
            if offer is not None:
                *before, last = turn.replies
                return replace(turn, replies=(*before, offer, last))
        elif turn.outcome is Outcome.STATUS:
            shown = await self.telling.status(self, user)
            again = (self.question(progress),) if progress is not None else ()
            return replace(turn, replies=(*shown, *again))
        elif turn.outcome is Outcome.DELETED:
            withdrawn = await self.telling.withdraw(self, user)
            if withdrawn is not None:
                return replace(
                    turn,
                    replies=(*turn.replies, *withdrawn.replies),
                    deliveries=withdrawn.deliveries,
                )
        return turn

    async def begin_with(self, user: UserKey, answers: dict[str, tuple[str, ...]]) -> Turn:
        """A conversation of `user`'s own that starts at the end with these answers (the
        person told, walked through a report): the checklist, then the final question."""
        final = next(s for s in self.flow.steps if s.final)
        progress = await self.store.load(user)
        for _ in range(MAX_ATTEMPTS):
            now = self.clock()
            fresh = Progress(
                step=final.id,
                answers=tuple((k, tuple(v)) for k, v in answers.items()),
                version=(progress.version if progress else 0) + 1,
                started=int(now * 1000),
                updated=int(now),
            )
            applied, progress = await self.store.commit(user, progress, fresh)
            if applied:
                guidance = build_guidance(self.flow, fresh.answer_map)
                return Turn(Outcome.STARTED, (guidance, self.question(fresh)), step=final.id)
        raise Busy()

    def notice(self, name: str, **values: str) -> Notice:
        return Notice(self.flow.notices[name].format(ttl_days=self.ttl_days, **values))

    # --- deciding -----------------------------------------------------------------

    def decide(self, progress: Progress | None, inp: Input) -> tuple[Turn, Change]:
        if isinstance(inp, Say):
            inp = self._read(progress, inp)
        if progress is not None and not self._valid(progress):
            # Stored by an older flow whose steps have changed: begin again over it.
            return self._begin(progress, Outcome.RESTARTED, self.notice("restarted"))
        if isinstance(inp, Do):
            return self._command(progress, inp.command)
        if progress is None:
            if isinstance(inp, Choose):
                return self._same(None, Outcome.STALE, self.notice("ended"))
            return self._begin(None, Outcome.STARTED)
        if isinstance(inp, Start):
            return self._same(
                progress,
                Outcome.RESUMED,
                self.notice("resumed", step=self._steps[progress.step].title),
                self.question(progress),
            )
        if isinstance(inp, Choose):
            if inp.token != progress.token:
                return self._same(
                    progress, Outcome.STALE, self.notice("stale"), self.question(progress)
                )
            return self._answer(progress, inp.options)
        return self._unclear(progress, inp.reading if isinstance(inp, _Unread) else Reading())

    def _read(self, progress: Progress | None, said: Say) -> Input | _Unread:
        """Typed text becomes a command, a greeting, an answer to the current question, or
        stays unread; a slip of the finger is tried only once nothing matched exactly."""
        text = said.text
        if cmd := typed_command(text):
            return Do(cmd)
        if progress is None:
            return Start()
        step = self._steps.get(progress.step)
        if step is None:
            return said
        if greeting(text):
            return self._greeted(progress)
        reading = read(step, text)
        if reading.options and not reading.unread:
            return Choose(reading.options, progress.token)
        if not reading.options and not reading.long:
            if nearly_greeting(text):
                return self._greeted(progress)
            if cmd := nearly_command(text):
                return Do(cmd)
        return _Unread(reading)

    def _greeted(self, progress: Progress) -> Input:
        """ "hi" shows where the user is. On the welcome, whose one answer is to begin (a
        platform may have shown it on install), it begins."""
        first = self.flow.first
        if progress.step == first.id and not progress.answers and len(first.options) == 1:
            return Choose((first.options[0].id,), progress.token)
        return Start()

    def _unclear(self, progress: Progress, reading: Reading) -> tuple[Turn, Change]:
        """Say what was understood and what was not; save nothing until it is all clear."""
        question = self.question(progress)
        if reading.long:
            # An account of what happened: a kind word, then only the answers to choose.
            short = replace(question, text="", links=())
            return self._same(progress, Outcome.UNCLEAR, self.notice("long"), short)
        if not reading.options:
            return self._same(progress, Outcome.UNCLEAR, self.notice("unclear"), question)
        step = self._steps[progress.step]
        picked = [(i, o) for i, o in enumerate(step.options, 1) if o.id in reading.options]
        notice = self.notice(
            "partly",
            understood=", ".join(o.label for _, o in picked),
            unread='", "'.join(shown(part) for part in reading.unread),
            numbers=",".join(str(i) for i, _ in picked),
        )
        return self._same(progress, Outcome.UNCLEAR, notice, question)

    def _command(self, progress: Progress | None, cmd: Command) -> tuple[Turn, Change]:
        if cmd is Command.DELETE:
            return Turn(Outcome.DELETED, (self.notice("deleted"),)), DELETED
        if cmd is Command.STOP:
            return self._same(progress, Outcome.STOPPED, self.notice("stopped"))
        if cmd is Command.STATUS:  # the replies come from the case store, after the commit
            return self._same(progress, Outcome.STATUS)
        if progress is None:
            if cmd is Command.HELP:
                return self._same(None, Outcome.HELP, self.notice("help"))
            return self._begin(None, Outcome.STARTED)
        if cmd is Command.HELP:
            return self._same(progress, Outcome.HELP, self.notice("help"), self.question(progress))
        if cmd is Command.RESTART:
            return self._begin(progress, Outcome.RESTARTED, self.notice("restarted"))
        if not progress.answers:
            return self._same(
                progress, Outcome.BACK, self.notice("at_start"), self.question(progress)
            )
        back = progress.back(self._now())
        return Turn(Outcome.BACK, (self.question(back),), step=back.step), back

    def _answer(self, progress: Progress, chosen: tuple[str, ...]) -> tuple[Turn, Change]:
        step = self._steps[progress.step]
        picked = tuple(o for o in step.options if o.id in chosen)
        if not picked or len(picked) != len(set(chosen)) or (len(picked) > 1 and not step.multi):
            return self._same(
                progress, Outcome.UNCLEAR, self.notice("unclear"), self.question(progress)
            )
        exclusive = next((o for o in picked if o.exclusive), None)
        if exclusive and len(picked) > 1:
            notice = self.notice("exclusive", option=exclusive.label)
            return self._same(progress, Outcome.UNCLEAR, notice, self.question(progress))
        if step.final:
            return self._final_choice(progress, picked[0].id)
        answered = Answered(step.title, tuple(o.label for o in picked))
        ids = tuple(o.id for o in picked)
        new = progress.advance(
            self._machine.next_step(step.id, {**progress.answer_map, step.id: ids}),
            ids,
            self._now(),
        )
        replies: tuple[Reply, ...] = (self.question(new),)
        outcome = Outcome.ANSWERED
        if self._steps[new.step].final:
            replies = (build_guidance(self.flow, new.answer_map), *replies)
            outcome = Outcome.FINISHED
        return Turn(outcome, replies, answered=answered, step=new.step), new

    def _final_choice(self, progress: Progress, option: str) -> tuple[Turn, Change]:
        if option == "restart":
            return self._command(progress, Command.RESTART)
        if option == "delete":
            return self._command(progress, Command.DELETE)
        guidance = build_guidance(self.flow, progress.answer_map)
        return self._same(progress, Outcome.RESENT, guidance, self.question(progress))

    def _begin(
        self, over: Progress | None, outcome: Outcome, *notes: Notice
    ) -> tuple[Turn, Change]:
        now = self.clock()
        fresh = Progress(
            step=self.flow.first.id,
            version=(over.version if over else 0) + 1,
            started=int(now * 1000),
            updated=int(now),
        )
        return Turn(outcome, (*notes, self.question(fresh)), step=fresh.step), fresh

    @staticmethod
    def _same(progress: Progress | None, outcome: Outcome, *replies: Reply) -> tuple[Turn, Change]:
        return Turn(outcome, replies, step=progress.step if progress else None), UNCHANGED

    # --- showing ------------------------------------------------------------------

    def question(self, progress: Progress) -> Question:
        step = self._steps[progress.step]
        answers = progress.answer_map
        # Not str.format: a school's own words in the text may hold braces of their own.
        text = "\n\n".join(paragraphs(step.text, answers))
        text = text.replace("{ttl_days}", str(self.ttl_days))
        return Question(
            step=step.id,
            token=progress.token,
            title=step.title,
            text=text,
            options=tuple(Choice(o.id, o.label) for o in step.options),
            multi=step.multi,
            links=links(step.links, answers),
            version=progress.version,
        )

    def _valid(self, progress: Progress) -> bool:
        return progress.step in self._steps and all(
            (step, i) in self._known for step, ids in progress.answers for i in ids
        )

    def _now(self) -> int:
        return int(self.clock())

    def _log(self, user: UserKey, turn: Turn, started: float) -> None:
        """One line per turn: never the user's words or answers, and the user only hashed."""
        if not log.isEnabledFor(logging.INFO):
            return
        who = hashlib.blake2b(
            f"{user.platform}:{user.workspace}:{user.user}".encode(), key=self._salt, digest_size=8
        ).hexdigest()
        extra: dict[str, object] = {"platform": user.platform, "user_hash": who}
        if turn.step in self._loggable:
            extra["step"] = turn.step
        extra["outcome"] = turn.outcome.value
        extra["ms"] = round((time.perf_counter() - started) * 1000, 2)
        log.info("turn", extra=extra)
