"""The turn runner: every input, from every surface and every timer, takes this one path.

input -> the conversation or a report (routed here, once) -> the turn's messages through the
platform's `Outbox` -> messages for other people, and what their outcome leads to.

What is common to every platform lives here: the polite notice when storage is down, one
live question at a time (the question answered shows its answer, one asked again closes the
older message), remembering where the newest question is, recording the copies of a report
in someone's chat, and the deliveries loop. Each `Outbox` does only what is its platform's
own: drawing replies and calling its API.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import replace
from typing import Any, Protocol, runtime_checkable

from redis.asyncio import Redis

from .engine import Busy, Engine, Said
from .flow import Flow
from .flow import load as load_flow
from .followups import FollowUps
from .messages import (
    Act,
    Answered,
    Closed,
    Deliver,
    Due,
    Follow,
    Input,
    Notice,
    Outcome,
    Overview,
    Plain,
    Question,
    Reply,
    Reports,
    Say,
    Start,
    Tell,
    Turn,
    UserKey,
)
from .school import NO_SCHOOLS, Schools
from .storage import (
    Cases,
    Checks,
    Cipher,
    Db,
    Keys,
    Statistics,
    Store,
    StoreUnavailable,
    Timer,
    Timers,
)
from .storage.keys import PREFIX
from .telling import Telling, Walk, wording
from .views import Views

log = logging.getLogger("conversation.runner")


class Undeliverable(Exception):
    """The platform refused a message in the chat the input came from."""


class Outbox(Protocol):
    """Where one input's messages go: a platform's own drawing and API calls.

    `where` values are the platform's references to messages it posted (opaque here)."""

    def here(self, where: str) -> bool:
        """Whether a message is in the chat this input came from."""
        ...

    def origin(self, newest: str | None) -> str | None:
        """The message this input came from, to show its answer in place of: the clicked
        message (None where the platform cannot tell which), or, for typed text, `newest`."""
        ...

    async def reply(self, replies: Sequence[Reply]) -> list[str | None]:
        """Post replies, in order, in the chat this input came from; where each went (None
        for messages that cannot be referred to). Raises `Undeliverable`."""
        ...

    async def send(self, to: UserKey, reply: Reply) -> str | None:
        """A message in `to`'s own private chat (never a channel); None if it cannot be."""
        ...

    async def update(self, where: str, shown: Reply | Answered | Closed) -> bool:
        """Draw `shown` over a message posted earlier; False if the platform refused."""
        ...


@runtime_checkable
class InPlace(Protocol):
    """An outbox that can show the next question in the message whose question was just
    answered (one platform call where answering and asking would take two)."""

    async def ask_in_place(
        self, where: str, answered: Sequence[Answered], question: Question
    ) -> bool:
        """Draw the answers so far above `question` over `where`; False where it will not
        (the message is not the one clicked, the platform refused): the runner posts."""
        ...


@functools.cache
def _redraws(kind: type) -> bool:
    """Whether outboxes of this class are `InPlace`: asked once a class, as a runtime
    protocol check on every turn cost more than the rest of `Runner.show`."""
    return issubclass(kind, InPlace)


OutboxFor = Callable[[UserKey], Awaitable["Outbox | None"]]
"""An outbox for a user when no request is in flight (a timer firing): each platform's
adapter registers one at start-up (`Runner.outboxes`); None where the user cannot be
reached now (the app uninstalled, say)."""


