"""Names and details are shown, never obeyed: a school file, or a Teams display name, that
holds markup of Slack, of Teams' markdown, of a terminal or of HTML shows it as text in every
message a person sees (Slack's blocks and its `text`, Teams' cards and messages, the terminal,
the preview page), and draws no link, mention or element of its own."""

from __future__ import annotations

import asyncio
import io
import json
import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from adapters.slack.blocks import escape
from bot import console, preview
from bot.config import Settings
from bot.redis_connection import client
from bot.web import create_app
from conversation import flow, school
from conversation.messages import UserKey
from conversation.runner import Runner, build
from conversation.school_flow import apply
from conversation.storage import Store
from tests.drivers.connector import Call as TeamsCall
from tests.drivers.connector import Connector
from tests.drivers.leads import (
    LEAD_DM,
    LEAD_LEADS,
    Lead,
    button,
    press_card,
    telling_engine,
    with_button,
    with_data,
)
from tests.drivers.slack_api import Call as SlackCall
from tests.drivers.slack_api import SlackApi
from tests.drivers.slack_user import SlackUser, mrkdwn_in, poster, settings_for
from tests.drivers.teams_user import UNAUTHENTICATED, TeamsUser, card_text
from tests.drivers.teams_user import poster as teams_poster

from .adaptive_cards import CHECKS, library
from .school_files import LEAD_TEAMS, write

EVIL = "evil.example"
HOSTILE_SCHOOL = f"""
[school]
name = "Oak <!channel> & [Academy](https://{EVIL}/a)"

[school.eap]
name = "Help <https://{EVIL}/b|now> ] ["
phone = "0800 111 2222"
url = "https://oak.example.org/eap?a=1&b=it's"
hours = "`all` \\\\ <at>day</at>"
email = "e[x](https://{EVIL}/e)@oak.example.org"

[school.union]
note = "Reps: <!here> [union](https://{EVIL}/c) <@U0LEAD>"

[school.policies]
behaviour_policy = "https://oak.example.org/policies/behaviour"

[[school.leads]]
name = "Lee <!everyone> [Leader](https://{EVIL}/d)"
role = "Deputy </at> head"
slack = "U0LEAD"
teams = "{LEAD_TEAMS}"
email = "lee@oak.example.org"
"""
"""A school file that passes every check, each of its words written to break out."""


def hostile(tmp_path: Path) -> school.Schools:
    return school.load(write(tmp_path, HOSTILE_SCHOOL))


def addresses(schools: school.Schools) -> set[str]:
    """Every address a link may go to: the flowchart's and the school's own."""
    seen = apply(flow.load(), schools.default)
    found = {r.url for r in seen.resources.values() if r.url}
    found |= {link.url for s in seen.steps for link in s.links if link.url}
    found |= {link.url for s in seen.steps for o in s.options for link in o.links if link.url}
    return found


# --- Slack ----------------------------------------------------------------------------------


def mrkdwn_texts(call: SlackCall) -> list[str]:
    """What Slack parses for links and mentions in a message: its `text`, and every mrkdwn
    text object in its blocks."""
    return [call.text, *mrkdwn_in(call.blocks)]


def check_slack_message(call: SlackCall, allowed: set[str], mentions: set[str]) -> None:
    """Each `<…>` Slack would act on is a link to an allowed address or a mention we made."""
    for text in mrkdwn_texts(call):
        for token in re.findall(r"<([^>]*)>", text):
            if token.startswith("@"):
                assert token[1:] in mentions, (token, text)
                continue
            assert not token.startswith(("!", "#")), (token, text)
            url, bar, _ = token.partition("|")
            assert bar and url in allowed, (token, text)


