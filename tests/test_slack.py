"""Slack over HTTP: requests signed and shaped exactly as Slack sends them, real Redis, and a
local stand-in of the Slack Web API recording everything the bot sends back."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from adapters.slack import app as slack_app
from adapters.slack import blocks as slack_blocks
from adapters.slack.settings import SCOPES
from bot.redis_connection import client
from bot.web import create_app
from conversation.engine import Engine
from conversation.messages import UserKey
from conversation.runner import Runner
from conversation.storage import Db, Store
from conversation.storage.store import DELIVERY_TTL
from conversation.views import Views
from tests.drivers.slack_api import TOKEN, SlackApi
from tests.drivers.slack_user import (
    CHANNEL,
    SECRET,
    TEAM,
    SlackUser,
    guidance_of,
    live_questions,
    mrkdwn_of,
    poster,
    settings_for,
    signed,
    step_of,
)
from tests.drivers.standin import Gate

from .expected_paths import check_guidance, expected_steps
from .helpers import FLOW, SAMPLE_PATHS, check_all_expire, check_logs_private, serving, stored

ROOT = Path(__file__).resolve().parents[1]
NOTICES = FLOW.notices


# --- fixtures -----------------------------------------------------------------------------


@pytest.fixture
def runner(engine: Engine) -> Runner:
    """The conversation alone (no telling, no follow-ups), on the test's `engine`: the Slack
    stand-in, the app and alice are conftest's, over it."""
    return Runner(engine)


def check_messages(api: SlackApi) -> None:
    """Every message has a plain-text fallback, and every button carries a step token."""
    for call in api.calls:
        if call.method in ("chat.postMessage", "chat.update"):
            assert call.text.strip() and "**" not in call.text
            for element in call.actions:
                assert element["type"] == "checkboxes" or element["value"]


# --- whole conversations ----------------------------------------------------------------------


@pytest.mark.parametrize("name", SAMPLE_PATHS)
async def test_a_whole_path_in_the_dm_ends_with_the_checklist_there(
    alice: SlackUser, api: SlackApi, name: str
) -> None:
    path = SAMPLE_PATHS[name]
    await alice.walk(path)
    asked = [step_of(c) for c in api.questions(alice.dm)]
    assert asked == [*expected_steps(dict(path)), "summary"]

    # Each answered question was updated in place to show the answer: a click redraws its
    # message with the answers so far above the next question, the last one without buttons.
    updates = api.updates(alice.dm)
    (first, *_), last = api.questions(alice.dm), api.questions(alice.dm)[-1]
    assert {u.args["ts"] for u in updates} == {first.response["ts"]} != {last.response["ts"]}
    for update, (step, ids) in zip(updates, path, strict=True):
        for label in (o.label for o in FLOW.step(step).options if o.id in ids):
            assert label in update.text
    assert not updates[-1].actions
    # Its last drawing keeps the record the message grew: every question answered, with
    # its answer, in the blocks the person reads (the last click's answer included).
    record = mrkdwn_of([updates[-1]])
    for step, ids in path:
        assert slack_blocks.escape(FLOW.step(step).title) in record, step
        for label in (o.label for o in FLOW.step(step).options if o.id in ids):
            assert slack_blocks.escape(label) in record, (step, label)
    assert live_questions(api, alice.dm) == [last.response["ts"]]

    (guidance,) = guidance_of(api, alice.dm)
    check_guidance(guidance.text, dict(path))
    shown = json.dumps(guidance.blocks, ensure_ascii=False)
    assert (
        "<https://www.police.uk/pu/contact-the-police/report-a-crime-incident/|Police.uk>" in shown
        and "☐" in shown
    )
    assert {c.channel for c in api.calls if c.method != "conversations.open"} == {alice.dm}
    check_messages(api)


async def test_the_slash_command_in_a_channel_moves_to_the_dm_and_says_nothing_there(
    alice: SlackUser, api: SlackApi
) -> None:
    path = SAMPLE_PATHS["staff and parent, every kind of abuse"]
    await alice.walk(path, start=alice.command)
    (moved,) = api.to(CHANNEL)
    assert moved.method == "respond" and moved.text == slack_app.MOVED_PRIVATE
    assert moved.args["response_type"] == "ephemeral" and "blocks" not in moved.args
    (guidance,) = guidance_of(api, alice.dm)
    check_guidance(guidance.text, dict(path))
    assert {c.channel for c in api.calls if c.method != "conversations.open"} == {
        CHANNEL,
        alice.dm,
    }


