"""Telling the person who leads, driven as people do it: the paths that reach the offer, the
school whose lead can be messaged, and the buttons of the offer, the preview and the report
on Slack (blocks) and Teams (cards)."""

from __future__ import annotations

import json

from conversation.runner import Runner, build
from conversation.school import Schools
from conversation.storage import Store

from ..helpers import path_where
from ..school_files import LEAD_TEAMS, leads_school
from .connector import Call as CardCall
from .connector import Connector
from .slack_api import Call, SlackApi
from .slack_user import TEAM, SlackUser
from .teams_user import TeamsUser

LEAD_LEADS = path_where(
    role=("affected",), perpetrator=("pupil",), lead=("no",), police=("yes",), types=("calls",)
)
HEAD_AFFECTED = path_where(role=("affected",), perpetrator=("parent",), lead=("yes",))
HANDLING = path_where(role=("handling",), lead=("no",))
LEAD_DM = "DU0LEAD"


def telling_engine(store: Store, schools: Schools | None = None) -> Runner:
    """The conversation with telling, for `schools` (by default, one whose lead can be
    messaged)."""
    return build(store.redis, prefix=store.keys.prefix, schools=schools or leads_school())


def buttons(call: Call) -> list[dict]:
    """Every button of a message: in actions blocks and beside sections."""
    found = list(call.actions)
    found += [b["accessory"] for b in call.blocks if b.get("accessory")]
    return found


def with_button(api: SlackApi, channel: str, prefix: str) -> Call:
    calls = [
        c for c in api.posted(channel) if any(b["action_id"].startswith(prefix) for b in buttons(c))
    ]
    assert calls, f"no message with a {prefix} button"
    return calls[-1]


def button(call: Call, action_id: str) -> dict:
    (found,) = [b for b in buttons(call) if b["action_id"] == action_id]
    return found


async def press(user: SlackUser, call: Call, action_id: str) -> int:
    return await user.act(user.action_payload(call, button(call, action_id)))


def shown(calls: list[Call]) -> str:
    return json.dumps([c.args for c in calls], ensure_ascii=False)


class Lead(TeamsUser):
    """Lee, answering in the 1:1 chat the bot created for his object id."""

    def __init__(self, post, connector: Connector) -> None:
        super().__init__(post, connector, "lee")
        self.aad = LEAD_TEAMS

    @property
    def chat(self) -> str:  # type: ignore[override]
        return self.connector.chat_with(LEAD_TEAMS) or "a:none"

    @chat.setter
    def chat(self, value: str) -> None:
        pass


def with_data(connector: Connector, chat: str | None, key: str) -> CardCall:
    calls = [
        c
        for c in connector.sent_to(chat or "")
        if c.card and any(key in a["data"] for a in all_actions(c.card))
    ]
    assert calls, f"no card with a {key} button"
    return calls[-1]


def all_actions(card: dict) -> list[dict]:
    """Every Action.Submit in a card, however deep in containers."""
    found = []

    def walk(items: list) -> None:
        for block in items:
            if block.get("type") == "ActionSet":
                found.extend(block["actions"])
            walk(block.get("items", []))

    walk(card["body"])
    return found


async def press_card(user: TeamsUser, call: CardCall, **want: str) -> int:
    (action,) = [
        a for a in all_actions(call.card) if all(a["data"].get(k) == v for k, v in want.items())
    ]
    return await user.post(user.activity(value=action["data"], replyToId=call.created, text=""))


def card_words(calls: list[CardCall]) -> str:
    return json.dumps([c.body for c in calls], ensure_ascii=False)


async def case_of(redis, prefix: str, user: SlackUser) -> dict[bytes, bytes]:
    return await redis.hgetall(f"{prefix}:{{slack:{TEAM}:{user.id}}}:case")


async def sent_to_lee(alice: SlackUser, api: SlackApi) -> Call:
    """alice finishes, chooses Lee, sees the preview and presses Send: Lee's one message."""
    await alice.walk(LEAD_LEADS)
    offer = with_button(api, alice.dm, "tell:")
    assert await press(alice, offer, "tell:leads.0") == 200
    preview = with_button(api, alice.dm, "tell-send")
    assert api.to(LEAD_DM) == []
    assert await press(alice, preview, "tell-send") == 200
    (report,) = api.posted(LEAD_DM)
    return report
