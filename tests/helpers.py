"""Small helpers for driving the engine the way a user would."""

from __future__ import annotations

from conversation import flow
from conversation.engine import Engine
from conversation.messages import Choose, Question, Say, Turn, UserKey
from conversation.paths import Path, paths

FLOW = flow.load()
ALL_PATHS = list(paths(FLOW))


def path_where(**want: tuple[str, ...]) -> Path:
    """The first path through the flowchart with these answers."""
    return next(p for p in ALL_PATHS if all(dict(p).get(k) == v for k, v in want.items()))


SAMPLE_PATHS = {
    "unknown perpetrator, harmful content": path_where(
        perpetrator=("unknown",), types=("content",), police=("yes",)
    ),
    "staff and parent, every kind of abuse": path_where(
        perpetrator=("staff", "parent"), types=("calls", "sexual", "content", "other")
    ),
    "for a colleague who is the head": path_where(
        role=("handling",), lead=("yes",), criteria=("not_sure",), types=("other",)
    ),
    "a pupil, sexual harassment, police not sure": path_where(
        perpetrator=("pupil",), police=("not_sure",), types=("sexual",)
    ),
}
"""A few paths that between them take every kind of branch, for the platform tests."""


def question(turn: Turn) -> Question:
    (q,) = [r for r in turn.replies if isinstance(r, Question)]
    return q


async def click(engine: Engine, user: UserKey, turn: Turn, *ids: str) -> Turn:
    return await engine.handle(user, Choose(ids, question(turn).token))


async def typed(engine: Engine, user: UserKey, *lines: str) -> Turn:
    turn = None
    for line in lines:
        turn = await engine.handle(user, Say(line))
    assert turn is not None
    return turn