async def test_the_slash_command_in_the_dm_just_starts_and_later_resumes(
    alice: SlackUser, api: SlackApi
) -> None:
    assert await alice.command(alice.dm) == 200
    assert step_of(alice.question()) == "welcome"
    await alice.answer("start")
    await alice.answer("affected")
    assert await alice.command(alice.dm) == 200
    notice, question = api.posted(alice.dm)[-2:]
    assert notice.text.startswith("Welcome back") and "Support" in notice.text
    assert step_of(question) == "support"
    assert [c for c in api.calls if c.method == "respond"] == []


async def test_typed_answers_work_and_update_the_question_they_answer(
    alice: SlackUser, api: SlackApi
) -> None:
    await alice.say("hello")
    typed = ["start", "2", "continue", "not known", "not sure", "1", "calls and content"]
    for text in typed:
        question = alice.question()
        assert await alice.say(text) == 200
        assert api.updates(alice.dm)[-1].args["ts"] == question.response["ts"]
    assert step_of(alice.question()) == "calls"
    await alice.say("next")
    await alice.say("ok")
    (guidance,) = guidance_of(api, alice.dm)
    assert "As the perpetrator is not known, report the content" in guidance.text
    assert step_of(alice.question()) == "summary"
    assert len(api.updates(alice.dm)) == len(typed) + 2


async def test_choose_all_that_apply_reads_the_ticked_boxes(
    alice: SlackUser, api: SlackApi, redis, store: Store
) -> None:
    for text in ("hi", "start", "1", "continue"):
        await alice.say(text)
    question = alice.question()
    assert step_of(question) == "perpetrator"
    before = await redis.get(store.keys.user(alice.key))
    await alice.answer("pupil", "unknown", message=question)  # "not known" stands alone
    assert api.posted(alice.dm)[-2].text == NOTICES["exclusive"].format(option="Not known")
    await alice.answer(message=question)  # Continue with nothing ticked
    assert api.posted(alice.dm)[-2].text == NOTICES["unclear"].replace("**", "")
    assert await redis.get(store.keys.user(alice.key)) == before
    await alice.answer("pupil", "parent", message=question)
    assert "A pupil, A parent or carer" in api.updates(alice.dm)[-1].text
    assert step_of(alice.question()) == "criteria"


async def test_send_it_again_and_delete_my_answers(
    alice: SlackUser, api: SlackApi, redis, prefix: str
) -> None:
    await alice.walk(SAMPLE_PATHS["for a colleague who is the head"])
    await alice.answer("resend")
    assert len(guidance_of(api, alice.dm)) == 2
    await check_all_expire(redis, prefix)
    await alice.say("delete my data")
    assert api.posted(alice.dm)[-1].text.startswith("Done: I no longer hold")
    assert await stored(redis, prefix) == []  # nothing at all is left for this user


async def test_if_a_question_cannot_be_updated_the_conversation_still_goes_on(
    alice: SlackUser, api: SlackApi
) -> None:
    await alice.say("hi")
    api.refuse_update = True
    assert await alice.answer("start") == 200
    assert step_of(alice.question()) == "role"


# --- stale, double and repeated ---------------------------------------------------------------


async def test_a_click_on_an_old_question_changes_nothing_and_shows_the_current_one(
    alice: SlackUser, api: SlackApi, redis, store: Store
) -> None:
    await alice.say("hi")
    welcome = alice.question()
    await alice.answer("start")
    await alice.answer("affected")
    state, updates = await redis.get(store.keys.user(alice.key)), len(api.updates())
    support = alice.question()
    assert await alice.answer("start", message=welcome) == 200
    assert await redis.get(store.keys.user(alice.key)) == state
    # The welcome was redrawn in place up to the support question: the click came from an
    # older drawing of the live message. Told so, and the message drawn again with the
    # current question, live; nothing closed, no second question posted.
    assert support.response["ts"] == welcome.response["ts"]
    assert api.posted(alice.dm)[-1].text == NOTICES["stale"]
    (redraw,) = api.updates()[updates:]
    assert redraw.args["ts"] == support.response["ts"] and step_of(redraw) == "support"
    assert live_questions(api, alice.dm) == [support.response["ts"]]


