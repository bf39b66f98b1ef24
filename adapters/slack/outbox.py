"""Where a Slack turn's messages go: the user's DM with the bot, another person's DM, or a
message drawn again. Every Web API call about a case is here.

A message's reference is `channel\\nts`. Nothing about a case is ever posted where others
can see it: only into a DM (a channel id starting with D) that `conversations.open` gives
for a person's own user id, with the workspace's token.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from conversation.messages import (
    Answered,
    Closed,
    Notice,
    Question,
    RecordFile,
    Reply,
    Reports,
    UserKey,
)
from conversation.runner import Undeliverable

from . import files, home
from .blocks import in_place, render
from .overview import reports_blocks, reports_text

log = logging.getLogger("adapters.slack")

API_ERRORS = (SlackApiError, SlackClientError, aiohttp.ClientError, asyncio.TimeoutError)


class SlackOutbox:
    def __init__(
        self, client: AsyncWebClient, user: UserKey, dm: str, clicked: str | None = None
    ) -> None:
        """`dm`: the user's DM with the bot; `clicked`: the message a click came from, when
        it is in that DM (a click on a copy elsewhere changes nothing there)."""
        self.client = client
        self.user = user
        self.dm = dm
        self.clicked = clicked

    def here(self, where: str) -> bool:
        return where.partition("\n")[0] == self.dm

    def origin(self, newest: str | None) -> str | None:
        return self.clicked or newest

    async def reply(self, replies: Sequence[Reply]) -> list[str | None]:
        refs: list[str | None] = []
        for reply in replies:
            try:
                refs.append(await self._post(self.dm, reply))
            except API_ERRORS as exc:
                raise Undeliverable(type(exc).__name__) from None
        return refs

    async def send(self, to: UserKey, reply: Reply) -> str | None:
        try:
            if to == self.user:
                channel = self.dm
            else:
                opened = await self.client.conversations_open(users=to.user)
                channel = opened["channel"]["id"]
            if not channel.startswith("D"):  # only ever a person's own DM
                return None
            return await self._post(channel, reply)
        except API_ERRORS as exc:
            log.warning("slack delivery failed", extra={"error": type(exc).__name__})
            return None

    async def update(self, where: str, shown: Reply | Answered | Closed) -> bool:
        channel, _, ts = where.partition("\n")
        try:
            if files.is_files(where):  # a record's files: a withdrawn report's are deleted
                await files.delete(self.client, where)
            elif home.is_home(where):  # a Home tab that showed it: a notice in its place
                await home.publish(self.client, where, _homely(shown))
            else:
                text, blocks = _draw(shown)
                await self.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
        except API_ERRORS as exc:
            log.warning("slack update failed", extra={"error": type(exc).__name__})
            return False
        return True

    async def ask_in_place(
        self, where: str, answered: Sequence[Answered], question: Question
    ) -> bool:
        """Only the message clicked: a typed answer's question is posted below what was
        typed, where the person is looking."""
        if where != self.clicked:
            return False
        channel, _, ts = where.partition("\n")
        text, blocks = in_place(tuple(answered), question)
        try:
            await self.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
        except API_ERRORS as exc:
            log.warning("slack update failed", extra={"error": type(exc).__name__})
            return False
        return True

    async def _post(self, channel: str, reply: Reply) -> str:
        if isinstance(reply, RecordFile):
            return await files.upload(self.client, channel, reply)
        text, blocks = _draw(reply)
        response = await self.client.chat_postMessage(
            channel=channel, text=text, blocks=blocks, unfurl_links=False, unfurl_media=False
        )
        return f"{channel}\n{response['ts']}"


class HomeOutbox(SlackOutbox):
    """The person's Home tab: their overview is published there, for them alone; anything
    else the turn says goes to their DM."""

    async def reply(self, replies: Sequence[Reply]) -> list[str | None]:
        refs: list[str | None] = []
        for reply in replies:
            if not isinstance(reply, Reports):
                refs += await super().reply([reply])
                continue
            where = home.home_of(self.user.user)
            try:
                await home.publish(self.client, where, reply)
            except API_ERRORS as exc:
                raise Undeliverable(type(exc).__name__) from None
            refs.append(where)
        return refs


def _draw(shown: Reply | Answered | Closed) -> tuple[str, list[dict]]:
    if isinstance(shown, Reports):
        return reports_text(shown), reports_blocks(shown)
    return render(shown)


def _homely(shown: Reply | Answered | Closed) -> Reports | Notice:
    if isinstance(shown, Reports | Notice):
        return shown
    return Notice(_draw(shown)[0])


async def dm_of(client: AsyncWebClient, user_id: str) -> str:
    """The user's DM with the bot (opened if need be)."""
    response = await client.conversations_open(users=user_id)
    return response["channel"]["id"]
