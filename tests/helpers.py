"""Small helpers for driving the engine the way a user would."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path as FilePath

import aiohttp

from bot.local_redis import free_port
from bot.logs import JsonFormatter
from conversation import flow
from conversation.engine import Engine
from conversation.messages import Choose, Question, Say, Turn, UserKey
from conversation.paths import Path, paths

ROOT = FilePath(__file__).resolve().parents[1]
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


OUR_LOGGERS = ("adapters", "bot", "conversation", "transitions")


async def stored(redis, prefix: str) -> list[bytes]:
    """Every key under a test's prefix."""
    return sorted([k async for k in redis.scan_iter(f"{prefix}:*")])


async def check_all_expire(redis, prefix: str) -> None:
    """The user's progress, question pointer and recent deliveries are all there, and
    every key the bot wrote will expire."""
    keys = await stored(redis, prefix)
    assert sorted(k.rpartition(b"}")[2] for k in keys) == [b"", b":msg", b":seen"], keys
    for key in keys:
        assert await redis.ttl(key) > 0, key


def option_words() -> set[str]:
    """Every option id and label, which a log line of ours must never contain."""
    words = {o.label.casefold() for s in FLOW.steps for o in s.options}
    words |= {o.id for s in FLOW.steps for o in s.options}
    return words


def check_logs_private(
    records: list[logging.LogRecord], typed_words: Iterable[str], ids: Iterable[str], turns: int
) -> None:
    """No word the user typed and no raw id in any line of any logger, at least `turns`
    lines of our own, and none of ours naming an option (libraries may say "yes" of
    themselves)."""
    everything = "\n".join(f"{r.name} {r.getMessage()} {r.__dict__}" for r in records)
    for word in (*typed_words, *ids):
        assert word.casefold() not in everything.casefold(), word
    ours = [r for r in records if r.name.split(".")[0] in OUR_LOGGERS]
    assert len(ours) >= turns
    lines = "\n".join(JsonFormatter().format(r) for r in ours).casefold()
    for word in option_words():
        assert not re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", lines), word


async def wait_until_up(session: aiohttp.ClientSession, url: str) -> None:
    """Until a `serve` process answers /healthz (20 s at most)."""
    deadline = time.monotonic() + 20
    while True:
        try:
            async with session.get(f"{url}/healthz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientConnectionError:
            pass
        assert time.monotonic() < deadline, "serve did not start"
        await asyncio.sleep(0.05)


@dataclass
class Served:
    url: str
    proc: subprocess.Popen
    stderr: str = ""
    """What the process logged, once it has stopped."""


@contextlib.asynccontextmanager
async def serving(
    session: aiohttp.ClientSession, env: dict[str, str], inherit: bool = True
) -> AsyncIterator[Served]:
    """`python -m bot serve` as an admin runs it, on a free port with `env` added to the
    shell's (without `inherit`, exactly `env`); stopped with SIGTERM afterwards."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=FilePath(__file__).resolve().parents[1],
        env={**os.environ, **env} if inherit else env,
        stderr=subprocess.PIPE,
        text=True,
    )
    served = Served(f"http://127.0.0.1:{port}", proc)
    try:
        await wait_until_up(session, served.url)
        yield served
    finally:
        proc.terminate()
        served.stderr = proc.communicate(timeout=15)[1]


WHOLE_PATH = "1\n2\n1\n2,3\n1\n1\n2\n1,3\n1\n1\n"
"""Typed into `python -m bot chat`: a whole path, by numbers, to the checklist."""


def run_bot(
    *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """`python -m bot ARGS` as an admin runs it, with `env` added to an environment that
    names no Redis, data folder or school file of its own (the test says which)."""
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in ("REDIS_URL", "BOT_DATA_DIR", "SCHOOL_CONFIG")
    }
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**base, **(env or {})},
    )