async def test_a_question_asked_again_or_left_by_back_is_closed(
    alice: SlackUser, api: SlackApi
) -> None:
    """One live question at a time: "help", something unclear, "back" and "restart" each
    close the question message they leave, and an answered one keeps its answer."""
    await alice.say("hi")
    await alice.answer("start")
    for text in ("help", "zebra", "back", "restart"):
        posted = len(api.posted(alice.dm))
        assert await alice.say(text) == 200
        await api.until(alice.dm, lambda _, n=posted: len(api.posted(alice.dm)) > n)
        assert live_questions(api, alice.dm) == [alice.question().response["ts"]], text
    # The click drew its answer above the next question, in the message it was made on.
    (answered, *_) = api.updates(alice.dm)
    assert answered.args["text"].startswith("Welcome: Start") and answered.actions


async def test_a_double_click_counts_once(
    alice: SlackUser, api: SlackApi, redis, store: Store
) -> None:
    await alice.say("hi")
    await alice.answer("start")
    role = alice.question()
    payload = alice.action_payload(role, role.actions[1])
    before = len(api.updates(alice.dm))
    statuses = await asyncio.gather(alice.act(payload), alice.act(payload))
    assert statuses == [200, 200]
    stored_progress = (await redis.get(store.keys.user(alice.key))).decode()
    assert stored_progress.startswith("3|") and "role=handling" in stored_progress
    # Answered once: the message redrawn with the next question (by the second click too,
    # which is told so), never closed, and no question posted below it.
    redraws = api.updates(alice.dm)[before:]
    assert redraws and all(step_of(u) == "support" for u in redraws)
    assert [c.text for c in api.posted(alice.dm)].count(NOTICES["stale"]) == 1
    assert [step_of(c) for c in api.posted(alice.dm) if c.actions] == ["welcome"]
    assert live_questions(api, alice.dm) == [role.response["ts"]]


@pytest.mark.parametrize("redraw_first", [True, False], ids=["redraw lands first", "held"])
async def test_a_double_click_leaves_one_live_question_in_either_order(
    alice: SlackUser, api: SlackApi, redraw_first: bool
) -> None:
    """The second click of a double click runs while the first one's redraw is on its way
    to Slack (held at the stand-in until the second is done), or after it landed: either
    way one message shows the next question with live buttons, and the second is told so."""
    await alice.say("hi")
    await alice.answer("start")
    role = alice.question()
    ts = role.response["ts"]
    payload = alice.action_payload(role, role.actions[1])
    if redraw_first:
        assert await alice.act(payload) == 200
        assert await alice.act(payload) == 200
    else:
        gate = Gate(lambda method, args: method == "chat.update" and args.get("ts") == ts)
        api.before = gate
        first = asyncio.create_task(alice.act(payload))
        await asyncio.wait_for(gate.reached.wait(), 10)
        assert await alice.act(payload) == 200
        gate.open()
        assert await first == 200
        for _ in range(100):  # the held redraw, let go, lands after the answer to Slack
            if step_of(alice.question()) == "support":
                break
            await asyncio.sleep(0.05)
    assert live_questions(api, alice.dm) == [ts]
    assert step_of(alice.question()) == "support"
    assert [c.text for c in api.posted(alice.dm)].count(NOTICES["stale"]) == 1


async def test_a_retried_event_is_dropped(
    alice: SlackUser, api: SlackApi, redis, store: Store
) -> None:
    event = alice.event("hello")
    assert await alice.send_json(event) == 200
    state, calls = await redis.get(store.keys.user(alice.key)), list(api.calls)
    assert state and calls
    # Slack re-sends an event it saw no answer to within 3 seconds, with the same id.
    for retry in ("1", "2"):
        assert await alice.send_json(event, **{"X-Slack-Retry-Num": retry}) == 200
        assert await alice.send_json(event) == 200
    assert await redis.get(store.keys.user(alice.key)) == state and api.calls == calls


