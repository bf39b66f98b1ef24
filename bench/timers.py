"""What the timers cost a turn: the same users walking the same whole paths through the
runner with the follow-ups on, and with them off, on the same Redis client.

The figures that matter are Redis round trips and commands per turn (exact, not noisy): the
follow-ups add one write to a turn that finishes a guide with harmful content (its timer),
and nothing to any other turn. Latencies are printed beside them, as everywhere here.
A tick with nothing due (what every worker pays each second) is timed too.
"""

from __future__ import annotations

import asyncio
import os
import random
import time

from bot.redis_connection import client
from conversation import flow
from conversation.messages import Choose, Question, Start, UserKey
from conversation.paths import paths
from conversation.runner import Runner, build
from conversation.ticker import Ticker

from .engine_floor import _count_round_trips, _server_calls, _timed
from .results import Result


class _Nowhere:
    """An outbox that shows nothing: only the runner's own work is measured."""

    def here(self, where: str) -> bool:
        return False

    def origin(self, newest: str | None) -> str | None:
        return None

    async def reply(self, replies) -> list[str | None]:
        return [None] * len(replies)

    async def send(self, to, reply) -> str | None:
        return None

    async def update(self, where, shown) -> bool:
        return False


async def runner_turns(url: str, users: int, followups: bool, seed: int = 11) -> Result:
    """`users` at once, each walking one whole random path (a third with harmful content)."""
    rng = random.Random(seed)
    every = list(paths(flow.load()))
    walks = [rng.choice(every) for _ in range(users)]
    prefix = f"bench-timers:{os.getpid()}:{int(followups)}"
    redis = client(url)
    runner: Runner = build(redis, prefix=prefix, followups=followups)
    trips = _count_round_trips(redis)
    outbox = _Nowhere()
    keys = [UserKey("slack", "TBENCH", f"U{u}") for u in range(users)]
    opened = await asyncio.gather(*(runner.run(k, Start(), outbox) for k in keys))
    tokens = [next(r for r in t.replies if isinstance(r, Question)).token for t in opened]

    async def walk(u: int) -> list[float]:
        out, token = [], tokens[u]
        for _, ids in walks[u]:
            t0 = time.perf_counter()
            turn = await runner.run(keys[u], Choose(ids, token), outbox)
            out.append((time.perf_counter() - t0) * 1000)
            token = next(r for r in turn.replies if isinstance(r, Question)).token
        return out

    calls_before, trips_before = await _server_calls(redis), trips[0]
    name = "runner turn, follow-ups " + ("on" if followups else "off")
    result = await _timed(name, users, walk)
    calls = await _server_calls(redis) - calls_before - 1
    content = sum("content" in dict(w).get("types", ()) for w in walks)
    round_trips = trips[0] - trips_before - 1
    result.extra = {
        "round_trips": round_trips,
        "round_trips_per_turn": round(round_trips / result.turns, 3),
        "redis_commands_per_turn": round(calls / result.turns, 3),
        "guides_finished_with_content": content,
    }
    if followups:
        ticker = Ticker(runner)
        runner.outboxes["slack"] = lambda user: asyncio.sleep(0, outbox)  # type: ignore[assignment]
        t0 = time.perf_counter()
        for _ in range(100):
            await ticker.tick()  # nothing is due for days: the cost of an idle tick
        result.extra["idle_tick_ms"] = round((time.perf_counter() - t0) * 10, 3)
    await redis.delete(*[k async for k in redis.scan_iter(f"{prefix}:*")])
    await redis.aclose()
    return result


async def timer_cost(url: str, users: int) -> tuple[Result, Result]:
    """The runner with the follow-ups off, then on; the difference is what timers cost."""
    off = await runner_turns(url, users, followups=False)
    on = await runner_turns(url, users, followups=True)
    return on, off
