"""A report told to the person who leads: one Redis hash under the reporter's hash tag.

It holds ids and times only, never a name or anything typed: the school's id, the person
told (their user key), which of the school's people that is (`leads.0`), the chosen option
ids the checklist was built from, when it was sent and acknowledged, when each checklist
item was marked done, and where the message to the person told is (to update it). Every
change is one Lua script on that one key (and its neighbours under the same hash tag, so
one Cluster slot): an acknowledgement racing a withdrawal, or two "mark done" clicks on two
workers, each apply once or not at all, and `v` counts the changes.

The person told has keys of their own (under *their* hash tag, another slot), each written
in a step of its own: a pointer back (`:leads`, only to list their reports for `status`;
every button on the report names the reporter, so losing it loses nothing else), and the
messages in their chat that show the report (`:copies`: the walk-through, the record), so
that withdrawing the report can remove every one of them.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from ..messages import UserKey
from ..progress import Progress
from .db import DOWN, Db, text
from .seal import Cipher, InvalidToken

log = logging.getLogger("conversation.store")

# KEYS: the reporter's progress, their case, their pending preview, their recent sends.
# ARGV: the progress version and start the Send was pressed on, ttl, now, most sends a
# day, then the case's fields and values (`id` first, so ARGV[7] is the new case's id).
_CREATE = """
if redis.call('EXISTS', KEYS[2]) == 1 then return {'exists', redis.call('HGETALL', KEYS[2])} end
local cur = redis.call('GET', KEYS[1])
if not cur then return {'stale'} end
local v, started = string.match(cur, '^(%d+)|(%d+)|')
if v ~= ARGV[1] or started ~= ARGV[2] then return {'stale'} end
local now = tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - 86400)
if redis.call('ZCARD', KEYS[4]) >= tonumber(ARGV[5]) then return {'limited'} end
redis.call('ZADD', KEYS[4], now, ARGV[7])
redis.call('EXPIRE', KEYS[4], 86400)
redis.call('HSET', KEYS[2], 'v', 1, unpack(ARGV, 6))
redis.call('EXPIRE', KEYS[2], ARGV[3])
redis.call('DEL', KEYS[3])
return {'created', redis.call('HGETALL', KEYS[2])}
"""

# KEYS[1] a case. ARGV: its id, the key of the person acting ('' for the reporter), ttl,
# fields that must all still be unset for the change to apply (space-separated, or ''),
# then fields and values. The person acting must be the one told, or the one it was
# escalated to once it has been.
_CHANGE = """
local id = redis.call('HGET', KEYS[1], 'id')
if not id or id ~= ARGV[1] then return {'gone'} end
if ARGV[2] ~= '' and redis.call('HGET', KEYS[1], 'lead') ~= ARGV[2] and not (
  redis.call('HEXISTS', KEYS[1], 'esc') == 1 and redis.call('HGET', KEYS[1], 'eto') == ARGV[2]
) then return {'not_theirs'} end
for field in string.gmatch(ARGV[4], '%S+') do
  if redis.call('HEXISTS', KEYS[1], field) == 1 then
    redis.call('EXPIRE', KEYS[1], ARGV[3])
    return {'already', redis.call('HGETALL', KEYS[1])}
  end
end
if #ARGV > 4 then redis.call('HSET', KEYS[1], unpack(ARGV, 5)) end
redis.call('HINCRBY', KEYS[1], 'v', 1)
redis.call('EXPIRE', KEYS[1], ARGV[3])
return {'applied', redis.call('HGETALL', KEYS[1])}
"""

# KEYS[1] a case. ARGV: its id, an event ("code@time"), ttl, most events kept.
_RESEAL = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
  return 1
end
return 0
"""
"""A reference sealed again, unless it changed meanwhile (the case withdrawn, say)."""

_NOTE = """
if redis.call('HGET', KEYS[1], 'id') ~= ARGV[1] then return 0 end
local n = redis.call('HINCRBY', KEYS[1], 'n', 1)
redis.call('HSET', KEYS[1], 'e:' .. n, ARGV[2])
redis.call('HDEL', KEYS[1], 'e:' .. (n - tonumber(ARGV[4])))
redis.call('HINCRBY', KEYS[1], 'v', 1)
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
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

# KEYS: a person's copies, their progress, their question pointer. ARGV: a report's
# reference. Every message showing that report (a copy's value lists the reports it shows,
# space-separated) is forgotten and returned; their conversation too, if it is a
# walk-through begun from that report.
_FORGET_COPIES = """
local flat = redis.call('HGETALL', KEYS[1])
local refs = {}
for i = 1, #flat, 2 do
  if string.find(' ' .. flat[i + 1] .. ' ', ' ' .. ARGV[1] .. ' ', 1, true) then
    table.insert(refs, flat[i])
    redis.call('HDEL', KEYS[1], flat[i])
  end
