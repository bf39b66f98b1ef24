"""What is due next on a report, for the overview of the person who holds it.

The follow-ups (reminders to the lead, escalation, the member of staff's follow-ups) fill this
in from their timers; until they exist nothing is ever due, and the overview says nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..messages import UserKey
from ..storage import Case, Cases


@dataclass(frozen=True, slots=True)
class Due:
    what: str
    """What will happen, as the person holding the report reads it ("A reminder to you")."""
    at: int
    """When, in epoch seconds."""


async def next_due(cases: Cases, reporter: UserKey, case: Case) -> Due | None:
    """The next thing due on `reporter`'s report `case`, or None when nothing is."""
    return None
