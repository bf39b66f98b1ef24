"""Bounds on what one client can hold: connections, and how long a request may take to arrive.

aiohttp closes a connection left without a whole request's headers for `keepalive_timeout`:
the timer starts when the connection opens and again after each answer, and bytes that do not
complete the headers do not restart it, so that one deadline covers idle connections and slow
headers alike. It has no deadline for a body and no cap on connections; those two are here.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from collections.abc import Callable, Collection

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

log = logging.getLogger("bot.web")

LINGER_SECONDS = 1.0
"""After a refusal sent before the body was read, read (and drop) the rest this long at most,
so that a client still sending sees the answer instead of a reset."""

RESERVED_FDS = 600
"""File descriptors kept back from the connection cap: Redis's pool (512), the Slack and Teams
clients' pools, logs and the embedded store. Running out of them fails accepts in a loop."""

REFUSAL_GRACE = 1.0
"""Seconds a refused connection has to read the 503 and hang up before it is closed."""

_BODY = b'{"error": "too many connections, try again shortly"}'
REFUSAL = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b"Content-Length: %d\r\nRetry-After: 1\r\nConnection: close\r\n\r\n%s" % (len(_BODY), _BODY)
)


def body_deadline(
    seconds: float, unread: Collection[Handler] = (), own_readers: Collection[str] = ()
) -> Middleware:
    """Read each body within `seconds` of its headers, or answer 408 and close: a client
    sending one byte every few seconds would otherwise hold its connection for ever.

    The body is read here, before the route sees it (it is cached, so the route reads it again
    for free); `client_max_size` still applies and answers 413 from here. Bodies no route reads
    (404, 405, and the handlers in `unread`) are left alone: aiohttp answers, lingers for
    LINGER_SECONDS and closes. Routes at `own_readers` paths read (and bound) their bodies
    themselves, after checking who sent them."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        match = request.match_info
        if (
            request.body_exists
            and match.http_exception is None
            and match.handler not in unread
            and request.path not in own_readers
        ):
            try:
                async with asyncio.timeout(seconds):
                    await request.read()
            except TimeoutError:
                response = web.json_response({"error": "request body too slow"}, status=408)
                response.force_close()  # the rest may never come
                return response
        return await handler(request)

    return middleware


def cap(wanted: int) -> int:
    """The connection cap to use: `wanted`, lowered to fit the process's file-descriptor limit."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(16, min(wanted, soft - RESERVED_FDS))


class Bounded:
    """The protocol factory handed to the event loop: aiohttp's own, while fewer than `limit`
    connections are open; past that, each new one is answered 503 and closed unread."""

    def __init__(self, server: web.Server, limit: int) -> None:
        self._server = server
        self._limit = limit
        self._open = 0
        self._refusing = 0
        self._refused = 0
        self._logged = 0.0

    def __call__(self) -> asyncio.BaseProtocol:
        # Counted here, not from `server.connections`: the loop calls this for a whole burst of
        # accepts before any of them is connected, and the cap must hold for the burst too.
        if self._open < self._limit:
            self._open += 1
            return _Counted(self._server(), self._closed)
        self._refused += 1
        now = time.monotonic()
        if now - self._logged >= 10:  # one line per ten seconds however many are refused
            log.warning(
                "connections refused", extra={"limit": self._limit, "refused": self._refused}
            )
            self._logged, self._refused = now, 0
        return _Refused(self._refusing < self._limit, self._done)

    def _done(self, delta: int) -> None:
        self._refusing += delta

    def _closed(self) -> None:
        self._open -= 1


class _Counted(asyncio.Protocol):
    """aiohttp's handler for one connection, passed every event, and uncounted once it is lost."""

    def __init__(self, inner: asyncio.Protocol, closed: Callable[[], None]) -> None:
        self._inner = inner
        self._closed = closed

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed()
        self._inner.connection_lost(exc)


class _Refused(asyncio.Protocol):
    """Writes the 503, half-closes, drops whatever the client sends, and closes within
    REFUSAL_GRACE. When as many are already waiting to close, it closes at once instead."""

    def __init__(self, answer: bool, count: Callable[[int], None]) -> None:
        self._answer = answer
        self._count = count
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        if not self._answer:
            transport.abort()
            return
        self._count(1)
        transport.write(REFUSAL)
        if transport.can_write_eof():
            transport.write_eof()
        self._timer = asyncio.get_running_loop().call_later(REFUSAL_GRACE, transport.abort)

    def data_received(self, data: bytes) -> None:
        pass  # the request is not read

    def eof_received(self) -> bool:
        return False  # the client hung up: close

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._count(-1)