class Runner:
    def __init__(
        self,
        engine: Engine,
        telling: Telling | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        followups: FollowUps | None = None,
    ) -> None:
        self.engine = engine
        self.telling = telling
        self.followups = followups
        self.store = engine.store
        self.views = engine.views
        self.outboxes: dict[str, OutboxFor] = {}
        """By platform: how to reach a user outside a request. Filled by the adapters."""
        self._sleep = sleep
        self._later: set[asyncio.Task] = set()

    async def run(
        self,
        user: UserKey,
        inp: Input,
        outbox: Outbox,
        delivery: str | None = None,
        name: str = "",
    ) -> Turn | None:
        """One input: decided, shown, and delivered. None when storage could not take it
        (the user is told so, and nothing changed). `name` is the user's display name where
        the platform gave one (never stored)."""
        in_place = _redraws(type(outbox)) and outbox.origin(None) is not None
        try:
            turn, routed = await self.decide(user, inp, delivery, name, in_place)
        except (StoreUnavailable, Busy) as exc:
            log.warning("turn unavailable", extra={"error": type(exc).__name__})
            await outbox.reply([self.views.for_user(user).notice("unavailable")])
            return None
        if turn.outcome is not Outcome.DUPLICATE:
            await self.show(user, turn, outbox, conversation=not routed)
            await self.deliver(user, turn.deliveries, outbox)
        return turn

    async def fire(self, timer: Timer) -> bool:
        """A timer firing: the same path as any input (decided, shown, delivered), about the
        user it names, through an outbox for them. False when they cannot be reached now;
        storage or a platform failing raises, and the timer is tried again."""
        factory = self.outboxes.get(timer.user.platform)
        outbox = await factory(timer.user) if factory else None
        if outbox is None:
            return False
        turn, _ = await self.decide(timer.user, Due(timer.kind, timer.case), None, "")
        await self.show(timer.user, turn, outbox)
        await self.deliver(timer.user, turn.deliveries, outbox)
        return True

    # --- routing: the conversation, or a report ---------------------------------------------

    async def decide(
        self, user: UserKey, inp: Input, delivery: str | None, name: str, in_place: bool = False
    ) -> tuple[Turn, bool]:
        """The turn, and whether it was telling's or the follow-ups' rather than the
        conversation's. `in_place`: a click the outbox may answer in place (`InPlace`)."""
        telling, followups = self.telling, self.followups
        if telling and isinstance(inp, Say) and telling.may_answer_preview(inp.text):
            inp = await telling.typed(user, inp.text) or inp
        if isinstance(inp, Overview):
            return await self._routed(user, delivery, self._overview(user)), True
        if followups and isinstance(inp, Say) and followups.may_answer(inp.text):
            inp = await followups.typed(user, inp.text) or inp
        if isinstance(inp, Due | Follow):
            if followups is None:  # no follow-ups here: the button says where the user is
                inp = Start()
            else:
                return await self._routed(user, delivery, followups.handle(user, inp)), True
        if isinstance(inp, Tell | Act):
            if telling is None:  # no reports here: the button says where the user is
                inp = Start()
            else:
                return await self._routed(user, delivery, self._report(user, inp, name)), True
        turn = await self.engine.handle(user, inp, delivery, in_place)  # type: ignore[arg-type]
        if turn.outcome is not Outcome.DUPLICATE:
            if telling:
                turn = await self._after(user, turn, telling, inp)
            elif turn.outcome is Outcome.REFERENCE:
                turn = replace(turn, replies=(Notice(wording()["references"]["nowhere"]),))
            if followups:
                turn = await self._followed(user, inp, turn, followups)
        return turn, False

    async def _routed(
        self, user: UserKey, delivery: str | None, handled: Coroutine[Any, Any, Turn]
    ) -> Turn:
        """A turn of the reports' or the follow-ups' (which commit no conversation, so the
        commit cannot mark its delivery): the delivery is claimed first, a retry of it
        answered by nothing, and the claim given back if the turn fails, so that the
        platform's next try is still heard."""
        started = time.perf_counter()
        try:
            fresh = not delivery or await self.store.claim_delivery(user, delivery)
        except BaseException:
            handled.close()  # never started: storage is down, and the user is told so
            raise
        if not fresh:
            handled.close()
            turn = Turn(Outcome.DUPLICATE, ())
        else:
            try:
                turn = await handled
            except Exception:
                if delivery:
                    with contextlib.suppress(StoreUnavailable):
                        await self.store.release_delivery(user, delivery)
                raise
        self.engine.log(user, turn, started)
        return turn

    async def _overview(self, user: UserKey) -> Turn:
        return await self.telling.overview(user) if self.telling else _no_reports()

    async def _report(self, user: UserKey, inp: Tell | Act, name: str) -> Turn:
        assert self.telling is not None
        if isinstance(inp, Tell):
            return await self.telling.tell(user, inp, name)
        acted = await self.telling.act(user, inp)
        if not isinstance(acted, Walk):
            return acted
        walk = await self.engine.begin_with(user, acted.answers, acted.origin)
        return replace(walk, replies=(acted.notice, *walk.replies))

    async def _after(self, user: UserKey, turn: Turn, telling: Telling, inp: Input) -> Turn:
        """What reports add to a conversation's turn: the offer beside the checklist,
        `status`, a reference number for a record, and the report withdrawn with
        `delete my data`."""
        if turn.outcome in (Outcome.FINISHED, Outcome.RESENT):
            if any(isinstance(r, Plain) for r in turn.replies):
                return turn  # the checklist copied as text: nothing else
            progress = await self.store.load(user)
            if progress is not None and (offer := await telling.offer(user, progress)):
                *before, last = turn.replies
                return replace(turn, replies=(*before, offer, last))
        elif turn.outcome in (Outcome.STATUS, Outcome.REFERENCE):
            if turn.outcome is Outcome.STATUS:
                shown, about = await telling.status(user)
            else:  # the typed text is read again there, and goes no further
                shown, about = (
                    await telling.reference(user, inp.text if isinstance(inp, Say) else ""),
                    (),
                )
            progress = await self.store.load(user)
            if progress is None:
                return replace(turn, replies=shown, about=about)
            question = self.views.for_user(user).question(progress)
            return replace(turn, replies=(*shown, question), about=about, closes=progress.version)
        elif turn.outcome is Outcome.DELETED:
            await telling.references.forget(user)
            withdrawn = await telling.withdraw(user)
            if withdrawn is not None:
                return replace(
                    turn,
                    replies=(*turn.replies, *withdrawn.replies),
                    deliveries=withdrawn.deliveries,
                )
        return turn

    async def _followed(self, user: UserKey, inp: Input, turn: Turn, followups: FollowUps) -> Turn:
        """What follow-ups add to a conversation's turn: the content follow-up scheduled when
        the guide finishes, forgotten with `delete my data`; what is due, on Start; and the
        follow-up's answers in `status` where no report shows them."""
        if turn.outcome is Outcome.FINISHED:
            progress = await self.store.load(user)
            if progress is not None and await followups.finished(user, progress.answer_map):
                return replace(turn, timed=True)
        elif turn.outcome is Outcome.DELETED:
            await followups.forget(user)
        elif turn.outcome is Outcome.STATUS:
            shown = await followups.status(user)
            if shown is not None and not await self._told(user):
                replies = list(turn.replies)  # before the question asked again below status
                at = next((i for i, r in enumerate(replies) if isinstance(r, Question)), None)
                replies.insert(len(replies) if at is None else at, shown)
                return replace(turn, replies=tuple(replies))
        elif isinstance(inp, Start) and (due := await followups.on_start(user)):
            return replace(turn, replies=(*turn.replies, *due))
        return turn

    async def _told(self, user: UserKey) -> bool:
        """Whether the user sent a report (whose record shows the follow-up's answers)."""
        return bool(self.telling and await self.telling.cases.get(user))

    # --- showing: one live question ---------------------------------------------------------

    async def show(
        self, user: UserKey, turn: Turn, outbox: Outbox, conversation: bool = False
    ) -> None:
        """The turn's replies in the user's chat, the question answered or left updated in
        place, and where the newest question now is. `conversation`: the turn is the
        conversation's, so a typed answer answers the newest question message."""
        redraws = _redraws(type(outbox))
        shown = turn.shown
        if shown is None and turn.closes is not None:
            shown = await self.store.recall_message(user)
        newest = shown.where if shown and outbox.here(shown.where) else None
        if (
            conversation
            and turn.outcome is Outcome.STALE
            and newest is not None
            and redraws
            and outbox.origin(None) == newest
        ):
            # A stale click on the message that shows the live question (a double click, or a
            # client showing an older drawing): said, and the message drawn again with the
            # current question. Closing it instead could land before a first click's redraw
            # and leave two live questions; both drawings now show the same question.
            notices = [r for r in turn.replies if not isinstance(r, Question)]
            asked = [r for r in turn.replies if isinstance(r, Question)]
            redraw = outbox.ask_in_place(newest, await self._so_far(user), asked[-1])
            await asyncio.gather(redraw if asked else _nothing(), outbox.reply(notices))
            return
        change: tuple[str, Answered | Closed] | None = None
        so_far: tuple[Answered, ...] = ()
        if turn.answered:
            where = outbox.origin(newest if conversation else None)
            answered = turn.answered
            if where and redraws and conversation:
                # Drawn over the answered message: in place, every answer above the next
                # question; otherwise the answer, with those given before it above.
                so_far = await self._so_far(user)
                before = so_far[:-1] if so_far[-1:] == (answered,) else so_far
                answered = replace(answered, before=before)
            change = (where, answered) if where else None
        elif (
            turn.closes is not None
            and newest
            and shown
            and (
                # A message answered in place keeps the version of the first question it
                # showed: there, any no newer than the question left is closed; elsewhere only
                # that question's own message (an older one was answered, not live).
                shown.version <= turn.closes if redraws else shown.version == turn.closes
            )
        ):
            # A message answered in place shows the answers so far: they stay when it closes.
            so_far = await self._so_far(user) if redraws else ()
            change = (newest, Closed(so_far))
        if (
            change
            and conversation
            and redraws
            and isinstance(change[1], Answered)
            and len(turn.replies) == 1
            and isinstance(turn.replies[0], Question)
            and await outbox.ask_in_place(change[0], so_far, turn.replies[0])
        ):
            # The pointer names this message already: nothing to remember.
            change, posting, turn = None, _nothing(), replace(turn, replies=())
        else:
            posting = outbox.reply(turn.replies) if turn.replies else _nothing()
        if change:
            _, refs = await asyncio.gather(self._update(outbox, *change), posting)
        else:
            refs = await posting
        questions = [
            (r, where)
            for r, where in zip(turn.replies, refs, strict=True)
            if where and isinstance(r, Question)
        ]
        if questions:
            twin = await self.store.remember_message(user, *questions[-1])
            if twin and outbox.here(twin.where) and not (change and change[0] == twin.where):
                await self._update(outbox, twin.where, Closed())  # one live question
        if turn.about and self.telling:
            # Every message that shows the report, the walk-through's questions too; not the
            # user's own question asked again below `status`.
            copies = [
                where
                for r, where in zip(turn.replies, refs, strict=True)
                if where and not (turn.outcome is Outcome.STATUS and isinstance(r, Question))
            ]
            if copies:
                await self.telling.cases.copied(user, copies, turn.about)

    async def _so_far(self, user: UserKey) -> tuple[Answered, ...]:
        """Every answer of the conversation, in the order given (this process's copy of the
        progress the turn just committed: no Redis)."""
        progress = await self.store.load(user)
        if progress is None:
            return ()
        steps = self.views.for_user(user).steps
        return tuple(
            Answered(steps[step].title, tuple(o.label for o in steps[step].options if o.id in ids))
            for step, ids in progress.answers
            if step in steps
        )

    @staticmethod
    async def _update(outbox: Outbox, where: str, shown: Answered | Closed) -> None:
        """Only cosmetic, so a refusal (the message was deleted, say) stops nothing."""
        await outbox.update(where, shown)

    # --- messages for other people -------------------------------------------------------

    async def deliver(self, user: UserKey, deliveries: Sequence[Deliver], outbox: Outbox) -> None:
        """Each message for someone else (or for this user outside this chat), then what its
        outcome leads to, said in this user's chat. A retry waits, outside the turn."""
        for d in deliveries:
            if d.after > 0:
                self._retry(user, d, outbox)
                continue
            if d.update:
                where = d.update if await outbox.update(d.update, d.reply) else None
            else:
                where = await outbox.send(d.to, d.reply)
            if d.then is None:
                continue
            after = await d.then(where)
            await self.show(user, after, outbox)
            await self.deliver(user, after.deliveries, outbox)

    def _retry(self, user: UserKey, d: Deliver, outbox: Outbox) -> None:
        async def later() -> None:
            await self._sleep(d.after)
            try:
                await self.deliver(user, (replace(d, after=0.0),), outbox)
            except Exception as exc:  # a retry outlives its turn: nobody else would log it
                log.error("retry failed", extra={"error": type(exc).__name__})

        task = asyncio.create_task(later())
        self._later.add(task)
        task.add_done_callback(self._later.discard)

    async def idle(self, timeout: float = 10) -> None:
        """Wait (up to `timeout` seconds) for retries still waiting, on shutdown."""
        if self._later:
            await asyncio.wait(set(self._later), timeout=timeout)


