"""The flowchart as a `transitions` state machine, built once from the flow data.

The machine is built with `model=None` and shared by every user: a turn fires the
`answer` event on a throwaway model holding that user's step and answers. Building a
`Machine` per user or per turn costs time and memory (transitions issues #146, #434).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from transitions import EventData, Machine

from .flow import Answers, Condition, Flow

ANSWER = "answer"

# transitions logs every state entered and left at INFO; a state name can reveal an
# answer ("sexual"), so only its warnings may reach the logs.
logging.getLogger("transitions").setLevel(logging.WARNING)


@dataclass(slots=True)
class _Model:
    state: str
    answers: Answers


def definition(flow: Flow) -> dict[str, Any]:
    """States and transitions for `Machine(**definition(flow))`.

    From each step, `answer` leads to the next later step that applies. transitions tries
    a trigger's transitions in the order they were added and takes the first whose
    conditions hold, so we add the candidates in flowchart order and stop at the first
    step that always applies.
    """
    transitions = []
    for i, step in enumerate(flow.steps[:-1]):
        for later in flow.steps[i + 1 :]:
            t: dict[str, Any] = {"trigger": ANSWER, "source": step.id, "dest": later.id}
            if later.ask_if:
                t["conditions"] = [_check(later.ask_if)]
            transitions.append(t)
            if not later.ask_if:
                break
    return {
        "states": [s.id for s in flow.steps],
        "transitions": transitions,
        "initial": flow.first.id,
        "auto_transitions": False,
        "send_event": True,
    }


def _check(condition: Condition) -> Callable[[EventData], bool]:
    def check(event: EventData) -> bool:
        return condition.holds(event.model.answers)

    check.__name__ = str(condition)  # the label the diagram shows
    return check


class FlowMachine:
    """Decides the next step; the one place the branching of the flowchart is applied.

    The machine's answer depends only on the step and the answers its conditions read,
    so each distinct case is decided by the machine once and remembered (at most a few
    thousand cases), which keeps transitions' per-event overhead off the hot path.
    """

    def __init__(self, flow: Flow) -> None:
        self._machine = Machine(model=None, **definition(flow))
        self._answer = self._machine.events[ANSWER]
        self._read = tuple(dict.fromkeys(s.ask_if.step for s in flow.steps if s.ask_if is not None))
        self._decided: dict[tuple, str] = {}

    def next_step(self, step: str, answers: Answers) -> str:
        case = (step, *(answers.get(s) for s in self._read))
        if (known := self._decided.get(case)) is not None:
            return known
        model = _Model(step, answers)
        if not self._answer.trigger(model):
            raise ValueError(f"no step follows {step!r}")
        self._decided[case] = model.state
        return model.state


def mermaid(flow: Flow) -> str:
    """The machine drawn by transitions itself, so the diagram always matches the code."""
    from transitions.extensions import GraphMachine

    machine = GraphMachine(
        **definition(flow), graph_engine="mermaid", show_conditions=True, title=flow.title
    )
    return machine.get_graph().draw(None)
