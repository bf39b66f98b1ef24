"""The Slack Web API and the Bot Framework Connector, stood in for inside the bench process.

It runs in the bench's own event loop, so a simulated user can await the message a bot
posts to it (its next question, with the token to click) instead of polling for it, and
the moment it arrives is the end of that user's turn. It answers every call with a
plausible success and keeps nothing but counts.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web


@dataclass(frozen=True, slots=True)
class Posted:
    """A message a bot posted: when it arrived, where, its id there, and what it said."""

    at: float
    channel: str
    ref: str
    """Slack's `ts` of the message, or the Connector's id of the new activity."""
    body: dict[str, Any]


Wanted = Callable[[dict[str, Any]], bool]


class StandIn:
    def __init__(self, team: str) -> None:
        self.team = team
        self.calls: Counter[str] = Counter()
        self._waiting: dict[str, tuple[Wanted, asyncio.Future[Posted]]] = {}
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.url = ""

    def expect(self, channel: str, wanted: Wanted) -> asyncio.Future[Posted]:
        """The next message posted to `channel` that is `wanted`; ask before causing it."""
        future = asyncio.get_running_loop().create_future()
        self._waiting[channel] = (wanted, future)
        return future

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/api/{method}", self._slack)
        app.router.add_post("/v3/conversations", self._create)
        activities = "/v3/conversations/{conversation}/activities"
        app.router.add_post(activities, self._send)
        app.router.add_post(activities + "/{activity}", self._send)
        app.router.add_put(activities + "/{activity}", self._update)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    def _offer(self, at: float, channel: str, ref: str, body: dict[str, Any]) -> None:
        waiting = self._waiting.get(channel)
        if waiting and not waiting[1].done() and waiting[0](body):
            del self._waiting[channel]
            waiting[1].set_result(Posted(at, channel, ref, body))

    # --- Slack Web API ------------------------------------------------------------------

    async def _slack(self, request: web.Request) -> web.Response:
        at = time.perf_counter()
        method = request.match_info["method"]
        self.calls[method] += 1
        args: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            args.update(await request.json())
        else:
            args.update(parse_qsl(await request.text()))
        if isinstance(args.get("blocks"), str):
            args["blocks"] = json.loads(args["blocks"])
        channel = args.get("channel", "")
        if method == "chat.postMessage":
            ts = f"{int(time.time())}.{next(self._ids):06d}"
            self._offer(at, channel, ts, args)
            return web.json_response({"ok": True, "channel": channel, "ts": ts})
        if method == "chat.update":
            return web.json_response({"ok": True, "channel": channel, "ts": args.get("ts")})
        if method == "conversations.open":
            return web.json_response({"ok": True, "channel": {"id": f"D{args.get('users')}"}})
        if method == "chat.postEphemeral":
            return web.json_response({"ok": True, "message_ts": f"{int(time.time())}.000000"})
        if method == "auth.test":
            return web.json_response(
                {"ok": True, "user_id": "U0BOT", "bot_id": "B0BOT", "team_id": self.team}
            )
        return web.json_response({"ok": False, "error": "unknown_method"})

    # --- Bot Framework Connector ----------------------------------------------------------

    async def _create(self, request: web.Request) -> web.Response:
        await request.read()
        self.calls["create conversation"] += 1
        return web.json_response({"id": f"a:private-{next(self._ids)}"}, status=201)

    async def _send(self, request: web.Request) -> web.Response:
        at = time.perf_counter()
        self.calls["send activity"] += 1
        made = f"activity-{next(self._ids)}"
        self._offer(at, request.match_info["conversation"], made, await request.json())
        return web.json_response({"id": made}, status=201)

    async def _update(self, request: web.Request) -> web.Response:
        await request.read()
        self.calls["update activity"] += 1
        return web.json_response({"id": request.match_info["activity"]})
