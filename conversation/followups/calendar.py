"""The school's clock: when an interval ends, and when a message may go.

Everything is worked out in Europe/London wall-clock time, so "1 working day" after Friday
15:00 is Monday 15:00 whether or not the clocks changed over the weekend, and quiet hours
end at 08:00 as the school's clocks show it. Working days skip weekends, England's bank
holidays (the kept `holidays` package: no list of dates to keep up to date here) and the
school's own `closed` days. Times go in and come out as seconds since the epoch, from the
one injected clock.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from datetime import time as wall

import holidays

from ..dates import ZONE
from ..school import School
from ..timing import DEFAULT, Duration, FollowUp, Weekly

MAX_DAYS = 800
"""Days searched for a working day before giving up: more than any school's closures."""


class Calendar:
    def __init__(self, settings: FollowUp) -> None:
        self.settings = settings
        self._bank = holidays.country_holidays("GB", subdiv="ENG")  # years filled on demand

    def working(self, day: date) -> bool:
        """A school day: not a weekend, an English bank holiday, or one of `closed`."""
        if day.weekday() >= 5 or day in self._bank:
            return False
        return not any(first <= day <= last for first, last in self.settings.closed)

    def after(self, t: int, interval: Duration) -> int:
        """When `interval` from `t` ends: seconds are seconds; working days land on the
        same wall-clock time of the n-th working day after `t`'s day."""
        if not interval.working_days:
            return t + interval.seconds
        return self._step(t, interval.working_days, 1)

    def before(self, t: int, interval: Duration) -> int:
        """When an `interval` ending at `t` began (the same rules, backwards)."""
        if not interval.working_days:
            return t - interval.seconds
        return self._step(t, interval.working_days, -1)

    def _step(self, t: int, days: int, direction: int) -> int:
        at = datetime.fromtimestamp(t, ZONE)
        day = at.date()
        for _ in range(MAX_DAYS):
            day += timedelta(days=direction)
            if self.working(day):
                days -= 1
                if days == 0:
                    return _at(day, at.time())
        raise ValueError("no working day within MAX_DAYS: the school file closes every day")

    def quiet(self, t: int) -> bool:
        hours = self.settings.quiet_hours
        if hours is None:
            return False
        at = datetime.fromtimestamp(t, ZONE)
        minute, (start, end) = at.hour * 60 + at.minute, hours
        if start > end:  # across midnight: 18:00 to 08:00
            return minute >= start or minute < end
        return start <= minute < end

    def deliverable(self, t: int) -> int:
        """`t`, or, when that falls in quiet hours, the morning they end."""
        if not self.quiet(t):
            return t
        assert self.settings.quiet_hours is not None
        start, end = self.settings.quiet_hours
        at = datetime.fromtimestamp(t, ZONE)
        day = at.date()
        if start > end and at.hour * 60 + at.minute >= start:
            day += timedelta(days=1)
        return _at(day, wall(end // 60, end % 60))

    def next_weekly(self, t: int, weekly: Weekly) -> int:
        """The first time after `t` that is `weekly`'s weekday and time, in UK time; when
        that day is not a working day (a bank holiday, a closure), the next working day's."""
        at = datetime.fromtimestamp(t, ZONE)
        day = at.date() + timedelta(days=(weekly.weekday - at.weekday()) % 7)
        time_of_day = wall(weekly.minute // 60, weekly.minute % 60)
        if _at(day, time_of_day) <= t:
            day += timedelta(days=7)
        for _ in range(MAX_DAYS):
            if self.working(day) or day.weekday() >= 5:  # a weekend digest is the school's choice
                return _at(day, time_of_day)
            day += timedelta(days=1)
        return _at(day, time_of_day)


def _at(day: date, time_of_day: wall) -> int:
    return int(datetime.combine(day, time_of_day, tzinfo=ZONE).timestamp())


class Calendars:
    """Each school's calendar, made once (the defaults' where there is no school file)."""

    def __init__(self) -> None:
        self._made: dict[FollowUp, Calendar] = {}
        # The first calendar imports `holidays`' data for the UK (about 0.1 s): at start-up,
        # not in the turn that first finishes a guide.
        self.of(None)

    def of(self, school: School | None) -> Calendar:
        settings = school.follow_up if school else DEFAULT
        if (found := self._made.get(settings)) is None:
            found = self._made[settings] = Calendar(settings)
        return found
