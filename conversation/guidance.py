"""The final guidance: a checklist built from the answers, in flowchart order."""

from __future__ import annotations

from .flow import Answers, Flow, Paragraph, Step
from .messages import Guidance, Item


def role_of(answers: Answers) -> str | None:
    return next(iter(answers.get("role", ())), None)


def paragraphs(paras: tuple[Paragraph, ...], answers: Answers) -> tuple[str, ...]:
    """The paragraphs that apply to these answers, worded for the user's role."""
    role = role_of(answers)
    return tuple(p.text.to(role) for p in paras if p.when is None or p.when.holds(answers))


def build(flow: Flow, answers: Answers) -> Guidance:
    role = role_of(answers)
    items = tuple(
        item
        for step_id, chosen in answers.items()
        if (item := _item(flow.step(step_id), chosen, answers))
    )
    return Guidance(
        title=flow.checklist_title.to(role),
        intro=flow.checklist_intro.to(role),
        items=items,
        footer=flow.danger,
    )


def _item(step: Step, chosen: tuple[str, ...], answers: Answers) -> Item | None:
    options = [o for o in step.options if o.id in chosen]
    lines = paragraphs(step.guidance, answers) + tuple(
        o.guidance.to(role_of(answers)) for o in options if o.guidance
    )
    if not lines:
        return None
    links = dict.fromkeys((*step.links, *(r for o in options for r in o.links)))
    return Item(title=step.title, lines=lines, links=tuple(links))
