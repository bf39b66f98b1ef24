"""Progress in Redis: one key per user, changed only by compare-and-set on its version.

A turn costs one round trip when this process has seen the user before: it computes
from its last-seen copy and commits with a Lua script that writes only if the stored
version is still the one it computed from, and otherwise hands back what is stored so
the turn can be worked out again. The copy is a hint, never the truth, so several
workers can share one Redis and none needs another's memory.

A user's keys share one hash tag (`{platform:workspace:user}`): their progress, their last
question message and the deliveries they sent lately sit in one Cluster slot, so one
script can check a retry, commit a turn, or delete everything the user has.

Where the master has replicas, a commit also waits (`WAIT`, bounded) until one replica has
it, so that a turn acknowledged to the user survives the master's crash and the failover.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Final

from redis import exceptions as redis_errors
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from .messages import Question, UserKey
from .progress import Progress

# KEYS: the user's progress, their last question message, and the platform deliveries
# (event or activity ids) they sent lately, a sorted set of id -> time applied.
# ARGV: expected version, op (s=set d=delete all t=touch), value, ttl, delivery id or '',
# now (milliseconds, so the newest deliveries are the ones kept), delivery ttl (seconds),
# most deliveries kept.
# Returns {1} when applied, {2} for a delivery applied before, or {0, stored value or ''}
# when the version has moved on.
_COMMIT = """
local delivery, now, window = ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7])
if delivery ~= '' then
  local at = redis.call('ZSCORE', KEYS[3], delivery)
  if at and tonumber(at) > now - window * 1000 then return {2} end
end
local cur = redis.call('GET', KEYS[1])
local v = 0
if cur then v = tonumber(string.match(cur, '^(%d+)|')) or -1 end
if v ~= tonumber(ARGV[1]) then return {0, cur or ''} end
if ARGV[2] == 'd' then
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
  return {1}
end
if ARGV[2] == 's' then
  redis.call('SET', KEYS[1], ARGV[3], 'EX', ARGV[4])
elseif cur then
  redis.call('EXPIRE', KEYS[1], ARGV[4])
end
-- The question pointer lives as long as the progress: a turn that posts no question (stop)
-- is a use too.
redis.call('EXPIRE', KEYS[2], ARGV[4])
if delivery ~= '' then
  redis.call('ZADD', KEYS[3], now, delivery)
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - window * 1000)
  redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -1 - tonumber(ARGV[8]))
  redis.call('EXPIRE', KEYS[3], window)
end
return {1}
"""

# KEYS[1] the user's progress, KEYS[2] their last question message. ARGV: the question's
# version, where it is, ttl. Kept only for a question of the stored conversation (not one
# deleted meanwhile) and no older than the one kept already.
_REMEMBER_MESSAGE = """
local progress = redis.call('GET', KEYS[1])
local version = tonumber(ARGV[1])
if not progress or version > tonumber(string.match(progress, '^(%d+)|')) then return 0 end
local cur = redis.call('GET', KEYS[2])
if cur and tonumber(string.match(cur, '^(%d+)|')) > version then return 0 end
redis.call('SET', KEYS[2], ARGV[1] .. '|' .. ARGV[2], 'EX', ARGV[3])
return 1
"""

log = logging.getLogger("conversation.store")

DELIVERY_TTL = 900
"""Seconds a delivery id is remembered: Slack retries over minutes, Teams after 15 s."""

MAX_DELIVERIES = 100
"""Delivery ids kept per user, newest first: far more than anyone sends in 15 minutes, and a
flood of deliveries for one user cannot grow their set without bound."""

READY_DEADLINE = 2.5
"""Seconds a readiness check may take, several masters asked included."""

BACKSTOP = 8.0
"""Seconds any one call may take before it counts as failed. A turn's calls are bounded by
the client's socket timeouts (so the user hears within 3 s), which a busy event loop, late
to read a reply that has arrived, does not trip; a tight deadline on the whole call would,
turning a slow moment into "unavailable". This one only catches a client that hangs."""

REPLICA_WAIT_MS = 500
"""How long a commit waits for a replica to confirm it, where there are replicas."""

REPLICA_RETRY = 5.0
"""After a replica failed to confirm in time, seconds before waiting for one again, so a lost
replica costs at most one slow turn in that time rather than every turn."""

_DOWN = (
    redis_errors.RedisError,
    redis_errors.RedisClusterException,
    OSError,
    TimeoutError,
    # redis-py lets a transport's own error out when a connection breaks under it
    # (redis/redis-py#4287); it is a broken connection all the same.
    AttributeError,
    TypeError,
)
"""Everything that means "Redis cannot take this turn now": refused or hung connections, a
master that has become a replica (ReadOnlyError), a cluster mid-failover (ClusterDownError,
TryAgainError, a slot with no master), no master known to Sentinel, too many connections.
Scripts are atomic, so in each case nothing was changed. Only the calls to redis-py are
guarded by it, never the bot's own code."""

