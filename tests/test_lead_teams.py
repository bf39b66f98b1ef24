"""Telling the person who leads, over Teams' HTTP: activities in as the Connector sends
them, the Connector stand-in recording every message, a real Redis holding the case.

The member of staff (alice) finishes the guide in her 1:1 chat, chooses the school's lead
(Lee), sees exactly what Lee would get and sends it; Lee's 1:1 chat (created for his Entra
object id) gets one card, which he acknowledges and ticks; `delete my data` withdraws it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient

from bot.config import Settings
from bot.delete_data import Deleted, delete_data
from conversation.runner import Runner
from conversation.storage import Db, Keys, Store
from tests.drivers.connector import Call, Connector
from tests.drivers.leads import (
    HEAD_AFFECTED,
    LEAD_LEADS,
    Lead,
    all_actions,
    telling_engine,
    with_data,
)
from tests.drivers.leads import card_words as words
from tests.drivers.leads import press_card as press
from tests.drivers.standin import Gate
from tests.drivers.teams_user import TENANT, UNAUTHENTICATED, TeamsUser, poster, serve

from .adaptive_cards import problems
from .school_files import LEAD_TEAMS


@pytest.fixture
def runner(store: Store) -> Runner:
    return telling_engine(store)


@pytest.fixture
async def http(runner: Runner) -> AsyncIterator[TestClient]:
    async with serve(Settings(teams=UNAUTHENTICATED), runner) as client_:
        yield client_


@pytest.fixture
def alice(http: TestClient, connector: Connector) -> TeamsUser:
    return TeamsUser(poster(http), connector)


@pytest.fixture
def lee(http: TestClient, connector: Connector) -> Lead:
    return Lead(poster(http), connector)


async def case_of(redis, prefix: str, user: TeamsUser) -> dict[bytes, bytes]:
    return await redis.hgetall(f"{prefix}:{{teams:{TENANT}:{user.aad}}}:case")


async def sent_to_lee(alice: TeamsUser, connector: Connector) -> Call:
    await alice.walk(LEAD_LEADS)
    offer = with_data(connector, alice.chat, "tell")
    assert await press(alice, offer, tell="leads.0") == 201
    preview = with_data(connector, alice.chat, "send")
    assert connector.chat_with(LEAD_TEAMS) is None
    assert await press(alice, preview, send="leads.0") == 201
    (report,) = connector.sent_to(connector.chat_with(LEAD_TEAMS) or "")
    return report


async def test_nothing_reaches_the_lead_before_send_then_one_card_in_their_chat(
    alice: TeamsUser, connector: Connector, redis, prefix: str
) -> None:
    await alice.walk(LEAD_LEADS)
    offer = with_data(connector, alice.chat, "tell")
    assert [a["title"] for a in all_actions(offer.card)] == [
        "Tell Lee Leader",
        "Tell Lena Second",
        "Tell Gwen Governor",
    ]
    assert await press(alice, offer, tell="leads.0") == 201
    preview = with_data(connector, alice.chat, "send")
    assert "Direct the staff member to support" in words([preview])
    assert connector.created() == [] and not await case_of(redis, prefix, alice)

    assert await press(alice, preview, send="leads.0") == 201
    (created,) = connector.created()
    assert created.body["members"] == [{"id": LEAD_TEAMS}] and not created.body.get("isGroup")
    (report,) = connector.sent_to(created.created)
    shown = words([report])
    assert "<at>Alice</at> asked me to tell you" in shown
    (entity,) = report.card["msteams"]["entities"]
    assert entity["mentioned"]["id"] == alice.aad and entity["text"] == "<at>Alice</at>"
    assert "Direct the staff member to support" in shown and "oak.example.org" in shown
    assert "Sent to Lee Leader" in connector.sent_to(alice.chat)[-1].text.replace("**", "")
    case = await case_of(redis, prefix, alice)
    assert case[b"lead"] == f"teams:{TENANT}:{LEAD_TEAMS}".encode()
    assert case[b"msg"] == f"{created.created}\n{report.created}".encode()

    assert await press(alice, preview, send="leads.0") == 201  # doubled: still one
    assert len(connector.sent_to(created.created)) == 1
    assert "already told" in connector.sent_to(alice.chat)[-1].text


async def test_the_governor_is_offered_first_when_the_head_or_lead_is_affected(
    alice: TeamsUser, connector: Connector
) -> None:
    await alice.walk(HEAD_AFFECTED)
    offer = with_data(connector, alice.chat, "tell")
    assert all_actions(offer.card)[0]["data"]["tell"] == "governors.0"


async def test_lee_acknowledges_and_ticks_both_sides_see_it(
    alice: TeamsUser, lee: Lead, connector: Connector, redis, prefix: str
) -> None:
    report = await sent_to_lee(alice, connector)
    assert await press(lee, report, act="ack") == 201
    (update,) = connector.updates(lee.chat)
    assert update.activity_id == report.created and "Acknowledged" in words([update])
    assert not [a for a in all_actions(update.card) if a["data"].get("act") == "ack"]
    told = connector.sent_to(connector.chat_with(alice.aad) or "")
    assert "Lee Leader has acknowledged your report" in told[-1].text.replace("**", "")
    assert b"ack" in await case_of(redis, prefix, alice)
    assert await press(lee, report, act="ack") == 201  # a second click: nothing changes
    assert len(connector.updates(lee.chat)) == 1
    assert "acknowledged this report already" in connector.sent_to(lee.chat)[-1].text

    assert await press(lee, update, act="done", item="police") == 201
    last = connector.updates(lee.chat)[-1]
    assert "Done:" in words([last])
    assert not [a for a in all_actions(last.card) if a["data"].get("item") == "police"]
    assert b"d:police" in await case_of(redis, prefix, alice)
    assert (
        'marked "Police involvement" done'
        in connector.sent_to(connector.chat_with(alice.aad) or "")[-1].text
    )

    assert await alice.say("status") == 201
    record = connector.sent_to(alice.chat)[-2].text
    assert "Told: Lee Leader," in record and "- Police involvement: done " in record

    assert await press(lee, last, act="walk") == 201
    assert "Checklist for handling this case" in words(connector.sent_to(lee.chat)[-3:])
    check_cards_valid(connector)


async def test_delete_my_data_withdraws_the_report_from_the_leads_chat(
    alice: TeamsUser, lee: Lead, connector: Connector, redis, prefix: str
) -> None:
    report = await sent_to_lee(alice, connector)
    assert await alice.say("delete my data") == 201
    assert not await case_of(redis, prefix, alice)
    withdrawn = connector.updates(lee.chat)[-1]
    assert withdrawn.activity_id == report.created
    assert "has withdrawn this report" in words([withdrawn]) and not all_actions(withdrawn.card)
    assert "Direct the staff member" not in words([withdrawn])
    for want in ({"act": "ack"}, {"act": "done", "item": "support"}, {"act": "walk"}):
        assert await press(lee, report, **want) == 201
        assert "isn't available to you" in connector.sent_to(lee.chat)[-1].text
    assert len(connector.updates(lee.chat)) == 1
    check_cards_valid(connector)


async def test_an_admin_deletes_a_persons_data_and_their_report_is_withdrawn(
    alice: TeamsUser, lee: Lead, connector: Connector, runner: Runner, redis, prefix: str
) -> None:
    """`python -m bot delete-data` in Teams: the person's own `delete my data`, said in the
    1:1 chat the bot finds for them, the lead's card replaced."""
    report = await sent_to_lee(alice, connector)
    done = await delete_data(runner, alice.key)
    assert done == Deleted(told=True, withdrawn=True, replaced=1, refused=0)
    left = [k async for k in redis.scan_iter(f"{prefix}:{{teams:{TENANT}:{alice.aad}}}*")]
    assert [k.decode().rpartition(":")[2] for k in left] == ["sends"]
    withdrawn = connector.updates(lee.chat)[-1]
    assert withdrawn.activity_id == report.created
    assert "has withdrawn this report" in words([withdrawn]) and not all_actions(withdrawn.card)
    # The 1:1 chat found for her Entra object id, as a timer reaches her.
    chat = connector.chat_with(alice.aad)
    assert chat and "report is withdrawn too" in words(connector.sent_to(chat))
    check_cards_valid(connector)


