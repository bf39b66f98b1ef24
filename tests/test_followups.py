"""Follow-ups over Slack's HTTP, with a real Redis and a clock the test sets.

The member of staff (alice) sends her report to the school's lead (Lee); time is stepped by
setting the clock and calling the ticker's `tick()`, as every worker's loop does once a
second. Lee is reminded when he does nothing, and never once he has acknowledged; the
report goes to the deputy (Dana) only if alice agreed, after she was told and could stop
it; alice is asked whether the harmful content came down, and walked on from there.
"""

from __future__ import annotations

import json
import tomllib

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.web import create_app
from conversation import school, terms
from conversation.runner import Runner, build
from conversation.storage import Keys, Timer, Timers
from conversation.ticker import Ticker
from tests.drivers.followups import (
    CALLS,
    CONTENT,
    DAY,
    DEPUTY_DM,
    GOVERNOR_DM,
    LEAD_DM,
    MONDAY,
    SCHOOL,
    Clock,
    at,
    nudges,
    oak,
    send,
)
from tests.drivers.leads import button, buttons, press, shown, with_button
from tests.drivers.slack_api import SlackApi
from tests.drivers.slack_user import TEAM, SlackUser, open_home, poster, settings_for


@pytest.fixture
def clock() -> Clock:
    return Clock()


def worker(redis, prefix: str, clock: Clock, schools: school.Schools | None = None) -> Runner:
    return build(redis, prefix=prefix, schools=schools or oak(), clock=clock)


@pytest.fixture
def runner(redis, prefix: str, clock: Clock) -> Runner:
    return worker(redis, prefix, clock)


@pytest.fixture
def ticker(runner: Runner, http: TestClient) -> Ticker:
    """This worker's ticker (the app registered Slack's outbox on the runner)."""
    return Ticker(runner)


@pytest.fixture
def dana(http: TestClient, api: SlackApi) -> SlackUser:
    return SlackUser(poster(http), api, "0dep")


async def members(redis, prefix: str) -> list[str]:
    key = Keys(prefix).timers("slack")
    return sorted(m.decode() for m in await redis.zrange(key, 0, -1))


# --- the lead's deadline -------------------------------------------------------------------


async def test_a_lead_who_does_nothing_is_reminded_after_a_working_day_then_once_more(
    alice: SlackUser, api: SlackApi, clock: Clock, ticker: Ticker, redis, prefix: str
) -> None:
    report = await send(alice, api)
    assert await at(clock, ticker, MONDAY + DAY - 1) == 0
    assert nudges(api, LEAD_DM, "case:ack") == [report]
    assert await at(clock, ticker, MONDAY + DAY) == 1
    (reminder,) = nudges(api, LEAD_DM, "case:ack")[1:]
    assert "A report is waiting for you" in reminder.text and "2 March 2026, 10:00" in reminder.text
    assert "pupil" not in shown([reminder]).casefold()  # says little: nothing of the answers
    assert await at(clock, ticker, MONDAY + 2 * DAY) == 1
    assert len(nudges(api, LEAD_DM, "case:ack")) == 3
    assert await at(clock, ticker, MONDAY + 30 * DAY) == 1  # the weekly digest, nothing else
    assert len(nudges(api, LEAD_DM, "case:ack")) == 3
    await alice.say("status")
    record = api.posted(alice.dm)[-2].text
    assert "Reminder sent to Lee Leader: 3 March 2026, 10:00" in record
    assert "Reminder sent to Lee Leader: 4 March 2026, 10:00" in record


async def test_acknowledging_cancels_every_reminder_and_the_reminder_s_own_button_works(
    alice: SlackUser, lee: SlackUser, api: SlackApi, clock: Clock, ticker: Ticker, redis, prefix
) -> None:
    await send(alice, api)
    await at(clock, ticker, MONDAY + DAY)
    (reminder,) = nudges(api, LEAD_DM, "case:ack")[1:]
    assert await press(lee, reminder, "case:ack") == 200
    assert "Lee Leader has acknowledged your report" in api.posted(alice.dm)[-1].text.replace(
        "*", ""
    )
    assert [m for m in await members(redis, prefix) if m.startswith("remind")] == []
    for day in range(2, 10):
        await at(clock, ticker, MONDAY + day * DAY)
    assert len(nudges(api, LEAD_DM, "case:ack")) == 2  # the report, and the one reminder