def build(
    redis: Redis,
    *,
    ttl_days: int = 30,
    case_ttl_days: int = 90,
    schools: Schools = NO_SCHOOLS,
    prefix: str = PREFIX,
    clock: Callable[[], float] = time.time,
    log_salt: bytes | None = None,
    replica_wait_ms: int = 0,
    telling: bool = True,
    flow: Flow | None = None,
    cipher: Cipher | None = None,
    followups: bool = True,
) -> Runner:
    """The whole conversation on one Redis client: views, stores, engine, telling, follow-ups,
    runner. `cipher` seals reference numbers: the deployment's key (see `bot.secrets`);
    without one, a key of this process alone (tests)."""
    db = Db(redis, Keys(prefix), clock)
    views = Views(flow or load_flow(), schools, ttl_days)
    store = Store(db, ttl_seconds=ttl_days * 86_400, replica_wait_ms=replica_wait_ms)
    engine = Engine(views, store, log_salt=log_salt)
    told = None
    if telling:
        cases = Cases(db, case_ttl_days * 86_400)
        told = Telling(cases, store, views, cipher, Statistics(db))
    later = None
    if followups:
        checks = Checks(db, case_ttl_days * 86_400)
        later = FollowUps(store, checks, Timers(db), views, told)
    return Runner(engine, told, followups=later)


def _no_reports() -> Turn:
    w = wording()["overview"]
    return Turn(Outcome.OVERVIEW, (Reports(w["title"], w["none"], ()),))


async def _nothing() -> list[str | None]:
    return []


__all__ = ["InPlace", "Outbox", "Runner", "Said", "Undeliverable", "build"]
