"""Authenticating requests, and the Bot Framework Connector clients that replies go out by.

This replaces two parts of the SDK that cost a Teams turn most of its time, and one that
could not be made safe by configuration:

- inbound, `signatures` checks the Bot Framework's JWT with keys fetched in the background
  (the SDK fetches them with `requests` on the event loop, with no timeout, and accepts the
  emulator's issuer and five minutes' expiry);
- outbound, the SDK's own `ConnectorClient` (its operations, models and errors) is kept, but
  its calls go over one kept aiohttp session per service URL on the event loop, with the
  bearer token from `tokens` put on by one small policy, instead of `requests` on threads
  (msrest's own aiohttp sender sends neither headers nor body, so `_AioHttpDriver` does).

The settings are the SDK's own (the names ConfigurationBotFrameworkAuthentication reads),
given as attributes of a configuration object (see `SdkConfig`):

- APP_ID, APP_PASSWORD, APP_TYPE, APP_TENANTID: the Azure Bot's identity (no APP_ID:
  unauthenticated, for local development only);
- TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL: where the Bot Framework's signing keys are
  (default login.botframework.com's);
- TO_CHANNEL_FROM_BOT_LOGIN_URL: the Entra authority the bot's token comes from (default
  https://login.microsoftonline.com/ and the tenant: the app's for SingleTenant, else
  botframework.com);
- TO_CHANNEL_FROM_BOT_OAUTH_SCOPE: that token's audience (https://api.botframework.com);
- VALIDATE_AUTHORITY: whether MSAL asks Microsoft if that authority is known (true; false
  only for a stand-in. The SDK reads it but never passes it to MSAL, so its own credentials
  cannot reach anything but Microsoft's hosts).

The token's issuer is fixed (TO_BOT_FROM_CHANNEL_TOKEN_ISSUER is the Bot Framework's), and
the emulator's metadata URL is never read: its tokens are refused. Tests point the rest at
stand-ins on loopback.
"""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp import web
from botbuilder.schema import Activity
from botframework.connector import Channels
from botframework.connector.aio import ConnectorClient
from botframework.connector.auth import (
    AuthenticateRequestResult,
    AuthenticationConstants,
    BotFrameworkAuthentication,
    ClaimsIdentity,
    ConnectorFactory,
    UserTokenClient,
)
from msrest.authentication import Authentication as NoCredentials
from msrest.pipeline import AsyncPipeline, SansIOHTTPPolicy
from msrest.pipeline.aiohttp import AioHTTPSender
from msrest.pipeline.async_abc import AsyncHTTPPolicy
from msrest.pipeline.universal import RawDeserializer
from msrest.universal_http.aiohttp import AioHttpClientResponse
from msrest.universal_http.async_abc import AsyncHTTPSender

from .settings import OAUTH_SCOPE, OPENID_METADATA_URL, TeamsSettings
from .signatures import SigningKeys, Unauthorized, verify
from .tokens import Tokens

CALLER_ID = "urn:botframework:azure"
"""What the SDK sets as the activity's caller id for the public cloud."""
TIMEOUT = aiohttp.ClientTimeout(total=10)
"""Teams gives a turn 15 s: a Connector call that takes longer is given up."""


class Authentication(BotFrameworkAuthentication):
    """The SDK's authentication interface, with the checks and clients described above."""

    def __init__(self, configuration: Any) -> None:
        get = lambda name, default="": getattr(configuration, name, None) or default  # noqa: E731
        self.settings = TeamsSettings(
            app_id=get("APP_ID"),
            app_password=get("APP_PASSWORD"),
            app_type=get("APP_TYPE", "MultiTenant"),
            tenant_id=get("APP_TENANTID"),
            allow_unauthenticated=not get("APP_ID"),
            openid_metadata_url=get("TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL", OPENID_METADATA_URL),
            login_url=get("TO_CHANNEL_FROM_BOT_LOGIN_URL"),
            oauth_scope=get("TO_CHANNEL_FROM_BOT_OAUTH_SCOPE", OAUTH_SCOPE),
            validate_authority=getattr(configuration, "VALIDATE_AUTHORITY", True) is not False,
        )
        self.keys = SigningKeys(self.settings.openid_metadata_url)
        tokens = Tokens(self.settings) if self.settings.app_id else None
        self.connectors = Connectors(tokens)

    @property
    def anonymous(self) -> bool:
        return not self.settings.app_id

    async def start(self, app: web.Application | None = None) -> None:
        """Fetch the signing keys in the background from now on (none are needed without an
        app id)."""
        if not self.anonymous:
            await self.keys.start()

    async def close(self, app: web.Application | None = None) -> None:
        await self.keys.stop()
        await self.connectors.close()

    def identify(self, auth_header: str) -> ClaimsIdentity:
        """Who signed the request, from its header alone: Unauthorized, or KeysUnavailable."""
        if self.anonymous:
            if auth_header:  # none is needed, but a bad one is not ignored
                raise Unauthorized("a token where none is expected")
            return ClaimsIdentity({}, True, AuthenticationConstants.ANONYMOUS_AUTH_TYPE)
        claims = verify(self.keys, auth_header, self.settings.app_id)
        return ClaimsIdentity(claims, True)

    def result(self, identity: ClaimsIdentity, activity: Activity) -> AuthenticateRequestResult:
        """What the adapter needs for a turn, once the activity matches its token."""
        if not self.anonymous:
            if activity.channel_id != Channels.ms_teams:
                raise Unauthorized("not a Teams activity")
            if activity.service_url != identity.claims.get("serviceurl"):
                raise Unauthorized("serviceUrl does not match the token")
        result = AuthenticateRequestResult()
        result.claims_identity = identity
        result.audience = self.settings.oauth_scope
        result.caller_id = None if self.anonymous else CALLER_ID
        result.connector_factory = self.connectors
        return result

    # --- the SDK's interface ----------------------------------------------------------------

    async def authenticate_request(
        self, activity: Activity, auth_header: str
    ) -> AuthenticateRequestResult:
        return self.result(self.identify(auth_header or ""), activity)

    async def authenticate_streaming_request(
        self, auth_header: str, channel_id_header: str
    ) -> AuthenticateRequestResult:
        raise PermissionError("this bot takes no streaming requests")

    def create_connector_factory(self, claims_identity: ClaimsIdentity) -> ConnectorFactory:
        return self.connectors

    async def create_user_token_client(self, claims_identity: ClaimsIdentity) -> UserTokenClient:
        # No sign-in prompts here: the SDK would build an OAuth client for every turn.
        return _NoUserTokens()

    def get_originating_audience(self) -> str:
        return self.settings.oauth_scope

    async def authenticate_channel_request(self, auth_header: str) -> ClaimsIdentity:
        return self.identify(auth_header)


