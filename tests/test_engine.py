"""The conversation's rules: commands, typing, stale clicks and bad input change nothing."""

from __future__ import annotations

import pytest

from conversation import plaintext
from conversation.engine import Engine
from conversation.messages import (
    Choose,
    Command,
    Do,
    Guidance,
    Notice,
    Outcome,
    Say,
    Start,
    UserKey,
)
from conversation.progress import Progress
from conversation.storage import Store

from .helpers import click, path_where, question, typed

ME = UserKey("test", "school", "me")


def fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if c != " " else c for c in text)


async def raw(store: Store, user: UserKey = ME) -> bytes | None:
    return await store.redis.get(store.keys.user(user))


async def at_perpetrator(engine: Engine):
    return await typed(engine, ME, "hello", "start", "1", "continue")


async def test_typed_numbers_and_words_answer_the_question(engine: Engine) -> None:
    turn = await at_perpetrator(engine)
    assert question(turn).step == "perpetrator"
    turn = await typed(engine, ME, "a Pupil, and a PARENT")
    assert turn.answered.chosen == ("A pupil", "A parent or carer")
    turn = await typed(engine, ME, "back", "1 and 3")
    assert turn.answered.chosen == ("A member of staff", "A parent or carer")
    assert question(turn).step == "criteria"
    turn = await typed(engine, ME, "it does not")
    assert turn.answered.chosen == ("No",)
    turn = await typed(engine, ME, "back", fullwidth("not sure"))
    assert turn.answered.chosen == ("Not sure",)


@pytest.mark.parametrize(
    "text",
    [
        "banana",
        "9",
        "0",
        "1,9",
        "",
        "🙂" * 50,
        "‮ltr override‬",
        "\x00\x01",
        "x" * 100_000,
        fullwidth("pupil parent not known"),
    ],
)
async def test_nonsense_gets_a_clear_prompt_and_changes_nothing(
    engine: Engine, store: Store, text: str
) -> None:
    await at_perpetrator(engine)
    before = await raw(store)
    turn = await engine.handle(ME, Say(text))
    assert turn.outcome is Outcome.UNCLEAR
    assert isinstance(turn.replies[0], Notice)
    assert question(turn).step == "perpetrator"
    assert await raw(store) == before


async def test_not_known_stands_alone(engine: Engine, store: Store) -> None:
    turn = await at_perpetrator(engine)
    before = await raw(store)
    turn = await click(engine, ME, turn, "pupil", "unknown")
    assert turn.outcome is Outcome.UNCLEAR
    assert "Not known" in turn.replies[0].text
    assert await raw(store) == before


@pytest.mark.parametrize("ids", [(), ("nope",), ("yes",), ("pupil", "nope")])
async def test_options_that_do_not_belong_to_the_step_are_refused(
    engine: Engine, store: Store, ids: tuple[str, ...]
) -> None:
    turn = await at_perpetrator(engine)
    before = await raw(store)
    assert (await click(engine, ME, turn, *ids)).outcome is Outcome.UNCLEAR
    assert await raw(store) == before


async def test_a_second_click_on_the_same_button_changes_nothing(
    engine: Engine, store: Store
) -> None:
    turn = await at_perpetrator(engine)
    first = await click(engine, ME, turn, "pupil")
    after_first = await raw(store)
    second = await click(engine, ME, turn, "parent")
    assert first.outcome is Outcome.ANSWERED
    assert second.outcome is Outcome.STALE
    assert question(second).step == "criteria"  # shows where the user really is
    assert await raw(store) == after_first


async def test_back_returns_and_forgets_the_answer(engine: Engine, store: Store) -> None:
    turn = await typed(engine, ME, "hi")
    assert (await engine.handle(ME, Do(Command.BACK))).outcome is Outcome.BACK  # at the start
    turn = await at_perpetrator(engine)
    turn = await click(engine, ME, turn, "unknown")
    assert question(turn).step == "police"  # not known: no criteria question
    turn = await typed(engine, ME, "back")
    assert question(turn).step == "perpetrator"
    assert b"perpetrator" not in (await raw(store)).split(b"|")[4]
    turn = await typed(engine, ME, "pupil")
    assert question(turn).step == "criteria"


async def test_restart_begins_again_and_old_buttons_go_stale(engine: Engine) -> None:
    old = await at_perpetrator(engine)
    turn = await typed(engine, ME, "restart")
    assert turn.outcome is Outcome.RESTARTED and question(turn).step == "welcome"
    assert (await click(engine, ME, old, "pupil")).outcome is Outcome.STALE


