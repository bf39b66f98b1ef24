"""Shared fixtures: one real Redis for the session, a fresh key prefix for each test."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot import local_redis
from bot.redis_connection import client
from bot.web import create_app
from conversation import flow
from conversation.engine import Engine
from conversation.runner import Runner, build
from conversation.storage import Db, Keys, Store
from conversation.views import Views
from tests.drivers.connector import Connector
from tests.drivers.slack_api import SlackApi
from tests.drivers.slack_user import SlackUser, poster, settings_for


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
    """The test's own key prefix; also a terminal user id (`chat --user PREFIX...`)."""
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def redis(redis_url: str, prefix: str) -> AsyncIterator:
    """A client of the session's Redis; afterwards every key the test made is deleted: those
    under its prefix, and a terminal chat's under `hb:` for a user id starting with it."""
    r = client(redis_url)
    yield r
    for pattern in (f"{prefix}:*", f"hb:{{terminal:*:{prefix}*}}*"):
        keys = [k async for k in r.scan_iter(pattern)]
        if keys:
            await r.delete(*keys)
    await r.aclose()


@pytest.fixture
def db(redis, prefix: str) -> Db:
    return Db(redis, Keys(prefix))


@pytest.fixture
def store(db: Db) -> Store:
    return Store(db, ttl_seconds=30 * 86_400)


@pytest.fixture
def engine(store: Store) -> Engine:
    return Engine(Views(flow.load()), store)


@pytest.fixture
def runner(redis, prefix: str) -> Runner:
    """The whole conversation, as `serve` builds it, on the test's own keys."""
    return build(redis, prefix=prefix)


@pytest.fixture
def new_engine(redis, prefix: str):
    """Another worker: its own store (and so its own cache) on the same Redis."""

    def make() -> Engine:
        return Engine(Views(flow.load()), Store(Db(redis, Keys(prefix)), ttl_seconds=30 * 86_400))

    return make


# --- Slack over HTTP: the stand-in, the app over the test's runner, and its people ----------
# (A test module that needs another runner defines its own `runner`; one that speaks Teams
# defines its own `http` and people, over the Connector's stand-in, `connector`.)


@pytest.fixture
async def api() -> AsyncIterator[SlackApi]:
    async with SlackApi() as standin:
        yield standin


@pytest.fixture
async def connector() -> AsyncIterator[Connector]:
    """The Bot Framework Connector's stand-in, recording every call (Teams' `api`)."""
    async with Connector() as standin:
        yield standin


@pytest.fixture
async def http(runner: Runner, api: SlackApi) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(create_app(settings_for(api), runner))) as client_:
        yield client_


@pytest.fixture
def alice(http: TestClient, api: SlackApi) -> SlackUser:
    return SlackUser(poster(http), api)


@pytest.fixture
def lee(http: TestClient, api: SlackApi) -> SlackUser:
    return SlackUser(poster(http), api, "0lead")
