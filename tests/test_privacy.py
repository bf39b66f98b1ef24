"""Privacy as tests: logs carry no words, answers or raw ids; Redis holds only ids."""

from __future__ import annotations

import logging
import re

import pytest

from bot.logs import JsonFormatter
from conversation import flow
from conversation.engine import Engine
from conversation.messages import Outcome, UserKey
from conversation.store import Store

from .helpers import click, typed

FLOW = flow.load()
SECRET_WORDS = "my head of year keeps posting about me on instagram"
USER = UserKey("test", "T0SCHOOL", "U0PRIVATEUSER")


def forbidden() -> set[str]:
    """Every option id and label, which a log line must never contain."""
    words = {o.label.casefold() for s in FLOW.steps for o in s.options}
    words |= {o.id for s in FLOW.steps for o in s.options}
    return words


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
    lines = [JsonFormatter().format(r) for r in caplog.records]
    turns = [line for line in lines if '"event": "turn"' in line]
    assert len(turns) >= 15
    everything = "\n".join(lines).casefold()  # every logger, at DEBUG
    for word in SECRET_WORDS.split():
        if len(word) > 3:
            assert word not in everything
    assert "u0privateuser" not in everything and "t0school" not in everything
    # Our own lines name no option: libraries may say "unknown" or "yes" of themselves.
    ours = "\n".join(
        JsonFormatter().format(r)
        for r in caplog.records
        if r.name.split(".")[0] in ("conversation", "bot", "adapters", "transitions")
    ).casefold()
    for word in forbidden():
        assert not re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", ours), word
    assert all('"user_hash": "' in line for line in turns)


async def test_a_finished_conversation_stores_only_ids_with_expiry(
    engine: Engine, store: Store
) -> None:
    await typed(engine, USER, SECRET_WORDS, "1", "1", "1", "4", "2", "2", "4")
    keys = [k async for k in store.redis.scan_iter(f"{store.prefix}:*")]
    assert keys == [store.key(USER).encode()]
    raw = (await store.redis.get(keys[0])).decode()
    assert re.fullmatch(r"\d+\|\d+\|\d+\|[a-z_]+\|[a-z_=,;]*", raw)
    assert SECRET_WORDS.split()[1] not in raw
    assert await store.redis.ttl(keys[0]) > 0
    await typed(engine, USER, "delete my data")
    assert [k async for k in store.redis.scan_iter(f"{store.prefix}:*")] == []
