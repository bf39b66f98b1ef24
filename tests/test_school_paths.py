"""Every path through the flowchart again, for staff of a school with its own details.

Each configured detail must appear where it belongs and nowhere else: a policy's link only
on a path that names that policy, the nominated lead only where the flowchart says they
lead, the governor only when the person affected is the headteacher or nominated lead,
and never another school's details. The flowchart itself must not change: the same
questions in the same order, and every line of the generic checklist still there.
"""

from __future__ import annotations

import asyncio

import pytest

from conversation import plaintext
from conversation.engine import Engine
from conversation.guidance import build
from conversation.messages import Choose, Guidance, Outcome, Question, Start, UserKey
from conversation.paths import Path
from conversation.school import School
from conversation.storage import Store
from conversation.views import Views

from .expected_paths import check_guidance, expected_steps
from .helpers import ALL_PATHS, FLOW
from .school_files import BIRCH_TENANT, two_schools, words_of

SCHOOLS = two_schools()
ALDER = SCHOOLS.default
BIRCH = SCHOOLS.by_id["T0BIRCH"]
GENERIC_EAP = "the school office or hr has the details"


def named(policy: str, answers: dict[str, tuple[str, ...]]) -> bool:
    """Whether FLOWCHART.md names this policy for these answers."""
    perpetrators = set(answers["perpetrator"])
    return {
        "staff_code_of_conduct": "staff" in perpetrators,
        "behaviour_policy": "pupil" in perpetrators,
        "parental_code_of_conduct": "parent" in perpetrators,
        "home_school_agreement": "parent" in perpetrators,
        "social_media_policy": "parent" in perpetrators,
        "anti_bullying_and_harassment": perpetrators != {"unknown"},  # the criteria step
    }[policy]


def check_school(
    school: School, questions: dict[str, str], checklist: str, answers: dict[str, tuple[str, ...]]
) -> None:
    everything = "\n".join([*questions.values(), checklist])
    assert f"staff at {school.name}" in questions["welcome"]
    e = school.eap
    eap = [e.name, e.phone, e.hours, e.url] if e else []
    for where in (questions["support"], checklist):
        for detail in eap:
            assert detail in where, detail
        assert (GENERIC_EAP in where.casefold()) == (school.eap is None)
        if school.union and school.union.note:
            assert school.union.note in where
    if school.eap:
        assert everything.count(school.eap.hours) == 2  # the support question and its item
    for policy, url in school.policies.items():
        if policy == "anti_bullying_and_harassment" and named(policy, answers):
            assert url in questions["criteria"]
        assert (url in checklist) == named(policy, answers), policy
        assert everything.count(url) <= 2
    for lead in school.leads:
        assert lead.name in questions["lead"] and lead.role in questions["lead"]
        assert (lead.name in checklist) == (answers["lead"] == ("no",))
    for governor in school.governors:
        assert governor.name not in "\n".join(questions.values())
        assert (governor.name in checklist) == (answers["lead"] == ("yes",)), governor.name
    for person in (*school.leads, *school.governors):
        for platform_id in (person.slack, person.teams):
            assert not platform_id or platform_id not in everything.casefold()
    for other in SCHOOLS.all():
        if other is not school:
            for word in words_of(other):
                assert word not in everything, word


def check_only_added(generic: Guidance, school: Guidance) -> None:
    """The school's checklist is the generic one with details added, never taken away."""
    assert [i.title for i in school.items] == [i.title for i in generic.items]
    for g, s in zip(generic.items, school.items, strict=True):
        assert len(g.lines) == len(s.lines)
        for gl, sl in zip(g.lines, s.lines, strict=True):
            assert sl.startswith(gl)
        assert {r.id for r in g.links} <= {r.id for r in s.links}


async def walk(engine: Engine, user: UserKey, path: Path, school: School) -> None:
    turn = await engine.handle(user, Start())
    questions: dict[str, str] = {}
    for step, ids in path:
        (question,) = [r for r in turn.replies if isinstance(r, Question)]
        assert question.step == step
        questions[step] = plaintext.question(question)
        turn = await engine.handle(user, Choose(ids, question.token))
    assert turn.outcome is Outcome.FINISHED
    answers = dict(path)
    assert list(questions) == expected_steps(answers)
    guidance = next(r for r in turn.replies if isinstance(r, Guidance))
    checklist = plaintext.guidance(guidance)
    check_guidance(checklist, answers)  # the flowchart's own rules, unchanged
    check_only_added(build(FLOW, answers), guidance)
    check_school(school, questions, checklist, answers)


@pytest.fixture
def school_engine(store: Store) -> Engine:
    return Engine(Views(FLOW, SCHOOLS, 30), store)


@pytest.mark.parametrize("start", range(0, len(ALL_PATHS), 495))
async def test_every_path_with_a_school_file_shows_its_details_where_they_belong(
    school_engine: Engine, start: int
) -> None:
    """Every path for Alder (the default school, a workspace with no school of its own);
    every seventh for Birch, reached by its Teams tenant id in lower case."""
    batch = list(enumerate(ALL_PATHS))[start : start + 495]
    for i in range(0, len(batch), 55):
        runs = [
            walk(school_engine, UserKey("slack", "T0ELSEWHERE", f"a{n}"), path, ALDER)
            for n, path in batch[i : i + 55]
        ]
        runs += [
            walk(school_engine, UserKey("teams", BIRCH_TENANT, f"b{n}"), path, BIRCH)
            for n, path in batch[i : i + 55]
            if n % 7 == 0
        ]
        await asyncio.gather(*runs)


def test_the_school_oracle_can_fail() -> None:
    """The rules above catch a governor named on the wrong path, or a missing link."""
    answers = dict(ALL_PATHS[0])
    assert answers["lead"] == ("no",) and answers["perpetrator"] == ("staff",)
    questions = {"welcome": "staff at Alder Academy", "lead": "Lee Leader, Assistant head"}
    support = (
        "Alder Wellbeing Line 0800 111 2222 weekdays 8am to 8pm https://alder.example.org/eap"
        " Alder's union reps meet staff on Tuesdays in room 4."
    )
    questions["support"] = support
    questions["criteria"] = ALDER.policies["anti_bullying_and_harassment"]
    good = (
        f"{support}\nLee Leader\n{ALDER.policies['staff_code_of_conduct']}\n"
        + questions["criteria"]
    )
    check_school(ALDER, questions, good, answers)
    wrong = (
        good + "\nGwen Governor",
        good.replace("Lee Leader", ""),
        good + "\nBirch Primary",
        good + ALDER.policies["behaviour_policy"],
        good.replace(ALDER.policies["staff_code_of_conduct"], ""),
    )
    for bad in wrong:
        with pytest.raises(AssertionError):
            check_school(ALDER, questions, bad, answers)
