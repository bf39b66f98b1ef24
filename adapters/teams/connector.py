"""Authenticating requests, and the Bot Framework Connector API that every message goes out by.

Two parts of the SDK are replaced here, because they cost a Teams turn most of its time or
could not be made safe by configuration:

- inbound, `signatures` checks the Bot Framework's JWT with keys fetched in the background
  (the SDK fetches them with `requests` on the event loop, with no timeout, and accepts the
  emulator's issuer and five minutes' expiry);
- outbound, `ConnectorApi` speaks the Connector's REST API (create a 1:1 conversation, send,
  reply, update an activity) over one kept aiohttp session per service URL, on the event
  loop, with the bot's bearer token from `tokens`. Activities are written with the SDK's own
  models (`Activity.serialize`). The SDK's `ConnectorClient` (msrest, deprecated; sends with
  `requests` on threads) is made only because the SDK's adapter asks for one; nothing is
  sent through it.

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
  only for a stand-in).

The token's issuer is fixed (TO_BOT_FROM_CHANNEL_TOKEN_ISSUER is the Bot Framework's), and
the emulator's metadata URL is never read: its tokens are refused. Tests point the rest at
stand-ins on loopback.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
from aiohttp import web
from botbuilder.schema import Activity, ConversationParameters
from botframework.connector import Channels
from botframework.connector.aio import ConnectorClient
from botframework.connector.auth import (
    AuthenticateRequestResult,
    AuthenticationConstants,
    BotFrameworkAuthentication,
    ClaimsIdentity,
    ConnectorFactory,
    MicrosoftAppCredentials,
    UserTokenClient,
)

from .settings import OAUTH_SCOPE, OPENID_METADATA_URL, TeamsSettings
from .signatures import SigningKeys, Unauthorized, verify
from .tokens import TokenRefused, Tokens

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
        self.api = ConnectorApi(Tokens(self.settings) if self.settings.app_id else None)
        self._unused = _Unused()

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
        await self.api.close()

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
        result.connector_factory = self._unused
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
        return self._unused

    async def create_user_token_client(self, claims_identity: ClaimsIdentity) -> UserTokenClient:
        # No sign-in prompts here: the SDK would build an OAuth client for every turn.
        return _NoUserTokens()

    def get_originating_audience(self) -> str:
        return self.settings.oauth_scope

    async def authenticate_channel_request(self, auth_header: str) -> ClaimsIdentity:
        return self.identify(auth_header)


class ConnectorError(Exception):
    """The Connector refused a call, or could not be reached (the class and status only)."""

    def __init__(self, why: str, status: int = 0) -> None:
        super().__init__(why)
        self.status = status


class ConnectorApi:
    """The Bot Framework Connector's REST API: one aiohttp session per host, kept (service
    URLs are on the hosts `TEAMS_SERVICE_URL_HOSTS` allows, so there are a handful)."""

    def __init__(self, tokens: Tokens | None) -> None:
        self.tokens = tokens
        self._sessions: dict[str, aiohttp.ClientSession] = {}

    async def create_conversation(self, service_url: str, params: ConversationParameters) -> str:
        """A 1:1 chat with the one member of `params` (Teams gives the same one each time)."""
        made = await self._call("POST", service_url, "/v3/conversations", params.serialize())
        return str(made["id"])

    async def send(
        self, service_url: str, conversation: str, activity: Activity, reply_to: str = ""
    ) -> str:
        """Post an activity (as a reply to `reply_to`, where given); its new id."""
        path = f"/v3/conversations/{quote(conversation, safe='')}/activities"
        if reply_to:
            path += "/" + quote(reply_to, safe="")
        sent = await self._call("POST", service_url, path, activity.serialize())
        return str(sent.get("id") or "")

    async def update(
        self, service_url: str, conversation: str, activity_id: str, activity: Activity
    ) -> None:
        path = f"/v3/conversations/{quote(conversation, safe='')}/activities/" + quote(
            activity_id, safe=""
        )
        await self._call("PUT", service_url, path, activity.serialize())

    async def _call(self, method: str, service_url: str, path: str, body: Any) -> dict[str, Any]:
        headers = {}
        if self.tokens:
            try:
                headers["Authorization"] = f"Bearer {await self.tokens.bearer()}"
            except TokenRefused as exc:
                raise ConnectorError(type(exc).__name__) from None
        url = service_url.rstrip("/") + path
        try:
            async with self._session(service_url).request(
                method, url, json=body, headers=headers
            ) as response:
                if response.status >= 400:
                    raise ConnectorError("refused", response.status)
                if response.content_type != "application/json":
                    return {}
                found = await response.json()
                return found if isinstance(found, dict) else {}
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise ConnectorError(type(exc).__name__) from None

    def _session(self, service_url: str) -> aiohttp.ClientSession:
        host = urlsplit(service_url).netloc
        if (session := self._sessions.get(host)) is None:
            session = self._sessions[host] = aiohttp.ClientSession(timeout=TIMEOUT)
        return session

    async def close(self) -> None:
        for session in self._sessions.values():
            await session.close()
        self._sessions.clear()


class _Unused(ConnectorFactory):
    """The SDK's adapter asks every turn for a Connector client to put in the turn's state;
    this bot sends nothing through it (see `ConnectorApi`), so one inert client will do."""

    def __init__(self) -> None:
        self._client = ConnectorClient(MicrosoftAppCredentials(None, None), base_url="https://")

    async def create(self, service_url: str, audience: str | None = None) -> ConnectorClient:
        return self._client


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
