"""Every path through the flowchart, enumerated from the flow data and its machine."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import combinations

from .flow import Flow, Step
from .machine import FlowMachine

Path = tuple[tuple[str, tuple[str, ...]], ...]


def answers_to(step: Step) -> list[tuple[str, ...]]:
    """Every valid answer: each option, or for "choose all that apply" every allowed set."""
    ids = [o.id for o in step.options]
    if not step.multi:
        return [(i,) for i in ids]
    exclusive = {o.id for o in step.options if o.exclusive}
    sets = [c for n in range(1, len(ids) + 1) for c in combinations(ids, n)]
    return [c for c in sets if len(c) == 1 or not exclusive.intersection(c)]


def paths(flow: Flow) -> Iterator[Path]:
    machine = FlowMachine(flow)

    def walk(step: Step, so_far: Path) -> Iterator[Path]:
        if step.final:
            yield so_far
            return
        for answer in answers_to(step):
            taken = (*so_far, (step.id, answer))
            yield from walk(flow.step(machine.next_step(step.id, dict(taken))), taken)

    yield from walk(flow.first, ())
