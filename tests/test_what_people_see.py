"""What a person sees in Slack, read from the blocks the Web API stand-in recorded (not the
notification `text`): every phone number of every link, the closing "call 999" line, and
the union line worded for whoever reads it when the school gives only a link."""

from __future__ import annotations

from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from adapters.slack.blocks import escape
from bot.web import create_app
from conversation import flow, school
from conversation.guidance import build as build_guidance
from conversation.school_flow import apply
from conversation.storage import Store
from tests.drivers.leads import HANDLING, LEAD_DM, LEAD_LEADS, button, telling_engine, with_button
from tests.drivers.slack_api import Call, SlackApi
from tests.drivers.slack_user import SlackUser, guidance_of, mrkdwn_of, poster, settings_for

from .school_files import write

ELM = """
[school]
name = "Elm School"

[school.eap]
name = "Elm Wellbeing"
phone = "0800 333 4444"
url = "https://elm.example.org/eap"

[school.union]
url = "https://elm.example.org/union"

[[school.leads]]
name = "Lee Leader"
slack = "U0LEAD"
"""
"""A school with a phone for its EAP, and a union link with no note."""

DANGER = "If anyone is in immediate danger, call *999*."
AFFECTED_UNION = "Your own union representative can advise and support you."
HANDLING_UNION = "The staff member's own union representative can advise and support them."
UNION_LINK = "<https://elm.example.org/union|Trade union representative>: "


def sections(call: Call) -> list[str]:
    return [b["text"]["text"] for b in call.blocks if b["type"] == "section"]


async def walked(store: Store, tmp_path: Path) -> dict[str, list[Call]]:
    """alice (affected) to the end and on to telling Lee; bob (handling) to the end. What
    each was sent, and Lee's report."""
    engine = telling_engine(store, school.load(write(tmp_path, ELM)))
    async with SlackApi() as api:
        app = create_app(settings_for(api), engine)
        async with TestClient(TestServer(app)) as http:
            alice = SlackUser(poster(http), api)
            bob = SlackUser(poster(http), api, "bob")
            await alice.walk(LEAD_LEADS)
            offer = with_button(api, alice.dm, "tell:")
            await alice.act(alice.action_payload(offer, button(offer, "tell:leads.0")))
            sending = with_button(api, alice.dm, "tell-send")
            await alice.act(alice.action_payload(sending, button(sending, "tell-send")))
            await bob.walk(HANDLING)
    (alice_checklist,) = guidance_of(api, alice.dm)
    (bob_checklist,) = guidance_of(api, bob.dm)
    (report,) = api.posted(LEAD_DM)
    return {"alice": [alice_checklist], "bob": [bob_checklist], "lee": [report]}


async def test_the_slack_checklist_and_report_show_each_link_s_phone_and_end_with_call_999(
    store: Store, tmp_path: Path
) -> None:
    seen = await walked(store, tmp_path)
    (checklist,) = seen["alice"]
    (report,) = seen["lee"]
    elm = apply(flow.load(), school.load(write(tmp_path, ELM)).default)
    answers = dict(LEAD_LEADS)
    for call, role in ((checklist, "affected"), (report, "handling")):
        guidance = build_guidance(elm, {**answers, "role": (role,)})
        phoned = [r for item in guidance.items for r in item.links if r.phone]
        assert {r.id for r in phoned} >= {"eap", "police_uk", "education_support"}
        bullets = [line for text in sections(call) for line in text.split("\n")]
        for r in phoned:
            (line,) = [b for b in bullets if b.startswith("• ") and f"|{r.name}>" in b]
            assert f"({escape(r.phone)}" in line, (r.id, line)
        shown = mrkdwn_of([call])
        assert "(0800 333 4444)" in shown
        assert "(101 (non-emergency); 999 in an emergency)" in shown

    # The checklist's last block is the closing line, on its own after a divider.
    assert checklist.blocks[-1]["type"] == "section"
    assert checklist.blocks[-1]["text"]["text"] == DANGER
    assert checklist.blocks[-2]["type"] == "divider"
    # The report: the same line closes its checklist, just above its buttons.
    assert [b["type"] for b in report.blocks[-3:]] == ["divider", "section", "actions"]
    assert report.blocks[-2]["text"]["text"] == DANGER


async def test_a_union_link_without_a_note_keeps_the_union_line_worded_for_each_reader(
    store: Store, tmp_path: Path
) -> None:
    seen = await walked(store, tmp_path)
    affected = mrkdwn_of(seen["alice"])
    assert UNION_LINK + AFFECTED_UNION in affected
    assert HANDLING_UNION not in affected
    for reader in ("bob", "lee"):  # handling it for a colleague; the lead told
        handling = mrkdwn_of(seen[reader])
        assert UNION_LINK + HANDLING_UNION in handling, reader
        assert "Your own union representative" not in handling, reader
