"""A report told to the person who leads: one Redis hash under the reporter's hash tag.

It holds ids and times only, never a name or anything typed: the school's id, the person
told (their user key), which of the school's people that is (`leads.0`), the chosen option
ids the checklist was built from, when it was sent and acknowledged, when each checklist
item was marked done, and where the message to the person told is (to update it). Every
change is one Lua script on that one key (and its neighbours under the same hash tag, so
one Cluster slot): an acknowledgement racing a withdrawal, or two "mark done" clicks on two
workers, each apply once or not at all, and `v` counts the changes.

The person told has a pointer back (`:leads` under *their* hash tag, a different slot). It
is written in a step of its own and only lists their reports for `status`: every button on
the report names the reporter, so losing the pointer loses nothing else.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from redis.asyncio import Redis

from .messages import UserKey
from .progress import Progress
from .store import _DOWN, Store, StoreUnavailable

# KEYS: the reporter's progress, their case, their pending preview. ARGV: the progress
# version and start the Send was pressed on, ttl, then the case's fields and values.
# {1, case} created; {0, case} one exists already (a doubled Send); {2} the offer is stale.
_CREATE = """
if redis.call('EXISTS', KEYS[2]) == 1 then return {0, redis.call('HGETALL', KEYS[2])} end
local cur = redis.call('GET', KEYS[1])
if not cur then return {2} end
local v, started = string.match(cur, '^(%d+)|(%d+)|')
if v ~= ARGV[1] or started ~= ARGV[2] then return {2} end
redis.call('HSET', KEYS[2], 'v', 1, unpack(ARGV, 4))
redis.call('EXPIRE', KEYS[2], ARGV[3])
redis.call('DEL', KEYS[3])
return {1, redis.call('HGETALL', KEYS[2])}
"""

# KEYS[1] a case. ARGV: its id, the person told's key (or '' for the reporter), ttl, the
# field that must still be unset for the change to apply (or '' for none), then fields and
# values. {1, case} applied; {0, case} that field was set already; {-1} no such case
# (withdrawn, expired, or another id); {-2} not the person told.
_CHANGE = """
local id = redis.call('HGET', KEYS[1], 'id')
if not id or id ~= ARGV[1] then return {-1} end
if ARGV[2] ~= '' and redis.call('HGET', KEYS[1], 'lead') ~= ARGV[2] then return {-2} end
if ARGV[4] ~= '' and redis.call('HEXISTS', KEYS[1], ARGV[4]) == 1 then
  redis.call('EXPIRE', KEYS[1], ARGV[3])
  return {0, redis.call('HGETALL', KEYS[1])}
