"""Hostile input, as properties: 3,360 generated examples, each one or more requests, at both
chat routes.

Whatever arrives, the answer is a 4xx or a polite answer in the user's own chat, never a 5xx;
and nothing unauthenticated or malformed changes anything. "Changes" means any key under the
test's Redis prefix created, changed or deleted (all keys and values are compared), or any
call to the Slack Web API or Bot Framework Connector stand-ins.

A polite answer to a valid delivery writes two things, and they are allowed there only:

- the user's recent deliveries (a key whose name ends `:seen`), once per accepted Slack
  message event or Teams activity, so that a re-delivery is dropped;
- the user's `...:msg` pointer, moved to the question the answer has just re-posted in the
  same chat, so that a typed answer later updates that message.

A request refused with a 4xx writes neither, and a user's progress (step, answers, version)
never changes for a wrong click, a stale or another user's token, or text that reads as
nothing.

The apps run against the session's real Redis on a thread of their own
(`tests.hostile_server`), so each example costs plain HTTP requests. Where one generated body
is naturally tried several ways (under several forgeries, at several routes), one example
sends several requests: Hypothesis's own cost per example is several times a request's.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import functools
import hashlib
import hmac
import json
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import pytest
from botframework.connector.auth import AuthenticationConstants
from botframework.connector.auth.emulator_validation import EmulatorValidation
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from adapters.slack import app as slack_app
from adapters.slack import blocks as slack_blocks
from adapters.teams import cards as teams_cards
from adapters.teams import request as teams_request
from bot.web import MAX_BODY
from conversation import flow, typed
from conversation.messages import Notice
from tests.drivers.connector import Call as TeamsCall
from tests.drivers.slack_api import Call as SlackCall
from tests.drivers.slack_user import SECRET, SlackUser, signed
from tests.drivers.slack_user import step_of as slack_step
from tests.drivers.teams_user import APP_ID, TeamsUser, actions
from tests.drivers.teams_user import step_of as teams_step

from .hostile_server import Client, Reply, Servers, Snapshot
from .identity_standin import KID

FLOW = flow.load()
NOTICES = FLOW.notices


def reads_as_nothing(step: str, text: str) -> bool:
    """Text the engine answers with "didn't catch that" (or, when long, its kind word):
    no command, greeting or answer in it, even with a slip."""
    reading = typed.read(FLOW.step(step), text)
    if typed.command(text) or typed.greeting(text) or reading.options:
        return False
    if typed.reference(text) is not None:  # a reference number for a record, or how to add one
        return False
    return reading.long or not (typed.nearly_greeting(text) or typed.nearly_command(text))


POLITE = {
    NOTICES["stale"],
    NOTICES["unclear"],
    NOTICES["long"],
    *(
        NOTICES["exclusive"].format(option=o.label)
        for step in FLOW.steps
        for o in step.options
        if o.exclusive
    ),
}
"""What a wrong click or unreadable text is told, before the question is asked again."""
ALL_OPTIONS = sorted({o.id for step in FLOW.steps for o in step.options})
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
CONTENT_TYPES = [
    JSON,
    FORM,
    "text/plain",
    "text/xml",
    "multipart/form-data; boundary=x",
    "application/json; charset=utf-16",
    "APPLICATION/JSON",
    "application/x-www-form-urlencoded; charset=latin-1",
    "application/octet-stream",
    "",
]


EXAMPLES: Counter[str] = Counter()
"""The examples each generated test ran to the end in this run."""


def hostile(examples: int) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Reproducible in CI: a fixed seed, no example database, no per-example deadline. Each
    example must throw at least one request (none is vacuous) and the test must run all
    `examples` of them. Both are stable: what an example draws (and so how many requests it
    throws) moves when unrelated code changes, because Hypothesis draws literals from every
    loaded module, but neither the number of examples run nor "at least one each" does."""

    def decorate(test: Callable[..., None]) -> Callable[..., None]:
        name = test.__name__
        inner = test.hypothesis.inner_test  # type: ignore[attr-defined]

        def example(*args: Any, **kwargs: Any) -> None:
            sent: Counter[str] = kwargs["servers"].sent
            before = sent[name]
            inner(*args, **kwargs)
            assert sent[name] > before, "an example threw no request"
            EXAMPLES[name] += 1

        test.hypothesis.inner_test = example  # type: ignore[attr-defined]
        run = _settings(examples)(test)

        @functools.wraps(run)
        def checked(**fixtures: Any) -> None:
            EXAMPLES[name] = 0
            run(**fixtures)
            assert EXAMPLES[name] >= examples, (EXAMPLES[name], examples)

        return checked

    return decorate


def _settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
            HealthCheck.filter_too_much,
        ],
    )


# --- generated text and JSON --------------------------------------------------------------

ODD = [
    "\u202e",  # right-to-left override
    "\u2066\u2069\u200f",  # isolates, right-to-left mark
    "\u200b\u200d\ufeff",  # zero width space and joiner, byte order mark
    "\x00",
    "\x1b[2J",
    "e\u0301\u0301\u0301\u0336\u0489",  # stacked combining marks
    "\ud800",  # lone surrogates: in JSON they travel as \\ud800 escapes
    "\udfff\ud83d",
    "\ufffd\uffff\U0010ffff",
    "\u2028\u2029\r\n",
    "\ufdfa",  # one character that NFKC makes eighteen
    "ǅİßﬃ",
    "١٢٣①𝟙",  # digits that are not ASCII
    "👩‍👩‍👧",
    "<@U0BOT> <!channel> *bold* &lt;",
    "'; DROP TABLE users; --",
    "{{7*7}} %s %n ../../",
    "payload=",
    "ssl_check=1",
]
ODD_CATEGORIES = ("Mn", "Me", "Cf", "Cs", "Co", "Cc", "Zl", "Zp")
odd_characters = st.text(st.characters(categories=ODD_CATEGORIES), max_size=12)
short_text = st.one_of(
    odd_characters,
    st.text(max_size=12),
    st.builds(str.__add__, st.sampled_from(ODD), odd_characters),
)
"""A few characters of the kinds that break parsers, renderers and encoders."""


