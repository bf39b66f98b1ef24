"""Storage: atomic turns under concurrency, only ids stored, expiry always set."""

from __future__ import annotations

import asyncio
import re
import time

import pytest
from cryptography.fernet import Fernet

from bot.redis_connection import client
from conversation import flow
from conversation.engine import Engine
from conversation.messages import Choose, Outcome, Say, Shown, Start, UserKey
from conversation.progress import Progress
from conversation.storage import Cases, Cipher, Db, Duplicate, Store, StoreUnavailable
from conversation.views import Views

from .helpers import click, question, typed

ME = UserKey("test", "school", "me")
FLOW = flow.load()
IDS = {s.id for s in FLOW.steps} | {o.id for s in FLOW.steps for o in s.options}


async def test_simultaneous_clicks_on_many_workers_apply_exactly_once(new_engine) -> None:
    workers = [new_engine() for _ in range(20)]
    turn = await typed(workers[0], ME, "hi", "1", "1", "1")
    token = question(turn).token
    for w in workers:  # every worker has seen this user, so each computes from its cache
        await w.handle(ME, Start())
    turns = await asyncio.gather(
        *(
            w.handle(ME, Choose(("pupil",) if i % 2 else ("parent",), token))
            for i, w in enumerate(workers)
        )
    )
    outcomes = [t.outcome for t in turns]
    assert outcomes.count(Outcome.ANSWERED) == 1
    assert outcomes.count(Outcome.STALE) == 19
    stored = Progress.decode(
        (await workers[0].store.redis.get(workers[0].store.keys.user(ME))).decode()
    )
    assert stored.version == 5 and len([a for a in stored.answers if a[0] == "perpetrator"]) == 1


async def test_a_worker_with_an_old_copy_still_applies_a_new_answer(new_engine) -> None:
    a, b = new_engine(), new_engine()
    turn = await typed(a, ME, "hi")
    await b.handle(ME, Start())  # b now holds the welcome step
    turn = await click(a, ME, turn, "start")  # a moves on; b's copy is out of date
    answered = await click(b, ME, turn, "handling")
    assert answered.outcome is Outcome.ANSWERED
    assert question(answered).step == "support"


async def test_many_mixed_turns_for_one_user_lose_nothing(new_engine) -> None:
    """Waves of 8 simultaneous typed turns on 8 workers: each applies once, in some order."""
    workers = [new_engine() for _ in range(8)]
    await typed(workers[0], ME, "hi", "1", "1", "1")
    version = 4
    for wave in (["back", "1", "help", "2", "back", "1", "nonsense", "back"],) * 5:
        turns = await asyncio.gather(
            *(w.handle(ME, Say(t)) for w, t in zip(workers, wave, strict=True))
        )
        version += sum(
            bool(t.answered)
            or (
                t.outcome is Outcome.BACK
                and t.step is not None
                and "nothing to go back" not in str(t.replies[0])
            )
            for t in turns
        )
    stored = Progress.decode(
        (await workers[0].store.redis.get(workers[0].store.keys.user(ME))).decode()
    )
    assert stored.version == version
    assert len(stored.answers) == len({s for s, _ in stored.answers})  # no step answered twice


async def test_only_ids_and_numbers_are_stored_and_expiry_is_set(
    engine: Engine, store: Store
) -> None:
    await typed(
        engine,
        ME,
        "hello there, my head of year is posting about me",
        "1",
        "2",
        "1",
        "pupil and parent",
        "yes",
        "no",
        "no",
        "1 2 3 4",
        "1",
        "1",
        "1",
    )
    raw = (await store.redis.get(store.keys.user(ME))).decode()
    version, started, updated, step, answers = raw.split("|")
    assert version.isdigit() and started.isdigit() and updated.isdigit()
    assert step in IDS
    words = set(re.split(r"[;=,]", answers))
    assert words <= IDS, words - IDS
    ttl = await store.redis.ttl(store.keys.user(ME))
    assert 29 * 86_400 < ttl <= 30 * 86_400
    assert await store.redis.memory_usage(store.keys.user(ME)) <= 512


async def test_an_identical_write_by_another_turn_is_still_a_conflict(store: Store) -> None:
    """Two workers deciding the same answer write equal values: only the first applies."""
    old = Progress("welcome", version=1, started=1, updated=1)
    new = old.advance("role", ("start",), 2)
    await store.commit(ME, None, old)
    first = await store.commit(ME, old, new)
    assert (first.applied, first.progress) == (True, new)
    second = await store.commit(ME, old, new)
    assert (second.applied, second.progress) == (False, new)


async def test_a_redelivered_input_applies_once_even_on_many_workers_at_once(new_engine) -> None:
    """A platform retry, arriving at every worker at the same moment, is one turn."""
    workers = [new_engine() for _ in range(10)]
    await typed(workers[0], ME, "hi", "1")
    for w in workers:
        await w.handle(ME, Start())  # each computes from its own copy
    turns = await asyncio.gather(*(w.handle(ME, Say("2"), delivery="Ev42") for w in workers))
    outcomes = sorted(t.outcome for t in turns)
    assert outcomes == [Outcome.ANSWERED] + [Outcome.DUPLICATE] * 9
    assert all(t.replies == () for t in turns if t.outcome is Outcome.DUPLICATE)
    store = workers[0].store
    stored = Progress.decode((await store.redis.get(store.keys.user(ME))).decode())
    assert stored.answers[-1] == ("role", ("handling",))
    assert 0 < await store.redis.ttl(store.keys.seen(ME)) <= 900


