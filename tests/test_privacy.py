"""Privacy as tests: logs carry no words, answers or raw ids; Redis holds only ids."""

from __future__ import annotations

import logging
import re

import pytest

from bot.logs import JsonFormatter
from conversation import flow
from conversation.engine import Engine
from conversation.messages import Choose, Outcome, Question, Start, UserKey
from conversation.paths import Path
from conversation.storage import Store

from .helpers import ALL_PATHS, check_logs_private, click, typed

FLOW = flow.load()
SECRET_WORDS = "my head of year keeps posting about me on instagram"
USER = UserKey("test", "T0SCHOOL", "U0PRIVATEUSER")


async def test_logs_carry_no_text_answers_or_raw_user_ids(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    turn = await typed(
        engine,
        USER,
        SECRET_WORDS,
        "1",
        "handling",
        "1",
        "pupil and parent",
        "not sure",
        "not sure",
        "yes",
    )
    turn = await click(engine, USER, turn, "calls", "sexual", "content", "other")
    turn = await typed(engine, USER, "back", "1 2 3 4", "1", "1", "1", "2", "help", "stop")
    assert turn.outcome is Outcome.STOPPED
    words = [word for word in SECRET_WORDS.split() if len(word) > 3]
    check_logs_private(caplog.records, words, ids=(USER.user, USER.workspace), turns=15)
    turns = [JsonFormatter().format(r) for r in caplog.records if r.getMessage() == "turn"]
    assert len(turns) >= 15 and all('"user_hash": "' in line for line in turns)


async def test_a_finished_conversation_stores_only_ids_with_expiry(
    engine: Engine, store: Store
) -> None:
    await typed(engine, USER, SECRET_WORDS, "1", "1", "1", "4", "2", "2", "4")
    keys = [k async for k in store.redis.scan_iter(f"{store.keys.prefix}:*")]
    assert keys == [store.keys.user(USER).encode()]
    raw = (await store.redis.get(keys[0])).decode()
    assert re.fullmatch(r"\d+\|\d+\|\d+\|[a-z_]+\|[a-z_=,;]*", raw)
    assert SECRET_WORDS.split()[1] not in raw
    assert await store.redis.ttl(keys[0]) > 0
    await typed(engine, USER, "delete my data")
    assert [k async for k in store.redis.scan_iter(f"{store.keys.prefix}:*")] == []


def _by_questions_asked() -> dict[tuple[str, ...], list[Path]]:
    """Every path of the flow, grouped by the questions it asks in order: a turn line is
    made from the turn's step and outcome only, so two paths asking the same questions log
    the same lines, and the first and last of each group stand for all of it."""
    groups: dict[tuple[str, ...], list[Path]] = {}
    for path in ALL_PATHS:
        groups.setdefault(tuple(step for step, _ in path), []).append(path)
    return groups


async def _logged_steps(
    engine: Engine, user: UserKey, path: Path, caplog: pytest.LogCaptureFixture
) -> list[tuple[str | None, str]]:
    caplog.clear()
    turn = await engine.handle(user, Start())
    for _, ids in path:
        (asked,) = [r for r in turn.replies if isinstance(r, Question)]
        turn = await engine.handle(user, Choose(ids, asked.token))
    assert turn.outcome is Outcome.FINISHED
    lines = [r for r in caplog.records if r.getMessage() == "turn"]
    assert len(lines) == len(path) + 1
    return [(getattr(r, "step", None), r.outcome) for r in lines]


async def test_the_order_of_logged_steps_reveals_no_answer(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """Paths of the same length log the same steps in the same order: a line naming a step
    asked only on some answers, or an always-asked step right after the step that decides
    (perpetrator then police: the perpetrator is unknown), would give the answers away."""
    caplog.set_level(logging.INFO, logger="conversation")
    by_length: dict[int, set[tuple[tuple[str | None, str], ...]]] = {}
    groups = _by_questions_asked()
    assert len(groups) == 16  # perpetrator known or not, times each set of the three branches
    for n, (asked, paths) in enumerate(groups.items()):
        for which, path in enumerate({paths[0], paths[-1]}):
            user = UserKey("test", "T0ORDER", f"U{n}x{which}")
            logged = await _logged_steps(engine, user, path, caplog)
            by_length.setdefault(len(asked), set()).add(tuple(logged))
    assert len(by_length) > 1
    for length, seen in by_length.items():
        assert len(seen) == 1, (length, seen)
    longest = max(by_length.values(), key=lambda seen: len(next(iter(seen))))
    named = [step for step, _ in next(iter(longest)) if step]
    assert named == ["welcome", "role", "support", "perpetrator"]
