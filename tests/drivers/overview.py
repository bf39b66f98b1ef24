"""The lead's overview as the tests set it up: a school with a governors' summary, a clock
in term that the test moves on, and a reference number to add."""

from __future__ import annotations

import json
import tomllib
from datetime import datetime

from conversation import school
from conversation.dates import ZONE

from ..school_files import LEADS_SCHOOL
from . import followups
from .connector import Call, Connector
from .leads import LEAD_LEADS, all_actions, with_data
from .leads import press_card as press
from .teams_user import TeamsUser

SCHOOL = LEADS_SCHOOL + '\n[school.summary]\ngovernor = "Gwen Governor"\n'
OCTOBER = datetime(2026, 10, 5, 9, 0, tzinfo=ZONE).timestamp()
REFERENCE = "12/3456/26"


class Clock(followups.Clock):
    """The follow-ups' clock, starting on a Monday morning in October."""

    def __init__(self, at: float = OCTOBER) -> None:
        super().__init__(at)


def schools() -> school.Schools:
    return school.parse(tomllib.loads(SCHOOL), "school.toml")


REPORT = "A report of online bullying or harassment"


class Holder(TeamsUser):
    """A lead, answering in the 1:1 chat the bot created for their object id."""

    def __init__(self, post, connector: Connector, name: str, aad: str) -> None:
        super().__init__(post, connector, name)
        self.aad = aad

    @property
    def chat(self) -> str:  # type: ignore[override]
        return self.connector.chat_with(self.aad) or f"a:1{self.aad}-chat"

    @chat.setter
    def chat(self, value: str) -> None:
        pass


async def tell(user: TeamsUser, connector: Connector, whom: str = "leads.0") -> None:
    await user.walk(LEAD_LEADS)
    assert await press(user, with_data(connector, user.chat, "tell"), tell=whom) == 201
    assert await press(user, with_data(connector, user.chat, "send"), send=whom) == 201


async def overview(user: TeamsUser) -> Call:
    """`reports`, as the bot command sends it: the card that answers."""
    before = len(user.connector.sent_to(user.chat))
    assert await user.say("reports") == 201
    (card,) = [c for c in user.connector.sent_to(user.chat)[before:] if c.card]
    return card


def cases_in(card: Call) -> set[str]:
    return {a["data"]["case"] for a in all_actions(card.card)}


def case_of(connector: Connector, lead: Holder, reporter: TeamsUser) -> str:
    """The reference the report to `lead` from `reporter` carries on its buttons."""
    (report,) = [  # the report itself, not an overview
        c
        for c in connector.sent_to(lead.chat)
        if c.card and reporter.aad in json.dumps(c.card) and REPORT in json.dumps(c.card)
    ]
    return next(a["data"]["case"] for a in all_actions(report.card))


def consent(user: TeamsUser, card: Call, action: str = "accept", url: str = "") -> dict:
    """The invoke Teams sends when the person answers a file consent card."""
    (attachment,) = card.body["attachments"]
    content = attachment["content"]
    value = {"type": "fileUpload", "action": action, "context": content["acceptContext"]}
    if action == "accept":
        value["uploadInfo"] = {
            "name": attachment["name"],
            "uploadUrl": url,
            "contentUrl": f"https://contoso-my.sharepoint.com/personal/lee/{attachment['name']}",
            "uniqueId": "1150D938-8870-4044-9F2C-5BBDEBA70C9D",
            "fileType": attachment["name"].rpartition(".")[2],
        }
    return user.activity(
        type="invoke", name="fileConsent/invoke", value=value, replyToId=card.created
    )
