"""What the school sees, over Slack's HTTP: the lead's Home tab, reference numbers, the record
as files, and the governors' summary. Signed requests in, the Web API stand-in recording
every call, a real Redis, and one clock for every date.

Alice, Carol and Dan tell the school's lead (Lee); Bob tells the second lead (Lena).
"""

from __future__ import annotations

import csv
import io
import json
import logging

import pytest
from aiohttp.test_utils import TestClient
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.outbox import SlackOutbox
from conversation import summary, terms
from conversation.messages import UserKey
from conversation.runner import Runner, build
from conversation.storage import Cipher
from tests.drivers.leads import LEAD_DM, LEAD_LEADS, button, press, with_button
from tests.drivers.overview import REFERENCE, Clock, schools
from tests.drivers.slack_api import TOKEN, Call, SlackApi
from tests.drivers.slack_user import TEAM, SlackUser, open_home, poster


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def runner(redis, prefix: str, clock: Clock) -> Runner:
    return build(redis, prefix=prefix, schools=schools(), clock=clock, cipher=Cipher.ephemeral())


@pytest.fixture
def person(http: TestClient, api: SlackApi):
    def make(name: str) -> SlackUser:
        return SlackUser(poster(http), api, name)

    return make


def home_buttons(home: Call) -> list[dict]:
    return [e for b in home.view["blocks"] if b["type"] == "actions" for e in b["elements"]]


async def press_in_home(user: SlackUser, home: Call, action_id: str, case: str) -> int:
    """A button of the Home tab, as Slack sends it: from a view, not a message."""
    (found,) = [b for b in home_buttons(home) if b["action_id"] == action_id and b["value"] == case]
    payload = {
        "type": "block_actions",
        "user": {"id": user.id, "username": user.id, "team_id": user.team},
        "api_app_id": "A0APP",
        "token": "unused",
        "container": {"type": "view", "view_id": "V0HOME"},
        "trigger_id": "1.2.3",
        "team": {"id": user.team, "domain": "school"},
        "view": {"id": "V0HOME", "type": "home", "blocks": home.view["blocks"]},
        "actions": [{**found, "block_id": "b0", "action_ts": "1700000400.000001"}],
    }
    return await user.act(payload)


async def tell(user: SlackUser, api: SlackApi, whom: str = "leads.0") -> Call:
    """`user` finishes the guide and sends it to `whom`: the message that person got."""
    await user.walk(LEAD_LEADS)
    await press(user, with_button(api, user.dm, "tell:"), f"tell:{whom}")
    await press(user, with_button(api, user.dm, "tell-send"), "tell-send")
    return api.posted()[-2]  # the report, then "Sent to ..." in the reporter's DM


def shown(home: Call) -> str:
    return json.dumps(home.view, ensure_ascii=False)


def reference_of(api: SlackApi, user: SlackUser) -> str:
    """The report's reference as the lead's buttons carry it."""
    report = next(
        c for c in api.posted() if c.channel != user.dm and f"<@{user.id}>" in json.dumps(c.args)
    )
    return button(report, "case:ack")["value"]


async def everything_in(redis, prefix: str) -> str:
    """Every value under the test's keys, as text."""
    found = []
    async for key in redis.scan_iter(f"{prefix}:*"):
        kind = (await redis.type(key)).decode()
        if kind == "hash":
            found += [k + b"=" + v for k, v in (await redis.hgetall(key)).items()]
        elif kind == "string":
            found.append(await redis.get(key))
        elif kind == "list":
            found += await redis.lrange(key, 0, -1)
        elif kind == "zset":
            found += await redis.zrange(key, 0, -1)
        found.append(key)
    return b"\n".join(found).decode(errors="replace")


# --- the Home tab -------------------------------------------------------------------------------


