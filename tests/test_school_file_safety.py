"""The school file's words are the school's, not the bot's: a line break, a terminal escape
or a bidirectional control in any of them is refused with one line naming the key, an
address that could end a link early is refused, and braces in any of them are shown as
they are, in a whole conversation on every platform, and in `check-config`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import redis as sync_redis
from aiohttp.test_utils import TestClient, TestServer

from bot.config import Settings
from bot.web import create_app
from conversation import flow, school
from conversation.storage import Store
from tests.drivers.connector import Connector
from tests.drivers.leads import (
    LEAD_DM,
    LEAD_LEADS,
    Lead,
    button,
    buttons,
    press_card,
    telling_engine,
    with_button,
    with_data,
)
from tests.drivers.slack_api import SlackApi
from tests.drivers.slack_user import SlackUser, guidance_of, mrkdwn_of, poster, settings_for
from tests.drivers.teams_user import UNAUTHENTICATED, TeamsUser, card_text
from tests.drivers.teams_user import poster as teams_poster

from .helpers import run_bot as run
from .school_files import LEAD_TEAMS, write

# --- refused: what would change how the text around it shows --------------------------------

TEXT_KEYS = {
    "school.name": ("school", "name"),
    "school.eap.name": ("eap", "name"),
    "school.eap.hours": ("eap", "hours"),
    "school.union.note": ("union", "note"),
    "school.leads[0].name": ("lead", "name"),
    "school.leads[0].role": ("lead", "role"),
    "school.leads[0].email": ("lead", "email"),
    "school.leads[0].phone": ("lead", "phone"),
    "school.governors[0].name": ("governor", "name"),
    "school.governors[0].role": ("governor", "role"),
    "school.eap.phone": ("eap", "phone"),
    "school.eap.email": ("eap", "email"),
}
"""Every one-line text of the school file: the key an error names, and where it goes."""

VALID = {
    "school": {"name": "Oak School"},
    "eap": {"name": "Oak EAP", "hours": "weekdays", "phone": "0800 111 2222"},
    "union": {"note": "Reps are in room 4."},
    "lead": {"name": "Lee Leader", "role": "Deputy head", "email": "lee@oak.example.org"},
    "governor": {"name": "Gwen Governor", "role": "Chair", "slack": "U0GOV"},
}


def raw_school(where: str = "", key: str = "", value: str = "") -> dict:
    """A valid school as parsed TOML, with one value changed."""
    tables = {name: dict(values) for name, values in VALID.items()}
    if where:
        tables[where][key] = value
    return {
        "school": {
            **tables["school"],
            "eap": tables["eap"],
            "union": tables["union"],
            "leads": [tables["lead"]],
            "governors": [tables["governor"]],
        }
    }


OBEYED = {
    "a line break": "Lee\nLeader",
    "a carriage return": "Lee\rLeader",
    "a screen-clearing escape": "Lee \x1b[2J\x1b[HLeader",
    "a C1 control": "Lee \x9b2J Leader",
    "a next-line character": "Lee\x85Leader",
    "a line separator": "Lee\u2028Leader",
    "a right-to-left override": "Lee \u202eredaeL",
    "a right-to-left isolate": "Lee \u2067Leader\u2069",
    "a delete character": "Lee\x7fLeader",
}


def test_the_valid_school_used_below_is_valid() -> None:
    assert school.parse(raw_school()).default.leads[0].name == "Lee Leader"


@pytest.mark.parametrize("what", OBEYED)
@pytest.mark.parametrize("key", TEXT_KEYS)
def test_a_control_character_in_any_text_is_refused_in_one_line_naming_the_key(
    key: str, what: str
) -> None:
    with pytest.raises(school.SchoolError) as caught:
        school.parse(raw_school(*TEXT_KEYS[key], OBEYED[what]), "school.toml")
    message = str(caught.value)
    assert message.startswith(f"school.toml: {key}: "), message
    assert "one line" in message or "must be" in message
    assert "\n" not in message and "Leader" not in message and "Lee" not in message


@pytest.mark.parametrize("key", ["school.name", "school.leads[0].name", "school.union.note"])
def test_the_control_character_message_says_what_is_wrong(key: str) -> None:
    with pytest.raises(school.SchoolError) as caught:
        school.parse(raw_school(*TEXT_KEYS[key], "Lee\x1b[2JLeader"), "school.toml")
    assert str(caught.value) == (
        f"school.toml: {key}: must be one line (no line breaks or control characters)"
    )


def test_check_config_refuses_a_name_with_a_line_break_in_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[school]\nname = "Oak\\nSchool"\n')
    done = run("check-config", env={"SCHOOL_CONFIG": str(path)})
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == (
        f"error: {path}: school.name: must be one line (no line breaks or control characters)\n"
    )


UNWRITTEN = {
    "a bar, which ends a Slack link": "https://oak.example.org/a|<!channel>",
    "a closing angle bracket": "https://oak.example.org/a>b",
    "a double quote, which ends an HTML attribute": 'https://oak.example.org/a"onclick="x',
    "a space": "https://oak.example.org/a b",
    "a brace": "https://oak.example.org/{x}",
    "a backslash": "https://oak.example.org/a\\b",
    "a terminal escape": "https://oak.example.org/\x1b[2J",
    "a bidirectional control": "https://oak.example.org/\u202egpj.exe",
}


@pytest.mark.parametrize("what", UNWRITTEN)
def test_an_address_with_a_character_addresses_cannot_hold_is_refused(what: str) -> None:
    raw = raw_school()
    raw["school"]["policies"] = {"behaviour_policy": UNWRITTEN[what]}
    with pytest.raises(school.SchoolError) as caught:
        school.parse(raw, "school.toml")
    message = str(caught.value)
    assert message.startswith("school.toml: school.policies.behaviour_policy: must be written as")
    assert "oak.example.org" not in message and "\n" not in message


def test_an_address_with_a_query_and_an_apostrophe_is_still_an_address() -> None:
    raw = raw_school()
    url = "https://oak.example.org/p?a=1&b=it's"
    raw["school"]["policies"] = {"behaviour_policy": url}
    assert school.parse(raw).default.policies["behaviour_policy"] == url


# --- braces: shown as they are ---------------------------------------------------------------

B = "{x} {"
BRACES_SCHOOL = f"""
[school]
name = "Oak {B}"

