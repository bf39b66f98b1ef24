"""Bounds on what one client can hold: connections, and how long a request may take to arrive;
and a quiet, bare answer to a request that is not HTTP.

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
from collections import Counter
from collections.abc import Callable, Collection
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
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

MALFORMED_LOG_SECONDS = 1.0
"""At most one line this often about malformed requests, however many arrive."""

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
    """The protocol factory handed to the event loop: aiohttp's handler (as `Quiet`), while
    fewer than `limit` connections are open; past that, each new one is answered 503 and
    closed unread. `options` go to aiohttp's handler (`keepalive_timeout`, `access_log`...)."""

    def __init__(self, server: web.Server, limit: int, **options: Any) -> None:
        self._server = server
        self._limit = limit
        self._options = options
        self._malformed = Tally("malformed requests refused", MALFORMED_LOG_SECONDS)
        self._open = 0
        self._refusing = 0
        self._refused = 0
        self._logged = 0.0

    def __call__(self) -> asyncio.BaseProtocol:
        # Counted here, not from `server.connections`: the loop calls this for a whole burst of
        # accepts before any of them is connected, and the cap must hold for the burst too.
        if self._open < self._limit:
            self._open += 1
            loop = asyncio.get_running_loop()
            handler = Quiet(self._server, self._malformed, loop=loop, **self._options)
            return _Counted(handler, self._closed)
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


class Quiet(web.RequestHandler):
    """aiohttp's handler for one connection, but quiet about requests that are not HTTP.

    aiohttp answers bytes it cannot parse (not HTTP at all, a bad request line or header, a
    broken chunked or compressed body) with a 400 page quoting them, and logs an ERROR
    traceback quoting them again; it has no setting for either (aio-libs/aiohttp#3287, #9882),
    and middlewares never see such a request. So its two public hooks for it are overridden
    here, and only for those errors: `handle_error` answers a bare 400 and counts the error
    by its class in `malformed`, and `log_exception` drops the traceback aiohttp logs again
    when the same body error is raised while it drains the rest. Every other error (a bug in
    a route, say) keeps aiohttp's own answer and traceback."""

    __slots__ = ("_malformed",)

    def __init__(self, manager: web.Server, malformed: Tally, **options: Any) -> None:
        super().__init__(manager, **options)
        self._malformed = malformed

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if not _malformed(exc) or request.writer.output_size > 0:
            return super().handle_error(request, status, exc, message)
        self._malformed.add(type(exc).__name__)
        response = web.json_response({"error": "malformed request"}, status=400)
        response.force_close()
        return response

    def log_exception(self, *args: Any, **kw: Any) -> None:
        if not _malformed(kw.get("exc_info")):
            super().log_exception(*args, **kw)


def _malformed(exc: object) -> bool:
    """Whether `exc` says the client sent something that is not HTTP (its text quotes it)."""
    return isinstance(exc, HttpProcessingError | web.RequestPayloadError)


class Tally:
    """Events counted by kind and logged without their content: the first at once, then at
    most one line every `seconds`, with how many of each kind came since the last line."""

    def __init__(self, event: str, seconds: float) -> None:
        self._event = event
        self._seconds = seconds
        self._counts: Counter[str] = Counter()
        self._logged = float("-inf")
        self._due: asyncio.TimerHandle | None = None

    def add(self, kind: str) -> None:
        self._counts[kind] += 1
        if self._due is not None:
            return
        loop = asyncio.get_running_loop()
        wait = self._logged + self._seconds - loop.time()
        if wait <= 0:
            self._log()
        else:
            self._due = loop.call_later(wait, self._log)

    def _log(self) -> None:
        self._due = None
        self._logged = asyncio.get_running_loop().time()
        counts, self._counts = dict(self._counts), Counter()
        log.info(self._event, extra={"count": sum(counts.values()), "errors": counts})