async def test_stop_keeps_progress_and_a_new_start_resumes(engine: Engine, new_engine) -> None:
    await at_perpetrator(engine)
    assert (await typed(engine, ME, "stop")).outcome is Outcome.STOPPED
    # a new process (new engine, new store, empty cache) on the same Redis
    turn = await new_engine().handle(ME, Start())
    assert turn.outcome is Outcome.RESUMED
    assert "Relevant policy" in turn.replies[0].text
    assert question(turn).step == "perpetrator"


async def test_delete_my_data_removes_everything_at_once(engine: Engine, store: Store) -> None:
    turn = await at_perpetrator(engine)
    assert (await typed(engine, ME, "Delete my data")).outcome is Outcome.DELETED
    assert await raw(store) is None
    stale = await click(engine, ME, turn, "pupil")  # an old button after deletion
    assert stale.outcome is Outcome.STALE and await raw(store) is None
    assert (await typed(engine, ME, "help")).outcome is Outcome.HELP
    assert await raw(store) is None


async def test_help_lists_the_commands_and_changes_nothing(engine: Engine, store: Store) -> None:
    await at_perpetrator(engine)
    before = await raw(store)
    turn = await typed(engine, ME, "help")
    for command in ("back", "restart", "help", "stop", "delete my data", "999"):
        assert command in turn.replies[0].text
    assert await raw(store) == before


async def test_the_final_step_can_resend_restart_or_delete(engine: Engine, store: Store) -> None:
    turn = await typed(engine, ME, "hi", "1", "2", "1", "4", "no", "no", "4")
    assert turn.outcome is Outcome.FINISHED
    assert "the staff member" in plaintext.render(turn.replies[0])  # worded for the handler
    resent = await click(engine, ME, turn, "resend")
    assert resent.outcome is Outcome.RESENT and isinstance(resent.replies[0], Guidance)
    assert resent.replies[0] == turn.replies[0]
    restarted = await click(engine, ME, resent, "restart")
    assert question(restarted).step == "welcome"
    deleted = await typed(engine, ME, "1", "1", "1", "4", "3", "2", "4", "3")
    assert deleted.outcome is Outcome.DELETED
    assert await raw(store) is None


async def test_progress_from_an_older_flow_starts_again(engine: Engine, store: Store) -> None:
    await store.redis.set(store.keys.user(ME), "4|1|1|removed_step|welcome=start")
    turn = await engine.handle(ME, Start())
    assert turn.outcome is Outcome.RESTARTED and question(turn).step == "welcome"
    assert (await raw(store)).startswith(b"5|")


def _older_flow_progress() -> dict[str, Progress]:
    """Stored progress a few steps in, as an older flow wrote it: one answer names an option
    (or a step) the flow no longer has. Built from a real path, so only that one id is off."""
    path = path_where(types=("other",))
    at = [s for s, _ in path].index("types")
    answered = path[:at]

    def but(step: str, ids: tuple[str, ...], rename: str | None = None) -> Progress:
        answers = tuple((rename or s, ids) if s == step else (s, chosen) for s, chosen in answered)
        return Progress("types", answers, version=7, started=1_000, updated=1)

    return {
        "a perpetrator option gone": but("perpetrator", ("aliens",)),
        "one of two options gone": but("perpetrator", ("pupil", "governor")),
        "a role gone": but("role", ("observer",)),
        "an answer to a step gone": but("criteria", ("yes",), rename="removed_step"),
    }


@pytest.mark.parametrize("name", list(_older_flow_progress()))
@pytest.mark.parametrize("inp", ["resume", "typed answer", "click"])
async def test_progress_naming_options_the_flow_no_longer_has_starts_again(
    engine: Engine, store: Store, name: str, inp: str
) -> None:
    """Resumed, it would end in a checklist with no policy (or no role) in it."""
    old = _older_flow_progress()[name]
    await store.redis.set(store.keys.user(ME), old.encode())
    given = {"resume": Start(), "typed answer": Say("4"), "click": Choose(("other",), old.token)}
    turn = await engine.handle(ME, given[inp])
    assert turn.outcome is Outcome.RESTARTED and question(turn).step == "welcome"
    assert not any(isinstance(r, Guidance) for r in turn.replies)
    assert (await raw(store)).startswith(b"8|")
    assert Progress.decode((await raw(store)).decode()).answers == ()


async def test_a_click_with_no_conversation_does_not_create_one(
    engine: Engine, store: Store
) -> None:
    turn = await engine.handle(ME, Choose(("start",), "0.1"))
    assert turn.outcome is Outcome.STALE
    assert await raw(store) is None
