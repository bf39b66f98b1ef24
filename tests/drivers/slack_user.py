"""A person on Slack as the bot sees them: requests signed and shaped exactly as Slack sends
them (events, slash commands, clicks), and what they were shown, read from the Web API
stand-in (`slack_api`)."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from itertools import count
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp.test_utils import TestClient
from slack_sdk.signature import SignatureVerifier

from adapters.slack import app as slack_app
from adapters.slack import blocks as slack_blocks
from adapters.slack.settings import SlackSettings
from bot.config import Settings
from conversation import flow
from conversation.messages import UserKey

from .slack_api import TOKEN, Call, SlackApi

FLOW = flow.load()
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TEAM = "T0SCHOOL"
CHANNEL = "C0GENERAL"

Post = Callable[[bytes, str, dict[str, str]], Awaitable[int]]


def signed(body: bytes, secret: str = SECRET, at: int | None = None) -> dict[str, str]:
    """The headers Slack adds: a timestamp, and the HMAC of it and the body."""
    timestamp = str(at if at is not None else int(time.time()))
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
    return {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature or ""}


class SlackUser:
    """One person in one workspace, sending what Slack sends when they type and click."""

    _ids = count(1)

    def __init__(
        self,
        post: Post,
        api: SlackApi,
        name: str = "alice",
        team: str = TEAM,
        enterprise: str | None = None,
    ) -> None:
        self._post = post
        self.api = api
        self.id = f"U{name.upper()}"
        self.dm = "D" + self.id  # what the stand-in's conversations.open answers
        self.team, self.enterprise = team, enterprise
        # An Enterprise Grid user is kept under their organisation.
        self.key = UserKey("slack", enterprise or team, self.id)

    # --- sending ------------------------------------------------------------------------

    async def send(self, body: bytes, content_type: str, **headers: str) -> int:
        return await self._post(body, content_type, {**signed(body), **headers})

    async def send_json(self, body: dict, **headers: str) -> int:
        return await self.send(json.dumps(body).encode(), "application/json", **headers)

    async def send_form(self, form: dict[str, str]) -> int:
        return await self.send(urlencode(form).encode(), "application/x-www-form-urlencoded")

    def event(self, text: str, **fields: Any) -> dict:
        n = next(self._ids)
        message = {
            "type": "message",
            "channel": self.dm,
            "user": self.id,
            "text": text,
            "ts": f"1700000100.{n:06d}",
            "event_ts": f"1700000100.{n:06d}",
            "channel_type": "im",
            **fields,
        }
        return {
            "token": "unused",
            "team_id": self.team,
            "enterprise_id": self.enterprise,
            "api_app_id": "A0APP",
            "event": message,
            "type": "event_callback",
            "event_id": f"Ev0{self.id}{n:06d}",
            "event_time": 1700000100,
            "authorizations": [
                {
                    "enterprise_id": self.enterprise,
                    "team_id": self.team,
                    "user_id": "U0BOT",
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
        }

    async def say(self, text: str) -> int:
        return await self.send_json(self.event(text))

    def command_form(self, channel: str = CHANNEL) -> dict[str, str]:
        return {
            "token": "unused",
            "team_id": self.team,
            **({"enterprise_id": self.enterprise} if self.enterprise else {}),
            "team_domain": "school",
            "channel_id": channel,
            "channel_name": "general" if channel.startswith("C") else "directmessage",
            "user_id": self.id,
            "user_name": "alice",
            "command": "/report-harassment",
            "text": "",
            "api_app_id": "A0APP",
            "response_url": self.api.response_url(channel),
            "trigger_id": "1.2.3",
        }

    async def command(self, channel: str = CHANNEL) -> int:
        return await self.send_form(self.command_form(channel))

    def action_payload(self, message: Call, action: dict, ticked: tuple[str, ...] = ()) -> dict:
        ts = message.response["ts"]
        (actions_block,) = [b for b in message.blocks if b["type"] == "actions"]
        block_id = actions_block.get("block_id", "b0")
        state = {}
        if any(e["type"] == "checkboxes" for e in actions_block["elements"]):
            selected = [{"value": v, "text": {"type": "plain_text", "text": v}} for v in ticked]
            state = {
                block_id: {slack_blocks.PICK: {"type": "checkboxes", "selected_options": selected}}
            }
        return {
            "type": "block_actions",
            "user": {"id": self.id, "username": "alice", "team_id": self.team},
            "enterprise": {"id": self.enterprise, "name": "Trust"} if self.enterprise else None,
            "api_app_id": "A0APP",
            "token": "unused",
            "container": {
                "type": "message",
                "message_ts": ts,
                "channel_id": message.channel,
                "is_ephemeral": False,
            },
            "trigger_id": "1.2.3",
            "team": {"id": self.team, "domain": "school"},
            "channel": {"id": message.channel, "name": "directmessage"},
            "message": {
                "type": "message",
                "ts": ts,
                "text": message.text,
                "blocks": message.blocks,
            },
            "state": {"values": state},
            "response_url": self.api.response_url(message.channel),
            "actions": [{**action, "block_id": block_id, "action_ts": "1700000200.000001"}],
        }

    async def act(self, payload: dict) -> int:
        return await self.send_form({"payload": json.dumps(payload)})

    # --- reading and answering questions -------------------------------------------------

    def question(self) -> Call:
        """The newest question in the DM: the message with buttons."""
        questions = self.api.questions(self.dm)
        assert questions, "no question was posted"
        return questions[-1]

    def click(self, *ids: str, message: Call | None = None) -> dict:
        """The payload for a click on a button, or for ticking options and pressing Continue."""
        message = message or self.question()
        boxes = [e for e in message.actions if e["type"] == "checkboxes"]
        if boxes:
            offered = {o["value"] for o in boxes[0]["options"]}
            assert set(ids) <= offered
            (go,) = [e for e in message.actions if e["action_id"] == slack_blocks.SUBMIT]
            return self.action_payload(message, go, ids)
        (button,) = [e for e in message.actions if e["action_id"] == slack_blocks.ANSWER + ids[0]]
        return self.action_payload(message, button)

    async def answer(self, *ids: str, message: Call | None = None) -> int:
        return await self.act(self.click(*ids, message=message))

    async def walk(self, path: tuple, start: Callable[[], Awaitable[int]] | None = None) -> None:
        assert await (start or (lambda: self.say("hi")))() == 200
        for step, ids in path:
            assert step_of(self.question()) == step
            assert await self.answer(*ids) == 200


def step_of(call: Call) -> str:
    """The step of a question message: its first section (the answers so far are above it
    once a click has redrawn the message in place)."""
    first = next(b for b in call.blocks if b["type"] == "section")["text"]["text"]
    return next(s.id for s in FLOW.steps if first.startswith(f"*{s.title}*"))


def guidance_of(api: SlackApi, channel: str) -> list[Call]:
    return [c for c in api.posted(channel) if c.blocks and c.blocks[0]["type"] == "header"]


def live_questions(api: SlackApi, dm: str) -> list[str]:
    """The ts of every question in the DM still showing buttons, once updates are applied."""
    latest = {c.response["ts"]: c.blocks for c in api.posted(dm)}
    for update in api.updates(dm):
        latest[update.args["ts"]] = update.args["blocks"]
    return [ts for ts, blocks in latest.items() if any(b["type"] == "actions" for b in blocks)]


def settings_for(api: SlackApi) -> Settings:
    return Settings(slack=SlackSettings(TOKEN, SECRET, api.url))


def poster(http: TestClient) -> Post:
    """POST, then wait for the turn the bot runs after its ack, as Slack's user would."""

    async def post(body: bytes, content_type: str, headers: dict[str, str]) -> int:
        response = await http.post(
            "/slack/events", data=body, headers={"Content-Type": content_type, **headers}
        )
        await response.release()
        await http.app[slack_app.BOT].idle()
        return response.status

    return post


