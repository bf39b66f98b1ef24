"""Issue 25, finding 14 on Teams: a doubled click on a report's button that only sends (the
record, the walk-through, a file consent accepted) sends once, on one worker or two.
Activities in as the Connector sends them, its stand-in recording every message, a real
Redis, one clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient

from bot.config import Settings
from conversation.runner import Runner, build
from conversation.storage import Cipher
from conversation.storage.cases import CLICK_WINDOW
from tests.drivers.connector import Connector
from tests.drivers.leads import all_actions
from tests.drivers.leads import card_words as words
from tests.drivers.leads import press_card as press
from tests.drivers.overview import Clock, Holder, case_of, consent, overview, schools, tell
from tests.drivers.teams_user import TENANT, UNAUTHENTICATED, TeamsUser, poster
from tests.drivers.teams_user import serve as _serve

from .school_files import LEAD_TEAMS


def worker(redis, prefix: str, clock: Clock) -> Runner:
    return build(redis, prefix=prefix, schools=schools(), clock=clock, cipher=Cipher.ephemeral())


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def two_workers(redis, prefix: str, clock: Clock) -> AsyncIterator[list[TestClient]]:
    settings = Settings(teams=UNAUTHENTICATED)
    async with (
        _serve(settings, worker(redis, prefix, clock)) as one,
        _serve(settings, worker(redis, prefix, clock)) as two,
    ):
        yield [one, two]


async def test_a_doubled_click_on_record_walk_or_a_file_consent_sends_once(
    two_workers: list[TestClient], connector: Connector, clock: Clock
) -> None:
    alice = TeamsUser(poster(two_workers[0]), connector, "alice")
    lees = [Holder(poster(w), connector, "lee", LEAD_TEAMS) for w in two_workers]
    await tell(alice, connector)
    card = await overview(lees[0])
    ref = case_of(connector, lees[0], alice)

    async def twice(first: TeamsUser, second: TeamsUser, at_once: bool, **data: str) -> int:
        """Messages sent into Lee's chat by the same click made twice."""
        clock.later(CLICK_WINDOW)
        before = len(connector.sent_to(lees[0].chat))
        if at_once:
            await asyncio.gather(press(first, card, **data), press(second, card, **data))
        else:
            await press(first, card, **data)
            await press(second, card, **data)
        return len(connector.sent_to(lees[0].chat)) - before

    for data in ({"act": "record", "case": ref}, {"act": "walk", "case": ref}):
        clock.later(CLICK_WINDOW)
        before = len(connector.sent_to(lees[0].chat))
        await press(lees[0], card, **data)
        once = len(connector.sent_to(lees[0].chat)) - before
        assert once > 0
        for first, second, at_once in (
            (lees[0], lees[1], False),
            (lees[1], lees[0], False),
            (lees[0], lees[0], True),
            (lees[0], lees[1], True),
        ):
            assert await twice(first, second, at_once, **data) == once, (data, at_once)

    clock.later(CLICK_WINDOW)
    before = len(connector.sent_to(lees[0].chat))
    await press(lees[0], card, act="record", case=ref)
    txt = connector.sent_to(lees[0].chat)[before + 1]
    name = txt.body["attachments"][0]["name"]
    accept = consent(lees[0], txt, url=connector.upload_url(name))
    infos = len(connector.sent_to(lees[0].chat))
    assert await asyncio.gather(lees[0].post(accept), lees[1].post(accept)) == [200, 200]
    assert len(connector.sent_to(lees[0].chat)) == infos + 1  # one file card
    assert list(connector.uploads) == [name]
    clock.later(CLICK_WINDOW)
    # Accepted again later: new activities (the same one again would be Teams retrying it).
    again = [consent(lees[0], txt, url=connector.upload_url(name)) for _ in range(2)]
    assert await lees[1].post(again[0]) == 200 and await lees[0].post(again[1]) == 200
    assert len(connector.sent_to(lees[0].chat)) == infos + 2


async def test_a_withdrawal_replaces_every_copy_in_the_leads_chat_and_their_walk_through(
    two_workers: list[TestClient], connector: Connector, clock: Clock, redis, prefix: str
) -> None:
    """Finding 1 on Teams: the walk-through's cards, the record and its file consent cards
    all say the report was withdrawn; Lee's walk-through of it is deleted."""
    alice = TeamsUser(poster(two_workers[0]), connector, "alice")
    lee = Holder(poster(two_workers[0]), connector, "lee", LEAD_TEAMS)
    await tell(alice, connector)
    (report,) = connector.sent_to(lee.chat)
    ref = next(a["data"]["case"] for a in all_actions(report.card))
    await press(lee, report, act="walk", case=ref)
    await press(lee, report, act="record", case=ref)
    copies = connector.sent_to(lee.chat)[1:]
    assert len(copies) >= 5 and "Told: Lee Leader" in words(copies)
    lees = f"{prefix}:{{teams:{TENANT}:{LEAD_TEAMS}}}"
    assert await redis.get(lees) is not None

    clock.later(60)
    assert await alice.say("delete my data") == 201
    replaced = {u.activity_id: u for u in connector.updates(lee.chat)}
    for copy in copies:
        now = replaced[copy.created]
        assert "Told: Lee Leader" not in words([now]) and "Checklist for" not in words([now])
        if copy.card is not None or copy.text:
            assert "withdr" in words([now])
    assert "has withdrawn this report" in words([replaced[report.created]])
    assert await redis.get(lees) is None and await redis.hgetall(f"{lees}:copies") == {}
