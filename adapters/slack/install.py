"""Installing the app into many workspaces: Slack's OAuth v2 flow, through Bolt's own.

`GET /slack/install` shows the "Add to Slack" page (its link carries the client id, the
bot scopes and a fresh signed `state`, with the same state in a cookie); Slack sends the
installer back to `GET /slack/oauth_redirect` with a code, which Bolt exchanges
(`oauth.v2.access`) for the workspace's bot token, kept sealed in Redis
(`installations`). From then on Bolt's `authorize` finds each request's installation, so
every reply goes out with its own workspace's token.

The redirect's query carries the code and the state, and the exchange's answer the token:
Bolt and slack_sdk log those (a refused code at WARNING, queries and bodies at DEBUG), so
the flow is given a logger that keeps nothing, and this module logs each failure's reason.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from redis import exceptions as redis_errors
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.authorization.async_authorize import AsyncInstallationStoreAuthorize
from slack_bolt.oauth.async_callback_options import (
    AsyncCallbackOptions,
    AsyncFailureArgs,
    DefaultAsyncCallbackOptions,
)
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

QUIET = logging.Logger("adapters.slack.install.sdk", logging.CRITICAL + 1)
"""The OAuth flow's logger: outside the logging tree, so that no configuration (DEBUG
everywhere, say) ever lets through the codes, states and tokens Bolt and slack_sdk put in
their lines. slack_sdk builds its DEBUG lines only for a logger whose level allows them."""
QUIET.addHandler(logging.NullHandler())

REASONS = frozenset(
    {
        "access_denied",
        "invalid_browser",
        "invalid_state",
        "missing_code",
        "invalid_code",
        "storage_error",
    }
)
"""Why Bolt refused a redirect, as logged; Slack's `?error=` is logged only if one of these."""

HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "img-src https://platform.slack-edge.com data:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
"""On both pages: Bolt's HTML needs its inline style and Slack's button image, nothing else.
Each page carries a one-use state (or the code's outcome): never cached, framed or sent on
as a Referer."""


class Install:
    """The OAuth flow, its stores and the `authorize` that reads them, built once."""

    def __init__(self, settings: SlackSettings, store: Store) -> None:
        oauth = settings.oauth
        assert oauth is not None
        self.installations = Installations(
            store.redis, Cipher(oauth.encryption_keys), prefix=store.keys.prefix
        )
        self.states = States(store.redis, oauth.client_secret, prefix=store.keys.prefix)
        flow_settings = AsyncOAuthSettings(
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
            logger=QUIET,
        )
        pages = DefaultAsyncCallbackOptions(
            logger=QUIET,
            state_utils=flow_settings.state_utils,
            redirect_uri_page_renderer=flow_settings.redirect_uri_page_renderer,
        )
        flow_settings.callback_options = AsyncCallbackOptions(pages.success, self._refused)
        self._failure_page = pages.failure
        self.flow = AsyncOAuthFlow(
            # Its own client, logging nothing: the exchange's answer holds the token.
            client=AsyncWebClient(base_url=settings.api_url, timeout=10, logger=QUIET),
            logger=QUIET,
            settings=flow_settings,
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
        """At start-up, only read: a worker never reseals, since another worker still on
        the old keys would then be unable to open what it resealed (`python -m bot
        rotate-key` does, once every worker knows the new key)."""
        unreadable = await self.installations.unreadable()
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
        response = await self._run(self.flow.handle_callback, request)
        if response.status == 502:  # Slack unreachable: nothing installed
            await self.states.release(request.query.get("state"))
        return response

    async def _refused(self, args: AsyncFailureArgs) -> BoltResponse:
        """Bolt's failure page, with the reason logged alone. A state whose code Slack
        refused is given back: it installed nothing, so the page's link may be used again,
        and the key that marked it used does not stay."""
        reason = args.reason if args.reason in REASONS else "error from slack"
        log.warning("slack install refused", extra={"reason": reason})
        if args.reason in ("missing_code", "invalid_code", "storage_error"):
            await self.states.release(args.request.query.get("state", [None])[0])
        return await self._failure_page(args)

    async def _run(
        self, step: Callable[[AsyncBoltRequest], Awaitable[BoltResponse]], request: web.Request
    ) -> web.StreamResponse:
        bolt = AsyncBoltRequest(
            body="",
            query=request.query_string,
            headers=dict(request.headers),
        )
        try:
            response = await to_aiohttp_response(await step(bolt))
        except API_ERRORS as exc:
            log.warning("slack install failed", extra={"error": type(exc).__name__})
            response = web.Response(status=502, text="Slack could not be reached; try again.")
        except (redis_errors.ConnectionError, redis_errors.TimeoutError) as exc:
            log.warning("slack install unavailable", extra={"error": type(exc).__name__})
            response = web.Response(status=503, text="The bot's storage is unavailable; try again.")
        response.headers.update(HEADERS)
        return response
