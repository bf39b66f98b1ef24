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

from .helpers import check_logs_private, click, typed

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
    keys = [k async for k in store.redis.scan_iter(f"{store.prefix}:*")]
    assert keys == [store.key(USER).encode()]
    raw = (await store.redis.get(keys[0])).decode()
    assert re.fullmatch(r"\d+\|\d+\|\d+\|[a-z_]+\|[a-z_=,;]*", raw)
    assert SECRET_WORDS.split()[1] not in raw
    assert await store.redis.ttl(keys[0]) > 0
    await typed(engine, USER, "delete my data")
    assert [k async for k in store.redis.scan_iter(f"{store.prefix}:*")] == []
