"""Small helpers for driving the engine the way a user would."""

from __future__ import annotations

from conversation.engine import Engine
from conversation.messages import Choose, Question, Say, Turn, UserKey


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