@pytest.mark.parametrize(
    "fields",
    [
        {"bot_id": "B0BOT", "user": "U0BOT"},
        {"subtype": "message_changed"},
        {"subtype": "message_deleted"},
        {"channel_type": "channel", "channel": CHANNEL},
        {"channel_type": "mpim", "channel": "G0GROUP"},
    ],
)
async def test_bot_messages_edits_and_other_channels_are_ignored(
    alice: SlackUser, api: SlackApi, redis, prefix: str, fields: dict
) -> None:
    assert await alice.send_json(alice.event("hello", **fields)) == 200
    assert api.calls == [] and await stored(redis, prefix) == []


@pytest.mark.parametrize(
    "action",
    [
        {"action_id": "launch_missiles", "type": "button", "value": "x"},
        {"action_id": slack_blocks.PICK, "type": "checkboxes", "selected_options": []},
    ],
)
async def test_unknown_buttons_and_ticks_change_nothing(
    alice: SlackUser, api: SlackApi, redis, store: Store, action: dict
) -> None:
    for text in ("hi", "start", "1", "continue"):
        await alice.say(text)
    question = alice.question()
    state, calls = await redis.get(store.keys.user(alice.key)), len(api.calls)
    assert await alice.act(alice.action_payload(question, action)) == 200
    assert await redis.get(store.keys.user(alice.key)) == state and len(api.calls) == calls


async def test_an_option_of_another_step_or_another_user_s_token_changes_nothing(
    http: TestClient, alice: SlackUser, api: SlackApi, redis, store: Store
) -> None:
    bob = SlackUser(poster(http), api, "bob")
    await alice.say("hi")
    await bob.say("hi")
    await bob.answer("start")
    state = await redis.get(store.keys.user(alice.key))
    question = alice.question()
    alice_token = question.actions[0]["value"]
    bobs_token = bob.question().actions[0]["value"]
    for action in (
        {"action_id": slack_blocks.ANSWER + "pupil", "type": "button", "value": alice_token},
        {"action_id": slack_blocks.ANSWER + "affected", "type": "button", "value": bobs_token},
    ):
        assert await alice.act(alice.action_payload(question, action)) == 200
        assert await redis.get(store.keys.user(alice.key)) == state


# --- refusals ----------------------------------------------------------------------------------


async def test_the_url_verification_challenge_is_answered(http: TestClient) -> None:
    body = json.dumps({"type": "url_verification", "challenge": "c-123", "token": "x"}).encode()
    response = await http.post(
        "/slack/events", data=body, headers={"Content-Type": "application/json", **signed(body)}
    )
    assert response.status == 200 and "c-123" in await response.text()


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Slack-Request-Timestamp": str(int(time.time()))},
        "wrong secret",
        "five minutes old",
        "signed for another body",
    ],
)
async def test_an_unsigned_or_forged_request_is_refused_and_changes_nothing(
    http: TestClient, alice: SlackUser, api: SlackApi, redis, prefix: str, headers
) -> None:
    body = urlencode(alice.command_form()).encode()
    if headers == "wrong secret":
        headers = signed(body, secret="not-the-secret")
    elif headers == "five minutes old":
        headers = signed(body, at=int(time.time()) - 301)
    elif headers == "signed for another body":
        headers = signed(body + b"&x=1")
    response = await http.post(
        "/slack/events",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded", **headers},
    )
    assert response.status == 401
    await http.app[slack_app.BOT].idle()
    assert api.calls == [] and await stored(redis, prefix) == []