UNCHANGED: Final = "unchanged"
DELETED: Final = "deleted"
Change = Progress | str
"""A new `Progress`, or `UNCHANGED` (just mark activity), or `DELETED`."""


class StoreUnavailable(Exception):
    """Redis cannot take a turn right now; nothing was changed."""


class Duplicate(Exception):
    """This platform delivery (a retried event, a re-sent activity) was applied before."""


class Store:
    def __init__(
        self,
        redis: Redis,
        ttl_seconds: int,
        prefix: str = "hb",
        cache_size: int = 10_000,
        clock: Callable[[], float] = time.time,
        replica_wait_ms: int = 0,
    ) -> None:
        """`replica_wait_ms` > 0: commits wait that long at most for one replica to confirm."""
        self.redis = redis
        self.clock = clock
        self.ttl = ttl_seconds
        self.prefix = prefix
        self.replica_wait_ms = replica_wait_ms
        self._no_replica_until: dict[str, float] = {}
        self._commit = redis.register_script(_COMMIT)
        self._remember_message = redis.register_script(_REMEMBER_MESSAGE)
        self._seen: OrderedDict[str, Progress | None] = OrderedDict()
        self._cache_size = cache_size

    def key(self, user: UserKey) -> str:
        return f"{self.prefix}:{{{user.platform}:{user.workspace}:{user.user}}}"

    def message_key(self, user: UserKey) -> str:
        return self.key(user) + ":msg"

    def deliveries_key(self, user: UserKey) -> str:
        return self.key(user) + ":seen"

    async def load(self, user: UserKey) -> Progress | None:
        """The last-seen progress if this process has one, else what Redis holds."""
        key = self.key(user)
        if key in self._seen:
            self._seen.move_to_end(key)
            return self._seen[key]
        raw = await self._call(self.redis.get(key))
        return self._remember(key, raw)

    async def commit(
        self,
        user: UserKey,
        expected: Progress | None,
        change: Change,
        delivery: str | None = None,
    ) -> tuple[bool, Progress | None]:
        """Apply `change` if the stored version is still `expected`'s, and, for a platform
        delivery, only if that delivery has not been applied before (else `Duplicate`).

        Marking the delivery in the same script as the change means a retry is recognised
        exactly when its first delivery took effect: never lost, never applied twice.
        Returns (True, the new progress) or (False, what is actually stored).
        """
        key = self.key(user)
        version = expected.version if expected else 0
        if isinstance(change, Progress):
            op, value = "s", change.encode()
        else:
            op, value = ("d" if change == DELETED else "t"), ""
        keys = [key, self.message_key(user), self.deliveries_key(user)]
        now = int(self.clock() * 1000)
        args = [version, op, value, self.ttl, delivery or "", now, DELIVERY_TTL, MAX_DELIVERIES]
        if self.replica_wait_ms:
            result = await self._call(self._commit_replicated(keys, args))
        else:
            result = await self._call(self._script(_COMMIT, self._commit, keys, args))
        if result[0] == 2:
            raise Duplicate()
        if result[0] == 1:
            new = change if isinstance(change, Progress) else (None if op == "d" else expected)
            self._put(key, new)
            return True, new
        # Even a client retry whose first attempt landed ends here: the turn is decided
        # again from what it wrote, and the user is shown where they now are.
        return False, self._remember(key, result[1])

    async def _commit_replicated(self, keys: list[str], args: list) -> list:
        """The commit script and `WAIT 1` in one pipeline, so on one connection (WAIT waits
        for that connection's own writes), on the master holding the user's slot. The
        script goes whole (EVAL), so a new master that never saw it needs nothing loaded."""
        node = self.redis.get_node_from_key(keys[0]) if self._cluster else None
        name = node.name if node else ""
        if self._no_replica_until.get(name, 0) > time.monotonic():
            return await self._script(_COMMIT, self._commit, keys, args)
        pipe = self.redis.pipeline(transaction=False)
        pipe.execute_command("EVAL", _COMMIT, len(keys), *keys, *args)
        pipe.execute_command(
            "WAIT", 1, self.replica_wait_ms, **({"target_nodes": node} if node else {})
        )
        result, confirmed = await pipe.execute()
        if result[0] == 1 and not confirmed:
            self._no_replica_until[name] = time.monotonic() + REPLICA_RETRY
        return result

    async def _script(self, source: str, script, keys: list[str], args: list):
        """A script by its hash on one server; whole on a cluster, where hundreds of turns at
        once each finding a new master without it (NOSCRIPT, then SCRIPT LOAD on every
        master) once broke connections inside redis-py."""
        if self._cluster:
            return await self.redis.eval(source, len(keys), *keys, *args)
        return await script(keys=keys, args=args)

    @property
    def _cluster(self) -> bool:
        return isinstance(self.redis, RedisCluster)

    async def remember_message(self, user: UserKey, question: Question, ref: str) -> None:
        """Where `question` was posted (an opaque platform reference), so that a typed answer
        can update it in place too. Two turns' posts can finish in either order, and a
        conversation can be deleted meanwhile, so it is kept only for a question of the
        stored conversation no older than the one kept already. Best effort: without it an
        old question keeps its buttons, and a click on them is simply stale."""
        with contextlib.suppress(StoreUnavailable):
            await self._call(
                self._script(
                    _REMEMBER_MESSAGE,
                    self._remember_message,
                    [self.key(user), self.message_key(user)],
                    [question.version, ref, self.ttl],
                )
            )

    async def recall_message(self, user: UserKey) -> str | None:
        try:
            raw = await self._call(self.redis.get(self.message_key(user)))
        except StoreUnavailable:
            return None
        return raw.decode().partition("|")[2] if raw else None

    async def ping(self) -> bool:
        """Whether a turn can be written now (readiness): every master of a cluster, or the
        one master, answers and is a master, and a cluster has every slot served."""
        try:
            return await self._call(self._writable(), READY_DEADLINE, quiet=True)
        except StoreUnavailable:
            return False

    async def _writable(self) -> bool:
        if not self._cluster:
            return _role(await self.redis.execute_command("ROLE")) == "master"
        await self.redis.initialize()  # reloads the slot map if a failure asked for it
        primaries = self.redis.get_primaries()
        roles = await asyncio.gather(
            *(self.redis.execute_command("ROLE", target_nodes=p) for p in primaries)
        )
        infos = await asyncio.gather(
            *(self.redis.execute_command("CLUSTER INFO", target_nodes=p) for p in primaries)
        )
        return (
            bool(primaries)
            and all(_role(role) == "master" for role in roles)
            and all(_state(info) == "ok" for info in infos)
        )

    def _remember(self, key: str, raw: bytes | str | None) -> Progress | None:
        if isinstance(raw, bytes):
            raw = raw.decode()
        progress = Progress.decode(raw) if raw else None
        self._put(key, progress)
        return progress

    def _put(self, key: str, progress: Progress | None) -> None:
        self._seen[key] = progress
        self._seen.move_to_end(key)
        if len(self._seen) > self._cache_size:
            self._seen.popitem(last=False)

    async def _call(self, awaitable, deadline: float = BACKSTOP, quiet: bool = False):
        try:
            async with asyncio.timeout(deadline):
                return await awaitable
        except _DOWN as exc:
            # The cause's name only (its text can hold the command, and so the answers).
            if not quiet:
                log.warning("store unavailable", extra={"error": type(exc).__name__})
            raise StoreUnavailable(type(exc).__name__) from exc


def _role(reply: list) -> str:
    role = reply[0]
    return role.decode() if isinstance(role, bytes) else str(role)


def _state(info: dict | str | bytes) -> str:
    if isinstance(info, dict):
        state = info.get("cluster_state", "")
        return state.decode() if isinstance(state, bytes) else str(state)
    text = info.decode() if isinstance(info, bytes) else info
    return "ok" if "cluster_state:ok" in text else "fail"
