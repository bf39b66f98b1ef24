"""Bugs that once passed every test (issue 26), each checked where a person would notice it:
what Slack shows in its blocks, what a Teams card shows, and every dated line at a fixed
clock. `tests/mutations.py` plants each of these bugs again to see that they stay caught."""

from __future__ import annotations

import io
from datetime import datetime

import pytest
from aiohttp.test_utils import TestClient

from adapters.slack.uninstall import Uninstall
from bot.config import Settings
from bot.console import Screen
from conversation.dates import ZONE
from conversation.engine import Busy
from conversation.messages import Overview, UserKey
from conversation.runner import Runner, build
from conversation.storage import Store, Timer, Timers
from tests.drivers.connector import Connector
from tests.drivers.leads import (
    HEAD_AFFECTED,
    LEAD_DM,
    LEAD_LEADS,
    Lead,
    all_actions,
    button,
    card_words,
    press,
    press_card,
    with_button,
    with_data,
)
from tests.drivers.overview import Clock
from tests.drivers.slack_api import Call, SlackApi
from tests.drivers.slack_user import TEAM, SlackUser, poster, seen
from tests.drivers.teams_user import UNAUTHENTICATED, TeamsUser, serve
from tests.drivers.teams_user import poster as teams_poster

from .school_files import LEAD_TEAMS, leads_school


def local(text: str) -> float:
    """A time on the school's clock (UK time), written as people read it."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=ZONE).timestamp()


SENT = local("2026-03-03 09:30")
ACKNOWLEDGED = local("2026-03-04 14:05")


@pytest.fixture
def clock() -> Clock:
    return Clock(SENT)


@pytest.fixture
def runner(store: Store, clock: Clock) -> Runner:
    return build(store.redis, prefix=store.keys.prefix, schools=leads_school(), clock=clock)


async def sent_to_lee(alice: SlackUser, api: SlackApi) -> Call:
    await alice.walk(LEAD_LEADS)
    offer = with_button(api, alice.dm, "tell:")
    assert await press(alice, offer, "tell:leads.0") == 200
    assert await press(alice, with_button(api, alice.dm, "tell-send"), "tell-send") == 200
    (report,) = api.posted(LEAD_DM)
    return report


# --- Slack: what people see ----------------------------------------------------------------


async def test_the_record_dates_each_event_at_its_own_time_on_a_24_hour_clock(
    alice: SlackUser, lee: SlackUser, api: SlackApi, clock: Clock
) -> None:
    """Sent at 09:30 on 3 March, acknowledged at 14:05 the next day: alice's record and Lee's
    say so, each line with its own time (not the sent time twice, not 02:05)."""
    report = await sent_to_lee(alice, api)
    clock.at = ACKNOWLEDGED
    assert await press(lee, report, "case:ack") == 200
    clock.at = local("2026-03-05 08:00")
    for person, dm in ((alice, alice.dm), (lee, LEAD_DM)):
        before = len(api.posted(dm))
        assert await person.say("status") == 200
        record = seen(api.posted(dm)[before:])
        assert "Told: Lee Leader, 3 March 2026, 09:30" in record, person.id
        assert "Acknowledged: 4 March 2026, 14:05" in record, person.id
    # Lee's message, drawn again on his click, dates the acknowledgement too.
    (update,) = api.updates(LEAD_DM)
    assert "4 March 2026, 14:05" in seen([update])


async def test_someone_else_cannot_copy_the_record_or_be_walked_through_a_report(
    alice: SlackUser, api: SlackApi, http: TestClient, redis, store: Store
) -> None:
    """Only "I've got this" was tried by another user: the record and the walk-through hold
    the reporter's answers, and must be refused alike."""
    report = await sent_to_lee(alice, api)
    mallory = SlackUser(poster(http), api, "mallory")
    for action in ("case:record", "case:walk"):
        assert await mallory.act(mallory.action_payload(report, button(report, action))) == 200
    shown = seen(api.posted(mallory.dm))
    assert "Told: Lee Leader" not in shown and "Checklist for handling" not in shown
    assert "Abusive phone calls" not in shown
    assert await redis.get(store.keys.user(mallory.key)) is None  # no walk-through started
    assert api.updates(LEAD_DM) == []


async def test_an_affected_head_is_offered_the_governor_without_being_told_it_cannot_be(
    alice: SlackUser, api: SlackApi
) -> None:
    await alice.walk(HEAD_AFFECTED)
    offer = with_button(api, alice.dm, "tell:")
    shown = seen([offer])
    assert "At Oak School, that is *Gwen Governor*" in shown
    assert "can't message" not in shown
    assert button(offer, "tell:governors.0")["text"]["text"] == "Tell Gwen Governor"