class Connectors(ConnectorFactory):
    """One Connector client, and one aiohttp session, for each service URL, kept."""

    LIMIT = 32
    """Teams uses a handful of service URLs; the bound only matters to a forged flood."""

    def __init__(self, tokens: Tokens | None) -> None:
        self.tokens = tokens
        self._clients: dict[str, tuple[ConnectorClient, aiohttp.ClientSession]] = {}

    async def create(self, service_url: str, audience: str | None = None) -> ConnectorClient:
        if (kept := self._clients.get(service_url)) is None:
            session = aiohttp.ClientSession(timeout=TIMEOUT)
            policies: list[Any] = [RawDeserializer()]
            if self.tokens:
                policies.insert(0, _Bearer(self.tokens))

            def pipeline(config: Any) -> AsyncPipeline:
                agent: SansIOHTTPPolicy = config.user_agent_policy
                return AsyncPipeline([agent, *policies], AioHTTPSender(_AioHttpDriver(session)))

            # The credentials are never asked: the pipeline's own policy sets the token.
            unused = NoCredentials()
            client = ConnectorClient(unused, base_url=service_url, pipeline_type=pipeline)
            if len(self._clients) >= self.LIMIT:
                _, (_, old) = self._clients.popitem()
                await old.close()
            self._clients[service_url] = kept = (client, session)
        return kept[0]

    async def close(self) -> None:
        for _, session in self._clients.values():
            await session.close()
        self._clients.clear()


class _Bearer(AsyncHTTPPolicy):
    """`Authorization: Bearer <the bot's token>` on every Connector call."""

    def __init__(self, tokens: Tokens) -> None:
        super().__init__()
        self.tokens = tokens

    async def send(self, request: Any, **kwargs: Any) -> Any:
        request.http_request.headers["Authorization"] = f"Bearer {await self.tokens.bearer()}"
        return await self.next.send(request, **kwargs)


class _AioHttpDriver(AsyncHTTPSender):
    """msrest's request sent with a kept aiohttp session, its body read before returning."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def __aenter__(self) -> _AioHttpDriver:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def send(self, request: Any, **config: Any) -> AioHttpClientResponse:
        headers = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
        raw = await self.session.request(
            request.method, request.url, headers=headers, data=request.data
        )
        response = AioHttpClientResponse(request, raw)
        try:
            await response.load_body()
        finally:
            raw.release()
        return response


class _NoUserTokens(UserTokenClient):
    """This bot asks no one to sign in: every user-token call is refused."""

    async def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise PermissionError("this bot uses no user tokens")

    get_user_token = get_sign_in_resource = sign_out_user = _refuse
    get_token_status = get_aad_tokens = exchange_token = _refuse


class SdkConfig:
    """The attribute names the SDK's ConfigurationBotFrameworkAuthentication reads."""

    def __init__(self, settings: TeamsSettings) -> None:
        self.APP_ID = settings.app_id
        self.APP_PASSWORD = settings.app_password
        self.APP_TYPE = settings.app_type
        self.APP_TENANTID = settings.tenant_id
        self.TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL = settings.openid_metadata_url
        self.TO_CHANNEL_FROM_BOT_LOGIN_URL = settings.login_url
        self.TO_CHANNEL_FROM_BOT_OAUTH_SCOPE = settings.oauth_scope
        self.VALIDATE_AUTHORITY = settings.validate_authority
