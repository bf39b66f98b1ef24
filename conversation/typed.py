"""Typed answers: commands, greetings, option numbers ("2", "1,3", "1 and 3") and words.

Typing must work everywhere (screen readers, mobile, the terminal), so every option can
be answered by its number, its id, its label or one of its `words` from the flow data.
People type fast and on phones, so a slip ("parnet", "hlep", "sexaul harrasment") still
counts: rapidfuzz measures each typed word against the known ones, and a word within a
few edits (fewer for short words, none for words of three letters) counts as that word.
Anything not understood is reported back, never silently dropped.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache

from rapidfuzz import process
from rapidfuzz.distance import OSA

from .flow import Step
from .messages import Command

MAX_TYPED = 300
"""Longer input is cut before matching: nobody answers a question in an essay."""

LONG = 200
"""Characters. Longer text is an account of what happened, not an answer: none of it is
read as one (an account of a call to the police would otherwise answer "Yes")."""

_COMMANDS = {
    "back": Command.BACK,
    "go back": Command.BACK,
    "previous": Command.BACK,
    "restart": Command.RESTART,
    "start again": Command.RESTART,
    "start over": Command.RESTART,
    "help": Command.HELP,
    "help me": Command.HELP,
    "?": Command.HELP,
    "stop": Command.STOP,
    "pause": Command.STOP,
    "quit": Command.STOP,
    "exit": Command.STOP,
    "delete my data": Command.DELETE,
    "delete my answers": Command.DELETE,
    "delete": Command.DELETE,
    "status": Command.STATUS,
    "my report": Command.STATUS,
}
GREETINGS = frozenset(
    {
        "hi",
        "hii",
        "hiya",
        "hello",
        "hallo",
        "hey",
        "heya",
        "hi there",
        "hello there",
        "hey there",
        "good morning",
        "good afternoon",
        "good evening",
        "morning",
        "start",
        "report-harassment",
        "/report-harassment",
        "report harassment",
    }
)
"""What people type to begin, or after the welcome a platform showed on install: it shows
where they are, never "didn't catch that". Includes the bot's command name, typed."""

_FUZZY_COMMANDS = tuple(c for c in _COMMANDS if len(c) > 3)
_GREETING_WORDS = tuple(sorted(g for g in GREETINGS if " " not in g))
_FILLER = frozenset(
    {
        "a",
        "an",
        "the",
        "i",
        "im",
        "think",
        "it",
        "its",
        "was",
        "is",
        "are",
        "were",
        "also",
        "too",
        "both",
        "maybe",
        "probably",
        "please",
        "thanks",
        "thank",
        "you",
        "of",
        "them",
        "they",
        "my",
        "on",
        "in",
        "so",
        "well",
        "um",
        "erm",
        "like",
        "just",
        "really",
        "some",
        "those",
        "these",
        "that",
        "this",
    }
)
"""Words that, left over once the options are found, leave nothing unsaid."""

_SEPARATORS = re.compile(r"(?:[,;/+&]|(?<!\w)(?:and|plus|also|as well as)(?!\w))")
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})
_SHOWN = re.compile(r"[^\w '-]")


_REFERENCE_WORDS = frozenset({"reference", "ref", "references", "add reference"})
REFERENCE_KINDS = {
    "platform": ("platform", "platform report", "app", "site", "website", "social media"),
    "police": ("police", "crime", "crime number", "police crime", "crime reference"),
    "phone": ("phone", "phone company", "phone network", "mobile", "network", "operator"),
    "rhc": ("rhc", "report harmful content", "harmful content"),
}
"""The kinds of reference a record keeps, and the words each is typed as."""
REFERENCE_VALUE = re.compile(r"[A-Za-z0-9/-]+")
REFERENCE_MAX = 32


@dataclass(frozen=True, slots=True)
class TypedReference:
    """A reference number typed for the record: `kind` (a `REFERENCE_KINDS` key) and the
    reference itself, or `problem` saying why it cannot be kept ("how": nothing after the
    word; "kind": no known kind; "missing": no reference; "characters": anything but
    letters, digits, - and /; "long": over `REFERENCE_MAX` characters). Never stored as
    typed, never logged: telling seals `value` into the record."""

    kind: str = ""
    value: str = ""
    problem: str = ""


