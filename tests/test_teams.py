"""Teams over HTTP: activities in as the Bot Framework Connector sends them, real Redis,
and a local stand-in of the Connector API recording everything the bot sends back."""

from __future__ import annotations

import json
import logging
import struct
import time
import zipfile
import zlib
from collections.abc import AsyncIterator
from itertools import count
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from botbuilder.core import TurnContext
from botbuilder.core.adapters import TestAdapter
from botbuilder.schema import Activity, ChannelAccount, ConversationAccount

from adapters import teams
from adapters.teams import TeamsSettings
from adapters.teams import cards as teams_cards
from adapters.teams import request as teams_request
from bot.__main__ import main as cli
from bot.bench.standins.connector import Call, Connector
from bot.config import Settings
from bot.redis_connection import client
from bot.teams_package import write_package
from bot.web import create_app
from conversation import flow
from conversation.engine import Engine
from conversation.messages import UserKey
from conversation.store import DELIVERY_TTL, Store

from .helpers import SAMPLE_PATHS, check_all_expire, check_logs_private, serving, stored
from .test_paths import check_guidance, expected_steps

ROOT = Path(__file__).resolve().parents[1]
FLOW = flow.load()
TENANT = "tenant-5c1e8d"
APP_ID = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"
UNAUTHENTICATED = TeamsSettings("", "", "MultiTenant", "", allow_unauthenticated=True)
NOTICES = FLOW.notices


# --- driving the bot like Teams does --------------------------------------------------------------


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
        """Press the checklist's "Copy as text": what arrives is the one text message."""
        (button,) = actions(self.checklist().card)
        assert button["title"] == teams_cards.COPY_AS_TEXT
        before = len(self.connector.calls)
        assert await self.post(self.activity(value=button["data"], text="")) == 201
        (text,) = self.connector.calls[before:]
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
            value = {**button["data"], teams.MULTI_INPUT: ",".join(ids)}
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


@pytest.fixture
async def connector() -> AsyncIterator[Connector]:
    async with Connector() as c:
        yield c


def _serve(settings: Settings, engine: Engine) -> TestClient:
    return TestClient(TestServer(create_app(settings, engine)))


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


@pytest.fixture
async def http(engine: Engine) -> AsyncIterator[TestClient]:
    async with _serve(Settings(teams=UNAUTHENTICATED), engine) as client_:
        yield client_


@pytest.fixture
def alice(http: TestClient, connector: Connector) -> TeamsUser:
    return TeamsUser(poster(http), connector)


def check_cards(connector: Connector) -> None:
    """Every card: Adaptive Cards 1.4 or lower, with a plain-text fallback and summary."""
    cards = [c for c in connector.calls if c.card]
    assert cards
    for call in cards:
        version = tuple(int(x) for x in call.card["version"].split("."))
        assert version <= (1, 4)
        assert call.card["fallbackText"].strip() and call.body["summary"].strip()
        assert "**" not in call.body["summary"]
        for action in actions(call.card):
            assert action["type"] == "Action.Submit" and action["data"]["token"]


# --- whole conversations --------------------------------------------------------------------------


async def test_installing_the_app_sends_the_welcome_with_a_start_button(
    alice: TeamsUser, connector: Connector
) -> None:
    assert await alice.install() == 201
    (welcome,) = connector.calls
    assert welcome.conversation == alice.chat and step_of(welcome) == "welcome"
    (start,) = actions(welcome.card)
    assert start["title"] == "Start" and start["data"]["option"] == "start"
    assert "999" in welcome.body["summary"]  # the danger line, in the plain-text fallback
    check_cards(connector)


