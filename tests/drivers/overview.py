"""The lead's overview as the tests set it up: a school with a governors' summary, a clock
in term that the test moves on, and a reference number to add."""

from __future__ import annotations

import tomllib
from datetime import datetime

from conversation import school
from conversation.dates import ZONE

from ..school_files import LEADS_SCHOOL

SCHOOL = LEADS_SCHOOL + '\n[school.summary]\ngovernor = "Gwen Governor"\n'
OCTOBER = datetime(2026, 10, 5, 9, 0, tzinfo=ZONE).timestamp()
REFERENCE = "12/3456/26"


class Clock:
    """The one clock every date comes from: set by the test, moved on by `later`."""

    def __init__(self, at: float = OCTOBER) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at

    def later(self, seconds: float) -> None:
        self.at += seconds


def schools() -> school.Schools:
    return school.parse(tomllib.loads(SCHOOL), "school.toml")
