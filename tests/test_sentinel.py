"""A real master, replica and three Sentinels on loopback: a failover mid-conversation costs
the user one "try again", the same process carries on with nothing lost, and the old master
coming back as a replica changes nothing. And a commit waits for a replica, but never long."""

from __future__ import annotations

import asyncio
import shutil
import signal
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.config import Settings
from bot.redis_connection import client, close, replica_wait_ms
from bot.web import create_app
from conversation.engine import Engine
from conversation.messages import Outcome, Start, UserKey
from conversation.progress import Progress
from conversation.runner import Runner
from conversation.storage import Db, Keys, Store, StoreUnavailable
from conversation.storage.store import REPLICA_WAIT_MS
from conversation.views import Views

from .helpers import FLOW, question, typed
from .redis_servers import COMMON, SentinelSet, Server, await_for, sentinel_set, wait_for

pytestmark = pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server")

ME = UserKey("test", "sentinel", "me")


@pytest.fixture
def sentinels(tmp_path: Path) -> Iterator[SentinelSet]:
    with sentinel_set(tmp_path) as group:
        yield group


async def test_a_sentinel_failover_mid_conversation_costs_one_try_again_and_nothing_else(
    sentinels: SentinelSet,
) -> None:
    redis = client(sentinels.url)
    store = Store(Db(redis), ttl_seconds=3600, replica_wait_ms=await replica_wait_ms(redis))
    assert store.replica_wait_ms == REPLICA_WAIT_MS
    engine = Engine(Views(FLOW, ttl_days=1), store)
    turn = await typed(engine, ME, "hi", "1", "2", "1")
    assert question(turn).step == "perpetrator"

    async with TestClient(TestServer(create_app(Settings(), Runner(engine)))) as http:
        assert (await http.get("/readyz")).status == 200
        old = sentinels.master()
        old.kill()
        died = time.monotonic()
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            await typed(engine, ME, "pupil")
        assert time.monotonic() - started < 3
        started = time.monotonic()
        assert (await http.get("/readyz")).status == 503
        assert time.monotonic() - started < 3

        # The Sentinels promote the replica; the same engine carries on, no restart.
        while True:
            try:
                turn = await typed(engine, ME, "pupil")
                break
            except StoreUnavailable:
                assert time.monotonic() - died < 30, "no turn worked 30 s after the master died"
                await asyncio.sleep(0.1)
        print(f"\nmaster killed -> first turn that works again: {time.monotonic() - died:.2f} s")
        assert turn.outcome is Outcome.ANSWERED and question(turn).step == "criteria"
        assert sentinels.master() is not old
        assert (await http.get("/readyz")).status == 200

        # The old master comes back (as it was started: a master), and the Sentinels make
        # it a replica of the new one: nothing changes for anyone.
        old.start()
        waited = await await_for(
            lambda: old.info("replication").get("master_link_status") == "up",
            "the old master to become a replica",
            40,
        )
        print(f"old master back as a replica after {waited:.1f} s")
        assert (await http.get("/readyz")).status == 200
        turn = await typed(engine, ME, "yes")
        assert question(turn).step == "police"

    # A new process finds every answer, the ones acknowledged before the crash included.
    fresh = client(sentinels.url)
    raw = await fresh.get(Keys().user(ME))
    answers = Progress.decode(raw.decode()).answer_map
    assert answers["perpetrator"] == ("pupil",) and answers["criteria"] == ("yes",)
    assert answers["support"] == ("continue",)
    resumed = await Engine(Views(FLOW, ttl_days=1), Store(Db(fresh), ttl_seconds=3600)).handle(
        ME, Start()
    )
    assert resumed.outcome is Outcome.RESUMED and question(resumed).step == "police"
    await close(fresh)
    await close(redis)


# --- waiting for a replica -------------------------------------------------------------------


@pytest.fixture
def master_and_replica(tmp_path: Path) -> Iterator[tuple[Server, Server]]:
    from bot.local_redis import free_port

    mport, rport = free_port(), free_port()
    master = Server(mport, tmp_path / "m", ["--port", str(mport), *COMMON])
    follow = ["--replicaof", "127.0.0.1", str(mport)]
    replica = Server(rport, tmp_path / "r", ["--port", str(rport), *COMMON, *follow])
    try:
        master.start()
        replica.start()
        wait_for(lambda: replica.info("replication")["master_link_status"] == "up", "the sync")
        yield master, replica
    finally:
        if replica.proc and replica.alive:
            replica.proc.send_signal(signal.SIGCONT)
        replica.stop()
        master.stop()


@pytest.fixture
async def replicated_store(master_and_replica) -> AsyncIterator[Store]:
    master, _ = master_and_replica
    redis = client(f"redis://{master.name}/0")
    yield Store(Db(redis), ttl_seconds=3600, replica_wait_ms=await replica_wait_ms(redis))
    await close(redis)


async def test_a_commit_waits_for_a_replica_but_a_lost_replica_costs_one_slow_turn(
    master_and_replica: tuple[Server, Server], replicated_store: Store
) -> None:
    """WAIT 1 after each commit: on the replica the moment the user is answered. With the
    replica frozen, the commit still goes through after the bound, and the next ones do not
    wait (the bot tries waiting again a few seconds later)."""
    _, replica = master_and_replica
    store = replicated_store
    assert store.replica_wait_ms == REPLICA_WAIT_MS  # a plain redis:// master with a replica
    # (A generous bound here, so that a loaded test machine cannot make the wait lapse.)
    patient = Store(store.db, ttl_seconds=3600, replica_wait_ms=5000)
    await typed(Engine(Views(FLOW, ttl_days=1), patient), ME, "hi", "1")
    with replica.client() as r:
        assert Progress.decode(r.get(store.keys.user(ME)).decode()).step == "role"
    engine = Engine(Views(FLOW, ttl_days=1), store)

    replica.proc.send_signal(signal.SIGSTOP)
    started = time.monotonic()
    turn = await typed(engine, ME, "2")
    slow = time.monotonic() - started
    assert REPLICA_WAIT_MS / 1000 * 0.8 < slow < 2, slow  # it waited, and no longer than bound
    assert question(turn).step == "support"
    started = time.monotonic()
    turn = await typed(engine, ME, "1")
    assert time.monotonic() - started < REPLICA_WAIT_MS / 1000 / 2
    assert question(turn).step == "perpetrator"
    replica.proc.send_signal(signal.SIGCONT)


async def test_a_single_server_without_replicas_does_not_wait(redis) -> None:
    assert await replica_wait_ms(redis) == 0
