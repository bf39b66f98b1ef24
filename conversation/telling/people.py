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


def named(school: School | None, cid: str) -> Person | None:
    """One of the school's people by id (`leads.0`, `governors.1`, `deputies.0`)."""
    if school is None:
        return None
    group, _, index = cid.partition(".")
    people = {"leads": school.leads, "governors": school.governors, "deputies": school.deputies}
    found = people.get(group, ())
    return found[int(index)] if index.isdigit() and int(index) < len(found) else None


def next_person(
    school: School | None, told_id: str, reporter: UserKey, told_user: str
) -> tuple[str, Person] | None:
    """Whom a report not acknowledged may go to next, if the member of staff agrees.

    A report told to a nominated lead goes to the school's deputies (`[[deputies]]`), or,
    where the school names none (the head is the lead), to a governor; one told to a
    governor (the head or lead is the person affected) goes only to another governor, never
    back to the leads. Only someone who can be messaged on the reporter's platform and is
    neither the person told nor the reporter."""
    if school is None:
        return None
    governors = [(f"governors.{i}", p) for i, p in enumerate(school.governors)]
    if told_id.startswith("governors."):
        candidates = governors
    else:
        deputies = [(f"deputies.{i}", p) for i, p in enumerate(school.deputies)]
        candidates = deputies or governors
    for cid, person in candidates:
        pid = platform_id(person, reporter.platform)
        if cid != told_id and pid and pid not in (told_user, reporter.user):
            return cid, person
    return None


def escalated(school: School | None, case: Case) -> Person | None:
    """The person a report went to next, if the school file still names them by that id."""
    person = named(school, case.escalate_to)
    user = case.escalate_user
    if person and user and platform_id(person, user.platform) == user.user:
        return person
    return None


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


def holds(school: School | None, case: Case, person: UserKey) -> bool:
    """Whether `person` holds the report (sees it in their overview, may act on it): the
    person told, or the one it was escalated to once it has been, each only while the school
    file still names them by that id."""
    if person == case.lead:
        return told(school, case) is not None
    return case.may_act(person) and escalated(school, case) is not None


def handling(answers: Mapping[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    """The same answers, worded for the person handling the case."""
    return {k: (("handling",) if k == "role" else v) for k, v in answers.items()}
