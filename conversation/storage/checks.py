"""The follow-up asking whether harmful content came down: one hash under the user's hash tag.

It holds codes and times only: the stage (1: after reporting it to the platform, 2: after
Report Harmful Content), the token of the question open now (a second click on it, or a
click on an older one, is stale), when it was asked, and each option chosen with its time
(`h`, "1.not_yet@1760000000 ..."), for `status` and the record. Every change is one script,
beside the user's progress (same slot), so asking and answering never cross: a question is
asked only while the conversation it follows still exists and nobody said stop.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from ..messages import UserKey
from .db import Db, text

# KEYS: the user's progress, their follow-up. ARGV: now, a new token, ttl.
_ASK = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {'gone'} end
for _, field in ipairs({'stop', 'removed', 'over'}) do
  if redis.call('HEXISTS', KEYS[2], field) == 1 then return {'over'} end
end
local stage = redis.call('HGET', KEYS[2], 'stage') or '1'
if redis.call('HGET', KEYS[2], 'open') == '1' then
  redis.call('EXPIRE', KEYS[2], ARGV[3])
  return {'again', redis.call('HGETALL', KEYS[2])}
end
redis.call('HSET', KEYS[2], 'stage', stage, 'token', ARGV[2], 'open', 1, 'asked', ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return {'asked', redis.call('HGETALL', KEYS[2])}
"""

# KEYS[1] the follow-up. ARGV: the token answered ('' for any: "stop reminders" typed while
# no question is open), the answer's code, now, ttl, most answers kept, then fields to set.
_ANSWER = """
local open = redis.call('HGET', KEYS[1], 'open') == '1'
local stopped = redis.call('HEXISTS', KEYS[1], 'stop') == 1
if stopped or (ARGV[1] ~= '' and (not open or redis.call('HGET', KEYS[1], 'token') ~= ARGV[1])) then
  return {'stale', redis.call('HGETALL', KEYS[1])}
end
local stage = redis.call('HGET', KEYS[1], 'stage') or '1'
local kept = {}
for entry in string.gmatch(redis.call('HGET', KEYS[1], 'h') or '', '%S+') do
  table.insert(kept, entry)
end
table.insert(kept, stage .. '.' .. ARGV[2] .. '@' .. ARGV[3])
while #kept > tonumber(ARGV[5]) do table.remove(kept, 1) end
redis.call('HSET', KEYS[1], 'open', 0, 'stage', stage, 'h', table.concat(kept, ' '))
if #ARGV > 5 then redis.call('HSET', KEYS[1], unpack(ARGV, 6)) end
redis.call('EXPIRE', KEYS[1], ARGV[4])
return {'applied', redis.call('HGETALL', KEYS[1])}
"""

MOST_ANSWERS = 20
"""Answers kept in the history: far more than anyone gives (a few snoozes, then an end)."""


class Asked(StrEnum):
    ASKED = "asked"
    AGAIN = "again"
    """Asked before and not answered: a claim that ran out re-sends the same question."""
    OVER = "over"
    """Stopped, removed, or every stage done: nothing to ask."""
    GONE = "gone"
    """The conversation it follows was deleted or has expired."""


@dataclass(frozen=True, slots=True)
class Check:
    """The follow-up as stored."""

    stage: int = 1
    token: str = ""
    open: bool = False
    asked: int = 0
    stopped: int = 0
    removed: int = 0
    over: int = 0
    history: tuple[tuple[int, str, int], ...] = ()
    """(stage, answer code, time), oldest first."""

    @property
    def finished(self) -> bool:
        return bool(self.stopped or self.removed or self.over)

    @classmethod
    def decode(cls, flat: list) -> Check:
        raw = {text(flat[i]): text(flat[i + 1]) for i in range(0, len(flat), 2)}
        history = []
        for entry in raw.get("h", "").split():
            said, _, at = entry.partition("@")
            stage, _, code = said.partition(".")
            history.append((int(stage), code, int(at)))
        return cls(
            stage=int(raw.get("stage", 1)),
            token=raw.get("token", ""),
            open=raw.get("open") == "1",
            asked=int(raw.get("asked", 0)),
            stopped=int(raw.get("stop", 0)),
            removed=int(raw.get("removed", 0)),
            over=int(raw.get("over", 0)),
            history=tuple(history),
        )


class Checks:
    def __init__(self, db: Db, ttl_seconds: int) -> None:
        self.db = db
        self.keys = db.keys
        self.ttl = ttl_seconds
        self._ask = db.script(_ASK)
        self._answer = db.script(_ANSWER)

    async def get(self, user: UserKey) -> Check | None:
        flat = await self.db.call(self.db.redis.hgetall(self.keys.follow(user)))
        return Check.decode([x for kv in flat.items() for x in kv]) if flat else None

    async def ask(self, user: UserKey, token: str) -> tuple[Asked, Check | None]:
        """Open the next question with `token`, if there is one to ask."""
        keys = [self.keys.user(user), self.keys.follow(user)]
        result = await self.db.call(self._ask.run(keys, [self.db.now(), token, self.ttl]))
        status = Asked(text(result[0]))
        return status, Check.decode(result[1]) if len(result) > 1 else None

    async def answer(
        self, user: UserKey, token: str, code: str, values: Mapping[str, str | int]
    ) -> tuple[bool, Check | None]:
        """Record an answer to the question `token` opened ("" for whichever, or none),
        with `values` set beside it; False (and nothing changed) when it is stale."""
        args: list[str | int] = [token, code, self.db.now(), self.ttl, MOST_ANSWERS]
        args += [x for kv in values.items() for x in kv]
        result = await self.db.call(self._answer.run([self.keys.follow(user)], args))
        check = Check.decode(result[1]) if len(result) > 1 and result[1] else None
        return text(result[0]) == "applied", check

    async def forget(self, user: UserKey) -> None:
        await self.db.call(self.db.redis.delete(self.keys.follow(user)))
