"""Progress in Redis: one key per user, changed only by compare-and-set on its version.

A turn costs one round trip when this process has seen the user before: it computes
from its last-seen copy and commits with a Lua script that writes only if the stored
version is still the one it computed from, and otherwise hands back what is stored so
the turn can be worked out again. The copy is a hint, never the truth, so several
workers can share one Redis and none needs another's memory.

A user's keys share one hash tag (`{platform:workspace:user}`), so the two keys that
`delete my data` removes together sit in one Cluster slot; every other call touches one key.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from typing import Final

from redis import exceptions as redis_errors
from redis.asyncio import Redis

from .messages import UserKey
from .progress import Progress

# KEYS[1] the user's progress, KEYS[2] their last question message. ARGV: expected version,
# op (s=set d=delete both t=touch), value, ttl.
# Returns {1} when applied, or {0, stored value or ''} when the version has moved on.
_COMMIT = """
local cur = redis.call('GET', KEYS[1])
local v = 0
if cur then v = tonumber(string.match(cur, '^(%d+)|')) or -1 end
if v ~= tonumber(ARGV[1]) then return {0, cur or ''} end
if ARGV[2] == 's' then
  redis.call('SET', KEYS[1], ARGV[3], 'EX', ARGV[4])
elseif ARGV[2] == 'd' then
  redis.call('DEL', KEYS[1], KEYS[2])
elseif cur then
  redis.call('EXPIRE', KEYS[1], ARGV[4])
end
return {1}
"""

_DOWN = (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError)

UNCHANGED: Final = "unchanged"
DELETED: Final = "deleted"
Change = Progress | str
"""A new `Progress`, or `UNCHANGED` (just mark activity), or `DELETED`."""


class StoreUnavailable(Exception):
    """Redis cannot be reached right now; nothing was changed."""


class Store:
    def __init__(
        self, redis: Redis, ttl_seconds: int, prefix: str = "hb", cache_size: int = 10_000
    ) -> None:
        self.redis = redis
        self.ttl = ttl_seconds
        self.prefix = prefix
        self._commit = redis.register_script(_COMMIT)
        self._seen: OrderedDict[str, Progress | None] = OrderedDict()
        self._cache_size = cache_size

    def key(self, user: UserKey) -> str:
        return f"{self.prefix}:{{{user.platform}:{user.workspace}:{user.user}}}"

    def message_key(self, user: UserKey) -> str:
        return self.key(user) + ":msg"

    async def load(self, user: UserKey) -> Progress | None:
        """The last-seen progress if this process has one, else what Redis holds."""
        key = self.key(user)
        if key in self._seen:
            self._seen.move_to_end(key)
            return self._seen[key]
        raw = await self._call(self.redis.get(key))
        return self._remember(key, raw)

    async def commit(
        self, user: UserKey, expected: Progress | None, change: Change
    ) -> tuple[bool, Progress | None]:
        """Apply `change` if the stored version is still `expected`'s.

        Returns (True, the new progress) or (False, what is actually stored).
        """
        key = self.key(user)
        version = expected.version if expected else 0
        if isinstance(change, Progress):
            op, value = "s", change.encode()
        else:
            op, value = ("d" if change == DELETED else "t"), ""
        result = await self._call(
            self._commit(keys=[key, self.message_key(user)], args=[version, op, value, self.ttl])
        )
        if result[0] == 1:
            new = change if isinstance(change, Progress) else (None if op == "d" else expected)
            self._put(key, new)
            return True, new
        # Even a client retry whose first attempt landed ends here: the turn is decided
        # again from what it wrote, and the user is shown where they now are.
        return False, self._remember(key, result[1])

    async def remember_message(self, user: UserKey, ref: str) -> None:
        """Where the user's newest question was posted (an opaque platform reference), so a
        typed answer can update it in place too. Best effort: without it an old question
        keeps its buttons, and a click on them is simply stale."""
        with contextlib.suppress(*_DOWN):
            await self.redis.set(self.message_key(user), ref, ex=self.ttl)

    async def recall_message(self, user: UserKey) -> str | None:
        try:
            raw = await self.redis.get(self.message_key(user))
        except _DOWN:
            return None
        return raw.decode() if isinstance(raw, bytes) else raw

    async def first_delivery(self, delivery_id: str, ttl_seconds: int = 900) -> bool:
        """True the first time a platform delivery id is seen; False for its retries."""
        key = f"{self.prefix}:seen:{delivery_id}"
        return bool(await self._call(self.redis.set(key, 1, nx=True, ex=ttl_seconds)))

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
