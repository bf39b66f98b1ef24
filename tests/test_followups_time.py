"""The school's clock: working days past weekends, bank holidays and closures; quiet hours
across the October clock change; the weekly digest; the file's settings checked at start-up;
and the terminal, which nothing can message, showing what is due when it is opened."""

from __future__ import annotations

import contextlib
import io
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot import check_config
from bot.console import Screen
from bot.web import create_app
from conversation import school
from conversation.followups.calendar import Calendar
from conversation.messages import Choose, Say, Start, UserKey
from conversation.runner import Runner, build
from conversation.storage import Keys
from conversation.ticker import Ticker
from conversation.timing import FollowUp, closures, duration
from tests.drivers.followups import (
    CONTENT,
    DAY,
    LEAD_DM,
    MONDAY,
    Clock,
    at,
    local,
    nudges,
    oak,
    send,
)
from tests.drivers.leads import press
from tests.drivers.slack_api import SlackApi
from tests.drivers.slack_user import SlackUser, poster, settings_for

from .helpers import option_words

ENGLAND = Calendar(FollowUp())


@contextlib.asynccontextmanager
async def bot(
    redis, prefix: str, clock: Clock, api: SlackApi, extra: str = ""
) -> AsyncIterator[tuple[Runner, Ticker, SlackUser, SlackUser]]:
    """A worker of a school whose file adds `extra` to [school]: its ticker, alice and Lee."""
    runner = build(redis, prefix=prefix, schools=oak(extra), clock=clock)
    async with TestClient(TestServer(create_app(settings_for(api), runner))) as http:
        yield (
            runner,
            Ticker(runner),
            SlackUser(poster(http), api),
            SlackUser(poster(http), api, "0lead"),
        )


@pytest.fixture
async def api() -> AsyncIterator[SlackApi]:
    async with SlackApi() as standin:
        yield standin


# --- working days ---------------------------------------------------------------------------------


def test_working_days_skip_weekends_and_england_s_bank_holidays() -> None:
    one = duration("1 working day")
    assert ENGLAND.after(local("2026-03-06 15:00"), one) == local("2026-03-09 15:00")  # Fri->Mon
    # Good Friday (3 April) and Easter Monday (6 April) 2026.
    assert ENGLAND.after(local("2026-04-02 10:00"), one) == local("2026-04-07 10:00")
    # The summer bank holiday, 31 August 2026.
    assert ENGLAND.after(local("2026-08-28 09:00"), duration("2 working days")) == local(
        "2026-09-02 09:00"
    )
    assert ENGLAND.before(local("2026-04-07 10:00"), one) == local("2026-04-02 10:00")


def test_a_closure_is_skipped_like_a_holiday() -> None:
    closed = Calendar(FollowUp(closed=closures(["2026-12-21..2027-01-04", "2027-02-15"])))
    three = duration("3 working days")
    assert closed.after(local("2026-12-18 10:00"), three) == local("2027-01-07 10:00")
    assert closed.after(local("2027-02-12 10:00"), duration("1 working day")) == local(
        "2027-02-16 10:00"
    )
    assert ENGLAND.after(local("2027-02-12 10:00"), duration("1 working day")) == local(
        "2027-02-15 10:00"
    )


def test_a_working_day_across_the_october_clock_change_keeps_the_wall_clock_time() -> None:
    # The clocks go back at 02:00 on Sunday 25 October 2026: 3 days of 24 hours and one of 25.
    sent = local("2026-10-23 15:00")
    assert ENGLAND.after(sent, duration("1 working day")) - sent == 3 * DAY + 3600


def test_quiet_hours_wait_for_the_morning_across_the_october_clock_change() -> None:
    late = local("2026-10-24 23:00")  # BST
    morning = ENGLAND.deliverable(late)
    assert morning == local("2026-10-25 08:00")  # GMT, 10 hours later, not 9
    assert morning - late == 10 * 3600 and morning % DAY == 8 * 3600  # 08:00 UTC
    assert ENGLAND.deliverable(local("2026-10-26 07:59")) == local("2026-10-26 08:00")
    assert ENGLAND.deliverable(local("2026-10-26 12:00")) == local("2026-10-26 12:00")
    anytime = Calendar(FollowUp(quiet_hours=None))
    assert anytime.deliverable(late) == late