def _stretch(piece: str, length: int) -> str:
    piece = piece or "\u202e"
    return (piece * (length // len(piece) + 1))[:length]


long_text = st.builds(_stretch, short_text, st.integers(10_000, 12_000))
"""Over 10k characters; at most 12k, so that even \\uXXXX escapes keep it under MAX_BODY."""
odd_text = st.one_of(short_text, short_text, long_text)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | short_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=4,
)
DEEP = "\x00deep\x00"
"""Stands in a generated value for JSON nested thousands deep, spliced in as bytes."""
_GONE = object()


def _locations(value: Any, at: tuple = ()) -> list[tuple]:
    found = [at]
    if isinstance(value, dict):
        for key, inner in value.items():
            found += _locations(inner, (*at, key))
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            found += _locations(inner, (*at, i))
    return found


def _edit(value: Any, at: tuple, new: Any) -> Any:
    """`value` with the node at `at` replaced by `new`, or removed if `new` is `_GONE`."""
    if not at:
        return {} if new is _GONE else new
    parent = value
    for step in at[:-1]:
        parent = parent[step]
    if new is _GONE:
        del parent[at[-1]]
    else:
        parent[at[-1]] = new
    return value


REPLACEMENTS = st.one_of(json_values, st.just(_GONE), st.just(DEEP))
EDITS = st.lists(st.tuples(st.integers(0, 10**6), REPLACEMENTS), min_size=1, max_size=3)


@st.composite
def mutated(draw: st.DrawFn, template: Any) -> Any:
    """A valid body with one to three nodes replaced by other JSON, or removed."""
    value = copy.deepcopy(template)
    for where, new in draw(EDITS):
        found = _locations(value)
        value = _edit(value, found[where % len(found)], new)
    return value


def to_json(value: Any, ascii_only: bool = True, depth: int = 5_000) -> bytes:
    """JSON bytes; lone surrogates as escapes (or, with `ascii_only` off, as invalid UTF-8)."""
    raw = json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    return raw.replace(json.dumps(DEEP).encode(), b"[" * depth + b"]" * depth)


def to_form(form: dict[str, Any]) -> bytes:
    return urlencode(
        {k: v if isinstance(v, str) else json.dumps(v) for k, v in form.items()},
        errors="surrogatepass",
    ).encode()


@st.composite
def truncated(draw: st.DrawFn, body: bytes) -> bytes:
    return body[: draw(st.integers(0, max(0, len(body) - 1)))]


# --- the servers, and what changed -------------------------------------------------------


@pytest.fixture(scope="module")
def servers(redis_url: str) -> Iterator[Servers]:
    """The apps, the stand-ins and a fresh Redis prefix, for the whole module."""
    running = Servers(redis_url, f"test:{uuid.uuid4().hex[:12]}").start()
    yield running
    running.stop()


Changes = dict[bytes, tuple[bytes | None, bytes | None]]


@dataclass
class Watch:
    """What requests did: the keys they touched, the calls they made, what was logged."""

    servers: Servers
    before: Snapshot
    slack_calls: int
    teams_calls: int
    failures: int
    after: Snapshot | None = field(default=None)

    @classmethod
    def start(cls, servers: Servers) -> Watch:
        return cls(
            servers,
            servers.snapshot(),
            len(servers.api.calls),
            len(servers.connector.calls),
            len(servers.failures.records),
        )

    def changes(self) -> Changes:
        if self.after is None:  # the Slack bot answers after its ack: wait for its turns
            self.after = self.servers.settle()
        return {
            key: (self.before.get(key), self.after.get(key))
            for key in self.before.keys() | self.after.keys()
            if self.before.get(key) != self.after.get(key)
        }

    def slack(self) -> list[SlackCall]:
        self.changes()
        return self.servers.api.calls[self.slack_calls :]

    def teams(self) -> list[TeamsCall]:
        return self.servers.connector.calls[self.teams_calls :]

    def logged(self) -> list[str]:
        return [r.getMessage() for r in self.servers.failures.records[self.failures :]]

    def nothing(self) -> None:
        assert self.changes() == {}
        assert self.slack() == [] and self.teams() == []

    def forget_deliveries(self) -> None:
        """Drop the retry-dedup keys written since the start (once checked), so that the
        snapshots stay small."""
        new = [k for k, (old, _) in self.changes().items() if k.endswith(b":seen")]
        self.servers.forget(*new)


def deliveries(changes: Changes) -> tuple[list[bytes], Changes]:
    """The user's recent-deliveries key among the changes (its name ends ":seen"), and
    every other change."""
    seen = [k for k in changes if k.endswith(b":seen")]
    return seen, {k: v for k, v in changes.items() if k not in seen}


def key_of(servers: Servers, user: SlackUser | TeamsUser) -> bytes:
    return servers.engine.store.keys.user(user.key).encode()


def pointer_of(servers: Servers, user: SlackUser | TeamsUser) -> bytes:
    return servers.engine.store.keys.message(user.key).encode()


def pointer_to(token: str, ref: str) -> bytes:
    """The pointer's value for the question with `token`, posted at `ref`: the question's
    version (the token's last part) orders the pointers, so that a question asked again
    knows the older message shows the same question."""
    version = token.rpartition(".")[2]
    return f"{version}|{ref}".encode()


def closing(calls: list, before: bytes | None) -> list:
    """The calls less those closing the question the pointer named before (a question asked
    again closes its older message; in Slack, a stale click on that very message draws it
    again with the current question instead), which must be the only ones of their kind."""
    where = (before or b"").decode().partition("|")[2].split("\n")
    kept = []
    for call in calls:
        if getattr(call, "method", "") == "chat.update":
            assert call.args["ts"] == where[1]
            assert call.args["text"].endswith(slack_blocks.CLOSED) or call.actions
        elif getattr(call, "method", "") == "PUT":
            assert call.body["summary"] == teams_cards.CLOSED
            assert (call.conversation, call.activity_id) == (where[0], where[1])
        else:
            kept.append(call)
    assert len(calls) - len(kept) <= 1
    return kept


# --- Slack: signing, sending, and the conversations under attack ------------------------------


def slack_sign(body: bytes, timestamp: str, secret: str = SECRET) -> str:
    """Slack's v0 signature, for any bytes and any timestamp (the SDK's wants UTF-8 and int)."""
    base = b"v0:" + timestamp.encode("utf-8", "surrogatepass") + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def slack_post(
    servers: Servers,
    body: bytes,
    content_type: str | None,
    headers: dict[str, Any],
    chunked: bool = False,
) -> Reply:
    sent = {"Content-Type": content_type} if content_type is not None else {}
    return servers.slack.post("/slack/events", body, {**sent, **headers}, chunked)


def newest_question(servers: Servers, user: SlackUser) -> SlackCall:
    """The user's current question: the newest message with buttons in their DM (read from
    the end, as every polite answer posts the question once more)."""
    return next(c for c in reversed(servers.api.to(user.dm)) if c.actions)


def token_of(message: SlackCall) -> str:
    return next(e["value"] for e in message.actions if e["type"] == "button")


def click(user: SlackUser, message: SlackCall, ticked: tuple[str, ...] = ()) -> dict:
    """What Slack sends for the message's first button: Continue under the ticked boxes, or
    its first option."""
    button = next(e for e in message.actions if e["type"] == "button")
    return user.action_payload(message, button, ticked)


@dataclass
class SlackScene:
    """Real conversations: alice at a "choose all that apply" step, bob at a one-choice step,
    mallory just welcomed (the malformed requests come in her name)."""

    alice: SlackUser
    bob: SlackUser
    mallory: SlackUser
    old: dict[str, list[SlackCall]]
    """Each user's earlier questions, whose buttons carry tokens that are no longer current."""
    servers: Servers

    def other(self, user: SlackUser) -> SlackUser:
        return self.bob if user is self.alice else self.alice

    def question(self, user: SlackUser) -> SlackCall:
        return newest_question(self.servers, user)


@pytest.fixture(scope="module")
def slack_scene(servers: Servers) -> SlackScene:
    async def post(body: bytes, content_type: str, headers: dict[str, str]) -> int:
        status = slack_post(servers, body, content_type, headers).status
        servers.settle()
        return status

    alice, bob, mallory = (SlackUser(post, servers.api, n) for n in ("alice", "bob", "mallory"))

    async def walk() -> None:
        for user in (alice, bob, mallory):
            assert await user.say("hi") == 200
        for ids in ("start", "affected", "continue"):
            assert await alice.answer(ids) == 200
        assert await bob.answer("start") == 200

    asyncio.run(walk())
    assert slack_step(alice.question()) == "perpetrator" and slack_step(bob.question()) == "role"
    assert token_of(alice.question()) != token_of(bob.question())
    old = {u.id: servers.api.questions(u.dm)[:-1] for u in (alice, bob)}
    return SlackScene(alice, bob, mallory, old, servers)


def acceptable(step_id: str, chosen: tuple[str, ...]) -> bool:
    """Would the step take this choice with the right token? Only to leave valid clicks out."""
    step = FLOW.step(step_id)
    picked = [o for o in step.options if o.id in chosen]
    return (
        bool(picked)
        and len(picked) == len(set(chosen))
        and (len(picked) == 1 or step.multi)
        and not (len(picked) > 1 and any(o.exclusive for o in picked))
    )


# --- Slack: unsigned, forged, stale and replayed ---------------------------------------------

HEADER_TEXT = st.text(st.characters(exclude_categories=("Cc", "Cs")), max_size=60)
"""Printable text for a header; control characters are the HTTP parser's business (400)."""

forgeries = st.one_of(
    st.tuples(st.just("no headers"), st.none()),
    st.tuples(st.just("timestamp only"), st.none()),
    st.tuples(st.just("signature only"), st.none()),
    st.tuples(st.just("wrong secret"), st.text(max_size=40).filter(lambda s: s != SECRET)),
    st.tuples(st.just("stale"), st.integers(301, 10**9)),
    # Five minutes ahead and a minute more: the seconds between signing and checking bring
    # a stamp 301 s ahead back inside Slack's five minutes on a slow machine (seen in CI).
    st.tuples(st.just("from the future"), st.integers(360, 10**9)),
    st.tuples(st.just("signed for another body"), st.binary(min_size=1, max_size=64)),
    st.tuples(st.just("one digit changed"), st.integers(3, 66)),
    st.tuples(
        st.just("odd timestamp"), HEADER_TEXT.filter(lambda t: not (t.isascii() and t.isdigit()))
    ),
    st.tuples(st.just("garbage"), st.tuples(HEADER_TEXT, HEADER_TEXT)),
)


def forge(body: bytes, how: str, detail: Any) -> dict[str, str | bytes]:
    """Headers that do not prove the body came from Slack in the last five minutes."""
    now = int(time.time())
    good = {"X-Slack-Request-Timestamp": str(now), "X-Slack-Signature": slack_sign(body, str(now))}
    if how == "no headers":
        return {}
    if how == "timestamp only":
        return {"X-Slack-Request-Timestamp": str(now)}
    if how == "signature only":
        return {"X-Slack-Signature": good["X-Slack-Signature"]}
    if how == "wrong secret":
        return {**good, "X-Slack-Signature": slack_sign(body, str(now), detail)}
    if how in ("stale", "from the future"):
        at = str(now - detail if how == "stale" else now + detail)
        return {"X-Slack-Request-Timestamp": at, "X-Slack-Signature": slack_sign(body, at)}
    if how == "signed for another body":  # a replayed signature, or a truncated body
        other = body + detail if len(detail) % 2 else body[: -len(detail)] or detail
        other = other if other != body else body + b"\n"
        return {**good, "X-Slack-Signature": slack_sign(other, str(now))}
    if how == "one digit changed":
        sig = good["X-Slack-Signature"]
        digit = "0" if sig[detail] != "0" else "1"
        return {**good, "X-Slack-Signature": sig[:detail] + digit + sig[detail + 1 :]}
    if how == "odd timestamp":  # correctly signed, over a timestamp that is not a number
        return {
            "X-Slack-Request-Timestamp": detail.encode(),
            "X-Slack-Signature": slack_sign(body, detail),
        }
    timestamp, signature = detail
    return {
        "X-Slack-Request-Timestamp": timestamp.encode(),
        "X-Slack-Signature": signature.encode(),
    }


ALICE_SENDS = st.sampled_from(
    ["answer", "delete my data", "text", "command", "bytes", "json", "ssl check"]
)
ANY_CONTENT_TYPE = st.sampled_from(CONTENT_TYPES)


@st.composite
def alice_would_send(draw: st.DrawFn, scene: SlackScene) -> tuple[bytes, str]:
    """Bodies that, signed, would be valid and would change alice's conversation."""
    alice = scene.alice
    kind = draw(ALICE_SENDS)
    if kind == "answer":
        ticked = draw(st.sets(st.sampled_from(["staff", "pupil", "parent"]), min_size=1))
        return to_form({"payload": click(alice, scene.question(alice), tuple(ticked))}), FORM
    if kind in ("delete my data", "text"):
        return to_json(alice.event(kind if kind != "text" else draw(odd_text))), JSON
    if kind == "command":
        return to_form(alice.command_form()), FORM
    if kind == "bytes":
        return draw(st.binary(max_size=300)), draw(ANY_CONTENT_TYPE)
    if kind == "ssl check":  # Slack's certificate check, which comes unsigned
        return b"ssl_check=1&token=" + draw(st.binary(max_size=20)), FORM
    return to_json(draw(json_values)), JSON


@hostile(900)
@given(data=st.data())
def test_an_unsigned_forged_stale_or_replayed_slack_request_is_refused_and_changes_nothing(
    servers: Servers, slack_scene: SlackScene, data: st.DataObject
) -> None:
    """Each body alice could send, tried under several forgeries."""
    body, content_type = data.draw(alice_would_send(slack_scene), label="body")
    tries = data.draw(st.lists(forgeries, min_size=4, max_size=8), label="forgeries")
    if body.startswith(b"ssl_check=1"):
        expected = 200  # answered, unsigned, with nothing else done
    else:
        try:
            body.decode()
            expected = 401
        except UnicodeDecodeError:
            expected = 400  # refused before the signature is even read
    watch = Watch.start(servers)
    for how, detail in tries:
        reply = slack_post(servers, body, content_type, forge(body, how, detail))
        assert reply.status == expected, (how, reply)
    watch.nothing()


# --- Slack: signed, but malformed ------------------------------------------------------------


SLACK_SHAPES = st.tuples(
    st.sampled_from(
        ["event", "click", "ticks", "ids", "command", "brace", "challenge", "truncated", "any"]
    ),
    st.booleans(),
    st.integers(1, 20_000),
)
"""What a malformed body is made from, whether its JSON is ASCII, how deep to nest."""
FORM_EDITS = st.lists(
    st.tuples(st.integers(0, 100), st.one_of(short_text, st.none())), min_size=1, max_size=4
)
ANOTHER_CONTENT_TYPE = st.one_of(
    st.just("keep"), st.just("keep"), st.just("keep"), st.sampled_from([*CONTENT_TYPES, None])
)


@st.composite
def malformed_slack(draw: st.DrawFn, scene: SlackScene) -> tuple[bytes, str | None]:
    """Signed bodies of the wrong shape: mutated events, clicks and commands, truncated,
    nested too deep, not UTF-8, or under the wrong content type."""
    mallory = scene.mallory
    kind, ascii_only, depth = draw(SLACK_SHAPES)
    if kind == "event":
        body = to_json(draw(mutated(mallory.event(draw(short_text)))), ascii_only, depth)
        content_type = JSON
    elif kind == "click":
        action = {"action_id": slack_blocks.ANSWER + "start", "type": "button", "value": "1.1"}
        raw = to_json(draw(mutated(mallory.action_payload(scene.question(mallory), action))))
        body = to_form({"payload": raw.decode("utf-8", "surrogatepass")})
        content_type = FORM
    elif kind == "ticks":  # a Continue whose ticks are anything at all
        go = {"action_id": slack_blocks.SUBMIT, "type": "button", "value": "1.1"}
        payload = mallory.action_payload(scene.question(mallory), go)
        ticks = draw(st.one_of(json_values, st.lists(json_values, max_size=3)))
        payload["state"] = {"values": {"b0": {slack_blocks.PICK: {"selected_options": ticks}}}}
        body = to_form({"payload": to_json(payload).decode("utf-8", "surrogatepass")})
        content_type = FORM
    elif kind == "ids":  # the ids Bolt would guess from, set to anything
        event = mallory.event("hi")
        for field in ("enterprise_id", "is_enterprise_install", "user", "authorizations"):
            event[field] = draw(json_values)
        body, content_type = to_json(event), JSON
    elif kind == "command":
        form: dict[str, Any] = mallory.command_form()
        for key, new in draw(FORM_EDITS):
            form[sorted(form)[key % len(form)]] = new
        body = to_form({k: v for k, v in form.items() if v is not None})
        content_type = FORM
    elif kind == "brace":  # a form that opens with "{", which Bolt once read as JSON
        body, content_type = b"{=" + to_form(mallory.command_form()), FORM
    elif kind == "challenge":
        body = to_json(draw(mutated({"type": "url_verification", "challenge": "c"})))
        content_type = JSON
    elif kind == "truncated":
        valid = to_json(mallory.event("help"))  # valid if cut right, and changes nothing
        valid += to_form({"payload": click(mallory, scene.question(mallory))})
        body, content_type = draw(truncated(valid)), JSON
    else:
        body, content_type = to_json(draw(json_values), ascii_only, depth), JSON
    if (other := draw(ANOTHER_CONTENT_TYPE)) != "keep":
        content_type = other
    return body, content_type


@hostile(480)
@given(data=st.data())
def test_a_signed_but_malformed_slack_request_gets_a_4xx_and_changes_nothing(
    servers: Servers, slack_scene: SlackScene, data: st.DataObject
) -> None:
    """Only Slack can sign, but Bolt must not turn its odd bodies into a 500 either."""
    bodies = data.draw(st.lists(malformed_slack(slack_scene), min_size=1, max_size=4))
    for body, content_type in bodies:
        watch = Watch.start(servers)
        now = str(int(time.time()))
        headers = {"X-Slack-Request-Timestamp": now, "X-Slack-Signature": slack_sign(body, now)}
        reply = slack_post(servers, body, content_type, headers)
        assert reply.status in (200, 400), reply
        if reply.status == 400:
            watch.nothing()
            continue
        # Signed and readable after all: mallory's own turn may run, and touches no one else.
        for user in (slack_scene.alice, slack_scene.bob):
            assert not any(k.startswith(key_of(servers, user)) for k in watch.changes())
            assert all(c.channel != user.dm for c in watch.slack())
        watch.forget_deliveries()


# --- Slack: valid requests with wrong content, in a real conversation -------------------------


OPTIONS = st.one_of(st.sampled_from(ALL_OPTIONS), short_text)
"""Option ids of every step, and ids of none."""
CLICKS = st.tuples(
    st.sampled_from(["current", "old", "another user's", "made up", "missing"]),
    st.sampled_from(["answer", "continue", "tick", "other button"]),
    short_text.filter(lambda t: t != slack_blocks.SUBMIT),
)
"""Whose token a click carries, what kind of click it is, and a made-up token or action id."""


@st.composite
def wrong_clicks(draw: st.DrawFn, scene: SlackScene) -> tuple[SlackUser, dict, str]:
    """A click by alice or bob on a question of theirs that the step cannot take: an unknown
    button, an option of another step, a stale, made-up, missing or another user's token.
    Returns the user, the payload and the kind of click."""
    user = (scene.alice, scene.bob)[draw(st.integers(0, 1))]
    current, old = scene.question(user), scene.old[user.id]
    step, token = slack_step(current), token_of(current)
    message = ([current, *old])[draw(st.integers(0, len(old)))]
    whose, kind, made_up = draw(CLICKS)
    if whose == "current":
        value = {"value": token}
    elif whose == "old":
        value = {"value": token_of(old[draw(st.integers(0, len(old) - 1))])}
    elif whose == "another user's":
        value = {"value": token_of(scene.question(scene.other(user)))}
    elif whose == "made up":
        value = {"value": made_up}
    else:
        value = {}
    has_boxes = any(e["type"] == "checkboxes" for e in message.actions)
    chosen: tuple[str, ...] = ()
    if kind == "answer":
        chosen = (draw(OPTIONS),)
        action = {"action_id": slack_blocks.ANSWER + chosen[0], "type": "button", **value}
    elif kind == "continue":
        chosen = tuple(draw(st.lists(OPTIONS, max_size=4))) if has_boxes else ()
        action = {"action_id": slack_blocks.SUBMIT, "type": "button", **value}
    elif kind == "tick":
        action = {"action_id": slack_blocks.PICK, "type": "checkboxes", "selected_options": []}
    else:
        action = {"action_id": made_up, "type": "button", **value}
    assume(not (kind == "other button" and made_up.startswith(slack_blocks.ANSWER)))
    assume(not (whose == "made up" and made_up == token))
    valid = kind in ("answer", "continue") and whose == "current" and acceptable(step, chosen)
    assume(not valid)
    return user, user.action_payload(message, action, chosen), kind


@hostile(370)
@given(data=st.data())
def test_a_wrong_slack_click_is_answered_politely_in_the_dm_and_changes_nothing(
    servers: Servers, slack_scene: SlackScene, data: st.DataObject
) -> None:
    """Signed clicks a real user could make with an old message or a crafted payload: the
    notice and the current question again, and the progress exactly as it was."""
    for _ in range(data.draw(st.integers(1, 3), label="clicks")):
        user, payload, kind = data.draw(wrong_clicks(slack_scene), label="click")
        current = slack_scene.question(user)
        step, token = slack_step(current), token_of(current)
        watch = Watch.start(servers)
        body = to_form({"payload": payload})
        reply = slack_post(servers, body, FORM, signed(body))
        if payload["actions"][0]["action_id"] == "":
            assert reply.status == 400, reply
            watch.nothing()
            continue
        assert reply.status == 200, reply
        if kind in ("tick", "other button"):  # acknowledged, and nothing else
            watch.nothing()
            continue
        calls = watch.slack()
        redrawn = [c for c in calls if c.method == "chat.update" and c.actions]
        if redrawn:  # on the message showing the live question: told so, it drawn again
            notice, question = (c for c in calls if c not in redrawn), redrawn[0]
            (notice,) = notice
            assert len(calls) == 2 and question.args["ts"] == current.response["ts"]
            assert notice.method == "chat.postMessage"
        else:
            notice, question = closing(calls, watch.before.get(pointer_of(servers, user)))
            assert notice.method == question.method == "chat.postMessage"
        assert notice.channel == question.channel == user.dm
        assert notice.text in {slack_blocks.render(Notice(t))[0] for t in POLITE}
        assert slack_step(question) == step and token_of(question) == token
        pointer = pointer_of(servers, user)
        if redrawn:  # the pointer names that message already
            assert watch.changes() == {}
        else:
            moved = pointer_to(token, f"{user.dm}\n{question.response['ts']}")
            assert watch.changes() == {pointer: (watch.before.get(pointer), moved)}
        assert watch.logged() == []


@hostile(280)
@given(data=st.data())
def test_odd_unicode_typed_in_the_dm_or_after_the_command_is_answered_politely(
    servers: Servers, slack_scene: SlackScene, data: st.DataObject
) -> None:
    """RTL overrides, NULs, lone surrogates as JSON escapes, combining marks, 10k+ characters:
    read as nothing, answered in the DM; a re-delivery of the same event is dropped."""
    user = data.draw(st.sampled_from([slack_scene.alice, slack_scene.bob]), label="who")
    current = slack_scene.question(user)
    step, token = slack_step(current), token_of(current)
    text = data.draw(odd_text, label="text")
    watch = Watch.start(servers)
    event_id = None
    if data.draw(st.booleans(), label="as the command's text"):
        channel = data.draw(st.sampled_from([user.dm, "C0GENERAL"]))
        # "payload" anywhere in a form once made Bolt read the whole command as empty.
        body = to_form({**user.command_form(channel), "text": f"{text} payload"})
        assert slack_post(servers, body, FORM, signed(body)).status == 200
        calls = closing(watch.slack(), watch.before.get(pointer_of(servers, user)))
        assert len(calls) == (3 if channel == user.dm else 4)
        assert calls[0].method == "conversations.open" and calls[0].args["users"] == user.id
        if channel != user.dm:  # only "I've sent you a direct message", only to them
            moved = calls[1]
            assert moved.method == "respond" and moved.text == slack_app.MOVED_PRIVATE
            assert moved.args["response_type"] == "ephemeral"
        *_, notice, question = calls
        assert notice.text.startswith("Welcome back")
    else:
        assume(reads_as_nothing(step, text))
        event = user.event(text)
        body = to_json(event)
        assert slack_post(servers, body, JSON, signed(body)).status == 200
        notice, question = closing(watch.slack(), watch.before.get(pointer_of(servers, user)))
        said = "long" if typed.read(FLOW.step(step), text).long else "unclear"
        assert notice.text == slack_blocks.render(Notice(NOTICES[said]))[0]
        event_id = event["event_id"].encode()
    assert notice.channel == question.channel == user.dm
    assert slack_step(question) == step and token_of(question) == token
    pointer = pointer_of(servers, user)
    moved_to = pointer_to(token, f"{user.dm}\n{question.response['ts']}")
    seen, changed = deliveries(watch.changes())
    assert changed == {pointer: (watch.before.get(pointer), moved_to)}
    assert watch.logged() == []
    if event_id is None:  # a command has no delivery id: nothing marks it
        assert seen == []
    else:  # the event is marked delivered; re-sent, re-signed, with the same id, it is dropped
        (marked,) = seen
        assert marked == servers.engine.store.keys.seen(user.key).encode()
        assert servers.run(servers.redis.zscore(marked, b"slack:" + event_id)) is not None
        again = Watch.start(servers)
        headers = {**signed(body), "X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "timeout"}
        assert slack_post(servers, body, JSON, headers).status == 200
        again.nothing()
        watch.forget_deliveries()


# --- Teams: sending, and the conversations under attack --------------------------------------


def teams_post(
    client: Client,
    body: bytes,
    content_type: str | None = JSON,
    headers: dict | None = None,
    chunked: bool = False,
) -> Reply:
    sent = {"Content-Type": content_type} if content_type is not None else {}
    return client.post("/api/messages", body, {**sent, **(headers or {})}, chunked)


def newest_card(servers: Servers, user: TeamsUser) -> TeamsCall:
    """The user's current question card, read from the end of their chat."""
    return next(
        c for c in reversed(servers.connector.sent_to(user.chat)) if c.card and actions(c.card)
    )


def card_token(card: TeamsCall) -> str:
    return actions(card.card)[0]["data"]["token"]


@dataclass
class TeamsScene:
    """Real 1:1 chats: alice at a "choose all that apply" step, bob at a one-choice step,
    mallory just welcomed (the malformed activities come in her name)."""

    alice: TeamsUser
    bob: TeamsUser
    mallory: TeamsUser
    old: dict[str, list[TeamsCall]]
    servers: Servers

    def other(self, user: TeamsUser) -> TeamsUser:
        return self.bob if user is self.alice else self.alice

    def question(self, user: TeamsUser) -> TeamsCall:
        return newest_card(self.servers, user)


@pytest.fixture(scope="module")
def teams_scene(servers: Servers) -> TeamsScene:
    async def post(body: dict | bytes) -> int:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        return teams_post(servers.teams, raw).status

    alice, bob, mallory = (
        TeamsUser(post, servers.connector, n) for n in ("alice", "bob", "mallory")
    )

    async def walk() -> None:
        for user in (alice, bob, mallory):
            assert await user.install() == 201
        for ids in ("start", "affected", "continue"):
            assert await alice.answer(ids) == 201
        assert await bob.answer("start") == 201

    asyncio.run(walk())
    assert teams_step(alice.question()) == "perpetrator" and teams_step(bob.question()) == "role"
    assert card_token(alice.question()) != card_token(bob.question())
    old = {
        u.id: [c for c in servers.connector.sent_to(u.chat) if c.card and actions(c.card)][:-1]
        for u in (alice, bob)
    }
    return TeamsScene(alice, bob, mallory, old, servers)


not_a_string = json_values.filter(lambda v: not isinstance(v, str))
NOT_JSON = st.sampled_from(
    [*(c for c in CONTENT_TYPES if c.split(";")[0].casefold() != JSON), None]
)
"""Content types that are not JSON (a charset parameter or capitals do not change that)."""
TEAMS_SHAPES = st.tuples(
    st.sampled_from(
        [
            "mutated",
            "missing",
            "bad value",
            "text not a string",
            "invoke",
            "not json",
            "wrong type",
            "deep",
            "truncated",
        ]
    ),
    short_text,
)
NEEDED = st.tuples(
    st.sampled_from(
        [
            ("id",),
            ("from", "id"),
            ("recipient", "id"),
            ("conversation", "id"),
            ("serviceUrl",),
            ("type",),
            ("from",),
            ("conversation",),
        ]
    ),
    st.one_of(st.just(_GONE), st.just(""), not_a_string),
)
"""A field every turn needs, and what to put in its place: nothing, "", or not a string."""
NOT_HTTP = st.sampled_from(["file:///etc/passwd", "ftp://x", "HTTP://x", "//x"])


@st.composite
def malformed_teams(draw: st.DrawFn, scene: TeamsScene) -> tuple[bytes, str | None, bool]:
    """An activity body, its content type, and whether it is malformed for certain (400);
    otherwise it is a mutation that may still be a readable activity."""
    mallory = scene.mallory
    kind, text = draw(TEAMS_SHAPES)
    message = mallory.activity(text=text)
    if kind == "mutated":
        templates = [
            message,
            mallory.activity(type="conversationUpdate", membersAdded=[{"id": "28:bot-id"}]),
            mallory.activity(value={"token": "1.1", "option": "start"}),
            mallory.activity(kind="channel", chat="19:room@thread.tacv2", text="hi"),
            mallory.activity(type="invoke", name="adaptiveCard/action"),
            mallory.activity(type="typing"),
        ]
        template = templates[draw(st.integers(0, len(templates) - 1))]
        return to_json(draw(mutated(template)), draw(st.booleans())), JSON, False
    if kind == "missing":  # what every turn needs: no, empty or not a string
        where, new = draw(NEEDED)
        if where == ("serviceUrl",) and draw(st.booleans()):
            new = draw(NOT_HTTP)
        return to_json(_edit(copy.deepcopy(message), where, new)), JSON, True
    if kind == "bad value":  # a card submit whose token, option or options is not a string
        wrong = draw(not_a_string)
        value = {"token": wrong}
        if draw(st.booleans()):
            value = {"token": "1.1", draw(st.sampled_from(["option", "options"])): wrong}
        return to_json({**message, "value": value}), JSON, True
    if kind == "text not a string":  # the SDK would read 1 as "1", the first option
        return (
            to_json({**message, "text": draw(not_a_string.filter(lambda v: v is not None))}),
            JSON,
            True,
        )
    if kind == "invoke":  # nothing this bot draws invokes it
        invoke = mallory.activity(type="invoke", name=text, value={"token": "1.1"})
        return to_json(invoke), JSON, True
    if kind == "not json":
        raw = draw(st.binary(max_size=200))
        assume(not raw.strip().startswith((b"{", b"[", b'"')) and not raw.strip().isdigit())
        return raw, JSON, True
    if kind == "wrong type":
        content_type = draw(NOT_JSON)
        return to_json(message), content_type, True
    if kind == "deep":
        depth = draw(st.integers(500, 50_000))
        return b"[" * depth + b"]" * depth, JSON, True
    return draw(truncated(to_json(message))), JSON, True


@hostile(470)
@given(data=st.data())
def test_a_malformed_teams_activity_gets_a_4xx_and_changes_nothing(
    servers: Servers, teams_scene: TeamsScene, data: st.DataObject
) -> None:
    """Unauthenticated mode, so that the parsing itself is what is fuzzed."""
    for body, content_type, certain in data.draw(
        st.lists(malformed_teams(teams_scene), min_size=1, max_size=4), label="activities"
    ):
        watch = Watch.start(servers)
        reply = teams_post(servers.teams, body, content_type)
        # 413: deeper than any activity is long; 403: a mutation into another channel,
        # tenant or service URL host.
        assert reply.status in ((400, 413) if certain else (200, 201, 400, 403, 413)), reply
        if reply.status in (400, 403, 413):
            watch.nothing()
            continue
        # Still a readable activity: mallory's own turn, and no one else's chat or progress.
        for user in (teams_scene.alice, teams_scene.bob):
            assert not any(k.startswith(key_of(servers, user)) for k in watch.changes())
            assert all(c.conversation != user.chat for c in watch.teams())
        watch.forget_deliveries()


SUBMITS = st.tuples(
    st.sampled_from(["current", "old", "another user's", "made up"]),
    st.sampled_from(["option", "options", "token only", "not a submit"]),
    short_text,
)
"""Whose token a submit carries, its shape, and a made-up token."""
NOT_A_SUBMIT = json_values.filter(lambda v: not (isinstance(v, dict) and "token" in v))


@st.composite
def wrong_submits(draw: st.DrawFn, scene: TeamsScene) -> tuple[TeamsUser, dict]:
    """A card submit by alice or bob that the step cannot take, or text that reads as
    nothing: options of other steps, a stale, made-up or another user's token."""
    user = (scene.alice, scene.bob)[draw(st.integers(0, 1))]
    current, old = scene.question(user), scene.old[user.id]
    step, token = teams_step(current), card_token(current)
    whose, shape, made_up = draw(SUBMITS)
    sent_token = {
        "current": token,
        "old": card_token(old[draw(st.integers(0, len(old) - 1))]) if whose == "old" else "",
        "another user's": card_token(scene.question(scene.other(user))),
        "made up": made_up,
    }[whose]
    text = ""
    chosen: tuple[str, ...] = ()
    if shape == "option":
        chosen = (draw(OPTIONS),)
        value: Any = {"token": sent_token, "option": chosen[0]}
    elif shape == "options":
        picked = ",".join(draw(st.lists(OPTIONS, max_size=4)))
        value = {"token": sent_token, teams_cards.MULTI_INPUT: picked}
        chosen = tuple(p for p in picked.split(",") if p)
    elif shape == "token only":
        value = {"token": sent_token}
    else:
        value = draw(NOT_A_SUBMIT)
        text = draw(odd_text)
        assume(reads_as_nothing(step, text.strip()))
        assume(text.strip().lstrip("/").casefold() != teams_request.COMMAND)
    assume(not (sent_token == token and shape != "not a submit" and acceptable(step, chosen)))
    activity = user.activity(value=value, text=text)
    replies = [current.created, *(c.created for c in old), "x", None]
    reply_to = replies[draw(st.integers(0, len(replies) - 1))]
    if reply_to:
        activity["replyToId"] = reply_to
    return user, activity


@hostile(200)
@given(data=st.data())
def test_a_wrong_teams_submit_is_answered_politely_in_the_chat_and_changes_nothing(
    servers: Servers, teams_scene: TeamsScene, data: st.DataObject
) -> None:
    """Options of other steps, stale, made-up or another user's tokens, text that reads as
    nothing: the notice and the current card again; the same activity re-sent is dropped."""
    user, activity = data.draw(wrong_submits(teams_scene), label="submit")
    current = teams_scene.question(user)
    step, token = teams_step(current), card_token(current)
    body = to_json(activity)
    watch = Watch.start(servers)
    assert teams_post(servers.teams, body).status == 201
    notice, card = closing(watch.teams(), watch.before.get(pointer_of(servers, user)))
    assert notice.conversation == card.conversation == user.chat
    assert notice.method == card.method == "POST" and notice.text in POLITE
    assert teams_step(card) == step and card_token(card) == token
    (seen,), changed = deliveries(watch.changes())  # marked delivered, once
    assert seen == servers.engine.store.keys.seen(user.key).encode()
    pointer = pointer_of(servers, user)
    card_id = actions(card.card)[0]["data"][teams_cards.CARD_ID]
    moved_to = pointer_to(token, f"{user.chat}\n{card.created}\n{card_id}")
    assert changed == {pointer: (watch.before.get(pointer), moved_to)}
    assert watch.logged() == []
    again = Watch.start(servers)  # Teams re-sends an activity it saw no answer to
    assert teams_post(servers.teams, body).status == 201
    again.nothing()
    watch.forget_deliveries()


# --- Teams: nothing gets in without the Bot Framework's signature ---------------------------


@dataclass(frozen=True)
class Keys:
    """The key the tests publish as Microsoft's, and an attacker's. No token is ever signed
    with the first: every token the tests send is forged."""

    trusted: rsa.RSAPrivateKey
    attacker: rsa.RSAPrivateKey


@pytest.fixture(scope="module")
def keys(servers: Servers) -> Keys:
    """The key the Bot Framework stand-in publishes (as Microsoft's), and an attacker's."""
    return Keys(servers.keys.key, rsa.generate_private_key(65537, 2048))


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


ISSUERS = [
    AuthenticationConstants.TO_BOT_FROM_CHANNEL_TOKEN_ISSUER,
    *EmulatorValidation.TO_BOT_FROM_EMULATOR_TOKEN_VALIDATION_PARAMETERS.issuer[:2],
]


TOKEN_SHAPES = st.tuples(
    st.sampled_from(["text", "scheme and text", "jwt", "jwt"]),
    HEADER_TEXT,
    st.sampled_from(["Bearer ", "bearer ", "Basic ", "Bearer  "]),
)
JWT_PARTS = st.tuples(
    st.sampled_from(ISSUERS) | short_text,
    st.sampled_from([APP_ID, "someone-else"]),
    st.integers(-(10**6), 10**6),
    st.sampled_from(["1.0", "2.0"]),
    st.sampled_from(["RS256", "HS256", "none"]),
    st.sampled_from([KID, "unknown", None]),
)
"""Issuer, audience, expiry from now, version, algorithm and key id of a forged JWT."""


@st.composite
def forged_tokens(draw: st.DrawFn, keys: Keys, service_url: str) -> str:
    """An Authorization header that Microsoft did not sign: garbage, the wrong scheme, or a
    JWT from a trusted issuer signed with another key, with no key, or with HMAC."""
    kind, text, scheme = draw(TOKEN_SHAPES)
    if kind == "text":
        return text
    if kind == "scheme and text":
        return scheme + text
    issuer, audience, expires, version, alg, kid = draw(JWT_PARTS)
    now = int(time.time())
    claims = {
        "iss": issuer,
        "aud": audience,
        "exp": now + expires,
        "nbf": now - 60,
        "serviceurl": service_url,
        "appid": APP_ID,
        "ver": version,
    }
    header: dict[str, Any] = {"alg": alg, "typ": "JWT"}
    if kid:
        header["kid"] = kid
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    if alg == "RS256":
        signature = keys.attacker.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    elif alg == "HS256":  # the old trick: Microsoft's public key as an HMAC secret
        public = keys.trusted.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        signature = hmac.new(public, signing_input.encode(), hashlib.sha256).digest()
    else:
        signature = b""
    return f"Bearer {signing_input}.{_b64(signature)}"


ALICE_ACTIVITIES = st.sampled_from(["answer", "delete my data", "install", "malformed"])
ROUTE_NAMES = ["app id", "no app id", "unauthenticated"]
ROUTES = st.sampled_from(ROUTE_NAMES)


@st.composite
def alice_would_activity(draw: st.DrawFn, scene: TeamsScene) -> tuple[bytes, str | None]:
    """Activities that, authenticated, would change alice's conversation; or malformed ones."""
    alice = scene.alice
    current = scene.question(alice)
    kind = draw(ALICE_ACTIVITIES)
    if kind == "answer":
        value = {"token": card_token(current), teams_cards.MULTI_INPUT: "pupil"}
        return to_json(alice.activity(value=value, replyToId=current.created)), JSON
    if kind == "delete my data":
        return to_json(alice.activity(text=kind)), JSON
    if kind == "install":
        members = [{"id": "28:bot-id"}]
        return to_json(alice.activity(type="conversationUpdate", membersAdded=members)), JSON
    body, content_type, _ = draw(malformed_teams(scene))
    return body, content_type


@hostile(620)
@given(data=st.data())
def test_an_unsigned_or_forged_teams_request_is_refused_with_401_and_changes_nothing(
    servers: Servers, teams_scene: TeamsScene, keys: Keys, data: st.DataObject
) -> None:
    """Each body tried with an app id set, with none, and with a bad token where none is
    needed: always 401, whatever the body."""
    body, content_type = data.draw(alice_would_activity(teams_scene), label="activity")
    routes = {
        "app id": servers.teams_signed,
        "no app id": servers.teams_off,
        "unauthenticated": servers.teams,
    }
    tokens = forged_tokens(keys, servers.connector.url)
    assert sorted(routes) == ROUTE_NAMES
    tries = data.draw(
        st.lists(st.tuples(ROUTES, st.none() | tokens), min_size=3, max_size=8),
        label="tries",
    )
    watch = Watch.start(servers)
    for route, token in tries:
        if route == "unauthenticated" and not (token and token.strip()):
            token = "Bearer forged"  # no token is needed there, but a bad one is refused
        headers = {} if token is None else {"Authorization": token.encode()}
        reply = teams_post(routes[route], body, content_type, headers)
        assert reply.status == 401, (route, reply)
    watch.nothing()


# --- bodies over the limit ------------------------------------------------------------------


@hostile(40)
@given(data=st.data())
def test_a_body_over_the_size_limit_is_refused_with_413_before_it_is_read(
    servers: Servers, slack_scene: SlackScene, teams_scene: TeamsScene, data: st.DataObject
) -> None:
    """Even signed, shaped as a valid request up to the padding, or sent in chunks with no
    length given up front."""
    size = data.draw(st.integers(MAX_BODY + 1, 3 * MAX_BODY), label="size")
    route = data.draw(st.sampled_from(["slack", "teams", "teams (app id)", "teams (off)"]))
    chunked = data.draw(st.booleans(), label="chunked")
    watch = Watch.start(servers)
    if route == "slack":
        event = to_json(slack_scene.alice.event("delete my data"))
        body = event[:-1] + b', "pad": "' + b"x" * size + b'"}'
        headers = signed(body) if data.draw(st.booleans(), label="signed") else {}
        reply = slack_post(servers, body, JSON, headers, chunked)
    else:
        activity = to_json(teams_scene.alice.activity(text="delete my data"))
        body = activity[:-1] + b', "pad": "' + b"x" * size + b'"}'
        client = {
            "teams": servers.teams,
            "teams (app id)": servers.teams_signed,
            "teams (off)": servers.teams_off,
        }[route]
        reply = teams_post(client, body, chunked=chunked)
    # With Teams off, the route reads nothing at all: every request is refused with 401.
    # With an app id, a declared length over the limit is refused unread (413); with none
    # declared, the unsigned sender is refused before anything is read (401).
    unread = route == "teams (off)" or (route == "teams (app id)" and chunked)
    assert reply.status == (401 if unread else 413), reply
    watch.nothing()


@settings(max_examples=500, deadline=None)
@given(
    parts=st.lists(
        st.sampled_from([*"ab=&;+#?/ é\\\x00", "%", "%2", "%FF", "%C3%A9", "%2B", "%26"]),
        max_size=40,
    )
)
def test_a_slack_form_reads_field_for_field_as_the_standard_library_reads_it(
    parts: list[str],
) -> None:
    """The route decodes forms with yarl's C unquoter, for speed: whatever the body, every
    field must come out as `parse_qsl` would give it (the last of a repeated field wins)."""
    from urllib.parse import parse_qsl

    from adapters.slack.request import _form

    text = "".join(parts)
    assert _form(text) == dict(parse_qsl(text, keep_blank_values=True))
