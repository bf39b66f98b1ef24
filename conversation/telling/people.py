"""Who leads, as the flowchart decides it and the school file names them."""

from __future__ import annotations

from collections.abc import Mapping

from ..messages import UserKey
from ..school import Person, School
from ..storage import Case

MESSAGING = ("slack", "teams")
"""The platforms the school file gives people's ids for: the only ones a report can be sent
on. Anywhere else (the terminal) there is nobody to send to, and nothing to click."""


def platform_id(person: Person, platform: str) -> str:
    """The id a message to `person` is addressed to on `platform` ("" if none there)."""
    return dict(zip(MESSAGING, (person.slack, person.teams), strict=True)).get(platform, "")


def head_or_lead_affected(answers: Mapping[str, tuple[str, ...]]) -> bool:
    return tuple(answers.get("lead", ())) == ("yes",)


def people(
    school: School | None, answers: Mapping[str, tuple[str, ...]]
) -> list[tuple[str, Person]]:
    """Everyone the school names who could take the case, the flowchart's choice first:
    (`leads.0`-style id, person)."""
    if school is None:
        return []
    groups = [("leads", school.leads), ("governors", school.governors)]
    if head_or_lead_affected(answers):
        groups.reverse()
    return [(f"{name}.{i}", p) for name, group in groups for i, p in enumerate(group)]


def told(school: School | None, case: Case) -> Person | None:
    """The person a case was sent to, if the school file still names them: found by the id
    the report went to, so that someone removed from the file (or whose id changed) no
    longer holds the report's buttons."""
    everyone = dict(people(school, dict(case.answer_pairs)))
    person = everyone.get(case.person)
    if person and platform_id(person, case.lead.platform) == case.lead.user:
        return person
    return next(
        (p for p in everyone.values() if platform_id(p, case.lead.platform) == case.lead.user),
        None,
    )


def holders(case: Case) -> tuple[UserKey, ...]:
    """Everyone who holds a report (sees it in their overview, may act on it): the person told,
    and, once a report can be escalated, the person it was escalated to."""
    return (case.lead,)


def handling(answers: Mapping[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    """The same answers, worded for the person handling the case."""
    return {k: (("handling",) if k == "role" else v) for k, v in answers.items()}