async def test_a_reminder_waits_over_easter_for_the_next_working_day(
    redis, prefix: str, api: SlackApi
) -> None:
    clock = Clock(local("2026-04-02 10:00"))
    async with bot(redis, prefix, clock, api) as (_, ticker, alice, _lee):
        await send(alice, api)
        for day in ("2026-04-03", "2026-04-04", "2026-04-05", "2026-04-06"):
            await at(clock, ticker, local(f"{day} 10:00"))
            assert len(nudges(api, LEAD_DM, "case:ack")) == 1, day  # the report only
        await at(clock, ticker, local("2026-04-07 10:00"))
        assert len(nudges(api, LEAD_DM, "case:ack")) == 2
        # The Monday digest did not come on Easter Monday either, but the day after.
        digests = [c for c in api.posted(LEAD_DM) if "Your reports this week" in c.text]
        assert len(digests) == 1


async def test_a_reminder_waits_for_the_school_to_reopen(redis, prefix: str, api: SlackApi) -> None:
    clock = Clock(local("2026-12-18 10:00"))
    closed = '\n[school.follow_up]\nclosed = ["2026-12-21..2027-01-04"]\n'
    async with bot(redis, prefix, clock, api, closed) as (_, ticker, alice, _lee):
        await send(alice, api)
        assert await at(clock, ticker, local("2027-01-04 23:00")) == 0  # no digest either
        await at(clock, ticker, local("2027-01-05 10:00"))
        (reminder,) = nudges(api, LEAD_DM, "case:ack")[1:]
        assert "18 December 2026, 10:00" in reminder.text


async def test_a_follow_up_due_in_quiet_hours_comes_the_next_morning_after_the_change(
    redis, prefix: str, api: SlackApi
) -> None:
    clock = Clock(local("2026-10-23 17:00"))
    thirty = '\n[school.follow_up]\nplatform_check = "30 hours"\n'
    async with bot(redis, prefix, clock, api, thirty) as (_, ticker, alice, _lee):
        await alice.walk(CONTENT)
        key = Keys(prefix).timers("slack")
        (member,) = await redis.zrange(key, 0, -1)
        assert await redis.zscore(key, member) == local("2026-10-25 08:00")  # not Sat 23:00
        assert await at(clock, ticker, local("2026-10-25 07:59")) == 0
        assert await at(clock, ticker, local("2026-10-25 08:00")) == 1
        assert nudges(api, alice.dm, "follow:content:removed")


async def test_a_timer_found_due_in_quiet_hours_is_put_off_to_the_morning(
    redis, prefix: str, api: SlackApi
) -> None:
    """Every worker was down when it fell due; the first tick at night sends nothing."""
    clock = Clock(local("2026-10-24 15:00"))
    hour = '\n[school.follow_up]\nplatform_check = "1 hour"\n'
    async with bot(redis, prefix, clock, api, hour) as (_, ticker, alice, _lee):
        await alice.walk(CONTENT)
        assert await at(clock, ticker, local("2026-10-24 23:30")) == 0
        key = Keys(prefix).timers("slack")
        (member,) = await redis.zrange(key, 0, -1)
        assert await redis.zscore(key, member) == local("2026-10-25 08:00")
        assert not nudges(api, alice.dm, "follow:content:removed")
        assert await at(clock, ticker, local("2026-10-25 08:00")) == 1


# --- the weekly digest ----------------------------------------------------------------------------


async def test_the_weekly_digest_names_reports_by_id_and_date_only(
    redis, prefix: str, api: SlackApi
) -> None:
    clock = Clock()
    async with bot(redis, prefix, clock, api) as (_, ticker, alice, lee):
        report = await send(alice, api)
        clock.set(MONDAY + DAY)
        assert await press(lee, report, "case:ack") == 200
        await at(clock, ticker, local("2026-03-09 08:29"))
        assert not [c for c in api.posted(LEAD_DM) if "Your reports this week" in c.text]
        await at(clock, ticker, local("2026-03-09 08:30"))
        (digest,) = [c for c in api.posted(LEAD_DM) if "Your reports this week" in c.text]
        case_id = (
            await redis.hget(
                f"{prefix}:{{{alice.key.platform}:{alice.key.workspace}:{alice.id}}}:case", "id"
            )
        ).decode()
        assert (
            f"Report {case_id}, sent 2 March 2026, 10:00: acknowledged 3 March 2026, 10:00; "
            "0 of 6 checklist steps done; next: step 1 of its checklist." in digest.text
        )
        words = digest.text.casefold()
        assert not [w for w in option_words() if len(w) > 4 and f" {w} " in f" {words} "]
        await at(clock, ticker, local("2026-03-16 08:30"))  # the week after: again
        assert len([c for c in api.posted(LEAD_DM) if "Your reports this week" in c.text]) == 2
        assert await alice.say("delete my data") == 200  # Lee holds nothing now
        await at(clock, ticker, local("2026-03-23 08:30"))
        assert len([c for c in api.posted(LEAD_DM) if "Your reports this week" in c.text]) == 2
        assert await redis.zrange(Keys(prefix).timers("slack"), 0, -1) == []