async def test_the_leads_list_of_reports_expires_with_the_reports(
    alice: SlackUser, api: SlackApi, redis, store: Store
) -> None:
    await sent_to_lee(alice, api)
    key = store.keys.leads(UserKey("slack", TEAM, "U0LEAD"))
    assert await redis.hkeys(key) == [alice.id.encode()]
    assert 89 * 86_400 < await redis.ttl(key) <= 90 * 86_400


# --- Slack: retries and uninstalling ---------------------------------------------------------


async def test_a_retry_within_fifteen_minutes_is_answered_once_and_one_after_anew(
    alice: SlackUser, api: SlackApi, clock: Clock
) -> None:
    event = alice.event("hello")
    assert await alice.send_json(event) == 200
    answered = len(api.posted(alice.dm))
    assert answered
    clock.at += 2  # Slack's first retry comes seconds later
    assert await alice.send_json(event, **{"X-Slack-Retry-Num": "1"}) == 200
    assert len(api.posted(alice.dm)) == answered
    clock.at += 14 * 60  # still inside the window
    assert await alice.send_json(event, **{"X-Slack-Retry-Num": "2"}) == 200
    assert len(api.posted(alice.dm)) == answered
    clock.at += 2 * 60  # 16 minutes after the first: forgotten, so handled as new
    assert await alice.send_json(event, **{"X-Slack-Retry-Num": "3"}) == 200
    assert len(api.posted(alice.dm)) > answered


async def test_uninstalling_a_workspace_leaves_one_whose_id_starts_the_same(
    redis, store: Store
) -> None:
    t1 = [UserKey("slack", "T1", u) for u in ("U1", "U2")]
    t12 = UserKey("slack", "T12", "U1")
    for user in (*t1, t12):
        await redis.set(store.keys.user(user), "1|0|0|welcome|", ex=600)
        await redis.set(store.keys.message(user), "1|C|1", ex=600)
    timers = Timers(store.db)
    await timers.set([(Timer("remind", u, "c1"), 2_000_000_000) for u in (*t1, t12)])
    deleted = await Uninstall(store, None)(None, "T1", False)
    assert deleted == 4
    assert [await redis.exists(store.keys.user(u)) for u in t1] == [0, 0]
    assert await redis.exists(store.keys.user(t12), store.keys.message(t12)) == 2
    assert [await timers.due_at(Timer("remind", u, "c1")) for u in (*t1, t12)] == [
        None,
        None,
        2_000_000_000,
    ]


# --- Teams -------------------------------------------------------------------------------------


async def test_removing_the_teams_app_withdraws_the_report_from_the_leads_card(
    runner: Runner, connector: Connector, redis, store: Store
) -> None:
    async with serve(Settings(teams=UNAUTHENTICATED), runner) as http:
        alice = TeamsUser(teams_poster(http), connector)
        Lead(teams_poster(http), connector)
        await alice.walk(LEAD_LEADS)
        await press_card(alice, with_data(connector, alice.chat, "tell"), tell="leads.0")
        await press_card(alice, with_data(connector, alice.chat, "send"), send="leads.0")
        chat = connector.chat_with(LEAD_TEAMS) or ""
        (report,) = connector.sent_to(chat)
        assert all_actions(report.card)
        assert await alice.post(alice.activity(type="installationUpdate", action="remove")) in (
            200,
            201,
        )
    assert not await redis.exists(store.keys.case(alice.key))
    mine = [u for u in connector.updates(chat) if u.activity_id == report.created]
    assert mine, "the lead's card was left as it was"
    assert "has withdrawn this report" in card_words([mine[-1]])
    assert "Police involvement" not in card_words([mine[-1]])  # the checklist is gone
    assert not all_actions(mine[-1].card)


async def test_a_retry_after_a_failed_reports_turn_is_still_heard(redis, prefix: str) -> None:
    """A reports' turn claims its delivery before it runs; when it fails (here, as a turn
    that kept losing races does), the claim is given back, so the platform's retry of the
    same delivery is answered rather than taken for a duplicate."""
    runner = build(redis, prefix=prefix)
    assert runner.telling is not None
    user = UserKey("terminal", "local", f"{prefix}-lee")
    out = io.StringIO()
    real = runner.telling.overview

    async def busy_once(who: UserKey):
        runner.telling.overview = real  # type: ignore[method-assign]
        raise Busy()

    runner.telling.overview = busy_once  # type: ignore[method-assign]
    assert await runner.run(user, Overview(), Screen(out), delivery="d1") is None
    said = out.getvalue()
    assert said.strip()  # told the turn could not be taken
    turn = await runner.run(user, Overview(), Screen(out), delivery="d1")
    assert turn is not None and turn.replies and out.getvalue() != said
