"""Telling the person who leads, in the neutral engine: whom every path offers first, what a
case holds, and that nothing about it reaches the logs."""

from __future__ import annotations

import logging

import pytest

from conversation.messages import (
    Act,
    Choose,
    Deliver,
    Input,
    Offer,
    Preview,
    Say,
    Start,
    Tell,
    Turn,
    UserKey,
)
from conversation.progress import Progress
from conversation.runner import Runner
from conversation.storage import Store
from tests.drivers.leads import LEAD_LEADS, telling_engine

from .helpers import ALL_PATHS, check_logs_private, question
from .school_files import leads_school

AFFECTED = [p for p in ALL_PATHS if dict(p)["role"] == ("affected",)]
ALICE = UserKey("slack", "T0SCHOOL", "UALICE")


def at_the_end(path: tuple, version: int = 12) -> Progress:
    return Progress(step="summary", answers=path, version=version, started=1, updated=1)


async def test_every_path_offers_the_flowcharts_choice_first(store: Store) -> None:
    """Generated from the flow: a governor first exactly when the person affected is the
    headteacher or nominated lead, the nominated lead first otherwise, and the others after."""
    telling = telling_engine(store).telling
    assert telling is not None
    for path in AFFECTED:
        offer = await telling.offer(ALICE, at_the_end(path))
        assert isinstance(offer, Offer)
        ids = [c.id for c in offer.choices]
        head = dict(path)["lead"] == ("yes",)
        if head:
            assert ids == ["governors.0", "leads.0", "leads.1"], path
            assert "a governor or trustee should manage your case" in offer.text
        else:
            assert ids == ["leads.0", "leads.1", "governors.0"], path
            assert "the nominated lead, **Lee Leader**" in offer.text


async def test_someone_handling_it_is_never_offered(store: Store) -> None:
    telling = telling_engine(store).telling
    assert telling is not None
    for path in ALL_PATHS[::97]:
        if dict(path)["role"] == ("handling",):
            assert await telling.offer(ALICE, at_the_end(path)) is None


async def turn_of(runner: Runner, user: UserKey, inp: Input) -> Turn:
    """The turn an input makes, decided and stored, but shown nowhere."""
    turn, _ = await runner.decide(user, inp, None, "")
    return turn


async def send(runner: Runner, user: UserKey) -> tuple[Deliver, str]:
    turn = await turn_of(runner, user, Start())
    for _, ids in LEAD_LEADS:
        turn = await turn_of(runner, user, Choose(ids, question(turn).token))
    (offer,) = [r for r in turn.replies if isinstance(r, Offer)]
    previewed = await turn_of(runner, user, Tell("leads.0", offer.token))
    preview, _ = previewed.replies
    assert isinstance(preview, Preview) and previewed.deliveries == ()
    sent = await turn_of(runner, user, Tell("leads.0", preview.token, confirmed=True))
    (delivery,) = sent.deliveries
    return delivery, preview.token


async def test_a_case_holds_ids_and_times_only_and_is_small(
    store: Store, redis, prefix: str
) -> None:
    engine = telling_engine(store)
    delivery, _ = await send(engine, ALICE)
    assert delivery.to == UserKey("slack", "T0SCHOOL", "U0LEAD") and delivery.update is None
    assert delivery.then is not None
    await delivery.then("DU0LEAD\n1700000000.000001")
    key = f"{prefix}:{{slack:T0SCHOOL:UALICE}}:case"
    lead = UserKey("slack", "T0SCHOOL", "U0LEAD")
    await turn_of(
        engine, lead, Act(Act.ACKNOWLEDGE, f"{(await redis.hget(key, 'id')).decode()}.UALICE")
    )
    for item in ("support", "perpetrator", "criteria", "police", "lead", "types", "calls", "x"):
        case_id = (await redis.hget(key, "id")).decode()
        await turn_of(engine, lead, Act(Act.DONE, f"{case_id}.UALICE", item))
    stored = await redis.hgetall(key)
    # "types" has no checklist item on this path, and "x" is none: neither is kept.
    assert set(stored) == {
        b"v",
        b"id",
        b"school",
        b"lead",
        b"who",
        b"answers",
        b"at",
        b"sent",
        b"msg",
        b"ack",
        *(
            f"d:{i}".encode()
            for i in ("support", "perpetrator", "criteria", "police", "lead", "calls")
        ),
    }
    payload = sum(len(k) + len(v) for k, v in stored.items())
    memory = await redis.memory_usage(key)
    logging.getLogger("test").warning(
        "case record: %d bytes of fields, %s in Redis", payload, memory
    )
    assert payload < 600 and memory < 1536
    for name in ("Lee", "Leader", "Oak"):
        assert name.encode() not in b"".join((*stored, *stored.values()))


async def test_nothing_about_a_case_reaches_the_logs(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    engine = telling_engine(store)
    delivery, _ = await send(engine, ALICE)
    assert delivery.then is not None
    await delivery.then("DU0LEAD\n1700000000.000001")
    await turn_of(engine, ALICE, Say("status"))
    await turn_of(engine, ALICE, Say("delete my data"))
    school = leads_school().default
    assert school is not None
    names = [p.name for p in (*school.leads, *school.governors)] + [school.name]
    check_logs_private(caplog.records, names, ["UALICE", "U0LEAD"], turns=3)
