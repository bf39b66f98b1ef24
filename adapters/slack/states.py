"""The OAuth `state` of an install in progress: slack_sdk's `AsyncOAuthStateStore` on Redis.

A state is issued when someone opens `/slack/install` and must come back, once, on Slack's
redirect within 10 minutes: it proves that the redirect belongs to an install this bot
started (and, with Bolt's cookie beside it, to this browser). Taking it is one `GETDEL`, so
of two redirects carrying the same state only one can win.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable

from redis.asyncio import Redis
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore

log = logging.getLogger("adapters.slack")

EXPIRY = 600
"""Seconds a state stays usable, as Slack's own examples and Bolt's default have it."""


class States(AsyncOAuthStateStore):
    def __init__(
        self,
        redis: Redis,
        prefix: str = "hb",
        expiry: int = EXPIRY,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.expiry = expiry
        self.clock = clock

    @property
    def logger(self) -> logging.Logger:
        return log

    def key(self, state: str) -> str:
        return f"{self.prefix}:slack-oauth-state:{state}"

    async def async_issue(self, *args: object, **kwargs: object) -> str:
        state = secrets.token_urlsafe(32)
        await self.redis.set(self.key(state), str(int(self.clock())), ex=self.expiry)
        return state

    async def async_consume(self, state: str) -> bool:
        """True once for a state this store issued in the last `expiry` seconds."""
        if not (isinstance(state, str) and 0 < len(state) <= 64 and state.isascii()):
            return False
        issued = await self.redis.getdel(self.key(state))
        if issued is None:
            return False
        # Redis expires the key; the time inside it is checked as well, so that a state
        # never outlives its 10 minutes even where expiry runs late.
        return self.clock() - int(issued) < self.expiry