@pytest.mark.parametrize("name", SAMPLE_PATHS)
async def test_a_whole_path_by_buttons_ends_with_the_checklist_in_the_1to1_chat(
    alice: TeamsUser, connector: Connector, name: str
) -> None:
    path = SAMPLE_PATHS[name]
    await alice.walk(path)
    sent = connector.sent_to(alice.chat)
    asked = [step_of(c) for c in sent if is_question(c)]
    assert asked == [*expected_steps(dict(path)), "summary"]

    # Every answered card was replaced in place by the answer, without buttons.
    updates = connector.updates(alice.chat)
    assert [u.activity_id for u in updates] == [c.created for c in sent if c.card][: len(path)]
    assert [step_of(c) for c in live_cards(connector, alice.chat)] == ["summary"]
    for update, (step, ids) in zip(updates, path, strict=True):
        assert not actions(update.card)
        labels = [o.label for o in FLOW.step(step).options if o.id in ids]
        assert all(label in words(update) for label in labels)

    # The checklist arrives once: a card, with a short plain-text summary, and no text.
    (guidance,) = [c for c in sent if is_checklist(c)]
    assert [c for c in sent if len(c.text) > 500] == []
    assert not guidance.text and guidance.body["summary"].startswith(
        guidance.card["body"][0]["text"]
    )
    assert len(guidance.body["summary"]) < 100
    card_text = words(guidance)
    assert (
        "[Police.uk](https://www.police.uk/pu/contact-the-police/report-a-crime-incident/)"
        in card_text
    )
    assert "https://www.npcc.police.uk/" in card_text

    # "Copy as text": the same checklist as one plain-text message, its line breaks kept.
    copied = await alice.copy_as_text()
    assert copied.body["textFormat"] == "plain" and not copied.card
    check_guidance(copied.text, dict(path))
    assert "\n\n[ ] Police involvement\n" in copied.text
    assert [step_of(c) for c in live_cards(connector, alice.chat)] == ["summary"]
    assert connector.created() == []  # no other conversation was opened
    check_cards(connector)


async def test_typed_answers_work_and_update_the_card_they_answer(
    alice: TeamsUser, connector: Connector
) -> None:
    await alice.install()
    typed = ["start", "2", "continue", "not known", "not sure", "1", "calls and content"]
    for text in typed:
        card = alice.question()
        assert await alice.say(text) == 201
        assert connector.updates(alice.chat)[-1].activity_id == card.created
    assert step_of(alice.question()) == "calls"
    await alice.say("next")
    await alice.say("ok")
    assert "As the perpetrator is not known, report the content" in words(alice.checklist())
    assert step_of(alice.question()) == "summary"
    assert len(connector.updates(alice.chat)) == len(typed) + 2


async def test_a_greeting_after_the_install_welcome_leaves_one_live_card(
    alice: TeamsUser, connector: Connector
) -> None:
    """Teams shows the welcome on install, and people then type "hi": whatever the bot
    answers, the welcome card does not keep a live Start button beside a second one."""
    assert await alice.install() == 201
    welcome = alice.question()
    assert await alice.say("hi") == 201
    (live,) = live_cards(connector, alice.chat)
    assert live.created != welcome.created and live.created == alice.question().created
    (changed,) = connector.updates(alice.chat)
    assert changed.activity_id == welcome.created and not actions(changed.card)
    for text in ("hello", "help", "what is this"):  # and so on, at any step
        assert await alice.say(text) == 201
        assert live_cards(connector, alice.chat) == [alice.question()]
    check_cards(connector)


async def test_back_and_restart_close_the_card_they_leave(
    alice: TeamsUser, connector: Connector
) -> None:
    await alice.install()
    await alice.answer("start")
    await alice.answer("handling")
    for text in ("back", "restart", "1"):
        assert await alice.say(text) == 201
        assert live_cards(connector, alice.chat) == [alice.question()], text
    assert step_of(alice.question()) == "role"


