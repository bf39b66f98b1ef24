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
from collections.abc import Sequence
from typing import TextIO

from conversation import plaintext
from conversation.messages import Answered, Closed, Input, Outcome, Reply, Say, Start, UserKey
from conversation.runner import Runner
from conversation.storage import BadId
from conversation.storage.keys import check_part

from .config import ConfigError, Settings

PLATFORM = "terminal"
"""The user's platform name, which is also the surface the flow data words things for."""

INTERRUPTED = 130
"""The exit status of a program ended by Ctrl-C, as shells expect."""


def run(
    settings: Settings, user_id: str, stdin: TextIO, stdout: TextIO, workspace: str = "local"
) -> int:
    """Talk until the user stops, presses Ctrl-C or Ctrl-D, or input ends. `workspace`
    stands in for a Slack team or Teams tenant id: it picks the school."""
    from .runtime import running

    try:
        user = UserKey(PLATFORM, check_part(workspace), check_part(user_id))
    except BadId:
        raise ConfigError("--user: letters, digits, - and _ only (no spaces, : { } * ?)") from None
    with asyncio.Runner() as loop:
        resources = contextlib.AsyncExitStack()
        try:
            runner = loop.run(resources.enter_async_context(running(settings)))
            return Chat(loop, runner, user, stdin, stdout).talk()
        except KeyboardInterrupt:  # while starting: nothing to say yet
            return INTERRUPTED
        finally:
            # The embedded server, if any, is stopped here by the bot itself: it never
            # sees the terminal's Ctrl-C (see redis_connection.embedded).
            with contextlib.suppress(KeyboardInterrupt):
                loop.run(resources.aclose())


class Screen:
    """The terminal's outbox: replies printed in order, an answer shown as a tick line; there
    is nobody else to send to, and nothing printed can be changed."""

    WHERE = "screen"

    def __init__(self, stdout: TextIO) -> None:
        self.stdout = stdout

    def here(self, where: str) -> bool:
        return where == self.WHERE

    def origin(self, newest: str | None) -> str | None:
        return self.WHERE

    async def reply(self, replies: Sequence[Reply]) -> list[str | None]:
        self.write("".join(plaintext.render(reply) + "\n\n" for reply in replies))
        return [None] * len(replies)

    async def send(self, to: UserKey, reply: Reply) -> str | None:
        return None

    async def update(self, where: str, shown: Reply | Answered | Closed) -> bool:
        if isinstance(shown, Answered):  # printed before the replies: the same turn's
            self.write(f"✓ {shown.title}: {', '.join(shown.chosen)}\n\n")
        return False

    def write(self, text: str) -> None:
        self.stdout.write(shown(text))
        self.stdout.flush()


class Chat:
    def __init__(
        self, loop: asyncio.Runner, runner: Runner, user: UserKey, stdin: TextIO, stdout: TextIO
    ) -> None:
        self.loop = loop
        self.runner = runner
        self.user = user
        # Notices worded for this user's school and for the terminal.
        self.view = runner.views.for_user(user)
        self.stdin = stdin
        self.stdout = stdout
        self.screen = Screen(stdout)
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
        self._turn(Start(fresh=True))  # a new terminal: nothing of the chat is on screen
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
        # Redis away: the runner says so, and the next answer may find it back.
        turn = self.loop.run(self.runner.run(self.user, inp, self.screen))
        if turn is not None and turn.outcome is Outcome.FINISHED:
            self._write("(Type stop, or press Ctrl-D, to leave.)\n\n")
        return turn.outcome if turn else None

    def _read(self) -> str | None:
        if not self.interactive:
            return self.stdin.readline() or None
        self._write("> ")
        line = self.stdin.readline()
        return line or None

    def _leave(self) -> None:
        """One short line: the chat ends, and the answers are kept."""
        newline = "\n" if self.interactive else ""  # after Ctrl-D or ^C, on a line of its own
        self._write(newline + plaintext.render(self.view.notice("stopped")) + "\n")

    def _write(self, text: str) -> None:
        self.screen.write(text)


_OBEYED = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)
"""Characters a terminal obeys rather than shows: control codes (an escape that clears the
screen or moves the cursor, a carriage return), and the bidirectional controls that
reverse text. Line breaks and tabs are kept."""


def shown(text: str) -> str:
    """Text as the terminal should show it: each character it would obey written as its code."""
    return _OBEYED.sub(lambda m: f"\\u{ord(m[0]):04x}", text)
