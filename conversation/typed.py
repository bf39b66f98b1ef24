"""Typed answers: commands, option numbers ("2", "1,3", "1 and 3") and option words.

Typing must work everywhere (screen readers, mobile, the terminal), so every option can
be answered by its number, its id, its label or one of its `words` from the flow data.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

from .flow import Step
from .messages import Command

MAX_TYPED = 300
"""Longer input is cut before matching: nobody answers a question in an essay."""

_COMMANDS = {
    "back": Command.BACK,
    "go back": Command.BACK,
    "previous": Command.BACK,
    "restart": Command.RESTART,
    "start again": Command.RESTART,
    "start over": Command.RESTART,
    "help": Command.HELP,
    "?": Command.HELP,
    "stop": Command.STOP,
    "pause": Command.STOP,
    "quit": Command.STOP,
    "delete my data": Command.DELETE,
    "delete my answers": Command.DELETE,
    "delete": Command.DELETE,
}
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text[:MAX_TYPED]).translate(_QUOTES).casefold()
    return " ".join(text.split()).strip(" .!")


def command(text: str) -> Command | None:
    return _COMMANDS.get(normalise(text))


def options(step: Step, text: str) -> tuple[str, ...]:
    """The option ids the text names, in the step's order; empty when it names none."""
    said = normalise(text)
    numbers = _numbers(said)
    if numbers is not None:
        if not all(1 <= n <= len(step.options) for n in numbers):
            return ()
        return tuple(o.id for i, o in enumerate(step.options, 1) if i in numbers)
    found: set[str] = set()
    # Longest phrases first, each blanked out once matched, so "it does not" is not
    # also read as "it does", nor "not sure" as "no".
    for pattern, option_id in _phrases(step):
        said, hits = pattern.subn(" ", said)
        if hits:
            found.add(option_id)
    return tuple(o.id for o in step.options if o.id in found)


def _numbers(said: str) -> set[int] | None:
    """The option numbers in "2", "1,3", "1 3", "1 and 3" or "1, 2, and 3"; None for
    anything else.

    Read token by token, in one pass: a regular expression with a repeated group here
    once backtracked exponentially, so that "1 and " * 24 held the event loop for seconds.
    """
    tokens = said.replace(",", " , ").split()
    numbers: set[int] = set()
    at = 0
    while at < len(tokens):
        if not (tokens[at].isdecimal() and len(tokens[at]) <= 3):
            return None
        numbers.add(int(tokens[at]))
        at += 1
        if at == len(tokens):
            return numbers
        if tokens[at] == ",":
            at += 1
        if at < len(tokens) and tokens[at] == "and":
            at += 1
    return None


@cache
def _phrases(step: Step) -> list[tuple[re.Pattern[str], str]]:
    pairs = {
        normalise(phrase): option.id
        for option in step.options
        for phrase in (option.id.replace("_", " "), option.label, *option.words)
    }
    return [
        (re.compile(rf"(?<!\w){re.escape(phrase)}(?!\w)"), option_id)
        for phrase, option_id in sorted(pairs.items(), key=lambda pair: -len(pair[0]))
    ]
