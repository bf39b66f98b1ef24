"""Timers: what is due when, in one Redis sorted set per platform, claimed atomically.

Why not a library: arq is in maintenance and has no Cluster support, taskiq's scheduler
must run as a single instance, APScheduler 3 cannot share a job store between processes,
and Docket and saq keep pickled or JSON payloads and do not cancel by a key of ours. What
is needed is small: a sorted set (member -> due time) and three scripts.

- A member names its timer with ids and codes only: `kind user case`, e.g.
  `remind1 slack:T1:U2 3fa2c1d0`. Each case or user has a fixed few, so cancelling everything
  of a case is one ZREM of members worked out from its id, with no index to keep in step.
- Claiming is one script: due members have their score moved to now + lease, only if they
  are still due, so two workers never hold the same timer. The claimer fires it, then
  removes or reschedules it, again only while the score is its own lease. A worker that
  dies holding one leaves the lease to run out; another worker then claims it again: at
  most one extra message, never a lost one.
- Nothing waits on a key expiring: the set itself never expires; a timer leaves it when it
  fires for the last time or is cancelled.

One key per platform is one Cluster slot: at a school's scale (a handful of timers per
report, a few thousand at most) that is nothing for one master, and it keeps claiming a
single-key script. Tries (how often a timer failed to deliver) are kept beside it, in the
same slot, so a timer whose messages keep failing stops after a few.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..messages import UserKey
from .db import Db, text
from .keys import _glob

# KEYS[1] the timers. ARGV: now, the lease's end, most members to claim.
_CLAIM = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
for _, member in ipairs(due) do redis.call('ZADD', KEYS[1], 'XX', ARGV[2], member) end
return due
"""

# KEYS[1] the timers. ARGV: a member, now, the lease's end. 1 if claimed (it was due).
_CLAIM_ONE = """
local at = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not at or tonumber(at) > tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], 'XX', ARGV[3], ARGV[1])
return 1
"""

# KEYS: the timers, their tries. ARGV: a member, the lease it was claimed with, then what
# to do: 'done', 'at' and a time (rescheduled), or 'failed', now and the retry delays.
# Nothing happens unless the member still has that lease: a claim that ran out (another
# worker holds it now) or a timer rescheduled meanwhile (a snooze) is left as it is.
_SETTLE = """
local at = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not at or tonumber(at) ~= tonumber(ARGV[2]) then return 'not_ours' end
if ARGV[3] == 'at' then
  redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
  return 'rescheduled'
end
if ARGV[3] == 'failed' then
  local tries = redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
  redis.call('EXPIRE', KEYS[2], 7 * 86400)
  if tries <= #ARGV - 4 then
    redis.call('ZADD', KEYS[1], tonumber(ARGV[4]) + tonumber(ARGV[4 + tries]), ARGV[1])
    return 'retrying'
  end
end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
if ARGV[3] == 'failed' then return 'dropped' end
return 'done'
"""

LEASE = 120
"""Seconds a claimed timer is held: far longer than firing one takes (each platform call is
bounded at 10 s), so a live worker never loses its claim; a dead one's comes back after."""

RETRIES = (60, 300, 1800)
"""Seconds before each new try at a timer whose message could not be delivered (the app
uninstalled, a 429, someone who left); after the last, it is dropped with a log line."""


@dataclass(frozen=True, slots=True)
class Timer:
    """A timer: its kind, whose it is, and the case it is about ("" for none)."""

    kind: str
    user: UserKey
    case: str = ""

    @property
    def member(self) -> str:
        who = f"{self.user.platform}:{self.user.workspace}:{self.user.user}"
        return f"{self.kind} {who} {self.case}".rstrip()

    @classmethod
    def parse(cls, platform: str, member: str) -> Timer | None:
        """A member read back (None: not one this bot wrote)."""
        kind, _, rest = member.partition(" ")
        who, _, case = rest.partition(" ")
        parts = who.split(":")
        if not kind or len(parts) != 3 or parts[0] != platform:
            return None
        return cls(kind, UserKey(*parts), case)