async def test_the_home_tab_lists_exactly_the_leads_own_reports(
    person, api: SlackApi, clock: Clock, redis, prefix: str
) -> None:
    alice, bob, carol, lee, lena = (
        person(n) for n in ("alice", "bob", "carol", "0lead", "0leadtwo")
    )
    await tell(alice, api)
    clock.later(3600)
    await tell(bob, api, "leads.1")
    clock.later(3600)
    await tell(carol, api)

    home = await open_home(lee)
    text = shown(home)
    assert f"<@{carol.id}>" in text and f"<@{alice.id}>" in text and bob.id not in text
    assert text.index(carol.id) < text.index(alice.id)  # the newest first
    assert "Sent: 5 October 2026, 11:00" in text and "Sent: 5 October 2026, 09:00" in text
    assert text.count("Not yet acknowledged") == 2 and text.count("Steps done: 0 of ") == 2
    cases = {b["value"] for b in home_buttons(home)}
    assert cases == {reference_of(api, alice), reference_of(api, carol)}
    assert {b["action_id"] for b in home_buttons(home)} == {
        "case:ack",
        "case:walk",
        "case:record",
        "case:reference",
    }
    assert bob.id in shown(await open_home(lena)) and alice.id not in shown(await open_home(lena))
    assert "No report is waiting for you" in shown(await open_home(alice))  # a reporter holds none

    # A pointer to Bob's report in Lee's keys (a lost write, say) shows Lee nothing of it.
    bobs = reference_of(api, bob).partition(".")[0]
    await redis.hset(f"{prefix}:{{slack:{TEAM}:U0LEAD}}:leads", bob.id, bobs)
    assert bob.id not in shown(await open_home(lee))

    # Acknowledged from the Home tab: the case, the Home tab and the reporter all know.
    assert await press_in_home(lee, home, "case:ack", reference_of(api, alice)) == 200
    assert b"ack" in await redis.hgetall(f"{prefix}:{{slack:{TEAM}:{alice.id}}}:case")
    after = api.homes(lee.id)[-1]
    assert "Acknowledged: 5 October 2026, 11:00" in shown(after)
    assert "has acknowledged your report" in api.posted(alice.dm)[-1].text.replace("**", "")
    # Lena pressing it from a copy of Lee's Home tab changes nothing.
    assert await press_in_home(lena, home, "case:ack", reference_of(api, carol)) == 200
    assert b"ack" not in await redis.hgetall(f"{prefix}:{{slack:{TEAM}:{carol.id}}}:case")
    assert "isn't available to you" in api.posted("DU0LEADTWO")[-1].text
    # Nothing about any case was posted anywhere but a DM or a Home tab.
    assert all(c.channel.startswith(("D", "home:")) for c in api.calls if c.channel)


async def test_a_withdrawn_report_leaves_the_home_tab(person, api: SlackApi) -> None:
    alice, lee = person("alice"), person("0lead")
    await tell(alice, api)
    await open_home(lee)
    assert await alice.say("delete my data") == 200
    replaced = api.homes(lee.id)[-1]
    assert alice.id not in shown(replaced) and "withdrew this report" in shown(replaced)
    assert alice.id not in shown(await open_home(lee))


# --- reference numbers ----------------------------------------------------------------------------