@pytest.mark.parametrize("first", ["acknowledge", "reminder"])
async def test_acknowledge_racing_a_reminder_on_two_workers_in_either_order(
    first: str, alice: SlackUser, lee: SlackUser, api: SlackApi, clock: Clock, redis, prefix
) -> None:
    """The reminder is claimed by one worker and Lee's click lands on another; whichever
    decides first, no reminder arrives for a report already acknowledged, and nothing else
    is ever reminded after."""
    report = await send(alice, api)
    other = worker(redis, prefix, clock)  # its own store and cache, on the same Redis
    # Its own app registers Slack's outbox on it, as each `serve` worker's does.
    async with TestClient(TestServer(create_app(settings_for(api), other))):
        clock.set(MONDAY + DAY)
        (claim,) = await Timers(other.store.db).claim("slack")
        assert claim.timer.kind == "remind1"
        if first == "acknowledge":
            assert await press(lee, report, "case:ack") == 200
            assert await other.fire(claim.timer)
        else:
            assert await other.fire(claim.timer)
            assert await press(lee, report, "case:ack") == 200
        await Timers(other.store.db).done(claim)
    reminders = nudges(api, LEAD_DM, "case:ack")[1:]
    assert len(reminders) == (0 if first == "acknowledge" else 1)
    case = await redis.hgetall(f"{prefix}:{{slack:{TEAM}:{alice.id}}}:case")
    assert (b"r1" in case) is (first == "reminder")  # the record says what happened
    clock.set(MONDAY + 10 * DAY)
    assert [m for m in await members(redis, prefix) if not m.startswith("digest")] == []


# --- escalation, only with consent ------------------------------------------------------------


async def test_without_consent_nothing_ever_goes_to_anyone_else(
    alice: SlackUser, api: SlackApi, clock: Clock, ticker: Ticker
) -> None:
    preview_words = None
    await alice.walk(CALLS)
    await press(alice, with_button(api, alice.dm, "tell:"), "tell:leads.0")
    preview = with_button(api, alice.dm, "tell-send")
    preview_words = shown([preview])
    assert "I can send it to *Dana Deputy* too, but only if you choose that" in preview_words
    assert button(preview, "tell-send-esc")["text"]["text"].startswith("Send, and to Dana")
    assert await press(alice, preview, "tell-send") == 200
    for day in range(1, 15):
        await at(clock, ticker, MONDAY + day * DAY)
    assert api.to(DEPUTY_DM) == [] and api.to(GOVERNOR_DM) == []
    assert not any("hasn't been acknowledged" in c.text for c in api.posted(alice.dm))


async def test_with_consent_she_is_told_first_then_it_goes_to_the_deputy_who_can_act(
    alice: SlackUser, lee: SlackUser, dana: SlackUser, api: SlackApi, clock: Clock, ticker
) -> None:
    report = await send(alice, api, escalate=True)
    sent = api.posted(alice.dm)[-1].text.replace("*", "")
    assert "If they haven't by 5 March 2026, 10:00, I'll tell you" in sent and "Dana" in sent
    await at(clock, ticker, MONDAY + 2 * DAY)  # the second reminder, and the warning
    (warning,) = nudges(api, alice.dm, "follow:escalation:stop")
    assert "As you agreed, I'll send it to *Dana Deputy* on 5 March 2026, 10:00" in shown([warning])
    assert api.to(DEPUTY_DM) == []
    await at(clock, ticker, MONDAY + 3 * DAY)
    (escalated,) = api.posted(DEPUTY_DM)
    assert f"<@{alice.id}> asked me to tell Lee Leader" in shown([escalated])
    assert "Direct the staff member to support" in shown([escalated])
    assert "As you agreed, your report has gone to Dana Deputy" in api.posted(alice.dm)[-1].text
    lee_copy = api.updates(LEAD_DM)[-1]
    assert lee_copy.args["ts"] == report.response["ts"]
    assert "Sent to Dana Deputy too: 5 March 2026, 10:00" in shown([lee_copy])

    assert await press(dana, escalated, "case:ack") == 200  # the same buttons as a lead
    assert "Dana Deputy has acknowledged your report" in api.posted(alice.dm)[-1].text.replace(
        "*", ""
    )
    await alice.say("status")
    record = api.posted(alice.dm)[-2].text
    for line in (
        "Escalation agreed by the member of staff: to Dana Deputy if not acknowledged by"
        " 5 March 2026, 10:00",
        "Member of staff told it would go to Dana Deputy: 4 March 2026, 10:00",
        "Sent to Dana Deputy, as it was not acknowledged: 5 March 2026, 10:00",
        "Acknowledged: 5 March 2026, 10:00",
    ):
        assert line in record, line
    await dana.say("status")  # Dana holds it now: her status shows it too
    assert "Sent to Dana Deputy" in api.posted(DEPUTY_DM)[-2].text


