"""Follow-ups: everything the bot does later, as the runner's inputs.

A timer firing arrives at the runner as a `Due` input for the user it is about, and an
answer to a follow-up as a `Follow`; both come here, and leave as a `Turn` the runner shows
and delivers through the platform's `Outbox` like any other. This layer sits above telling
(it draws reports and changes cases through it) and below the runner; telling knows it only
as its `Plans`.

Besides those, the runner asks it a few things: on a finished guide, whether to schedule the
content follow-up (one write, and the only one a turn ever pays for timers); on `delete my
data`, to forget it; on Start, what is due for this person now (the terminal, which nothing
can message, shows its follow-ups then); and, for the ticker, whether a timer must wait for
the end of quiet hours.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..messages import Due, Follow, Notice, Outcome, Reply, Turn, UserKey
from ..storage import Case, Checks, Store, Timer, Timers
from ..telling import Telling
from ..telling.due import Due as NextOne
from ..typed import normalise
from ..views import Views
from . import kinds
from .calendar import Calendars
from .due import CaseTimers
from .questions import ContentCheck
from .words import typed_answers


class FollowUps:
    def __init__(
        self,
        store: Store,
        checks: Checks,
        timers: Timers,
        views: Views,
        telling: Telling | None = None,
    ) -> None:
        self.timers = timers
        self.views = views
        self.calendars = Calendars()
        self.content = ContentCheck(checks, store, telling, timers, views, self.calendars)
        self.cases = CaseTimers(telling, timers, views, self.calendars) if telling else None
        if telling is not None:  # telling, below, knows this layer only as its `Plans`
            telling.plans = self

    # --- the runner's inputs ---------------------------------------------------------------

    async def handle(self, user: UserKey, inp: Due | Follow) -> Turn:
        if isinstance(inp, Follow):
            if inp.topic == Follow.CONTENT:
                return await self.content.answer(user, inp)
            if inp.topic == Follow.ESCALATION and self.cases:
                return await self.cases.stop(user, inp)
            return self.content.stale()
        if inp.kind == kinds.CHECK:
            return await self.content.ask(user)
        if self.cases is None:
            return Turn(Outcome.FOLLOWED, ())
        if inp.kind == kinds.DIGEST:
            return await self.cases.digest(user)
        return await self.cases.fire(user, inp.kind, inp.case)

    @staticmethod
    def may_answer(text: str) -> bool:
        """Whether typed text could answer a follow-up (checked without Redis)."""
        return normalise(text) in typed_answers()

    async def typed(self, user: UserKey, text: str) -> Follow | None:
        """The follow-up answer typed text is, while one is waiting for it."""
        topic, code = typed_answers()[normalise(text)]
        if topic == Follow.CONTENT:
            return await self.content.typed(user, code)
        if self.cases and (ref := await self.cases.warned(user)):
            return Follow(Follow.ESCALATION, code, ref)
        return None

    # --- around the conversation's turns ------------------------------------------------------

    async def finished(self, user: UserKey, answers: Mapping[str, tuple[str, ...]]) -> bool:
        """Whether a follow-up was scheduled for this user."""
        return await self.content.finished(user, dict(answers))

    async def forget(self, user: UserKey) -> None:
        """`delete my data`: the content follow-up and its timer (a report's timers go with
        the report, through `settled`)."""
        await self.content.forget(user)

    async def on_start(self, user: UserKey) -> tuple[Reply, ...]:
        """What is due for this person now, shown as they open the conversation: the
        follow-up question whose time has come, claimed here so no worker sends it too."""
        claim = await self.timers.claim_one(Timer(kinds.CHECK, user))
        if claim is None:
            return ()
        turn = await self.content.ask(user)
        await self.timers.done(claim)
        return turn.replies

    async def status(self, user: UserKey) -> Notice | None:
        return await self.content.status(user)

    # --- for the ticker ------------------------------------------------------------------------

    def quiet_until(self, timer: Timer, now: int) -> int | None:
        """When a timer due now may fire, if it must wait (quiet hours); else None."""
        cal = self.calendars.of(self.views.for_user(timer.user).school)
        return cal.deliverable(now) if cal.quiet(now) else None

    # --- telling's Plans -----------------------------------------------------------------------

    async def sent(self, reporter: UserKey, case: Case) -> int:
        return await self.cases.sent(reporter, case) if self.cases else 0

    async def settled(self, reporter: UserKey, case: Case) -> None:
        if self.cases:
            await self.cases.settled(reporter, case)

    async def next_due(self, reporter: UserKey, case: Case) -> NextOne | None:
        return await self.cases.next_due(reporter, case) if self.cases else None
