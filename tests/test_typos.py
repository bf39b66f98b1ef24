"""Typed answers as people really type them, against the engine and a real Redis.

The table is of real misspellings and phrasings (the ones in issue 12 first). It also pins
the thresholds from the other side: what must *not* be read as an answer or a command.
"""

from __future__ import annotations

import pytest

from conversation import typed
from conversation.engine import Engine
from conversation.messages import Choose, Notice, Outcome, Question, Say, Start, UserKey
from conversation.storage import Store

from .helpers import ALL_PATHS, FLOW, question

ME = UserKey("test", "school", "typist")
EVERY_BRANCH = next(p for p in ALL_PATHS if dict(p)["types"] == ("calls", "sexual", "content"))

ANSWERS = [
    # step, what was typed, the options it answers
    ("welcome", "next", ("Start",)),
    ("welcome", "strat", ("Start",)),
    ("welcome", "hi", ("Start",)),  # after a welcome shown on install, "hi" begins
    ("role", "im the victm", ("I'm the member of staff being bullied or harassed",)),
    ("role", "colleage", ("I'm handling this for a colleague",)),
    ("support", "next", ("Continue",)),
    ("support", "contineu", ("Continue",)),
    ("perpetrator", "parnet", ("A parent or carer",)),
    ("perpetrator", "a parnet on facebook", ("A parent or carer",)),
    ("perpetrator", "studnet", ("A pupil",)),
    ("perpetrator", "collegue", ("A member of staff",)),
    ("perpetrator", "anonymus", ("Not known",)),
    ("perpetrator", "pupil and parnet", ("A pupil", "A parent or carer")),
    ("criteria", "i dont think so", ("No",)),
    ("criteria", "I don\u2019t think so.", ("No",)),  # a phone's curly apostrophe
    ("criteria", "not shure", ("Not sure",)),
    ("police", "i dont think so", ("Not at the moment",)),
    ("police", "unsre", ("Not sure",)),
    ("lead", "i dont think so", ("No",)),
    ("lead", "headteahcer", ("Yes",)),
    (
        "types",
        "phnoe calls, sexaul harrasment",
        ("Abusive phone calls", "Online sexual harassment"),
    ),
    ("types", "none of those", ("Something else",)),
    ("types", "harmfull content", ("Harmful content to remove",)),
    ("types", "sexual harrasment", ("Online sexual harassment",)),
    (
        "types",
        "abusive phone calls and harmful content",
        ("Abusive phone calls", "Harmful content to remove"),
    ),
    ("calls", "next", ("Continue",)),
    ("content", "contniue", ("Continue",)),
]

COMMANDS = [
    ("hlep", Outcome.HELP),
    ("exit", Outcome.STOPPED),
    ("stpo", Outcome.STOPPED),
    ("bakc", Outcome.BACK),
    ("restrat", Outcome.RESTARTED),
    ("delete my dat", Outcome.DELETED),
]

GREETINGS = [
    "hi",
    "Hi!",
    "hello",
    "hey",
    "hiya",
    "hello there",
    "good morning",
    "start",
    "report-harassment",
    "/report-harassment",
    "helo",
    "hi, can you help",
]

NOT_UNDERSTOOD = [
    ("lead", "yse"),  # three letters: no slip allowed, or "yes" would also be "yet"
    ("perpetrator", "facebook"),
    ("police", "relate"),  # two slips from "delete": neither an answer nor a command
    ("types", "harrasment"),  # names no kind of abuse
    ("criteria", "banana"),
]


async def at(engine: Engine, step: str, user: UserKey = ME) -> Question:
    """Click through a path that asks every step, up to `step`."""
    turn = await engine.handle(user, Start())
    for asked, ids in EVERY_BRANCH:
        if asked == step:
            break
        turn = await engine.handle(user, Choose(ids, question(turn).token))
    asked = question(turn)
    assert asked.step == step
    return asked


@pytest.mark.parametrize(("step", "text", "chosen"), ANSWERS)
async def test_a_misspelt_answer_is_understood(
    engine: Engine, step: str, text: str, chosen: tuple[str, ...]
) -> None:
    await at(engine, step)
    turn = await engine.handle(ME, Say(text))
    assert turn.outcome in (Outcome.ANSWERED, Outcome.FINISHED), turn
    assert turn.answered.chosen == chosen


@pytest.mark.parametrize(("text", "outcome"), COMMANDS)
async def test_a_misspelt_command_is_understood(engine: Engine, text: str, outcome) -> None:
    await at(engine, "criteria")
    assert (await engine.handle(ME, Say(text))).outcome is outcome


