"""Dates and times as people in English schools read them, in UK time.

Every dated line the bot shows goes through `when`, and every time it is given comes from
the one injected clock, so that a test with a fixed clock can check each line exactly.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo

try:
    from zoneinfo import ZoneInfo

    ZONE: tzinfo = ZoneInfo("Europe/London")
except Exception:  # no time zone data on this system: UTC, and said so
    ZONE = UTC


def when(seconds: int) -> str:
    """A time as people in English schools read it: 3 March 2025, 14:02 (24-hour)."""
    at = datetime.fromtimestamp(seconds, ZONE)
    return f"{at.day} {at:%B %Y}, {at:%H:%M}" + ("" if ZONE is not UTC else " UTC")
