"""The engine's own cost: `users` at once walking whole paths through the engine and Redis,
against the floor of one bare GET and SET per turn on the same client."""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import time
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis

from bot.redis_connection import client
from conversation import flow
from conversation.engine import Engine
from conversation.messages import Choose, Question, Start, UserKey
from conversation.paths import Path as FlowPath
from conversation.paths import paths
from conversation.storage import Db, Keys, Store
from conversation.views import Views

from .results import Result


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
    store = Store(Db(redis, Keys(prefix)), ttl_seconds=86_400)
    engine = Engine(Views(flow.load(), ttl_days=1), store)
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
