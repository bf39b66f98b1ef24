"""The web app under attack, run on a thread of its own so that synchronous Hypothesis tests
can throw plain HTTP requests at it, one example at a time.

Hypothesis does not drive async tests well, and starting an app per example would cost more
than the request itself. So the apps, the Slack and Connector stand-ins and the engine's
Redis client live on one event loop in a background thread, and each test posts over a kept-
alive `http.client` connection, which costs a fraction of a millisecond per request.
"""

from __future__ import annotations

import asyncio
import http.client
import logging
import os
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web
from aiohttp.test_utils import TestServer

from adapters.slack import app as slack_app
from adapters.slack.settings import SlackSettings
from adapters.teams.settings import TeamsSettings
from bot.config import Settings
from bot.redis_connection import client
from bot.web import create_app
from conversation import flow
from conversation.engine import Engine
from conversation.runner import Runner
from conversation.storage import Db, Keys, Store
from conversation.views import Views
from tests.drivers.connector import Connector
from tests.drivers.slack_api import TOKEN, SlackApi
from tests.drivers.slack_user import SECRET
from tests.drivers.teams_user import APP_ID

from .identity_standin import BotFrameworkKeys

T = TypeVar("T")

# Every key and its value under a prefix, in one round trip (all of the bot's keys are strings;
# KEYS walks the whole database, which is fine for a test's Redis).
_SNAPSHOT = """
local out = {}
for _, key in ipairs(redis.call('KEYS', ARGV[1])) do
  out[#out + 1] = key
  if redis.call('TYPE', key)['ok'] == 'string' then
    out[#out + 1] = redis.call('GET', key)
  else
    out[#out + 1] = redis.call('DUMP', key)
  end
end
return out
"""

Snapshot = dict[bytes, bytes]


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes


def _running_test() -> str | None:
    """The test whose body is running now; None in fixtures (set-up is not counted)."""
    current = os.environ.get("PYTEST_CURRENT_TEST", "")
    return current.split("::")[-1].split(" ")[0] if current.endswith("(call)") else None


@dataclass
class Client:
    """One kept-alive connection to one app; reconnects when the server closed it. Counts
    the requests each test sends."""

    port: int
    sent: Counter[str]
    on_send: Callable[[], None]
    _conn: http.client.HTTPConnection | None = None

    def post(
        self, path: str, body: bytes, headers: Mapping[str, str | bytes], chunked: bool = False
    ) -> Reply:
        """POST `body`; `chunked` sends it in chunks, with no Content-Length."""
        if test := _running_test():
            self.sent[test] += 1
        self.on_send()
        for attempt in (1, 2):
            conn = self._conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            self._conn = conn
            try:
                if chunked:
                    conn.request("POST", path, iter([body]), dict(headers), encode_chunked=True)
                else:
                    conn.request("POST", path, body, dict(headers))
                response = conn.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # A kept-alive connection the server had closed between requests: this one
                # was never read, so sending it again on a new connection is not a replay.
                self.close()
                if attempt == 2:
                    raise
                continue
            if response.will_close:
                self.close()
            return Reply(response.status, data)
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class Failures(logging.Handler):
    """Warnings and errors the adapters log: a turn that failed after its ack, say."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass
class Servers:
    """Three apps on one engine and one Redis prefix:

    - `slack`: Slack on, Teams off (so its `/api/messages` refuses everything);
    - `teams`: Teams with no app id and `allow_unauthenticated`, to fuzz the parsing;
    - `teams_signed`: Teams with an app id, so every unsigned request must be refused.
    """

    redis_url: str
    prefix: str
    sent: Counter[str] = field(default_factory=Counter)
    """Requests sent by each test's body (set-up in fixtures is not counted)."""
    failures: Failures = field(default_factory=Failures)
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)

    def __post_init__(self) -> None:
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._servers: list[TestServer] = []
        self._known: Snapshot | None = None

    # --- life cycle ---------------------------------------------------------------------

    def start(self) -> Servers:
        logging.getLogger("adapters").addHandler(self.failures)
        self._thread.start()
        self.run(self._start())
        return self

    async def _start(self) -> None:
        self.api = await SlackApi().__aenter__()
        self.connector = await Connector().__aenter__()
        self.keys = await BotFrameworkKeys().__aenter__()
        self.redis = client(self.redis_url)
        self.engine = Engine(
            Views(flow.load()), Store(Db(self.redis, Keys(self.prefix)), ttl_seconds=86_400)
        )
        self._snapshot = self.redis.register_script(_SNAPSHOT)
        slack_settings = SlackSettings(TOKEN, SECRET, self.api.url)
        unauthenticated = TeamsSettings("", "", "MultiTenant", "", allow_unauthenticated=True)
        signed = TeamsSettings(
            APP_ID,
            "secret",
            "MultiTenant",
            "",
            False,
            service_url_hosts=("127.0.0.1",),
            openid_metadata_url=self.keys.metadata_url,
        )
        self.slack_app = await self._serve(Settings(slack=slack_settings))
        await self._serve(Settings(teams=unauthenticated))
        await self._serve(Settings(teams=signed))
        while not self.keys.fetches:  # forged tokens are checked against the keys, once in
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)
        self.slack = Client(self._port(0), self.sent, self._forget_known)
        self.teams_off = Client(self._port(0), self.sent, self._forget_known)
        self.teams = Client(self._port(1), self.sent, self._forget_known)
        self.teams_signed = Client(self._port(2), self.sent, self._forget_known)

    async def _serve(self, settings: Settings) -> web.Application:
        server = TestServer(create_app(settings, Runner(self.engine)), host="127.0.0.1")
        await server.start_server()
        self._servers.append(server)
        return server.app

    def _port(self, index: int) -> int:
        port = self._servers[index].port
        assert port is not None
        return port

    def stop(self) -> None:
        logging.getLogger("adapters").removeHandler(self.failures)
        for c in (self.slack, self.teams_off, self.teams, self.teams_signed):
            c.close()
        self.run(self._stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()

    async def _stop(self) -> None:
        for server in self._servers:
            await server.close()
        await self.api.__aexit__()
        await self.connector.__aexit__()
        await self.keys.__aexit__()
        keys = [k async for k in self.redis.scan_iter(f"{self.prefix}:*", count=1000)]
        if keys:
            await self.redis.delete(*keys)
        await self.redis.aclose()

    # --- running on the server's loop -----------------------------------------------------

    def run(self, coro: Awaitable[T], timeout: float = 30) -> T:
        async def wrapped() -> T:
            return await coro

        return asyncio.run_coroutine_threadsafe(wrapped(), self.loop).result(timeout)

    def snapshot(self) -> Snapshot:
        """Every key under the prefix, with its value: read again only if a request was sent
        or a key forgotten since the last settled snapshot."""
        if self._known is None:
            self._known = self.settle()
        return self._known

    def settle(self) -> Snapshot:
        """Wait for the Slack bot's turns in flight, then take the snapshot (one hop)."""

        async def settled() -> Snapshot:
            await self.slack_app[slack_app.BOT].idle()
            return await self._keys()

        self._known = self.run(settled())
        return self._known

    def _forget_known(self) -> None:
        self._known = None

    async def _keys(self) -> Snapshot:
        flat: list[Any] = await self._snapshot(keys=[], args=[f"{self.prefix}:*"])
        return dict(zip(flat[::2], flat[1::2], strict=True))

    def forget(self, *keys: bytes) -> None:
        if keys:
            self._known = None
            self.run(self.redis.delete(*keys))
