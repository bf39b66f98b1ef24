"""A stand-in for the Slack Web API and slash commands' response URLs.

It answers the calls this bot makes (`auth.test`, `conversations.open`, `chat.postMessage`,
`chat.update`, `chat.postEphemeral`, and POSTs to a slash command's `response_url`) the way
Slack does, and keeps every call (but `auth.test`) for the tests to read.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from .base import StandIn

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
        return _blocks(self.args)

    @property
    def text(self) -> str:
        return self.args.get("text", "")

    @property
    def actions(self) -> list[dict[str, Any]]:
        return [e for b in self.blocks if b["type"] == "actions" for e in b["elements"]]


class SlackApi(StandIn):
    """`token=None` accepts any bot token (the benchmark runs two bots with their own)."""

    def __init__(
        self, token: str | None = TOKEN, team: str = "T0SCHOOL", record: bool = True
    ) -> None:
        super().__init__(record)
        self.token = token
        self.team = team
        self.calls: list[Call] = []
        self.refuse_update = False
        self._ts = itertools.count(1)
        self._by_channel: dict[str, list[Call]] = defaultdict(list)
        self._arrived: dict[str, asyncio.Condition] = defaultdict(asyncio.Condition)

    @property
    def url(self) -> str:
        """The Web API base URL, as SLACK_API_URL."""
        return self.base_url + "/api/"

    def response_url(self, name: str) -> str:
        return f"{self.base_url}/respond/{name}"

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/api/{method}", self._api)
        app.router.add_post("/respond/{name}", self._respond)

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
        if not self.record:
            return
        self.calls.append(call)
        self._by_channel[call.channel].append(call)
        arrived = self._arrived[call.channel]
        async with arrived:
            arrived.notify_all()

    # --- the API ------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        at = time.perf_counter()
        method = request.match_info["method"]
        self.counts[method] += 1
        if self.token and request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"ok": False, "error": "invalid_auth"})
        args: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            args.update(await request.json())
        else:
            args.update(parse_qsl(await request.text()))
        if method == "auth.test":
            return web.json_response(
                {"ok": True, "user_id": BOT_USER, "bot_id": "B0BOT", "team_id": self.team}
            )
        response = self._answer(method, args)
        if method == "chat.postMessage" and self._waiting:
            self._offer(at, args["channel"], response["ts"], {**args, "blocks": _blocks(args)})
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
        self.counts["respond"] += 1
        body = await request.json()
        await self._record(Call("respond", {"channel": request.match_info["name"], **body}))
        return web.Response(text="ok")


def _blocks(args: dict[str, Any]) -> list[dict[str, Any]]:
    """Sent as JSON or as a form, the blocks arrive as a list or as a JSON string."""
    blocks = args.get("blocks") or []
    return json.loads(blocks) if isinstance(blocks, str) else blocks
