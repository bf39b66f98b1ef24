"""Follow-ups as the tests drive them: Oak School (a lead, a deputy and a governor, all on
Slack), the paths that reach the lead, a clock the test sets, and the report sent and the
nudges read from the Web API stand-in."""

from __future__ import annotations

import tomllib
from datetime import datetime

from conversation import school
from conversation.dates import ZONE
from conversation.ticker import Ticker

from ..helpers import path_where
from .leads import buttons, press, with_button
from .slack_api import Call, SlackApi
from .slack_user import SlackUser

LEAD_DM, DEPUTY_DM, GOVERNOR_DM = "DU0LEAD", "DU0DEP", "DU0GOV"
CONTENT = path_where(
    role=("affected",), perpetrator=("parent",), lead=("no",), police=("no",), types=("content",)
)
CALLS = path_where(role=("affected",), perpetrator=("pupil",), lead=("no",), types=("calls",))

SCHOOL = """
[school]
name = "Oak School"

[[school.leads]]
name = "Lee Leader"
role = "Assistant head"
slack = "U0LEAD"

[[school.deputies]]
name = "Dana Deputy"
role = "Deputy head"
slack = "U0DEP"

[[school.governors]]
name = "Gwen Governor"
role = "Chair of governors"
slack = "U0GOV"
"""


def local(text: str) -> int:
    """A UK wall-clock time, as seconds since the epoch."""
    return int(datetime.fromisoformat(text).replace(tzinfo=ZONE).timestamp())


MONDAY = local("2026-03-02 10:00")
"""A Monday in term, with no bank holiday that week."""
DAY = 86_400


class Clock:
    """The one clock the bot reads; the test sets it or moves it on."""

    def __init__(self, at: float = MONDAY) -> None:
        self.at = float(at)

    def __call__(self) -> float:
        return self.at

    def set(self, at: float) -> None:
        self.at = float(at)

    def later(self, seconds: float) -> None:
        self.at += seconds


def oak(extra: str = "") -> school.Schools:
    return school.parse(tomllib.loads(SCHOOL + extra), "school.toml")


async def send(alice: SlackUser, api: SlackApi, path=CALLS, escalate: bool = False) -> Call:
    """alice finishes, chooses Lee, and presses Send (or the Send that agrees to escalation)."""
    await alice.walk(path)
    await press(alice, with_button(alice.api, alice.dm, "tell:"), "tell:leads.0")
    preview = with_button(api, alice.dm, "tell-send")
    assert await press(alice, preview, "tell-send-esc" if escalate else "tell-send") == 200
    (report,) = api.posted(LEAD_DM)
    return report


async def at(clock: Clock, ticker: Ticker, when: int) -> int:
    clock.set(when)
    return await ticker.tick()


def nudges(api: SlackApi, channel: str, action: str) -> list[Call]:
    return [c for c in api.posted(channel) if any(b["action_id"] == action for b in buttons(c))]
