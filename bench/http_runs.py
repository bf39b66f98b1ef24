"""HTTP halves of the benchmark: a real `serve` process against the smallest bots on the
same frameworks (`floor_bots`), driven by the same simulated users in the same run.

Every user walks a whole random path through the flowchart at once with all the others.
A Slack turn is timed from sending the click to the stand-in Web API receiving the bot's
next question, because the bot acks first and answers from a task (the ack itself is kept
apart); a Teams turn completes inside its request, so it is the POST's round trip. The
stand-ins run in this process (`standins`), so users await their next question.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import aiohttp
from redis.asyncio import Redis
from slack_sdk.signature import SignatureVerifier

from adapters.slack import blocks as slack_blocks
from adapters.teams import cards as teams_cards
from bot.local_redis import free_port
from bot.redis_connection import client
from conversation import flow, telling
from conversation.paths import Path as FlowPath
from conversation.paths import paths
from tests.drivers.connector import Connector
from tests.drivers.slack_api import SlackApi
from tests.drivers.standin import Posted, StandIn

from .engine_floor import _server_calls
from .results import Result

SECRET = "bench-signing-secret"
"""Signs the simulated Slack requests; shared with the bots under test, secret from no one."""
TURN_TIMEOUT = 15.0
"""A turn that takes longer is an error: five times Slack's ack limit."""
ROUNDS = 3
"""Timed runs of ours and of the floor, alternating which goes first (`_alternating`)."""
WARM_USERS = 4
"""Users walking untimed paths on each server first, so imports, pools and caches are warm."""
QUICK_USERS = 20
"""`--quick` is a smoke test for CI: enough users to overlap, done in seconds."""
PREFIX = "hb"
"""The key prefix of the Store that `serve` builds (conversation.store.Store's default)."""
FORM = "application/x-www-form-urlencoded"
FLOW = flow.load()
FINAL = FLOW.steps[-1].id
SLACK_TITLES = {f"*{s.title}*": s.id for s in FLOW.steps}
TEAMS_TITLES = {s.title: s.id for s in FLOW.steps}
OFFER = telling.wording()["offer"]["title"]
"""The offer to tell the person who leads, which the member of staff gets beside the last
question: not a question of the flow, so a turn does not end on it."""


class Failed(Exception):
    """A turn went wrong: a non-2xx answer, the wrong question, or no question in time."""


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    acks: list[float] = field(default_factory=list)
    errors: int = 0
    unfinished: int = 0
    why: Counter[str] = field(default_factory=Counter)


Walk = Callable[[Tally], Awaitable[None]]


def run(url: str, users: int, quick: bool) -> list[tuple[Result, Result]]:
    """(ours, floor) for Slack, then for Teams; `--quick` drives at most QUICK_USERS."""
    return asyncio.run(_run(url, min(users, QUICK_USERS) if quick else users))


async def _run(url: str, users: int) -> list[tuple[Result, Result]]:
    # Killed politely (a CI timeout, say), stop the bots and delete the keys all the same.
    main = asyncio.current_task()
    assert main
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main.cancel)
    rng = random.Random(7)
    every = list(paths(FLOW))
    walks = [rng.choice(every) for _ in range(users)]
    warm = [rng.choice(every) for _ in range(WARM_USERS)]
    run_id = secrets.token_hex(4).upper()  # Slack ids are upper case; others are refused
    # Counts only: a long run must not keep every call, as the tests' stand-ins do.
    slack_api = await SlackApi(token=None, team=f"T{run_id}", record=False).__aenter__()
    connector = await Connector(record=False).__aenter__()
    api = slack_api.url
    ours_env = {
        "REDIS_URL": url,
        "SLACK_BOT_TOKEN": "xoxb-bench",
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": api,
        "TEAMS_ALLOW_UNAUTHENTICATED": "1",
        "CONVERSATION_TTL_DAYS": "1",  # if the bench is killed before it deletes them
    }
    floor_env = {"SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": api}
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0),
        timeout=aiohttp.ClientTimeout(total=TURN_TIMEOUT),
    )
    bench = Bench(session, slack_api, connector, run_id, client(url))
    try:
        with (
            Server(["bot", "serve", "--host", "127.0.0.1", "--port"], ours_env) as ours,
            Server(["bench.floor_bots", "slack"], floor_env) as slack_floor,
            Server(["bench.floor_bots", "teams"], floor_env) as teams_floor,
        ):
            await asyncio.gather(
                ours.ready(session, "/readyz"),
                slack_floor.ready(session, "/healthz"),
                teams_floor.ready(session, "/healthz"),
            )
            slack, slack_minimal = await _alternating(
                lambda r: bench.slack_ours(ours, walks, warm if r == 0 else [], r),
                lambda r: bench.slack_floor(slack_floor, walks, r),
            )
            # After the timed runs, so that each starts as the other does.
            slack.extra["redis_round_trips_per_click"] = await bench.round_trips(ours, walks[0])
            teams, teams_minimal = await _alternating(
                lambda r: bench.teams_ours(ours, walks, warm if r == 0 else [], r),
                lambda r: bench.teams_floor(teams_floor, walks, r),
            )
            return [(slack, slack_minimal), (teams, teams_minimal)]
    finally:
        await session.close()
        await slack_api.__aexit__()
        await connector.__aexit__()
        await bench.forget(url)
        await bench.redis.aclose()


