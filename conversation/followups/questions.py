"""Asking whether harmful content came down, and walking the flowchart's next steps.

The guide cannot know whether a platform will act, so the checklist gives the conditional
advice; this comes back later and asks the one thing that changes the next step:

- after `platform_check` (48 hours: POSH's advice to give a platform): removed, not yet,
  remind me tomorrow or in three days, or stop;
- "not yet" names the next step (report it on the platform, or Report Harmful Content,
  which can step in when a platform has not acted in about a week) and asks again after
  `report_harmful_content`;
- "not yet" then names POSH (below the threshold for the platform or the police), and
  nothing more is asked.

Each question carries a token, as the conversation's do: a second click, or a click on an
older question, is stale and changes nothing. Typed answers ("removed", "not yet") work
too, read only while a question is open. "Removed" marks the checklist's content step done
on the member of staff's report, if they sent one, and every answer is in its record.
"""

from __future__ import annotations

import secrets

from ..dates import when
from ..flow import Resource
from ..messages import (
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
from ..storage import Asked, Changed, Check, Checks, Store, Timer, Timers
from ..storage.cases import DONE
from ..telling import Telling
from ..views import View, Views
from .calendar import Calendar, Calendars
from .kinds import CHECK
from .words import worded, wording

ANSWERS = ("removed", "not_yet", "day", "days", "stop")
CONTENT_STEP = "content"
"""The flowchart's step (and checklist item) about harmful content."""
SNOOZE = {"day": 86_400, "days": 3 * 86_400}
"""Remind me later: a short fixed list, as incident tools keep it."""
NEXT_STEPS = {
    "not_yet_1": ("report_harmful_content", "police_uk"),
    "not_yet_2": ("posh", "police_uk"),
}
"""The links each "not yet" shows: the flowchart's next step, and the police."""


def wanted(answers: dict[str, tuple[str, ...]]) -> bool:
    """Whether a conversation's guidance includes removing harmful content."""
    return CONTENT_STEP in answers.get("types", ())


class ContentCheck:
    def __init__(
        self,
        checks: Checks,
        store: Store,
        telling: Telling | None,
        timers: Timers,
        views: Views,
        calendars: Calendars,
    ) -> None:
        self.checks = checks
        self.store = store
        self.telling = telling
        self.cases = telling.cases if telling else None
        self.timers = timers
        self.views = views
        self.calendars = calendars

    def _calendar(self, view: View) -> Calendar:
        return self.calendars.of(view.school)

    # --- scheduling ------------------------------------------------------------------------

    async def finished(self, user: UserKey, answers: dict[str, tuple[str, ...]]) -> bool:
        """The guide finished with harmful content to remove: the first question is due after
        `platform_check`. One write, and only on this turn; a later finish leaves it be.
        Whether anything was scheduled."""
        if not wanted(answers):
            return False
        cal = self._calendar(self.views.for_user(user))
        at = cal.deliverable(cal.after(self.checks.db.now(), cal.settings.platform_check))
        await self.timers.set([(_timer(user), at)], only_new=True)
        return True

    async def forget(self, user: UserKey) -> None:
        await self.timers.cancel([_timer(user)])
        await self.checks.forget(user)

    # --- asking ----------------------------------------------------------------------------

    async def ask(self, user: UserKey) -> Turn:
        """The question due now, decided from what is stored now: nothing if the conversation
        is gone or no longer has harmful content, or the member of staff said stop."""
        progress = await self.store.read(user)
        if progress is None or not wanted(progress.answer_map):
            return Turn(Outcome.FOLLOWED, ())
        status, check = await self.checks.ask(user, secrets.token_hex(6))
        if status in (Asked.GONE, Asked.OVER) or check is None:
            return Turn(Outcome.FOLLOWED, ())
        role = progress.answer_map.get("role", ("affected",))[0]
        return Turn(Outcome.FOLLOWED, (self._question(check, role),))

    def _question(self, check: Check, role: str) -> Nudge:
        w = wording()["content"]
        text = f"{worded(w[f'ask_{check.stage}'], role)}\n\n{w['how']}"
        buttons = tuple(
            Button(w[code], Follow(Follow.CONTENT, code, check.token)) for code in ANSWERS
        )
        return Nudge(w["title"], text, buttons)

    # --- answering -------------------------------------------------------------------------

    @staticmethod
    def stale() -> Turn:
        """A follow-up button that is spent, or that this bot never drew: nothing changes."""
        return Turn(Outcome.STALE, (Notice(wording()["content"]["after"]["stale"]),))

    async def answer(self, user: UserKey, inp: Follow) -> Turn:
        w = wording()["content"]
        if inp.answer not in ANSWERS:
            return self.stale()
        now = self.checks.db.now()
        before = await self.checks.get(user)
        stage = before.stage if before else 1
        values: dict[str, str | int] = {}
        if inp.answer == "removed":
            values["removed"] = now
        elif inp.answer == "stop":
            values["stop"] = now
        elif inp.answer == "not_yet":
            values = {"stage": 2} if stage == 1 else {"over": now}
        applied, check = await self.checks.answer(user, inp.token, inp.answer, values)
        if not applied or check is None:
            return self.stale()
        view = self.views.for_user(user)
        progress = await self.store.read(user)
        role = progress.answer_map.get("role", ("affected",))[0] if progress else "affected"
        said, at = await self._next(user, view, inp.answer, stage, now)
        after = self._calendar(view).settings.report_harmful_content
        text = worded(w["after"][said], role)
        text = text.format(date=when(now), at=when(at) if at else "", after=str(after))
        links = _links(view, NEXT_STEPS.get(said, ()))
        refreshed = await self._record(user, view, stage, inp.answer, now)
        shown: Reply = Nudge("", text, (), links) if links else Notice(text)
        chose = Answered(w["title"], (w[inp.answer],)) if inp.token else None
        return Turn(Outcome.FOLLOWED, (shown,), answered=chose, deliveries=refreshed)

    async def _next(
        self, user: UserKey, view: View, code: str, stage: int, now: int
    ) -> tuple[str, int]:
        """What follows an answer: the words to say (`after`'s key), and when the next
        question is due (0: never), scheduled or cancelled here."""
        cal = self._calendar(view)
        if code in SNOOZE:
            at = cal.deliverable(now + SNOOZE[code])
        elif code == "not_yet" and stage == 1:
            at = cal.deliverable(cal.after(now, cal.settings.report_harmful_content))
        else:
            await self.timers.cancel([_timer(user)])
            return (f"not_yet_{stage}" if code == "not_yet" else code), 0
        await self.timers.set([(_timer(user), at)])
        return (f"not_yet_{stage}" if code == "not_yet" else code), at

    async def _record(
        self, user: UserKey, view: View, stage: int, code: str, now: int
    ) -> tuple[Deliver, ...]:
        """Into the member of staff's report, if they sent one: the answer, with its time,
        and "removed" as the checklist's content step done, drawn again in the copies of
        whoever holds it."""
        if self.telling is None or self.cases is None:
            return ()
        if (case := await self.cases.get(user)) is None:
            return ()
        await self.cases.note(user, case.id, f"content.{stage}.{code}")
        if code != "removed":
            return ()
        field = DONE + CONTENT_STEP
        changed = await self.cases.change(user, case.id, {field: now}, once=field)
        if changed.status is not Changed.APPLIED or changed.case is None:
            return ()
        return self.telling.refreshed(view, user, changed.case) if changed.case.message else ()

    # --- typed answers, status ---------------------------------------------------------------

    async def typed(self, user: UserKey, code: str) -> Follow | None:
        """A typed answer, while a question is open (or "stop reminders" while any is due)."""
        check = await self.checks.get(user)
        if check is not None and check.open:
            return Follow(Follow.CONTENT, code, check.token)
        stoppable = code == "stop" and not (check and check.finished)
        if stoppable and (check or await self.timers.due_at(_timer(user)) is not None):
            return Follow(Follow.CONTENT, code, "")
        return None

    async def status(self, user: UserKey) -> Notice | None:
        """The follow-up's answers with their times, and when it asks next."""
        check = await self.checks.get(user)
        due = await self.timers.due_at(_timer(user))
        if check is None and due is None:
            return None
        w = wording()["status"]
        lines = [w["title"]]
        for _, code, at in check.history if check else ():
            lines.append(w[code].format(date=when(at)))
        if due is not None and not (check and check.finished):
            lines.append(w["next"].format(date=when(due)))
        return Notice("\n".join(lines))


def _timer(user: UserKey) -> Timer:
    return Timer(CHECK, user)


def _links(view: View, ids: tuple[str, ...]) -> tuple[Resource, ...]:
    return tuple(view.flow.resources[i] for i in ids if i in view.flow.resources)
