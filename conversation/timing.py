"""The school's clock as its file writes it: durations, the digest's weekly time, quiet
hours and closures, read from text into plain values.

Only reading lives here (the school file's `[school.follow_up]`); the arithmetic with
weekends, bank holidays and the clock changes is `followups.calendar`'s. Each reader raises
`ValueError` with what is wrong (never the value), which `school` turns into its one line
naming the file and the key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86_400}
_DURATION = re.compile(r"^(\d{1,6})\s+(second|minute|hour|day|working day)s?$")
_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
LONGEST = 366 * 86_400
"""No interval may be longer than a year: anything longer is a typing mistake."""


@dataclass(frozen=True, slots=True)
class Duration:
    """An interval: so many seconds, or so many working days (never both)."""

    seconds: int = 0
    working_days: int = 0
    shown: str = field(default="", compare=False)
    """As the school file wrote it ("48 hours"), to say it back the same way."""

    def __str__(self) -> str:
        if self.shown:
            return self.shown
        if self.working_days:
            return _plural(self.working_days, "working day")
        for unit, size in reversed(UNITS.items()):
            if self.seconds % size == 0:
                return _plural(self.seconds // size, unit)
        return _plural(self.seconds, "second")  # pragma: no cover: seconds always divide


@dataclass(frozen=True, slots=True)
class Weekly:
    """A time each week, in UK time: `weekday` 0 is Monday; `minute` of the day."""

    weekday: int
    minute: int

    def __str__(self) -> str:
        return f"{WEEKDAYS[self.weekday].capitalize()}s {_hhmm(self.minute)}"


@dataclass(frozen=True, slots=True)
class FollowUp:
    """A school's `[school.follow_up]`: every key optional, with the issue's defaults."""

    lead_reminder: Duration = Duration(working_days=1)
    escalate_after: Duration = Duration(working_days=3)
    platform_check: Duration = Duration(seconds=48 * 3600)
    report_harmful_content: Duration = Duration(seconds=7 * 86_400)
    digest: Weekly | None = Weekly(0, 8 * 60 + 30)
    """None: no weekly digest."""
    quiet_hours: tuple[int, int] | None = (18 * 60, 8 * 60)
    """Minutes of the day from which nothing is sent, and until which; None: any time."""
    closed: tuple[tuple[date, date], ...] = ()
    """The school's own closures, first and last day included."""

    def lines(self) -> list[str]:
        """The settings as an admin reads them (`check-config`)."""
        quiet = "none: messages go at any time"
        if self.quiet_hours:
            quiet = f"{_hhmm(self.quiet_hours[0])} to {_hhmm(self.quiet_hours[1])}"
        closed = (
            ", ".join(str(a) if a == b else f"{a} to {b}" for a, b in self.closed)
            or "none besides weekends and bank holidays"
        )
        return [
            f"lead_reminder: {self.lead_reminder} (a second one after the same again)",
            f"escalate_after: {self.escalate_after} (only where the member of staff agreed)",
            f"platform_check: {self.platform_check}",
            f"report_harmful_content: {self.report_harmful_content}",
            f"digest: {self.digest or 'off'}",
            f"quiet_hours: {quiet}",
            f"closed: {closed}",
        ]


DEFAULT = FollowUp()


def duration(raw: object) -> Duration:
    """ "3 working days", "48 hours", "90 seconds": a whole number and a unit."""
    if not isinstance(raw, str):
        raise ValueError('must be text like "2 working days" or "48 hours"')
    found = _DURATION.match(" ".join(raw.lower().split()))
    if not found:
        raise ValueError(
            "must be a whole number and a unit: seconds, minutes, hours, days or working days"
        )
    count, unit = int(found[1]), found[2]
    if count < 1:
        raise ValueError("must be at least 1")
    if unit == "working day":
        if count > 260:
            raise ValueError("is longer than a year")
        return Duration(working_days=count, shown=_plural(count, unit))
    seconds = count * UNITS[unit]
    if seconds > LONGEST:
        raise ValueError("is longer than a year")
    return Duration(seconds=seconds, shown=_plural(count, unit))


def weekly(raw: object) -> Weekly | None:
    """ "monday 08:30" (a weekday and a 24-hour time), or false for none."""
    if raw is False:
        return None
    if not isinstance(raw, str):
        raise ValueError('must be a weekday and a time, like "monday 08:30", or false')
    parts = raw.lower().split()
    days = [
        i for i, d in enumerate(WEEKDAYS) if parts and len(parts[0]) >= 3 and d.startswith(parts[0])
    ]
    if len(parts) != 2 or len(days) != 1:
        raise ValueError('must be a weekday and a time, like "monday 08:30"')
    return Weekly(days[0], clock_time(parts[1]))


def clock_time(raw: object) -> int:
    """ "08:00": minutes since midnight."""
    found = _TIME.match(raw) if isinstance(raw, str) else None
    if not found:
        raise ValueError('times must be 24-hour, like "18:00"')
    return int(found[1]) * 60 + int(found[2])


def quiet_hours(raw: object) -> tuple[int, int] | None:
    """["18:00", "08:00"], or false for none."""
    if raw is False:
        return None
    if not isinstance(raw, list) or len(raw) != 2:
        raise ValueError('must be two times, like ["18:00", "08:00"], or false')
    start, end = clock_time(raw[0]), clock_time(raw[1])
    if start == end:
        raise ValueError("must start and end at different times")
    return start, end


def closures(raw: object) -> tuple[tuple[date, date], ...]:
    """["2026-12-21..2027-01-04", "2027-02-15"]: ranges of days, both ends included."""
    if not isinstance(raw, list):
        raise ValueError('must be a list of dates or ranges, like ["2026-12-21..2027-01-04"]')
    found = []
    for item in raw:
        if not isinstance(item, str):
            raise ValueError("each closure must be text: a date or first..last")
        first, _, last = item.strip().partition("..")
        start, end = _day(first), _day(last or first)
        if end < start:
            raise ValueError("a closure must end on or after the day it starts")
        found.append((start, end))
    return tuple(found)


def _day(raw: str) -> date:
    try:
        if not _DATE.match(raw.strip()):
            raise ValueError
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise ValueError("dates must be real days written YYYY-MM-DD") from None


def _plural(n: int, unit: str) -> str:
    return f"{n} {unit}{'' if n == 1 else 's'}"


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"
