"""What every stand-in shares: its own loopback server, call counts, and `expect`."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Self

from aiohttp import web


@dataclass(frozen=True, slots=True)
class Posted:
    """A message a bot posted: when it arrived, where, its id there, and what it said."""

    at: float
    """`time.perf_counter()` when the request arrived, before its body was read."""
    channel: str
    """Slack's channel, or the Connector's conversation id."""
    ref: str
    """Slack's `ts` of the message, or the Connector's id of the new activity."""
    body: dict[str, Any]


Wanted = Callable[[dict[str, Any]], bool]


class StandIn:
    """A platform API on 127.0.0.1 (a free port), run in the caller's event loop.

    `record=False` keeps counts only (the benchmark); otherwise each subclass keeps every
    call for the tests to read.
    """

    def __init__(self, record: bool = True) -> None:
        self.record = record
        self.counts: Counter[str] = Counter()
        """Calls by method, every call counted (the benchmark's API calls per turn)."""
        self._waiting: dict[str, tuple[Wanted, asyncio.Future[Posted]]] = {}
        self._runner: web.AppRunner | None = None
        self.base_url = ""
        self.before: Callable[[str, dict[str, Any]], Awaitable[None]] | None = None
        """Awaited with each call's method and arguments before it is answered, so that a test
        can hold one call there and force an order on two workers (see `Gate`)."""

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        app = web.Application()
        self.routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner:
            await self._runner.cleanup()

    def expect(self, channel: str, wanted: Wanted) -> asyncio.Future[Posted]:
        """The next message posted to `channel` that is `wanted`; ask before causing it, so
        the moment it arrives is the end of the turn, with no polling."""
        future = asyncio.get_running_loop().create_future()
        self._waiting[channel] = (wanted, future)
        return future

    def _offer(self, at: float, channel: str, ref: str, body: dict[str, Any]) -> None:
        waiting = self._waiting.get(channel)
        if waiting and not waiting[1].done() and waiting[0](body):
            del self._waiting[channel]
            waiting[1].set_result(Posted(at, channel, ref, body))


class Gate:
    """Holds the first call that `matches` until `open()`: set as a stand-in's `before`, it
    makes one worker's call land after another's, so that a race is run in a chosen order
    rather than hoped for."""

    def __init__(self, matches: Callable[[str, dict[str, Any]], bool]) -> None:
        self.matches = matches
        self.reached = asyncio.Event()
        self._open = asyncio.Event()

    async def __call__(self, method: str, args: dict[str, Any]) -> None:
        if not self.reached.is_set() and self.matches(method, args):
            self.reached.set()
            await self._open.wait()

    def open(self) -> None:
        self._open.set()
