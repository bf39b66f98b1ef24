"""Telling the person who leads, over Slack's HTTP: signed requests in, the Web API stand-in
recording every message, a real Redis holding the case.

The member of staff (alice) finishes the guide, is offered to tell the school's lead (Lee),
sees exactly what Lee would get, and sends it; Lee's DM gets one message, which Lee
acknowledges and ticks; alice's `status` shows the dated record; `delete my data` withdraws it.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.delete_data import Deleted, delete_data
from bot.web import create_app
from conversation.messages import UserKey
from conversation.runner import Runner, build
from conversation.storage import Db, Keys, Store
from tests.drivers.leads import (
    HANDLING,
    HEAD_AFFECTED,
    LEAD_DM,
    LEAD_LEADS,
    buttons,
    case_of,
    press,
    sent_to_lee,
    shown,
    telling_engine,
    with_button,
)
from tests.drivers.slack_api import SlackApi
from tests.drivers.slack_user import TEAM, SlackUser, poster, seen, settings_for
from tests.drivers.standin import Gate


@pytest.fixture
def runner(store: Store) -> Runner:
    """Telling on, for a school whose lead can be messaged."""
    return telling_engine(store)


async def test_nothing_reaches_the_lead_before_send_then_one_message_in_their_dm(
    alice: SlackUser, api: SlackApi, redis, prefix: str
) -> None:
    await alice.walk(LEAD_LEADS)
    offer = with_button(api, alice.dm, "tell:")
    labels = [b["text"]["text"] for b in buttons(offer)]
    assert labels == ["Tell Lee Leader", "Tell Lena Second", "Tell Gwen Governor"]
    assert "nominated lead, *Lee Leader*" in shown([offer])
    assert await press(alice, offer, "tell:leads.0") == 200
    preview = with_button(api, alice.dm, "tell-send")
    text = shown([preview])
    assert "exactly what *Lee Leader* will receive" in text
    assert f"<@{alice.id}> asked me to tell you" in text
    assert "Direct the staff member to support" in text  # worded for the person handling it
    assert api.to(LEAD_DM) == [] and not await case_of(redis, prefix, alice)

    assert await press(alice, preview, "tell-send") == 200
    (report,) = api.posted(LEAD_DM)
    text = shown([report])
    assert f"<@{alice.id}> asked me to tell you" in text
    assert "Direct the staff member to support" in text
    assert "https://oak.example.org/policies/behaviour" in text  # the school's own link
    assert "Your checklist" not in text and "you are being" not in text
    assert "Sent to *Lee Leader*" in api.posted(alice.dm)[-1].text.replace("**", "*") or (
        "Sent to Lee Leader" in api.posted(alice.dm)[-1].text
    )
    case = await case_of(redis, prefix, alice)
    assert case[b"lead"] == b"slack:T0SCHOOL:U0LEAD" and int(case[b"sent"]) > 0
    assert case[b"msg"] == f"{LEAD_DM}\n{report.response['ts']}".encode()
    assert b"Lee" not in b"".join(case.values())  # no names, only ids and times
    ttl = await redis.ttl(f"{prefix}:{{slack:{TEAM}:{alice.id}}}:case")
    assert 89 * 86_400 < ttl <= 90 * 86_400

    # A doubled Send, and the preview's Send pressed again later: still one message.
    assert await press(alice, preview, "tell-send") == 200
    assert len(api.posted(LEAD_DM)) == 1
    assert "already told" in api.posted(alice.dm)[-1].text


async def test_typed_yes_sends_and_not_now_sends_nothing(alice: SlackUser, api: SlackApi) -> None:
    await alice.walk(LEAD_LEADS)
    offer = with_button(api, alice.dm, "tell:")
    await press(alice, offer, "tell:leads.1")
    preview = with_button(api, alice.dm, "tell-send")
    await press(alice, preview, "tell-not-now")
    assert "Nothing has been sent" in api.posted(alice.dm)[-2].text
    assert await alice.say("yes") == 200  # the preview was put away: yes answers nothing
    assert api.to("DU0LEADTWO") == []
    await press(alice, offer, "tell:leads.1")  # that offer's token is spent: stale
    assert "earlier conversation" in api.posted(alice.dm)[-2].text
    assert api.to("DU0LEADTWO") == []
    assert await alice.say("send it again") == 200  # the offer again, with a fresh token
    await press(alice, with_button(api, alice.dm, "tell:"), "tell:leads.1")
    assert await alice.say("yes") == 200
    assert len(api.posted("DU0LEADTWO")) == 1


async def test_the_governor_is_offered_first_when_the_head_or_lead_is_affected(
    alice: SlackUser, api: SlackApi
) -> None:
    await alice.walk(HEAD_AFFECTED)
    offer = with_button(api, alice.dm, "tell:")
    assert buttons(offer)[0]["action_id"] == "tell:governors.0"
    assert "governor or trustee should manage your case" in shown([offer])


async def test_no_offer_for_someone_handling_it_for_a_colleague(
    alice: SlackUser, api: SlackApi
) -> None:
    await alice.walk(HANDLING)
    assert not any(b["action_id"].startswith("tell:") for c in api.posted() for b in buttons(c))


async def test_lee_acknowledges_and_ticks_items_both_sides_see_it_and_times_are_kept(
    alice: SlackUser, lee: SlackUser, api: SlackApi, redis, prefix: str
) -> None:
    report = await sent_to_lee(alice, api)
    assert await press(lee, report, "case:ack") == 200
    (update,) = api.updates(LEAD_DM)
    assert update.args["ts"] == report.response["ts"]
    assert "Acknowledged" in shown([update]) and not any(
        b["action_id"] == "case:ack" for b in buttons(update)
    )
    assert (
        "*Lee Leader* has acknowledged your report"
        in api.posted(alice.dm)[-1].text.replace("**", "*")
        or "Lee Leader has acknowledged your report" in api.posted(alice.dm)[-1].text
    )
    acked = int((await case_of(redis, prefix, alice))[b"ack"])

    # A second click on the old message: nothing changes, Lee is told it is done already.
    assert await press(lee, report, "case:ack") == 200
    assert len(api.updates(LEAD_DM)) == 1
    assert int((await case_of(redis, prefix, alice))[b"ack"]) == acked
    assert "acknowledged this report already" in api.posted(LEAD_DM)[-1].text

    assert await press(lee, update, "case:done:police") == 200
    last = api.updates(LEAD_DM)[-1]
    assert "Done:" in shown([last]) and not any(
        b["action_id"] == "case:done:police" for b in buttons(last)
    )
    assert 'marked "Police involvement" done' in api.posted(alice.dm)[-1].text
    case = await case_of(redis, prefix, alice)
    assert int(case[b"d:police"]) >= acked
    await press(lee, update, "case:done:police")  # stale: the item is done already
    assert "marked done already" in api.posted(LEAD_DM)[-1].text
    assert (await case_of(redis, prefix, alice))[b"d:police"] == case[b"d:police"]

    assert await alice.say("status") == 200
    status = api.posted(alice.dm)[-2].text  # the record, then the question again
    assert "Told: Lee Leader," in status and "Acknowledged: " in status
    assert "- Police involvement: done " in status and "- Support: not yet" in status

    assert await press(lee, last, "case:record") == 200
    assert "Told: Lee Leader," in api.posted(LEAD_DM)[-1].text
    assert await lee.say("status") == 200  # the person told sees the reports they were sent
    assert "- Police involvement: done " in api.posted(LEAD_DM)[-1].text


async def test_someone_else_cannot_press_the_leads_buttons(
    alice: SlackUser, api: SlackApi, http: TestClient, redis, prefix: str
) -> None:
    report = await sent_to_lee(alice, api)
    mallory = SlackUser(poster(http), api, "mallory")
    assert await press(mallory, report, "case:ack") == 200
    assert b"ack" not in await case_of(redis, prefix, alice)
    assert api.updates(LEAD_DM) == []


async def test_walk_me_through_it_starts_the_leads_own_conversation_with_the_answers(
    alice: SlackUser, lee: SlackUser, api: SlackApi, redis, prefix: str
) -> None:
    report = await sent_to_lee(alice, api)
    assert await press(lee, report, "case:walk") == 200
    posted = api.posted(LEAD_DM)
    assert "Type *back* to change an answer" in shown(posted[-3:]).replace("**", "*")
    assert posted[-2].blocks[0]["type"] == "header"  # the checklist, for the person handling
    assert "Checklist for handling this case" in posted[-2].text
    progress = (await redis.get(f"{prefix}:{{slack:{TEAM}:U0LEAD}}")).decode()
    assert "role=handling" in progress and "types=calls" in progress
    assert await lee.say("back") == 200  # and it is theirs to change
    after = (await redis.get(f"{prefix}:{{slack:{TEAM}:U0LEAD}}")).decode()
    assert after.split("|")[3] == "calls" and "Abusive phone calls" in api.posted(LEAD_DM)[-1].text


async def test_delete_my_data_withdraws_the_report_and_clears_the_leads_message(
    alice: SlackUser, lee: SlackUser, api: SlackApi, redis, prefix: str
) -> None:
    report = await sent_to_lee(alice, api)
    await press(lee, report, "case:ack")
    assert await alice.say("delete my data") == 200
    assert not await case_of(redis, prefix, alice)
    assert await redis.hgetall(f"{prefix}:{{slack:{TEAM}:U0LEAD}}:leads") == {}
    withdrawn = api.updates(LEAD_DM)[-1]
    assert withdrawn.args["ts"] == report.response["ts"]
    assert "has withdrawn this report" in withdrawn.text and not buttons(withdrawn)
    assert "Direct the staff member" not in shown([withdrawn])
    assert "report is withdrawn too" in shown(api.posted(alice.dm)[-2:])
    updates = len(api.updates(LEAD_DM))
    for action in ("case:ack", "case:done:support", "case:walk", "case:record"):
        assert await press(lee, report, action) == 200
        assert "isn't available to you" in api.posted(LEAD_DM)[-1].text
    assert len(api.updates(LEAD_DM)) == updates


@pytest.mark.parametrize("reachable", [True, False], ids=["in the workspace", "gone"])
async def test_an_admin_deletes_a_persons_data_and_their_report_is_withdrawn(
    alice: SlackUser, api: SlackApi, runner: Runner, redis, prefix: str, reachable: bool
) -> None:
    """`python -m bot delete-data` is the person's own `delete my data`: every key of theirs
    goes and the lead's message says the report was withdrawn. Someone who has left is
    told nothing (Slack will not open their DM); the lead's copy is still replaced."""
    report = await sent_to_lee(alice, api)
    if not reachable:
        api.unreachable.add(alice.id)
    theirs = len(api.posted(alice.dm))
    done = await delete_data(runner, UserKey("slack", TEAM, alice.id))
    assert done == Deleted(told=reachable, withdrawn=True, replaced=1, refused=0)
    # Only the times of her recent Sends stay, for a day: deleting lifts no daily limit.
    left = [k async for k in redis.scan_iter(f"{prefix}:{{slack:{TEAM}:{alice.id}}}*")]
    assert [k.decode().rpartition(":")[2] for k in left] == ["sends"]
    assert await redis.hgetall(f"{prefix}:{{slack:{TEAM}:U0LEAD}}:leads") == {}
    withdrawn = api.updates(LEAD_DM)[-1]
    assert withdrawn.args["ts"] == report.response["ts"]
    assert "has withdrawn this report" in withdrawn.text and not buttons(withdrawn)
    said = api.posted(alice.dm)[theirs:]
    if reachable:
        assert "report is withdrawn too" in shown(said)
    else:
        assert said == []
    assert "withdrawn (1 message replaced)" in done.line()


