"""Where each Teams tenant's messages go, kept from its activities, so that a timer can
message someone when no request is in flight.

A Bot Framework reply goes to the service URL the activity came with, from the bot's id in
that tenant. Both are the tenant's, not any one person's, so one small hash per tenant keeps
them (never a user's id or anything they said). It is written by a turn after which
something is due (`Turn.timed`: a report sent, a follow-up scheduled), at most once a day
per process, and kept for as long as reports are. The URL is checked against
the allowed hosts again before anything is sent to it (`request.check_service_url`).
"""

from __future__ import annotations

import contextlib
import time

from conversation.storage import DOWN, Db
from conversation.storage.db import text

KEEP = 90 * 86_400
"""Seconds a tenant's addresses are kept after its last activity: as long as a report."""
REFRESH = 86_400
"""Seconds before a process writes a tenant's addresses again, unchanged, to keep them."""


class Tenants:
    def __init__(self, db: Db) -> None:
        self.db = db
        self._written: dict[str, tuple[str, str, float]] = {}

    async def remember(self, tenant: str, service_url: str, bot_id: str) -> None:
        """Best effort, and at most once a day per tenant and process."""
        seen = self._written.get(tenant)
        if seen and seen[:2] == (service_url, bot_id) and time.monotonic() - seen[2] < REFRESH:
            return
        key = self.db.keys.teams_tenant(tenant)
        with contextlib.suppress(*DOWN):
            pipe = self.db.redis.pipeline(transaction=False)
            pipe.hset(key, mapping={"url": service_url, "bot": bot_id})
            pipe.expire(key, KEEP)
            await pipe.execute()
            self._written[tenant] = (service_url, bot_id, time.monotonic())

    async def find(self, tenant: str) -> tuple[str, str] | None:
        """The tenant's service URL and the bot's id there, if an activity brought them."""
        raw = await self.db.call(self.db.redis.hgetall(self.db.keys.teams_tenant(tenant)))
        found = {text(k): text(v) for k, v in raw.items()}
        if not found.get("url") or not found.get("bot"):
            return None
        return found["url"], found["bot"]
