"""The kinds of timer, and the members each case or user has: a fixed few, so that all of a
case's timers are cancelled by their names, in one step, with no index to keep."""

from __future__ import annotations

from ..messages import UserKey
from ..storage import Timer

REMIND = ("remind1", "remind2")
"""Reminders to the person told: the first after `lead_reminder`, the second after the same
again. Each names the case; fired, each is recorded in the case as `r1`, `r2`."""
WARN = "warn"
"""The member of staff told that their report is about to go to the school's next person."""
ESCALATE = "escalate"
"""The report going to the school's next person (only where the member of staff agreed)."""
CHECK = "check"
"""Asking whether harmful content came down (one per user, whatever their case)."""
DIGEST = "digest"
"""A lead's weekly digest (one per person holding reports)."""

FOR_CASE = (*REMIND, WARN, ESCALATE)


def of_case(reporter: UserKey, case_id: str) -> list[Timer]:
    """Every timer a case can have."""
    return [Timer(kind, reporter, case_id) for kind in FOR_CASE]
