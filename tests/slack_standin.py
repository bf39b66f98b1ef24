"""A local stand-in for the Slack Web API and response URLs that records what the bot sends.

It answers the calls this bot makes (`auth.test`, `conversations.open`, `chat.postMessage`,
`chat.update`, `chat.postEphemeral`, and POSTs to a slash command's `response_url`) the way
Slack does, on 127.0.0.1, and keeps every call for the tests to read.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web
from aiohttp.test_utils import TestServer

TOKEN = "xoxb-test-token"
BOT_USER = "U0BOT"


@dataclass(frozen=True)
class Call:
    method: str
    """The Web API method, or "respond" for a POST to a response_url."""
    args: dict[str, Any]
    response: dict[str, Any] = field(default_factory=dict)
    """What the stand-in answered: for a posted message, its `ts`."""

    @property
    def channel(self) -> str:
        return self.args.get("channel", "")

    @property
    def blocks(self) -> list[dict[str, Any]]:
        blocks = self.args.get("blocks") or []
        return json.loads(blocks) if isinstance(blocks, str) else blocks

    @property
    def text(self) -> str:
        return self.args.get("text", "")

    @property
    def actions(self) -> list[dict[str, Any]]:
        return [e for b in self.blocks if b["type"] == "actions" for e in b["elements"]]


@dataclass
class SlackApi:
    calls: list[Call] = field(default_factory=list)
    refuse_update: bool = False
    server: TestServer | None = None
    _ts: itertools.count = field(default_factory=lambda: itertools.count(1))
    _by_channel: dict[str, list[Call]] = field(default_factory=lambda: defaultdict(list))
    _arrived: dict[str, asyncio.Condition] = field(
        default_factory=lambda: defaultdict(asyncio.Condition)
    )

    @property
    def url(self) -> str:
        """The Web API base URL, as SLACK_API_URL."""
        assert self.server is not None
        return str(self.server.make_url("/api/"))

    def response_url(self, name: str) -> str:
        assert self.server is not None
        return str(self.server.make_url(f"/respond/{name}"))

    async def __aenter__(self) -> SlackApi:
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_post("/respond/{name}", self._respond)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        await self.server.close()

    # --- reading what was sent ----------------------------------------------------------

    def posted(self, channel: str | None = None) -> list[Call]:
        calls = self.calls if channel is None else self.to(channel)
        return [c for c in calls if c.method == "chat.postMessage"]

    def updates(self, channel: str | None = None) -> list[Call]:
        calls = self.calls if channel is None else self.to(channel)
        return [c for c in calls if c.method == "chat.update"]

    def to(self, channel: str) -> list[Call]:
        """Everything sent into one channel, by any method."""
        return list(self._by_channel.get(channel, ()))

    async def until(
        self, channel: str, done: Callable[[list[Call]], bool], timeout: float = 10
    ) -> list[Call]:
        """Wait until what was sent into `channel` satisfies `done` (the bot works after its
        ack, so a test waits for the calls rather than for the HTTP answer)."""
        arrived = self._arrived[channel]
        async with arrived:
            await asyncio.wait_for(arrived.wait_for(lambda: done(self.to(channel))), timeout)
        return self.to(channel)

    async def _record(self, call: Call) -> None:
        self.calls.append(call)
        self._by_channel[call.channel].append(call)
        arrived = self._arrived[call.channel]
        async with arrived:
            arrived.notify_all()

    # --- the API ------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"ok": False, "error": "invalid_auth"})
        method = request.match_info["method"]
        args = dict(request.query)
        if request.content_type == "application/json":
            args.update(await request.json())
        else:
            args.update(parse_qsl(await request.text()))
        if method == "auth.test":
            return web.json_response(
                {"ok": True, "user_id": BOT_USER, "bot_id": "B0BOT", "team_id": "T0SCHOOL"}
            )
        response = self._answer(method, args)
        await self._record(Call(method, args, response))
        return web.json_response(response)

    def _answer(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        if method == "conversations.open":
            return {"ok": True, "channel": {"id": "D" + args["users"]}}
        if method == "chat.postMessage":
            return {
                "ok": True,
                "channel": args["channel"],
                "ts": f"1700000000.{next(self._ts):06d}",
            }
        if method == "chat.update":
            if self.refuse_update:
                return {"ok": False, "error": "message_not_found"}
            return {"ok": True, "channel": args["channel"], "ts": args["ts"]}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": "1700000000.999999"}
        return {"ok": False, "error": "unknown_method"}

    async def _respond(self, request: web.Request) -> web.Response:
        body = await request.json()
        await self._record(Call("respond", {"channel": request.match_info["name"], **body}))
        return web.Response(text="ok")
