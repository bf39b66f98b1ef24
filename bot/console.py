"""The conversation in a terminal: for trying it out, demos and scripted runs.

It behaves as a terminal program should: Ctrl-C, Ctrl-D and `stop` end it at once with one
line (progress is kept in Redis); piped into `head`, it ends quietly; when Redis goes away
it says so and carries on, in the same process, once Redis is back.

Input is read in the main thread between turns, and each turn runs on one event loop kept
for the whole chat: Ctrl-C then interrupts whichever is happening, at once. (A read on a
worker thread, as before, left Ctrl-C waiting for Enter.)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from typing import TextIO

from conversation import plaintext
from conversation.engine import Engine
from conversation.messages import Input, Outcome, Say, Start, Turn, UserKey
from conversation.store import StoreUnavailable

from .config import Settings

PLATFORM = "terminal"
"""The user's platform name, which is also the surface the flow data words things for."""

INTERRUPTED = 130
"""The exit status of a program ended by Ctrl-C, as shells expect."""


def run(
    settings: Settings, user_id: str, stdin: TextIO, stdout: TextIO, workspace: str = "local"
) -> int:
    """Talk until the user stops, presses Ctrl-C or Ctrl-D, or input ends. `workspace`
    stands in for a Slack team or Teams tenant id: it picks the school."""
    from .runtime import running_engine

    with asyncio.Runner() as runner:
        resources = contextlib.AsyncExitStack()
        try:
            engine = runner.run(resources.enter_async_context(running_engine(settings)))
            return Chat(runner, engine, UserKey(PLATFORM, workspace, user_id), stdin, stdout).talk()
        except KeyboardInterrupt:  # while starting: nothing to say yet
            return INTERRUPTED
        finally:
            # The embedded server, if any, is stopped here by the bot itself: it never
            # sees the terminal's Ctrl-C (see redis_connection.embedded).
            with contextlib.suppress(KeyboardInterrupt):
                runner.run(resources.aclose())


class Chat:
    def __init__(
        self, runner: asyncio.Runner, engine: Engine, user: UserKey, stdin: TextIO, stdout: TextIO
    ) -> None:
        self.runner = runner
        self.engine = engine
        self.user = user
        # Notices worded for this user's school and for the terminal.
        self.speaker = engine.for_user(user).on(PLATFORM)
        self.stdin = stdin
        self.stdout = stdout
        self.interactive = stdin.isatty()

    def talk(self) -> int:
        try:
            return self._talk()
        except KeyboardInterrupt:
            self._leave()
            return INTERRUPTED
        except BrokenPipeError:
            # Piped into `head`, which has read all it wants: end quietly. Output now goes
            # nowhere, so that Python's last flush at exit does not complain either.
            os.dup2(os.open(os.devnull, os.O_WRONLY), self.stdout.fileno())
            return 0

    def _talk(self) -> int:
        self._turn(Start())
        while True:
            line = self._read()
            if line is None:  # Ctrl-D, or the end of piped input
                self._leave()
                return 0
            if not line.strip():
                continue  # an empty line: nothing to answer, nothing to re-print
            if self._turn(Say(line)) is Outcome.STOPPED:
                return 0

    def _turn(self, inp: Input) -> Outcome | None:
        try:
            turn = self.runner.run(self.engine.handle(self.user, inp))
        except StoreUnavailable:
            # Redis is away: say so, and wait for the next answer, which may find it back.
            self._write(plaintext.render(self.speaker.notice("unavailable")) + "\n\n")
            return None
        self._show(turn)
        return turn.outcome

    def _read(self) -> str | None:
        if not self.interactive:
            return self.stdin.readline() or None
        self._write("> ")
        line = self.stdin.readline()
        return line or None

    def _leave(self) -> None:
        """One short line: the chat ends, and the answers are kept."""
        newline = "\n" if self.interactive else ""  # after Ctrl-D or ^C, on a line of its own
        self._write(newline + plaintext.render(self.speaker.notice("stopped")) + "\n")

    def _show(self, turn: Turn) -> None:
        out = []
        if turn.answered:
            out.append(f"✓ {turn.answered.title}: {', '.join(turn.answered.chosen)}\n\n")
        out += [plaintext.render(reply) + "\n\n" for reply in turn.replies]
        if turn.outcome is Outcome.FINISHED:
            out.append("(Type stop, or press Ctrl-D, to leave.)\n\n")
        self._write("".join(out))

    def _write(self, text: str) -> None:
        self.stdout.write(shown(text))
        self.stdout.flush()


_OBEYED = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)
"""Characters a terminal obeys rather than shows: control codes (an escape that clears the
screen or moves the cursor, a carriage return), and the bidirectional controls that
reverse text. Line breaks and tabs are kept."""


def shown(text: str) -> str:
    """Text as the terminal should show it: each character it would obey written as its code."""
    return _OBEYED.sub(lambda m: f"\\u{ord(m[0]):04x}", text)
