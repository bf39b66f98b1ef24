"""The engine that keeps time: every worker polls the timers and fires what is due.

Each tick claims the due timers of every platform the runner can reach (`Runner.outboxes`),
atomically (see `storage.timers`), and fires each through the runner: a timer is just
another input, decided from the case as it is then. Every worker of a deployment runs one;
claims keep them from firing the same timer twice. Polling every second, jittered so that
workers started together spread out, keeps a timer no more than a few seconds late while
the process is up; after a restart, whatever fell due meanwhile fires at once.

A timer that fails (its message undelivered, storage away) is tried again a few times, then
dropped with a log line naming the error's class only; nothing here ever stops the loop.
Time comes from the store's one clock, and the loop's sleep is injected, so a test steps it
with `tick()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable

from . import summary
from .runner import Runner
from .storage import Claim, StoreUnavailable, Timers

log = logging.getLogger("conversation.ticker")

EVERY = 1.0
"""Seconds between ticks, on average."""
MOST = 50
"""Timers claimed at a time, per platform: the rest wait for the next tick."""


class Ticker:
    def __init__(
        self,
        runner: Runner,
        every: float = EVERY,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        assert runner.followups is not None, "a ticker needs the follow-ups"
        self.runner = runner
        self.followups = runner.followups
        self.timers: Timers = runner.followups.timers
        self.every = every
        self._sleep = sleep
        self._jitter = jitter
        self._task: asyncio.Task | None = None
        self._stopping = False

    async def tick(self) -> int:
        """Claim and fire whatever is due now; how many fired."""
        fired = 0
        for platform in list(self.runner.outboxes):
            try:
                claims = await self.timers.claim(platform, MOST)
            except StoreUnavailable:
                return fired  # the next tick tries again; nothing was claimed
            for claim in claims:
                fired += await self._fire(claim)
        return fired

    async def _fire(self, claim: Claim) -> int:
        try:
            wait = self.followups.quiet_until(claim.timer, self.timers.db.now())
            if wait is not None:  # quiet hours: it waits for the morning
                await self.timers.later(claim, wait)
                return 0
            if claim.timer.kind == summary.SUMMARY:
                fired = await self._summary(claim)
            else:
                fired = await self.runner.fire(claim.timer)
            if fired:
                await self.timers.done(claim)
                return 1
            why = "unreachable"
        except Exception as exc:  # a timer's failure must never stop the loop
            why = type(exc).__name__
        extra = {"kind": claim.timer.kind, "platform": claim.timer.user.platform, "error": why}
        try:
            again = await self.timers.failed(claim)
        except StoreUnavailable:
            again = True  # its lease runs out, and it is claimed again then
        log.warning("timer retrying" if again else "timer dropped", extra=extra)
        return 0

    async def _summary(self, claim: Claim) -> bool:
        """A school's termly summary to its governor, then the next term's timer set."""
        factory = self.runner.outboxes.get(claim.timer.user.platform)
        outbox = await factory(claim.timer.user) if factory else None
        sent = await summary.fire(self.runner, claim.timer, outbox) if outbox else None
        if sent is not None:
            await self.timers.set([sent], only_new=True)
        return sent is not None

    async def schedule(self) -> None:
        """Set each school's termly summary timer, if not set already (every worker does
        this as it starts: the set keeps one of each)."""
        due = summary.timers(self.runner.views.schools, self.timers.db.now())
        if due:
            await self.timers.set(due, only_new=True)

    async def run(self) -> None:
        """Tick until stopped, sleeping `every` seconds give or take a half."""
        while not self._stopping:
            try:
                await self.tick()
            except Exception as exc:
                log.error("tick failed", extra={"error": type(exc).__name__})
            await self._sleep(self.every * (0.5 + self._jitter()))

    def start(self) -> None:
        self._task = asyncio.create_task(self._started())

    async def _started(self) -> None:
        try:
            await self.schedule()
        except StoreUnavailable:
            log.warning("summaries not scheduled")  # set at the next start
        await self.run()

    async def stop(self, timeout: float = 10) -> None:
        """Stop ticking once the tick under way has finished (up to `timeout` seconds; a
        timer cut short then is left to its lease, and fired again later)."""
        self._stopping = True
        if self._task is None:
            return
        done, _ = await asyncio.wait({self._task}, timeout=timeout)
        if not done:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None
