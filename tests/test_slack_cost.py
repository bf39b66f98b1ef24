"""What one Slack click costs: Web API calls at the stand-in, Redis commands at a real
redis-server (seen by MONITOR), on the whole conversation as `serve` builds it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.redis_connection import client
from bot.web import create_app
from conversation.runner import Runner, build
from conversation.storage import Store
from tests.drivers.slack_api import SlackApi

from .school_files import leads_school
from .test_slack import SlackUser, poster, settings_for


@pytest.fixture
def full(store: Store) -> Runner:
    """Telling and follow-ups on, for a school with a lead: everything a turn may look up."""
    return build(store.redis, prefix=store.keys.prefix, schools=leads_school())


@pytest.fixture
async def api() -> AsyncIterator[SlackApi]:
    async with SlackApi() as standin:
        yield standin


@pytest.fixture
async def http(full: Runner, api: SlackApi) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(create_app(settings_for(api), full))) as test_client:
        yield test_client


@pytest.fixture
def alice(http: TestClient, api: SlackApi) -> SlackUser:
    return SlackUser(poster(http), api)


@contextlib.asynccontextmanager
async def monitored(redis_url: str, prefix: str) -> AsyncIterator[list[str]]:
    """Every command Redis runs that names `prefix` (the test's own keys), while inside."""
    seen: list[str] = []
    watcher = client(redis_url)
    started = asyncio.Event()

    async def watch() -> None:
        async with watcher.monitor() as monitor:
            started.set()
            async for command in monitor.listen():
                if command.get("client_type") != "lua":
                    seen.append(command["command"][:60])

    task = asyncio.create_task(watch())
    await started.wait()
    await asyncio.sleep(0.05)
    try:
        yield seen
    finally:
        await asyncio.sleep(0.1)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await watcher.aclose()


async def test_measure(alice: SlackUser, api: SlackApi, redis_url: str, prefix: str) -> None:
    from .helpers import SAMPLE_PATHS
    path = SAMPLE_PATHS["staff and parent, every kind of abuse"]
    async with monitored(redis_url, prefix) as seen:
        await alice.say("hi")
    print("START", seen)
    for step, ids in path:
        calls = len(api.calls)
        async with monitored(redis_url, prefix) as seen:
            await alice.answer(*ids)
        print(step, "API", [c.method for c in api.calls[calls:]])
        print(step, "REDIS", seen)
    assert False
