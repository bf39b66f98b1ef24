"""What the school sees, over Teams' HTTP: the `reports` command, reference numbers, and the
record as files (a file consent card, the file put into OneDrive once accepted). Activities
in as the Connector sends them, the Connector stand-in recording every message, a real Redis,
and one clock for every date.

Alice and Carol tell the school's lead (Lee); Bob tells the second lead (Lena).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient

from bot.config import Settings
from bot.teams_package import build_manifest
from conversation.runner import Runner, build
from conversation.storage import Cipher
from tests.drivers.connector import Connector
from tests.drivers.leads import press_card as press
from tests.drivers.overview import (
    REFERENCE,
    Clock,
    Holder,
    case_of,
    cases_in,
    consent,
    overview,
    schools,
    tell,
)
from tests.drivers.teams_user import TENANT, UNAUTHENTICATED, TeamsUser, poster, serve

from .adaptive_cards import problems
from .school_files import LEAD_TEAMS, SECOND_TEAMS


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def runner(redis, prefix: str, clock: Clock) -> Runner:
    return build(redis, prefix=prefix, schools=schools(), clock=clock, cipher=Cipher.ephemeral())


@pytest.fixture
async def http(runner: Runner) -> AsyncIterator[TestClient]:
    async with serve(Settings(teams=UNAUTHENTICATED), runner) as client_:
        yield client_


@pytest.fixture
def staff(http: TestClient, connector: Connector):
    def make(name: str) -> TeamsUser:
        return TeamsUser(poster(http), connector, name)

    return make


@pytest.fixture
def lee(http: TestClient, connector: Connector) -> Holder:
    return Holder(poster(http), connector, "lee", LEAD_TEAMS)


@pytest.fixture
def lena(http: TestClient, connector: Connector) -> Holder:
    return Holder(poster(http), connector, "lena", SECOND_TEAMS)


# --- `reports` ------------------------------------------------------------------------------------


async def test_reports_lists_exactly_the_leads_own_reports(
    staff, lee: Holder, lena: Holder, connector: Connector, clock: Clock, redis, prefix: str
) -> None:
    alice, bob, carol = staff("alice"), staff("bob"), staff("carol")
    await tell(alice, connector)
    clock.later(3600)
    await tell(bob, connector, "leads.1")
    clock.later(3600)
    await tell(carol, connector)
    mine = {case_of(connector, lee, alice), case_of(connector, lee, carol)}

    card = await overview(lee)
    assert cases_in(card) == mine
    shown = json.dumps(card.card)
    assert "Sent: 5 October 2026, 11:00" in shown and "Steps done: 0 of " in shown
    assert {e["mentioned"]["id"] for e in card.card["msteams"]["entities"]} == {
        alice.aad,
        carol.aad,
    }
    assert problems([("reports", card.card)]) == {}
    assert cases_in(await overview(lena)) == {case_of(connector, lena, bob)}
    alices = await overview(alice)  # a reporter holds none: their `status` is theirs
    assert cases_in(alices) == set() and "No report is waiting" in json.dumps(alices.card)
    assert problems([("no reports", alices.card)]) == {}

    # A pointer to Bob's report in Lee's keys shows Lee nothing of it.
    bobs = case_of(connector, lena, bob).partition(".")[0]
    await redis.hset(f"{prefix}:{{teams:{TENANT}:{LEAD_TEAMS}}}:leads", bob.aad, bobs)
    assert cases_in(await overview(lee)) == mine

    # Acknowledged from the overview: the same buttons as the report's own.
    card = await overview(lee)
    assert await press(lee, card, act="ack", case=case_of(connector, lee, alice)) == 201
    case = await redis.hgetall(f"{prefix}:{{teams:{TENANT}:{alice.aad}}}:case")
    assert b"ack" in case
    assert "Acknowledged: 5 October 2026, 11:00" in json.dumps((await overview(lee)).card)


async def test_reports_from_a_channel_answers_only_in_the_leads_own_chat(
    staff, lee: Holder, connector: Connector
) -> None:
    await tell(staff("alice"), connector)
    assert await lee.say("reports", chat="19:staffroom@thread.tacv2", kind="channel") == 201
    (said,) = connector.sent_to("19:staffroom@thread.tacv2")
    assert said.text == "I've messaged you privately." and not said.card
    # The 1:1 chat the bot opened with Lee (by the id the channel gave for him).
    (card,) = connector.sent_to(connector.chat_with(lee.id) or "")
    assert "From <at>" in json.dumps(card.card) and cases_in(card)


async def test_reports_sent_again_by_teams_is_answered_once(
    staff, lee: Holder, connector: Connector
) -> None:
    """Teams re-sends an activity it saw no answer to within 15 seconds, with the same id:
    the overview is the reports' turn, not the conversation's, and is still answered once."""
    await tell(staff("alice"), connector)
    activity = lee.activity(text="reports", textFormat="plain")
    assert await lee.post(activity) == 201
    before = len(connector.sent_to(lee.chat))
    assert await lee.post(activity) in (200, 201)
    assert len(connector.sent_to(lee.chat)) == before


# --- reference numbers ----------------------------------------------------------------------------


async def test_a_reference_with_a_bad_character_is_refused_in_teams_too(
    staff, connector: Connector, redis, prefix: str
) -> None:
    alice = staff("alice")
    await tell(alice, connector)
    key = f"{prefix}:{{teams:{TENANT}:{alice.aad}}}:case"
    before = await redis.hgetall(key)
    assert await alice.say("reference police 12\\3456") == 201
    refused = connector.sent_to(alice.chat)[-2].text
    assert "letters, digits, - and /" in refused and "nothing was added" in refused
    assert await redis.hgetall(key) == before
    assert await alice.say(f"reference phone {REFERENCE}") == 201
    assert await alice.say("status") == 201
    assert f"- Phone company: {REFERENCE} (added 5 October 2026, 09:00)" in (
        connector.sent_to(alice.chat)[-2].text
    )
    assert await alice.say("delete my data") == 201
    assert await redis.hgetall(key) == {}


# --- the record as a file -------------------------------------------------------------------------


async def test_the_record_as_a_file_matches_the_record_in_the_chat(
    staff, lee: Holder, connector: Connector, clock: Clock
) -> None:
    alice = staff("alice")
    await tell(alice, connector)
    await alice.say(f"reference police {REFERENCE}")
    clock.later(86_400)
    card = await overview(lee)
    ref = case_of(connector, lee, alice)
    before = len(connector.sent_to(lee.chat))
    assert await press(lee, card, act="record", case=ref) == 201
    text, txt, table = connector.sent_to(lee.chat)[before:]
    record = text.text
    assert "Told: Lee Leader, 5 October 2026, 09:00" in record and REFERENCE in record
    names = [c.body["attachments"][0]["name"] for c in (txt, table)]
    assert names == ["report-record-2026-10-06.txt", "report-record-2026-10-06.csv"]
    assert {c.body["attachments"][0]["contentType"] for c in (txt, table)} == {
        "application/vnd.microsoft.teams.card.file.consent"
    }

    # Declined: nothing is uploaded. Accepted: the file, made again from the report.
    assert await lee.post(consent(lee, txt, "decline")) == 200
    assert connector.uploads == {}
    for card_call, name in ((txt, names[0]), (table, names[1])):
        url = connector.upload_url(name)
        assert await lee.post(consent(lee, card_call, url=url)) == 200
    assert connector.uploads[names[0]].decode() == record + "\n"
    rows = list(csv.reader(io.StringIO(connector.uploads[names[1]].decode())))
    assert rows[0] == ["entry", "detail", "date"] and len(rows) - 1 == len(record.split("\n"))
    for (_, detail, date), line in zip(rows[1:], record.split("\n"), strict=True):
        assert detail in line and date in line
    infos = [c for c in connector.sent_to(lee.chat) if c.body.get("attachments")]
    info = [
        a for c in infos for a in c.body["attachments"] if a["contentType"].endswith("file.info")
    ]
    assert [a["name"] for a in info] == names

    # An upload address that is not OneDrive's is refused, and nothing is put anywhere.
    bad = consent(lee, txt, url="https://attacker.example.org/upload")
    assert await lee.post(bad) == 403

    # Withdrawn: the consent cards say so, and accepting one uploads nothing.
    assert await alice.say("delete my data") == 201
    replaced = {u.activity_id for u in connector.updates(lee.chat)}
    assert {txt.created, table.created} <= replaced
    connector.uploads.clear()
    assert await lee.post(consent(lee, txt, url=connector.upload_url(names[0]))) == 200
    assert connector.uploads == {}
    assert "isn't available to you" in connector.sent_to(lee.chat)[-1].text


def test_the_teams_package_has_the_reports_command_and_supports_files() -> None:
    (bot,) = build_manifest("00000000-0000-4000-8000-000000000000", {})["bots"]
    personal, elsewhere = bot["commandLists"]
    assert personal["scopes"] == ["personal"]
    assert [c["title"] for c in personal["commands"]] == ["report-harassment", "reports"]
    assert [c["title"] for c in elsewhere["commands"]] == ["report-harassment"]
    assert bot["supportsFiles"] is True
