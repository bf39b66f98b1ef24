"""A person on Teams as the bot sees them: activities posted the way the Bot Framework
Connector delivers them, and the cards they were shown, read from the Connector stand-in
(`connector`)."""

from __future__ import annotations

import json
from itertools import count
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from adapters.teams import cards as teams_cards
from adapters.teams.settings import TeamsSettings
from bot.config import Settings
from bot.web import create_app
from conversation import flow
from conversation.engine import Engine
from conversation.messages import UserKey
from conversation.runner import Runner

from .connector import Call, Connector

FLOW = flow.load()
TENANT = "tenant-5c1e8d"
APP_ID = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"
UNAUTHENTICATED = TeamsSettings("", "", "MultiTenant", "", allow_unauthenticated=True)


class TeamsUser:
    """One person in one tenant, posting activities the way Teams delivers them."""

    _ids = count(1)

    def __init__(self, post: Any, connector: Connector, name: str = "alice") -> None:
        self._post = post
        self.connector = connector
        self.id = f"29:1{name}-teams-id"
        self.aad = f"aad-{name}-00000000"
        self.chat = f"a:1{name}-personal-chat"
        self.key = UserKey("teams", TENANT, self.aad)

    def activity(self, chat: str | None = None, kind: str = "personal", **fields: Any) -> dict:
        chat = chat or self.chat
        conversation: dict[str, Any] = {"id": chat, "conversationType": kind, "tenantId": TENANT}
        if kind != "personal":
            conversation["isGroup"] = True
        return {
            "type": "message",
            "id": f"1700000000{next(self._ids):06d}",
            "timestamp": "2025-01-01T00:00:00.000Z",
            "channelId": "msteams",
            "serviceUrl": self.connector.url,
            "from": {"id": self.id, "name": "Alice", "aadObjectId": self.aad},
            "recipient": {"id": "28:bot-id", "name": "Guide"},
            "conversation": conversation,
            "channelData": {"tenant": {"id": TENANT}},
            "locale": "en-GB",
            **fields,
        }

    async def post(self, body: dict | bytes) -> int:
        return await self._post(body)

    async def install(self) -> int:
        return await self.post(
            self.activity(
                type="conversationUpdate", membersAdded=[{"id": "28:bot-id"}, {"id": self.id}]
            )
        )

    async def say(self, text: str, chat: str | None = None, kind: str = "personal") -> int:
        return await self.post(self.activity(chat, kind, text=text, textFormat="plain"))

    def question(self) -> Call:
        """The newest question card in the 1:1 chat: the one with buttons."""
        cards = [c for c in self.connector.sent_to(self.chat) if is_question(c)]
        assert cards, "no question card was sent"
        return cards[-1]

    def checklist(self) -> Call:
        """The newest checklist card in the 1:1 chat."""
        cards = [c for c in self.connector.sent_to(self.chat) if is_checklist(c)]
        assert cards, "no checklist was sent"
        return cards[-1]

    async def copy_as_text(self) -> Call:
        """Press the checklist's "Copy as text": what arrives is one text message, and the
        final question again below it (the click spent the old one's token)."""
        (button,) = actions(self.checklist().card)
        assert button["title"] == teams_cards.COPY_AS_TEXT
        before = len(self.connector.calls)
        assert await self.post(self.activity(value=button["data"], text="")) == 201
        (text,) = [c for c in self.connector.calls[before:] if c.method == "POST" and not c.card]
        return text

    def submit(self, *ids: str, card: Call | None = None) -> dict:
        """The activity for a click on a button, or for ticking options and pressing Continue."""
        card = card or self.question()
        if len(ids) == 1 and not choice_set(card.card):
            (value,) = [a["data"] for a in actions(card.card) if a["data"].get("option") == ids[0]]
        else:
            offered = {c["value"] for c in choice_set(card.card)["choices"]}
            assert set(ids) <= offered
            (button,) = actions(card.card)
            value = {**button["data"], teams_cards.MULTI_INPUT: ",".join(ids)}
        return self.activity(value=value, replyToId=card.created, text="")

    async def answer(self, *ids: str, card: Call | None = None) -> int:
        return await self.post(self.submit(*ids, card=card))

    async def walk(self, path: tuple) -> None:
        await self.install()
        for step, ids in path:
            assert step_of(self.question()) == step
            assert await self.answer(*ids) == 201


def actions(card: dict) -> list[dict]:
    return [a for block in card["body"] if block["type"] == "ActionSet" for a in block["actions"]]


def is_checklist(call: Call) -> bool:
    return bool(call.card) and any(a["data"].get(teams_cards.AS_TEXT) for a in actions(call.card))


def is_question(call: Call) -> bool:
    return bool(call.card) and bool(actions(call.card)) and not is_checklist(call)


def live_cards(connector: Connector, chat: str) -> list[Call]:
    """The question cards in a chat that still have buttons, once every update is applied."""
    latest = {c.created: c for c in connector.sent_to(chat) if c.card}
    for update in connector.updates(chat):
        latest[update.activity_id] = update
    return [c for c in latest.values() if is_question(c)]


def choice_set(card: dict) -> dict | None:
    return next((b for b in card["body"] if b["type"] == "Input.ChoiceSet"), None)


def step_of(call: Call) -> str:
    title = call.card["body"][0]["text"]
    return next(s.id for s in FLOW.steps if s.title == title)


def words(call: Call) -> str:
    """Everything a card or message shows, as one string."""
    return json.dumps(call.body, ensure_ascii=False)


def serve(settings: Settings, engine: Engine | Runner) -> TestClient:
    runner = engine if isinstance(engine, Runner) else Runner(engine)
    return TestClient(TestServer(create_app(settings, runner)))


def poster(http: TestClient):
    async def post(body: dict | bytes) -> int:
        if isinstance(body, bytes):
            response = await http.post(
                "/api/messages", data=body, headers={"Content-Type": "application/json"}
            )
        else:
            response = await http.post("/api/messages", json=body)
        await response.release()
        return response.status

    return post


def card_text(card: dict) -> str:
    """Every TextBlock of a card, however deep in containers, as one string."""
    found: list[str] = []

    def walk(items: list) -> None:
        for block in items:
            if block.get("type") == "TextBlock":
                found.append(block["text"])
            walk(block.get("items", []))

    walk(card["body"])
    return "\n".join(found)
