"""One school's view of the flowchart: the same steps, with the school's details added.

`apply` is run once per school at start-up. It returns a `Flow` with the same steps,
options and conditions, so the machine, the engine and the renderers need nothing new:
only the wording grows (from `school_wording.toml`), and the generic EAP and union
resources are replaced by the school's own. Anything the school did not set keeps the
flowchart's generic wording.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

from .flow import ROLES, Flow, FlowError, Option, Paragraph, Resource, Step, Wording
from .school import POLICIES, Person, School

DEFAULT_WORDING = Path(__file__).with_name("school_wording.toml")


@dataclass(frozen=True, slots=True)
class _Addition:
    """A paragraph added to a step's question, or to one option's checklist line."""

    step: str
    option: str | None
    text: Wording


def apply(flow: Flow, school: School, wording_path: Path = DEFAULT_WORDING) -> Flow:
    """The flow as this school's staff see it."""
    w = _wording(wording_path)
    _check(w, flow, wording_path)
    name = school.name
    resources = dict(flow.resources)
    if school.eap:
        eap = school.eap
        description = w["eap"]["description"].format(school=name)
        if eap.hours:
            description += " " + w["eap"]["hours"].format(hours=eap.hours)
        resources[w["eap"]["resource"]] = replace(
            resources[w["eap"]["resource"]],
            name=w["eap"]["name"].format(name=eap.name, school=name),
            description=description,
            url=eap.url,
            phone=eap.phone,
            email=eap.email,
            worded=None,  # the school's own words, the same for both roles
        )
    if school.union and (school.union.note or school.union.url):
        rid = w["union"]["resource"]
        generic = resources[rid]
        resources[rid] = replace(
            generic,
            description=school.union.note or generic.description,
            url=school.union.url or generic.url,
            worded=None if school.union.note else generic.worded,
        )

    question: dict[str, list[Wording]] = {}
    checklist: dict[tuple[str, str], list[Wording]] = {}
    welcome = w["welcome"]
    question.setdefault(welcome["to"], []).append(_same(welcome["text"].format(school=name)))
    for people, key in ((school.leads, "leads"), (school.governors, "governors")):
        if not people:
            continue
        for where, add in w[key].items():
            text = _fill(add["text"], school=name, people=_people(people))
            step, _, option = add["to"].partition(".")
            if where == "question":
                question.setdefault(step, []).append(text)
            else:
                checklist.setdefault((step, option), []).append(text)

    step_links: dict[str, list[Resource]] = {}
    option_links: dict[tuple[str, str], list[Resource]] = {}
    policy_words = w["policies"]
    for policy, url in school.policies.items():
        entry = policy_words[policy]
        link = Resource(
            id=f"school_{policy}",
            name=entry["name"],
            description=policy_words["description"].format(school=name),
            url=url,
        )
        step, _, option = entry["to"].partition(".")
        if option:
            option_links.setdefault((step, option), []).append(link)
        else:
            step_links.setdefault(step, []).append(link)

    def swap(links: tuple[Resource, ...]) -> tuple[Resource, ...]:
        return tuple(resources.get(r.id, r) for r in links)

    def option(step: Step, o: Option) -> Option:
        extra = checklist.get((step.id, o.id), [])
        guidance = o.guidance
        if extra and guidance is not None:
            guidance = Wording(
                **{r: " ".join([guidance.to(r), *(e.to(r) for e in extra)]) for r in ROLES}
            )
        elif extra:
            guidance = Wording(**{r: " ".join(e.to(r) for e in extra) for r in ROLES})
        return replace(
            o,
            guidance=guidance,
            links=swap(o.links) + tuple(option_links.get((step.id, o.id), [])),
        )

    def step(s: Step) -> Step:
        added = tuple(Paragraph(t) for t in question.get(s.id, []))
        # The welcome's school line comes first: it introduces the bot; others follow.
        text = (*added, *s.text) if s.id == welcome["to"] else (*s.text, *added)
        return replace(
            s,
            text=text,
            guidance=text if s.guidance is s.text else s.guidance,
            options=tuple(option(s, o) for o in s.options),
            links=swap(s.links) + tuple(step_links.get(s.id, [])),
        )

    return replace(
        flow,
        resources=resources,
        steps=tuple(step(s) for s in flow.steps),
        # Each surface's wording of the flow gets the same details.
        surfaces={n: apply(worded, school, wording_path) for n, worded in flow.surfaces.items()},
    )


def _people(people: tuple[Person, ...]) -> str:
    return " or ".join(p.contact() for p in people)


def _same(text: str) -> Wording:
    return Wording(text, text)


def _fill(raw: str | dict[str, str], **values: str) -> Wording:
    if isinstance(raw, str):
        return _same(raw.format(**values))
    return Wording(**{r: raw[r].format(**values) for r in ROLES})


@cache
def _wording(path: Path) -> dict[str, Any]:
    with open(path, "rb") as fh:
        return tomllib.load(fh)


def _check(raw: dict[str, Any], flow: Flow, path: Path) -> None:
    """The wording file against the flow: every `to` must name a real step or option,
    every resource must exist, every policy must be worded."""
    try:
        targets = [raw["welcome"]["to"]]
        targets += [a["to"] for key in ("leads", "governors") for a in raw[key].values()]
        targets += [raw["policies"][p]["to"] for p in POLICIES]
        for target in targets:
            step_id, _, option_id = target.partition(".")
            step = next((s for s in flow.steps if s.id == step_id), None)
            if step is None or (option_id and step.option(option_id) is None):
                raise FlowError(f"{path.name}: {target!r} is not a step or option of the flow")
        for key in ("eap", "union"):
            if raw[key]["resource"] not in flow.resources:
                raise FlowError(f"{path.name}: [{key}] names an unknown resource")
        for key in ("leads", "governors"):
            for where, add in raw[key].items():
                if where not in ("question", "checklist") or (
                    isinstance(add["text"], dict) and set(add["text"]) != set(ROLES)
                ):
                    raise FlowError(f"{path.name}: [{key}].{where} is malformed")
    except (KeyError, TypeError) as exc:
        raise FlowError(f"{path.name}: missing or malformed field {exc}") from exc