def reference(text: str) -> TypedReference | None:
    """`reference police 12/3456/26` (or `ref ...`) read, or None when the text is not one."""
    words = unicodedata.normalize("NFKC", text[:MAX_TYPED]).split()
    lead = 2 if " ".join(words[:2]).casefold() == "add reference" else 1
    if not words or " ".join(words[:lead]).casefold() not in _REFERENCE_WORDS:
        return None
    rest = words[lead:]
    if not rest:
        return TypedReference(problem="how")
    for size in (3, 2, 1):
        said = " ".join(rest[:size]).casefold()
        kind = next((k for k, names in REFERENCE_KINDS.items() if said in names), "")
        if kind:
            break
    else:
        return TypedReference(problem="kind")
    value = rest[size:]
    if not value:
        return TypedReference(kind, problem="missing")
    if len(value) > 1 or not REFERENCE_VALUE.fullmatch(value[0]) or not value[0].isascii():
        return TypedReference(kind, problem="characters")
    if len(value[0]) > REFERENCE_MAX:
        return TypedReference(kind, problem="long")
    return TypedReference(kind, value[0])


def edits(length: int) -> int:
    """How many slips a word of `length` characters may have and still count: none up to
    three letters ("yes" is not "yet"), one up to seven, two beyond."""
    return 0 if length <= 3 else 1 if length <= 7 else 2


@dataclass(frozen=True, slots=True)
class Reading:
    """What typed text says to one step. `unread` parts go back to the user who typed them,
    to say what was not understood; they are never stored or logged."""

    options: tuple[str, ...] = ()
    """Option ids understood, in the step's order."""
    unread: tuple[str, ...] = ()
    long: bool = False
    """An account rather than an answer: nothing in it was read."""


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text[:MAX_TYPED]).translate(_QUOTES).casefold()
    # "don't" and "dont", "i'm" and "im" are the same answer.
    return " ".join(text.replace("'", "").split()).strip(" .!")


def command(text: str) -> Command | None:
    """The command the text names exactly."""
    return _COMMANDS.get(normalise(text))


def nearly_command(text: str) -> Command | None:
    """The command the text names with one slip ("hlep", "restrat"); asked only once the
    text has answered nothing, so a typo never outranks an answer."""
    said = normalise(text)
    hit = _closest(said, _FUZZY_COMMANDS, cap=1)
    return _COMMANDS[hit] if hit else None


def greeting(text: str) -> bool:
    """Hello, hi there, start, report-harassment..."""
    return normalise(text).strip(",?! ") in GREETINGS


def nearly_greeting(text: str) -> bool:
    """A greeting with a slip ("helo"), or a short message opening with one ("hi, can
    you help"); asked only once the text has answered nothing."""
    words = normalise(text).replace(",", " ").strip("?! ").split()
    if not words or len(words) > 6:
        return False
    return words[0] in _GREETING_WORDS or _closest(words[0], _GREETING_WORDS, cap=1) != ""


def read(step: Step, text: str) -> Reading:
    """Which of the step's options the text names, and what in it was not understood."""
    if len(" ".join(text.split())) > LONG:
        return Reading(long=True)
    said = normalise(text)
    numbers = _numbers(said)
    if numbers is not None:
        if not all(1 <= n <= len(step.options) for n in numbers):
            return Reading(unread=(said,))
        return Reading(tuple(o.id for i, o in enumerate(step.options, 1) if i in numbers))
    # A label typed out in full, with slips: before its words are read one by one ("im
    # handling this for a colelague" would otherwise also say "im", which is "I'm" affected).
    if label := _closest(said, tuple(_labels(step))):
        return Reading((_labels(step)[label],))
    found, rest = _exact(step, said)
    if found and not step.multi:
        return Reading(_ordered(step, found))
    unread = []
    for part in _SEPARATORS.split(rest):
        words = part.split()
        # What is left of a label once its option was found ("harmful" of "harmful
        # content", even as "harmfull") says nothing more.
        labels = tuple(w for o in found for w in _label_words(step, o))
        if all(w in _FILLER or w in labels or _closest(w, labels) for w in words):
            continue
        hits = _nearly(step, words)
        found |= hits
        if not hits:
            unread.append(" ".join(words))
    if not step.multi and len(found) != 1:
        return Reading(unread=tuple(unread) or (said,))
    return Reading(_ordered(step, found), tuple(unread))