async def test_a_click_without_reply_to_id_replaces_the_card_it_came_from(
    alice: TeamsUser, connector: Connector
) -> None:
    """Some clients (Web Chat) send no replyToId: the card is found from its submit data."""
    await alice.install()
    welcome = alice.question()
    click = alice.submit("start")
    del click["replyToId"]
    assert await alice.post(click) == 201
    (update,) = connector.updates(alice.chat)
    assert update.activity_id == welcome.created and "Start" in words(update)
    assert live_cards(connector, alice.chat) == [alice.question()]


async def test_a_click_on_the_older_of_two_live_cards_without_reply_to_id_replaces_neither(
    alice: TeamsUser, connector: Connector
) -> None:
    """Two live cards of one question (the older could not be closed): a click on the older,
    carrying no replyToId, must not put its answer on the newer card."""
    await alice.install()
    await alice.answer("start")
    older = alice.question()
    connector.refuse_update = True  # the older card cannot be closed
    await alice.say("help")
    newer = alice.question()
    assert newer.created != older.created and step_of(newer) == step_of(older) == "role"
    connector.refuse_update = False
    updates = len(connector.updates(alice.chat))

    click = alice.submit("affected", card=older)
    del click["replyToId"]
    assert await alice.post(click) == 201
    assert connector.updates(alice.chat)[updates:] == []  # both left as they were
    assert step_of(alice.question()) == "support"  # and the answer counted


@pytest.mark.parametrize("greeting", ["hi", "Hello!", "hey", "good morning"])
async def test_a_greeting_after_the_install_welcome_begins_and_leaves_no_live_start(
    alice: TeamsUser, connector: Connector, greeting: str
) -> None:
    await alice.install()
    welcome = alice.question()
    assert await alice.say(greeting) == 201
    sent = connector.sent_to(alice.chat)
    assert not any("didn't catch" in words(c) for c in sent)
    assert [step_of(c) for c in sent if c.card and actions(c.card)] == ["welcome", "role"]
    (update,) = connector.updates(alice.chat)  # the welcome card, shown as answered
    assert update.activity_id == welcome.created and not actions(update.card)
    assert "Start" in words(update)
    check_cards(connector)


async def test_the_bot_command_starts_and_later_resumes(
    alice: TeamsUser, connector: Connector
) -> None:
    await alice.say(teams.COMMAND)
    assert step_of(alice.question()) == "welcome"
    await alice.answer("start")
    await alice.answer("affected")
    await alice.say(teams.COMMAND)
    notice, card = connector.sent_to(alice.chat)[-2:]
    assert notice.text.startswith("Welcome back") and "Support" in notice.text
    assert step_of(card) == "support"


async def test_send_it_again_and_delete_my_answers(
    alice: TeamsUser, connector: Connector, redis, prefix: str
) -> None:
    await alice.walk(SAMPLE_PATHS["for a colleague who is the head"])
    before = len(connector.sent_to(alice.chat))
    await alice.answer("resend")
    again = connector.sent_to(alice.chat)[before:]
    assert "checklist" in again[0].card["body"][0]["text"].lower()
    await check_all_expire(redis, prefix)
    await alice.say("delete my data")
    assert connector.sent_to(alice.chat)[-1].text.startswith("Done: I no longer hold")
    assert await stored(redis, prefix) == []  # nothing at all is left for this user


async def test_copy_as_text_after_starting_again_is_stale_and_sends_no_checklist(
    alice: TeamsUser, connector: Connector
) -> None:
    await alice.walk(SAMPLE_PATHS["for a colleague who is the head"])
    checklist = alice.checklist()
    await alice.answer("restart")
    before = len(connector.sent_to(alice.chat))
    (button,) = actions(checklist.card)
    assert await alice.post(alice.activity(value=button["data"], text="")) == 201
    notice, current = connector.sent_to(alice.chat)[before:]
    assert notice.text == NOTICES["stale"] and step_of(current) == "welcome"


async def test_if_a_card_cannot_be_updated_the_conversation_still_goes_on(
    alice: TeamsUser, connector: Connector
) -> None:
    await alice.install()
    connector.refuse_update = True
    assert await alice.answer("start") == 201
    assert step_of(alice.question()) == "role"
    assert connector.updates(alice.chat) == []


