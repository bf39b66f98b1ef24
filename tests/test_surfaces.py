"""What the bot says is true where it says it, and the checklist reads well.

Each surface (a Slack DM, a Teams 1:1 chat, a terminal) is walked through a whole
conversation and checked for what would be false there; the content the issue asked for
(unknown perpetrator, role-worded resources, each resource once, corrected links, the
attributed evidence advice) is checked from the flow data and over every path.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conversation import flow, plaintext
from conversation.engine import Engine
from conversation.guidance import build
from conversation.messages import (
    Choose,
    Command,
    Do,
    Guidance,
    Notice,
    Question,
    Reply,
    Say,
    Start,
    UserKey,
)
from conversation.storage import Store

from .helpers import ALL_PATHS, FLOW, path_where, question

ROOT = Path(__file__).resolve().parents[1]
EVERY_BRANCH = path_where(perpetrator=("staff",), types=("calls", "sexual", "content", "other"))

UNTRUE = {
    "terminal": [
        "button",
        "private message",
        "only visible to you",
        "message me",
        "send me",
        "card",
        "direct message",
        "/report-harassment",
    ],
    "slack": ["terminal", "card", "run the chat", "ctrl-"],
    "teams": ["terminal", "direct message", "/report-harassment", "run the chat", "ctrl-"],
}


def words(reply: Reply) -> str:
    if isinstance(reply, Question):
        return "\n".join([reply.title, reply.text, *(c.label for c in reply.options)])
    return plaintext.render(reply)


async def everything_said(engine: Engine, platform: str) -> str:
    """A whole conversation on `platform`, with every notice a user can meet on the way."""
    user = UserKey(platform, "school", "reader")
    said: list[Reply] = []

    async def turn(inp) -> None:
        said.extend((await engine.handle(user, inp)).replies)

    await turn(Start())
    for text in ("help", "banana", "hi", "x" * 500, "back", "restart"):
        await turn(Say(text))
    t = await engine.handle(user, Start())
    for step, ids in EVERY_BRANCH:
        if step == "types":
            await turn(Say("calls, blackmail"))
        t = await engine.handle(user, Choose(ids, question(t).token))
        said.extend(t.replies)
    await turn(Do(Command.STOP))
    await turn(Do(Command.DELETE))
    await turn(Choose(("start",), "stale"))
    said.append(engine.views.for_user(user).notice("unavailable"))
    return "\n".join(words(r) for r in said)


@pytest.mark.parametrize("platform", sorted(UNTRUE))
async def test_each_surface_says_only_what_is_true_there(engine: Engine, platform: str) -> None:
    text = (await everything_said(engine, platform)).casefold()
    assert "your checklist" in text and "paused" in text  # the whole conversation was seen
    for phrase in UNTRUE[platform]:
        assert phrase not in text, (platform, phrase)


async def test_the_terminal_says_how_to_answer_and_leave_there(engine: Engine) -> None:
    text = await everything_said(engine, "terminal")
    assert "Type an option's number" in text
    assert "Ctrl-D" in text and "Run the chat again to carry on" in text
    assert "It is shown only in this terminal" in text and "Your checklist is above" in text
    assert "Show it again" in text


async def test_a_platform_the_flow_data_does_not_name_gets_the_default_wording(
    engine: Engine,
) -> None:
    text = await everything_said(engine, "somewhere-else")
    assert "Keep this message: it is only visible to you" in text
    assert "I've sent your checklist as a private message" in text


def test_the_engine_names_no_platform() -> None:
    """It chooses wording by the user's platform name, from the flow data only."""
    source = (ROOT / "conversation" / "engine.py").read_text().casefold()
    for name in ("slack", "teams", "terminal"):
        assert name not in source


def test_a_surface_changes_only_words() -> None:
    for name, worded in FLOW.surfaces.items():
        assert [(s.id, [o.id for o in s.options], s.links) for s in worded.steps] == [
            (s.id, [o.id for o in s.options], s.links) for s in FLOW.steps
        ], name
        assert worded.resources == FLOW.resources


# --- content ----------------------------------------------------------------------------


def checklist(**answers: tuple[str, ...]) -> Guidance:
    return build(FLOW, dict(path_where(**answers)))


def test_an_unknown_perpetrator_means_no_policy_to_check_then_police_then_who_leads() -> None:
    guidance = checklist(perpetrator=("unknown",))
    titles = [item.title for item in guidance.items]
    policy = titles.index("Relevant policy")
    assert titles[policy + 1 : policy + 3] == ["Police involvement", "Who leads the investigation"]
    (line,) = guidance.items[policy].lines
    assert "no behaviour policy to check" in line
    assert "police" in line and "who leads" in line
    assert "straight to" not in line


