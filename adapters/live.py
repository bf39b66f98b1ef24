"""One live question at a time: which earlier question message a turn closes.

Each adapter keeps where the newest question was posted (`Store.remember_message`), as
lines ending with that question's version. A turn that asks a question without answering
the one shown closes it, so that no live buttons are left behind on an older message:
the same question asked again (a greeting, "help", something unclear, a stale click), or
the question "back" or "restart" left. A message whose question was answered meanwhile, by
a turn running at the same moment, has an older version and is left to show its answer.
"""

from __future__ import annotations

from conversation.messages import Outcome, Question, Turn

_MOVED_AWAY = (Outcome.BACK, Outcome.RESTARTED)


def place(where: str, question: Question) -> str:
    """What to remember for a question posted at `where` (the adapter's own reference)."""
    return f"{where}\n{question.version}"


def read(stored: str | None) -> tuple[str, int | None]:
    """The adapter's reference and the question's version (None if stored without one)."""
    where, _, version = (stored or "").rpartition("\n")
    if not version.isdigit():
        return stored or "", None
    return where, int(version)


def closes(turn: Turn, version: int | None) -> bool:
    """Whether the newest question message, asked at `version`, is closed by this turn."""
    asked = [r.version for r in turn.replies if isinstance(r, Question)]
    if turn.answered or not asked or version is None:
        return False
    return version == asked[-1] or (turn.outcome in _MOVED_AWAY and version == asked[-1] - 1)
