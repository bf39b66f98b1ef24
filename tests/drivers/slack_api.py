"""A stand-in for the Slack Web API and slash commands' response URLs.

It answers the calls this bot makes (`auth.test`, `conversations.open`, `chat.postMessage`,
`chat.update`, `chat.postEphemeral`, `views.publish`, the three steps of a file upload
(`files.getUploadURLExternal`, the POST to its upload URL, `files.completeUploadExternal`),
`files.delete`, and POSTs to a slash command's `response_url`) the way Slack does, on
127.0.0.1, and keeps every call for the tests to read, with the token it came
with. It knows several workspaces, each with its own bot token, and stands in for Slack's
side of an install too: `grant` is a workspace's admin approving the app, and the code it
returns is what Slack's redirect carries; `oauth.v2.access` exchanges it, once, for that
workspace's token.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from .standin import StandIn

TOKEN = "xoxb-test-token"
BOT_USER = "U0BOT"
CLIENT_ID = "1111.2222"
CLIENT_SECRET = "client-secret-for-tests"


@dataclass(frozen=True)
class Call:
    method: str
    """The Web API method, or "respond" for a POST to a response_url."""
    args: dict[str, Any]
    response: dict[str, Any] = field(default_factory=dict)
    """What the stand-in answered: for a posted message, its `ts`."""
    token: str = ""
    """The bearer token in the call's `Authorization` header."""

    @property
    def channel(self) -> str:
        """Where it went: a channel, or a person's Home tab (`home:<user id>`)."""
        if self.method == "views.publish":
            return f"home:{self.args.get('user_id', '')}"
        return self.args.get("channel") or self.args.get("channel_id", "")

    @property
    def view(self) -> dict[str, Any]:
        """A published view (views.publish)."""
        view = self.args.get("view") or {}
        return json.loads(view) if isinstance(view, str) else view

    @property
    def blocks(self) -> list[dict[str, Any]]:
        return self.view.get("blocks", []) if self.view else _blocks(self.args)

    @property
    def text(self) -> str:
        return self.args.get("text", "")

    @property
    def actions(self) -> list[dict[str, Any]]:
        return [e for b in self.blocks if b["type"] == "actions" for e in b["elements"]]