async def test_she_can_stop_it_and_a_second_click_changes_nothing(
    alice: SlackUser, api: SlackApi, clock: Clock, ticker: Ticker, redis, prefix: str
) -> None:
    await send(alice, api, escalate=True)
    await at(clock, ticker, MONDAY + 2 * DAY)
    (warning,) = nudges(api, alice.dm, "follow:escalation:stop")
    assert await press(alice, warning, "follow:escalation:stop") == 200
    assert "it won't go to Dana Deputy" in api.posted(alice.dm)[-1].text
    (answered,) = [u for u in api.updates(alice.dm) if u.args["ts"] == warning.response["ts"]]
    assert "✓ Don't send it to Dana Deputy" in shown([answered]) and not buttons(answered)
    assert await press(alice, warning, "follow:escalation:stop") == 200
    assert "You stopped it already" in api.posted(alice.dm)[-1].text
    # A worker had claimed the escalation just before her click: decided when it fires,
    # from the case as it is then, it sends nothing.
    escalate = Timer("escalate", alice.key, await _case_id(redis, prefix, alice))
    await Timers(ticker.runner.store.db).set([(escalate, MONDAY + 3 * DAY)])
    for day in range(3, 12):
        await at(clock, ticker, MONDAY + day * DAY)
    assert api.to(DEPUTY_DM) == []


async def test_typed_dont_send_it_stops_it_too(
    alice: SlackUser, api: SlackApi, clock: Clock, ticker: Ticker
) -> None:
    await send(alice, api, escalate=True)
    await at(clock, ticker, MONDAY + 2 * DAY)
    assert await alice.say("Don't send it") == 200
    assert "it won't go to Dana Deputy" in api.posted(alice.dm)[-1].text
    await at(clock, ticker, MONDAY + 3 * DAY)
    assert api.to(DEPUTY_DM) == []


# --- the member of staff's follow-ups on harmful content -----------------------------------


async def test_content_follow_up_not_yet_names_report_harmful_content_then_posh(
    alice: SlackUser, api: SlackApi, clock: Clock, ticker: Ticker
) -> None:
    await alice.walk(CONTENT)
    assert await at(clock, ticker, MONDAY + 2 * DAY - 1) == 0
    assert await at(clock, ticker, MONDAY + 2 * DAY) == 1
    (question,) = nudges(api, alice.dm, "follow:content:not_yet")
    assert "Has the harmful content come down?" in question.text
    labels = [b["text"]["text"] for b in buttons(question)]
    assert labels == [
        "It's been removed",
        "Not yet",
        "Remind me tomorrow",
        "Remind me in 3 days",
        "Stop reminders",
    ]
    assert await press(alice, question, "follow:content:not_yet") == 200
    said = shown(api.posted(alice.dm)[-1:])
    assert "Report Harmful Content" in said and "https://reportharmfulcontent.com/" in said
    assert "I'll ask again in 7 days (11 March 2026, 10:00)" in said
    (answered,) = [u for u in api.updates(alice.dm) if u.args["ts"] == question.response["ts"]]
    assert "✓ Not yet" in shown([answered]) and not buttons(answered)
    assert await press(alice, question, "follow:content:removed") == 200  # a spent question
    assert "answered already" in api.posted(alice.dm)[-1].text

    await at(clock, ticker, MONDAY + 9 * DAY)
    (again,) = nudges(api, alice.dm, "follow:content:not_yet")[1:]
    assert "the next step was Report Harmful Content" in again.text
    assert await alice.say("not yet") == 200  # typed, as the question says
    assert "POSH" in api.posted(alice.dm)[-1].text
    for day in range(10, 30):
        await at(clock, ticker, MONDAY + day * DAY)
    assert len(nudges(api, alice.dm, "follow:content:not_yet")) == 2