def seen(calls: list[Call]) -> str:
    """What a person reads in these messages, one block a line: the text of each header,
    section (and its fields) and context block; never the notification `text`, which only a
    notification shows. Tests read messages through this, so that a change to how messages
    are drawn (one message updated in place, say) is followed here once."""
    lines = []
    for call in calls:
        for block in call.blocks:
            texts = [block.get("text"), *block.get("fields", []), *block.get("elements", [])]
            lines += [t["text"] for t in texts if isinstance(t, dict) and "text" in t]
    return "\n".join(t for t in lines if isinstance(t, str))


def mrkdwn_in(blocks: object) -> list[str]:
    """Every mrkdwn text object in `blocks`, at any depth: what Slack parses for links and
    mentions."""
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn":
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(blocks)
    return found


def mrkdwn_of(calls: list) -> str:
    """Every mrkdwn text a person is shown in these Slack messages, as one string."""
    return "\n".join(text for call in calls for text in mrkdwn_in(call.blocks))


def slack_user(session: aiohttp.ClientSession, url: str, api: SlackApi, name: str) -> SlackUser:
    """A Slack user of a `serve` process: each POST waits for the bot's post that answers it."""
    user = SlackUser(None, api, name)  # type: ignore[arg-type]

    async def post(body: bytes, content_type: str, headers: dict[str, str]) -> int:
        before = len(api.shown(user.dm))
        async with session.post(
            f"{url}/slack/events", data=body, headers={"Content-Type": content_type, **headers}
        ) as response:
            status = response.status
        await api.until(user.dm, lambda calls: len(api.shown(user.dm)) > before)
        return status

    user._post = post
    return user


_home_events = count(1)


async def open_home(user: SlackUser) -> Call:
    """The person opens the app's Home tab: what Slack sends, and the view published."""
    body = user.event("")
    body["event"] = {
        "type": "app_home_opened",
        "user": user.id,
        "channel": user.dm,
        "tab": "home",
        "event_ts": f"1700000300.{next(_home_events):06d}",
    }
    before = len(user.api.homes(user.id))
    assert await user.send_json(body) == 200
    homes = user.api.homes(user.id)
    assert len(homes) == before + 1
    return homes[-1]
