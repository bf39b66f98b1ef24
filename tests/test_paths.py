"""Every path through the flowchart, driven through the engine against real Redis.

The paths come from the flow data; what each one must end with comes from FLOWCHART.md
itself, written here as plain rules, so a wrong branch or a lost link in the data fails.
"""

from __future__ import annotations

import asyncio

import pytest

from conversation import plaintext
from conversation.engine import Engine
from conversation.messages import Choose, Guidance, Outcome, Question, Start, UserKey
from conversation.paths import Path

from .helpers import ALL_PATHS, FLOW

POLICIES = {
    "staff": ["staff behaviour policy or code of conduct"],
    "pupil": ["school behaviour policy"],
    "parent": ["parental code of conduct", "home-school agreement", "social media policy"],
}
BRANCHES = {
    "calls": ["ofcom's advice on abusive and threatening calls", "https://www.ofcom.org.uk/"],
    "sexual": [
        "swgfl's guidance for schools and colleges on responding to online sexual harassment",
        "https://swgfl.co.uk/resources/how-to-respond-to-the-online-sexual-harassment-of-school/college-staff/",
    ],
    "content": [
        "report harmful content",
        "https://reportharmfulcontent.com/",
        "if the content is illegal, contact the police",
        "does not meet the threshold for intervention from the platform or the police",
        "posh guidance on how to approach resolution",
        "https://saferinternet.org.uk/professionals-online-safety-helpline",
    ],
}
ALWAYS = [
    "employee assistance programme",
    "trade union representative",
    "education support",
    "08000 562 561",
    "[ ] police involvement",  # on every path, unknown perpetrator included
    "https://www.npcc.police.uk/",
    "https://www.police.uk/",
    "call 999",
]


def expected_steps(answers: dict[str, tuple[str, ...]]) -> list[str]:
    """The questions FLOWCHART.md asks, in its order, for these answers."""
    known = set(answers["perpetrator"]) != {"unknown"}
    steps = ["welcome", "role", "support", "perpetrator"]
    steps += ["criteria"] if known else []  # not known: straight to who leads
    steps += ["police", "lead", "types"]
    steps += [b for b in ("calls", "sexual", "content") if b in answers["types"]]
    return steps


def check_guidance(text: str, answers: dict[str, tuple[str, ...]]) -> None:
    text = text.casefold()
    for phrase in ALWAYS:
        assert phrase in text
    perpetrators = set(answers["perpetrator"])
    for who, phrases in POLICIES.items():
        for phrase in phrases:
            assert (phrase in text) == (who in perpetrators), (who, phrase)
    if perpetrators == {"unknown"}:
        assert "not known" in text and "bullying or harassment criteria" not in text
    else:
        assert "bullying or harassment criteria" in text
        if answers["criteria"] == ("not_sure",):
            assert "check the definitions" in text
    police = answers["police"][0]
    assert ("report it to the police: online at police.uk or by calling 101" in text) == (
        police == "yes"
    )
    if police == "not_sure":
        assert "npcc guidance on when to call the police" in text
    head_is_victim = answers["lead"] == ("yes",)
    assert ("a governor or trustee should manage" in text) == head_is_victim
    assert ("headteacher or nominated lead can manage" in text) != head_is_victim
    if not head_is_victim:
        assert "guided by the governing body and trustees" in text
    types = set(answers["types"])
    for branch, phrases in BRANCHES.items():
        for phrase in phrases:
            if (
                branch == "content"
                and phrase.startswith("https://saferinternet")
                and "other" in types
            ):
                continue  # POSH is also the helpline for "something else"
            assert (phrase in text) == (branch in types), (branch, phrase)
    if types & {"calls", "sexual"}:
        assert "if the abuse constitutes a criminal offence, report it to the police" in text
    if "content" in types:
        asks_first = "designated lead asks them to remove the content" in text
        assert asks_first == (perpetrators != {"unknown"})
    worded_for_you = "manage your case" in text
    assert worded_for_you == (answers["role"] == ("affected",))


async def walk(engine: Engine, n: int, path: Path) -> Guidance:
    user = UserKey("test", "paths", f"user{n}")
    turn = await engine.handle(user, Start())
    asked = []
    for step, ids in path:
        (question,) = [r for r in turn.replies if isinstance(r, Question)]
        asked.append(question.step)
        assert question.step == step
        turn = await engine.handle(user, Choose(ids, question.token))
        assert turn.outcome in (Outcome.ANSWERED, Outcome.FINISHED)
    assert turn.outcome is Outcome.FINISHED
    assert asked == expected_steps(dict(path))
    guidance = next(r for r in turn.replies if isinstance(r, Guidance))
    check_guidance(plaintext.guidance(guidance), dict(path))
    return guidance


def test_the_paths_cover_every_option_of_every_step() -> None:
    chosen = {(s, i) for path in ALL_PATHS for s, ids in path for i in ids}
    every = {(s.id, o.id) for s in FLOW.steps if not s.final for o in s.options}
    assert chosen == every
    assert len(ALL_PATHS) == 3960


@pytest.mark.parametrize("start", range(0, len(ALL_PATHS), 495))
async def test_every_path_reaches_the_guidance_the_flowchart_gives(
    engine: Engine, start: int
) -> None:
    batch = list(enumerate(ALL_PATHS))[start : start + 495]
    for i in range(0, len(batch), 55):
        await asyncio.gather(*(walk(engine, n, path) for n, path in batch[i : i + 55]))


def test_the_oracle_catches_a_wrong_policy() -> None:
    """The rules above must be able to fail: a pupil path's guidance is not a parent's."""
    answers = {
        "role": ("affected",),
        "support": ("continue",),
        "perpetrator": ("pupil",),
        "criteria": ("yes",),
        "police": ("no",),
        "lead": ("no",),
        "types": ("other",),
    }
    from conversation.guidance import build

    text = plaintext.guidance(build(FLOW, answers))
    check_guidance(text, answers)
    with pytest.raises(AssertionError):
        check_guidance(text, {**answers, "perpetrator": ("parent",)})
