"""Typed text is read in time linear in its length, whatever anyone sends.

Every pattern that sees what a user typed is run here against adversarial input: a
backtracking pattern once let one 144-character message hold the event loop for seconds.
"""

from __future__ import annotations

import time

from hypothesis import given, settings
from hypothesis import strategies as st

from conversation import flow, typed

FLOW = flow.load()
BOUND = 0.005
"""Seconds of CPU for reading one message against every step: far above a linear reader's
tens of microseconds, far below what exponential backtracking takes on such input."""

# Fragments that drive a backtracking matcher hardest: numbers, separators and the words
# the options are named by, in any order, up to the length a message is cut to.
_FRAGMENTS = st.sampled_from(
    ["1", "2", "12", "999", " ", "  ", ",", ", ", "and", " and ", "and ", "not", "sure", "x"]
    + [w for s in FLOW.steps for o in s.options for w in (o.label, *o.words)]
)
_ADVERSARIAL = st.lists(_FRAGMENTS, max_size=120).map("".join)


def _cost(text: str) -> float:
    """The least CPU time of three readings of `text` against every step, as every turn does."""
    best = float("inf")
    for _ in range(3):
        started = time.thread_time()
        typed.command(text)
        for step in FLOW.steps:
            typed.options(step, text)
        best = min(best, time.thread_time() - started)
    return best


def _in_time(text: str) -> bool:
    """Read within BOUND, or, on a machine too busy for that, within 50 times what plain
    text of the same length costs measured beside it: a linear reader stays under 10x,
    backtracking costs thousands of times more. (A shared CI machine once took 9 ms.)"""
    cost = _cost(text)
    return cost < BOUND or cost < 50 * _cost("x" * len(text))


def test_repeated_and_is_read_at_once() -> None:
    for repeats in (24, 50, 200):
        assert _in_time("1 and " * repeats), repeats
        assert _in_time("1 and " * repeats + "x"), repeats


@settings(max_examples=300, deadline=None)
@given(_ADVERSARIAL)
def test_any_text_is_read_in_well_under_a_millisecond_per_step(text: str) -> None:
    assert _in_time(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_any_unicode_is_read_in_time(text: str) -> None:
    assert _in_time(text)


def test_numbers_are_read_as_before() -> None:
    perpetrator = FLOW.step("perpetrator")
    assert typed.options(perpetrator, "2") == ("pupil",)
    assert typed.options(perpetrator, "1,3") == ("staff", "parent")
    assert typed.options(perpetrator, "1 3") == ("staff", "parent")
    assert typed.options(perpetrator, "1 and 3") == ("staff", "parent")
    assert typed.options(perpetrator, "1, 2, and 3") == ("staff", "pupil", "parent")
    for nonsense in ("1,,3", "1,", "1 and", "and 1", "1 and and 3", "1234", "9"):
        assert typed.options(perpetrator, nonsense) == (), nonsense