# --- channels and group chats ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["channel", "groupChat"])
async def test_a_start_in_a_channel_moves_to_a_1to1_chat_and_says_nothing_else_there(
    alice: TeamsUser, connector: Connector, kind: str
) -> None:
    room = "19:room-4f2a@thread.tacv2"
    mention = "<at>Guide</at> report-harassment"
    assert await alice.say(mention, chat=room, kind=kind) == 201
    (created,) = connector.created()
    assert created.body["members"] == [{"id": alice.id}]
    assert created.body["isGroup"] is False
    assert created.body["channelData"] == {"tenant": {"id": TENANT}}  # what Teams reads
    private = created.created
    (welcome,) = connector.sent_to(private)
    assert step_of(welcome) == "welcome"

    alice.chat = private  # the conversation carries on in the new 1:1 chat
    await alice.answer("start")
    for step, ids in SAMPLE_PATHS["staff and parent, every kind of abuse"][1:]:
        assert step_of(alice.question()) == step
        await alice.answer(*ids)
    assert alice.checklist().conversation == private

    in_room = [c for c in connector.calls if c.conversation == room]
    assert [(c.method, c.text, c.card) for c in in_room] == [("POST", teams.MOVED_PRIVATE, None)]


async def test_if_the_private_chat_cannot_be_opened_the_channel_gets_only_a_hint(
    alice: TeamsUser, connector: Connector
) -> None:
    connector.refuse_create = True
    room = "19:room-77@thread.tacv2"
    assert await alice.say("<at>Guide</at> hello", chat=room, kind="channel") == 201
    assert [(c.conversation, c.text, c.card) for c in connector.calls] == [
        (room, teams.CANNOT_MOVE, None)
    ]


async def test_being_added_to_a_team_says_nothing_and_stores_nothing(
    alice: TeamsUser, connector: Connector, redis, prefix: str
) -> None:
    added = alice.activity(
        "19:general@thread.tacv2",
        "channel",
        type="conversationUpdate",
        membersAdded=[{"id": "28:bot-id"}],
    )
    assert await alice.post(added) == 201
    assert connector.calls == [] and await stored(redis, prefix) == []


# --- refusals -------------------------------------------------------------------------------------


async def test_with_no_app_id_every_request_is_refused_and_nothing_stored_or_sent(
    engine: Engine, connector: Connector, redis, prefix: str
) -> None:
    async with _serve(Settings(teams=None), engine) as http:
        mallory = TeamsUser(poster(http), connector, "mallory")
        assert await mallory.install() == 401
        assert await mallory.say(teams.COMMAND) == 401
        assert await mallory.say("hello", chat="19:x@thread.tacv2", kind="channel") == 401
        assert await mallory.post(b"{not json") == 401
    assert connector.calls == [] and await stored(redis, prefix) == []


async def test_with_an_app_id_an_unsigned_activity_is_refused(
    engine: Engine, connector: Connector, redis, prefix: str
) -> None:
    settings = TeamsSettings(APP_ID, "secret", "MultiTenant", "", allow_unauthenticated=False)
    async with _serve(Settings(teams=settings), engine) as http:
        mallory = TeamsUser(poster(http), connector, "mallory")
        assert await mallory.install() == 401
        assert await mallory.say(teams.COMMAND) == 401
    assert connector.calls == [] and await stored(redis, prefix) == []


