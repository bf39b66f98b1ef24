"""Counting reports for the governors' termly summary, as things happen to them.

A count goes to the term the report was sent in, for its school, in the statistics store;
nothing of the case goes with it but the kinds of harassment and who the alleged perpetrator
was, as counts. Counting is best effort: a count that cannot be written is logged (never
which one) and never stops a turn.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from ..school import KEEP_DAYS
from ..storage import Case, Statistics, StoreUnavailable
from ..terms import school_term_of
from ..views import View

log = logging.getLogger("conversation.telling")

WHOLE_SCHOOL = "school"
"""The statistics id of `[school]` (or of no school file at all): a school table's id
otherwise, its Slack team or Teams tenant id."""

KINDS = "types"
PERPETRATOR = "perpetrator"
"""The steps whose answers are counted: the kinds of harassment, who the perpetrator was."""


def school_key(case: Case) -> str:
    return case.school or WHOLE_SCHOOL


class Counting:
    def __init__(self, statistics: Statistics) -> None:
        self.statistics = statistics

    async def sent(self, view: View, case: Case) -> None:
        answers = dict(case.answer_pairs)
        counts = {"sent": 1}
        counts |= {f"k:{kind}": 1 for kind in answers.get(KINDS, ())}
        counts |= {f"p:{who}": 1 for who in answers.get(PERPETRATOR, ())}
        await self._add(view, case, counts)

    async def acknowledged(self, view: View, case: Case) -> None:
        took = case.acknowledged - case.sent if case.sent else 0
        await self._add(view, case, {"acked": 1}, ack=took)

    async def completed(self, view: View, case: Case) -> None:
        """Every step of it marked done."""
        await self._add(view, case, {"done": 1})

    async def withdrawn(self, view: View, case: Case) -> None:
        await self._add(view, case, {"withdrawn": 1})

    async def escalated(self, view: View, case: Case) -> None:
        """Sent on to someone else (the follow-ups' escalation calls this)."""
        await self._add(view, case, {"escalated": 1})

    async def _add(
        self, view: View, case: Case, counts: Mapping[str, int], ack: int | None = None
    ) -> None:
        if not case.sent:
            return  # never sent: nothing to count
        summary = view.school.summary if view.school else None
        term = school_term_of(view.school, case.sent)
        keep_days = summary.keep_days if summary else KEEP_DAYS
        now = self.statistics.db.now()
        keep = max(1, term.closes_at - now + keep_days * 86_400)
        try:
            await self.statistics.add(school_key(case), term.name, counts, keep, ack)
        except StoreUnavailable:
            log.warning("statistics not counted")  # which counts would say an answer
