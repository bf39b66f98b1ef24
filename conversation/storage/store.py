"""Progress in Redis: one key per user, changed only by compare-and-set on its version.

A turn costs one round trip when this process has seen the user before: it computes
from its last-seen copy and commits with a Lua script that writes only if the stored
version is still the one it computed from, and otherwise hands back what is stored so
the turn can be worked out again. The copy is a hint, never the truth, so several
workers can share one Redis and none needs another's memory. The same script hands back
where the user's newest question message is, so that the turn can update it in place
without asking Redis again.

Where the master has replicas, a commit also waits (`WAIT`, bounded) until one replica has
it, so that a turn acknowledged to the user survives the master's crash and the failover.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from ..messages import Question, Shown, UserKey
from ..progress import Progress
from .db import Db, StoreUnavailable, text

_DELIVERIES = """
local function applied(deliveries, delivery, now, window)
  local at = redis.call('ZSCORE', deliveries, delivery)
  return at and tonumber(at) > now - window * 1000
end
local function mark(deliveries, delivery, now, window, most)
  redis.call('ZADD', deliveries, now, delivery)
  redis.call('ZREMRANGEBYSCORE', deliveries, '-inf', now - window * 1000)
  redis.call('ZREMRANGEBYRANK', deliveries, 0, -1 - most)
  redis.call('EXPIRE', deliveries, window)
end
"""
"""The one rule for a platform's deliveries, in Lua for the scripts that keep it: applied if
seen within the window; marked with the time, the oldest beyond the window or the most kept
let go."""

# KEYS: the user's progress, their last question message, and the platform deliveries
# (event or activity ids) they sent lately, a sorted set of id -> time applied.
# ARGV: expected version, op (s=set d=delete all t=touch), value, ttl, delivery id or '',
# now (milliseconds, so the newest deliveries are the ones kept), delivery ttl (seconds),
# most deliveries kept, '1' when the turn's question goes in place of the one answered (the
# pointer stays as it is: the same message, so neither read nor renewed).
# Returns {'applied', where the question message is or ''}, {'duplicate'} for a delivery
# applied before, or {'moved', the stored value or ''} when the version has moved on.
_COMMIT = (
    _DELIVERIES
    + """
local delivery, now, window = ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7])
if delivery ~= '' and applied(KEYS[3], delivery, now, window) then return {'duplicate'} end
local cur = redis.call('GET', KEYS[1])
local v = 0
if cur then v = tonumber(string.match(cur, '^(%d+)|')) or -1 end
if v ~= tonumber(ARGV[1]) then return {'moved', cur or ''} end
if ARGV[2] == 'd' then
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
  return {'applied', ''}
end
if ARGV[2] == 's' then
  redis.call('SET', KEYS[1], ARGV[3], 'EX', ARGV[4])
elseif cur then
  redis.call('EXPIRE', KEYS[1], ARGV[4])
end
-- The question pointer lives as long as the progress: a turn that posts no question (stop)
-- is a use too. GETEX reads it and renews it in one command.
local shown = ''
if ARGV[9] ~= '1' then shown = redis.call('GETEX', KEYS[2], 'EX', ARGV[4]) or '' end
if delivery ~= '' then mark(KEYS[3], delivery, now, window, tonumber(ARGV[8])) end
return {'applied', shown}
"""
)

# KEYS[1] the user's deliveries. ARGV: the delivery id, now (ms), window (s), most kept.
# 1 if this delivery is now claimed, 0 if it was applied already.
_CLAIM_DELIVERY = (
    _DELIVERIES
    + """