async def test_a_delivery_is_marked_only_when_its_turn_applies(store: Store) -> None:
    """A turn that lost the race is decided again, and may still apply: its delivery must
    not have been marked by the attempt that lost."""
    old = Progress("welcome", version=1, started=1, updated=1)
    await store.commit(ME, None, old)
    moved = old.advance("role", ("start",), 2)
    await store.commit(ME, old, moved)
    again = await store.commit(ME, old, old, delivery="Ev7")
    assert (again.applied, again.progress) == (False, moved)
    assert await store.redis.zscore(store.keys.seen(ME), "Ev7") is None
    assert (await store.commit(ME, moved, "unchanged", delivery="Ev7")).applied is True
    with pytest.raises(Duplicate):
        await store.commit(ME, moved, "unchanged", delivery="Ev7")


async def test_a_delivery_claimed_outside_a_commit_is_the_same_delivery_to_a_commit(
    store: Store,
) -> None:
    """Reports' and follow-ups' turns claim their delivery on its own; the claim and a
    commit keep one list, so a retry is one whichever kind of turn it turns out to be. A
    claim given back (its turn failed) leaves the retry free to be heard."""
    assert await store.claim_delivery(ME, "Ev8") is True
    assert await store.claim_delivery(ME, "Ev8") is False
    with pytest.raises(Duplicate):
        await store.commit(ME, None, "unchanged", delivery="Ev8")
    await store.release_delivery(ME, "Ev8")
    assert await store.claim_delivery(ME, "Ev8") is True
    await store.commit(ME, None, "unchanged", delivery="Ev9")
    assert await store.claim_delivery(ME, "Ev9") is False
    assert 0 < await store.redis.ttl(store.keys.seen(ME)) <= 900


async def test_an_unreachable_redis_fails_fast_and_clearly() -> None:
    dead = Store(Db(client("redis://127.0.0.1:1/0")), ttl_seconds=60)
    engine = Engine(Views(FLOW, ttl_days=1), dead)
    started = time.monotonic()
    try:
        await engine.handle(ME, Start())
    except StoreUnavailable:
        pass
    else:
        raise AssertionError("expected StoreUnavailable")
    assert time.monotonic() - started < 3
    await dead.redis.aclose()


async def test_the_question_pointer_keeps_the_newest_and_nothing_after_a_delete(
    engine: Engine, store: Store
) -> None:
    """Posts finish in any order, and a deletion can land between a post and its note."""
    old = question(await typed(engine, ME, "hi"))
    new = question(await typed(engine, ME, "1"))
    await store.remember_message(ME, new, "D1\n2.0")
    await store.remember_message(ME, old, "D1\n1.0")  # a slow turn's note, landing late
    assert await store.recall_message(ME) == Shown("D1\n2.0", new.version)
    await typed(engine, ME, "delete my data")
    await store.remember_message(ME, new, "D1\n2.0")
    assert await store.redis.exists(store.keys.message(ME)) == 0


async def test_rotation_reseals_every_reference_with_the_first_key_and_counts_the_lost(
    db: Db,
) -> None:
    """`rotate-key` for reference numbers: each sealed with an old key is sealed again with
    the first, opening to the same text; one no key opens is counted and left; nothing else in
    the case changes, and its expiry stays."""
    old_key, new_key, other_key = (Fernet.generate_key().decode() for _ in range(3))
    old, new, stranger = Cipher((old_key,)), Cipher((new_key,)), Cipher((other_key,))
    both = Cipher((new_key, old_key))
    alice, bob = UserKey("slack", "T1", "UALICE"), UserKey("slack", "T12", "UBOB")
    fields = {
        alice: {"id": "c1", "r:a": old.seal(b"police|1|AB-1"), "r:b": new.seal(b"rhc|2|R-2")},
        bob: {"id": "c2", "r:c": old.seal(b"platform|3|P-3"), "r:d": stranger.seal(b"x|4|X")},
    }
    for user, values in fields.items():
        await db.redis.hset(db.keys.case(user), mapping=values)
        await db.redis.expire(db.keys.case(user), 3600)
    assert await Cases(db, 0).reseal(both) == (2, 1)
    for user, values in fields.items():
        stored = await db.redis.hgetall(db.keys.case(user))
        assert stored[b"id"] == values["id"].encode()
        assert 0 < await db.redis.ttl(db.keys.case(user)) <= 3600
        for name, sealed in values.items():
            if not name.startswith("r:"):
                continue
            now = stored[name.encode()]
            if name == "r:d":
                assert now == sealed  # no key opens it: left as it was
                continue
            assert Cipher((new_key,)).open(now) == both.open(sealed)
    assert await Cases(db, 0).reseal(both) == (0, 1)
