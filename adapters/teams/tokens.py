"""The bot's own bearer token for the Connector, from Microsoft Entra, renewed before expiry.

MSAL asks Entra for it (the client-credentials grant with the app's password, or a
user-assigned managed identity). MSAL is synchronous, so each request for a token runs on a
thread; the token is kept here and renewed in the background five minutes before it
expires, so a turn almost never waits for one. A refusal (a wrong password, say) is logged
once with Entra's error code and not asked again for `PAUSE` seconds: turns fail fast in the
meantime instead of hammering Entra.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import msal
import requests

from .settings import TeamsSettings

log = logging.getLogger("adapters.teams")


class TokenRefused(Exception):
    """Entra did not give the bot a token: no Connector call can be made."""


class Tokens:
    RENEW_BEFORE = 300.0
    PAUSE = 30.0
    """After a refusal, seconds before Entra is asked again."""

    def __init__(self, settings: TeamsSettings) -> None:
        self.settings = settings
        self._token = ""
        self._expires = 0.0
        self._paused_until = 0.0
        self._lock = asyncio.Lock()
        self._renewing: asyncio.Task[None] | None = None
        self._client: Any = None

    async def bearer(self) -> str:
        """A token good for at least a few minutes (renewed in the background when due)."""
        now = time.monotonic()
        if self._token and now < self._expires - self.RENEW_BEFORE:
            return self._token
        if self._token and now < self._expires - 30:
            if self._renewing is None or self._renewing.done():
                self._renewing = asyncio.create_task(self._renew())
            return self._token
        await self._renew()
        if not self._token or time.monotonic() >= self._expires:
            raise TokenRefused("no token from Entra")
        return self._token

    async def _renew(self) -> None:
        async with self._lock:
            now = time.monotonic()
            if self._token and now < self._expires - self.RENEW_BEFORE:
                return  # another turn renewed it while this one waited
            if now < self._paused_until:
                return
            result = await asyncio.to_thread(self._acquire)
            if "access_token" in result:
                self._token = result["access_token"]
                self._expires = now + float(result.get("expires_in") or 0)
                return
            self._paused_until = time.monotonic() + self.PAUSE
            # Entra's error code only: its description can quote the app id and tenant.
            log.error(
                "teams token refused",
                extra={"error": str(result.get("error") or "unknown"), "retry_in_s": self.PAUSE},
            )

    def _acquire(self) -> dict[str, Any]:
        try:
            return self._ask()
        except (requests.RequestException, ValueError) as exc:  # unreachable, or not Entra
            return {"error": type(exc).__name__}

    def _ask(self) -> dict[str, Any]:
        s = self.settings
        if s.app_type == "UserAssignedMSI":
            if self._client is None:
                self._client = msal.ManagedIdentityClient(
                    msal.UserAssignedManagedIdentity(client_id=s.app_id),
                    http_client=requests.Session(),
                )
            return self._client.acquire_token_for_client(resource=s.oauth_scope)
        if self._client is None:
            self._client = msal.ConfidentialClientApplication(
                s.app_id,
                client_credential=s.app_password,
                authority=s.authority,
                validate_authority=s.validate_authority,
            )
        scope = (
            s.oauth_scope if s.oauth_scope.endswith("/.default") else s.oauth_scope + "/.default"
        )
        return self._client.acquire_token_for_client(scopes=[scope])