class SlackApi(StandIn):
    """`token=None` accepts any bot token (the benchmark runs two bots with their own);
    `teams` names each bot token accepted and the workspace it belongs to."""

    def __init__(
        self,
        token: str | None = TOKEN,
        team: str = "T0SCHOOL",
        record: bool = True,
        teams: dict[str, str] | None = None,
    ) -> None:
        super().__init__(record)
        self.any_token = token is None and teams is None
        self.team = team
        self.teams: dict[str, str] = dict(teams) if teams is not None else {}
        if token and teams is None:
            self.teams[token] = team
        self.calls: list[Call] = []
        self.refuse_update = False
        self.refused: set[str] = set()
        """Messages (their `ts`) whose `chat.update` is refused, as for a deleted message."""
        self.unreachable: set[str] = set()
        """User ids `conversations.open` refuses, as Slack does for someone it cannot DM."""
        self.files: dict[str, dict[str, Any]] = {}
        """Files uploaded, by id: `name`, `content` (bytes), `channel` once shared, `deleted`."""
        self._grants: dict[str, dict[str, Any]] = {}
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
        app.router.add_post("/upload/{file}", self._upload)

    def grant(
        self, team: str, enterprise: str | None = None, org_wide: bool = False
    ) -> tuple[str, str]:
        """A workspace (or, `org_wide`, a Grid organisation) approving the install: the one-use
        code Slack's redirect would carry, and the bot token it will be exchanged for."""
        n = len(self._grants) + len(self.teams) + 1
        token = f"xoxb-{n}-{team.lower()}-{next(self._ts)}"
        code = f"code-{n}-{team}"
        self._grants[code] = {
            "ok": True,
            "app_id": "A0APP",
            "authed_user": {"id": f"UADMIN{n}"},
            "scope": "chat:write,commands,im:history,im:write",
            "token_type": "bot",
            "access_token": token,
            "bot_user_id": BOT_USER,
            "team": None if org_wide else {"id": team, "name": f"School {team}"},
            "enterprise": {"id": enterprise, "name": "Trust"} if enterprise else None,
            "is_enterprise_install": org_wide,
        }
        self.teams[token] = team
        return code, token

    def revoke(self, token: str) -> None:
        """The workspace removed the app: its token no longer works."""
        self.teams.pop(token, None)

    # --- reading what was sent ----------------------------------------------------------

    def posted(self, channel: str | None = None) -> list[Call]:
        calls = self.calls if channel is None else self.to(channel)
        return [c for c in calls if c.method == "chat.postMessage"]

    def updates(self, channel: str | None = None) -> list[Call]:
        calls = self.calls if channel is None else self.to(channel)
        return [c for c in calls if c.method == "chat.update"]

    def shown(self, channel: str | None = None) -> list[Call]:
        """Every message posted, and every question a click drew in place of the one it
        answered: what a person sees arrive (a test waits for one more of these)."""
        calls = self.calls if channel is None else self.to(channel)
        return [
            c
            for c in calls
            if c.method == "chat.postMessage" or (c.method == "chat.update" and c.actions)
        ]

    def questions(self, channel: str) -> list[Call]:
        """Every question drawn into `channel`, in order: each message posted with buttons,
        and each time a click's answer redrew its message with the next question in place."""
        return [
            c
            for c in self.to(channel)
            if c.method in ("chat.postMessage", "chat.update") and c.actions
        ]

    def homes(self, user_id: str) -> list[Call]:
        """Every Home tab published for one person."""
        return self.to(f"home:{user_id}")

    def uploaded(self, channel: str) -> list[dict[str, Any]]:
        """The files shared into `channel`, in order."""
        return [f for f in self.files.values() if f.get("channel") == channel]

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
        args: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            args.update(await request.json())
        else:
            args.update(parse_qsl(await request.text()))
        if method == "oauth.v2.access":
            return web.json_response(await self._exchange(request, args))
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if token not in self.teams and not self.any_token:
            return web.json_response({"ok": False, "error": "invalid_auth"})
        if method == "auth.test":
            team = self.teams.get(token, self.team)
            return web.json_response(
                {"ok": True, "user_id": BOT_USER, "bot_id": "B0BOT", "team_id": team}
            )
        if self.before is not None:
            await self.before(method, args)
        response = self._answer(method, args)
        if method in ("chat.postMessage", "chat.update") and self._waiting and response["ok"]:
            self._offer(at, args["channel"], response["ts"], {**args, "blocks": _blocks(args)})
        await self._record(Call(method, args, response, token))
        return web.json_response(response)

    async def _exchange(self, request: web.Request, args: dict[str, Any]) -> dict[str, Any]:
        """`oauth.v2.access`: the app's credentials (HTTP Basic, as slack_sdk sends them) and a
        code from `grant`, used at most once."""
        basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {basic}":
            answer: dict[str, Any] = {"ok": False, "error": "invalid_client_id"}
        else:
            answer = self._grants.pop(args.get("code", ""), None) or {
                "ok": False,
                "error": "invalid_code",
            }
        await self._record(Call("oauth.v2.access", {"code": args.get("code", "")}, answer))
        return answer

    def _answer(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        if method == "conversations.open":
            if args["users"] in self.unreachable:
                return {"ok": False, "error": "user_not_found"}
            return {"ok": True, "channel": {"id": "D" + args["users"]}}
        if method == "chat.postMessage":
            return {
                "ok": True,
                "channel": args["channel"],
                "ts": f"1700000000.{next(self._ts):06d}",
            }
        if method == "chat.update":
            if self.refuse_update or args.get("ts") in self.refused:
                return {"ok": False, "error": "message_not_found"}
            return {"ok": True, "channel": args["channel"], "ts": args["ts"]}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": "1700000000.999999"}
        if method == "views.publish":
            view = args.get("view")
            return {"ok": True, "view": json.loads(view) if isinstance(view, str) else view}
        if method == "files.getUploadURLExternal":
            file_id = f"F{next(self._ts):06d}"
            self.files[file_id] = {"name": args["filename"], "length": int(args["length"])}
            return {
                "ok": True,
                "file_id": file_id,
                "upload_url": f"{self.base_url}/upload/{file_id}",
            }
        if method == "files.completeUploadExternal":
            shared = json.loads(args["files"]) if isinstance(args["files"], str) else args["files"]
            if any("content" not in self.files.get(f["id"], {}) for f in shared):
                return {"ok": False, "error": "file_not_found"}
            for f in shared:
                self.files[f["id"]]["channel"] = args.get("channel_id", "")
            return {"ok": True, "files": [{"id": f["id"], "title": f.get("title")} for f in shared]}
        if method == "files.delete":
            if args["file"] not in self.files:
                return {"ok": False, "error": "file_not_found"}
            self.files[args["file"]]["deleted"] = True
            return {"ok": True}
        return {"ok": False, "error": "unknown_method"}

    async def _upload(self, request: web.Request) -> web.Response:
        """The upload URL `files.getUploadURLExternal` gave: the file's bytes, no token."""
        self.counts["upload"] += 1
        found = self.files.get(request.match_info["file"])
        if found is None:
            return web.Response(status=404)
        found["content"] = await request.read()
        return web.Response(text=f"OK - {len(found['content'])}")

    async def _respond(self, request: web.Request) -> web.Response:
        self.counts["respond"] += 1
        body = await request.json()
        await self._record(Call("respond", {"channel": request.match_info["name"], **body}))
        return web.Response(text="ok")


def _blocks(args: dict[str, Any]) -> list[dict[str, Any]]:
    """Sent as JSON or as a form, the blocks arrive as a list or as a JSON string."""
    blocks = args.get("blocks") or []
    return json.loads(blocks) if isinstance(blocks, str) else blocks