def _malformed() -> dict[str, tuple[bytes, str]]:
    form = "application/x-www-form-urlencoded"
    as_json = "application/json"
    good = SlackUser(None, None, "x").event("hi")  # type: ignore[arg-type]
    return {
        "not utf-8": (b"\xff\xfe{", as_json),
        "not json": (b"{'type': 'event_callback'", as_json),
        "a json list": (b"[]", as_json),
        "no type": (json.dumps({"event": good["event"]}).encode(), as_json),
        "an event that is not an object": (json.dumps({**good, "event": "x"}).encode(), as_json),
        "no event id": (
            json.dumps({k: v for k, v in good.items() if k != "event_id"}).encode(),
            as_json,
        ),
        "a message with no user": (
            json.dumps({**good, "event": {**good["event"], "user": None}}).encode(),
            as_json,
        ),
        "a text that is not a string": (
            json.dumps({**good, "event": {**good["event"], "text": ["hi"]}}).encode(),
            as_json,
        ),
        "a payload that is not json": (b"payload=%7Bnope", form),
        "a payload with no actions": (
            urlencode({"payload": json.dumps({"type": "block_actions"})}).encode(),
            form,
        ),
        "a click with no message": (
            urlencode(
                {
                    "payload": json.dumps(
                        {
                            "type": "block_actions",
                            "user": {"id": "UX"},
                            "team": {"id": TEAM},
                            "actions": [
                                {"action_id": slack_blocks.ANSWER + "start", "value": "1.1"}
                            ],
                        }
                    )
                }
            ).encode(),
            form,
        ),
        "a slash command with no user": (b"command=%2Freport-harassment&team_id=T", form),
        **{
            f"a slash command whose response_url is {where!r}": (
                urlencode(
                    {
                        "command": "/report-harassment",
                        "user_id": "UX",
                        "team_id": TEAM,
                        "channel_id": "C0GENERAL",
                        "response_url": where,
                    }
                ).encode(),
                form,
            )
            for where in ("Inf", "", "ftp://hooks.slack.com/x", "https://")
        },
        **{
            f"ticks of {shape!r}": (urlencode({"payload": _submit(shape)}).encode(), form)
            for shape in ([1], "abc", {}, [None], [{"value": 1}], None)
        },
        "a state block that is not an object": (
            urlencode({"payload": _submit([], block="x")}).encode(),
            form,
        ),
        "an enterprise that is not an id": (
            json.dumps({**good, "enterprise_id": ["E1"]}).encode(),
            as_json,
        ),
        "an org-wide flag that is not true or false": (
            json.dumps({**good, "is_enterprise_install": "yes"}).encode(),
            as_json,
        ),
        "xml": (b"<event/>", "text/xml"),
        "no content type": (b"{}", ""),
    }


def _submit(selected: Any, block: Any = None) -> str:
    """A Continue under the checkboxes, signed and well formed but for its ticks."""
    ticks = block if block is not None else {slack_blocks.PICK: {"selected_options": selected}}
    return json.dumps(
        {
            "type": "block_actions",
            "user": {"id": "UX", "team_id": TEAM},
            "team": {"id": TEAM},
            "container": {"channel_id": "DUX", "message_ts": "1700000000.000001"},
            "actions": [{"action_id": slack_blocks.SUBMIT, "value": "1.1"}],
            "state": {"values": {"b0": ticks}},
        }
    )


@pytest.mark.parametrize("name", list(_malformed()))
async def test_malformed_bodies_are_refused_with_400(
    http: TestClient, api: SlackApi, redis, prefix: str, name: str
) -> None:
    body, content_type = _malformed()[name]
    headers = {"Content-Type": content_type} if content_type else {}
    if name != "not utf-8":  # which the SDK cannot sign: refused before it is checked
        headers.update(signed(body))
    response = await http.post("/slack/events", data=body, headers=headers)
    assert response.status == 400
    assert (await response.json())["error"]
    await http.app[slack_app.BOT].idle()
    assert api.calls == [] and await stored(redis, prefix) == []


FORM = "application/x-www-form-urlencoded"
NOT_IDS = ("U1:x}", "{T0SCHOOL}", "u0lower")
"""Ids no Slack id looks like: a `:` or braces would change whose Redis key it is."""

ID_PLACES = (
    *(f"event {f}" for f in ("team_id", "enterprise_id", "user", "channel")),
    *(f"command {f}" for f in ("team_id", "enterprise_id", "user_id", "channel_id")),
    *(f"click {f}" for f in ("user", "team", "enterprise", "user's team", "channel")),
)