if applied(KEYS[1], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])) then return 0 end
mark(KEYS[1], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]))
return 1
"""
)

# KEYS[1] the user's progress, KEYS[2] their last question message. ARGV: the question's
# version, where it is, ttl. Kept only for a question of the stored conversation (not one
# deleted meanwhile) and no older than the one kept already. Returns 'older', or the message
# kept before (`version|where`, '' if none): the same question posted twice by two turns at
# once leaves the other one to close.
_REMEMBER_MESSAGE = """
local progress = redis.call('GET', KEYS[1])
local version = tonumber(ARGV[1])
if not progress or version > tonumber(string.match(progress, '^(%d+)|')) then return 'older' end
local cur = redis.call('GET', KEYS[2])
if cur and tonumber(string.match(cur, '^(%d+)|')) > version then return 'older' end
redis.call('SET', KEYS[2], ARGV[1] .. '|' .. ARGV[2], 'EX', ARGV[3])
return cur or ''
"""

DELIVERY_TTL = 900
"""Seconds a delivery id is remembered: Slack retries over minutes, Teams after 15 s."""

MAX_DELIVERIES = 100
"""Delivery ids kept per user, newest first: far more than anyone sends in 15 minutes, and a
flood of deliveries for one user cannot grow their set without bound."""

REPLICA_WAIT_MS = 500
"""How long a commit waits for a replica to confirm it, where there are replicas."""

REPLICA_RETRY = 5.0
"""After a replica failed to confirm in time, seconds before waiting for one again, so a lost
replica costs at most one slow turn in that time rather than every turn."""

UNCHANGED: Final = "unchanged"
DELETED: Final = "deleted"
Change = Progress | str
"""A new `Progress`, or `UNCHANGED` (just mark activity), or `DELETED`."""


class Duplicate(Exception):
    """This platform delivery (a retried event, a re-sent activity) was applied before."""


class _Status(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    MOVED = "moved"


def _shown(raw: bytes | str | None) -> Shown | None:
    version, _, where = text(raw).partition("|") if raw else ("", "", "")
    return Shown(where, int(version)) if version.isdigit() and where else None


@dataclass(frozen=True, slots=True)
class Committed:
    """What a commit found: whether it applied, the progress now, and (when it applied)
    where the user's newest question message was."""

    applied: bool
    progress: Progress | None
    shown: Shown | None = None