def _malformed(service_url: str) -> dict[str, Any]:
    good = TeamsUser(None, SimpleNamespace(url=service_url), "x").activity(text="hi")
    without = lambda *keys: {k: v for k, v in good.items() if k not in keys}  # noqa: E731
    return {
        "not json": b"{'type': 'message'",
        "a list": b"[]",
        "no type": without("type"),
        "a number as type": {**good, "type": 7},
        "from is a string": {**good, "from": "29:someone"},
        "no from": without("from"),
        "no conversation": without("conversation"),
        "no serviceUrl": without("serviceUrl"),
        "a serviceUrl that is not http": {**good, "serviceUrl": "file:///etc/passwd"},
        "no id": without("id"),
        "no tenant": {
            **without("channelData"),
            "conversation": {"id": "a:1", "conversationType": "personal"},
        },
        "a token that is not a string": {**good, "value": {"token": 12, "option": "start"}},
        "an option that is not a string": {**good, "value": {"token": "1-1", "option": ["a"]}},
        "a card id that is not a string": {**good, "value": {"token": "1-1", "card": 7}},
        "a copy request that is not a string": {**good, "value": {"token": "1-1", "as": [1]}},
        "a bad timestamp": {**good, "timestamp": "yesterday"},
        "a text that is a list": {**good, "text": ["hi"]},
        "a text that is a number": {**good, "text": 1},  # would read as the first option
        "a text that is an object": {**good, "text": {"text": "hi"}},
    }


@pytest.mark.parametrize("name", list(_malformed("http://127.0.0.1:9/")))
async def test_malformed_activities_are_refused_with_400(
    http: TestClient, connector: Connector, redis, prefix: str, name: str
) -> None:
    body = _malformed(connector.url)[name]
    assert await poster(http)(body) == 400
    assert connector.calls == [] and await stored(redis, prefix) == []


@pytest.mark.parametrize("token", [None, "Bearer forged.jwt.token"])
@pytest.mark.parametrize("name", list(_malformed("http://127.0.0.1:9/")))
async def test_a_malformed_activity_without_a_valid_token_is_refused_with_401(
    engine: Engine, connector: Connector, redis, prefix: str, name: str, token: str | None
) -> None:
    """Whoever cannot sign learns nothing about the body: not even that it is malformed."""
    settings = TeamsSettings(APP_ID, "secret", "MultiTenant", "", allow_unauthenticated=False)
    body = _malformed(connector.url)[name]
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = token
    async with _serve(Settings(teams=settings), engine) as http:
        response = await http.post("/api/messages", data=data, headers=headers)
        assert response.status == 401, await response.text()
    assert connector.calls == [] and await stored(redis, prefix) == []


# --- stale, double and re-delivered ---------------------------------------------------------------


async def test_a_click_on_an_old_card_changes_nothing_and_shows_the_current_question(
    alice: TeamsUser, connector: Connector, redis, store: Store
) -> None:
    await alice.install()
    welcome = alice.question()
    await alice.answer("start")
    await alice.answer("affected")
    state = await redis.get(store.key(alice.key))
    calls, support = len(connector.calls), alice.question()

    assert await alice.answer("start", card=welcome) == 201
    assert await redis.get(store.key(alice.key)) == state
    notice, current = [c for c in connector.calls[calls:] if c.method == "POST"]
    assert notice.text == NOTICES["stale"] and step_of(current) == "support"
    # The support question asked again: its older card is closed, the new one is the live one.
    (close,) = [c for c in connector.calls[calls:] if c.method == "PUT"]
    assert close.activity_id == support.created and close.activity_id != welcome.created
    assert not actions(close.card) and close.body["summary"] == teams_cards.CLOSED
    assert live_cards(connector, alice.chat) == [current]


async def test_a_double_click_counts_once(
    alice: TeamsUser, connector: Connector, redis, store: Store
) -> None:
    await alice.install()
    await alice.answer("start")
    role = alice.question()
    assert await alice.answer("handling", card=role) == 201
    state = await redis.get(store.key(alice.key))
    assert await alice.answer("handling", card=role) == 201
    assert await redis.get(store.key(alice.key)) == state
    assert [u.activity_id for u in connector.updates(alice.chat)].count(role.created) == 1
    assert connector.sent_to(alice.chat)[-2].text == NOTICES["stale"]
    assert [step_of(c) for c in connector.sent_to(alice.chat) if c.card and actions(c.card)] == [
        "welcome",
        "role",
        "support",
        "support",
    ]