class Server:
    """A bot in its own process; its log goes to a file that is read for failures."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.url = f"http://127.0.0.1:{(port := free_port())}"
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("Microsoft", "SLACK"))}
        fd, self.log = tempfile.mkstemp(prefix="bench-", suffix=".log")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", *args, str(port)],
            env={**clean, **env},
            stdout=subprocess.DEVNULL,
            stderr=fd,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        os.close(fd)
        self._read = 0

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.unlink(self.log)

    async def ready(self, http: aiohttp.ClientSession, path: str) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.proc.args} exited: {self.problems()}")
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(self.url + path) as response:
                    if response.status == 200:
                        self.problems()  # start-up lines (the Teams warning) are expected
                        return
            await asyncio.sleep(0.05)
        raise RuntimeError(f"{self.proc.args} was not ready in 60 s")

    def cpu_seconds(self) -> float:
        """User and system CPU time the process has used (Linux; NaN elsewhere)."""
        try:
            with open(f"/proc/{self.proc.pid}/stat") as stat:
                fields = stat.read().rpartition(")")[2].split()
        except OSError:
            return float("nan")
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def problems(self) -> list[str]:
        """New log lines that are not routine: ours logs JSON at info per turn, the floors
        log nothing unless something went wrong."""
        with open(self.log) as log:
            log.seek(self._read)
            lines = log.readlines()
            self._read = log.tell()
        return [line.strip() for line in lines if '"level": "info"' not in line]


def _die_with_parent() -> None:
    """In the child: SIGTERM when the bench dies, however it dies (PR_SET_PDEATHSIG)."""
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)


@dataclass
class Bench:
    """The simulated users of both platforms, and the keys they caused `serve` to store."""

    http: aiohttp.ClientSession
    slack_api: SlackApi
    connector: Connector
    run: str
    """In every id this run uses, so its keys can be found and deleted."""
    redis: Redis
    """The Redis `serve` uses, asked for its command counts around each timed run."""
    verifier: SignatureVerifier = field(default_factory=lambda: SignatureVerifier(SECRET))

    # --- Slack --------------------------------------------------------------------------

    async def slack_ours(
        self, server: Server, walks: list[FlowPath], warm: list[FlowPath], round_: int = 0
    ) -> Result:
        async def user(name: str, path: FlowPath) -> Walk:
            try:
                posted = await self._slack_start(server, name)
            except Exception as exc:  # counted with the timed turns, as this user's failure
                return _failed(exc)

            async def walk(tally: Tally) -> None:
                nonlocal posted
                for step, ids in path:
                    _expect(_slack_step(posted), step)
                    posted = await self._click(server, name, posted, ids, tally)
                _expect(_slack_step(posted), FINAL)

            return walk

        await _walk_all([await user(f"U{self.run}W{u}", p) for u, p in enumerate(warm)])
        starts = [user(f"U{self.run}R{round_}S{u}", p) for u, p in enumerate(walks)]
        started = await asyncio.gather(*starts)
        return await _timed("slack HTTP turn", server, self.slack_api, started, self.redis)

    async def round_trips(self, server: Server, path: FlowPath) -> float:
        """Requests `serve` sends Redis per click (a script counts once), seen by MONITOR on one
        more user's walk, untimed: MONITOR slows Redis down, so never during the timed run."""
        name = f"U{self.run}M0"
        posted = await self._slack_start(server, name)
        sent: list[str] = []
        async with self.redis.monitor() as monitor:

            async def watch() -> None:
                async for command in monitor.listen():
                    if name in command["command"] and command.get("client_type") != "lua":
                        sent.append(command["command"])

            watching = asyncio.create_task(watch())
            await asyncio.sleep(0.05)
            for _, ids in path:
                posted = await self._click(server, name, posted, ids, Tally())
            await asyncio.sleep(0.2)
            watching.cancel()
        return round(len(sent) / len(path), 2)

    async def slack_floor(self, server: Server, walks: list[FlowPath], round_: int = 0) -> Result:
        def user(name: str, clicks: int) -> Walk:
            async def walk(tally: Tally) -> None:
                posted = Posted(0, "D" + name, "1700000000.000001", {"blocks": [_FLOOR_BUTTON]})
                for _ in range(clicks):
                    posted = await self._click(server, name, posted, (), tally)

            return walk

        await _walk_all([user(f"U{self.run}R{round_}X{u}", 10) for u in range(WARM_USERS)])
        users = [user(f"U{self.run}R{round_}F{u}", len(p)) for u, p in enumerate(walks)]
        return await _timed("slack minimal Bolt", server, self.slack_api, users, self.redis)

    async def _slack_start(self, server: Server, name: str) -> Posted:
        """The user says hi in the bot's DM; untimed, the welcome comes back."""
        team = self.slack_api.team
        message = {"type": "message", "channel": "D" + name, "user": name, "text": "hi"}
        event = {
            "token": "unused",
            "team_id": team,
            "api_app_id": "A0BENCH",
            "type": "event_callback",
            "event_id": f"Ev{self.run}{name}",
            "event_time": int(time.time()),
            "authorizations": [{"team_id": team, "user_id": "U0BOT", "is_bot": True}],
            "event": {**message, "ts": "1.0", "event_ts": "1.0", "channel_type": "im"},
        }
        waiting = self.slack_api.expect("D" + name, _not_checklist)
        await self._slack_post(server, json.dumps(event), "application/json")
        return _slack_question(await asyncio.wait_for(waiting, TURN_TIMEOUT))

    async def _click(
        self, server: Server, name: str, posted: Posted, ids: tuple[str, ...], tally: Tally
    ) -> Posted:
        """Press the button for `ids` (or tick them and press Continue) on `posted`."""
        blocks = posted.body["blocks"]
        action, state = _slack_choice(blocks, ids)
        team = self.slack_api.team
        payload = {
            "type": "block_actions",
            "user": {"id": name, "username": name.lower(), "team_id": team},
            "api_app_id": "A0BENCH",
            "token": "unused",
            "container": {
                "type": "message",
                "message_ts": posted.ref,
                "channel_id": posted.channel,
                "is_ephemeral": False,
            },
            "trigger_id": "1.2.3",
            "team": {"id": team, "domain": "bench"},
            "channel": {"id": posted.channel, "name": "directmessage"},
            "message": {"type": "message", "ts": posted.ref, "text": "", "blocks": blocks},
            "state": {"values": state},
            "response_url": "https://hooks.slack.invalid/actions/bench",
            "actions": [action],
        }
        waiting = self.slack_api.expect(posted.channel, _not_checklist)
        sent, ack = await self._slack_post(server, "payload=" + quote(json.dumps(payload)), FORM)
        got = _slack_question(await asyncio.wait_for(waiting, TURN_TIMEOUT))
        tally.latencies.append((got.at - sent) * 1000)
        tally.acks.append(ack * 1000)
        return got

    async def _slack_post(
        self, server: Server, body: str, content_type: str
    ) -> tuple[float, float]:
        """Sign and send as Slack does; (when it was sent, seconds until the 200)."""
        timestamp = str(int(time.time()))
        signature = self.verifier.generate_signature(timestamp=timestamp, body=body)
        headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": signature or "",
        }
        sent = time.perf_counter()
        async with self.http.post(server.url + "/slack/events", data=body, headers=headers) as r:
            await r.read()
        if r.status != 200:
            raise Failed(f"slack HTTP {r.status}")
        return sent, time.perf_counter() - sent

    # --- Teams --------------------------------------------------------------------------

    async def teams_ours(
        self, server: Server, walks: list[FlowPath], warm: list[FlowPath], round_: int = 0
    ) -> Result:
        async def user(name: str, path: FlowPath) -> Walk:
            joined = {"type": "conversationUpdate", "membersAdded": [{"id": "28:bot"}]}
            try:
                posted = await self._activity(server, name, joined, Tally())
            except Exception as exc:  # counted with the timed turns, as this user's failure
                return _failed(exc)

            async def walk(tally: Tally) -> None:
                nonlocal posted
                for step, ids in path:
                    _expect(_teams_step(posted), step)
                    value = _teams_choice(_card(posted.body), ids)
                    click = {"type": "message", "text": "", "value": value, "replyToId": posted.ref}
                    posted = await self._activity(server, name, click, tally)
                _expect(_teams_step(posted), FINAL)

            return walk

        await _walk_all([await user(f"{self.run}-w{u}", p) for u, p in enumerate(warm)])
        starts = [user(f"{self.run}-r{round_}s{u}", p) for u, p in enumerate(walks)]
        started = await asyncio.gather(*starts)
        return await _timed("teams HTTP turn", server, self.connector, started)

    async def teams_floor(self, server: Server, walks: list[FlowPath], round_: int = 0) -> Result:
        def user(name: str, clicks: int) -> Walk:
            async def walk(tally: Tally) -> None:
                posted = Posted(0, "", "activity-0", {})
                for _ in range(clicks):
                    value = {"token": "1700000000000.1", "option": "start"}
                    click = {"type": "message", "text": "", "value": value, "replyToId": posted.ref}
                    posted = await self._activity(server, name, click, tally, question=False)

            return walk

        await _walk_all([user(f"{self.run}-r{round_}x{u}", 10) for u in range(WARM_USERS)])
        users = [user(f"{self.run}-r{round_}f{u}", len(p)) for u, p in enumerate(walks)]
        return await _timed("teams minimal echo", server, self.connector, users)

    async def _activity(
        self,
        server: Server,
        name: str,
        fields: dict[str, Any],
        tally: Tally,
        question: bool = True,
    ) -> Posted:
        """POST an activity as the Connector does; the bot answers inside the request, with
        a question card (ours) or anything at all (the floor)."""
        chat = f"a:{name}"
        activity_id = f"{time.time_ns()}"
        activity = {
            "id": activity_id,
            "timestamp": "2025-01-01T00:00:00.000Z",
            "channelId": "msteams",
            "serviceUrl": self.connector.url,
            "from": {"id": f"29:{name}", "name": "Bench", "aadObjectId": f"aad-{name}"},
            "recipient": {"id": "28:bot", "name": "Guide"},
            "conversation": {"id": chat, "conversationType": "personal", "tenantId": self.run},
            "channelData": {"tenant": {"id": self.run}},
            "locale": "en-GB",
            **fields,
        }
        body = json.dumps(activity)
        waiting = self.connector.expect(chat, _not_checklist_card if question else _anything)
        sent = time.perf_counter()
        async with self.http.post(
            server.url + "/api/messages", data=body, headers={"Content-Type": "application/json"}
        ) as r:
            await r.read()
        took = time.perf_counter() - sent
        if r.status not in (200, 201):
            raise Failed(f"teams HTTP {r.status}")
        if not waiting.done():
            raise Failed("teams turn ended without a message")
        got = waiting.result()
        if question and not _card(got.body):
            raise Failed(f"the bot said {got.body.get('text', '')[:60]!r}")
        tally.latencies.append(took * 1000)
        return got

    # --- clean-up -----------------------------------------------------------------------

    async def forget(self, url: str) -> None:
        """Delete every key `serve` made for this run's users (and nothing else)."""
        redis = client(url)
        try:
            patterns = (
                f"{PREFIX}:{{slack:{self.slack_api.team}:*",
                f"{PREFIX}:{{teams:{self.run}:*",
            )
            keys = [k for p in patterns async for k in redis.scan_iter(p, count=1000)]
            for chunk in _chunks(keys, 1000):
                await redis.delete(*chunk)
        finally:
            await redis.aclose()


