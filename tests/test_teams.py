"""Teams over HTTP: activities in as the Bot Framework Connector sends them, real Redis,
and a local stand-in of the Connector API recording everything the bot sends back."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from adapters.teams import app as teams_app
from adapters.teams import cards as teams_cards
from adapters.teams import request as teams_request
from adapters.teams.settings import TeamsSettings
from bot.config import Settings
from bot.redis_connection import client
from conversation import flow
from conversation.engine import Engine
from conversation.messages import UserKey
from conversation.storage import Db, Store
from conversation.storage.store import DELIVERY_TTL
from conversation.views import Views
from tests.drivers.connector import Connector
from tests.drivers.teams_user import (
    APP_ID,
    TENANT,
    UNAUTHENTICATED,
    TeamsUser,
    actions,
    is_checklist,
    is_question,
    live_cards,
    poster,
    serve,
    step_of,
    words,
)

from .expected_paths import check_guidance, expected_steps
from .helpers import SAMPLE_PATHS, check_all_expire, check_logs_private, stored

ROOT = Path(__file__).resolve().parents[1]
FLOW = flow.load()
NOTICES = FLOW.notices


# --- driving the bot like Teams does --------------------------------------------------------------


@pytest.fixture
async def http(engine: Engine) -> AsyncIterator[TestClient]:
    async with serve(Settings(teams=UNAUTHENTICATED), engine) as client_:
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
    await alice.say(teams_request.COMMAND)
    assert step_of(alice.question()) == "welcome"
    await alice.answer("start")
    await alice.answer("affected")
    await alice.say(teams_request.COMMAND)
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
    assert [(c.method, c.text, c.card) for c in in_room] == [
        ("POST", teams_app.MOVED_PRIVATE, None)
    ]


async def test_if_the_private_chat_cannot_be_opened_the_channel_gets_only_a_hint(
    alice: TeamsUser, connector: Connector
) -> None:
    connector.refuse_create = True
    room = "19:room-77@thread.tacv2"
    assert await alice.say("<at>Guide</at> hello", chat=room, kind="channel") == 201
    assert [(c.conversation, c.text, c.card) for c in connector.calls] == [
        (room, teams_app.CANNOT_MOVE, None)
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
    async with serve(Settings(teams=None), engine) as http:
        mallory = TeamsUser(poster(http), connector, "mallory")
        assert await mallory.install() == 401
        assert await mallory.say(teams_request.COMMAND) == 401
        assert await mallory.say("hello", chat="19:x@thread.tacv2", kind="channel") == 401
        assert await mallory.post(b"{not json") == 401
    assert connector.calls == [] and await stored(redis, prefix) == []


async def test_with_an_app_id_an_unsigned_activity_is_refused(
    engine: Engine, connector: Connector, redis, prefix: str
) -> None:
    settings = TeamsSettings(APP_ID, "secret", "MultiTenant", "", allow_unauthenticated=False)
    async with serve(Settings(teams=settings), engine) as http:
        mallory = TeamsUser(poster(http), connector, "mallory")
        assert await mallory.install() == 401
        assert await mallory.say(teams_request.COMMAND) == 401
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
    async with serve(Settings(teams=settings), engine) as http:
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
    state = await redis.get(store.keys.user(alice.key))
    calls, support = len(connector.calls), alice.question()

    assert await alice.answer("start", card=welcome) == 201
    assert await redis.get(store.keys.user(alice.key)) == state
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
    state = await redis.get(store.keys.user(alice.key))
    assert await alice.answer("handling", card=role) == 201
    assert await redis.get(store.keys.user(alice.key)) == state
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
    state, calls = await redis.get(store.keys.user(alice.key)), list(connector.calls)
    assert state
    # Teams re-sends after 15 s without an answer; the same id must change nothing.
    assert await alice.post(activity) == 201
    assert await redis.get(store.keys.user(alice.key)) == state and connector.calls == calls


# --- expiry renewed by every turn -----------------------------------------------------------------


@pytest.mark.parametrize("text", ["help", "stop", teams_request.COMMAND, "banana"])
async def test_a_turn_that_changes_nothing_still_renews_every_key_of_the_user(
    alice: TeamsUser, redis, prefix: str, store: Store, text: str
) -> None:
    """Keys are deleted after 30 days *without use*: help, stop, a resume (the bot command)
    and unreadable text store nothing, and each is a use."""
    await alice.install()
    await alice.answer("start")
    await alice.say("1")
    await check_all_expire(redis, prefix)
    before = await redis.get(store.keys.user(alice.key))
    for key in await stored(redis, prefix):
        await redis.expire(key, 60)
    assert await alice.say(text) == 201
    assert await redis.get(store.keys.user(alice.key)) == before  # nothing else changed
    keys = await stored(redis, prefix)
    assert sorted(k.rpartition(b"}")[2] for k in keys) == [b"", b":msg", b":seen"], keys
    for key in keys:
        full = DELIVERY_TTL if key.endswith(b":seen") else store.ttl
        assert full - 30 < await redis.ttl(key) <= full, key


# --- failures and privacy -------------------------------------------------------------------------


async def test_when_redis_is_unreachable_the_user_gets_a_polite_message(
    connector: Connector,
) -> None:
    dead = Engine(
        Views(FLOW, ttl_days=30), Store(Db(client("redis://127.0.0.1:1/0")), ttl_seconds=60)
    )
    async with serve(Settings(teams=UNAUTHENTICATED), dead) as http:
        alice = TeamsUser(poster(http), connector)
        started = time.monotonic()
        assert await alice.say("hello") == 201
        assert await alice.install() == 201
        assert time.monotonic() - started < 5
    unavailable = dead.views.for_user(UserKey("teams", TENANT, "x")).notice("unavailable")
    assert [c.text for c in connector.calls] == [unavailable.text] * 2
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
