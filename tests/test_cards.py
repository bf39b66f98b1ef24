"""Every card and message the bot can send, judged by the platforms' own libraries.

Teams' cards go to Microsoft's Adaptive Cards library under Node (tests/adaptive_cards.py),
which is what draws them in Web Chat; Slack's messages are built with `slack_sdk.models`,
which checks Block Kit's limits as each block becomes JSON. The cards are every one that
`bot.samples` finds along every path of the flowchart, so a new step is checked unasked.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from adapters.teams import cards as teams
from bot import preview, samples
from bot.__main__ import main as cli
from conversation import flow, school
from conversation.messages import Question
from conversation.school_flow import apply as school_view

from .adaptive_cards import library, problems

FLOW = flow.load()


EXAMPLE_SCHOOL = Path(__file__).resolve().parents[1] / "school.example.toml"


@pytest.fixture(scope="module")
def every() -> samples.Every:
    return samples.every(FLOW)


@pytest.fixture(scope="module")
def school_every() -> samples.Every:
    """The same, with the example school's details (EAP, union, policies, leads)."""
    (example,) = school.load(EXAMPLE_SCHOOL).all()
    return samples.every(school_view(FLOW, example))


@pytest.fixture(scope="module")
def every_card(every: samples.Every, school_every: samples.Every) -> list[tuple[str, dict]]:
    generic = list(preview.teams_cards(every))
    with_school = [(f"school: {n}", c) for n, c in preview.teams_cards(school_every)]
    assert {json.dumps(c) for _, c in with_school} != {json.dumps(c) for _, c in generic}
    return generic + with_school


def test_every_card_the_bot_can_send_passes_microsofts_own_validator(every_card) -> None:
    kinds = {name.removeprefix("school: ").split()[0] for name, _ in every_card}
    assert kinds == {"question", "checklist", "answered", "closed"}
    steps = {name.split()[1] for name, _ in every_card if name.startswith("question")}
    assert steps == {s.id for s in FLOW.steps}
    assert len(every_card) > 2 * 3_960  # a checklist for each path, with and without a school
    assert problems(every_card) == {}


def test_the_validator_refuses_the_multi_select_card_as_it_was(every_card) -> None:
    """The check can fail: the "choose all that apply" card without its label, as it was
    sent before, is the card Web Chat drew as an empty box."""
    name, card = next((n, c) for n, c in every_card if n.startswith("question perpetrator"))
    (choices,) = [b for b in card["body"] if b["type"] == "Input.ChoiceSet"]
    assert choices["label"] == teams.MULTI_LABEL
    del choices["label"]
    assert problems([(name, card)]) == {name: ["validation: Required inputs should have a label"]}
    assert problems([("above 1.4", {**card, "body": [{"type": "Table", "columns": []}]})])


def test_every_question_has_a_plain_text_summary_and_every_button_a_card_id(every) -> None:
    for q in every.questions:
        activity = teams.question_activity(q, "c0ffee")
        card = preview.card_of(activity)
        assert activity.summary and "**" not in activity.summary
        assert card["fallbackText"] == activity.summary
        data = [a["data"] for b in card["body"] if b["type"] == "ActionSet" for a in b["actions"]]
        assert data and all(d == {"token": q.token, "card": "c0ffee", **d} for d in data)


def test_every_slack_message_has_a_plain_text_fallback(every, school_every) -> None:
    messages = list(preview.slack_messages(every)) + list(preview.slack_messages(school_every))
    assert {name.split()[0] for name, *_ in messages} == {
        "question",
        "checklist",
        "answered",
        "notice",
    }
    assert len(messages) > 2 * 3_960
    for name, text, blocks in messages:
        assert text.strip() and "**" not in text, name
        assert blocks and all(b["type"] for b in blocks), name


def test_the_preview_shows_every_step_for_both_roles_and_every_notice(tmp_path: Path) -> None:
    library()  # the renderer the page inlines
    out = tmp_path / "preview.html"
    assert cli(["preview", "--out", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    assert "AdaptiveCards.AdaptiveCard" in page and "markdownit" in page  # drawn in the page
    for role in preview.WALKS:
        shown = set(re.findall(rf"id='{role}-([a-z_]+)'", page))
        asked = {s.id for s in FLOW.steps if not s.final} | {"start"}
        if role == "handling":
            asked -= {"criteria", "calls", "sexual"}  # a different path: not known, content
        assert shown == asked
    assert all(f"id='notice-{name}'" in page for name in FLOW.notices)
    assert page.count("class='card'") > 2 * len(FLOW.steps)
    assert "Copy as text" in page and "Your checklist" in page


def test_the_preview_with_a_school_shows_its_details(tmp_path: Path, capsys, monkeypatch) -> None:
    """The school file is SCHOOL_CONFIG, as for serve; --school takes an id, as for chat."""
    library()
    out = tmp_path / "school.html"
    (example,) = school.load(EXAMPLE_SCHOOL).all()
    monkeypatch.delenv("SCHOOL_CONFIG", raising=False)
    assert cli(["preview", "--out", str(tmp_path / "generic.html")]) == 0
    assert example.eap and example.eap.name not in (tmp_path / "generic.html").read_text(
        encoding="utf-8"
    )
    monkeypatch.setenv("SCHOOL_CONFIG", str(EXAMPLE_SCHOOL))
    assert cli(["preview", "--out", str(out)]) == 0
    assert example.eap.name in out.read_text(encoding="utf-8")
    assert cli(["preview", "--school", "T0NOTHERE", "--out", str(out)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: --school T0NOTHERE: {EXAMPLE_SCHOOL} has no [schools.T0NOTHERE] table"
    )
    monkeypatch.setenv("SCHOOL_CONFIG", str(tmp_path / "none.toml"))
    assert cli(["preview", "--out", str(out)]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_the_preview_says_how_to_get_the_renderer(monkeypatch, tmp_path: Path, capsys) -> None:
    monkeypatch.setattr(preview, "NODE_MODULES", tmp_path / "none")
    assert cli(["preview", "--out", str(tmp_path / "p.html")]) == 2
    assert "npm ci --prefix" in capsys.readouterr().err
    assert not (tmp_path / "p.html").exists()


def test_a_question_card_shortened_to_its_options_still_validates(every) -> None:
    """The engine may show a question without its text and links (after a long message)."""
    full = next(q for q in every.questions if q.multi)
    q = Question(full.step, full.token, full.title, "", full.options, multi=True)
    assert problems([("bare", preview.card_of(teams.question_activity(q, "x")))]) == {}
