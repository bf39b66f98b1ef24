"""Follow-ups over Teams' HTTP: a timer reaches people through the Connector stand-in at the
service URL their tenant's activities came from, checked against the allowed hosts again
when it sends; every card it sends passes Microsoft's own validator."""

from __future__ import annotations

import tomllib
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient

from bot.config import Settings
from conversation import school
from conversation.runner import Runner, build
from conversation.storage import Keys
from conversation.ticker import Ticker
from tests.drivers.connector import Call, Connector
from tests.drivers.followups import CONTENT, DAY, MONDAY, Clock, at
from tests.drivers.leads import Lead, all_actions, with_data
from tests.drivers.leads import card_words as words
from tests.drivers.leads import press_card as press
from tests.drivers.teams_user import TENANT, UNAUTHENTICATED, TeamsUser, poster, serve

from .adaptive_cards import problems
from .school_files import GOVERNOR_TEAMS, LEAD_TEAMS, LEADS_SCHOOL


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def runner(redis, prefix: str, clock: Clock) -> Runner:
    schools = school.parse(tomllib.loads(LEADS_SCHOOL), "school.toml")
    return build(redis, prefix=prefix, schools=schools, clock=clock)


@pytest.fixture
async def http(runner: Runner) -> AsyncIterator[TestClient]:
    async with serve(Settings(teams=UNAUTHENTICATED), runner) as client_:
        yield client_


@pytest.fixture
def ticker(runner: Runner, http: TestClient) -> Ticker:
    return Ticker(runner)


@pytest.fixture
def alice(http: TestClient, connector: Connector) -> TeamsUser:
    return TeamsUser(poster(http), connector)


@pytest.fixture
def lee(http: TestClient, connector: Connector) -> Lead:
    return Lead(poster(http), connector)


def with_act(connector: Connector, chat: str | None, **want: str) -> list[Call]:
    return [
        c
        for c in connector.sent_to(chat or "")
        if c.card
        and any(all(a["data"].get(k) == v for k, v in want.items()) for a in all_actions(c.card))
    ]


async def test_lee_is_reminded_in_teams_and_acknowledges_from_the_reminder(
    alice: TeamsUser, lee: Lead, connector: Connector, clock: Clock, ticker: Ticker
) -> None:
    await alice.walk(CONTENT)
    await press(alice, with_data(connector, alice.chat, "tell"), tell="leads.0")
    preview = with_data(connector, alice.chat, "send")
    assert "I can send it to **Gwen Governor** too" in words([preview])  # no deputies: a governor
    assert await press(alice, preview, escalate="leads.0") == 201
    await at(clock, ticker, MONDAY + DAY)
    (reminder,) = with_act(connector, lee.chat, act="ack")[1:]
    assert "A report is waiting for you" in words([reminder])
    assert await press(lee, reminder, act="ack") == 201
    told = connector.sent_to(connector.chat_with(alice.aad) or "")
    assert "Lee Leader has acknowledged your report" in told[-1].text.replace("**", "")

    # Two days on, alice is asked about the content, in the 1:1 chat made for her object id.
    await at(clock, ticker, MONDAY + 2 * DAY)
    chat = connector.chat_with(alice.aad)
    (question,) = with_act(connector, chat, follow="not_yet")
    asked = TeamsUser(alice._post, connector)
    asked.chat = chat or ""
    assert await press(asked, question, follow="not_yet") == 201
    assert "Report Harmful Content" in words(connector.sent_to(chat or "")[-1:])
    (answered,) = connector.updates(chat or "")
    assert answered.activity_id == question.created and not all_actions(answered.card)
    for day in range(3, 9):
        await at(clock, ticker, MONDAY + day * DAY)
    assert connector.chat_with(GOVERNOR_TEAMS) is None  # acknowledged: it never went further
    cards = [(f"{c.method} {i}", c.card) for i, c in enumerate(connector.calls) if c.card]
    assert problems(cards) == {}


async def test_a_service_url_no_longer_allowed_is_refused_when_a_timer_sends(
    alice: TeamsUser, connector: Connector, clock: Clock, ticker: Ticker, redis, prefix, caplog
) -> None:
    await alice.walk(CONTENT)
    await press(alice, with_data(connector, alice.chat, "tell"), tell="leads.0")
    await press(alice, with_data(connector, alice.chat, "send"), send="leads.0")
    key = Keys(prefix).teams_tenant(TENANT)
    assert (await redis.hget(key, "url")).decode() == connector.url
    await redis.hset(key, "url", "https://attacker.example.com/")
    before = len(connector.calls)
    await at(clock, ticker, MONDAY + DAY)
    assert len(connector.calls) == before
    assert "teams outbox refused" in caplog.text and "attacker" not in caplog.text
    assert connector.chat_with(LEAD_TEAMS) is not None  # the report itself went, earlier


async def test_escalated_to_the_governor_in_teams_every_card_valid(
    alice: TeamsUser, connector: Connector, clock: Clock, ticker: Ticker
) -> None:
    await alice.walk(CONTENT)
    await press(alice, with_data(connector, alice.chat, "tell"), tell="leads.0")
    await press(alice, with_data(connector, alice.chat, "send"), escalate="leads.0")
    for day in range(1, 8):
        await at(clock, ticker, MONDAY + day * DAY)
    mine = connector.chat_with(alice.aad)
    (warning,) = with_act(connector, mine, topic="escalation")
    assert "send it to **Gwen Governor** on 5 March 2026, 10:00" in words([warning])
    escalated, digest = connector.sent_to(connector.chat_with(GOVERNOR_TEAMS) or "")
    assert "Your reports this week" in words([digest])  # Gwen holds it now
    assert "<at>the member of staff</at> asked me to tell Lee Leader" in words([escalated])
    assert [a["data"]["act"] for a in all_actions(escalated.card)][-3:] == ["ack", "walk", "record"]
    lees = connector.sent_to(connector.chat_with(LEAD_TEAMS) or "")
    assert [
        c for c in lees if "Your reports this week" in c.text or "reports this week" in words([c])
    ]
    cards = [(f"{c.method} {i}", c.card) for i, c in enumerate(connector.calls) if c.card]
    assert problems(cards) == {}
