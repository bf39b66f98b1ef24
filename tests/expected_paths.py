"""What each path through the flowchart must end with, from FLOWCHART.md itself, written
as plain rules: the steps asked and the guidance given, for every surface's tests to check
their checklist against."""

from __future__ import annotations

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