async def test_slack_shows_school_markup_as_text_in_blocks_and_text(
    tmp_path: Path, store: Store
) -> None:
    schools = hostile(tmp_path)
    allowed = {escape(url) for url in addresses(schools)}
    engine = telling_engine(store, schools)
    async with SlackApi() as api:
        app = create_app(settings_for(api), engine)
        async with TestClient(TestServer(app)) as http:
            alice = SlackUser(poster(http), api)
            lee = SlackUser(poster(http), api, "0lead")
            await alice.walk(LEAD_LEADS)
            offer = with_button(api, alice.dm, "tell:")
            await alice.act(alice.action_payload(offer, button(offer, "tell:leads.0")))
            sending = with_button(api, alice.dm, "tell-send")
            await alice.act(alice.action_payload(sending, button(sending, "tell-send")))
            (report,) = api.posted(LEAD_DM)
            await lee.act(lee.action_payload(report, button(report, "case:ack")))
            assert await alice.say("status") == 200
            assert await alice.say("delete my data") == 200
    messages = [c for c in api.calls if c.method in ("chat.postMessage", "chat.update")]
    assert len(messages) > 15 and any(c.channel == LEAD_DM for c in messages)
    for call in messages:
        check_slack_message(call, allowed, {alice.id})
    everything = "\n".join(t for c in messages for t in mrkdwn_texts(c))
    for shown in (
        f"staff at Oak &lt;!channel&gt; &amp; [Academy](https://{EVIL}/a)",
        "Reps: &lt;!here&gt;",
        "&lt;@U0LEAD&gt;",
        "Lee &lt;!everyone&gt;",
        "<https://oak.example.org/eap?a=1&amp;b=it's|Help &lt;https://evil.example/b|now&gt; ] [",
    ):
        assert shown in everything, shown
    assert f"<@{alice.id}> asked me to tell you" in report.text  # the one mention we make


# --- Teams ----------------------------------------------------------------------------------