@pytest.mark.parametrize(
    ("role", "union", "eap"),
    [
        ("affected", "Your own union representative can advise and support you.", "Your school's"),
        (
            "handling",
            "The staff member's own union representative can advise and support them.",
            "The school's",
        ),
    ],
)
async def test_resources_are_described_for_the_reader(
    engine: Engine, role: str, union: str, eap: str
) -> None:
    user = UserKey("test", "school", role)
    turn = await engine.handle(user, Start())
    for ids in (("start",), (role,)):
        turn = await engine.handle(user, Choose(ids, question(turn).token))
    support = question(turn)
    described = {r.id: r.description for r in support.links}
    assert described["union"] == union and described["eap"].startswith(eap)
    guidance = checklist(role=(role,))
    assert {r.id: r.description for r in guidance.items[0].links}["union"] == union


def test_each_resource_is_given_in_full_once_and_named_after_that_on_every_path() -> None:
    """All 3,960 paths: a resource's address appears once, at its first mention; every
    later step that needs it names it."""
    for path in ALL_PATHS:
        answers = dict(path)
        guidance = build(FLOW, answers)
        text = plaintext.guidance(guidance)
        given: set[str] = set()
        for item in guidance.items:
            step = FLOW.step(next(s for s in answers if FLOW.step(s).title == item.title))
            chosen = [o for o in step.options if o.id in answers[step.id]]
            needed = {r.id for r in (*step.links, *(r for o in chosen for r in o.links))}
            full = {r.id for r in item.links}
            assert not full & given, (path, item.title)
            for rid in needed - full:
                assert any(FLOW.resources[rid].name in line for line in item.lines), rid
            given |= full
        for resource in FLOW.resources.values():
            if resource.url:
                assert text.count(resource.url) <= 1, (path, resource.id)


def test_police_uk_appears_once_in_a_checklist_with_every_branch() -> None:
    text = plaintext.guidance(build(FLOW, dict(EVERY_BRANCH)))
    assert text.count(FLOW.resources["police_uk"].url) == 1
    assert text.count("Details above: Police.uk") == 3  # calls, sexual harassment, content


def test_the_corrected_links_and_every_address_says_how_sure_it_is() -> None:
    assert FLOW.resources["education_support"].url == (
        "https://www.educationsupport.org.uk/get-help/help-for-you/helpline/"
    )
    assert FLOW.resources["police_uk"].url == (
        "https://www.police.uk/pu/contact-the-police/report-a-crime-incident/"
    )
    lines = flow.DEFAULT_FLOW.read_text().splitlines()
    urls = [i for i, line in enumerate(lines) if line.startswith("url = ")]
    assert len(urls) == sum(1 for r in FLOW.resources.values() if r.url)
    for i in urls:
        assert re.match(r"# (Confirmed|Likely|Title confirmed|Advice confirmed)", lines[i - 1]), (
            lines[i]
        )
    for url, comment in (
        ("educationsupport", "# Confirmed"),
        ("police.uk/pu/", "# Likely"),
    ):
        (i,) = [i for i in urls if url in lines[i]]
        assert lines[i - 1].startswith(comment)


def test_evidence_advice_is_on_the_content_and_sexual_harassment_steps_attributed() -> None:
    for step_id in ("content", "sexual"):
        text = " ".join(p.text.affected for p in FLOW.step(step_id).text)
        assert "SWGfL and police forces advise taking screenshots" in text
        assert "the date, the time and the web address" in text
    calls = " ".join(p.text.affected for p in FLOW.step("calls").text)
    assert "screenshots" not in calls
    content = " ".join(p.text.affected for p in FLOW.step("content").text)
    assert "POSH suggests giving the platform 48 hours to respond" in content
    assert "sooner where there is a safeguarding concern" in content
    assert "Report Harmful Content can help when a platform has not answered within a week" in (
        content
    )


def test_the_flowcharts_own_branch_steps_are_kept_word_for_word() -> None:
    """The added advice is added: the flowchart's sentences are all still there."""
    kept = {
        "calls": [
            "Refer to Ofcom's advice on abusive and threatening calls.",
            "**If the abuse constitutes a criminal offence, report it to the police.**",
        ],
        "sexual": [
            "Refer to SWGfL's guidance for schools and colleges on responding to online sexual "
            "harassment of staff.",
            "**If the abuse constitutes a criminal offence, report it to the police.**",
        ],
        "content": [
            "**If the content is illegal, contact the police.**",
            "If the content does not meet the threshold for intervention from the platform or "
            "the police, refer to the POSH guidance on how to approach resolution.",
        ],
    }
    for step_id, sentences in kept.items():
        texts = [p.text.affected for p in FLOW.step(step_id).text]
        for sentence in sentences:
            assert sentence in texts, (step_id, sentence)


async def test_a_notice_on_a_surface_is_that_surfaces(engine: Engine, store: Store) -> None:
    for platform, phrase in (
        ("terminal", "Run the chat again"),
        ("slack", "/report-harassment"),
        ("teams", "message me any time"),
    ):
        turn = await engine.handle(UserKey(platform, "s", "u"), Say("stop"))
        (notice,) = turn.replies
        assert isinstance(notice, Notice) and phrase in notice.text, platform
