"""Installing the app into many workspaces: Slack's OAuth v2 flow, through Bolt's own.

`GET /slack/install` shows the "Add to Slack" page (its link carries the client id, the
bot scopes and a fresh one-use `state`, with the same state in a cookie); Slack sends the
installer back to `GET /slack/oauth_redirect` with a code, which Bolt exchanges
(`oauth.v2.access`) for the workspace's bot token, kept sealed in Redis
(`installations`). From then on Bolt's `authorize` finds each request's installation, so
every reply goes out with its own workspace's token.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from redis import exceptions as redis_errors
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.authorization.async_authorize import AsyncInstallationStoreAuthorize
from slack_bolt.oauth.async_oauth_flow import AsyncOAuthFlow
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

from conversation.storage import Store

from .cipher import Cipher
from .installations import Installations
from .outbox import API_ERRORS
from .settings import SCOPES, SlackSettings
from .states import EXPIRY, States

log = logging.getLogger("adapters.slack")

INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"


class Install:
    """The OAuth flow, its stores and the `authorize` that reads them, built once."""

    def __init__(self, settings: SlackSettings, store: Store) -> None:
        oauth = settings.oauth
        assert oauth is not None
        self.installations = Installations(
            store.redis, Cipher(oauth.encryption_keys), prefix=store.keys.prefix
        )
        self.states = States(store.redis, prefix=store.keys.prefix, expiry=EXPIRY)
        self.flow = AsyncOAuthFlow(
            logger=logging.getLogger("slack_bolt"),
            settings=AsyncOAuthSettings(
                client_id=oauth.client_id,
                client_secret=oauth.client_secret,
                scopes=list(SCOPES),
                user_scopes=[],
                redirect_uri=oauth.redirect_uri,
                install_path=INSTALL_PATH,
                redirect_uri_path=REDIRECT_PATH,
                authorization_url=settings.authorize_url,
                installation_store=self.installations,
                state_store=self.states,
                state_expiration_seconds=EXPIRY,
                logger=logging.getLogger("slack_bolt"),
            ),
        )
        # Bolt's own authorize, but remembering each token's `auth.test`: otherwise every
        # request would cost a Web API call before its ack. Token rotation's refreshes go to
        # the same Web API as everything else.
        self.authorize = AsyncInstallationStoreAuthorize(
            logger=logging.getLogger("slack_bolt"),
            installation_store=self.installations,
            client_id=oauth.client_id,
            client_secret=oauth.client_secret,
            cache_enabled=True,
            client=AsyncWebClient(base_url=settings.api_url, timeout=10),
        )

    def attach(self, app: web.Application) -> None:
        app.router.add_get(INSTALL_PATH, self.install_page)
        app.router.add_get(REDIRECT_PATH, self.redirected)

    async def running(self, app: web.Application) -> None:
        """At start-up: installations sealed with an old key are sealed with the current one,
        so that the old key can be dropped from TOKEN_ENCRYPTION_KEY afterwards."""
        unreadable = await self.installations.reseal()
        if unreadable:
            log.error(
                "slack installations unreadable with TOKEN_ENCRYPTION_KEY",
                extra={"count": unreadable},
            )

    async def install_page(self, request: web.Request) -> web.StreamResponse:
        return await self._run(self.flow.handle_installation, request)

    async def redirected(self, request: web.Request) -> web.StreamResponse:
        """Slack's redirect: refused (400/401), and nothing stored, unless its state is one
        this bot issued in the last 10 minutes to the same browser and not used yet."""
        return await self._run(self.flow.handle_callback, request)

    async def _run(
        self, step: Callable[[AsyncBoltRequest], Awaitable[BoltResponse]], request: web.Request
    ) -> web.StreamResponse:
        bolt = AsyncBoltRequest(
            body="",
            query=request.query_string,
            headers=dict(request.headers),
        )
        try:
            return await to_aiohttp_response(await step(bolt))
        except API_ERRORS as exc:
            log.warning("slack install failed", extra={"error": type(exc).__name__})
            return web.Response(status=502, text="Slack could not be reached; try again.")
        except (redis_errors.ConnectionError, redis_errors.TimeoutError) as exc:
            log.warning("slack install unavailable", extra={"error": type(exc).__name__})
            return web.Response(status=503, text="The bot's storage is unavailable; try again.")
