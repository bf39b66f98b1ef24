"""Who sent a request: the Bot Framework's signature, checked from the header alone.

Microsoft signs every activity it delivers with a JWT in the Authorization header. The keys
are published at an OpenID metadata URL; they are fetched at start-up and refreshed in the
background, each fetch bounded by a timeout, so that a slow or hanging key endpoint never
holds up a request (one that comes before any key has arrived is answered 503 at once).

Only what Teams sends is accepted: the Bot Framework's own issuer (never the emulator's or a
skill's), the bot's app id as the audience, a key endorsed for `msteams`, RS256/384/512, and
an unexpired token with no more than a few seconds' allowance for clock skew. The activity's
`serviceUrl` must then match the token's `serviceurl` claim (`app` checks it once the body is
read: the body is read only after this check).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import jwt

from .settings import BOT_FRAMEWORK_ISSUER

log = logging.getLogger("adapters.teams")

ALGORITHMS = ("RS256", "RS384", "RS512")
"""The SDK's ALLOWED_SIGNING_ALGORITHMS."""
LEEWAY = 10
"""Seconds of clock skew allowed on `exp` and `nbf`."""
CHANNEL = "msteams"


class Unauthorized(Exception):
    """The request is not signed by the Bot Framework for this bot: answered 401."""


class KeysUnavailable(Exception):
    """No signing key has arrived yet: answered 503, so that the Bot Framework retries."""


@dataclass(frozen=True, slots=True)
class _Key:
    key: Any
    endorsements: frozenset[str]


class SigningKeys:
    """The Bot Framework's signing keys, kept fresh by a background task."""

    TIMEOUT = 10.0
    REFRESH = 24 * 3600.0
    RETRY = 30.0
    """After a failed fetch, or a key id not seen before (at most this often)."""

    def __init__(self, metadata_url: str) -> None:
        self.metadata_url = metadata_url
        self._keys: dict[str, _Key] = {}
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._fetched_at = 0.0

    @property
    def loaded(self) -> bool:
        return bool(self._keys)

    def get(self, kid: str) -> _Key | None:
        key = self._keys.get(kid)
        if key is None and time.monotonic() - self._fetched_at > self.RETRY:
            self._wake.set()  # Microsoft may have rolled its keys: look again, in the background
        return key

    async def start(self) -> None:
        self._task = asyncio.create_task(self._keep_fresh(), name="teams signing keys")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _keep_fresh(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self.TIMEOUT)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                wait = self.REFRESH
                try:
                    self._keys = await self._fetch(session)
                    log.info("teams signing keys fetched", extra={"keys": len(self._keys)})
                except (aiohttp.ClientError, TimeoutError, ValueError, KeyError, TypeError) as exc:
                    log.error("teams signing keys unavailable", extra={"error": type(exc).__name__})
                    wait = self.RETRY
                self._fetched_at = time.monotonic()
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)
                await asyncio.sleep(max(0.0, self.RETRY - (time.monotonic() - self._fetched_at)))

    async def _fetch(self, session: aiohttp.ClientSession) -> dict[str, _Key]:
        async with session.get(self.metadata_url) as response:
            response.raise_for_status()
            jwks_uri = (await response.json(content_type=None))["jwks_uri"]
        async with session.get(jwks_uri) as response:
            response.raise_for_status()
            published = (await response.json(content_type=None))["keys"]
        keys = {}
        for jwk in published:
            with contextlib.suppress(jwt.PyJWTError, KeyError, TypeError, ValueError):
                keys[jwk["kid"]] = _Key(
                    jwt.PyJWK(jwk).key, frozenset(jwk.get("endorsements") or ())
                )
        if not keys:
            raise ValueError("no usable key")
        return keys


def verify(keys: SigningKeys, header: str, app_id: str) -> dict[str, Any]:
    """The token's claims if the Bot Framework signed it for this bot and for Teams."""
    scheme, _, token = header.partition(" ")
    if scheme != "Bearer" or not token:
        raise Unauthorized("no bearer token")
    try:
        unverified = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise Unauthorized("not a JWT") from None
    alg, kid = unverified.get("alg"), unverified.get("kid")
    if alg not in ALGORITHMS:
        raise Unauthorized("signing algorithm not allowed")
    if not keys.loaded:
        raise KeysUnavailable("no signing keys yet")
    key = keys.get(kid) if isinstance(kid, str) else None
    if key is None:
        raise Unauthorized("unknown signing key")
    if CHANNEL not in key.endorsements:
        raise Unauthorized("signing key not endorsed for msteams")
    try:
        claims = jwt.decode(
            token,
            key.key,
            algorithms=[alg],
            audience=app_id,
            issuer=BOT_FRAMEWORK_ISSUER,
            leeway=LEEWAY,
            options={"require": ["exp", "iss", "aud", "serviceurl"]},
        )
    except jwt.PyJWTError as exc:
        raise Unauthorized(type(exc).__name__) from None
    if not isinstance(claims.get("serviceurl"), str):
        raise Unauthorized("no serviceurl claim")
    return claims
