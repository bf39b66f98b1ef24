"""A Slack turn: the engine's answer to one input, and its replies in the user's DM.

Nothing about a case is ever posted where others can see it: a slash command from a
channel gets only an ephemeral "I've sent you a direct message", and every question,
answer and the final checklist go to the user's DM with the bot.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import aiohttp
from slack_bolt.async_app import AsyncBoltContext
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from adapters import live
from conversation.engine import Busy, Engine
from conversation.messages import (
    Deliver,
    Input,
    Question,
    Reply,
    Start,
    UserKey,
)
from conversation.store import StoreUnavailable

from .blocks import answered_blocks, closed_blocks
from .lead import Courier, render
from .request import user

log = logging.getLogger("adapters.slack")

MOVED_PRIVATE = "I've sent you a direct message, so we can carry on privately."
API_ERRORS = (SlackApiError, SlackClientError, aiohttp.ClientError, asyncio.TimeoutError)

Respond = Callable[..., Awaitable[object]]
"""Bolt's `respond`: answers a slash command through its response_url."""


class Turns:
    """Asks the engine, and posts what it says through the Web API client."""

    def __init__(self, engine: Engine, client: AsyncWebClient) -> None:
        self.engine = engine
        self.client = client

    async def command(self, user: UserKey, channel: str, respond: Respond) -> None:
        dm = await self._dm(user.user)
        if channel != dm:
            await respond(text=MOVED_PRIVATE, response_type="ephemeral")
        await self.turn(user, dm, Start())

    async def clicked(self, body: dict, context: AsyncBoltContext, choice: Input) -> None:
        dm = context.channel_id or ""
        if not dm.startswith("D"):  # never answer anywhere but the DM
            dm = await self._dm(context.user_id)
        container = body["container"]
        # Only a question in the DM is updated in place: a click on a copy elsewhere is
        # answered in the DM, and nothing about the case is written into that channel.
        clicked = f"{dm}\n{container['message_ts']}" if container["channel_id"] == dm else None
        await self.turn(user(context), dm, choice, clicked)

    async def turn(
        self,
        user: UserKey,
        dm: str,
        inp: Input,
        clicked: str | None = None,
        delivery: str | None = None,
    ) -> None:
        try:
            turn = await self.engine.handle(user, inp, delivery)
        except (StoreUnavailable, Busy) as exc:
            log.warning("slack turn unavailable", extra={"error": type(exc).__name__})
            await self._post(dm, self.engine.notice("unavailable"))
            return
        # One live question: the one answered shows the answer, and a question asked again
        # (or another one, after "back" or "restart") closes the newest one above it.
        question, change = None, None
        if turn.answered:
            question = clicked or live.read(await self.engine.store.recall_message(user))[0]
            change = answered_blocks(turn.answered)
        elif any(isinstance(r, Question) for r in turn.replies):
            newest, version = live.read(await self.engine.store.recall_message(user))
            if live.closes(turn, version):
                question, change = newest, closed_blocks()
        # The change in place and the replies posted after it are independent calls, so
        # they go out together: a turn costs one Slack round trip, not two.
        posting = self._post_all(user, dm, turn.replies)
        if question and change:
            await asyncio.gather(self._replace(question, *change), posting)
        else:
            await posting
        await self._deliver(user, dm, turn.deliveries)

    async def _deliver(self, user: UserKey, dm: str, deliveries: tuple[Deliver, ...]) -> None:
        """Messages for other people (the person told, or the member of staff told of what
        they did), each followed by what its outcome leads to, said here."""
        courier = Courier(self.client)
        for delivery in deliveries:
            ref = await courier.deliver(delivery)
            if delivery.then is None:
                continue
            after = await delivery.then(ref)
            await self._post_all(user, dm, after.replies)
            await self._deliver(user, dm, after.deliveries)

    async def _post_all(self, user: UserKey, dm: str, replies: tuple[Reply, ...]) -> None:
        """The replies in order; then note where the question is, for a typed answer."""
        posted = None
        for reply in replies:
            ts = await self._post(dm, reply)
            if isinstance(reply, Question) and ts:
                posted = reply, live.place(f"{dm}\n{ts}", reply)
        if posted:
            await self.engine.store.remember_message(user, *posted)

    async def _post(self, channel: str, reply: Reply) -> str | None:
        text, blocks = render(reply)
        response = await self.client.chat_postMessage(
            channel=channel, text=text, blocks=blocks, unfurl_links=False, unfurl_media=False
        )
        return response.get("ts")

    async def _replace(self, message: str, text: str, blocks: list[dict]) -> None:
        """Change a question in place. Only cosmetic, so a refusal (the message was
        deleted, say) must not stop the next question being sent."""
        channel, _, ts = message.partition("\n")
        try:
            await self.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
        except API_ERRORS as exc:
            log.warning("slack update failed", extra={"error": type(exc).__name__})

    async def _dm(self, user_id: str | None) -> str:
        response = await self.client.conversations_open(users=user_id)
        return response["channel"]["id"]
