"""Shared fixtures: one real Redis for the session, a fresh key prefix for each test."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from bot import local_redis
from bot.redis_connection import client
from conversation import flow
from conversation.engine import Engine
from conversation.store import Store


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """REDIS_URL if given (it must answer), else a redis-server or embedded Valkey of our own."""
    with local_redis.redis_url() as url:
        yield url


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """A real Redis Cluster on loopback (three masters, a replica each), shared by the tests
    that leave it whole; a test that kills a node starts a cluster of its own."""
    if not shutil.which("redis-server"):
        pytest.skip("needs a redis-server binary")
    from .redis_servers import redis_cluster as start

    with start(tmp_path_factory.mktemp("cluster")) as cluster:
        yield cluster


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
