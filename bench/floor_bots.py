"""The smallest bots on the same frameworks: the floors the HTTP benchmark compares with.

Each does the least a bot on its framework can do for a click, set up like ours where that
is fair; the bench runs each as its own process (`python -m bench.floor_bots slack|teams
PORT`), never in production.

- Slack: a Bolt `AsyncApp` on aiohttp that checks the signature (Bolt's own check), acks
  any block_actions click and posts one small message with one button to the channel it
  came from, from a task. Set up like ours: `process_before_response=True` (Bolt's default
  would poll every 10 ms for the ack), a Web API client with one shared aiohttp session,
  the token checked once (auth.test). It does not read or store anything, update the
  clicked message, render Block Kit from models, or log a line per request or turn.
- Teams: a botbuilder `ActivityHandler` on the same `CloudAdapter` and authentication
  (unauthenticated, no app id) that answers every message with one text activity, sent as
  ours are (`adapters.teams.connector.ConnectorApi`: the Connector's REST API over one kept
  aiohttp session), so the framework costs the same on both sides. It does not check
  delivery ids, read or store progress, replace the clicked card, or build cards.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import AsyncIterator
from types import SimpleNamespace

import aiohttp
from aiohttp import web


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def slack_app(api_url: str, signing_secret: str) -> web.Application:
    from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
    from slack_bolt.async_app import AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient

    client = AsyncWebClient(token="xoxb-floor", base_url=api_url, timeout=10)
    bolt = AsyncApp(signing_secret=signing_secret, client=client, process_before_response=True)
    button = {"type": "button", "text": {"type": "plain_text", "text": "Next"}}
    in_flight: set[asyncio.Task] = set()

    @bolt.action(re.compile(".*"))
    async def clicked(ack, body: dict, client: AsyncWebClient) -> None:
        await ack()
        next_button = {**button, "action_id": "next", "value": body["actions"][0]["value"]}
        post = client.chat_postMessage(
            channel=body["channel"]["id"],
            text="ok",
            blocks=[{"type": "actions", "elements": [next_button]}],
        )
        task = asyncio.create_task(post)
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)

    async def events(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await bolt.async_dispatch(await to_bolt_request(request)))

    async def session(app: web.Application) -> AsyncIterator[None]:
        client.session = aiohttp.ClientSession()  # as ours: one session for every call
        yield
        await client.session.close()

    app = web.Application()
    app.router.add_post("/slack/events", events)
    app.router.add_get("/healthz", _healthz)
    app.cleanup_ctx.append(session)
    return app


def teams_app() -> web.Application:
    from botbuilder.core import ActivityHandler, MessageFactory, TurnContext
    from botbuilder.integration.aiohttp import CloudAdapter

    from adapters.teams.connector import Authentication

    config = SimpleNamespace(APP_ID="", APP_PASSWORD="", APP_TYPE="MultiTenant", APP_TENANTID="")
    authentication = Authentication(config)

    class Echo(ActivityHandler):
        async def on_message_activity(self, turn_context: TurnContext) -> None:
            came = turn_context.activity
            reply = MessageFactory.text("ok")
            reply.from_property, reply.conversation = came.recipient, came.conversation
            await authentication.api.send(came.service_url, came.conversation.id, reply, came.id)

    adapter = CloudAdapter(authentication)
    bot = Echo()

    async def messages(request: web.Request) -> web.Response:
        return await adapter.process(request, bot)

    app = web.Application()
    app.router.add_post("/api/messages", messages)
    app.router.add_get("/healthz", _healthz)
    return app


if __name__ == "__main__":
    kind, port = sys.argv[1], int(sys.argv[2])
    if kind == "slack":
        app = slack_app(os.environ["SLACK_API_URL"], os.environ["SLACK_SIGNING_SECRET"])
    else:
        app = teams_app()
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)
