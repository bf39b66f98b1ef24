"""Through a real `python -m bot serve`, with a school file whose durations are seconds, on
the real clock: its own ticker keeps time, as in production.

Lee, who does nothing, is reminded; Lena, who acknowledges at once, never is; the deputy
gets nothing, as nobody agreed to escalation; and alice is asked whether the harmful
content came down, where "not yet" names Report Harmful Content.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import aiohttp
import pytest

from tests.drivers.followups import CALLS, CONTENT, LEAD_DM, nudges
from tests.drivers.leads import buttons, press, with_button
from tests.drivers.slack_api import TOKEN, SlackApi
from tests.drivers.slack_user import SECRET, TEAM, SlackUser, slack_user

from .helpers import serving

SECONDS_SCHOOL = """
[school]
name = "Oak School"

[[school.leads]]
name = "Lee Leader"
slack = "U0LEAD"

[[school.leads]]
name = "Lena Second"
slack = "U0LEADTWO"

[[school.deputies]]
name = "Dana Deputy"
slack = "U0DEP"

[school.follow_up]
lead_reminder = "3 seconds"
escalate_after = "5 seconds"
platform_check = "3 seconds"
report_harmful_content = "1 hour"
digest = false
quiet_hours = false
"""


async def offered(api: SlackApi, dm: str, prefix: str) -> None:
    """Until a message with such a button is in the DM (the bot posts after its ack)."""

    def there(calls: list) -> bool:
        return any(b["action_id"].startswith(prefix) for c in calls for b in buttons(c))

    await api.until(dm, there)


@pytest.fixture
async def cleaned(redis) -> list[str]:
    """User ids made up for this test; their keys and timers under `hb:` are removed after."""
    made: list[str] = []
    yield made
    for name in made:
        keys = [k async for k in redis.scan_iter(f"hb:{{slack:{TEAM}:{name}}}*")]
        if keys:
            await redis.delete(*keys)
    timers = "hb:timers:{slack}"
    for member in await redis.zrange(timers, 0, -1):
        if any(name in member.decode() for name in [*made, "U0LEAD"]):
            await redis.zrem(timers, member)


async def test_a_real_serve_keeps_time_with_seconds(
    tmp_path: Path, redis_url: str, cleaned: list[str]
) -> None:
    file = tmp_path / "school.toml"
    file.write_text(SECONDS_SCHOOL)
    tag = uuid.uuid4().hex[:6]
    async with (
        SlackApi() as api,
        aiohttp.ClientSession() as session,
        serving(
            session,
            {
                "REDIS_URL": redis_url,
                "SLACK_BOT_TOKEN": TOKEN,
                "SLACK_SIGNING_SECRET": SECRET,
                "SLACK_API_URL": api.url,
                "SCHOOL_CONFIG": str(file),
            },
        ) as served,
    ):
        alice = slack_user(session, served.url, api, f"a{tag}")
        bob = slack_user(session, served.url, api, f"b{tag}")
        cleaned += [alice.id, bob.id, "U0LEAD", "U0LEADTWO"]

        async def post(body: bytes, content_type: str, headers: dict[str, str]) -> int:
            url = f"{served.url}/slack/events"
            headers = {"Content-Type": content_type, **headers}
            async with session.post(url, data=body, headers=headers) as response:
                return response.status

        lena = SlackUser(post, api, "0leadtwo")

        for user, path, lead in ((alice, CONTENT, "leads.0"), (bob, CALLS, "leads.1")):
            await user.walk(path)
            await offered(api, user.dm, "tell:")
            await press(user, with_button(api, user.dm, "tell:"), f"tell:{lead}")
            await offered(api, user.dm, "tell-send")
            await press(user, with_button(api, user.dm, "tell-send"), "tell-send")
        await api.until("DU0LEADTWO", lambda calls: bool(calls))
        (report,) = api.posted("DU0LEADTWO")
        assert await press(lena, report, "case:ack") == 200
        await api.until(bob.dm, lambda calls: any("has acknowledged" in c.text for c in calls))

        # Lee did nothing: a reminder within seconds, and a second one after.
        await api.until(LEAD_DM, lambda calls: len(nudges(api, LEAD_DM, "case:ack")) >= 3, 20)
        # alice is asked about the content; "not yet" names Report Harmful Content.
        await api.until(alice.dm, lambda _: bool(nudges(api, alice.dm, "follow:content:not_yet")))
        (question,) = nudges(api, alice.dm, "follow:content:not_yet")
        assert await press(alice, question, "follow:content:not_yet") == 200
        assert "Report Harmful Content" in api.posted(alice.dm)[-1].text
        # Past two reminders' time since bob's Send, and escalate_after, with nobody's
        # consent: the deputy has nothing, and Lena, who acknowledged, no reminder.
        await asyncio.sleep(7)
        assert len(nudges(api, "DU0LEADTWO", "case:ack")) == 1
        assert api.to("DU0DEP") == []
    assert served.proc.returncode == 0, served.stderr
    assert "Traceback" not in served.stderr