# --- timing -----------------------------------------------------------------------------


async def _alternating(
    ours: Callable[[int], Awaitable[Result]], floor: Callable[[int], Awaitable[Result]]
) -> tuple[Result, Result]:
    """ROUNDS timed runs of each, taking turns to go first, merged: a shared machine drifts
    (other work, the CPU's clock), and one run of each once read 1.3x and 2.6x for the same
    code. Each round's p50 ratio is kept beside the merged figures."""
    mine: list[Result] = []
    theirs: list[Result] = []
    for r in range(ROUNDS):
        if r % 2:
            theirs.append(await floor(r))
            mine.append(await ours(r))
        else:
            mine.append(await ours(r))
            theirs.append(await floor(r))
    merged = Result.merged(mine)
    by_round = (f"{a.pct(50) / b.pct(50):.2f}" for a, b in zip(mine, theirs, strict=True))
    merged.extra["p50_ratio_by_round"] = " ".join(by_round)
    return merged, Result.merged(theirs)


async def _walk_all(walks: list[Walk]) -> None:
    """Untimed walks (the warm-up): a failure here stops the bench, as nothing else works."""
    tally = Tally()
    await asyncio.gather(*(_guarded(w, tally) for w in walks))
    if tally.errors:
        raise RuntimeError(f"warm-up failed: {dict(tally.why)}")


