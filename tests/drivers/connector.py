"""A stand-in for the Bot Framework Connector API that Teams replies go to.

It accepts the calls a Teams bot makes (send, reply, update, create a 1:1 conversation),
answers each like the real service with a new id, and keeps every call for the tests to
read. It stands in for OneDrive's upload URLs too (`upload_url`): a PUT of a whole file, as
Teams asks a bot to make once the person accepted a file consent card.
"""

from __future__ import annotations

import itertools
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .standin import StandIn


@dataclass(frozen=True)
class Call:
    method: str
    conversation: str | None
    activity_id: str | None
    """The id in the path: replied to (POST) or replaced (PUT)."""
    body: dict[str, Any]
    created: str
    """The id this call gave back: the new activity's, or the new conversation's."""
    authorization: str | None = None
    """The Authorization header the bot sent (its bearer token, in production mode)."""

    @property
    def card(self) -> dict[str, Any] | None:
        for attachment in self.body.get("attachments") or ():
            if attachment.get("contentType") == "application/vnd.microsoft.card.adaptive":
                return attachment["content"]
        return None

    @property
    def text(self) -> str:
        return self.body.get("text") or ""


class Connector(StandIn):
    def __init__(self, record: bool = True) -> None:
        super().__init__(record)
        self.calls: list[Call] = []
        self.refuse_create = False
        self.refuse_update = False
        self.unreachable: set[str] = set()
        """Member ids a 1:1 chat cannot be created with (the app is not installed for them)."""
        self._personal: dict[str, str] = {}
        self._ids = itertools.count(1)
        self._by_conversation: dict[str | None, list[Call]] = defaultdict(list)
        self.uploads: dict[str, bytes] = {}
        """Files put to an upload URL, by name."""

    @property
    def url(self) -> str:
        """The service URL, as an activity's serviceUrl."""
        return self.base_url + "/"

    def routes(self, app: web.Application) -> None:
        base = "/v3/conversations/{conversation}/activities"
        app.router.add_post("/v3/conversations", self._create)
        app.router.add_post(base, self._send)
        app.router.add_post(base + "/{activity}", self._send)
        app.router.add_put(base + "/{activity}", self._update)
        app.router.add_put("/upload/{name}", self._upload)

    def upload_url(self, name: str) -> str:
        """Where Teams would let the bot put a file called `name` (the person's OneDrive)."""
        return f"{self.base_url}/upload/{name}"

    # --- reading what was sent ----------------------------------------------------------

    def sent_to(self, conversation: str) -> list[Call]:
        return [c for c in self._by_conversation[conversation] if c.method == "POST"]

    def updates(self, conversation: str) -> list[Call]:
        return [c for c in self._by_conversation[conversation] if c.method == "PUT"]

    def created(self) -> list[Call]:
        return list(self._by_conversation[None])

    def chat_with(self, member: str) -> str | None:
        """The 1:1 chat created with `member`, if one was."""
        return self._personal.get(member)

    def _record(self, call: Call) -> None:
        if self.record:
            self.calls.append(call)
            self._by_conversation[call.conversation].append(call)

    # --- the API ------------------------------------------------------------------------

    async def _create(self, request: web.Request) -> web.Response:
        self.counts["create conversation"] += 1
        body = await request.json()
        members = [m.get("id") for m in body.get("members") or () if isinstance(m, dict)]
        if self.refuse_create or self.unreachable.intersection(members):
            return web.json_response({"error": {"code": "Forbidden"}}, status=403)
        # Like Teams, one 1:1 chat for each person: asked again, the same one.
        one = members[0] if len(members) == 1 and isinstance(members[0], str) else None
        made = self._personal.get(one or "") or f"a:private-{next(self._ids)}"
        if one:
            self._personal[one] = made
        self._record(Call("POST", None, None, body, made, _auth(request)))
        return web.json_response({"id": made}, status=201)

    async def _send(self, request: web.Request) -> web.Response:
        at = time.perf_counter()
        self.counts["send activity"] += 1
        body = await request.json()
        made = f"activity-{next(self._ids)}"
        conversation = request.match_info["conversation"]
        self._offer(at, conversation, made, body)
        self._record(
            Call(
                "POST", conversation, request.match_info.get("activity"), body, made, _auth(request)
            )
        )
        return web.json_response({"id": made}, status=201)

    async def _update(self, request: web.Request) -> web.Response:
        self.counts["update activity"] += 1
        body = await request.json()
        if self.refuse_update:
            return web.json_response({"error": {"code": "NotFound"}}, status=404)
        replaced = request.match_info["activity"]
        conversation = request.match_info["conversation"]
        if self.before is not None:
            await self.before("PUT", {"activity": replaced, "body": body})
        self._record(Call("PUT", conversation, replaced, body, replaced, _auth(request)))
        return web.json_response({"id": replaced})

    async def _upload(self, request: web.Request) -> web.Response:
        """One PUT of a whole file, as OneDrive takes it (no bearer token: the URL is its own)."""
        data = await request.read()
        if not _content_range_ok(request, len(data)) or "Authorization" in request.headers:
            return web.json_response({"error": {"code": "invalidRange"}}, status=400)
        self.uploads[request.match_info["name"]] = data
        return web.json_response({"id": "file-id", "name": request.match_info["name"]}, status=201)


def _content_range_ok(request: web.Request, size: int) -> bool:
    return request.headers.get("Content-Range") == f"bytes 0-{size - 1}/{size}"


def _auth(request: web.Request) -> str | None:
    return request.headers.get("Authorization")