def drawn(texts: list[str]) -> list[str]:
    """Teams markdown as HTML, drawn by markdown-it as the preview page draws cards."""
    node = library()
    done = subprocess.run(
        [node, str(CHECKS / "markdown.js")],
        input=json.dumps(texts),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(done.stdout)


class Links(HTMLParser):
    """Every link in some HTML: its address and its text."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "a":
            self._href, self._text = dict(attrs).get("href", ""), ""

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.links.append((self._href, self._text))
            self._href = None


def links_in(html: str) -> list[tuple[str, str]]:
    parser = Links()
    parser.feed(html)
    return parser.links


class Hostile(TeamsUser):
    """A member of staff whose Teams display name is written to close the mention."""

    display = f"Eve</at> [click](https://{EVIL}/f) <at>Eve\\ `x` &amp; \u202eevE\n"

    def activity(self, chat: str | None = None, kind: str = "personal", **fields) -> dict:
        activity = super().activity(chat, kind, **fields)
        activity["from"]["name"] = self.display
        return activity


def markdown_of(call: TeamsCall) -> list[str]:
    """What Teams draws as markdown in one activity: each TextBlock, and its text unless
    the activity says the text is plain."""
    found = [card_text(call.card)] if call.card else []
    if call.text and call.body.get("textFormat") != "plain":
        found.append(call.text)
    return found


async def test_teams_shows_school_markup_and_a_display_name_as_text(
    tmp_path: Path, store: Store
) -> None:
    schools = hostile(tmp_path)
    allowed = addresses(schools)
    engine = telling_engine(store, schools)
    async with Connector() as connector:
        app = create_app(Settings(teams=UNAUTHENTICATED), engine)
        async with TestClient(TestServer(app)) as http:
            alice = Hostile(teams_poster(http), connector)
            lee = Lead(teams_poster(http), connector)
            await alice.walk(LEAD_LEADS)
            offer = with_data(connector, alice.chat, "tell")
            assert await press_card(alice, offer, tell="leads.0") == 201
            sending = with_data(connector, alice.chat, "send")
            assert await press_card(alice, sending, send="leads.0") == 201
            (report,) = connector.sent_to(connector.chat_with(LEAD_TEAMS) or "")
            assert await press_card(lee, report, act="ack") == 201
            assert await alice.say("status") == 201
            assert await alice.say("delete my data") == 201

    # The mention: one, matching its entity, and nothing in it that marks anything up.
    (entity,) = report.card["msteams"]["entities"]
    name = entity["mentioned"]["name"]
    assert entity["text"] == f"<at>{name}</at>"
    assert not set(name) & set("<>[]\\`&\n\u202e") and name.startswith("Eve/at click(")
    assert card_text(report.card).count("<at>") == 1
    assert report.body["textFormat"] == "plain" and "Eve</at>" not in report.text

    # Every link anyone is shown goes where the flowchart or the school says.
    messages = [c for c in connector.calls if c.card or c.text]
    texts = [t for c in messages for t in markdown_of(c)]
    html = drawn(texts)
    links = [link for page in html for link in links_in(page)]
    assert links and all(href in allowed for href, _ in links), links
    eap = "Help <https://evil.example/b|now> ] [ (employee assistance programme)"
    assert ("https://oak.example.org/eap?a=1&b=it's", eap) in links
    everything = "\n".join(html)
    assert f"Oak &lt;!channel&gt; &amp; [Academy](https://{EVIL}/a)" in everything
    assert "Deputy &lt;/at&gt; head" in everything and "<code>" not in everything


# --- the terminal ----------------------------------------------------------------------------


def test_the_terminal_writes_a_control_character_as_its_code(redis_url: str, prefix: str) -> None:
    """A school from anywhere but the checked file (say, a flow built in code) with a screen
    clearing escape and a right-to-left override in its name: the chat shows their codes."""
    odd = school.School(id="", name="Oak\x1b[2J\x1b[H \u202eloohcS")
    out = io.StringIO()

    async def connect() -> Runner:
        return build(client(redis_url), prefix=prefix, schools=school.Schools(default=odd))

    with asyncio.Runner() as loop:
        runner = loop.run(connect())
        try:
            chat = console.Chat(
                loop, runner, UserKey("terminal", "local", "u"), io.StringIO("1\n"), out
            )
            assert chat.talk() == 0
        finally:
            redis = runner.store.redis
            keys = loop.run(_keys(redis, prefix))
            if keys:
                loop.run(redis.delete(*keys))
            loop.run(redis.aclose())
    said = out.getvalue()
    assert "staff at Oak\\u001b[2J\\u001b[H \\u202eloohcS." in said
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", said)


async def _keys(redis, prefix: str) -> list[bytes]:
    return [k async for k in redis.scan_iter(f"{prefix}:*")]


def test_shown_keeps_line_breaks_tabs_and_ordinary_text() -> None:
    text = "Zoë O'Brien\t(she/her)\nÉcole 🌳 — ok"
    assert console.shown(text) == text
    assert console.shown("a\rb\x07c\u2028d") == "a\\u000db\\u0007c\\u2028d"


# --- the preview page ------------------------------------------------------------------------

ALLOWED_TAGS = {
    *("html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "h3", "p"),
    *("code", "section", "div", "details", "summary", "pre", "hr", "b", "a", "label"),
    *("input", "button", "br", "script", "span"),
}


class Page(HTMLParser):
    """A page's elements as a browser meets them: tag names, attributes, scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append((tag, dict(attrs)))


def test_the_preview_page_shows_school_words_and_addresses_as_text(tmp_path: Path) -> None:
    attribute = "https://oak.example.org/x'onmouseover='alert(1)'"
    policy = 'behaviour_policy = "https://oak.example.org/policies/behaviour"'
    text = HOSTILE_SCHOOL.replace(policy, f'parental_code_of_conduct = "{attribute}"').replace(
        'name = "Oak', 'name = "Oak <script>alert(2)</script> <img src=x onerror=alert(3)>'
    )
    schools = school.load(write(tmp_path, text))
    seen = apply(flow.load(), schools.default)
    page = Page()
    page.feed(preview.page(seen, ["/* the renderer */"]))
    tags = {tag for tag, _ in page.tags}
    assert tags <= ALLOWED_TAGS, tags - ALLOWED_TAGS
    assert [tag for tag, _ in page.tags].count("script") == 2  # the renderer, and the page's
    for tag, attrs in page.tags:
        assert not [a for a in attrs if a.startswith("on")], (tag, attrs)
    hrefs = [attrs["href"] for tag, attrs in page.tags if tag == "a"]
    allowed = addresses(schools)
    assert attribute in hrefs and all(h in allowed for h in hrefs), hrefs
    assert all(h.startswith(("https://", "http://")) for h in hrefs)
