"""Counts and times for the governors' termly summary: a store of its own, never the case.

Per school and term, one hash of counts (`sent`, `k:<kind>`, `p:<who>`, `acked`, `done`,
`withdrawn`, `escalated`) and beside it a list of the seconds each report took to be
acknowledged. Nothing in them names a person, a report or an answer of one report: a count
is added to when something happens, and the case it came from is not written anywhere here,
so withdrawing a report leaves only numbers that were never its own. Both keys expire the
number of days the school file keeps them after their term ends.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .db import Db, text

ACKS = ":acks"


@dataclass(frozen=True, slots=True)
class Tally:
    """One school's term, as stored."""

    counts: Mapping[str, int]
    acks: tuple[int, ...]
    """Seconds from sent to acknowledged, one for each report acknowledged."""

    def count(self, name: str) -> int:
        return self.counts.get(name, 0)


class Statistics:
    def __init__(self, db: Db) -> None:
        self.db = db
        self.keys = db.keys

    async def add(
        self,
        school: str,
        term: str,
        counts: Mapping[str, int],
        keep_seconds: int,
        ack: int | None = None,
    ) -> None:
        """Add to the term's counts (and, with `ack`, one time to acknowledge), in one round
        trip; both keys then expire `keep_seconds` from now."""
        key = self.keys.statistics(school, term)
        pipe = self.db.redis.pipeline(transaction=False)
        for name, n in counts.items():
            pipe.hincrby(key, name, n)
        pipe.expire(key, keep_seconds)
        if ack is not None:
            pipe.rpush(key + ACKS, max(0, ack))
            pipe.expire(key + ACKS, keep_seconds)
        await self.db.call(pipe.execute())

    async def read(self, school: str, term: str) -> Tally:
        key = self.keys.statistics(school, term)
        pipe = self.db.redis.pipeline(transaction=False)
        pipe.hgetall(key)
        pipe.lrange(key + ACKS, 0, -1)
        counts, acks = await self.db.call(pipe.execute())
        return Tally(
            {text(k): int(v) for k, v in counts.items()},
            tuple(int(a) for a in acks),
        )
