"""Issue 25's findings about reports, each over Slack's HTTP as people meet them: signed
requests in, the Web API stand-in recording every call, a real Redis, one clock.

Alice tells the school's lead (Lee); Mallory is someone else in the workspace. What is
checked: a withdrawal removes every copy (finding 1) and says what happened when Lee's
message cannot be changed (3); a member of staff can send only so many reports a day (4); a
lead taken out of the school file holds nothing more (12); "gone" and "not yours" read the
same (13); a doubled click on a button that only sends sends once (14).
"""

from __future__ import annotations

import asyncio
import tomllib

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.web import create_app
from conversation import school
from conversation.messages import UserKey
from conversation.runner import Runner, build
from conversation.storage import BadId, Store
from conversation.storage.cases import CLICK_WINDOW, SENDS_A_DAY
from conversation.telling.telling import RETRIES
from tests.drivers.leads import (
    LEAD_DM,
    LEAD_LEADS,
    button,
    buttons,
    case_of,
    press,
    sent_to_lee,
    shown,
    with_button,
)
from tests.drivers.overview import Clock
from tests.drivers.slack_api import Call, SlackApi
from tests.drivers.slack_user import TEAM, SlackUser, guidance_of, poster, settings_for

from .school_files import LEADS_SCHOOL, leads_school

DAY = 86_400
UNAVAILABLE = "That report isn't available to you"
COPY_WITHDRAWN = "The member of staff withdrew this report and deleted their data"


class Sleeps:
    """The runner's waits before a retry: noted, not slept; `then` runs at each."""

    def __init__(self) -> None:
        self.waited: list[float] = []
        self.then = lambda: None

    async def __call__(self, seconds: float) -> None:
        self.waited.append(seconds)
        self.then()


def worker(redis, prefix: str, clock: Clock, sleeps: Sleeps, schools=None) -> Runner:
    """A worker as `serve` builds it, on the test's keys and clock; its retries not slept."""
    built = build(redis, prefix=prefix, schools=schools or leads_school(), clock=clock)
    return Runner(built.engine, built.telling, sleep=sleeps, followups=built.followups)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def runner(redis, prefix: str, clock: Clock, sleeps: Sleeps) -> Runner:
    return worker(redis, prefix, clock, sleeps)


def plain(calls: list[Call]) -> str:
    return shown(calls).replace("**", "*")


def lees_key(prefix: str, suffix: str = "") -> str:
    return f"{prefix}:{{slack:{TEAM}:U0LEAD}}{suffix}"


async def send(alice: SlackUser, api: SlackApi) -> None:
    """Alice asks for the offer again, chooses Lee and presses Send."""
    await alice.say("send it again")
    await press(alice, with_button(api, alice.dm, "tell:"), "tell:leads.0")
    await press(alice, with_button(api, alice.dm, "tell-send"), "tell-send")


async def retried(runner: Runner) -> None:
    """Until every retry has run: each one waits, then may leave the next one waiting."""
    for _ in range(len(RETRIES) + 1):
        await runner.idle()
        await asyncio.sleep(0)


# --- finding 1: a withdrawal removes every copy ------------------------------------------


async def test_a_withdrawal_removes_the_walk_through_and_the_record_from_the_leads_chat(
    alice: SlackUser, lee: SlackUser, api: SlackApi, redis, prefix: str, clock: Clock
) -> None:
    report = await sent_to_lee(alice, api)
    assert await press(lee, report, "case:walk") == 200
    assert await press(lee, report, "case:record") == 200
    copies = [c for c in api.posted(LEAD_DM) if c is not report]
    assert len(copies) >= 4 and "Checklist for handling this case" in shown(copies)
    assert "Told: Lee Leader," in shown(copies)
    assert "types=calls" in (await redis.get(lees_key(prefix))).decode()  # Lee's walk-through
    files = api.uploaded(LEAD_DM)
    assert files

    clock.later(60)
    assert await alice.say("delete my data") == 200
    assert await redis.get(lees_key(prefix)) is None
    assert await redis.hgetall(lees_key(prefix, ":copies")) == {}
    updated = {u.args["ts"]: u for u in api.updates(LEAD_DM)}
    for copy in copies:
        now = updated[copy.response["ts"]]  # every message that showed the report
        assert COPY_WITHDRAWN in now.text and not buttons(now)
        assert "Told: Lee Leader" not in shown([now]) and "Checklist for" not in shown([now])
    assert "has withdrawn this report" in updated[report.response["ts"]].text
    assert all(f.get("deleted") for f in files)  # the record's files too