def _failed(exc: Exception) -> Walk:
    """The walk of a user whose conversation did not even start."""

    async def walk(tally: Tally) -> None:
        raise exc

    return walk


async def _guarded(walk: Walk, tally: Tally) -> None:
    try:
        await walk(tally)
    except Exception as exc:  # anything at all: counted, and this user goes no further
        tally.errors += 1
        tally.unfinished += 1
        tally.why[f"{type(exc).__name__}: {exc}"[:120]] += 1


async def _timed(
    name: str, server: Server, standin: StandIn, walks: list[Walk], redis: Redis | None = None
) -> Result:
    """All `walks` at once; the figures for the whole batch, and what it cost each side."""
    commands = await _server_calls(redis) if redis else 0
    cpu, own_cpu, calls = server.cpu_seconds(), time.process_time(), standin.counts.total()
    started = time.perf_counter()
    tally = Tally()
    await asyncio.gather(*(_guarded(w, tally) for w in walks))
    seconds = time.perf_counter() - started
    await asyncio.sleep(0.2)  # let a failing turn's log line land
    problems = server.problems()
    tally.why.update(_summary(p) for p in problems)
    turns = max(len(tally.latencies), 1)
    extra = {
        "users": len(walks),
        "errors": tally.errors,
        "unfinished_users": tally.unfinished,
        "server_log_problems": len(problems),
        "server_cpu_ms_per_turn": round((server.cpu_seconds() - cpu) * 1000 / turns, 3),
        "bench_cpu_ms_per_turn": round((time.process_time() - own_cpu) * 1000 / turns, 3),
        "api_calls_per_turn": round((standin.counts.total() - calls) / turns, 2),
    }
    if redis:  # every command Redis ran, those of scripts too (INFO commandstats)
        ran = await _server_calls(redis) - commands - 1
        extra["redis_commands_per_turn"] = round(max(ran, 0) / turns, 2)
    if tally.acks:
        extra["ack_p50_ms"] = round(_pct(tally.acks, 50), 3)
        extra["ack_p99_ms"] = round(_pct(tally.acks, 99), 3)
    for why, n in tally.why.most_common(5):
        print(f"{name}: {n} x {why}", file=sys.stderr)
    return Result(name, len(tally.latencies), seconds, tally.latencies, extra)