@pytest.mark.parametrize("text", GREETINGS)
@pytest.mark.parametrize("step", [s.id for s in FLOW.steps[1:]])
async def test_a_greeting_at_any_step_shows_where_you_are(
    engine: Engine, store: Store, step: str, text: str
) -> None:
    asked = await at(engine, step)
    before = await store.redis.get(store.keys.user(ME))
    turn = await engine.handle(ME, Say(text))
    assert turn.outcome is Outcome.RESUMED
    notice, again = turn.replies
    assert isinstance(notice, Notice) and "didn't catch" not in notice.text
    assert f"You were at: **{asked.title}**" in notice.text
    assert again == asked
    assert await store.redis.get(store.keys.user(ME)) == before


async def test_a_greeting_with_nothing_stored_starts(engine: Engine) -> None:
    turn = await engine.handle(ME, Say("hello"))
    assert turn.outcome is Outcome.STARTED and question(turn).step == "welcome"


@pytest.mark.parametrize(("step", "text"), NOT_UNDERSTOOD)
async def test_what_is_not_close_enough_is_not_guessed(
    engine: Engine, store: Store, step: str, text: str
) -> None:
    await at(engine, step)
    before = await store.redis.get(store.keys.user(ME))
    turn = await engine.handle(ME, Say(text))
    assert turn.outcome is Outcome.UNCLEAR
    assert "didn't catch that" in turn.replies[0].text
    assert await store.redis.get(store.keys.user(ME)) == before


@pytest.mark.parametrize(
    ("step", "text", "understood", "unread", "numbers"),
    [
        ("perpetrator", "parent, my neighbour", "A parent or carer", "my neighbour", "3"),
        ("types", "phone calls, blackmail", "Abusive phone calls", "blackmail", "1"),
        (
            "types",
            "phnoe calls, sexaul harrasment and **doxxing** <!here>",
            "Abusive phone calls, Online sexual harassment",
            "doxxing here",  # quoted back without markup
            "1,2",
        ),
    ],
)
async def test_part_of_a_multi_answer_not_understood_is_said_and_nothing_is_saved(
    engine: Engine, store: Store, step: str, text: str, understood, unread, numbers
) -> None:
    asked = await at(engine, step)
    before = await store.redis.get(store.keys.user(ME))
    turn = await engine.handle(ME, Say(text))
    assert turn.outcome is Outcome.UNCLEAR
    notice, again = turn.replies
    assert notice.text == (
        f'I understood **{understood}**, but not "{unread}". '
        f"If that is all, type **{numbers}**; otherwise choose again."
    )
    assert again == asked
    assert await store.redis.get(store.keys.user(ME)) == before
    confirmed = await engine.handle(ME, Say(numbers))
    assert ", ".join(confirmed.answered.chosen) == understood


def _slipped(phrase: str) -> str:
    """The phrase with two letters of its longest word swapped, the commonest slip."""
    words = typed.normalise(phrase).split()
    longest = max(words, key=len)
    i = len(longest) // 2
    slipped = longest[: i - 1] + longest[i] + longest[i - 1] + longest[i + 1 :]
    return " ".join(slipped if w is longest else w for w in words)


SLIPS = [
    pytest.param(step, option.id, _slipped(phrase), id=f"{step.id}-{_slipped(phrase)}")
    for step in FLOW.steps
    for option in step.options
    for phrase in (option.label, *option.words)
    if len(max(phrase.split(), key=len)) > 3 and _slipped(phrase) != typed.normalise(phrase)
]


@pytest.mark.parametrize(("step", "option", "text"), SLIPS)
def test_every_label_and_word_in_the_flow_data_is_understood_with_a_slip(
    step, option: str, text: str
) -> None:
    """Generated from the flow data: a swapped pair of letters never loses the answer (a
    part left over, in "none of tohse", is said back rather than dropped)."""
    reading = typed.read(step, text)
    assert reading.options == (option,)
    assert not reading.unread or step.multi


@pytest.mark.parametrize("step", [s.id for s in FLOW.steps])
async def test_a_long_account_gets_a_kind_answer_then_only_the_options(
    engine: Engine, store: Store, step: str
) -> None:
    asked = await at(engine, step)
    before = await store.redis.get(store.keys.user(ME))
    # An account that names options ("report", "yes", "parent"), 4,600 characters long.
    account = ("Yes, a parent posted about me and I want to report it. " * 90)[:4600]
    turn = await engine.handle(ME, Say(account))
    assert turn.outcome is Outcome.UNCLEAR
    notice, options = turn.replies
    assert "I don't read or keep what is typed here" in notice.text
    assert "nothing you wrote has been saved" in notice.text
    assert options.options == asked.options and options.token == asked.token
    assert options.text == "" and options.links == ()
    assert await store.redis.get(store.keys.user(ME)) == before
