"""Timers live in Redis beside the case: a Sentinel failover between a report's Send and its
reminder loses neither, and the same worker's ticker fires the reminder once the replica
has taken over, exactly once."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.redis_connection import client, close, replica_wait_ms
from bot.web import create_app
from conversation.runner import build
from conversation.storage import Keys
from conversation.ticker import Ticker
from tests.drivers.followups import CONTENT, DAY, LEAD_DM, MONDAY, Clock, nudges, oak, send
from tests.drivers.leads import press
from tests.drivers.slack_api import SlackApi
from tests.drivers.slack_user import SlackUser, poster, settings_for

from .redis_servers import SentinelSet, sentinel_set

pytestmark = pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server")


@pytest.fixture
def sentinels(tmp_path: Path) -> Iterator[SentinelSet]:
    with sentinel_set(tmp_path) as group:
        yield group


async def test_a_reminder_survives_a_sentinel_failover_and_fires_once(
    sentinels: SentinelSet,
) -> None:
    redis = client(sentinels.url)
    clock = Clock()
    prefix = "failover"
    runner = build(
        redis,
        prefix=prefix,
        schools=oak(),
        clock=clock,
        replica_wait_ms=await replica_wait_ms(redis),
    )
    async with (
        SlackApi() as api,
        TestClient(TestServer(create_app(settings_for(api), runner))) as http,
    ):
        alice = SlackUser(poster(http), api)
        await send(alice, api)
        assert await redis.execute_command("WAIT", 1, 2000) == 1  # the replica has it all
        assert await redis.zcard(Keys(prefix).timers("slack")) == 3  # 2 reminders, a digest

        old = sentinels.master()
        old.kill()
        died = time.monotonic()
        ticker = Ticker(runner)
        clock.set(MONDAY + DAY)
        while not nudges(api, LEAD_DM, "case:ack")[1:]:
            assert time.monotonic() - died < 30, "no reminder 30 s after the master died"
            await ticker.tick()  # storage unavailable until the replica is promoted: no harm
            await asyncio.sleep(0.2)
        assert sentinels.master() is not old
        for _ in range(5):
            await ticker.tick()
        assert len(nudges(api, LEAD_DM, "case:ack")) == 2  # the report and one reminder
    await close(redis)


async def test_on_a_cluster_the_timers_scripts_and_a_whole_cycle_work(redis_cluster) -> None:
    """Each platform's timers and their tries share one slot, and each user's follow-up
    sits beside their progress: every script runs on a Cluster."""
    redis = client(redis_cluster.url)
    clock = Clock()
    prefix = f"cluster-followups-{time.time_ns()}"
    runner = build(redis, prefix=prefix, schools=oak(), clock=clock)
    try:
        async with (
            SlackApi() as api,
            TestClient(TestServer(create_app(settings_for(api), runner))) as http,
        ):
            alice = SlackUser(poster(http), api)
            await send(alice, api, CONTENT, escalate=True)
            ticker = Ticker(runner)
            for day in range(1, 4):
                clock.set(MONDAY + day * DAY)
                await ticker.tick()
            assert len(nudges(api, LEAD_DM, "case:ack")) == 3  # the report, two reminders
            assert api.posted("DU0DEP")  # escalated, as she agreed
            (question,) = nudges(api, alice.dm, "follow:content:not_yet")
            assert await press(alice, question, "follow:content:not_yet") == 200
            assert "Report Harmful Content" in api.posted(alice.dm)[-1].text
            assert await alice.say("delete my data") == 200
            left = [m async for m, _ in redis.zscan_iter(Keys(prefix).timers("slack"))]
            assert {m.split()[0] for m in left} == {b"digest"}  # the leads' own, until it fires
    finally:
        for key in [k async for k in redis.scan_iter(f"{prefix}:*")]:
            await redis.delete(key)
        await close(redis)