@pytest.mark.parametrize("kind", ["message", "conversationUpdate", "submit"])
async def test_a_redelivered_activity_is_dropped(
    alice: TeamsUser, connector: Connector, redis, store: Store, kind: str
) -> None:
    if kind == "message":
        activity = alice.activity(text="hello")
    elif kind == "conversationUpdate":
        activity = alice.activity(type="conversationUpdate", membersAdded=[{"id": "28:bot-id"}])
    else:
        await alice.install()
        card = alice.question()
        value = actions(card.card)[0]["data"]
        activity = alice.activity(value=value, replyToId=card.created)
    assert await alice.post(activity) == 201
    state, calls = await redis.get(store.key(alice.key)), list(connector.calls)
    assert state
    # Teams re-sends after 15 s without an answer; the same id must change nothing.
    assert await alice.post(activity) == 201
    assert await redis.get(store.key(alice.key)) == state and connector.calls == calls


# --- expiry renewed by every turn -----------------------------------------------------------------


@pytest.mark.parametrize("text", ["help", "stop", teams.COMMAND, "banana"])
async def test_a_turn_that_changes_nothing_still_renews_every_key_of_the_user(
    alice: TeamsUser, redis, prefix: str, store: Store, text: str
) -> None:
    """Keys are deleted after 30 days *without use*: help, stop, a resume (the bot command)
    and unreadable text store nothing, and each is a use."""
    await alice.install()
    await alice.answer("start")
    await alice.say("1")
    await check_all_expire(redis, prefix)
    before = await redis.get(store.key(alice.key))
    for key in await stored(redis, prefix):
        await redis.expire(key, 60)
    assert await alice.say(text) == 201
    assert await redis.get(store.key(alice.key)) == before  # nothing else changed
    keys = await stored(redis, prefix)
    assert sorted(k.rpartition(b"}")[2] for k in keys) == [b"", b":msg", b":seen"], keys
    for key in keys:
        full = DELIVERY_TTL if key.endswith(b":seen") else store.ttl
        assert full - 30 < await redis.ttl(key) <= full, key


# --- failures and privacy -------------------------------------------------------------------------


async def test_when_redis_is_unreachable_the_user_gets_a_polite_message(
    connector: Connector,
) -> None:
    dead = Engine(FLOW, Store(client("redis://127.0.0.1:1/0"), 60), ttl_days=30)
    async with _serve(Settings(teams=UNAUTHENTICATED), dead) as http:
        alice = TeamsUser(poster(http), connector)
        started = time.monotonic()
        assert await alice.say("hello") == 201
        assert await alice.install() == 201
        assert time.monotonic() - started < 5
    assert [c.text for c in connector.calls] == [dead.notice("unavailable").text] * 2
    await dead.store.redis.aclose()