# --- the school file ----------------------------------------------------------------------------


def test_every_key_is_optional_with_the_issue_s_defaults() -> None:
    found = oak().default
    assert found is not None and found.follow_up == FollowUp()
    assert [str(x) for x in (found.follow_up.lead_reminder, found.follow_up.escalate_after)] == [
        "1 working day",
        "3 working days",
    ]
    assert [p.name for p in found.deputies] == ["Dana Deputy"]


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ('lead_reminder = "soon"', "follow_up.lead_reminder: must be a whole number and a unit"),
        ('platform_check = "0 hours"', "follow_up.platform_check: must be at least 1"),
        ("escalate_after = 3", "follow_up.escalate_after: must be text like"),
        ('digest = "someday 08:30"', "follow_up.digest: must be a weekday and a time"),
        ('quiet_hours = ["18:00"]', "follow_up.quiet_hours: must be two times"),
        ('quiet_hours = ["6pm", "8am"]', "follow_up.quiet_hours: times must be 24-hour"),
        ('closed = ["2027-01-04..2026-12-21"]', "follow_up.closed: a closure must end on or"),
        ('closed = ["2026-02-30"]', "follow_up.closed: dates must be real days"),
        ("snooze = 1", "follow_up.snooze: unknown key"),
    ],
)
def test_a_malformed_clock_stops_start_up_with_one_line_naming_the_key(
    line: str, says: str
) -> None:
    with pytest.raises(school.SchoolError) as raised:
        school.parse(
            tomllib.loads(f"[school]\nname = 'Oak'\n[school.follow_up]\n{line}\n"), "oak.toml"
        )
    message = str(raised.value)
    assert message.startswith("oak.toml: school.") and says in message and "\n" not in message


def test_the_example_file_s_commented_clock_reads_as_the_defaults() -> None:
    example = (Path(__file__).resolve().parents[1] / "school.example.toml").read_text()
    block = example[example.index("# [school.follow_up]") :].split("\n\n")[0]
    lines = [line.removeprefix("# ") for line in block.splitlines()]
    raw = tomllib.loads("[school]\nname = 'Oak'\n" + "\n".join(lines))
    (parsed,) = school.parse(raw, "school.example.toml").all()
    assert parsed.follow_up == FollowUp(closed=closures(["2026-12-21..2027-01-04"]))


def test_check_config_shows_the_clock() -> None:
    extra = '\n[school.follow_up]\nlead_reminder = "2 hours"\nquiet_hours = false\n'
    out = io.StringIO()
    check_config.report(oak(extra), None, out)
    text = out.getvalue()
    assert "lead_reminder: 2 hours" in text and "escalate_after: 3 working days" in text
    assert "quiet_hours: none" in text and "digest: Mondays 08:30" in text
    assert "deputies" not in text  # Dana is reachable: no warning


# --- the terminal ---------------------------------------------------------------------------


async def test_the_terminal_shows_what_is_due_when_it_is_next_opened(redis, prefix: str) -> None:
    clock = Clock()
    runner = build(redis, prefix=prefix, clock=clock)
    user = UserKey("terminal", "local", f"{prefix}-me")
    out = io.StringIO()
    screen = Screen(out)
    await runner.run(user, Start(fresh=True), screen)
    for _, ids in CONTENT:
        progress = await runner.store.read(user)
        assert progress is not None
        await runner.run(user, Choose(ids, progress.token), screen)
    assert "Has the harmful content come down?" not in out.getvalue()
    clock.set(MONDAY + 2 * DAY)
    assert await Ticker(runner).tick() == 0  # nothing can message a terminal
    out.seek(0), out.truncate()
    await runner.run(user, Start(fresh=True), screen)
    opened = out.getvalue()
    assert "Has the harmful content come down?" in opened and "• Not yet" in opened
    await runner.run(user, Say("removed"), screen)
    assert "I've noted that it came down (4 March 2026, 10:00)" in out.getvalue()
    out.seek(0), out.truncate()
    await runner.run(user, Start(fresh=True), screen)
    assert "Has the harmful content come down?" not in out.getvalue()


def test_the_bank_holidays_are_read_when_the_calendars_are_made_not_on_a_turn() -> None:
    """Making the first calendar imports `holidays`' UK data, about 0.1 s: done as the
    follow-ups are set up at start-up, never inside the turn that first finishes a guide."""
    import subprocess
    import sys

    program = (
        "import sys\n"
        "from conversation.followups.calendar import Calendars\n"
        "Calendars()\n"
        "print('holidays.countries.united_kingdom' in sys.modules)\n"
    )
    ran = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True)
    assert ran.stdout.strip() == "True", ran.stderr