def options(step: Step, text: str) -> tuple[str, ...]:
    """The option ids the text names, in the step's order; empty unless all of it is
    understood."""
    reading = read(step, text)
    return () if reading.unread else reading.options


def shown(part: str, limit: int = 40) -> str:
    """A part not understood, fit to quote back: no markup, and short."""
    text = " ".join(_SHOWN.sub(" ", part).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _exact(step: Step, said: str) -> tuple[set[str], str]:
    """Options named word for word, and the text with those names cut out.

    Longest phrases first, each blanked out once matched, so "it does not" is not also
    read as "it does", nor "not sure" as "no".
    """
    found: set[str] = set()
    for pattern, option_id in _phrases(step):
        said, hits = pattern.subn(" , ", said)
        if hits:
            found.add(option_id)
    return found, said


def _nearly(step: Step, words: list[str]) -> set[str]:
    """Options named with slips in this part of the text: each run of words as long as a
    known phrase is compared with it, and the whole part with each label."""
    hits: set[str] = set()
    taken: set[int] = set()
    # Longest phrases first, and each word read once: "it deos not" is "it does not",
    # not also "it does".
    for size, (phrases, names) in sorted(_fuzzy_index(step).items(), reverse=True):
        for at in range(len(words) - size + 1):
            span = set(range(at, at + size))
            if span & taken:
                continue
            hit = _closest(" ".join(words[at : at + size]), phrases)
            if hit:
                hits.add(names[hit])
                taken |= span
    return hits


def _closest(said: str, known: tuple[str, ...], cap: int = 2) -> str:
    """The one known phrase `said` is a slip of (at most `edits`, and `cap`), or ""; a
    slip as close to two phrases is neither."""
    allowed = min(cap, edits(len(said)))
    if not allowed:
        return ""
    matches = process.extract(said, known, scorer=OSA.distance, score_cutoff=allowed, limit=None)
    matches = [(p, d) for p, d, _ in matches if d <= edits(len(p))]
    if not matches:
        return ""
    best = min(d for _, d in matches)
    closest = [p for p, d in matches if d == best]
    return closest[0] if len(closest) == 1 else ""


def _ordered(step: Step, found: set[str]) -> tuple[str, ...]:
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


def _names(step: Step) -> dict[str, str]:
    """Every phrase that names an option, normalised, to that option's id."""
    return {
        normalise(phrase): option.id
        for option in step.options
        for phrase in (option.id.replace("_", " "), option.label, *option.words)
    }


@cache
def _phrases(step: Step) -> list[tuple[re.Pattern[str], str]]:
    return [
        (re.compile(rf"(?<!\w){re.escape(phrase)}(?!\w)"), option_id)
        for phrase, option_id in sorted(_names(step).items(), key=lambda pair: -len(pair[0]))
    ]


@cache
def _labels(step: Step) -> dict[str, str]:
    return {normalise(o.label): o.id for o in step.options if len(o.label.split()) > 1}


@cache
def _label_words(step: Step, option_id: str) -> tuple[str, ...]:
    option = step.option(option_id)
    return tuple(normalise(option.label).split()) if option else ()


@cache
def _fuzzy_index(step: Step) -> dict[int, tuple[tuple[str, ...], dict[str, str]]]:
    """The phrases long enough to be mistyped, by their number of words."""
    index: dict[int, dict[str, str]] = {}
    for phrase, option_id in _names(step).items():
        if len(phrase) > 3:
            index.setdefault(len(phrase.split()), {})[phrase] = option_id
    return {size: (tuple(names), names) for size, names in index.items()}