def _summary(line: str) -> str:
    """A server log line, short: the event and error class of ours' JSON lines."""
    try:
        record = json.loads(line)
    except ValueError:
        return line[:120]
    return f"server log: {record.get('event')} ({record.get('error', record.get('level'))})"


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _expect(step: str | None, want: str) -> None:
    if step != want:
        raise Failed(f"expected the {want} question, got {step}")


# --- reading what the bots posted ----------------------------------------------------------

_FLOOR_BUTTON = {
    "type": "actions",
    "elements": [
        {
            "type": "button",
            "action_id": "next",
            "text": {"type": "plain_text", "text": "Next"},
            "value": "0",
        }
    ],
}


def _not_checklist(message: dict[str, Any]) -> bool:
    """Any reply but the final checklist, which comes just before the last question, and the
    offer to tell the lead."""
    blocks = message.get("blocks") or [{}]
    first = blocks[0].get("text", {}).get("text", "") if isinstance(blocks[0], dict) else ""
    asks = any(b.get("type") == "actions" for b in blocks)  # not an answer drawn in place
    return asks and blocks[0].get("type") != "header" and not first.startswith(f"*{OFFER}*")


def _slack_question(posted: Posted) -> Posted:
    """A question, or the turn failed (the bot said it was unavailable, say)."""
    if not any(b.get("type") == "actions" for b in posted.body.get("blocks") or ()):
        raise Failed(f"the bot said {posted.body.get('text', '')[:60]!r}")
    return posted