end
if #ARGV > 4 then redis.call('HSET', KEYS[1], unpack(ARGV, 5)) end
redis.call('HINCRBY', KEYS[1], 'v', 1)
redis.call('EXPIRE', KEYS[1], ARGV[3])
return {1, redis.call('HGETALL', KEYS[1])}
"""

# KEYS: a case, the pending preview. ARGV: the case id ('' for any), and '1' to remove it
# only while not yet sent (a delivery that failed). Returns the case removed, or {}.
_REMOVE = """
local all = redis.call('HGETALL', KEYS[1])
if #all == 0 then redis.call('DEL', KEYS[2]) return {} end
if ARGV[1] ~= '' and redis.call('HGET', KEYS[1], 'id') ~= ARGV[1] then return {} end
if ARGV[2] == '1' and redis.call('HEXISTS', KEYS[1], 'sent') == 1 then return {} end
redis.call('DEL', KEYS[1], KEYS[2])
return all
"""

DONE = "d:"
"""Prefix of the fields holding when each checklist item was marked done."""


@dataclass(frozen=True, slots=True)
class Case:
    """One report, as stored."""

    id: str
    version: int
    school: str
    lead: UserKey
    person: str
    """Which of the school's people was told: `leads.N` or `governors.N`."""
    answers: str
    """The chosen option ids, as `Progress` stores them."""
    created: int
    sent: int = 0
    acknowledged: int = 0
    done: Mapping[str, int] = field(default_factory=dict)
    message: str = ""
    """Where the message to the person told is: the adapter's reference."""

    @property
    def answer_pairs(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        return Progress.decode(f"0|0|0|x|{self.answers}").answers

    @classmethod
    def decode(cls, flat: list) -> Case:
        raw = {_text(flat[i]): _text(flat[i + 1]) for i in range(0, len(flat), 2)}
        platform, workspace, user = raw["lead"].split(":", 2)
        return cls(
            id=raw["id"],
            version=int(raw["v"]),
            school=raw.get("school", ""),
            lead=UserKey(platform, workspace, user),
            person=raw["who"],
            answers=raw["answers"],
            created=int(raw["at"]),
            sent=int(raw.get("sent", 0)),
            acknowledged=int(raw.get("ack", 0)),
            done={k[len(DONE) :]: int(v) for k, v in raw.items() if k.startswith(DONE)},
            message=raw.get("msg", ""),
        )


def lead_key(user: UserKey) -> str:
    return f"{user.platform}:{user.workspace}:{user.user}"


@dataclass(frozen=True, slots=True)
class Changed:
    """What a change found: `applied` or not, and the case as it now is (None: gone)."""

    applied: bool
    case: Case | None
    not_theirs: bool = False


class Cases:
    def __init__(
        self, store: Store, ttl_seconds: int, clock: Callable[[], float] | None = None
    ) -> None:
        self.store = store
        self.redis: Redis = store.redis
        self.ttl = ttl_seconds
        self.clock = clock or store.clock
        self._create = self.redis.register_script(_CREATE)
        self._change = self.redis.register_script(_CHANGE)
        self._remove = self.redis.register_script(_REMOVE)

    def key(self, reporter: UserKey) -> str:
        return self.store.key(reporter) + ":case"

    def pending_key(self, reporter: UserKey) -> str:
        return self.store.key(reporter) + ":tell"

    def pointer_key(self, lead: UserKey) -> str:
        return self.store.key(lead) + ":leads"

    def now(self) -> int:
        return int(self.clock())

    async def progress(self, user: UserKey) -> Progress | None:
        """The user's progress as stored now (a Send is checked against it, not a copy)."""
        raw = await self._call(self.redis.get(self.store.key(user)))
        return Progress.decode(_text(raw)) if raw else None

    async def get(self, reporter: UserKey) -> Case | None:
        flat = await self._call(self.redis.hgetall(self.key(reporter)))
        if not flat:
            return None
        return Case.decode([x for kv in flat.items() for x in kv])

    async def create(
        self,
        reporter: UserKey,
        progress: Progress,
        school: str,
        lead: UserKey,
        person: str,
    ) -> tuple[int, Case | None]:
        """The Send, applied once: (1, the new case), (0, the one already there) or (2, None)
        when the conversation the offer belonged to has moved on."""
        fields = {
            "id": secrets.token_hex(4),
            "school": school,
            "lead": lead_key(lead),
            "who": person,
            "answers": progress.encode().split("|", 4)[4],
            "at": self.now(),
        }
        keys = [self.store.key(reporter), self.key(reporter), self.pending_key(reporter)]
        args = [progress.version, progress.started, self.ttl]
        args += [x for kv in fields.items() for x in kv]
        result = await self._call(self._create(keys=keys, args=args))
        return int(result[0]), Case.decode(result[1]) if len(result) > 1 else None

    async def change(
        self,
        reporter: UserKey,
        case_id: str,
        values: Mapping[str, str | int],
        once: str = "",
        by: UserKey | None = None,
    ) -> Changed:
        """Set `values` on the case, in one step; with `once`, only while that field is unset;
        with `by`, only if `by` is the person told."""
        args: list[str | int] = [case_id, lead_key(by) if by else "", self.ttl, once]
        args += [x for kv in values.items() for x in kv]
        result = await self._call(self._change(keys=[self.key(reporter)], args=args))
        status = int(result[0])
        if status < 0:
            return Changed(False, None, not_theirs=status == -2)
        return Changed(status == 1, Case.decode(result[1]))

    async def remove(
        self, reporter: UserKey, case_id: str = "", unsent_only: bool = False
    ) -> Case | None:
        """Delete the case (and any pending preview); returns what was deleted."""
        keys = [self.key(reporter), self.pending_key(reporter)]
        flat = await self._call(self._remove(keys=keys, args=[case_id, "1" if unsent_only else ""]))
        return Case.decode(flat) if flat else None

    # --- the preview waiting for a typed "yes" -------------------------------------------

    async def pend(self, reporter: UserKey, token: str, person: str) -> None:
        await self._call(self.redis.set(self.pending_key(reporter), f"{token}|{person}", ex=3600))

    async def pending(self, reporter: UserKey) -> tuple[str, str] | None:
        raw = await self._call(self.redis.get(self.pending_key(reporter)))
        if not raw:
            return None
        token, _, person = _text(raw).partition("|")
        return token, person

    async def forget_pending(self, reporter: UserKey) -> None:
        await self._call(self.redis.delete(self.pending_key(reporter)))

    # --- the person told's pointers: a separate slot, best effort -------------------------

    async def point(self, lead: UserKey, reporter: UserKey, case_id: str) -> None:
        with contextlib.suppress(*_DOWN):
            key = self.pointer_key(lead)
            await self.redis.hset(key, reporter.user, case_id)
            await self.redis.expire(key, self.ttl)

    async def unpoint(self, lead: UserKey, reporter: UserKey) -> None:
        with contextlib.suppress(*_DOWN):
            await self.redis.hdel(self.pointer_key(lead), reporter.user)

    async def pointed(self, lead: UserKey) -> list[UserKey]:
        """The reporters whose reports `lead` was told of (as far as the pointers know)."""
        try:
            raw = await self.redis.hkeys(self.pointer_key(lead))
        except _DOWN:
            return []
        return [UserKey(lead.platform, lead.workspace, _text(u)) for u in raw]

    @staticmethod
    async def _call(awaitable):
        try:
            return await awaitable
        except _DOWN as exc:
            raise StoreUnavailable(type(exc).__name__) from exc


def _text(raw: bytes | str | int) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)
