"""Progress in Redis: one key per user, changed only by compare-and-set on its version.

A turn costs one round trip when this process has seen the user before: it computes
from its last-seen copy and commits with a Lua script that writes only if the stored
version is still the one it computed from, and otherwise hands back what is stored so
the turn can be worked out again. The copy is a hint, never the truth, so several
workers can share one Redis and none needs another's memory.

A user's keys share one hash tag (`{platform:workspace:user}`): their progress, their last
question message and the deliveries they sent lately sit in one Cluster slot, so one
script can check a retry, commit a turn, or delete everything the user has.
"""

from __future__ import annotations

import contextlib
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Final

from redis import exceptions as redis_errors
from redis.asyncio import Redis

from .messages import Question, UserKey
from .progress import Progress

# KEYS: the user's progress, their last question message, and the platform deliveries
# (event or activity ids) they sent lately, a sorted set of id -> time applied.
# ARGV: expected version, op (s=set d=delete all t=touch), value, ttl, delivery id or '',
# now (seconds), delivery ttl.
# Returns {1} when applied, {2} for a delivery applied before, or {0, stored value or ''}
# when the version has moved on.
_COMMIT = """
local delivery, now, window = ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7])
if delivery ~= '' then
  local at = redis.call('ZSCORE', KEYS[3], delivery)
  if at and tonumber(at) > now - window then return {2} end
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
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - window)
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

DELIVERY_TTL = 900
"""Seconds a delivery id is remembered: Slack retries over minutes, Teams after 15 s."""

_DOWN = (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError)

UNCHANGED: Final = "unchanged"
DELETED: Final = "deleted"
Change = Progress | str
"""A new `Progress`, or `UNCHANGED` (just mark activity), or `DELETED`."""


class StoreUnavailable(Exception):
    """Redis cannot be reached right now; nothing was changed."""


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
    ) -> None:
        self.redis = redis
        self.clock = clock
        self.ttl = ttl_seconds
        self.prefix = prefix
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
        now = int(self.clock())
        args = [version, op, value, self.ttl, delivery or "", now, DELIVERY_TTL]
        result = await self._call(self._commit(keys=keys, args=args))
        if result[0] == 2:
            raise Duplicate()
        if result[0] == 1:
            new = change if isinstance(change, Progress) else (None if op == "d" else expected)
            self._put(key, new)
            return True, new
        # Even a client retry whose first attempt landed ends here: the turn is decided
        # again from what it wrote, and the user is shown where they now are.
        return False, self._remember(key, result[1])

    async def remember_message(self, user: UserKey, question: Question, ref: str) -> None:
        """Where `question` was posted (an opaque platform reference), so that a typed answer
        can update it in place too. Two turns' posts can finish in either order, and a
        conversation can be deleted meanwhile, so it is kept only for a question of the
        stored conversation no older than the one kept already. Best effort: without it an
        old question keeps its buttons, and a click on them is simply stale."""
        with contextlib.suppress(*_DOWN):
            await self._remember_message(
                keys=[self.key(user), self.message_key(user)],
                args=[question.version, ref, self.ttl],
            )

    async def recall_message(self, user: UserKey) -> str | None:
        try:
            raw = await self.redis.get(self.message_key(user))
        except _DOWN:
            return None
        return raw.decode().partition("|")[2] if raw else None

    async def ping(self) -> bool:
        try:
            return bool(await self.redis.ping())
        except _DOWN:
            return False

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

    async def _call(self, awaitable):
        try:
            return await awaitable
        except _DOWN as exc:
            raise StoreUnavailable(type(exc).__name__) from exc
