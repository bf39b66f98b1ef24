"""Redis going away and coming back: clear failure within 3 s, nothing lost, then resume."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from adapters.slack.settings import SlackSettings
from bot.config import Settings
from bot.redis_connection import client
from bot.web import create_app
from conversation import flow
from conversation.engine import Engine
from conversation.messages import Outcome, Start, UserKey
from conversation.runner import Runner
from conversation.storage import Db, Store, StoreUnavailable
from conversation.views import Views
from tests.drivers.connector import Connector
from tests.drivers.slack_api import TOKEN, SlackApi
from tests.drivers.slack_user import SECRET, SlackUser, step_of
from tests.drivers.slack_user import poster as slack_poster
from tests.drivers.teams_user import UNAUTHENTICATED, TeamsUser
from tests.drivers.teams_user import poster as teams_poster
from tests.drivers.teams_user import step_of as card_step

from .helpers import question, typed
from .redis_servers import RedisProcess

pytestmark = pytest.mark.skipif(
    subprocess.run(["which", "redis-server"], capture_output=True).returncode != 0,
    reason="needs a redis-server binary to stop and start",
)


@pytest.fixture
def redis_process(tmp_path: Path) -> Iterator[RedisProcess]:
    server = RedisProcess(tmp_path)
    server.start()
    yield server
    if server.proc and server.proc.poll() is None:
        server.stop()


async def test_a_conversation_survives_redis_stopping_and_starting(redis_process) -> None:
    redis = client(redis_process.url)
    engine = Engine(Views(flow.load(), ttl_days=1), Store(Db(redis), ttl_seconds=3600))
    me = UserKey("test", "faults", "me")
    turn = await typed(engine, me, "hi", "1", "2", "1")
    assert question(turn).step == "perpetrator"

    async with TestClient(TestServer(create_app(Settings(), Runner(engine)))) as http:
        redis_process.stop()
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            await typed(engine, me, "pupil")
        assert time.monotonic() - started < 3
        started = time.monotonic()
        assert (await http.get("/readyz")).status == 503
        assert time.monotonic() - started < 3
        assert (await http.get("/healthz")).status == 200

        redis_process.start()
        assert (await http.get("/readyz")).status == 200
        turn = await typed(engine, me, "pupil")
        assert turn.outcome is Outcome.ANSWERED and question(turn).step == "criteria"

    # a new process after the restart finds everything answered so far
    fresh = Engine(
        Views(flow.load(), ttl_days=1), Store(Db(client(redis_process.url)), ttl_seconds=3600)
    )
    resumed = await fresh.handle(me, Start())
    assert resumed.outcome is Outcome.RESUMED and question(resumed).step == "criteria"
    await redis.aclose()
    await fresh.store.redis.aclose()


# --- the same, over HTTP, as Slack and Teams users see it -----------------------------------------


@pytest.mark.parametrize("fault", ["stopped", "hung"])
async def test_users_hear_within_3_s_when_redis_goes_and_carry_on_when_it_is_back(
    redis_process: RedisProcess, fault: str
) -> None:
    """Stopped: connections are refused. Hung (SIGSTOP): they open but nothing answers, so
    only the client's timeouts bound the wait."""
    redis = client(redis_process.url)
    engine = Engine(Views(flow.load(), ttl_days=1), Store(Db(redis), ttl_seconds=3600))
    async with SlackApi() as api, Connector() as connector:
        settings = Settings(slack=SlackSettings(TOKEN, SECRET, api.url), teams=UNAUTHENTICATED)
        async with TestClient(TestServer(create_app(settings, Runner(engine)))) as http:
            alice = SlackUser(slack_poster(http), api)
            bob = TeamsUser(teams_poster(http), connector)
            for text in ("hi", "start", "1", "continue"):
                await alice.say(text)
            await bob.install()
            for ids in (("start",), ("affected",), ("continue",)):
                await bob.answer(*ids)
            slack_question, teams_card = alice.question(), bob.question()
            unavailable = engine.views.for_user(UserKey("any", "x", "y")).notice("unavailable").text

            if fault == "stopped":
                redis_process.stop()
            else:
                redis_process.proc.send_signal(signal.SIGSTOP)
            try:
                started = time.monotonic()
                assert await alice.answer("pupil", message=slack_question) == 200
                assert api.posted(alice.dm)[-1].text == unavailable.replace("**", "")
                assert time.monotonic() - started < 3
                started = time.monotonic()
                assert await bob.answer("parent", card=teams_card) == 201
                assert connector.sent_to(bob.chat)[-1].text == unavailable
                assert time.monotonic() - started < 3
                started = time.monotonic()
                assert (await http.get("/readyz")).status == 503
                assert time.monotonic() - started < 3
                assert (await http.get("/healthz")).status == 200
            finally:
                if fault == "stopped":
                    redis_process.start()
                else:
                    redis_process.proc.send_signal(signal.SIGCONT)

            assert (await http.get("/readyz")).status == 200
            # Nothing answered was lost: the same questions, answered again, carry on.
            assert await alice.answer("pupil", message=slack_question) == 200
            assert step_of(alice.question()) == "criteria"
            assert await bob.answer("parent", card=teams_card) == 201
            assert card_step(bob.question()) == "criteria"
    await redis.aclose()