def check_cards_valid(connector: Connector) -> None:
    """Every card of the telling (the offer, the preview, the report and its updates, the
    withdrawn one) as Microsoft's own Adaptive Cards library reads it."""
    cards = [(f"{c.method} {i}", c.card) for i, c in enumerate(connector.calls) if c.card]
    assert len(cards) > 5
    assert problems(cards) == {}


async def test_a_stale_offer_sends_nothing(alice: TeamsUser, connector: Connector) -> None:
    await alice.walk(LEAD_LEADS)
    offer = with_data(connector, alice.chat, "tell")
    await press(alice, offer, tell="leads.0")
    preview = with_data(connector, alice.chat, "send")
    assert await alice.say("restart") == 201
    assert await press(alice, preview, send="leads.0") == 201
    assert "belongs to an earlier conversation" in words(connector.sent_to(alice.chat)[-2:])
    assert connector.created() == []


async def test_a_lead_without_the_app_gets_a_clear_answer_and_the_text_to_forward(
    alice: TeamsUser, connector: Connector, redis, prefix: str
) -> None:
    connector.unreachable.add(LEAD_TEAMS)
    await alice.walk(LEAD_LEADS)
    await press(alice, with_data(connector, alice.chat, "tell"), tell="leads.0")
    await press(alice, with_data(connector, alice.chat, "send"), send="leads.0")
    said = words(connector.sent_to(alice.chat)[-2:])
    assert "I couldn't send it" in said and "Direct the staff member to support" in said
    assert not await case_of(redis, prefix, alice)