[school.eap]
name = "Oak EAP {B}"
phone = "0800 111 2222"
url = "https://oak.example.org/eap"
hours = "weekdays {B}"
email = "eap@oak.example.org"

[school.union]
note = "Reps {B} meet in room 4."

[school.policies]
behaviour_policy = "https://oak.example.org/policies/behaviour"

[[school.leads]]
name = "Lee {B} Leader"
role = "Deputy {B} head"
slack = "U0LEAD"
teams = "{LEAD_TEAMS}"
email = "lee@oak.example.org"

[[school.governors]]
name = "Gwen {B} Governor"
role = "Chair {B}"
slack = "U0GOV"
email = "gwen@oak.example.org"
"""
"""Every text field of the school file holds `{x}` and a lone `{`."""

SHOWN_AS_WRITTEN = [
    f"staff at Oak {B}.",
    f"Oak EAP {B} (employee assistance programme)",
    f"Open weekdays {B}.",
    f"Reps {B} meet in room 4.",
    f"At Oak {B}, that is Lee {B} Leader (Deputy {B} head, lee@oak.example.org).",
]
"""What the member of staff sees on the path to the lead, each with its braces."""


def braces_schools(tmp_path: Path) -> school.Schools:
    return school.load(write(tmp_path, BRACES_SCHOOL))


def test_check_config_shows_the_braces_of_a_valid_file(tmp_path: Path) -> None:
    path = write(tmp_path, BRACES_SCHOOL)
    done = run("check-config", env={"SCHOOL_CONFIG": str(path)})
    assert done.returncode == 0, done.stderr
    assert f"This guide is set up for staff at Oak {B}." in done.stdout
    assert f"Gwen {B} Governor (Chair {B}, gwen@oak.example.org)" in done.stdout


def test_braces_in_every_field_a_whole_chat_in_the_terminal(
    tmp_path: Path, redis_url: str, prefix: str
) -> None:
    env = {"SCHOOL_CONFIG": str(write(tmp_path, BRACES_SCHOOL)), "REDIS_URL": redis_url}
    try:
        # start, affected, support, a pupil, criteria, police, not the lead, calls, continue
        done = run("chat", "--user", prefix, env=env, stdin="1\n1\n1\n2\n1\n1\n1\n1\n1\n")
        # the same with a parent, and the head or lead affected
        head = run("chat", "--user", prefix + "h", env=env, stdin="1\n1\n1\n3\n1\n1\n2\n1\n1\n")
    finally:
        with sync_redis.Redis.from_url(redis_url) as r:
            for key in r.scan_iter(f"*{prefix}*"):
                r.delete(key)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert "Your checklist" in done.stdout
    for words in SHOWN_AS_WRITTEN:
        assert words in done.stdout, words
    assert f"At Oak {B}, that is the nominated lead, Lee {B} Leader." in done.stdout  # the offer
    assert f"In Slack or Teams I could send this to Lee {B} Leader" in done.stdout
    assert head.returncode == 0 and "Traceback" not in head.stderr, head.stderr
    assert f"At Oak {B}, that is Gwen {B} Governor (Chair {B}" in head.stdout


async def test_braces_in_every_field_over_slack_offer_report_and_status(
    tmp_path: Path, store: Store
) -> None:
    engine = telling_engine(store, braces_schools(tmp_path))
    async with SlackApi() as api:
        app = create_app(settings_for(api), engine)
        async with TestClient(TestServer(app)) as http:
            alice = SlackUser(poster(http), api)
            lee = SlackUser(poster(http), api, "0lead")
            await alice.walk(LEAD_LEADS)
            shown = mrkdwn_of(api.posted(alice.dm))
            (checklist,) = guidance_of(api, alice.dm)
            for words in SHOWN_AS_WRITTEN:
                assert words.replace("**", "*") in mrkdwn_of([checklist]) + shown, words
            offer = with_button(api, alice.dm, "tell:")
            assert f"Tell Lee {B} Leader" in [b["text"]["text"] for b in buttons(offer)]
            assert f"nominated lead, *Lee {B} Leader*" in mrkdwn_of([offer])
            await alice.act(alice.action_payload(offer, button(offer, "tell:leads.0")))
            preview = with_button(api, alice.dm, "tell-send")
            assert f"exactly what *Lee {B} Leader* will receive" in mrkdwn_of([preview])
            await alice.act(alice.action_payload(preview, button(preview, "tell-send")))
            (report,) = api.posted(LEAD_DM)
            assert f"At Oak {B}, that is Lee {B} Leader" in mrkdwn_of([report])
            await lee.act(lee.action_payload(report, button(report, "case:ack")))
            assert f"*Lee {B} Leader* has acknowledged your report" in mrkdwn_of(
                api.posted(alice.dm)
            )
            assert await alice.say("status") == 200
            record = mrkdwn_of(api.posted(alice.dm)[-2:])
            assert f"School: Oak {B}" in record and f"Told: Lee {B} Leader" in record
            # Lee's own buttons, and the report withdrawn: each still shows the braces.
            update = api.updates(LEAD_DM)[-1]
            await lee.act(lee.action_payload(update, button(update, "case:done:support")))
            assert f"*Lee {B} Leader* marked" in mrkdwn_of(api.posted(alice.dm)[-1:])
            await lee.act(lee.action_payload(update, button(update, "case:record")))
            assert f"Told: Lee {B} Leader" in mrkdwn_of(api.posted(LEAD_DM)[-1:])
            await lee.act(lee.action_payload(update, button(update, "case:walk")))
            walked = guidance_of(api, LEAD_DM)[-1]
            assert walked is not report and f"At Oak {B}, that is Lee" in mrkdwn_of([walked])
            assert await alice.say("delete my data") == 200
            assert f"*Lee {B} Leader* has been told" in mrkdwn_of(api.posted(alice.dm)[-2:])


class Named(TeamsUser):
    """A Teams user whose display name, as Teams sends it, holds braces too."""

    display = f"Alice {B}"

    def activity(self, chat: str | None = None, kind: str = "personal", **fields) -> dict:
        activity = super().activity(chat, kind, **fields)
        activity["from"]["name"] = self.display
        return activity


async def test_braces_in_every_field_over_teams_and_in_the_reporter_s_name(
    tmp_path: Path, store: Store
) -> None:
    engine = telling_engine(store, braces_schools(tmp_path))
    async with Connector() as connector:
        app = create_app(Settings(teams=UNAUTHENTICATED), engine)
        async with TestClient(TestServer(app)) as http:
            alice = Named(teams_poster(http), connector)
            lee = Lead(teams_poster(http), connector)
            await alice.walk(LEAD_LEADS)
            cards = "\n".join(card_text(c.card) for c in connector.sent_to(alice.chat) if c.card)
            for words in SHOWN_AS_WRITTEN:
                assert words in cards, words
            offer = with_data(connector, alice.chat, "tell")
            assert await press_card(alice, offer, tell="leads.0") == 201
            preview = with_data(connector, alice.chat, "send")
            assert f"exactly what **Lee {B} Leader** will receive" in card_text(preview.card)
            assert await press_card(alice, preview, send="leads.0") == 201
            (report,) = connector.sent_to(connector.chat_with(LEAD_TEAMS) or "")
            assert f"<at>Alice {B}</at> asked me to tell you" in card_text(report.card)
            assert f"At Oak {B}, that is Lee {B} Leader" in card_text(report.card)
            assert await press_card(lee, report, act="ack") == 201
            assert await alice.say("status") == 201
            to_alice = [*connector.sent_to(alice.chat)]
            to_alice += connector.sent_to(connector.chat_with(alice.aad) or "")
            said = "\n".join(c.text for c in to_alice)
            assert f"**Lee {B} Leader** has acknowledged your report" in said
            assert f"School: Oak {B}" in said and f"Told: Lee {B} Leader" in said


def test_no_placeholder_of_the_school_wording_is_left_unfilled(tmp_path: Path) -> None:
    """Braces pass through as text, but a placeholder of the bot's own is still filled."""
    from bot import samples
    from conversation.school_flow import apply

    seen = apply(flow.load(), braces_schools(tmp_path).default)
    every = samples.every(seen)
    texts = [q.text for q in every.questions] + [n.text for _, n in every.notices]
    assert any("30 days" in t for t in texts)
    for text in texts:
        assert not re.search(r"\{(?!x\} \{)[a-z_]+\}", text), text
