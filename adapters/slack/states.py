"""The OAuth `state` of an install in progress: slack_sdk's `AsyncOAuthStateStore`, signed.

Anyone can open `/slack/install`, as often as they like, so issuing a state stores nothing:
the state carries the time it was issued and a random nonce, signed (HMAC-SHA256) with a
key derived from the app's client secret, and Bolt puts the same state in a cookie on the
browser that opened the page. On Slack's redirect Bolt checks that cookie (the same
browser), and `async_consume` checks the signature and the 10 minutes; only then is one
small key written (`SET NX`, until the state would have expired anyway), so that a state
is used once: of two redirects carrying the same state only one wins. A state whose code
Slack then refuses is given back (`release`), so the keys that stay are real installs'.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import math
import secrets
import time
from collections.abc import Callable

from redis.asyncio import Redis
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore

from conversation.storage import Keys
from conversation.storage.keys import PREFIX

log = logging.getLogger("adapters.slack")

EXPIRY = 600
"""Seconds a state stays usable, as Slack's own examples and Bolt's default have it."""

_LONGEST = 128
"""Longer than any state `async_issue` makes (77 characters), shorter than anything costly."""


class States(AsyncOAuthStateStore):
    def __init__(
        self,
        redis: Redis,
        secret: str,
        prefix: str = PREFIX,
        expiry: int = EXPIRY,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.expiry = expiry
        self.clock = clock
        # Its own key, so that a state's signature is never a signature of anything else.
        self._key = hmac.digest(secret.encode(), b"slack-oauth-state", hashlib.sha256)

    @property
    def logger(self) -> logging.Logger:
        return log

    def key(self, nonce: str) -> str:
        """Where a used state's nonce is remembered until the state expires."""
        return Keys(self.prefix).slack_state(nonce)

    async def async_issue(self, *args: object, **kwargs: object) -> str:
        signed = f"{int(self.clock())}.{secrets.token_urlsafe(16)}"
        return f"{signed}.{self._sign(signed)}"

    async def async_consume(self, state: str) -> bool:
        """True once for a state this bot signed in the last `expiry` seconds."""
        opened = self._open(state)
        if opened is None:
            return False
        nonce, left = opened
        return bool(await self.redis.set(self.key(nonce), b"1", nx=True, ex=left))

    async def release(self, state: str | None) -> None:
        """A consumed state usable again: its code was refused, so nothing was installed."""
        opened = self._open(state)
        if opened is not None:
            await self.redis.delete(self.key(opened[0]))

    def _open(self, state: object) -> tuple[str, int] | None:
        """The nonce of a state this bot signed and the whole seconds it has left; None for
        anything else (forged, changed, expired, or not a state at all)."""
        if not (isinstance(state, str) and len(state) <= _LONGEST and state.isascii()):
            return None
        signed, _, signature = state.rpartition(".")
        if not hmac.compare_digest(signature, self._sign(signed)):
            return None
        issued, _, nonce = signed.partition(".")
        left = int(issued) + self.expiry - self.clock()
        return (nonce, math.ceil(left)) if left > 0 else None

    def _sign(self, signed: str) -> str:
        mac = hmac.digest(self._key, signed.encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