def _slack_step(posted: Posted) -> str | None:
    """The question's first section: the answers so far may be drawn above it."""
    section = next((b for b in posted.body["blocks"] if b.get("type") == "section"), {})
    first = section.get("text", {}).get("text", "")
    return SLACK_TITLES.get(first.partition("\n")[0])


def _slack_choice(blocks: list[dict], ids: tuple[str, ...]) -> tuple[dict, dict]:
    """The action a click on `ids` sends, and the checkbox state that goes with it."""
    block = next(b for b in blocks if b["type"] == "actions")
    block_id = block.get("block_id", "b0")
    elements = block["elements"]
    stamp = {"block_id": block_id, "action_ts": f"{time.time():.6f}"}
    if any(e["type"] == "checkboxes" for e in elements):
        submit = next(e for e in elements if e["action_id"] == slack_blocks.SUBMIT)
        ticked = [{"value": i, "text": {"type": "plain_text", "text": i}} for i in ids]
        state = {block_id: {slack_blocks.PICK: {"type": "checkboxes", "selected_options": ticked}}}
        return {**submit, **stamp}, state
    if not ids:
        return {**elements[0], **stamp}, {}
    button = next(e for e in elements if e["action_id"] == slack_blocks.ANSWER + ids[0])
    return {**button, **stamp}, {}


def _card(activity: dict[str, Any]) -> dict[str, Any] | None:
    for attachment in activity.get("attachments") or ():
        if attachment.get("contentType") == "application/vnd.microsoft.card.adaptive":
            return attachment["content"]
    return None


def _actions(card: dict[str, Any]) -> list[dict[str, Any]]:
    return [a for b in card["body"] if b["type"] == "ActionSet" for a in b["actions"]]


def _not_checklist_card(activity: dict[str, Any]) -> bool:
    """Any reply but the final checklist card (whose one button is "Copy as text"), and the
    offer to tell the lead."""
    card = _card(activity)
    if card is None:
        return True
    offer = (card.get("body") or [{}])[0].get("text") == OFFER
    return not offer and not any(a["data"].get(teams_cards.AS_TEXT) for a in _actions(card))


def _anything(activity: dict[str, Any]) -> bool:
    return True


def _teams_step(posted: Posted) -> str | None:
    card = _card(posted.body)
    return TEAMS_TITLES.get(card["body"][0]["text"]) if card else None


def _teams_choice(card: dict[str, Any] | None, ids: tuple[str, ...]) -> dict[str, str]:
    """An Action.Submit's data: the option's button, or Continue with the ticked options."""
    assert card
    actions = _actions(card)
    if any(b["type"] == "Input.ChoiceSet" for b in card["body"]):
        return {**actions[0]["data"], teams_cards.MULTI_INPUT: ",".join(ids)}
    return next(a["data"] for a in actions if a["data"].get("option") == ids[0])
