"""The final guidance: a checklist built from the answers, in flowchart order."""

from __future__ import annotations

from .flow import Answers, Flow, Paragraph, Resource, Step
from .messages import Guidance, Item


def role_of(answers: Answers) -> str | None:
    return next(iter(answers.get("role", ())), None)


def paragraphs(paras: tuple[Paragraph, ...], answers: Answers) -> tuple[str, ...]:
    """The paragraphs that apply to these answers, worded for the user's role."""
    role = role_of(answers)
    return tuple(p.text.to(role) for p in paras if p.when is None or p.when.holds(answers))


def links(resources: tuple[Resource, ...], answers: Answers) -> tuple[Resource, ...]:
    """Resources as this reader sees them ("your union", or "the staff member's")."""
    role = role_of(answers)
    return tuple(r.to(role) for r in resources)


def build(flow: Flow, answers: Answers) -> Guidance:
    items = tuple(
        item
        for step_id, chosen in answers.items()
        if (item := _item(flow.step(step_id), chosen, answers))
    )
    role = role_of(answers)
    return Guidance(
        title=flow.checklist_title.to(role),
        intro=flow.checklist_intro.to(role),
        items=once(items, flow.checklist_again),
        footer=flow.danger,
    )


def once(items: tuple[Item, ...], again: str) -> tuple[Item, ...]:
    """Each resource in full at its first mention only, and named after that, so that the
    checklist stays scannable (Police.uk is on up to four of its steps)."""
    seen: set[str] = set()
    kept = []
    for item in items:
        new = tuple(r for r in item.links if r.id not in seen)
        named = [r.name for r in item.links if r.id in seen]
        seen.update(r.id for r in new)
        lines = (*item.lines, again.format(names=", ".join(named))) if named else item.lines
        kept.append(Item(title=item.title, lines=lines, links=new))
    return tuple(kept)


def _item(step: Step, chosen: tuple[str, ...], answers: Answers) -> Item | None:
    options = [o for o in step.options if o.id in chosen]
    lines = paragraphs(step.guidance, answers) + tuple(
        o.guidance.to(role_of(answers)) for o in options if o.guidance
    )
    if not lines:
        return None
    resources = dict.fromkeys((*step.links, *(r for o in options for r in o.links)))
    return Item(title=step.title, lines=lines, links=links(tuple(resources), answers))