class Store:
    def __init__(
        self,
        db: Db,
        ttl_seconds: int,
        cache_size: int = 10_000,
        replica_wait_ms: int = 0,
    ) -> None:
        """`replica_wait_ms` > 0: commits wait that long at most for one replica to confirm."""
        self.db = db
        self.redis = db.redis
        self.keys = db.keys
        self.ttl = ttl_seconds
        self.replica_wait_ms = replica_wait_ms
        self._no_replica_until: dict[str, float] = {}
        self._commit = db.script(_COMMIT)
        self._remember_message = db.script(_REMEMBER_MESSAGE)
        self._claim_delivery = db.script(_CLAIM_DELIVERY)
        self._seen: OrderedDict[str, Progress | None] = OrderedDict()
        self._cache_size = cache_size

    async def load(self, user: UserKey) -> Progress | None:
        """The last-seen progress if this process has one, else what Redis holds."""
        key = self.keys.user(user)
        if key in self._seen:
            self._seen.move_to_end(key)
            return self._seen[key]
        return await self.read(user)

    async def read(self, user: UserKey) -> Progress | None:
        """What Redis holds now (a Send is checked against it, never a copy)."""
        key = self.keys.user(user)
        raw = await self.db.call(self.redis.get(key))
        return self._remember(key, raw)

    async def claim_delivery(self, user: UserKey, delivery: str) -> bool:
        """Mark a platform delivery applied, for a turn that commits no conversation (the
        reports' and follow-ups'); False if it was applied already (a retry)."""
        now = int(self.db.clock() * 1000)
        args = [delivery, now, DELIVERY_TTL, MAX_DELIVERIES]
        return bool(await self.db.call(self._claim_delivery.run([self.keys.seen(user)], args)))

    async def release_delivery(self, user: UserKey, delivery: str) -> None:
        """Forget a claimed delivery whose turn failed, so that the platform's retry is heard."""
        await self.db.call(self.redis.zrem(self.keys.seen(user), delivery), quiet=True)

    async def commit(
        self,
        user: UserKey,
        expected: Progress | None,
        change: Change,
        delivery: str | None = None,
        in_place: bool = False,
    ) -> Committed:
        """Apply `change` if the stored version is still `expected`'s, and, for a platform
        delivery, only if that delivery has not been applied before (else `Duplicate`).

        Marking the delivery in the same script as the change means a retry is recognised
        exactly when its first delivery took effect: never lost, never applied twice.
        `in_place`: the question will be drawn over the message answered, which the pointer
        names already, so a click costs Redis only the progress's GET and SET.
        """
        key = self.keys.user(user)
        version = expected.version if expected else 0
        if isinstance(change, Progress):
            op, value = "s", change.encode()
        else:
            op, value = ("d" if change == DELETED else "t"), ""
        keys = [key, self.keys.message(user), self.keys.seen(user)]
        now = int(self.db.clock() * 1000)
        args = [version, op, value, self.ttl, delivery or "", now, DELIVERY_TTL, MAX_DELIVERIES]
        args.append("1" if in_place else "")
        if self.replica_wait_ms:
            result = await self.db.call(self._commit_replicated(keys, args))
        else:
            result = await self.db.call(self._commit.run(keys, args))
        status = _Status(text(result[0]))
        if status is _Status.DUPLICATE:
            raise Duplicate()
        if status is _Status.APPLIED:
            new = change if isinstance(change, Progress) else (None if op == "d" else expected)
            self._put(key, new)
            return Committed(True, new, _shown(result[1]))
        # Even a client retry whose first attempt landed ends here: the turn is decided
        # again from what it wrote, and the user is shown where they now are.
        return Committed(False, self._remember(key, result[1]))

    async def _commit_replicated(self, keys: list[str], args: list) -> list:
        """The commit script and `WAIT 1` in one pipeline, so on one connection (WAIT waits
        for that connection's own writes), on the master holding the user's slot. The
        script goes whole (EVAL), so a new master that never saw it needs nothing loaded."""
        redis = self.redis
        node = redis.get_node_from_key(keys[0]) if self.db.cluster else None  # type: ignore[attr-defined]
        name = node.name if node else ""
        if self._no_replica_until.get(name, 0) > time.monotonic():
            return await self._commit.run(keys, args)
        pipe = redis.pipeline(transaction=False)
        pipe.execute_command("EVAL", _COMMIT, len(keys), *keys, *args)
        pipe.execute_command(
            "WAIT", 1, self.replica_wait_ms, **({"target_nodes": node} if node else {})
        )
        result, confirmed = await pipe.execute()
        if text(result[0]) == _Status.APPLIED and not confirmed:
            self._no_replica_until[name] = time.monotonic() + REPLICA_RETRY
        return result

    async def remember_message(self, user: UserKey, question: Question, where: str) -> Shown | None:
        """Where `question` was posted (an opaque platform reference), so that a typed answer
        can update it in place too. Two turns' posts can finish in either order, and a
        conversation can be deleted meanwhile, so it is kept only for a question of the
        stored conversation no older than the one kept already. Best effort: without it an
        old question keeps its buttons, and a click on them is simply stale.

        Returns the message of the same question kept before, elsewhere: two turns at once
        (a double click) each posted it, and the one replaced is left to close."""
        try:
            raw = await self.db.call(
                self._remember_message.run(
                    [self.keys.user(user), self.keys.message(user)],
                    [question.version, where, self.ttl],
                )
            )
        except StoreUnavailable:
            return None
        before = _shown(raw)  # None for 'older', or nothing kept before
        if before and before.version == question.version and before.where != where:
            return before
        return None

    async def recall_message(self, user: UserKey) -> Shown | None:
        """Where the newest question message is, or None (best effort)."""
        try:
            raw = await self.db.call(self.redis.get(self.keys.message(user)))
        except StoreUnavailable:
            return None
        return _shown(raw)

    async def forget(self, user: UserKey) -> None:
        """Everything the user has, at once (an uninstall of their app, say)."""
        key = self.keys.user(user)
        keys = [key, self.keys.message(user), self.keys.seen(user)]
        await self.db.call(self.redis.delete(*keys))
        self._seen.pop(key, None)

    def _remember(self, key: str, raw: bytes | str | None) -> Progress | None:
        progress = Progress.decode(text(raw)) if raw else None
        self._put(key, progress)
        return progress

    def _put(self, key: str, progress: Progress | None) -> None:
        self._seen[key] = progress
        self._seen.move_to_end(key)
        if len(self._seen) > self._cache_size:
            self._seen.popitem(last=False)