end
local cur = redis.call('GET', KEYS[2])
if cur and string.sub(cur, -(#ARGV[1] + 1)) == '|' .. ARGV[1] then
  redis.call('DEL', KEYS[2], KEYS[3])
end
return refs
"""

# KEYS[1] a person's recent clicks. ARGV: the click (action, item, report), now, the
# window in seconds, ttl. 1: the first such click in the window (noted), 0: a repeat.
_FIRST_CLICK = """
local at = redis.call('HGET', KEYS[1], ARGV[1])
local now = tonumber(ARGV[2])
if at and now - tonumber(at) >= 0 and now - tonumber(at) < tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], now)
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
"""

CLICK_WINDOW = 5
"""Seconds (by the store's clock) in which a second click on the same button of the same
report, one that sends something without changing the report, is a repeat: a doubled click,
or one click delivered to two workers."""

DONE = "d:"
"""Prefix of the fields holding when each checklist item was marked done."""
REFERENCE = "r:"
"""Prefix of the fields holding the reference numbers added to the record, each sealed (the
one thing typed that is kept: see `telling.references`)."""
EVENT = "e:"
"""Prefix of the fields holding what else happened and when (`code@time`): the member of
staff's answers to follow-ups, in order."""
MOST_EVENTS = 50

SENDS_A_DAY = 3
"""Reports one member of staff can send in 24 hours: enough to send, withdraw and send
again twice, and no flood of any lead's chat (the window is the store's clock's)."""


class Created(StrEnum):
    CREATED = "created"
    EXISTS = "exists"
    """A report was sent already (a doubled Send): the first one sends."""
    STALE = "stale"
    """The conversation the offer belonged to has moved on."""
    LIMITED = "limited"
    """Too many reports sent in the last day."""


class Changed(StrEnum):
    APPLIED = "applied"
    ALREADY = "already"
    """The field was set already: nothing changed."""
    GONE = "gone"
    """No such report: withdrawn, expired, or another id."""
    NOT_THEIRS = "not_theirs"
    """The report was sent to someone else."""


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
    references: Mapping[str, str] = field(default_factory=dict)
    """Reference numbers added to the record, sealed: field suffix -> sealed value."""
    reminded: tuple[int, ...] = ()
    """When the person told was reminded, in order."""
    escalate_to: str = ""
    """Whom the member of staff agreed it may go to if not acknowledged (`deputies.0`,
    `governors.1`); "" if they did not agree, and then it never goes to anyone else."""
    escalate_user: UserKey | None = None
    escalate_at: int = 0
    """When it would go to them (as planned at Send, in the school's clock)."""
    warned: int = 0
    """When the member of staff was told it was about to go."""
    escalated: int = 0
    stopped: int = 0
    """When the member of staff stopped the escalation."""
    escalated_message: str = ""
    events: tuple[tuple[str, int], ...] = ()
    """(code, time) of everything else recorded, oldest first."""

    @property
    def answer_pairs(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        return Progress.decode(f"0|0|0|x|{self.answers}").answers

    @classmethod
    def decode(cls, flat: list) -> Case:
        raw = {text(flat[i]): text(flat[i + 1]) for i in range(0, len(flat), 2)}
        return cls(
            id=raw["id"],
            version=int(raw["v"]),
            school=raw.get("school", ""),
            lead=_user_key(raw["lead"]),
            person=raw["who"],
            answers=raw["answers"],
            created=int(raw["at"]),
            sent=int(raw.get("sent", 0)),
            acknowledged=int(raw.get("ack", 0)),
            done={k[len(DONE) :]: int(v) for k, v in raw.items() if k.startswith(DONE)},
            message=raw.get("msg", ""),
            references={k[len(REFERENCE) :]: v for k, v in raw.items() if k.startswith(REFERENCE)},
            reminded=tuple(int(raw[k]) for k in ("r1", "r2") if k in raw),
            escalate_to=raw.get("ewho", ""),
            escalate_user=_user_key(raw["eto"]) if raw.get("eto") else None,
            escalate_at=int(raw.get("eat", 0)),
            warned=int(raw.get("warned", 0)),
            escalated=int(raw.get("esc", 0)),
            stopped=int(raw.get("estop", 0)),
            escalated_message=raw.get("emsg", ""),
            events=tuple(
                (code, int(at))
                for _, entry in sorted(
                    (int(k[len(EVENT) :]), v) for k, v in raw.items() if k.startswith(EVENT)
                )
                for code, _, at in [entry.partition("@")]
            ),
        )

    def may_act(self, person: UserKey) -> bool:
        """The person told, or the one it was escalated to (once it has been)."""
        return person == self.lead or bool(self.escalated and person == self.escalate_user)


def _user_key(raw: str) -> UserKey:
    platform, workspace, user = raw.split(":", 2)
    return UserKey(platform, workspace, user)


def user_id(user: UserKey) -> str:
    """A user key as one string (`platform:workspace:user`), as a case names the lead."""
    return f"{user.platform}:{user.workspace}:{user.user}"


def reference(case: Case, reporter: UserKey) -> str:
    """The report's reference, on every button of it: its id and the reporter's user id."""
    return f"{case.id}.{reporter.user}"


def parse_reference(ref: str, person: UserKey) -> tuple[str, UserKey] | None:
    """The case id and reporter a reference names (in `person`'s workspace), or None."""
    case_id, _, reporter = ref.partition(".")
    if not case_id or not reporter:
        return None
    return case_id, UserKey(person.platform, person.workspace, reporter)


@dataclass(frozen=True, slots=True)
class Change:
    """What a change found: what happened, and the case as it now is (None: gone)."""

    status: Changed
    case: Case | None


class Cases:
    def __init__(self, db: Db, ttl_seconds: int) -> None:
        self.db = db
        self.redis = db.redis
        self.keys = db.keys
        self.ttl = ttl_seconds
        self._create = db.script(_CREATE)
        self._change = db.script(_CHANGE)
        self._remove = db.script(_REMOVE)
        self._forget_copies = db.script(_FORGET_COPIES)
        self._note = db.script(_NOTE)
        self._reseal = db.script(_RESEAL)
        self._first_click = db.script(_FIRST_CLICK)

    def now(self) -> int:
        return self.db.now()

    async def get(self, reporter: UserKey) -> Case | None:
        flat = await self.db.call(self.redis.hgetall(self.keys.case(reporter)))
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
        escalate: tuple[str, UserKey, int] | None = None,
    ) -> tuple[Created, Case | None]:
        """The Send, applied once: the new case, the one already there, or nothing (the
        offer is stale, or too many were sent today). `escalate`: the member of staff agreed
        it may go to this person (school id, user key) at this time if not acknowledged."""
        now = self.now()
        case_id = secrets.token_hex(4)
        fields = {
            "id": case_id,
            "school": school,
            "lead": user_id(lead),
            "who": person,
            "answers": progress.encode().split("|")[4],
            "at": now,
        }
        if escalate:
            fields |= {"ewho": escalate[0], "eto": user_id(escalate[1]), "eat": escalate[2]}
        keys = [
            self.keys.user(reporter),
            self.keys.case(reporter),
            self.keys.pending(reporter),
            self.keys.sends(reporter),
        ]
        args = [progress.version, progress.started, self.ttl, now, SENDS_A_DAY]
        args += [x for kv in fields.items() for x in kv]
        result = await self.db.call(self._create.run(keys, args))
        status = Created(text(result[0]))
        return status, Case.decode(result[1]) if len(result) > 1 else None

    async def change(
        self,
        reporter: UserKey,
        case_id: str,
        values: Mapping[str, str | int],
        once: str = "",
        by: UserKey | None = None,
    ) -> Change:
        """Set `values` on the case, in one step; with `once`, only while those fields
        (space-separated) are all unset; with `by`, only if `by` may act on it (the person
        told, or the one it was escalated to)."""
        args: list[str | int] = [case_id, user_id(by) if by else "", self.ttl, once]
        args += [x for kv in values.items() for x in kv]
        result = await self.db.call(self._change.run([self.keys.case(reporter)], args))
        status = Changed(text(result[0]))
        return Change(status, Case.decode(result[1]) if len(result) > 1 else None)

    async def remove(
        self, reporter: UserKey, case_id: str = "", unsent_only: bool = False
    ) -> Case | None:
        """Delete the case (and any pending preview); returns what was deleted."""
        keys = [self.keys.case(reporter), self.keys.pending(reporter)]
        args = [case_id, "1" if unsent_only else ""]
        flat = await self.db.call(self._remove.run(keys, args))
        return Case.decode(flat) if flat else None

    async def note(self, reporter: UserKey, case_id: str, code: str) -> None:
        """Record that `code` happened now (a follow-up answered), if the case is still
        there: shown in the record with its time."""
        args = [case_id, f"{code}@{self.now()}", self.ttl, MOST_EVENTS]
        await self.db.call(self._note.run([self.keys.case(reporter)], args))

    # --- the preview waiting for a typed "yes" -------------------------------------------

    async def pend(self, reporter: UserKey, token: str, person: str) -> None:
        key = self.keys.pending(reporter)
        await self.db.call(self.redis.set(key, f"{token}|{person}", ex=3600))

    async def pending(self, reporter: UserKey) -> tuple[str, str] | None:
        raw = await self.db.call(self.redis.get(self.keys.pending(reporter)))
        if not raw:
            return None
        token, _, person = text(raw).partition("|")
        return token, person

    async def forget_pending(self, reporter: UserKey) -> None:
        await self.db.call(self.redis.delete(self.keys.pending(reporter)))

    # --- the person told's keys: another slot, each in a step of its own -------------------

    async def point(self, lead: UserKey, reporter: UserKey, case_id: str) -> None:
        """Best effort: it only lists the lead's reports for `status`."""
        with contextlib.suppress(*DOWN):
            key = self.keys.leads(lead)
            await self.redis.hset(key, reporter.user, case_id)
            await self.redis.expire(key, self.ttl)

    async def unpoint(self, lead: UserKey, reporter: UserKey) -> None:
        with contextlib.suppress(*DOWN):
            await self.redis.hdel(self.keys.leads(lead), reporter.user)

    async def pointed(self, lead: UserKey) -> list[UserKey]:
        """The reporters whose reports `lead` was told of (as far as the pointers know)."""
        try:
            raw = await self.redis.hkeys(self.keys.leads(lead))
        except DOWN:
            return []
        return [UserKey(lead.platform, lead.workspace, text(u)) for u in raw]

    async def first_click(self, person: UserKey, click: str) -> bool:
        """Whether this is `person`'s first `click` (action, item and report) in the last
        `CLICK_WINDOW` seconds; noted if so, in one script, so of two at once one is first."""
        key = self.keys.clicks(person)
        args = [click, self.now(), CLICK_WINDOW, CLICK_WINDOW * 12]
        return bool(await self.db.call(self._first_click.run([key], args)))

    async def copied(self, person: UserKey, refs: list[str], reports: tuple[str, ...]) -> None:
        """Messages now in `person`'s chat that show these reports."""
        key = self.keys.copies(person)
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(key, mapping=dict.fromkeys(refs, " ".join(reports)))
        pipe.expire(key, self.ttl)
        await self.db.call(pipe.execute())

    async def forget_copies(self, person: UserKey, report: str) -> list[str]:
        """Every message of `person`'s that shows `report`, forgotten and returned, and their
        walk-through of it deleted. Best effort, after the case itself is gone: a failure
        here must not stop the withdrawal reaching the report's own message."""
        keys = [self.keys.copies(person), self.keys.user(person), self.keys.message(person)]
        try:
            refs = await self._forget_copies.run(keys, [report])
        except DOWN as exc:
            log.warning("copies not withdrawn", extra={"error": type(exc).__name__})
            return []
        return [text(r) for r in refs]

    async def reseal(self, cipher: Cipher) -> tuple[int, int]:
        """Every reference number sealed with an old key, sealed again with the current one,
        so the old key can be dropped: how many were resealed, and how many no key opens.
        Only once every worker knows the current key (`rotate-key`)."""
        resealed = unreadable = 0
        async for key in self.redis.scan_iter(match=self.keys.every_case(), count=1000):
            fields = await self.redis.hgetall(key)
            for name, sealed in fields.items():
                if not text(name).startswith(REFERENCE) or cipher.is_current(sealed):
                    continue
                try:
                    again = cipher.reseal(sealed)
                except InvalidToken:
                    unreadable += 1
                    continue
                resealed += await self._reseal.run([text(key)], [text(name), sealed, again])
        return resealed, unreadable
