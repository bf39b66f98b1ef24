"""Every reply the bot can send, worked out from the flow data without Redis or a platform.

The engine's `decide` is pure, so walking it through every path of the flowchart gives every
question (each step, both roles, every wording its earlier answers select), every checklist
and every answered question; the notices come from the flow data. The card validation test
and `python -m bot preview` both read these, so a new step or notice is checked and shown
without anyone listing it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

from conversation.engine import decide
from conversation.flow import Flow
from conversation.messages import Answered, Choose, Guidance, Notice, Question, Reply, Start
from conversation.paths import Path, paths
from conversation.progress import Progress
from conversation.views import View

STARTED = 1_767_225_600.0
"""A fixed clock (1 January 2026), so that samples, and their tokens, are the same each run."""

NOTICE_VALUES = {
    "step": "Support",
    "option": "Not known",
    "understood": "A pupil",
    "unread": "someone else",
    "numbers": "2",
}
"""Example values for every placeholder a notice may have (unused ones are ignored)."""


@dataclass(frozen=True, slots=True)
class Said:
    """One turn of a sample conversation: what the person did, and what the bot showed."""

    did: str
    replies: tuple[Reply, ...]
    answered: Answered | None = None
    step: str = "start"
    """The step answered ("start" for the first message)."""


def view(flow: Flow, ttl_days: int = 30) -> View:
    """The flow as a reader sees it: all `decide` needs, without Redis or a platform."""
    return View.of(flow, ttl_days=ttl_days)


def walk(seen: View, path: Path) -> Iterator[Said]:
    """The conversation along one path, turn by turn, from the first message."""
    turn, change = decide(seen, None, Start(), STARTED)
    progress = change if isinstance(change, Progress) else None
    yield Said("sends a first message", turn.replies)
    for step, ids in path:
        assert progress is not None and progress.step == step
        turn, change = decide(seen, progress, Choose(ids, progress.token), STARTED)
        labels = [o.label for o in seen.flow.step(step).options if o.id in ids]
        yield Said(f"chooses {', '.join(labels)}", turn.replies, turn.answered, step)
        progress = change if isinstance(change, Progress) else progress


def notices(seen: View) -> Iterator[tuple[str, Notice]]:
    for name in seen.flow.notices:
        yield name, seen.notice(name, **NOTICE_VALUES)


@dataclass(frozen=True, slots=True)
class Every:
    """Each distinct reply once (tokens aside), in the order a conversation first meets it."""

    questions: tuple[Question, ...]
    checklists: tuple[Guidance, ...]
    answered: tuple[Answered, ...]
    notices: tuple[tuple[str, Notice], ...]


def every(flow: Flow) -> Every:
    """Every reply along every path of the flowchart (a few seconds: some thousand paths)."""
    decider = view(flow)
    questions: dict[Question, Question] = {}
    checklists: dict[Guidance, None] = {}
    answered: dict[Answered, None] = {}
    for path in paths(flow):
        for said in walk(decider, path):
            for reply in said.replies:
                if isinstance(reply, Question):
                    questions.setdefault(replace(reply, token="", version=0), reply)
                elif isinstance(reply, Guidance):
                    checklists[reply] = None
            if said.answered:
                answered[said.answered] = None
    return Every(
        tuple(questions.values()), tuple(checklists), tuple(answered), tuple(notices(decider))
    )