async def test_a_submit_with_a_case_that_is_not_a_string_is_refused(
    alice: TeamsUser, redis, prefix: str
) -> None:
    assert await alice.post(alice.activity(value={"case": ["x"], "act": "ack"}, text="")) == 400
    assert await alice.post(alice.activity(value={"tell": 1, "token": "t"}, text="")) == 400


ORDERS = {
    "acknowledged, then withdrawn": ("ack", None),
    "withdrawn, then acknowledged": ("withdraw", None),
    "acknowledged, drawn over the withdrawal": ("ack", "Acknowledged"),
    "withdrawn, drawn over the acknowledgement": ("withdraw", "has withdrawn"),
}
"""Who goes first, and (for a race) which words the first one's update of Lee's card
carries: that update is held at the Connector until the other has finished, so it lands last."""


@pytest.mark.parametrize("order", ORDERS)
async def test_acknowledge_and_withdraw_on_two_workers_end_withdrawn_in_every_order(
    connector: Connector, redis, prefix: str, order: str
) -> None:
    def worker() -> TestClient:
        store = Store(Db(redis, Keys(prefix)), ttl_seconds=30 * 86_400)
        return serve(Settings(teams=UNAUTHENTICATED), telling_engine(store))

    async with worker() as one, worker() as two:
        alice = TeamsUser(poster(one), connector)
        lee = Lead(poster(two), connector)
        report = await sent_to_lee(alice, connector)
        turns = {
            "ack": lambda: press(lee, report, act="ack"),
            "withdraw": lambda: alice.say("delete my data"),
        }
        first, held = ORDERS[order]
        second = turns["withdraw" if first == "ack" else "ack"]
        if held is None:
            await turns[first]()
            await second()
        else:
            gate = Gate(
                lambda method, args: (
                    args["activity"] == report.created and held in json.dumps(args["body"])
                )
            )
            connector.before = gate
            running = asyncio.create_task(turns[first]())
            await asyncio.wait_for(gate.reached.wait(), 10)
            await second()
            gate.open()
            await running
        assert not await case_of(redis, prefix, alice)
        mine = [u for u in connector.updates(lee.chat) if u.activity_id == report.created]
        assert mine and "has withdrawn this report" in words([mine[-1]])
        assert not all_actions(mine[-1].card)
