"""`python -m bot bench`: what a turn costs, measured against floors in the same run.

Machines here are shared and noisy, so every figure that matters is a ratio of two
measurements taken side by side: the engine against bare Redis GET+SET, each HTTP
adapter against the smallest bot on the same framework. Nothing here fails on timing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from redis.asyncio import Redis

from conversation import flow
from conversation.engine import Engine
from conversation.messages import Choose, Question, Start, UserKey
from conversation.paths import Path as FlowPath
from conversation.paths import paths
from conversation.store import Store

from . import local_redis
from .redis_connection import client


@dataclass
class Result:
    name: str
    turns: int
    seconds: float
    latencies_ms: list[float] = field(repr=False)
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def per_second(self) -> float:
        return self.turns / self.seconds

    def pct(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

    def row(self) -> dict[str, float | str]:
        return {
            "name": self.name,
            "turns": self.turns,
            "turns_per_s": round(self.per_second, 1),
            "p50_ms": round(self.pct(50), 3),
            "p99_ms": round(self.pct(99), 3),
            **self.extra,
        }


def _count_round_trips(redis: Redis) -> list[int]:
    """Wrap the client so every command it sends is counted (scripts count once)."""
    counter = [0]
    send = redis.execute_command

    async def counted(*args, **kwargs):
        counter[0] += 1
        return await send(*args, **kwargs)

    redis.execute_command = counted  # type: ignore[method-assign]
    return counter


async def _server_calls(redis: Redis) -> int:
    stats = await redis.info("commandstats")
    return sum(v["calls"] for k, v in stats.items() if not k.startswith(("cmdstat_info", "info")))


async def _timed(
    name: str, users: int, per_user: Callable[[int], Awaitable[list[float]]]
) -> Result:
    started = time.perf_counter()
    latencies = [
        ms for per in await asyncio.gather(*(per_user(u) for u in range(users))) for ms in per
    ]
    return Result(name, len(latencies), time.perf_counter() - started, latencies)


async def engine_turns(
    url: str, users: int, rounds: int = 5, seed: int = 7
) -> tuple[Result, Result]:
    """`users` at once, each walking `rounds` conversations down random whole paths."""
    rng = random.Random(seed)
    every = list(paths(flow.load()))
    walks: list[FlowPath] = [rng.choice(every) for _ in range(users * rounds)]
    prefix = f"bench:{os.getpid()}"
    redis = client(url)  # the bot's own client settings, for the turns and the floor alike
    store = Store(redis, ttl_seconds=86_400, prefix=prefix)
    engine = Engine(flow.load(), store, ttl_days=1)
    round_trips = _count_round_trips(redis)
    keys = [UserKey("bench", "school", str(c)) for c in range(len(walks))]
    # Warm-up, not timed: every conversation is opened, so this worker has seen each user.
    opened = await asyncio.gather(*(engine.handle(k, Start()) for k in keys))
    tokens = [next(r for r in t.replies if isinstance(r, Question)).token for t in opened]

    async def walk(u: int) -> list[float]:
        out = []
        for c in range(u * rounds, (u + 1) * rounds):
            token = tokens[c]
            for _, ids in walks[c]:
                t0 = time.perf_counter()
                turn = await engine.handle(keys[c], Choose(ids, token))
                out.append((time.perf_counter() - t0) * 1000)
                token = next(r for r in turn.replies if isinstance(r, Question)).token
        return out

    calls_before, trips_before = await _server_calls(redis), round_trips[0]
    result = await _timed("engine turn", users, walk)
    calls = await _server_calls(redis) - calls_before - 1  # less the INFO that read them
    trips = round_trips[0] - trips_before - 1
    keys = [k async for k in redis.scan_iter(f"{prefix}:*")]
    sizes = [await redis.memory_usage(k) for k in keys]
    result.extra = {
        "round_trips_per_turn": round(trips / result.turns, 2),
        "redis_commands_per_turn": round(calls / result.turns, 2),
        "bytes_per_conversation": round(statistics.mean(sizes)),
    }
    value = await redis.get(keys[0])
    await redis.delete(*keys)

    async def get_set(u: int) -> list[float]:
        key, out = f"{prefix}:floor:{u}", []
        for _ in range(sum(len(walks[c]) for c in range(u * rounds, (u + 1) * rounds))):
            t0 = time.perf_counter()
            await redis.get(key)
            await redis.set(key, value, ex=86_400)
            out.append((time.perf_counter() - t0) * 1000)
        return out

    floor = await _timed("GET+SET floor", users, get_set)
    await redis.delete(*[k async for k in redis.scan_iter(f"{prefix}:*")])
    await redis.aclose()
    return result, floor


def startup_seconds(url: str) -> float:
    """From process start to /readyz answering 200."""
    port = local_redis.free_port()
    env = {**os.environ, "REDIS_URL": url}
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while time.perf_counter() - started < 30:
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r,
            ):
                if r.status == 200:
                    return time.perf_counter() - started
            time.sleep(0.02)
        raise RuntimeError("serve did not become ready in 30 s")
    finally:
        proc.terminate()
        proc.wait(10)


def _ratio(a: Result, b: Result) -> dict[str, float]:
    return {
        "p50": round(a.pct(50) / b.pct(50), 2),
        "p99": round(a.pct(99) / b.pct(99), 2),
        "throughput": round(b.per_second / a.per_second, 2),
    }


def _print_table(rows: list[dict], ratios: dict[str, dict[str, float]], out) -> None:
    cols = ["name", "turns", "turns_per_s", "p50_ms", "p99_ms"]
    print(" | ".join(f"{c:>16}" for c in cols), file=out)
    for r in rows:
        print(" | ".join(f"{r[c]!s:>16}" for c in cols), file=out)
        for k, v in r.items():
            if k not in cols:
                print(f"{'':>16}   {k} = {v}", file=out)
    for name, ratio in ratios.items():
        print(
            f"ratio {name}: p50 {ratio['p50']}x, p99 {ratio['p99']}x, "
            f"time for the same work {ratio['throughput']}x",
            file=out,
        )


def run(users: int, out_file: Path, quick: bool) -> int:
    with local_redis.redis_url() as url:
        engine, floor = asyncio.run(engine_turns(url, users, rounds=1 if quick else 5))
        rows = [engine.row(), floor.row()]
        ratios = {"engine turn / GET+SET floor": _ratio(engine, floor)}
        from . import bench_http

        for ours, minimal in bench_http.run(url, users, quick):
            rows += [ours.row(), minimal.row()]
            ratios[f"{ours.name} / {minimal.name}"] = _ratio(ours, minimal)
        startup = startup_seconds(url)
    rows.append(
        {
            "name": "start-up to /readyz",
            "turns": 1,
            "turns_per_s": "",
            "p50_ms": round(startup * 1000),
            "p99_ms": "",
        }
    )
    _print_table(rows, ratios, sys.stdout)
    out_file.write_text(json.dumps({"users": users, "rows": rows, "ratios": ratios}, indent=2))
    print(f"figures written to {out_file}")
    # A smoke test fails on errors only, never on timing.
    counts = ("errors", "unfinished_users", "server_log_problems")
    failed = sum(float(r.get(c, 0)) for r in rows for c in counts)
    if failed:
        print(
            f"FAILED: {failed:g} errors, unfinished users or server log problems (see above)",
            file=sys.stderr,
        )
    return 1 if failed else 0
