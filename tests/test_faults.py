"""Redis going away and coming back: clear failure within 3 s, nothing lost, then resume."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.config import Settings
from bot.local_redis import free_port, wait_until_answers
from bot.redis_connection import client
from bot.web import create_app
from conversation import flow
from conversation.engine import Engine
from conversation.messages import Outcome, Start, UserKey
from conversation.store import Store, StoreUnavailable

from .helpers import question, typed

pytestmark = pytest.mark.skipif(
    subprocess.run(["which", "redis-server"], capture_output=True).returncode != 0,
    reason="needs a redis-server binary to stop and start",
)


class RedisProcess:
    """A real redis-server with its append-only file on, which a test can stop and start."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.port = folder, free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.folder),
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ],
            stdout=subprocess.DEVNULL,
        )
        wait_until_answers(self.url)

    def stop(self) -> None:
        assert self.proc is not None
        self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture
def redis_process(tmp_path: Path) -> Iterator[RedisProcess]:
    server = RedisProcess(tmp_path)
    server.start()
    yield server
    if server.proc and server.proc.poll() is None:
        server.stop()


async def test_a_conversation_survives_redis_stopping_and_starting(redis_process) -> None:
    redis = client(redis_process.url)
    engine = Engine(flow.load(), Store(redis, ttl_seconds=3600), ttl_days=1)
    me = UserKey("test", "faults", "me")
    turn = await typed(engine, me, "hi", "1", "2", "1")
    assert question(turn).step == "perpetrator"

    async with TestClient(TestServer(create_app(Settings(), engine))) as http:
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
    fresh = Engine(flow.load(), Store(client(redis_process.url), ttl_seconds=3600), ttl_days=1)
    resumed = await fresh.handle(me, Start())
    assert resumed.outcome is Outcome.RESUMED and question(resumed).step == "criteria"
    await redis.aclose()
    await fresh.store.redis.aclose()