async def test_a_stale_offer_sends_nothing(alice: SlackUser, api: SlackApi) -> None:
    await alice.walk(LEAD_LEADS)
    offer = with_button(api, alice.dm, "tell:")
    await press(alice, offer, "tell:leads.0")
    preview = with_button(api, alice.dm, "tell-send")
    assert await alice.say("restart") == 200
    for call, action in ((offer, "tell:leads.0"), (preview, "tell-send")):
        assert await press(alice, call, action) == 200
        assert "belongs to an earlier conversation" in api.posted(alice.dm)[-2].text
    assert api.to(LEAD_DM) == []


async def test_a_lead_slack_cannot_reach_gets_a_clear_answer_and_the_text_to_forward(
    alice: SlackUser, api: SlackApi, redis, prefix: str
) -> None:
    api.unreachable.add("U0LEAD")
    await alice.walk(LEAD_LEADS)
    await press(alice, with_button(api, alice.dm, "tell:"), "tell:leads.0")
    await press(alice, with_button(api, alice.dm, "tell-send"), "tell-send")
    assert api.posted(LEAD_DM) == []
    said = shown(api.posted(alice.dm)[-2:])
    assert "I couldn't send it" in said and "Direct the staff member to support" in said
    assert not await case_of(redis, prefix, alice)  # so they can try again later


