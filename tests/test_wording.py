"""What each question says, generated from the flow data: worded for the reader's role, and
the emergency number wherever the police are spoken of.

The steps checked are found in the data, never listed here, so a question given a second
wording, or a new step about the police, is checked without touching this file.
"""

from __future__ import annotations

import re

import pytest

from conversation.engine import Engine
from conversation.flow import ROLES, Paragraph, Step
from conversation.messages import Choose, Question, Start, UserKey
from conversation.paths import Path

from .helpers import ALL_PATHS, FLOW, question

YOU = re.compile(r"\b(you|your|yours|yourself)\b", re.IGNORECASE)
POLICE = re.compile(r"\bpolice\b", re.IGNORECASE)


def role_worded(step: Step) -> list[Paragraph]:
    return [p for p in step.text if p.text.affected != p.text.handling]


def speaks_of_the_police(step: Step) -> bool:
    return any(POLICE.search(getattr(p.text, role)) for p in step.text for role in ROLES)


ROLE_WORDED = [s.id for s in FLOW.steps if role_worded(s)]
POLICE_STEPS = [s.id for s in FLOW.steps if speaks_of_the_police(s)]


def path_to(step_id: str, role: str) -> Path:
    """The answers before `step_id` on the first path that asks it of someone in `role`."""
    for path in ALL_PATHS:
        steps = [s for s, _ in path] + [FLOW.steps[-1].id]
        if dict(path)["role"] == (role,) and step_id in steps:
            return path[: steps.index(step_id)]
    raise AssertionError(f"no path asks {step_id!r} of {role!r}")


async def ask(engine: Engine, step_id: str, role: str) -> tuple[Question, Path]:
    """Walk the engine to `step_id` as someone in `role`, and return the question asked."""
    before = path_to(step_id, role)
    user = UserKey("test", "wording", f"{step_id}-{role}")
    turn = await engine.handle(user, Start())
    for step, ids in before:
        assert question(turn).step == step
        turn = await engine.handle(user, Choose(ids, question(turn).token))
    assert question(turn).step == step_id
    return question(turn), before


def test_some_questions_are_worded_by_role_and_some_speak_of_the_police() -> None:
    """The generated tests below check something: the data has such steps."""
    assert "lead" in ROLE_WORDED and "police" in POLICE_STEPS


@pytest.mark.parametrize("step_id", ROLE_WORDED)
def test_the_affected_wording_speaks_to_them_and_the_handling_one_about_them(
    step_id: str,
) -> None:
    """Worded the right way round in the data: the member of staff being targeted is spoken
    to ("Are you..."), the person handling it is told about them ("Is the staff member...")."""
    for p in role_worded(FLOW.step(step_id)):
        affected, handling = len(YOU.findall(p.text.affected)), len(YOU.findall(p.text.handling))
        assert affected > handling, (step_id, p.text)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("step_id", ROLE_WORDED)
async def test_each_role_is_asked_in_its_own_wording(
    engine: Engine, step_id: str, role: str
) -> None:
    asked, before = await ask(engine, step_id, role)
    (other,) = set(ROLES) - {role}
    answers = dict(before)
    for p in FLOW.step(step_id).text:
        if p.when is not None and not p.when.holds(answers):
            continue
        mine = getattr(p.text, role).format(ttl_days=engine.views.ttl_days)
        theirs = getattr(p.text, other).format(ttl_days=engine.views.ttl_days)
        assert mine in asked.text, (step_id, role)
        if theirs != mine:
            assert theirs not in asked.text, (step_id, role)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("step_id", POLICE_STEPS)
async def test_every_question_that_speaks_of_the_police_gives_999(
    engine: Engine, step_id: str, role: str
) -> None:
    """In the question's own words, not only in a link's details: the SPEC asks for the
    emergency number on every police-related step."""
    asked, _ = await ask(engine, step_id, role)
    assert POLICE.search(asked.text), step_id
    assert "999" in asked.text, step_id