async def test_snooze_asks_again_a_day_later_and_stop_ends_it(
    alice: SlackUser, api: SlackApi, clock: Clock, ticker: Ticker
) -> None:
    await alice.walk(CONTENT)
    await at(clock, ticker, MONDAY + 2 * DAY)
    (question,) = nudges(api, alice.dm, "follow:content:day")
    assert await press(alice, question, "follow:content:day") == 200
    assert "I'll ask again tomorrow (5 March 2026, 10:00)" in api.posted(alice.dm)[-1].text
    assert await at(clock, ticker, MONDAY + 3 * DAY - 1) == 0
    assert await at(clock, ticker, MONDAY + 3 * DAY) == 1
    (again,) = nudges(api, alice.dm, "follow:content:day")[1:]
    assert "Has it come down?" in again.text  # the same stage, asked again
    assert await press(alice, again, "follow:content:stop") == 200
    for day in range(4, 20):
        await at(clock, ticker, MONDAY + day * DAY)
    assert len(nudges(api, alice.dm, "follow:content:day")) == 2
    await alice.say("status")
    text = api.posted(alice.dm)[-2].text
    assert "asked again a day later: 4 March 2026, 10:00" in text
    assert "reminders stopped: 5 March 2026, 10:00" in text


async def test_removed_marks_the_report_s_content_step_done_in_lee_s_copy(
    alice: SlackUser, api: SlackApi, clock: Clock, ticker: Ticker
) -> None:
    report = await send(alice, api, CONTENT)
    await at(clock, ticker, MONDAY + 2 * DAY)
    (question,) = nudges(api, alice.dm, "follow:content:removed")
    assert await press(alice, question, "follow:content:removed") == 200
    await alice.say("status")
    record = api.posted(alice.dm)[-2].text
    assert "Follow-up after reporting the content: removed, 4 March 2026, 10:00" in record
    assert "Removing harmful content: done 4 March 2026, 10:00" in record
    lee_copy = api.updates(LEAD_DM)[-1]  # ticked in Lee's copy too
    assert lee_copy.args["ts"] == report.response["ts"]
    assert "Done: 4 March 2026, 10:00" in shown([lee_copy])


# --- everything cancelled with the data ---------------------------------------------------------


async def test_delete_my_data_cancels_every_timer_of_the_report_and_the_follow_up(
    alice: SlackUser, api: SlackApi, clock: Clock, ticker: Ticker, redis, prefix: str
) -> None:
    await send(alice, api, CONTENT, escalate=True)
    mine = [m for m in await members(redis, prefix) if alice.id in m]
    assert {m.split()[0] for m in mine} == {"remind1", "remind2", "warn", "escalate", "check"}
    assert await alice.say("delete my data") == 200
    assert [m for m in await members(redis, prefix) if alice.id in m] == []
    before = len(api.posted(LEAD_DM)), len(api.posted(alice.dm))
    for day in range(1, 12):
        await at(clock, ticker, MONDAY + day * DAY)
    assert (len(api.posted(LEAD_DM)), len(api.posted(alice.dm))) == before
    assert api.to(DEPUTY_DM) == []


async def test_withdrawing_an_escalated_report_removes_it_from_the_deputy_s_chat_too(
    alice: SlackUser, dana: SlackUser, api: SlackApi, clock: Clock, ticker: Ticker
) -> None:
    await send(alice, api, escalate=True)
    await at(clock, ticker, MONDAY + 3 * DAY)
    (escalated,) = api.posted(DEPUTY_DM)
    assert await alice.say("delete my data") == 200
    (gone,) = [u for u in api.updates(DEPUTY_DM) if u.args["ts"] == escalated.response["ts"]]
    assert "has withdrawn this report" in gone.text and not buttons(gone)
    assert await press(dana, escalated, "case:ack") == 200
    assert "isn't available to you" in api.posted(DEPUTY_DM)[-1].text


