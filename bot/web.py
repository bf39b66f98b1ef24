"""The one aiohttp process that serves every platform, plus health and readiness."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Handler

from conversation.runner import Runner
from conversation.storage import writable
from conversation.ticker import Ticker

from . import connections
from .config import ConfigError, Settings

log = logging.getLogger("bot.web")

MAX_BODY = 256 * 1024
"""Bigger requests are refused (413) before they are parsed: no platform sends more."""

RUNNER = web.AppKey("runner", Runner)
Check = Callable[[], Awaitable[bool]]
READINESS = web.AppKey("readiness", dict[str, Check])
"""What `/readyz` asks, by name: Redis, and each platform that needs something before it can
answer (Teams: the Bot Framework's signing keys)."""


def create_app(settings: Settings, runner: Runner, keep_time: bool = False) -> web.Application:
    """The web app; with `keep_time`, its ticker firing timers too (`serve`; tests step a
    `Ticker` of their own instead)."""
    app = web.Application(
        client_max_size=MAX_BODY,
        middlewares=[
            _refusals,
            connections.body_deadline(
                settings.http.body_timeout,
                unread=(_unauthorised,),
                # The Teams route checks the token before it reads the body, and bounds the
                # read itself (adapters.teams.request.BODY_SECONDS).
                own_readers={"/api/messages"} if settings.teams else set(),
            ),
        ],
    )
    app[RUNNER] = runner
    app[READINESS] = {"redis": lambda: writable(runner.store.db)}
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    if settings.slack:
        from adapters.slack.app import attach as slack

        slack(app, runner, settings.slack)
    if settings.teams:
        from adapters.teams.app import attach as teams

        app[READINESS]["teams"] = teams(app, runner, settings.teams)
    else:
        # With no app id the Bot Framework SDK would accept anyone's activities and reply
        # to any serviceUrl they name; refuse everything instead.
        app.router.add_post("/api/messages", _unauthorised)
    if keep_time and runner.followups is not None and runner.outboxes:
        # After the adapters' own start-up (their HTTP sessions), and stopped before it.
        app.cleanup_ctx.append(_keeping_time)
    return app


async def _keeping_time(app: web.Application) -> AsyncIterator[None]:
    """Every worker keeps time: its ticker fires the timers that fall due (see `Ticker`)."""
    ticker = Ticker(app[RUNNER])
    ticker.start()
    yield
    await ticker.stop()


@web.middleware
async def _refusals(request: web.Request, handler: Handler) -> web.StreamResponse:
    """One line for each request refused (there is no access log: the turn lines say the
    rest), naming the route and status only, never anything from the body."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # 413 for a body over MAX_BODY, 404, 405
        log.info("refused", extra={"path": _route(request), "status": exc.status})
        raise
    if response.status >= 400:
        log.info("refused", extra={"path": _route(request), "status": response.status})
    return response


def _route(request: web.Request) -> str:
    """The route a request was for, as this app names it: never a path the client made up
    (a 404's path could carry anything, names and answers included)."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "(no route)"


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _readyz(request: web.Request) -> web.Response:
    """200 only when every configured part can serve; the body names each, so that a 503
    says which (`{"redis": "ok", "teams": "unavailable"}`)."""
    checks = request.app[READINESS]
    results = await asyncio.gather(*(check() for check in checks.values()))
    body = {name: "ok" if ok else "unavailable" for name, ok in zip(checks, results, strict=True)}
    return web.json_response(body, status=200 if all(results) else 503)


async def _unauthorised(request: web.Request) -> web.Response:
    return web.json_response({"error": "Teams is not configured (MicrosoftAppId)"}, status=401)


async def serve(
    settings: Settings, turns: Runner, host: str, port: int, reuse_port: bool = False
) -> None:
    """Serve until SIGTERM or SIGINT, then let in-flight turns finish before closing.

    The listener is ours rather than a `TCPSite`, so that it can hand new connections past the
    cap a refusal instead of aiohttp's handler, and answer a request that is not HTTP without
    quoting it (`connections.Bounded`, `connections.Quiet`)."""
    runner = web.AppRunner(create_app(settings, turns, keep_time=True), shutdown_timeout=10)
    await runner.setup()
    assert runner.server is not None
    limit = connections.cap(settings.http.max_connections)
    loop = asyncio.get_running_loop()
    handlers = connections.Bounded(
        runner.server,
        limit,
        access_log=None,
        keepalive_timeout=settings.http.idle_timeout,
        lingering_time=connections.LINGER_SECONDS,
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):  # before "serving": a stop from then on is clean
        loop.add_signal_handler(sig, stop.set)
    try:
        listener = await loop.create_server(handlers, host, port, reuse_port=reuse_port)
    except OSError as exc:  # taken since start-up's check: still one line, exit 2
        await runner.cleanup()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    log.info("serving", extra={"host": host, "port": port, "max_connections": limit})
    await stop.wait()
    log.info("stopping")
    listener.close()
    await runner.cleanup()
    await listener.wait_closed()
    await turns.idle()
