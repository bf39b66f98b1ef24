"""Several stateless workers sharing one Redis: the deployment model, proved under load.

Three `python -m bot serve` processes on their own ports and one Redis. Simulated users
walk whole flowchart paths in Slack and in Teams at the same time, each request sent to a
worker chosen at random; every button is clicked twice at nearly the same moment on two
different workers; every Slack event is delivered a second time as a retry, and every
Teams activity is re-delivered. Each user must end with exactly one checklist, every
answer recorded once, exactly the bot messages the flowchart and the double clicks call
for (no duplicate, none lost), and no 5xx anywhere.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from redis.exceptions import RedisError

from adapters.slack import blocks as slack_blocks
from adapters.teams import cards as teams_cards
from bot.local_redis import free_port
from bot.redis_connection import client, close
from conversation.progress import Progress
from tests.drivers.connector import Connector
from tests.drivers.slack_api import TOKEN, SlackApi
from tests.drivers.slack_user import (
    SECRET,
    TEAM,
    SlackUser,
    guidance_of,
    signed,
    step_of,
)
from tests.drivers.teams_user import TENANT, TeamsUser, actions, is_checklist, is_question
from tests.drivers.teams_user import step_of as card_step

from .helpers import ALL_PATHS, FLOW, wait_until_up

ROOT = Path(__file__).resolve().parents[1]
POLL_ERRORS = (RedisError, OSError, AttributeError, TypeError)
WORKERS = 3
USERS = {"slack": 100, "teams": 100}
SALT = "consistency-test-salt"
STALE = FLOW.notices["stale"]


@dataclass
class Cluster:
    urls: list[str]
    procs: list[subprocess.Popen]
    logs: list[Path]
    session: aiohttp.ClientSession
    redis: Any
    """A client of the Redis the workers share, for the test to read what they stored."""
    rng: random.Random = field(default_factory=lambda: random.Random(2026))
    statuses: Counter = field(default_factory=Counter)
    outcomes: Counter = field(default_factory=Counter)
    """The turn outcomes the requests sent should have, per platform, for the logs to match."""

    def two(self) -> tuple[str, str]:
        first, second = self.rng.sample(self.urls, 2)
        return first, second

    async def post(self, url: str, route: str, body: bytes, headers: dict[str, str]) -> int:
        async with self.session.post(url + route, data=body, headers=headers) as response:
            await response.read()
        self.statuses[response.status] += 1
        return response.status


@pytest.fixture
async def api() -> AsyncIterator[SlackApi]:
    async with SlackApi() as standin:
        yield standin


@pytest.fixture(params=["one Redis", "Redis Cluster"])
async def shared(request: pytest.FixtureRequest, redis_url: str, redis) -> AsyncIterator[tuple]:
    """What the workers share: one Redis server, or a real Redis Cluster (three masters, a
    replica each, so every commit also waits for a replica)."""
    if request.param == "one Redis":
        yield redis_url, redis
        return
    url = request.getfixturevalue("redis_cluster").url
    cluster_client = client(url)
    yield url, cluster_client
    await close(cluster_client)


@pytest.fixture
async def cluster(shared: tuple, api: SlackApi, tmp_path: Path) -> AsyncIterator[Cluster]:
    redis_url, redis = shared
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": api.url,
        "TEAMS_ALLOW_UNAUTHENTICATED": "1",
        "LOG_SALT": SALT,
    }
    env.pop("MicrosoftAppId", None)
    ports = [free_port() for _ in range(WORKERS)]
    logs = [tmp_path / f"worker{i}.log" for i in range(WORKERS)]
    procs = []
    for port, log in zip(ports, logs, strict=True):
        with open(log, "w") as out:  # a file, not a pipe: a full pipe would stall a worker
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "bot",
                        "serve",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(port),
                    ],
                    cwd=ROOT,
                    env=env,
                    stderr=out,
                )
            )
    connections = aiohttp.TCPConnector(limit=400)
    async with aiohttp.ClientSession(connector=connections) as session:
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        try:
            for url in urls:
                await wait_until_up(session, url)
            yield Cluster(urls, procs, logs, session, redis)
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            codes = [proc.wait(20) for proc in procs]
            keys = [k async for k in redis.scan_iter(f"hb:{{slack:{TEAM}:UC*")]
            keys += [k async for k in redis.scan_iter(f"hb:{{teams:{TENANT}:aad-c*")]
            for key in keys:  # one at a time: on a cluster they live on different masters
                await redis.delete(key)
    assert codes == [0] * WORKERS, "a worker did not stop cleanly on SIGTERM"


# --- one Slack user ---------------------------------------------------------------------------


async def slack_user(cluster: Cluster, api: SlackApi, redis, n: int, path: tuple) -> SlackUser:
    user = SlackUser(None, api, f"c{n}")  # type: ignore[arg-type]

    async def twice(route_body: bytes, content_type: str, retry: bool) -> None:
        """The same request on two workers at once: a Slack retry, or a double click."""
        first, second = cluster.two()
        again = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"} if retry else {}
        headers = {"Content-Type": content_type, **signed(route_body)}
        await asyncio.gather(
            cluster.post(first, "/slack/events", route_body, headers),
            cluster.post(second, "/slack/events", route_body, {**headers, **again}),
        )

    async def sent(count: int) -> None:
        """Wait for `count` calls, not counting the closing of a question asked again, which
        a stale click makes or not depending on which worker noted its question first."""

        def enough(calls: list) -> bool:
            return len([c for c in calls if not closes(c)]) >= count

        try:
            await api.until(user.dm, enough, timeout=30)
        except TimeoutError:
            raise AssertionError(f"expected {count} calls:\n{history(api, user)}") from None

    await twice(json.dumps(user.event("hi")).encode(), "application/json", retry=True)
    cluster.outcomes.update({("slack", "started"): 1, ("slack", "duplicate"): 1})
    expected = 1
    await sent(expected)
    rng = random.Random(n)
    for i, (step, ids) in enumerate(path):
        question = user.question()
        assert step_of(question) == step, history(api, user)
        finished = i == len(path) - 1
        if rng.random() < 0.25:
            # Typed, as a DM event delivered twice: answered once, so an update of the
            # question and the next one (and the checklist at the end).
            await noted(redis, user)
            numbers = ",".join(
                str(k) for k, o in enumerate(FLOW.step(step).options, 1) if o.id in ids
            )
            await twice(json.dumps(user.event(numbers)).encode(), "application/json", True)
            cluster.outcomes[("slack", "duplicate")] += 1
            expected += 2 + finished * (1 + offered(path))
        else:
            # A double click: one answers (its message redrawn with the next question, or,
            # at the end, updated and the checklist and last question posted), the other is
            # stale (the stale notice + the current question again).
            body = urlencode({"payload": json.dumps(user.click(*ids, message=question))})
            await twice(body.encode(), "application/x-www-form-urlencoded", retry=False)
            cluster.outcomes[("slack", "stale")] += 1
            expected += 3 + finished * (2 + offered(path))
        cluster.outcomes[("slack", "finished" if finished else "answered")] += 1
        await sent(expected)
    return user


def closes(call) -> bool:
    return call.method == "chat.update" and call.args["text"].endswith(slack_blocks.CLOSED)


def offered(path: tuple) -> bool:
    """The member of staff being targeted is offered, after the checklist, to tell the
    person who leads (here, with no school file: the checklist as text to forward)."""
    return dict(path)["role"] == ("affected",)


def is_offer(call) -> bool:
    if hasattr(call, "card"):  # a Teams activity
        return bool(call.card) and any("tell" in a["data"] for a in actions(call.card))
    return any(a.get("action_id", "").startswith("tell:") for a in call.actions)


def history(api: SlackApi, user: SlackUser) -> str:
    """What the bot sent this user, one line a message, for a failure to show."""
    return "\n".join(
        f"{c.method} {c.args.get('ts', '')} {c.response.get('ts', '')} {c.text[:40]!r}"
        for c in api.to(user.dm)
    )


async def noted(redis, user: SlackUser) -> None:
    """Wait until the bot has noted which message holds the new question, as it does just
    after posting it, so that a typed answer updates that message (no person types as fast
    as this test)."""
    questions = user.api.questions(user.dm)
    now = step_of(questions[-1])
    current = {q.response["ts"] for q in questions if step_of(q) == now}
    deadline = time.monotonic() + 10
    ref = None
    while time.monotonic() < deadline:
        try:
            ref = await redis.get(f"hb:{{slack:{TEAM}:{user.id}}}:msg")
        except POLL_ERRORS:
            # This test's own polling, not the bot: a hundred users polling at once on two
            # busy cores can time a cluster connection out, and redis-py 8.1 then leaks
            # AttributeError/TypeError from the broken connection (redis-py #4287).
            await asyncio.sleep(0.1)
            continue
        if ref and ref.decode().split("\n")[1] in current:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"the bot did not note its question at {now}: {ref!r} {current}")


def check_slack_user(api: SlackApi, user: SlackUser, path: tuple, progress: Progress) -> None:
    calls = api.to(user.dm)
    posted = [c for c in calls if c.method == "chat.postMessage"]
    changed = [c for c in calls if c.method == "chat.update"]
    updates = [c for c in changed if not closes(c)]
    closed = [c for c in changed if closes(c)]
    offers = [c for c in posted if is_offer(c)]
    # Every question drawn, in order: posted, or drawn by a click over the question it answered.
    questions = [c for c in calls if c.actions and not is_offer(c)]
    (guidance,) = guidance_of(api, user.dm)
    stale = [c for c in posted if c.text == STALE]
    assert len(offers) == offered(path)
    # Every answer updated the question it answered once (a click drawing the next question in
    # its place), and nothing was sent that was not asked for: a stale click on that message
    # draws it again with the current question (so at most once more each), and a stale click
    # elsewhere may close the question it finds newest and, when another turn posted the same
    # question at once, that other copy (the store returns it: "one live question").
    assert len(path) <= len(updates) <= len(path) + len(stale)
    assert len(closed) <= 2 * len(stale)
    assert len(calls) == len(posted) + len(updates) + len(closed)
    asked_below = [c for c in posted if c.actions and not is_offer(c)]
    assert len(posted) == len(asked_below) + len(stale) + 1 + len(offers)  # + the checklist
    assert len(questions) == 1 + len(path) + len(stale)
    # Every question asked is the flowchart's, in order, each shown again only after a stale click.
    asked = [step_of(q) for q in questions]
    assert list(dict.fromkeys(asked)) == [step for step, _ in path] + ["summary"]
    assert guidance.text and progress.answers == tuple(path)


# --- one Teams user ---------------------------------------------------------------------------


async def teams_user(cluster: Cluster, connector: Connector, n: int, path: tuple) -> TeamsUser:
    user = TeamsUser(None, connector, f"c{n}")  # type: ignore[arg-type]
    headers = {"Content-Type": "application/json"}

    async def deliver(*sends: tuple[str, dict]) -> None:
        await asyncio.gather(
            *(
                cluster.post(url, "/api/messages", json.dumps(a).encode(), headers)
                for url, a in sends
            )
        )

    install = user.activity(
        type="conversationUpdate", membersAdded=[{"id": "28:bot-id"}, {"id": user.id}]
    )
    first, second = cluster.two()
    await deliver((first, install), (second, install))  # Teams re-sends after 15 s
    cluster.outcomes.update({("teams", "started"): 1, ("teams", "duplicate"): 1})
    for step, ids in path:
        card = user.question()
        assert card_step(card) == step
        click, double = user.submit(*ids, card=card), user.submit(*ids, card=card)
        first, second = cluster.two()
        third = cluster.rng.choice(cluster.urls)
        # A double click on two workers, and the first click re-delivered to a third.
        await deliver((first, click), (second, double), (third, click))
        finished = step == path[-1][0]
        cluster.outcomes.update(
            {
                ("teams", "finished" if finished else "answered"): 1,
                ("teams", "stale"): 1,
                ("teams", "duplicate"): 1,
            }
        )
    return user


def check_teams_user(
    connector: Connector, user: TeamsUser, path: tuple, progress: Progress
) -> None:
    sent = connector.sent_to(user.chat)
    changed = connector.updates(user.chat)
    updates = [c for c in changed if c.body.get("summary") != teams_cards.CLOSED]
    closes = [c for c in changed if c.body.get("summary") == teams_cards.CLOSED]
    offers = [c for c in sent if is_offer(c)]
    questions = [c for c in sent if is_question(c) and not is_offer(c)]
    guidance = [c for c in sent if is_checklist(c)]
    stale = [c for c in sent if c.text == STALE]
    assert len(guidance) == 1 and len(offers) == offered(path)
    assert len(updates) == len(path) == len({u.activity_id for u in updates})
    assert len(closes) <= len(stale)  # as for Slack
    assert len(sent) == len(questions) + len(stale) + 1 + len(offers)
    assert len(stale) == len(path)  # every double click: exactly one was stale
    assert len(questions) == 1 + 2 * len(path)
    asked = [card_step(q) for q in questions]
    assert list(dict.fromkeys(asked)) == [step for step, _ in path] + ["summary"]
    assert progress.answers == tuple(path)


# --- the test ---------------------------------------------------------------------------------


def _paths(count: int, seed: int) -> Iterator[tuple]:
    rng = random.Random(seed)
    return (rng.choice(ALL_PATHS) for _ in range(count))


async def test_three_workers_one_redis_every_answer_once_every_message_once(
    cluster: Cluster, api: SlackApi, connector: Connector, prefix: str
) -> None:
    redis = cluster.redis
    started = time.monotonic()
    slack_paths = list(_paths(USERS["slack"], 1))
    teams_paths = list(_paths(USERS["teams"], 2))
    slack_users, teams_users = await asyncio.wait_for(
        asyncio.gather(
            asyncio.gather(
                *(slack_user(cluster, api, redis, n, p) for n, p in enumerate(slack_paths))
            ),
            asyncio.gather(
                *(teams_user(cluster, connector, n, p) for n, p in enumerate(teams_paths))
            ),
        ),
        timeout=240,
    )
    seconds = time.monotonic() - started

    async def progress(key: str) -> Progress:
        return Progress.decode((await redis.get(key)).decode())

    for user, path in zip(slack_users, slack_paths, strict=True):
        check_slack_user(api, user, path, await progress(f"hb:{{slack:{TEAM}:{user.id}}}"))
    for user, path in zip(teams_users, teams_paths, strict=True):
        key = f"hb:{{teams:{TENANT}:{user.aad}}}"
        check_teams_user(connector, user, path, await progress(key))

    assert not [s for s in cluster.statuses if s >= 500], cluster.statuses
    assert set(cluster.statuses) <= {200, 201}
    requests = sum(cluster.statuses.values())
    print(
        f"\n{sum(USERS.values())} users, {requests} requests in {seconds:.1f} s "
        f"over {WORKERS} workers: {dict(cluster.statuses)}; turns: {dict(cluster.outcomes)}"
    )

    # Every worker took part, and every turn is logged once, with no ids or answers in it.
    for proc in cluster.procs:
        proc.send_signal(signal.SIGTERM)
    for proc in cluster.procs:
        proc.wait(20)
    logged = {log.name: log.read_text() for log in cluster.logs}
    lines = {
        name: [json.loads(x) for x in text.splitlines() if x.startswith("{")]
        for name, text in logged.items()
    }
    assert all(x["level"] != "error" for worker in lines.values() for x in worker)
    turns = [x for worker in lines.values() for x in worker if x["event"] == "turn"]
    assert all(any(x["event"] == "turn" for x in worker) for worker in lines.values())
    # Every request was one turn, each with the outcome its request called for: every
    # answer applied once, each double click's other half stale, each retry a duplicate.
    assert len(turns) == requests
    assert Counter((x["platform"], x["outcome"]) for x in turns) == cluster.outcomes
    everything = "\n".join(logged.values())
    for user in slack_users:
        assert user.id not in everything
    for user in teams_users:
        assert user.aad not in everything and user.id not in everything