async def test_a_button_this_bot_never_drew_changes_nothing(
    alice: SlackUser, api: SlackApi
) -> None:
    await alice.walk(CONTENT)
    question = alice.question()
    forged = {"action_id": "follow:weather:sunny", "value": "x", "type": "button"}
    assert await alice.act(alice.action_payload(question, forged)) == 200
    assert "nothing was changed" in api.posted(alice.dm)[-1].text


async def test_uninstalling_removes_every_timer_of_the_workspace(
    alice: SlackUser, api: SlackApi, redis, prefix: str
) -> None:
    await send(alice, api, CONTENT, escalate=True)
    assert await members(redis, prefix)
    event = alice.event("")
    event["event"] = {"type": "app_uninstalled"}
    assert await alice.send_json(event) == 200
    assert await members(redis, prefix) == []
    assert [k async for k in redis.scan_iter(f"{prefix}:{{slack:{TEAM}:*")] == []


# --- a worker dying -------------------------------------------------------------------------------


async def test_a_worker_killed_holding_a_due_timer_leaves_it_to_fire_once_after_its_lease(
    alice: SlackUser, api: SlackApi, clock: Clock, ticker: Ticker, redis, prefix: str
) -> None:
    await send(alice, api)
    clock.set(MONDAY + DAY)
    dying = Timers(worker(redis, prefix, clock).store.db)
    await dying.claim("slack")  # ... and the worker is killed here, holding the reminder
    assert await ticker.tick() == 0  # another worker leaves a held timer alone
    assert len(nudges(api, LEAD_DM, "case:ack")) == 1
    assert await at(clock, ticker, MONDAY + DAY + dying.lease) == 1
    assert len(nudges(api, LEAD_DM, "case:ack")) == 2
    assert await at(clock, ticker, MONDAY + DAY + 2 * dying.lease) == 0
    assert len(nudges(api, LEAD_DM, "case:ack")) == 2


async def test_a_claim_that_ran_out_cannot_settle_the_timer_another_worker_now_holds(
    redis, prefix: str, clock: Clock
) -> None:
    one, two = (Timers(worker(redis, prefix, clock).store.db) for _ in range(2))
    timer = Timer("remind1", alice_key(), "c0ffee00")
    await one.set([(timer, MONDAY)])
    (held,) = await one.claim("slack")
    assert await two.claim("slack") == []  # held
    clock.set(MONDAY + one.lease)
    (again,) = await two.claim("slack")  # the lease ran out: the other worker has it
    assert not await one.done(held) and not await one.later(held, MONDAY + DAY)
    assert not await one.failed(held)
    assert await two.due_at(timer) == again.lease  # still the other worker's
    assert await two.done(again) and await two.due_at(timer) is None


async def test_a_worker_killed_after_deciding_but_before_delivering_loses_nothing(
    alice: SlackUser, api: SlackApi, clock: Clock, ticker: Ticker, runner: Runner, redis, prefix
) -> None:
    """The reminder is recorded in the case, then the worker dies before Slack has it: the
    claim comes back after its lease, and the reminder goes then (once)."""
    await send(alice, api)
    clock.set(MONDAY + DAY)
    dying = worker(redis, prefix, clock)
    (held,) = await Timers(dying.store.db).claim("slack")
    decided, _ = await dying.decide(held.timer.user, _due(held.timer), None, "")
    assert decided.deliveries  # decided, recorded as r1 ... and never delivered
    assert await at(clock, ticker, MONDAY + DAY + 10) == 0
    assert len(nudges(api, LEAD_DM, "case:ack")) == 1
    assert await at(clock, ticker, MONDAY + DAY + Timers(dying.store.db).lease) == 1
    assert len(nudges(api, LEAD_DM, "case:ack")) == 2


async def test_a_reminder_slack_refuses_is_tried_again_a_few_times_then_dropped(
    alice: SlackUser, api: SlackApi, clock: Clock, ticker: Ticker, redis, prefix, caplog
) -> None:
    await send(alice, api)
    api.unreachable.add("U0LEAD")  # Lee has left the workspace
    timers = Timers(ticker.runner.store.db)
    when = MONDAY + DAY
    for delay in (*timers.retries, None):
        await at(clock, ticker, when)
        remind1 = Timer("remind1", alice.key, (await _case_id(redis, prefix, alice)))
        due = await timers.due_at(remind1)
        if delay is None:
            assert due is None
        else:
            assert due == when + delay
            when = due
    assert "timer dropped" in caplog.text and "U0LEAD" not in caplog.text