async def test_a_reference_with_a_bad_character_is_refused_and_changes_nothing(
    person, api: SlackApi, clock: Clock, redis, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    alice = person("alice")
    await tell(alice, api)
    case_key = f"{prefix}:{{slack:{TEAM}:{alice.id}}}:case"
    progress_key = f"{prefix}:{{slack:{TEAM}:{alice.id}}}"
    before, progress = await redis.hgetall(case_key), await redis.get(progress_key)
    for bad, why in (
        ("reference police 12/3456 26", "letters, digits, - and /"),
        ("reference police 12/3456/26;", "letters, digits, - and /"),
        ("reference police <12>", "letters, digits, - and /"),
        ("reference police " + "1" * 33, "at most 32 characters"),
        ("reference pigeon 12", "don't know that kind"),
    ):
        assert await alice.say(bad) == 200
        said = api.posted(alice.dm)[-2].text
        assert why in said and "nothing was added" in said, bad
        assert await redis.hgetall(case_key) == before and await redis.get(progress_key) == progress

    clock.later(600)
    assert await alice.say(f"reference police {REFERENCE}") == 200
    assert f"Police reference {REFERENCE} (5 October 2026, 09:10)" in api.posted(alice.dm)[
        -2
    ].text.replace("**", "")
    assert await redis.get(progress_key) == progress  # never in the progress key
    stored = await everything_in(redis, prefix)
    assert REFERENCE not in stored and "r:" in stored  # sealed at rest
    assert await alice.say("status") == 200
    assert f"- Police: {REFERENCE} (added 5 October 2026, 09:10)" in api.posted(alice.dm)[-2].text
    everything_logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert REFERENCE not in everything_logged


async def test_a_lead_holding_several_reports_chooses_one_then_types_it(
    person, api: SlackApi, redis, prefix: str
) -> None:
    alice, carol, lee = person("alice"), person("carol"), person("0lead")
    await tell(alice, api)
    await tell(carol, api)
    assert await lee.say("reference platform AB-1") == 200
    assert "several reports" in api.posted(LEAD_DM)[-1].text
    home = await open_home(lee)
    assert await press_in_home(lee, home, "case:reference", reference_of(api, carol)) == 200
    assert "Now type the reference" in api.posted(LEAD_DM)[-1].text
    assert await lee.say("reference platform AB-1") == 200
    carols = await redis.hgetall(f"{prefix}:{{slack:{TEAM}:{carol.id}}}:case")
    alices = await redis.hgetall(f"{prefix}:{{slack:{TEAM}:{alice.id}}}:case")
    assert any(k.startswith(b"r:") for k in carols) and not any(k.startswith(b"r:") for k in alices)
    assert await carol.say("status") == 200
    assert "- Platform report: AB-1 (added " in api.posted(carol.dm)[-2].text


async def test_a_lead_who_deletes_their_data_forgets_the_report_they_chose(
    person, api: SlackApi, redis, prefix: str
) -> None:
    """ "Add a reference" remembers, for minutes, which report the lead's next typed reference
    is for: their `delete my data` forgets that too, like everything else of theirs."""
    alice, carol, lee = person("alice"), person("carol"), person("0lead")
    await tell(alice, api)
    await tell(carol, api)
    home = await open_home(lee)
    assert await press_in_home(lee, home, "case:reference", reference_of(api, carol)) == 200
    chosen = f"{prefix}:{{slack:{TEAM}:{lee.id}}}:refto"
    assert await redis.exists(chosen)
    assert await lee.say("delete my data") == 200
    assert not await redis.exists(chosen)


async def test_withdrawal_removes_the_references_with_the_report(
    person, api: SlackApi, redis, prefix: str
) -> None:
    alice = person("alice")
    await tell(alice, api)
    await alice.say(f"reference police {REFERENCE}")
    await alice.say("reference rhc RHC-778")
    sealed = [
        v
        for k, v in (await redis.hgetall(f"{prefix}:{{slack:{TEAM}:{alice.id}}}:case")).items()
        if k.startswith(b"r:")
    ]
    assert len(sealed) == 2
    assert await alice.say("delete my data") == 200
    stored = await everything_in(redis, prefix)
    assert not any(s.decode() in stored for s in sealed)
    assert f"slack:{TEAM}:{alice.id}}}:case" not in stored


# --- the record as a file -------------------------------------------------------------------------


async def test_the_record_as_files_matches_the_record_shown_in_the_chat(
    person, api: SlackApi, clock: Clock
) -> None:
    alice, lee = person("alice"), person("0lead")
    report = await tell(alice, api)
    clock.later(1800)
    await press(lee, report, "case:ack")
    await alice.say(f"reference police {REFERENCE}")
    clock.later(86_400)
    assert await press(lee, report, "case:record") == 200
    chat = api.posted(LEAD_DM)[-1].text
    assert "Told: Lee Leader, 5 October 2026, 09:00" in chat and REFERENCE in chat
    txt, table = api.uploaded(LEAD_DM)
    assert [txt["name"], table["name"]] == [
        "report-record-2026-10-06.txt",
        "report-record-2026-10-06.csv",
    ]
    assert txt["content"].decode() == chat + "\n"
    rows = list(csv.reader(io.StringIO(table["content"].decode())))
    assert rows[0] == ["entry", "detail", "date"]
    lines = chat.split("\n")
    assert len(rows) - 1 == len(lines)
    for (entry, detail, date), line in zip(rows[1:], lines, strict=True):
        assert entry and detail in line and date in line, (entry, detail, date, line)
    assert ["reference", f"Police: {REFERENCE}", "5 October 2026, 09:30"] in rows
    assert [c.method for c in api.calls if c.method.startswith("files.")] == [
        "files.getUploadURLExternal",
        "files.getUploadURLExternal",
        "files.completeUploadExternal",
    ]
    # Withdrawn: the files the bot shared are deleted with the rest.
    assert await alice.say("delete my data") == 200
    assert txt.get("deleted") and table.get("deleted")


# --- the governors' summary -----------------------------------------------------------------------


async def test_the_summary_suppresses_small_counts_and_holds_no_names_ids_or_answers(
    person, api: SlackApi, clock: Clock, runner: Runner, redis, prefix: str
) -> None:
    reporters = [person(f"staff{n}") for n in range(6)]
    lee = person("0lead")
    for n, reporter in enumerate(reporters):
        report = await tell(reporter, api)
        clock.later(3600 * (n + 1))  # acknowledged after 1, 2, ... 5 hours
        if n < 5:
            await press(lee, report, "case:ack")
    await reporters[0].say(f"reference police {REFERENCE}")
    await reporters[5].say("delete my data")  # withdrawn: still counted as sent, not open

    assert runner.telling and runner.telling.counting
    term = terms.term("autumn-2026")
    oak = schools().default
    text = await summary.summary(runner.telling.counting.statistics, oak, term, runner.views.flow)
    assert "Reports sent to the person who leads: 6" in text
    assert "- Abusive phone calls: 6" in text and "- A pupil: 6" in text
    assert "- Online sexual harassment: fewer than 5" in text  # 0 is under 5 too
    assert "- A parent or carer: fewer than 5" in text
    assert "median 3 hours, longest 5 hours (5 acknowledged)" in text
    assert "Escalated to someone else: fewer than 5" in text
    assert "Still open (not every step done, not withdrawn): 5" in text
    assert "Term: autumn 2026 (1 August 2026 to 31 December 2026" in text

    key = f"{prefix}:{{stats:school:autumn-2026}}"
    stats = sorted([k.decode() async for k in redis.scan_iter(f"{prefix}:{{stats:*")])
    assert stats == [key, key + ":acks"]
    held = {k.decode(): v.decode() for k, v in (await redis.hgetall(key)).items()}
    assert held["sent"] == "6" and held["acked"] == "5" and held["withdrawn"] == "1"
    assert await redis.lrange(key + ":acks", 0, -1) == [b"%d" % (h * 3600) for h in range(1, 6)]
    words = json.dumps(held) + text
    secret = [r.id for r in reporters] + ["U0LEAD", "Lee", "Leader", REFERENCE, TEAM]
    secret += [reference_of(api, r).partition(".")[0] for r in reporters[:5]]
    for word in secret:
        assert word not in words, word
    ttl = await redis.ttl(key)
    assert 730 * 86_400 < ttl < (730 + 90) * 86_400  # kept as the school file says, after the term


async def test_the_summary_reaches_the_governor_in_their_dm(
    person, api: SlackApi, runner: Runner
) -> None:
    for n in range(5):
        await tell(person(f"staff{n}"), api)
    client = AsyncWebClient(token=TOKEN, base_url=api.url)
    outbox = SlackOutbox(client, UserKey("slack", TEAM, "U0TIMER"), "")  # as a timer makes one
    oak = schools().default
    assert oak is not None
    assert await summary.send(runner, oak, terms.term("autumn-2026"), outbox, "slack", TEAM)
    (sent,) = api.posted("DU0GOV")
    assert "Reports sent to the person who leads: 5" in sent.text and "Oak School" in sent.text