def _with_id(alice: SlackUser, where: str, bad: str) -> tuple[bytes, str]:
    """Something alice would send, signed and well formed but for one id."""
    kind, _, field = where.partition(" ")
    if kind == "event":
        body = alice.event("hi")
        (body["event"] if field in ("user", "channel") else body)[field] = bad
        return json.dumps(body).encode(), "application/json"
    if kind == "command":
        return urlencode({**alice.command_form(), field: bad}).encode(), FORM
    payload = alice.click("start")
    if field == "user":
        payload["user"]["id"] = bad
    elif field == "team":
        payload["team"]["id"] = bad
    elif field == "enterprise":
        payload["enterprise"] = {"id": bad}
    elif field == "user's team":  # an org-wide install's click, with no team
        payload.update(team=None, enterprise={"id": "E0TRUST"})
        payload["user"]["team_id"] = bad
    else:
        payload["container"]["channel_id"] = bad
    return urlencode({"payload": json.dumps(payload)}).encode(), FORM


@pytest.mark.parametrize("bad", NOT_IDS)
@pytest.mark.parametrize("where", ID_PLACES)
async def test_an_id_that_is_not_a_slack_id_is_refused_and_changes_nothing(
    http: TestClient, alice: SlackUser, api: SlackApi, redis, prefix: str, where: str, bad: str
) -> None:
    assert await alice.say("hi") == 200  # a question to click on
    before = {k: await redis.dump(k) for k in await stored(redis, prefix)}
    calls = len(api.calls)
    body, content_type = _with_id(alice, where, bad)
    response = await http.post(
        "/slack/events", data=body, headers={"Content-Type": content_type, **signed(body)}
    )
    assert response.status == 400
    assert "not a Slack id" in (await response.json())["error"]
    await http.app[slack_app.BOT].idle()
    assert len(api.calls) == calls
    assert {k: await redis.dump(k) for k in await stored(redis, prefix)} == before


async def test_an_oversized_body_is_refused_before_it_is_read(
    http: TestClient, api: SlackApi
) -> None:
    body = b"x" * (1024 * 1024)
    response = await http.post(
        "/slack/events", data=body, headers={"Content-Type": "application/json", **signed(body)}
    )
    assert response.status == 413 and api.calls == []


# --- failures and privacy ---------------------------------------------------------------------


async def test_when_redis_is_unreachable_the_user_gets_a_polite_message(api: SlackApi) -> None:
    dead = Engine(
        Views(FLOW, ttl_days=30), Store(Db(client("redis://127.0.0.1:1/0")), ttl_seconds=60)
    )
    async with TestClient(TestServer(create_app(settings_for(api), Runner(dead)))) as http:
        alice = SlackUser(poster(http), api)
        started = time.monotonic()
        assert await alice.say("hello") == 200
        assert await alice.command() == 200
        assert time.monotonic() - started < 6
    texts = [c.text for c in api.posted(alice.dm)]
    unavailable = dead.views.for_user(UserKey("slack", TEAM, "x")).notice("unavailable")
    assert texts == [unavailable.text.replace("**", "")] * 2
    await dead.store.redis.aclose()


