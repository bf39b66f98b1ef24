"""What is due next on a report, for the overview of the person who holds it.

The follow-ups (a layer above) work it out from their timers (`FollowUps.next_due`); the
overview is given that as a `NextDue`, and says nothing where none is given.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ..messages import UserKey
from ..storage import Case


@dataclass(frozen=True, slots=True)
class Due:
    what: str
    """What will happen, as the person holding the report reads it ("A reminder to you")."""
    at: int
    """When, in epoch seconds."""


NextDue = Callable[[UserKey, Case], Awaitable[Due | None]]
"""What is due next on a reporter's report, if anything."""