async def test_a_school_with_nobody_to_message_offers_the_text_to_forward(
    api: SlackApi, store: Store
) -> None:
    engine = build(store.redis, prefix=store.keys.prefix)
    async with TestClient(TestServer(create_app(settings_for(api), engine))) as http:
        alice = SlackUser(poster(http), api)
        await alice.walk(LEAD_LEADS)
        offer = with_button(api, alice.dm, "tell:")
        assert [b["action_id"] for b in buttons(offer)] == ["tell:forward"]
        assert "headteacher or nominated lead should manage your case" in shown([offer])
        await press(alice, offer, "tell:forward")
        assert "Direct the staff member to support" in api.posted(alice.dm)[-2].text
        assert [
            c for c in api.calls if c.method == "conversations.open" and c.args["users"] != alice.id
        ] == []


ORDERS = {
    "acknowledged, then withdrawn": ("ack", None),
    "withdrawn, then acknowledged": ("withdraw", None),
    "acknowledged, drawn over the withdrawal": ("ack", "Acknowledged"),
    "withdrawn, drawn over the acknowledgement": ("withdraw", "has withdrawn"),
}
"""Who goes first, and (for a race) which words the first one's update of Lee's message
carries: that update is held at the Web API until the other has finished, so it lands last."""


@pytest.mark.parametrize("order", ORDERS)
async def test_acknowledge_and_withdraw_on_two_workers_end_withdrawn_in_every_order(
    api: SlackApi, redis, prefix: str, order: str
) -> None:
    """Lee's click on one worker and alice's `delete my data` on another: in each order, the
    case is gone and the last thing Lee's message shows is the withdrawal. Each order is
    forced, never hoped for: a held update lands after the other worker's whole turn."""
    apps = [
        TestClient(
            TestServer(
                create_app(
                    settings_for(api),
                    telling_engine(Store(Db(redis, Keys(prefix)), ttl_seconds=30 * 86_400)),
                )
            )
        )
        for _ in range(2)
    ]
    async with apps[0] as one, apps[1] as two:
        alice = SlackUser(poster(one), api)
        lee_on_two = SlackUser(poster(two), api, "0lead")
        report = await sent_to_lee(alice, api)
        ts = report.response["ts"]
        turns = {
            "ack": lambda: press(lee_on_two, report, "case:ack"),
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
                    method == "chat.update" and args.get("ts") == ts and held in json.dumps(args)
                )
            )
            api.before = gate
            running = asyncio.create_task(turns[first]())
            await asyncio.wait_for(gate.reached.wait(), 10)
            await second()
            gate.open()
            await running
        assert not await case_of(redis, prefix, alice)
        mine = [u for u in api.updates(LEAD_DM) if u.args["ts"] == ts]
        assert mine and "has withdrawn this report" in seen([mine[-1]])
        assert not buttons(mine[-1])