# --- finding 3: a withdrawal Lee's message did not take is said, and tried again ----------


async def test_a_withdrawal_lees_message_refuses_is_said_retried_and_then_said_failed(
    alice: SlackUser, api: SlackApi, runner: Runner, sleeps: Sleeps
) -> None:
    report = await sent_to_lee(alice, api)
    api.refused.add(report.response["ts"])
    assert await alice.say("delete my data") == 200
    await retried(runner)
    said = plain(api.posted(alice.dm))
    assert "I couldn't yet remove it from the message *Lee Leader* received" in said
    assert "I couldn't remove it from the message *Lee Leader* received" in said
    assert "You may want to tell them yourself" in said
    assert "Your report is withdrawn too" not in said  # never said it was removed
    tries = [u for u in api.updates(LEAD_DM) if u.args["ts"] == report.response["ts"]]
    assert len(tries) == 4 and sleeps.waited == [1.0, 5.0, 30.0]


async def test_a_withdrawal_lees_message_takes_on_a_retry_is_said_done(
    alice: SlackUser, api: SlackApi, runner: Runner, sleeps: Sleeps
) -> None:
    report = await sent_to_lee(alice, api)
    api.refused.add(report.response["ts"])
    sleeps.then = api.refused.clear  # Slack takes the update on the first retry
    assert await alice.say("delete my data") == 200
    await retried(runner)
    said = plain(api.posted(alice.dm))
    assert "I couldn't yet remove it from the message *Lee Leader* received" in said
    assert "Done: the message *Lee Leader* received now says your report was withdrawn" in said
    assert "You may want to tell them yourself" not in said
    last = [u for u in api.updates(LEAD_DM) if u.args["ts"] == report.response["ts"]][-1]
    assert "has withdrawn this report" in last.text and not buttons(last)
    assert sleeps.waited == [1.0]


# --- finding 4: reports a day -------------------------------------------------------------


async def test_a_fourth_report_in_a_day_is_refused_saying_why_and_the_next_day_it_goes(
    alice: SlackUser, api: SlackApi, redis, prefix: str, clock: Clock
) -> None:
    assert SENDS_A_DAY == 3
    await alice.walk(LEAD_LEADS)
    for n in range(SENDS_A_DAY):
        await send(alice, api)
        assert len(api.posted(LEAD_DM)) == n + 1
        assert await alice.say("delete my data") == 200
        await alice.walk(LEAD_LEADS)
        clock.later(600)
    await send(alice, api)
    assert len(api.posted(LEAD_DM)) == SENDS_A_DAY
    refused = "You've sent three reports through me in the last 24 hours"
    assert refused in api.posted(alice.dm)[-1].text
    assert not await case_of(redis, prefix, alice)

    clock.later(DAY - 4 * 600)  # the first was sent 24 hours less 10 minutes ago
    await send(alice, api)
    assert len(api.posted(LEAD_DM)) == SENDS_A_DAY and refused in api.posted(alice.dm)[-1].text
    clock.later(600)  # a day after the first: one more may go
    await send(alice, api)
    assert len(api.posted(LEAD_DM)) == SENDS_A_DAY + 1
    assert await case_of(redis, prefix, alice)
    assert 0 < await redis.ttl(f"{prefix}:{{slack:{TEAM}:{alice.id}}}:sends") <= DAY


# --- finding 12: a lead taken out of the school file ------------------------------------


async def test_a_lead_taken_out_of_the_school_file_holds_nothing_more(
    alice: SlackUser, api: SlackApi, redis, prefix: str, clock: Clock, sleeps: Sleeps
) -> None:
    report = await sent_to_lee(alice, api)
    without_lee = LEADS_SCHOOL.replace('slack = "U0LEAD"', 'slack = "U0NEWLEAD"')
    schools = school.parse(tomllib.loads(without_lee), "school.toml")
    restarted = worker(redis, prefix, clock, sleeps, schools)
    async with TestClient(TestServer(create_app(settings_for(api), restarted))) as http:
        lee = SlackUser(poster(http), api, "0lead")
        before = await case_of(redis, prefix, alice)
        for action in ("case:ack", "case:done:police", "case:walk", "case:record"):
            assert await press(lee, report, action) == 200
            assert UNAVAILABLE in api.posted(LEAD_DM)[-1].text
        assert await case_of(redis, prefix, alice) == before
        assert api.updates(LEAD_DM) == [] and api.uploaded(LEAD_DM) == []
        assert await redis.get(lees_key(prefix)) is None  # no walk-through
        assert await lee.say("status") == 200
        assert "Told: Lee Leader" not in shown(api.posted(LEAD_DM)[-2:])


