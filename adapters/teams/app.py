"""Wiring Teams into the web app: `POST /api/messages`, through the SDK's CloudAdapter.

The sender is authenticated first, from the Authorization header alone (`signatures`, via
`connector`); only then is the body read, capped at what Teams sends, and checked
(`request`); then `turns` answers it inside the request.
"""

from __future__ import annotations

import logging

from aiohttp import web
from botbuilder.core import TurnContext
from botbuilder.integration.aiohttp import CloudAdapter

from conversation.engine import Engine

from .connector import Authentication, SdkConfig
from .request import MAX_ACTIVITY, Malformed, Refused, TooLarge, TooSlow, admit, check, read
from .settings import TeamsSettings
from .signatures import KeysUnavailable, Unauthorized
from .turns import TeamsBot

log = logging.getLogger("adapters.teams")
# msrest logs whole requests (so replies and the checklist) at DEBUG, and urllib3's retry
# warnings name the conversation in the URL.
for _name in ("msrest", "urllib3", "botbuilder", "botframework", "msal"):
    logging.getLogger(_name).setLevel(logging.ERROR if _name == "urllib3" else logging.WARNING)


def attach(app: web.Application, engine: Engine, settings: TeamsSettings) -> None:
    """Serve POST /api/messages with the SDK's CloudAdapter and the Bot Framework's JWT."""
    authentication = Authentication(SdkConfig(settings))
    adapter = CloudAdapter(authentication)
    adapter.on_turn_error = _turn_failed
    bot = TeamsBot(engine, settings.app_id)
    app.on_startup.append(authentication.start)
    app.on_cleanup.append(authentication.close)
    if settings.allowed_tenants:
        log.info("teams tenants served", extra={"tenants": len(settings.allowed_tenants)})
    else:
        log.warning("teams serves every tenant (TEAMS_ALLOWED_TENANTS is not set)")

    async def messages(request: web.Request) -> web.Response:
        if (request.content_length or 0) > MAX_ACTIVITY:  # refused unread, signed or not
            return _refuse(413, f"an activity is at most {MAX_ACTIVITY} bytes")
        # The sender first: whoever cannot sign learns nothing about the body but 401, and
        # costs no more than the header's check.
        try:
            identity = authentication.identify(request.headers.get("Authorization", ""))
        except KeysUnavailable:
            log.warning("teams request deferred: no signing keys yet")
            return _refuse(503, "starting up", {"Retry-After": "5"})
        except Unauthorized as exc:
            log.info("teams request refused", extra={"error": str(exc)})
            return _refuse(401, "unauthorized")
        try:
            activity = await read(request)
            check(activity)
            authenticated = authentication.result(identity, activity)
            admit(activity, settings)
        except TooLarge as exc:
            return _refuse(413, str(exc))
        except TooSlow as exc:
            response = _refuse(408, str(exc))
            response.force_close()  # the rest may never come
            return response
        except Malformed as exc:
            return _refuse(400, str(exc))
        except Unauthorized as exc:
            log.info("teams request refused", extra={"error": str(exc)})
            return _refuse(401, "unauthorized")
        except Refused as exc:
            return _refuse(403, str(exc))
        invoke = await adapter.process_activity(authenticated, activity, bot.on_turn)
        if invoke:
            return web.json_response(invoke.body, status=invoke.status)
        return web.Response(status=201)

    app.router.add_post("/api/messages", messages)


def _refuse(status: int, why: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": why}, status=status, headers=headers)


async def _turn_failed(context: TurnContext, error: Exception) -> None:
    # The Connector refused a send, or something unexpected: the class name only, because
    # SDK error messages can quote response bodies. Answering 201 stops Teams retrying a
    # turn that was already applied.
    log.error("teams turn failed", extra={"error": type(error).__name__})
