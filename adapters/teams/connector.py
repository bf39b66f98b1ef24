"""Authenticating requests, and the Bot Framework Connector clients that replies go out by.

The SDK's own authentication and clients, with three costs of theirs removed: a new
client (and TCP connection) for every turn, a slow retry policy built for every client,
and too few threads for the calls those clients make.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiohttp import web
from botbuilder.integration.aiohttp import ConfigurationBotFrameworkAuthentication
from botbuilder.schema import Activity
from botframework.connector.aio import ConnectorClient
from botframework.connector.auth import AuthenticateRequestResult, ConnectorFactory
from msrest.universal_http.requests import ClientRetryPolicy

from .settings import TeamsSettings

# msrest (under the SDK's Connector client) builds a retry policy for every client, two per
# turn, testing 999 status codes for membership in a 500-item list: about 4 ms each, half
# of a whole turn. A set gives the same answers at once (Azure/msrest-for-python#266; msrest
# is deprecated, so the fix will not be released).
ClientRetryPolicy.safe_codes = frozenset(ClientRetryPolicy.safe_codes)


class Authentication(ConfigurationBotFrameworkAuthentication):
    """The SDK's own, but with Connector clients kept from turn to turn (see `_Reused`)."""

    def __init__(self, configuration: Any) -> None:
        super().__init__(configuration)
        self._clients: dict[tuple[str, str | None], ConnectorClient] = {}

    async def authenticate_request(
        self, activity: Activity, auth_header: str
    ) -> AuthenticateRequestResult:
        result = await super().authenticate_request(activity, auth_header)
        result.connector_factory = _Reused(self._clients, result.connector_factory)
        return result


class _Reused(ConnectorFactory):
    """One Connector client for each service URL, kept from turn to turn.

    botbuilder makes a new client for every turn, and with it a new HTTP session: a new
    TCP (and in production, TLS) connection for every reply. The client's credentials
    renew their own token, so a kept client stays good.
    """

    LIMIT = 32
    """Teams uses a handful of service URLs; the bound only matters to a forged flood."""

    def __init__(
        self, clients: dict[tuple[str, str | None], ConnectorClient], factory: ConnectorFactory
    ) -> None:
        self.clients = clients
        self.factory = factory

    async def create(self, service_url: str, audience: str | None = None) -> ConnectorClient:
        key = (service_url, audience)
        if (client := self.clients.get(key)) is None:
            client = await self.factory.create(service_url, audience)
            if len(self.clients) >= self.LIMIT:
                self.clients.pop(next(iter(self.clients)))
            self.clients[key] = client
        return client


async def connector_threads(app: web.Application) -> None:
    """msrest sends each Connector call with `requests` on the loop's default executor,
    which has min(32, CPUs + 4) threads: 6 on two cores, so a seventh reply in flight
    waited for a thread while the loop had nothing to do."""
    executor = ThreadPoolExecutor(max_workers=32, thread_name_prefix="connector")
    asyncio.get_running_loop().set_default_executor(executor)


class SdkConfig:
    """The attribute names ConfigurationBotFrameworkAuthentication reads."""

    def __init__(self, settings: TeamsSettings) -> None:
        self.APP_ID = settings.app_id
        self.APP_PASSWORD = settings.app_password
        self.APP_TYPE = settings.app_type
        self.APP_TENANTID = settings.tenant_id