async def test_two_mark_done_clicks_on_two_workers_both_count(
    api: SlackApi, redis, prefix: str
) -> None:
    apps = [
        TestClient(
            TestServer(
                create_app(
                    settings_for(api),
                    telling_engine(Store(Db(redis, Keys(prefix)), ttl_seconds=30 * 86_400)),
                )
            )
        )
        for _ in range(2)
    ]
    async with apps[0] as one, apps[1] as two:
        alice = SlackUser(poster(one), api)
        await alice.walk(LEAD_LEADS)
        await press(alice, with_button(api, alice.dm, "tell:"), "tell:leads.0")
        await press(alice, with_button(api, alice.dm, "tell-send"), "tell-send")
        (report,) = api.posted(LEAD_DM)
        lee_one = SlackUser(poster(one), api, "0lead")
        lee_two = SlackUser(poster(two), api, "0lead")
        await asyncio.gather(
            press(lee_one, report, "case:done:support"), press(lee_two, report, "case:done:police")
        )
        case = await case_of(redis, prefix, alice)
        assert b"d:support" in case and b"d:police" in case and int(case[b"v"]) == 4
        last = api.updates(LEAD_DM)[-1]
        done_buttons = {b["action_id"] for b in buttons(last)}
        assert "case:done:support" not in done_buttons and "case:done:police" not in done_buttons
        told = [c.text for c in api.posted(alice.dm) if "marked" in c.text]
        assert len(told) == 2
