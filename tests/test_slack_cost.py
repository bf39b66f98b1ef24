"""What one Slack click costs: Web API calls at the stand-in, Redis commands at a real
redis-server (seen by MONITOR), on the whole conversation as `serve` builds it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from adapters.slack import blocks as slack_blocks
from bot.redis_connection import client
from conversation.messages import Answered, Choice, Question
from conversation.runner import Runner, build
from conversation.storage import Store
from tests.drivers.slack_api import SlackApi
from tests.drivers.slack_user import SlackUser, live_questions, step_of

from .helpers import FLOW, SAMPLE_PATHS
from .school_files import leads_school


@pytest.fixture
def runner(store: Store) -> Runner:
    """Telling and follow-ups on, for a school with a lead: everything a turn may look up.
    (The Slack stand-in, the app and alice are conftest's, over this runner.)"""
    return build(store.redis, prefix=store.keys.prefix, schools=leads_school())


@contextlib.asynccontextmanager
async def monitored(redis_url: str, prefix: str) -> AsyncIterator[list[str]]:
    """Every command Redis runs that names `prefix` (the test's own keys), while inside;
    those a script ran start "lua "."""
    seen: list[str] = []
    watcher = client(redis_url)
    started = asyncio.Event()

    async def watch() -> None:
        async with watcher.monitor() as monitor:
            started.set()
            async for command in monitor.listen():
                if prefix in command["command"]:  # a script's own commands too, as "lua"
                    name = command["command"].partition(" ")[0]
                    seen.append(f"lua {name}" if command.get("client_type") == "lua" else name)

    task = asyncio.create_task(watch())
    await started.wait()
    await asyncio.sleep(0.05)
    try:
        yield seen
    finally:
        await asyncio.sleep(0.1)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await watcher.aclose()


async def test_a_click_makes_one_web_api_call_and_at_most_three_redis_commands(
    alice: SlackUser, api: SlackApi, redis_url: str, prefix: str
) -> None:
    """Every click but the last (which posts the checklist) redraws its own message with the
    next question: one chat.update, no post; the turn's Redis commands stay within three."""
    path = SAMPLE_PATHS["staff and parent, every kind of abuse"]
    await alice.say("hi")
    for step, ids in path[:-1]:
        calls = len(api.calls)
        async with monitored(redis_url, prefix) as seen:
            await alice.answer(*ids)
        assert [c.method for c in api.calls[calls:]] == ["chat.update"], step
        # One request (the commit script), which reads and writes the progress: no lookups of
        # the school or of reports, and the question pointer left as it is.
        assert [c for c in seen if not c.startswith("lua ")] == ["EVALSHA"], (step, seen)
        assert len(seen) <= 3, (step, seen)
    # Only one message has live buttons: the one redrawn, showing every answer so far.
    (live,) = [c for c in api.questions(alice.dm)][-1:]
    assert live_questions(api, alice.dm) == [live.response["ts"]]
    (summary, *_) = live.blocks
    assert summary["block_id"] == slack_blocks.ANSWERS
    for step, ids in path[:-1]:
        title = FLOW.step(step).title
        labels = ", ".join(o.label for o in FLOW.step(step).options if o.id in ids)
        assert f"✓ *{title}*: {labels}" in summary["elements"][0]["text"], step
        assert f"{title}: {labels}" in live.text
    assert step_of(live) == path[-1][0]


def test_the_answers_so_far_keep_within_block_kit_s_limits() -> None:
    """However many answers, the oldest give way: the summary fits one context element."""
    question = Question("role", "t", "Who", "Which?", (Choice("a", "A"),))
    answered = [Answered(f"Step {i} " + "x" * 80, ("An answer " * 10,)) for i in range(200)]
    text, blocks = slack_blocks.in_place(answered, question)
    shown = blocks[0]["elements"][0]["text"]
    assert len(shown) <= 3000 and len(blocks) <= 50 and shown.startswith("…")
    assert "Step 199" in shown and "Step 0 " not in shown and text


async def test_a_message_answered_in_place_keeps_its_answers_when_it_is_closed(
    alice: SlackUser, api: SlackApi
) -> None:
    """Asked again below ("help"), the question redrawn in place loses its buttons, never
    the answers shown above it."""
    await alice.say("hi")
    await alice.answer("start")
    await alice.answer("affected")
    live = alice.question()
    await alice.say("help")
    close = api.updates(alice.dm)[-1]
    assert close.args["ts"] == live.response["ts"] and not close.actions
    assert close.text.endswith(slack_blocks.CLOSED)
    assert (
        "Welcome: Start" in close.text
        and "✓ *Welcome*: Start" in close.blocks[0]["elements"][0]["text"]
    )
    assert live_questions(api, alice.dm) == [alice.question().response["ts"]]
