"""Who says what: the flowchart as one user's school and surface word it.

A `View` is the flow data seen by staff of one school (or none: the generic wording) on one
surface (Slack, Teams, the terminal): the same steps and decisions, only the words differ.
The conversation, telling and the follow-ups all speak through the user's view, so that a
school's details and a surface's wording reach every message without anyone passing them.
Views are built once per school and surface, and kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .flow import Flow, Step
from .guidance import links, paragraphs
from .machine import FlowMachine
from .messages import Choice, Notice, Question, UserKey
from .progress import Progress
from .school import NO_SCHOOLS, School, Schools
from .school_flow import apply as school_view


@dataclass(frozen=True, slots=True)
class View:
    flow: Flow
    school: School | None
    ttl_days: int
    machine: FlowMachine = field(compare=False, repr=False)
    steps: dict[str, Step] = field(compare=False, repr=False)
    known: frozenset[tuple[str, str]] = field(compare=False, repr=False)

    @classmethod
    def of(cls, flow: Flow, school: School | None = None, ttl_days: int = 30) -> View:
        return cls(
            flow,
            school,
            ttl_days,
            FlowMachine(flow),
            {s.id: s for s in flow.steps},
            frozenset((s.id, o.id) for s in flow.steps for o in s.options),
        )

    def notice(self, name: str, **values: str) -> Notice:
        return Notice(self.flow.notices[name].format(ttl_days=self.ttl_days, **values))

    def question(self, progress: Progress) -> Question:
        step = self.steps[progress.step]
        answers = progress.answer_map
        # Not str.format: a school's own words in the text may hold braces of their own.
        text = "\n\n".join(paragraphs(step.text, answers))
        text = text.replace("{ttl_days}", str(self.ttl_days))
        return Question(
            step=step.id,
            token=progress.token,
            title=step.title,
            text=text,
            options=tuple(Choice(o.id, o.label) for o in step.options),
            multi=step.multi,
            links=links(step.links, answers),
            version=progress.version,
        )

    def valid(self, progress: Progress) -> bool:
        """Whether progress stored by an earlier flow still fits this one."""
        return progress.step in self.steps and all(
            (step, i) in self.known for step, ids in progress.answers for i in ids
        )


class Views:
    """Every user's view, picked by their workspace (their school) and platform (the surface)."""

    def __init__(self, flow: Flow, schools: Schools = NO_SCHOOLS, ttl_days: int = 30) -> None:
        self.flow = flow
        self.schools = schools
        self.ttl_days = ttl_days
        self._flows = {s.id: school_view(flow, s) for s in schools.all()}
        self._views: dict[tuple[str | None, str], View] = {}

    def for_user(self, user: UserKey) -> View:
        return self.of(self.schools.for_workspace(user.workspace), user.platform)

    def of(self, school: School | None, surface: str) -> View:
        key = (school.id if school else None, surface)
        if (view := self._views.get(key)) is None:
            base = self._flows[school.id] if school else self.flow
            worded = base.surfaces.get(surface, base)
            view = self._views[key] = View.of(worded, school, self.ttl_days)
        return view