# --- finding 13: "gone" and "not yours" are the same answer ------------------------------


async def test_gone_not_yours_and_never_sent_read_the_same(
    alice: SlackUser, lee: SlackUser, api: SlackApi, http: TestClient
) -> None:
    report = await sent_to_lee(alice, api)
    mallory = SlackUser(poster(http), api, "mallory")
    answers = []
    await press(mallory, report, "case:record")  # a real report, not theirs (forged click)
    answers.append(api.posted()[-1])
    forged = {**button(report, "case:record"), "value": f"0badcafe.{alice.id}"}
    await mallory.act(mallory.action_payload(report, forged))  # a case id that never was
    answers.append(api.posted()[-1])
    await alice.say("delete my data")
    await press(lee, report, "case:record")  # Lee's own, withdrawn
    answers.append(api.posted(LEAD_DM)[-1])
    assert UNAVAILABLE in answers[0].text
    assert len({(a.text, shown([a]).replace(a.channel, "")) for a in answers}) == 1


@pytest.mark.parametrize("bad", ["U1:x}", "{T0SCHOOL}", "U1 x", "U*", "U[1]", "U\\1", ""])
async def test_an_id_that_could_change_a_key_s_name_never_names_one(store: Store, bad: str) -> None:
    """Behind the adapters' own checks (Slack-shaped ids only), the store refuses any id
    that could leave its hash tag or name a pattern, as a workspace or as a user."""
    for user in (UserKey("slack", bad, "U0ALICE"), UserKey("slack", TEAM, bad)):
        with pytest.raises(BadId):
            await store.load(user)
    assert await store.load(UserKey("slack", TEAM, "U0ALICE")) is None


# --- finding 14: a doubled click on a button that only sends ------------------------------


def counted(api: SlackApi) -> tuple[int, int]:
    """Messages in Lee's chat, and files shared there."""
    return len(api.posted(LEAD_DM)), len(api.uploaded(LEAD_DM))


async def test_a_doubled_click_on_walk_or_record_sends_once_on_one_worker_or_two(
    alice: SlackUser,
    lee: SlackUser,
    api: SlackApi,
    redis,
    prefix: str,
    clock: Clock,
    sleeps: Sleeps,
) -> None:
    report = await sent_to_lee(alice, api)
    second = worker(redis, prefix, clock, sleeps)
    async with TestClient(TestServer(create_app(settings_for(api), second))) as two:
        lee_one, lee_two = lee, SlackUser(poster(two), api, "0lead")
        for action in ("case:record", "case:walk"):
            payload = lee_one.action_payload(report, button(report, action))
            before = counted(api)
            assert await lee_one.act(payload) == 200  # one click: what it sends
            once = (counted(api)[0] - before[0], counted(api)[1] - before[1])
            assert once[0] > 0
            rounds = (
                ("first one, then two", (lee_one, lee_two)),
                ("first two, then one", (lee_two, lee_one)),
                ("one and one at once", (lee_one, lee_one)),
                ("one and two at once", (lee_one, lee_two)),
            )
            for name, (a, b) in rounds:
                clock.later(CLICK_WINDOW)
                before = counted(api)
                if "at once" in name:
                    assert await asyncio.gather(a.act(payload), b.act(payload)) == [200, 200]
                else:
                    assert await a.act(payload) == 200
                    assert await b.act(payload) == 200
                after = counted(api)
                assert (after[0] - before[0], after[1] - before[1]) == once, (action, name)
    progress = (await redis.get(lees_key(prefix))).decode()
    assert "role=handling" in progress


async def test_a_doubled_click_on_send_it_again_or_forward_sends_the_checklist_once(
    alice: SlackUser, api: SlackApi
) -> None:
    await alice.walk(LEAD_LEADS)
    final = alice.question()
    checklists = len(guidance_of(api, alice.dm))
    payload = alice.action_payload(final, button(final, "answer:resend"))
    await asyncio.gather(alice.act(payload), alice.act(payload))
    assert len(guidance_of(api, alice.dm)) == checklists + 1