async def test_logs_carry_nothing_the_user_typed_or_chose(
    alice: SlackUser, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "my deputy keeps sharing zebrafinch memes about me on instagram"
    await alice.say(secret)
    await alice.say(secret)
    path = SAMPLE_PATHS["staff and parent, every kind of abuse"]
    await alice.walk(path, start=lambda: alice.say("restart"))  # ("hi" would begin)
    standin = re.compile(r'"POST /(api|respond)/')  # the stand-in's own access log
    records = [r for r in caplog.records if not standin.search(r.getMessage())]
    words = ("deputy", "zebrafinch", "memes", "instagram")
    check_logs_private(records, words, ids=(TEAM, alice.id), turns=len(path))


# --- expiry renewed by every turn, and clicks from outside the DM -------------------------------


async def _shorten_expiry(redis, prefix: str, seconds: int = 60) -> list[bytes]:
    keys = await stored(redis, prefix)
    for key in keys:
        await redis.expire(key, seconds)
    return keys


async def check_full_expiry(redis, prefix: str, store: Store, delivered: bool) -> None:
    """Every key of the user is back to its full time to live: progress and question pointer
    to the conversation's, the recent deliveries (renewed only by a delivery) to theirs."""
    keys = await stored(redis, prefix)
    assert sorted(k.rpartition(b"}")[2] for k in keys) == [b"", b":msg", b":seen"], keys
    for key in keys:
        seen = key.endswith(b":seen")
        if seen and not delivered:
            continue  # only a delivery renews the deliveries remembered
        full = DELIVERY_TTL if seen else store.ttl
        assert full - 30 < await redis.ttl(key) <= full, key


@pytest.mark.parametrize("turn", ["help", "stop", "resume", "unreadable text"])
async def test_a_turn_that_changes_nothing_still_renews_every_key_of_the_user(
    alice: SlackUser, api: SlackApi, redis, prefix: str, store: Store, turn: str
) -> None:
    """Keys are deleted after 30 days *without use*: a turn that stores nothing is a use."""
    for text in ("hi", "start", "1", "continue"):
        await alice.say(text)
    await check_all_expire(redis, prefix)
    before = await redis.get(store.keys.user(alice.key))
    await _shorten_expiry(redis, prefix)
    if turn == "resume":
        assert await alice.command(alice.dm) == 200  # a slash command is no event delivery
    else:
        assert await alice.say({"unreadable text": "banana"}.get(turn, turn)) == 200
    assert await redis.get(store.keys.user(alice.key)) == before  # nothing else changed
    await check_full_expiry(redis, prefix, store, delivered=turn != "resume")


@pytest.mark.parametrize("channel", [CHANNEL, "G0GROUP"])
async def test_a_click_from_outside_the_dm_is_answered_in_the_dm_and_nothing_goes_there(
    alice: SlackUser, api: SlackApi, redis, store: Store, channel: str
) -> None:
    """However a click arrives from a channel or a group (a forwarded or copied message), the
    case stays in the DM: the answer is shown there, and nothing is sent to the channel."""
    await alice.say("hi")
    await alice.answer("start")
    role = alice.question()
    before = len(api.updates(alice.dm))
    payload = alice.click("handling", message=role)
    payload["channel"] = {"id": channel, "name": "general"}
    payload["container"] = {**payload["container"], "channel_id": channel}
    payload["response_url"] = api.response_url(channel)
    assert await alice.act(payload) == 200
    assert "role=handling" in (await redis.get(store.keys.user(alice.key))).decode()
    assert api.to(channel) == []
    assert step_of(alice.question()) == "support"
    assert {c.channel for c in api.calls if c.method != "conversations.open"} == {alice.dm}
    (update,) = [u for u in api.updates(alice.dm)[before:] if u.args["ts"] == role.response["ts"]]
    assert not update.actions and "handling this for a colleague" in update.text


# --- whose progress: the fields the route checked, never Bolt's guesses ----------------------


async def test_a_slash_command_s_user_is_its_user_id_and_not_a_stray_user_field(
    alice: SlackUser, api: SlackApi, redis, store: Store, prefix: str
) -> None:
    victim = UserKey("slack", TEAM, "UVICTIM")
    assert await alice.send_form({**alice.command_form(), "user": victim.user}) == 200
    assert await redis.get(store.keys.user(alice.key))
    assert await redis.get(store.keys.user(victim)) is None
    assert all(b"UVICTIM" not in k for k in await stored(redis, prefix))


async def test_an_event_s_user_and_team_are_event_user_and_team_id(
    alice: SlackUser, api: SlackApi, redis, store: Store, prefix: str
) -> None:
    event = alice.event("hi")
    event["user"] = "UVICTIM"  # top level, where Bolt looks first
    event["authorizations"][0]["team_id"] = "T0OTHER"  # where Bolt takes the team from
    assert await alice.send_json(event) == 200
    assert await redis.get(store.keys.user(alice.key))
    assert [k for k in await stored(redis, prefix) if b"UVICTIM" in k or b"T0OTHER" in k] == []


async def test_a_click_s_user_is_user_id_of_the_payload(
    alice: SlackUser, api: SlackApi, redis, store: Store, prefix: str
) -> None:
    await alice.say("hi")
    payload = alice.click("start")
    payload["user_id"] = "UVICTIM"
    payload["authorizations"] = [{"team_id": "T0OTHER", "user_id": "UVICTIM"}]
    assert await alice.act(payload) == 200
    assert step_of(alice.question()) == "role"
    assert [k for k in await stored(redis, prefix) if b"UVICTIM" in k or b"T0OTHER" in k] == []


async def test_a_grid_user_is_kept_once_under_their_organisation(
    http: TestClient, api: SlackApi, redis, store: Store, prefix: str
) -> None:
    """Reached through two workspaces of one Enterprise Grid organisation, one conversation."""
    first = SlackUser(poster(http), api, "grace", team="T0ONE", enterprise="E0TRUST")
    again = SlackUser(poster(http), api, "grace", team="T0TWO", enterprise="E0TRUST")
    await first.say("hi")
    await first.answer("start")
    await again.say("hi")
    assert step_of(again.question()) == "role"  # carried on, not started again
    assert first.key == again.key == UserKey("slack", "E0TRUST", "UGRACE")
    await again.say("delete my data")
    assert await stored(redis, prefix) == []


# --- the manifest -----------------------------------------------------------------------------


def test_the_manifest_creates_the_app_in_one_step() -> None:
    manifest = json.loads((ROOT / "slack-manifest.json").read_text())
    assert manifest["features"]["bot_user"]["display_name"]
    (command,) = manifest["features"]["slash_commands"]
    assert command["command"] == "/report-harassment"
    assert command["description"] and command["usage_hint"]
    assert command["url"].endswith("/slack/events")
    home = manifest["features"]["app_home"]
    assert home["messages_tab_enabled"] and not home["messages_tab_read_only_enabled"]
    assert sorted(manifest["oauth_config"]["scopes"]["bot"]) == [
        "chat:write",
        "commands",
        "files:write",  # the record as a file, in the lead's DM
        "im:history",
        "im:write",
    ]
    # What an install from /slack/install asks for is what the manifest grants.
    assert sorted(manifest["oauth_config"]["scopes"]["bot"]) == sorted(SCOPES)
    (redirect,) = manifest["oauth_config"]["redirect_urls"]
    assert redirect == "https://YOUR-HOST/slack/oauth_redirect"
    settings = manifest["settings"]
    # Removing the app (or its token) deletes that workspace's data.
    assert sorted(settings["event_subscriptions"]["bot_events"]) == [
        "app_home_opened",  # the lead's overview, in the Home tab
        "app_uninstalled",
        "message.im",
        "tokens_revoked",
    ]
    assert settings["org_deploy_enabled"] and not settings["token_rotation_enabled"]
    assert settings["event_subscriptions"]["request_url"].endswith("/slack/events")
    assert settings["interactivity"]["is_enabled"]
    assert settings["interactivity"]["request_url"].endswith("/slack/events")


# --- the whole thing, as `python -m bot serve` ------------------------------------------------


async def test_serve_carries_a_user_from_the_slash_command_to_the_final_dm(
    redis_url: str, api: SlackApi, redis
) -> None:
    settings = {
        "REDIS_URL": redis_url,
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": api.url,
    }
    bob = SlackUser(None, api, "bobserve")  # type: ignore[arg-type]
    try:
        async with aiohttp.ClientSession() as session, serving(session, settings) as served:

            async def post(body: bytes, content_type: str, headers: dict[str, str]) -> int:
                before = len(api.questions(bob.dm))
                async with session.post(
                    f"{served.url}/slack/events",
                    data=body,
                    headers={"Content-Type": content_type, **headers},
                ) as response:
                    status = response.status
                # The bot answers Slack first and then calls the Web API: wait for the question.
                await api.until(bob.dm, lambda calls: len(api.questions(bob.dm)) > before)
                return status

            bob._post = post
            path = SAMPLE_PATHS["unknown perpetrator, harmful content"]
            await bob.walk(path, start=bob.command)
            (guidance,) = guidance_of(api, bob.dm)
            check_guidance(guidance.text, dict(path))
            (moved,) = api.to(CHANNEL)
            assert moved.text == slack_app.MOVED_PRIVATE
    finally:
        await redis.delete(*[k async for k in redis.scan_iter(f"hb:{{slack:{TEAM}:{bob.id}}}*")])
    assert served.proc.returncode == 0
