"""The conversation: one input in, replies out, progress saved atomically.

`decide` is pure: from the user's view of the flowchart, the stored progress and the input
it works out the replies and the change to store. `Engine.handle` commits that change with
compare-and-set and, if another turn for the same user got there first, decides again from
what that turn stored, so two clicks racing on two workers never both apply.

Every click spends the token of the question it was on (a new version is stored), even a
button that moves nothing on ("send it again"): a second click on it is then stale, and
answered with where the user is, never done twice.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from . import plaintext
from .guidance import build as build_guidance
from .messages import (
    Answered,
    Choose,
    Command,
    Do,
    Notice,
    Outcome,
    Plain,
    Reply,
    Say,
    Start,
    Turn,
    UserKey,
)
from .progress import Progress
from .storage import DELETED, UNCHANGED, Duplicate, Store
from .storage.store import Change
from .typed import Reading, greeting, nearly_command, nearly_greeting, read, reference, shown
from .typed import command as typed_command
from .views import View, Views

log = logging.getLogger("conversation")

MAX_ATTEMPTS = 10
"""Compare-and-set attempts. Each failed attempt means another turn for this user committed,
so K simultaneous turns need at most K attempts each; a real user makes two or three."""

Said = Start | Choose | Say | Do
"""What the conversation itself answers (telling's buttons go to `telling`)."""


class Busy(Exception):
    """Too many simultaneous turns for one user; nothing was changed."""


@dataclass(frozen=True, slots=True)
class _Unread:
    """Typed text that answered nothing, or only part of a "choose all that apply"."""

    reading: Reading


class Engine:
    def __init__(
        self,
        views: Views,
        store: Store,
        clock: Callable[[], float] | None = None,
        log_salt: bytes | None = None,
    ) -> None:
        self.views = views
        self.store = store
        self.clock = clock or store.db.clock
        self._salt = log_salt if log_salt is not None else os.urandom(16)
        # Which step follows which reveals answers (perpetrator then police: not known), so
        # logs name only the steps every user sees in the same order: those before the first
        # step asked only on some answers. After it, a turn line names no step at all.
        steps = views.flow.steps
        conditional = [i for i, s in enumerate(steps) if s.ask_if is not None]
        self._loggable = {s.id for s in steps[: conditional[0] if conditional else None]}

    async def handle(
        self, user: UserKey, inp: Said, delivery: str | None = None, in_place: bool = False
    ) -> Turn:
        """One turn. `delivery` names the platform's delivery of this input (an event or
        activity id): a retry of one already applied changes nothing and answers nothing.
        `in_place`: the platform will draw an answer's next question over the message
        answered (see `Runner.show`), so the question pointer need not be read."""
        started = time.perf_counter()
        view = self.views.for_user(user)
        progress = await self.store.load(user)
        for _ in range(MAX_ATTEMPTS):
            turn, change = decide(view, progress, inp, self.clock())
            placed = in_place and turn.outcome is Outcome.ANSWERED and len(turn.replies) == 1
            try:
                committed = await self.store.commit(user, progress, change, delivery, placed)
            except Duplicate:
                turn = Turn(Outcome.DUPLICATE, ())
                self.log(user, turn, started)
                return turn
            progress = committed.progress
            if committed.applied:
                about = (progress.origin,) if progress and progress.origin else ()
                turn = replace(turn, shown=committed.shown, about=about)
                self.log(user, turn, started)
                return turn
        raise Busy()

    async def begin_with(
        self, user: UserKey, answers: Mapping[str, tuple[str, ...]], origin: str = ""
    ) -> Turn:
        """A conversation of `user`'s own that starts at the end with these answers (the
        person told, walked through report `origin`): the checklist, then the final question."""
        view = self.views.for_user(user)
        final = next(s for s in view.flow.steps if s.final)
        progress = await self.store.load(user)
        for _ in range(MAX_ATTEMPTS):
            now = self.clock()
            fresh = Progress(
                step=final.id,
                answers=tuple((k, tuple(v)) for k, v in answers.items()),
                version=(progress.version if progress else 0) + 1,
                started=int(now * 1000),
                updated=int(now),
                origin=origin,
            )
            committed = await self.store.commit(user, progress, fresh)
            progress = committed.progress
            if committed.applied:
                guidance = build_guidance(view.flow, fresh.answer_map)
                return Turn(
                    Outcome.STARTED,
                    (guidance, view.question(fresh)),
                    step=final.id,
                    closes=fresh.version - 1,
                    shown=committed.shown,
                    about=(origin,) if origin else (),
                )
        raise Busy()

    def log(self, user: UserKey, turn: Turn, started: float) -> None:
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


# --- deciding: pure ---------------------------------------------------------------------


def decide(view: View, progress: Progress | None, inp: Said, now: float) -> tuple[Turn, Change]:
    """The turn an input makes, and the change to store, from the progress as last seen."""
    return _Decision(view, now).decide(progress, inp)


class _Decision:
    def __init__(self, view: View, now: float) -> None:
        self.view = view
        self.now = now

    def decide(self, progress: Progress | None, inp: Said | _Unread) -> tuple[Turn, Change]:
        if isinstance(inp, Say):
            inp = self._read(progress, inp)
        if progress is not None and not self.view.valid(progress):
            # Stored by an older flow whose steps have changed: begin again over it.
            return self._begin(progress, Outcome.RESTARTED, self._notice("restarted"))
        if isinstance(inp, Do):
            return self._command(progress, inp.command)
        if progress is None:
            if isinstance(inp, Choose):
                return self._same(None, Outcome.STALE, self._notice("ended"))
            return self._begin(None, Outcome.STARTED)
        if isinstance(inp, Start):
            step = self.view.steps[progress.step]
            turn, change = self._again(
                progress, Outcome.RESUMED, self._notice("resumed", step=step.title)
            )
            if inp.fresh and step.final:  # nothing above: the checklist again
                shown = build_guidance(self.view.flow, progress.answer_map)
                *before, question = turn.replies
                turn = replace(turn, replies=(*before, shown, question))
            return turn, change
        if isinstance(inp, Choose):
            if inp.token != progress.token:
                return self._again(progress, Outcome.STALE, self._notice("stale"))
            return self._answer(progress, inp)
        return self._unclear(progress, inp.reading if isinstance(inp, _Unread) else Reading())

    def _read(self, progress: Progress | None, said: Say) -> Said | _Unread:
        """Typed text becomes a command, a greeting, an answer to the current question, or
        stays unread; a slip of the finger is tried only once nothing matched exactly."""
        text = said.text
        if cmd := typed_command(text):
            return Do(cmd)
        if reference(text) is not None:  # read again by telling: the words go no further
            return Do(Command.REFERENCE)
        if progress is None:
            return Start()
        step = self.view.steps.get(progress.step)
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

    def _greeted(self, progress: Progress) -> Said:
        """ "hi" shows where the user is. On the welcome, whose one answer is to begin (a
        platform may have shown it on install), it begins."""
        first = self.view.flow.first
        if progress.step == first.id and not progress.answers and len(first.options) == 1:
            return Choose((first.options[0].id,), progress.token)
        return Start()

    def _unclear(self, progress: Progress, reading: Reading) -> tuple[Turn, Change]:
        """Say what was understood and what was not; save nothing until it is all clear."""
        if reading.long:
            # An account of what happened: a kind word, then only the answers to choose.
            short = replace(self.view.question(progress), text="", links=())
            turn = Turn(
                Outcome.UNCLEAR,
                (self._notice("long"), short),
                step=progress.step,
                closes=progress.version,
            )
            return turn, UNCHANGED
        if not reading.options:
            return self._again(progress, Outcome.UNCLEAR, self._notice("unclear"))
        step = self.view.steps[progress.step]
        picked = [(i, o) for i, o in enumerate(step.options, 1) if o.id in reading.options]
        notice = self._notice(
            "partly",
            understood=", ".join(o.label for _, o in picked),
            unread='", "'.join(shown(part) for part in reading.unread),
            numbers=",".join(str(i) for i, _ in picked),
        )
        return self._again(progress, Outcome.UNCLEAR, notice)

    def _command(self, progress: Progress | None, cmd: Command) -> tuple[Turn, Change]:
        if cmd is Command.DELETE:
            return Turn(Outcome.DELETED, (self._notice("deleted"),)), DELETED
        if cmd is Command.STOP:
            return self._same(progress, Outcome.STOPPED, self._notice("stopped"))
        if cmd is Command.STATUS:  # the replies come from the case store, after the commit
            return self._same(progress, Outcome.STATUS)
        if cmd is Command.REFERENCE:  # likewise: telling keeps it in the record
            return self._same(progress, Outcome.REFERENCE)
        if progress is None:
            if cmd is Command.HELP:
                return self._same(None, Outcome.HELP, self._notice("help"))
            return self._begin(None, Outcome.STARTED)
        if cmd is Command.HELP:
            return self._again(progress, Outcome.HELP, self._notice("help"))
        if cmd is Command.RESTART:
            return self._begin(progress, Outcome.RESTARTED, self._notice("restarted"))
        if not progress.answers:
            return self._again(progress, Outcome.BACK, self._notice("at_start"))
        back = progress.back(int(self.now))
        turn = Turn(
            Outcome.BACK, (self.view.question(back),), step=back.step, closes=progress.version
        )
        return turn, back

    def _answer(self, progress: Progress, chose: Choose) -> tuple[Turn, Change]:
        chosen = chose.options
        step = self.view.steps[progress.step]
        picked = tuple(o for o in step.options if o.id in chosen)
        if not picked or len(picked) != len(set(chosen)) or (len(picked) > 1 and not step.multi):
            return self._again(progress, Outcome.UNCLEAR, self._notice("unclear"))
        exclusive = next((o for o in picked if o.exclusive), None)
        if exclusive and len(picked) > 1:
            notice = self._notice("exclusive", option=exclusive.label)
            return self._again(progress, Outcome.UNCLEAR, notice)
        if step.final:
            return self._final_choice(progress, picked[0].id, chose.as_text)
        answered = Answered(step.title, tuple(o.label for o in picked))
        ids = tuple(o.id for o in picked)
        answers = {**progress.answer_map, step.id: ids}
        new = progress.advance(self.view.machine.next_step(step.id, answers), ids, int(self.now))
        replies: tuple[Reply, ...] = (self.view.question(new),)
        outcome = Outcome.ANSWERED
        if self.view.steps[new.step].final:
            replies = (build_guidance(self.view.flow, new.answer_map), *replies)
            outcome = Outcome.FINISHED
        return Turn(outcome, replies, answered=answered, step=new.step), new

    def _final_choice(self, progress: Progress, option: str, as_text: bool) -> tuple[Turn, Change]:
        if option == "restart":
            return self._command(progress, Command.RESTART)
        if option == "delete":
            return self._command(progress, Command.DELETE)
        guidance = build_guidance(self.view.flow, progress.answer_map)
        again = progress.bumped(int(self.now))
        shown: Reply = Plain(plaintext.guidance(guidance)) if as_text else guidance
        turn = Turn(
            Outcome.RESENT,
            (shown, self.view.question(again)),
            step=again.step,
            closes=progress.version,
        )
        return turn, again

    def _begin(
        self, over: Progress | None, outcome: Outcome, *notes: Notice
    ) -> tuple[Turn, Change]:
        fresh = Progress(
            step=self.view.flow.first.id,
            version=(over.version if over else 0) + 1,
            started=int(self.now * 1000),
            updated=int(self.now),
        )
        replies = (*notes, self.view.question(fresh))
        closes = over.version if over else None
        return Turn(outcome, replies, step=fresh.step, closes=closes), fresh

    def _again(self, progress: Progress, outcome: Outcome, notice: Notice) -> tuple[Turn, Change]:
        """The current question asked again below `notice`: its older message is closed."""
        replies = (notice, self.view.question(progress))
        return Turn(outcome, replies, step=progress.step, closes=progress.version), UNCHANGED

    @staticmethod
    def _same(progress: Progress | None, outcome: Outcome, *replies: Reply) -> tuple[Turn, Change]:
        return Turn(outcome, replies, step=progress.step if progress else None), UNCHANGED

    def _notice(self, name: str, **values: str) -> Notice:
        return self.view.notice(name, **values)
