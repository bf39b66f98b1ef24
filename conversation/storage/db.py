"""The one Redis client every store shares, and the one way a call to it can fail.

Each call is bounded, and anything that means "Redis cannot take this now" (refused or hung
connections, a master turned replica, a cluster mid-failover) becomes `StoreUnavailable`,
naming the error's class only: its text can hold the command, and so the answers. Scripts
are atomic, so in each such case nothing was changed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from redis import exceptions as redis_errors
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.commands.core import AsyncScript

from .keys import Keys

log = logging.getLogger("conversation.store")

T = TypeVar("T")

BACKSTOP = 8.0
"""Seconds any one call may take before it counts as failed. A turn's calls are bounded by
the client's socket timeouts (so the user hears within 3 s), which a busy event loop, late
to read a reply that has arrived, does not trip; a tight deadline on the whole call would,
turning a slow moment into "unavailable". This one only catches a client that hangs."""

DOWN = (
    redis_errors.RedisError,
    redis_errors.RedisClusterException,
    OSError,
    TimeoutError,
    # redis-py lets a transport's own error out when a connection breaks under it
    # (redis/redis-py#4287); it is a broken connection all the same.
    AttributeError,
    TypeError,
)
"""Everything that means "Redis cannot take this turn now". Only calls to redis-py are
guarded by it, never the bot's own code."""


class StoreUnavailable(Exception):
    """Redis cannot take a turn right now; nothing was changed."""


class Db:
    """The client, the key names and the clock, shared by every store."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis = redis
        self.keys = keys or Keys()
        self.clock = clock
        self.cluster = isinstance(redis, RedisCluster)

    def now(self) -> int:
        """Seconds since the epoch, by the one clock tests can set."""
        return int(self.clock())

    def script(self, source: str) -> Script:
        return Script(self, source)

    async def call(
        self, awaitable: Awaitable[T], deadline: float = BACKSTOP, quiet: bool = False
    ) -> T:
        try:
            async with asyncio.timeout(deadline):
                return await awaitable
        except DOWN as exc:
            if not quiet:
                log.warning("store unavailable", extra={"error": type(exc).__name__})
            raise StoreUnavailable(type(exc).__name__) from exc


class Script:
    """A Lua script: by its hash on one server; whole on a cluster, where hundreds of turns
    at once each finding a new master without it (NOSCRIPT, then SCRIPT LOAD on every
    master) once broke connections inside redis-py."""

    def __init__(self, db: Db, source: str) -> None:
        self.db = db
        self.source = source
        self._registered: AsyncScript = db.redis.register_script(source)

    def run(self, keys: list[str], args: list[Any]) -> Awaitable[Any]:
        """The script's reply (unguarded: wrap it in `Db.call`)."""
        if self.db.cluster:
            return self.db.redis.eval(self.source, len(keys), *keys, *args)
        return self._registered(keys=keys, args=args)


def text(raw: bytes | str | int) -> str:
    """A reply as text (the clients are made without decode_responses)."""
    return raw.decode() if isinstance(raw, bytes) else str(raw)


READY_DEADLINE = 2.5
"""Seconds a readiness check may take, several masters asked included."""


async def writable(db: Db) -> bool:
    """Whether a turn can be written now (readiness): every master of a cluster, or the
    one master, answers and is a master, and a cluster has every slot served."""
    try:
        return await db.call(_writable(db), READY_DEADLINE, quiet=True)
    except StoreUnavailable:
        return False


async def _writable(db: Db) -> bool:
    redis: Any = db.redis
    if not db.cluster:
        return _role(await redis.execute_command("ROLE")) == "master"
    await redis.initialize()  # reloads the slot map if a failure asked for it
    primaries = redis.get_primaries()
    roles = await asyncio.gather(
        *(redis.execute_command("ROLE", target_nodes=p) for p in primaries)
    )
    infos = await asyncio.gather(
        *(redis.execute_command("CLUSTER INFO", target_nodes=p) for p in primaries)
    )
    return (
        bool(primaries)
        and all(_role(role) == "master" for role in roles)
        and all(_state(info) == "ok" for info in infos)
    )


def _role(reply: list) -> str:
    return text(reply[0])


def _state(info: dict | str | bytes) -> str:
    if isinstance(info, dict):
        return text(info.get("cluster_state", ""))
    return "ok" if "cluster_state:ok" in text(info) else "fail"