@dataclass(frozen=True, slots=True)
class Claim:
    """A timer this worker holds until `lease`."""

    timer: Timer
    lease: int


class Timers:
    def __init__(self, db: Db, lease: int = LEASE, retries: Sequence[int] = RETRIES) -> None:
        self.db = db
        self.keys = db.keys
        self.lease = lease
        self.retries = tuple(retries)
        self._claim = db.script(_CLAIM)
        self._claim_one = db.script(_CLAIM_ONE)
        self._settle = db.script(_SETTLE)

    async def set(self, due: Iterable[tuple[Timer, int]], only_new: bool = False) -> None:
        """Schedule timers (each at its time), in one command per platform; `only_new`
        leaves a timer already scheduled where it is."""
        by_platform: dict[str, dict[str, int]] = {}
        for timer, at in due:
            by_platform.setdefault(timer.user.platform, {})[timer.member] = at
        for platform, members in by_platform.items():
            await self.db.call(self.db.redis.zadd(self.keys.timers(platform), members, nx=only_new))

    async def cancel(self, timers: Iterable[Timer]) -> None:
        """Every one of these timers, gone at once (those not scheduled are no matter)."""
        by_platform: dict[str, list[str]] = {}
        for timer in timers:
            by_platform.setdefault(timer.user.platform, []).append(timer.member)
        for platform, members in by_platform.items():
            pipe = self.db.redis.pipeline(transaction=False)
            pipe.zrem(self.keys.timers(platform), *members)
            pipe.hdel(self.keys.timer_tries(platform), *members)
            await self.db.call(pipe.execute())

    async def due_at(self, timer: Timer) -> int | None:
        at = await self.db.call(
            self.db.redis.zscore(self.keys.timers(timer.user.platform), timer.member)
        )
        return None if at is None else int(at)

    async def claim(self, platform: str, most: int = 50) -> list[Claim]:
        """Up to `most` of the platform's due timers, now this worker's until the lease ends."""
        now = self.db.now()
        lease = now + self.lease
        raw = await self.db.call(self._claim.run([self.keys.timers(platform)], [now, lease, most]))
        found = (Timer.parse(platform, text(m)) for m in raw)
        return [Claim(t, lease) for t in found if t is not None]

    async def claim_one(self, timer: Timer) -> Claim | None:
        """`timer`, if it is due now and nobody holds it."""
        now = self.db.now()
        lease = now + self.lease
        key = self.keys.timers(timer.user.platform)
        claimed = await self.db.call(self._claim_one.run([key], [timer.member, now, lease]))
        return Claim(timer, lease) if int(claimed) else None

    async def done(self, claim: Claim) -> bool:
        """Fired for the last time: removed (unless it is no longer this claim's)."""
        return await self._settled(claim, "done") == "done"

    async def later(self, claim: Claim, at: int) -> bool:
        """Not yet (quiet hours), or fired and due again (next week's digest)."""
        return await self._settled(claim, "at", at) == "rescheduled"

    async def failed(self, claim: Claim) -> bool:
        """Its message could not be delivered: tried again after the next of `retries`, or
        dropped after the last. True while it will be tried again."""
        return await self._settled(claim, "failed", self.db.now(), *self.retries) == "retrying"

    async def _settled(self, claim: Claim, *how: str | int) -> str:
        platform = claim.timer.user.platform
        keys = [self.keys.timers(platform), self.keys.timer_tries(platform)]
        args = [claim.timer.member, claim.lease, *how]
        return text(await self.db.call(self._settle.run(keys, args)))

    async def forget_workspace(self, platform: str, workspace: str) -> int:
        """Every timer of every user of one workspace (the app uninstalled); how many."""
        key = self.keys.timers(platform)
        pattern = f"* {_glob(platform)}:{_glob(workspace)}:*"
        members = [m async for m, _ in self.db.redis.zscan_iter(key, match=pattern, count=1000)]
        if members:
            await self.cancel(
                t for t in (Timer.parse(platform, text(m)) for m in members) if t is not None
            )
        return len(members)