def alice_key():
    from conversation.messages import UserKey

    return UserKey("slack", TEAM, "UALICE")


def _due(timer: Timer):
    from conversation.messages import Due

    return Due(timer.kind, timer.case)


async def _case_id(redis, prefix: str, user: SlackUser) -> str:
    return (await redis.hget(f"{prefix}:{{slack:{TEAM}:{user.id}}}:case", "id")).decode()


# --- what timers cost a turn -----------------------------------------------------------------


async def test_timers_cost_a_turn_nothing_but_one_write_when_a_guide_finishes_with_content(
    redis_url: str,
) -> None:
    from bench.timers import runner_turns

    on = await runner_turns(redis_url, 30, followups=True)
    off = await runner_turns(redis_url, 30, followups=False)
    extra = on.extra["round_trips"] - off.extra["round_trips"]
    assert on.turns == off.turns and on.extra["guides_finished_with_content"] > 0
    assert extra == on.extra["guides_finished_with_content"]


async def test_the_overview_says_what_is_due_next_and_shows_an_escalated_report_to_its_holder(
    alice: SlackUser, lee: SlackUser, dana: SlackUser, api: SlackApi, clock: Clock, ticker, runner
) -> None:

    await send(alice, api, escalate=True)
    home = json.dumps((await open_home(lee)).view)
    assert "Next: a reminder to acknowledge it, 3 March 2026, 10:00" in home
    assert "Dana" not in json.dumps((await open_home(dana)).view)  # not hers yet
    await at(clock, ticker, MONDAY + 3 * DAY)  # reminded twice, warned, then escalated
    held = json.dumps((await open_home(dana)).view)
    assert "Steps done: 0 of" in held and "case:ack" in held
    assert "Next:" not in json.dumps((await open_home(lee)).view)  # nothing more is due
    telling = runner.telling
    assert telling is not None and telling.counting is not None
    from conversation.telling.counting import WHOLE_SCHOOL

    tally = await telling.counting.statistics.read(WHOLE_SCHOOL, "spring-2026")
    assert tally.count("escalated") == 1


async def test_the_governor_gets_the_termly_summary_the_morning_after_the_term_ends(
    redis, prefix: str, clock: Clock, api: SlackApi
) -> None:
    """A school with a table of its own (so its workspace is known) naming a governor for the
    summary: the timer is set as a worker starts, waits out the night, sends once, and sets
    the next term's."""
    own = SCHOOL.replace("[school]", f"[schools.{TEAM}]").replace("[[school.", f"[[schools.{TEAM}.")
    own += f'\n[schools.{TEAM}.summary]\ngovernor = "Gwen Governor"\n'
    runner = worker(redis, prefix, clock, school.parse(tomllib.loads(own), "school.toml"))
    async with TestClient(TestServer(create_app(settings_for(api), runner))):
        ticker = Ticker(runner)
        await ticker.schedule()
        await ticker.schedule()  # a second worker starting: still one timer
        (member,) = await members(redis, prefix)
        assert member == f"summary slack:{TEAM}:U0GOV spring-2026"
        closes = terms.school_term(runner.views.schools.for_workspace(TEAM), "spring-2026")
        assert await at(clock, ticker, closes.closes_at - 60) == 0  # the term has not ended
        assert await at(clock, ticker, closes.closes_at) == 0  # midnight: quiet hours
        assert api.to(GOVERNOR_DM) == []
        assert await at(clock, ticker, closes.closes_at + 8 * 3600) == 1
        (sent,) = api.posted(GOVERNOR_DM)
        assert "Summary for governors" in shown([sent]) and "Term: spring 2026" in shown([sent])
        assert await at(clock, ticker, closes.closes_at + 9 * 3600) == 0  # once
        (member,) = await members(redis, prefix)
        assert member == f"summary slack:{TEAM}:U0GOV summer-2026"
