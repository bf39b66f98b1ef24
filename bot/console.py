"""The conversation in a terminal: for trying it out, demos and scripted runs."""

from __future__ import annotations

import asyncio
from typing import TextIO

from conversation import plaintext
from conversation.engine import Engine
from conversation.messages import Outcome, Say, Start, Turn, UserKey
from conversation.store import StoreUnavailable

_LEAVE = {Outcome.STOPPED}


async def chat(
    engine: Engine, user_id: str, stdin: TextIO, stdout: TextIO, workspace: str = "local"
) -> int:
    """Talk until the user says stop or input ends; 0 on a normal end, 1 if Redis failed.
    `workspace` stands in for a Slack team or Teams tenant id: it picks the school."""
    user = UserKey("terminal", workspace, user_id)
    interactive = stdin.isatty()
    try:
        turn = await engine.handle(user, Start())
        while True:
            _show(turn, stdout)
            if turn.outcome in _LEAVE:
                return 0
            if interactive:
                stdout.write("> ")
                stdout.flush()
            line = await asyncio.to_thread(stdin.readline)
            if not line:
                return 0
            if not line.strip():
                continue
            turn = await engine.handle(user, Say(line))
    except StoreUnavailable:
        stdout.write(plaintext.render(engine.notice("unavailable")) + "\n")
        return 1


def _show(turn: Turn, stdout: TextIO) -> None:
    if turn.answered:
        stdout.write(f"✓ {turn.answered.title}: {', '.join(turn.answered.chosen)}\n\n")
    for reply in turn.replies:
        stdout.write(plaintext.render(reply) + "\n\n")
    if turn.outcome is Outcome.FINISHED:
        stdout.write("(Type stop, or press Ctrl-D, to leave.)\n\n")
    stdout.flush()
