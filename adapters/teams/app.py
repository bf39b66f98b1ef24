"""Wiring Teams into the web app: `POST /api/messages`, through the SDK's CloudAdapter.

The sender is authenticated first (JWT, see `connector`), then the activity is checked
(`request`), then `turns` answers it inside the request.
"""

from __future__ import annotations

import logging

from aiohttp import web
from botbuilder.core import TurnContext
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import Activity

from conversation.engine import Engine

from .connector import Authentication, SdkConfig, connector_threads
from .request import Malformed, check, read
from .settings import TeamsSettings
from .turns import TeamsBot

log = logging.getLogger("adapters.teams")
# msrest logs whole requests (so replies and the checklist) at DEBUG, and urllib3's retry
# warnings name the conversation in the URL.
for _name in ("msrest", "urllib3", "botbuilder", "botframework"):
    logging.getLogger(_name).setLevel(logging.ERROR if _name == "urllib3" else logging.WARNING)


def attach(app: web.Application, engine: Engine, settings: TeamsSettings) -> None:
    """Serve POST /api/messages with the SDK's CloudAdapter and JWT authentication."""
    authentication = Authentication(SdkConfig(settings))
    adapter = CloudAdapter(authentication)
    adapter.on_turn_error = _turn_failed
    bot = TeamsBot(engine, settings.app_id)
    app.on_startup.append(connector_threads)

    async def messages(request: web.Request) -> web.Response:
        activity, malformed = Activity(), None
        try:
            activity = await read(request)
            check(activity)
        except Malformed as exc:
            malformed = exc
        # The sender first: whoever cannot sign learns nothing about the body but 401. The
        # SDK refuses a bad token with errors of many kinds (PermissionError, PyJWT's,
        # IndexError for an unknown key id, Exception for a disallowed algorithm), and
        # every one of them means the same.
        try:
            authenticated = await authentication.authenticate_request(
                activity, request.headers.get("Authorization", "")
            )
        except Exception as exc:
            log.info("teams request refused", extra={"error": type(exc).__name__})
            return web.json_response({"error": "unauthorized"}, status=401)
        if malformed:
            return web.json_response({"error": str(malformed)}, status=400)
        invoke = await adapter.process_activity(authenticated, activity, bot.on_turn)
        if invoke:
            return web.json_response(invoke.body, status=invoke.status)
        return web.Response(status=201)

    app.router.add_post("/api/messages", messages)


async def _turn_failed(context: TurnContext, error: Exception) -> None:
    # The Connector refused a send, or something unexpected: the class name only, because
    # SDK error messages can quote response bodies. Answering 201 stops Teams retrying a
    # turn that was already applied.
    log.error("teams turn failed", extra={"error": type(error).__name__})
