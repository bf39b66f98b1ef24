"""Where a Teams turn's messages go: the user's 1:1 chat, another person's, or a card
drawn again. Every Connector call the bot makes is here (through `ConnectorApi`), so a move
to another SDK touches this module and `connector` only.

A message's reference is `conversation\\nactivity`, and for a question card also its card
id (`conversation\\nactivity\\ncard`): a click names its card by replyToId, or, from clients
that send none (Web Chat), by the card id in its submit data. A reply drawn as several
messages (the record's file consent cards) has `SEVERAL` and their references, tab-separated.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from botbuilder.schema import (
    Activity,
    ChannelAccount,
    ConversationAccount,
    ConversationParameters,
)

from conversation.messages import Answered, Closed, Plain, RecordFile, Reply, UserKey
from conversation.runner import Undeliverable

from . import upload as onedrive
from .connector import ConnectorApi, ConnectorError
from .reports import activities, as_activity, file_activity
from .request import CHANNEL, Clicked, Upload

log = logging.getLogger("adapters.teams")

SEVERAL = "several\t"


class TeamsOutbox:
    def __init__(
        self,
        api: ConnectorApi,
        service_url: str,
        bot: ChannelAccount,
        tenant: str,
        user: UserKey,
        chat: str,
        reply_to: str = "",
        click: Clicked | None = None,
        upload: Upload | None = None,
    ) -> None:
        """`chat`: the user's 1:1 conversation; `reply_to`: the activity replied to, when
        the input came from that chat; `click`: the card a submit came from; `upload`:
        where the file the user just agreed to receive goes."""
        self.api = api
        self.service_url = service_url
        self.bot = bot
        self.tenant = tenant
        self.user = user
        self.chat = chat
        self.reply_to = reply_to
        self.click = click
        self.upload = upload

    def here(self, where: str) -> bool:
        return where.partition("\n")[0] == self.chat

    def origin(self, newest: str | None) -> str | None:
        if self.click is None:  # typed: the newest question
            return newest
        if self.click.activity_id:  # Teams said which card
            return f"{self.chat}\n{self.click.activity_id}"
        parts = (newest or "").split("\n")
        if len(parts) == 3 and self.click.card_id and parts[2] == self.click.card_id:
            return newest
        return None  # which card it was is unknown: none is changed rather than the wrong one

    async def reply(self, replies: Sequence[Reply]) -> list[str | None]:
        refs: list[str | None] = []
        replies = list(replies)
        for reply, (drawn, card_id) in zip(replies, activities(replies), strict=True):
            if isinstance(reply, RecordFile) and reply.only and self.upload:
                drawn = [await self._uploaded(reply)]
            sent = []
            for activity in drawn:
                try:
                    sent.append(await self._send(self.chat, activity, self.reply_to))
                except ConnectorError as exc:
                    raise Undeliverable(type(exc).__name__) from None
            each = [f"{self.chat}\n{s}" for s in sent]
            if len(each) > 1:
                refs.append(SEVERAL + "\t".join(each))
            else:
                refs.append(f"{each[0]}\n{card_id}" if card_id else each[0])
        return refs

    async def _uploaded(self, record: RecordFile) -> Activity:
        """The file the user agreed to receive, put into their OneDrive: its card, or, if
        OneDrive refused it, the record as text to copy."""
        assert self.upload is not None
        try:
            await onedrive.put(self.upload.url, record.content(record.only).encode())
        except onedrive.UploadFailed as exc:
            log.warning("teams file upload failed", extra={"error": type(exc).__name__})
            return as_activity(Plain(record.text))
        u = self.upload
        return file_activity(u.name, u.content_url, u.unique_id, u.file_type)

    async def send(self, to: UserKey, reply: Reply) -> str | None:
        """Into `to`'s own 1:1 chat, created (or found: Teams keeps one) for their Entra
        object id; never a channel or group chat."""
        activity = as_activity(reply)
        try:
            if to == self.user:
                chat = self.chat
            else:
                params = ConversationParameters(
                    is_group=False,
                    bot=ChannelAccount(id=self.bot.id),
                    members=[ChannelAccount(id=to.user)],
                    tenant_id=self.tenant or None,
                    channel_data={"tenant": {"id": self.tenant}} if self.tenant else None,
                )
                chat = await self.api.create_conversation(self.service_url, params)
            sent = await self._send(chat, activity)
        except ConnectorError as exc:
            log.warning("teams delivery failed", extra={"error": type(exc).__name__})
            return None
        return f"{chat}\n{sent}"

    async def update(self, where: str, shown: Reply | Answered | Closed) -> bool:
        if where.startswith(SEVERAL):
            parts = where.removeprefix(SEVERAL).split("\t")
            return all([await self.update(part, shown) for part in parts])
        chat, _, rest = where.partition("\n")
        activity_id = rest.partition("\n")[0]
        activity = as_activity(shown)
        activity.id = activity_id
        self._address(activity, chat)
        try:
            await self.api.update(self.service_url, chat, activity_id, activity)
        except ConnectorError as exc:
            log.warning("teams card update failed", extra={"error": type(exc).__name__})
            return False
        return True

    async def _send(self, chat: str, activity: Activity, reply_to: str = "") -> str:
        self._address(activity, chat)
        if reply_to:
            activity.reply_to_id = reply_to
        return await self.api.send(self.service_url, chat, activity, reply_to)

    def _address(self, activity: Activity, chat: str) -> None:
        activity.channel_id = CHANNEL
        activity.service_url = self.service_url
        activity.from_property = self.bot
        activity.conversation = ConversationAccount(id=chat)
