"""Every path through the flowchart, driven through the engine against real Redis.

The paths come from the flow data; what each one must end with comes from FLOWCHART.md
itself, written here as plain rules, so a wrong branch or a lost link in the data fails.
"""

from __future__ import annotations

import asyncio

import pytest

from conversation import plaintext
from conversation.engine import Engine
from conversation.messages import Choose, Guidance, Outcome, Question, Start, UserKey
from conversation.paths import Path

from .expected_paths import check_guidance, expected_steps
from .helpers import ALL_PATHS, FLOW


async def walk(engine: Engine, n: int, path: Path) -> Guidance:
    user = UserKey("test", "paths", f"user{n}")
    turn = await engine.handle(user, Start())
    asked = []
    for step, ids in path:
        (question,) = [r for r in turn.replies if isinstance(r, Question)]
        asked.append(question.step)
        assert question.step == step
        turn = await engine.handle(user, Choose(ids, question.token))
        assert turn.outcome in (Outcome.ANSWERED, Outcome.FINISHED)
    assert turn.outcome is Outcome.FINISHED
    assert asked == expected_steps(dict(path))
    guidance = next(r for r in turn.replies if isinstance(r, Guidance))
    check_guidance(plaintext.guidance(guidance), dict(path))
    return guidance


def test_the_paths_cover_every_option_of_every_step() -> None:
    chosen = {(s, i) for path in ALL_PATHS for s, ids in path for i in ids}
    every = {(s.id, o.id) for s in FLOW.steps if not s.final for o in s.options}
    assert chosen == every
    assert len(ALL_PATHS) == 3960


@pytest.mark.parametrize("start", range(0, len(ALL_PATHS), 495))
async def test_every_path_reaches_the_guidance_the_flowchart_gives(
    engine: Engine, start: int
) -> None:
    batch = list(enumerate(ALL_PATHS))[start : start + 495]
    for i in range(0, len(batch), 55):
        await asyncio.gather(*(walk(engine, n, path) for n, path in batch[i : i + 55]))


def test_the_oracle_catches_a_wrong_policy() -> None:
    """The rules above must be able to fail: a pupil path's guidance is not a parent's."""
    answers = {
        "role": ("affected",),
        "support": ("continue",),
        "perpetrator": ("pupil",),
        "criteria": ("yes",),
        "police": ("no",),
        "lead": ("no",),
        "types": ("other",),
    }
    from conversation.guidance import build

    text = plaintext.guidance(build(FLOW, answers))
    check_guidance(text, answers)
    with pytest.raises(AssertionError):
        check_guidance(text, {**answers, "perpetrator": ("parent",)})