async def test_logs_carry_nothing_the_user_typed_or_chose(
    alice: TeamsUser, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "my deputy keeps sharing zebrafinch memes about me on instagram"
    await alice.say(secret)
    await alice.say(secret)
    path = SAMPLE_PATHS["staff and parent, every kind of abuse"]
    await alice.walk(path)
    words = ("deputy", "zebrafinch", "memes", "instagram")
    check_logs_private(caplog.records, words, ids=(TENANT, alice.aad, alice.id), turns=len(path))


# --- unit level, on the SDK's TestAdapter ---------------------------------------------------------


def drain(adapter: TestAdapter) -> list[Activity]:
    sent = []
    while (activity := adapter.get_next_activity()) is not None:
        sent.append(activity)
    return sent


async def test_choose_all_that_apply_on_the_sdk_test_adapter(engine: Engine) -> None:
    """ "Not known" stands alone; a good multi-select replaces the card it came from."""
    template = Activity(
        channel_id="msteams",
        service_url="https://smba.trafficmanager.net/uk/",
        from_property=ChannelAccount(id="29:1", aad_object_id="aad-1"),
        recipient=ChannelAccount(id="28:bot"),
        conversation=ConversationAccount(id="a:1", conversation_type="personal", tenant_id="t-1"),
    )
    adapter = TestAdapter(teams.TeamsBot(engine, "").on_turn, template)
    for text in ("hello", "start", "1", "continue"):
        await adapter.send(text)
    card = drain(adapter)[-1].attachments[0].content
    assert choice_set(card)["isMultiSelect"] is True
    (go,) = actions(card)
    replaced = len(adapter.updated_activities)

    def ticked(options: str) -> Activity:
        value = {**go["data"], teams.MULTI_INPUT: options}
        return Activity(type="message", value=value, reply_to_id="card-7")

    await adapter.receive_activity(ticked("pupil,unknown"))
    notice, again = drain(adapter)
    assert notice.text == NOTICES["exclusive"].format(option="Not known")
    assert again.attachments[0].content["body"][0]["text"] == "Relevant policy"
    # Nothing was answered: the question asked again closes its older card.
    (close,) = adapter.updated_activities[replaced:]
    assert close.summary == teams_cards.CLOSED and not actions(close.attachments[0].content)
    replaced += 1

    await adapter.receive_activity(ticked("pupil,parent"))
    (update,) = adapter.updated_activities[replaced:]
    assert update.id == "card-7" and not actions(update.attachments[0].content)
    assert "A pupil, A parent or carer" in json.dumps(update.attachments[0].content)
    (criteria,) = drain(adapter)
    assert criteria.attachments[0].content["body"][0]["text"] == FLOW.step("criteria").title


def test_the_tenant_is_read_where_teams_puts_it() -> None:
    """The SDK maps conversation.tenantID, but Teams sends tenantId: both must be read."""
    activity = Activity().deserialize(
        {
            "type": "message",
            "channelId": "msteams",
            "from": {"id": "29:1", "aadObjectId": "aad-1"},
            "conversation": {"id": "a:1", "tenantId": "t-1"},
        }
    )
    assert TurnContext(TestAdapter(), activity).activity.conversation.tenant_id is None
    assert teams_request.user(activity) == UserKey("teams", "t-1", "aad-1")


# --- the app package ------------------------------------------------------------------------------


def png_size_and_pixels(data: bytes) -> tuple[int, int, list[tuple[int, ...]]]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, chunk = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        assert zlib.crc32(kind + chunk) == struct.unpack(">I", data[pos + 8 + length :][:4])[0]
        header = chunk if kind == b"IHDR" else header
        idat += chunk if kind == b"IDAT" else b""
        pos += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour == 6  # 8-bit RGBA
    raw, pixels, stride = zlib.decompress(idat), [], width * 4 + 1
    for row in range(height):
        line = raw[row * stride : (row + 1) * stride]
        assert line[0] == 0  # filter: none
        pixels += [tuple(line[1 + i : 5 + i]) for i in range(0, width * 4, 4)]
    return width, height, pixels


def test_the_package_names_the_command_and_has_icons_of_the_right_sizes(tmp_path: Path) -> None:
    out = write_package(APP_ID, str(tmp_path / "teams-app.zip"))
    with zipfile.ZipFile(out) as package:
        assert sorted(package.namelist()) == ["color.png", "manifest.json", "outline.png"]
        manifest = json.loads(package.read("manifest.json"))
        color = png_size_and_pixels(package.read("color.png"))
        outline = png_size_and_pixels(package.read("outline.png"))
    assert manifest["id"] == APP_ID and manifest["manifestVersion"] in manifest["$schema"]
    (bot,) = manifest["bots"]
    assert bot["botId"] == APP_ID and "personal" in bot["scopes"]
    commands = [c["title"] for lst in bot["commandLists"] for c in lst["commands"]]
    assert commands == [teams.COMMAND] * len(bot["commandLists"])
    assert len(manifest["name"]["short"]) <= 30 and len(manifest["description"]["short"]) <= 80
    for field in ("websiteUrl", "privacyUrl", "termsOfUseUrl"):
        assert manifest["developer"][field].startswith("https://")
    assert manifest["icons"] == {"color": "color.png", "outline": "outline.png"}
    assert color[:2] == (192, 192) and outline[:2] == (32, 32)
    # Teams wants the outline white on transparent, and the colour icon opaque.
    assert all(p[:3] == (255, 255, 255) or p[3] == 0 for p in outline[2])
    assert {p[3] for p in outline[2]} > {0} and all(p[3] == 255 for p in color[2])


@pytest.mark.parametrize("bad", ["", "not-a-guid", APP_ID + "0", "{" + APP_ID + "}"])
def test_the_package_refuses_an_app_id_that_is_not_a_guid(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError, match="GUID"):
        write_package(bad, str(tmp_path / "x.zip"))
    assert not (tmp_path / "x.zip").exists()


def test_the_package_takes_the_school_s_own_pages_and_version(tmp_path: Path) -> None:
    env = {
        "TEAMS_DEVELOPER_NAME": "Oakfield Learning Trust",
        "TEAMS_WEBSITE_URL": "https://oakfield.example/",
        "TEAMS_PRIVACY_URL": "https://oakfield.example/privacy",
        "TEAMS_TERMS_URL": "https://oakfield.example/terms",
        "TEAMS_APP_VERSION": "1.0.7",
    }
    with zipfile.ZipFile(write_package(APP_ID, str(tmp_path / "a.zip"), env)) as package:
        manifest = json.loads(package.read("manifest.json"))
    assert manifest["version"] == "1.0.7"
    assert manifest["developer"] == {
        "name": "Oakfield Learning Trust",
        "websiteUrl": "https://oakfield.example/",
        "privacyUrl": "https://oakfield.example/privacy",
        "termsOfUseUrl": "https://oakfield.example/terms",
    }
    with pytest.raises(ValueError, match="TEAMS_PRIVACY_URL"):
        write_package(APP_ID, str(tmp_path / "b.zip"), {**env, "TEAMS_PRIVACY_URL": "http://x/"})


def test_the_package_command(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "app.zip"
    assert cli(["teams-package", "--app-id", APP_ID, "--out", str(out)]) == 0
    assert Path(capsys.readouterr().out.strip()) == out.resolve()
    assert cli(["teams-package", "--app-id", "nope", "--out", str(out)]) == 2
    assert "GUID" in capsys.readouterr().err


# --- the whole thing, as `python -m bot serve` ----------------------------------------------------


async def test_serve_carries_a_user_through_a_path_over_the_bot_framework_protocol(
    redis_url: str, connector: Connector, redis
) -> None:
    settings = {"REDIS_URL": redis_url, "MicrosoftAppId": "", "TEAMS_ALLOW_UNAUTHENTICATED": "1"}
    bob = TeamsUser(None, connector, "bob-serve")
    try:
        async with aiohttp.ClientSession() as session, serving(session, settings) as served:

            async def post(body: dict) -> int:
                async with session.post(f"{served.url}/api/messages", json=body) as response:
                    return response.status

            bob._post = post
            path = SAMPLE_PATHS["a pupil, sexual harassment, police not sure"]
            await bob.walk(path)
            check_guidance((await bob.copy_as_text()).text, dict(path))
    finally:
        await redis.delete(*[k async for k in redis.scan_iter(f"hb:{{teams:{TENANT}:{bob.aad}}}*")])
    assert "TEAMS_ALLOW_UNAUTHENTICATED=1" in served.stderr  # the start-up warning
