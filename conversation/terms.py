"""School terms in England, for the governors' termly summary: which term a date falls in, and
when each one ends.

A term is named `autumn-2026`, `spring-2027` or `summer-2027`. The terms tile the year: each
counts every day after the previous term's last day up to its own, holidays included, so
that every report is counted in exactly one term, and a summary sent on a term's last day
already holds all of it.

A term's last day is, in this order: the date the school file sets for it; else the day
before the school's closure (of a week or more) that begins the holiday near the usual end
(Christmas, Easter, the summer); else the usual end itself: 31 December, the Thursday before
Good Friday, 31 July.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from dateutil.easter import easter

from .dates import ZONE
from .school import School

SEASONS = ("spring", "summer", "autumn")
"""In the order they come in a calendar year."""
_NAME = re.compile(r"^(autumn|spring|summer)-(\d{4})$")
HOLIDAY = timedelta(days=7)
"""A closure at least this long is a holiday between terms (a single closed day is not)."""
NEAR = timedelta(days=21)
"""How far from a term's usual end a holiday may begin and still end that term."""

Closure = tuple[date, date]
"""A closure's first and last day."""


class BadTerm(ValueError):
    """Not a term's name: one line saying what one looks like."""


@dataclass(frozen=True, slots=True)
class Term:
    name: str
    after: date
    """The previous term's last day: this term counts the days after it."""
    last: date
    """This term's last day, counted."""

    def holds(self, day: date) -> bool:
        return self.after < day <= self.last

    @property
    def closes_at(self) -> int:
        """The moment the term is over (midnight after its last day, UK time), as epoch
        seconds: when its summary is complete, and due to be sent."""
        after = datetime.combine(self.last + timedelta(days=1), datetime.min.time(), ZONE)
        return int(after.timestamp())

    @property
    def season(self) -> str:
        return self.name.partition("-")[0]

    @property
    def year(self) -> int:
        return int(self.name.partition("-")[2])


def named(name: str) -> tuple[str, int]:
    """A term's season and year from its name; BadTerm if it is not one."""
    found = _NAME.match(name.strip().lower())
    if not found:
        raise BadTerm(f"{name!r} is not a term: use autumn-YYYY, spring-YYYY or summer-YYYY")
    return found[1], int(found[2])


def term(
    name: str, set_ends: Mapping[str, date] | None = None, closures: Sequence[Closure] = ()
) -> Term:
    """The term called `name`, with its days, for a school that sets `set_ends` (term name
    to last day) and closes on `closures`."""
    season, year = named(name)
    last = last_day(season, year, set_ends or {}, closures)
    before_season, before_year = _previous(season, year)
    after = last_day(before_season, before_year, set_ends or {}, closures)
    return Term(f"{season}-{year}", after, last)


def term_of(
    at: int, set_ends: Mapping[str, date] | None = None, closures: Sequence[Closure] = ()
) -> Term:
    """The term a moment (epoch seconds) is counted in."""
    day = datetime.fromtimestamp(at, ZONE).date()
    for year in (day.year, day.year + 1):
        for season in SEASONS:
            found = term(f"{season}-{year}", set_ends, closures)
            if found.holds(day):
                return found
    raise AssertionError("the terms tile the year")  # pragma: no cover


def school_term(school: School | None, name: str) -> Term:
    """The term called `name` at `school`: its set ends, and its closures (`[school.follow_up]
    closed`) telling where its holidays fall."""
    if school is None:
        return term(name)
    return term(name, school.summary.terms, school.follow_up.closed)


def school_term_of(school: School | None, at: int) -> Term:
    """The term a moment is counted in at `school`."""
    if school is None:
        return term_of(at)
    return term_of(at, school.summary.terms, school.follow_up.closed)


def last_day(
    season: str, year: int, set_ends: Mapping[str, date], closures: Sequence[Closure]
) -> date:
    if (day := set_ends.get(f"{season}-{year}")) is not None:
        return day
    usual = _usual_end(season, year)
    holidays = [(first, end) for first, end in closures if end - first + timedelta(1) >= HOLIDAY]
    near = [
        (first, end)
        for first, end in holidays
        if first - NEAR <= usual <= end + NEAR and first > usual - NEAR
    ]
    if not near:
        return usual
    first, _ = min(near, key=lambda c: abs((c[0] - usual).days))
    return first - timedelta(days=1)


def _usual_end(season: str, year: int) -> date:
    if season == "autumn":
        return date(year, 12, 31)
    if season == "spring":
        return easter(year) - timedelta(days=3)  # the Thursday before Good Friday
    return date(year, 7, 31)


def _previous(season: str, year: int) -> tuple[str, int]:
    i = SEASONS.index(season)
    return (SEASONS[i - 1], year) if i else (SEASONS[-1], year - 1)
