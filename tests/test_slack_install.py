"""Many workspaces from one deployment: the app installed from its own page through Slack's
OAuth v2 flow (against the Slack stand-in's `oauth.v2.access`), each workspace answered with
its own token, tokens sealed in Redis, and an uninstall removing that workspace alone."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
import redis as sync_redis
from aiohttp.test_utils import TestClient, TestServer
from cryptography.fernet import Fernet
from slack_sdk.oauth.installation_store import Installation

from adapters.slack import app as slack_app
from adapters.slack.cipher import Cipher
from adapters.slack.installations import Installations, Installed, index_key
from adapters.slack.settings import SCOPES, SlackOAuth, SlackSettings
from adapters.slack.states import States
from bot.config import ConfigError, Settings
from bot.logs import JsonFormatter
from bot.redis_connection import client
from bot.web import create_app
from conversation.engine import Engine
from conversation.messages import UserKey
from conversation.runner import Runner
from conversation.storage import Store
from tests.drivers.slack_api import CLIENT_ID, CLIENT_SECRET, SlackApi
from tests.drivers.slack_user import SECRET, SlackUser, poster, step_of
from tests.helpers import ROOT

from .helpers import serving, stored
from .school_files import write

KEY = Fernet.generate_key().decode()
TOKENS = re.compile(rb"xox[bpe]-")


def oauth_settings(api: SlackApi, *keys: str) -> Settings:
    oauth = SlackOAuth(CLIENT_ID, CLIENT_SECRET, keys or (KEY,))
    return Settings(slack=SlackSettings("", SECRET, api.url, oauth))


@pytest.fixture
async def api() -> AsyncIterator[SlackApi]:
    async with SlackApi(teams={}) as standin:  # no token works until an install
        yield standin


@pytest.fixture
async def http(engine: Engine, api: SlackApi) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(create_app(oauth_settings(api), Runner(engine)))) as client:
        yield client


def bot(http: TestClient) -> slack_app.SlackBot:
    return http.app[slack_app.BOT]


async def install_page(http: TestClient) -> tuple[dict[str, list[str]], str, str]:
    """The "Add to Slack" link's query, where it points, and the state cookie set with it."""
    response = await http.get("/slack/install")
    assert response.status == 200
    (href,) = re.findall(r'href="([^"]+oauth/v2/authorize[^"]*)"', await response.text())
    href = href.replace("&amp;", "&")
    cookie = SimpleCookie(response.headers["Set-Cookie"])["slack-app-oauth-state"].value
    return parse_qs(urlsplit(href).query, keep_blank_values=True), href, cookie


async def redirect(http: TestClient, code: str, state: str, cookie: str | None) -> int:
    """Slack sending the installer back to the bot."""
    headers = {"Cookie": f"slack-app-oauth-state={cookie}"} if cookie else {}
    response = await http.get(
        "/slack/oauth_redirect", params={"code": code, "state": state}, headers=headers
    )
    await response.release()
    return response.status


async def install(
    http: TestClient, api: SlackApi, team: str, enterprise: str | None = None, org_wide=False
) -> str:
    """An admin installing the app from its page; the workspace's bot token."""
    query, _, cookie = await install_page(http)
    code, token = api.grant(team, enterprise, org_wide)
    assert await redirect(http, code, query["state"][0], cookie) == 200
    return token


async def no_token_in_redis(redis, prefix: str) -> None:
    """No key and no value of any type under the test's prefix holds an `xox?-` token."""
    for key in await stored(redis, prefix):
        assert not TOKENS.search(key), key
        kind = (await redis.type(key)).decode()
        if kind == "string":
            values = [await redis.get(key)]
        elif kind == "set":
            values = list(await redis.smembers(key))
        elif kind == "zset":
            values = list(await redis.zrange(key, 0, -1))
        elif kind == "hash":
            values = [v for pair in (await redis.hgetall(key)).items() for v in pair]
        else:
            values = list(await redis.lrange(key, 0, -1))
        assert not any(TOKENS.search(v) for v in values), key


# --- the install page and Slack's redirect ----------------------------------------------------


async def test_the_install_page_links_to_slack_with_the_client_id_scopes_and_a_state(
    http: TestClient, api: SlackApi, redis, prefix: str
) -> None:
    response = await http.get("/slack/install")
    assert "Max-Age=600" in response.headers["Set-Cookie"]  # the browser's, for 10 minutes
    query, href, cookie = await install_page(http)
    assert href.startswith(api.url.removesuffix("api/") + "oauth/v2/authorize?")
    assert query["client_id"] == [CLIENT_ID]
    assert sorted(query["scope"][0].split(",")) == sorted(SCOPES)
    (state,) = query["state"]
    assert len(state) >= 32 and cookie == state
    assert await stored(redis, prefix) == []  # nothing kept until Slack's redirect


async def test_thousands_of_install_pages_store_nothing(
    http: TestClient, api: SlackApi, redis, prefix: str
) -> None:
    """Anyone may open the page, as often as they like: it must cost Redis nothing."""
    states: list[str] = []
    for _ in range(PAGES // 50):
        pages = await asyncio.gather(*(install_page(http) for _ in range(50)))
        states += [query["state"][0] for query, _, _ in pages]
    assert len(set(states)) == PAGES  # each one fresh
    assert await stored(redis, prefix) == []
    # Each is a good state all the same: the last one installs.
    code, _ = api.grant("T0ALPHA")
    assert await redirect(http, code, states[-1], states[-1]) == 200
    assert await bot(http).install.installations.installed() == [Installed(None, "T0ALPHA")]


PAGES = 3000


async def test_a_completed_install_is_stored_sealed(
    http: TestClient, api: SlackApi, redis, prefix: str
) -> None:
    token = await install(http, api, "T0ALPHA")
    installations = bot(http).install.installations
    (where,) = await installations.installed()
    assert where == Installed(None, "T0ALPHA")
    sealed = await redis.get(installations.key(where))
    assert b"T0ALPHA" not in sealed and b"School" not in sealed  # nothing readable
    opened = json.loads(Cipher((KEY,)).open(sealed))
    assert opened["bot_token"] == token and opened["team_id"] == "T0ALPHA"
    (exchange,) = [c for c in api.calls if c.method == "oauth.v2.access"]
    assert exchange.response["ok"]
    await no_token_in_redis(redis, prefix)
    # The state it used is remembered as used until it would have expired anyway.
    (used,) = [k async for k in redis.scan_iter(f"{prefix}:slack-oauth-state:*")]
    assert 590 < await redis.ttl(used) <= 600


async def test_a_state_is_good_for_10_minutes_by_the_bot_s_clock(
    http: TestClient, api: SlackApi
) -> None:
    query, _, cookie = await install_page(http)
    states, issued = bot(http).install.states, time.time()
    states.clock = lambda: issued + 599
    code, _ = api.grant("T0ALPHA")
    assert await redirect(http, code, query["state"][0], cookie) == 200


@pytest.mark.parametrize(
    "how",
    [
        "forged",
        "changed",
        "another app's",
        "no cookie",
        "another browser's cookie",
        "reused",
        "expired",
    ],
)
async def test_a_forged_reused_or_expired_state_is_refused_and_stores_nothing(
    http: TestClient, api: SlackApi, redis, prefix: str, how: str
) -> None:
    query, _, cookie = await install_page(http)
    state = query["state"][0]
    states = bot(http).install.states
    if how == "reused":
        install_with = api.grant("T0FIRST")
        assert await redirect(http, install_with[0], state, cookie) == 200
        await bot(http).install.installations.delete(None, "T0FIRST")
        api.calls.clear()
    elif how == "forged":
        state = cookie = "f" * 77
    elif how == "changed":  # issued a minute later than it was, so good for longer
        issued, _, rest = state.partition(".")
        state = cookie = f"{int(issued) + 60}.{rest}"
    elif how == "another app's":
        state = cookie = await States(redis, "another app's secret", prefix).async_issue()
    elif how == "another browser's cookie":
        cookie = (await install_page(http))[2]
    elif how == "expired":
        issued = time.time()
        states.clock = lambda: issued + 600
    before = await stored(redis, prefix)
    code, _ = api.grant("T0ALPHA")
    status = await redirect(http, code, state, None if how == "no cookie" else cookie)
    assert status in (400, 401)
    assert [c for c in api.calls if c.method == "oauth.v2.access"] == []  # code never used
    assert await bot(http).install.installations.installed() == []
    assert await stored(redis, prefix) == before


def log_everything(caplog: pytest.LogCaptureFixture) -> None:
    """Every logger at DEBUG, Bolt's and slack_sdk's too, as someone chasing a fault might."""
    caplog.set_level(logging.DEBUG)
    for name in list(logging.root.manager.loggerDict):
        caplog.set_level(logging.DEBUG, logger=name)


def logged(caplog: pytest.LogCaptureFixture) -> str:
    """Each record as `serve` writes it, with its extras and any traceback."""
    return "\n".join(JsonFormatter().format(r) for r in caplog.records)


@pytest.mark.parametrize("how", ["refused", "unreachable", "cancelled", "no cookie"])
async def test_a_failed_install_logs_no_code_state_or_secret(
    engine: Engine, api: SlackApi, redis, prefix: str, caplog: pytest.LogCaptureFixture, how: str
) -> None:
    settings = oauth_settings(api)
    if how == "unreachable":
        assert settings.slack and settings.slack.oauth
        settings = Settings(
            slack=SlackSettings("", SECRET, "http://127.0.0.1:9/api/", settings.slack.oauth)
        )
    # As `serve` runs it: with no access log, which would hold the redirect's query.
    app = create_app(settings, Runner(engine))
    async with TestClient(TestServer(app, access_log=None)) as http:
        query, _, cookie = await install_page(http)
        state = query["state"][0]
        log_everything(caplog)
        code = "code-slack-never-issued"
        params = {"state": state}
        if how == "cancelled":
            params["error"] = "access_denied"
        else:
            params["code"] = code
        headers = {} if how == "no cookie" else {"Cookie": f"slack-app-oauth-state={cookie}"}
        response = await http.get("/slack/oauth_redirect", params=params, headers=headers)
        assert response.status in (200, 400, 401, 502) and "Thank you" not in await response.text()
    # The failure is logged, by its reason alone.
    assert any(r.getMessage().startswith("slack install") for r in caplog.records)
    text = logged(caplog)
    for secret in (code, state, state.rpartition(".")[2], CLIENT_SECRET, KEY):
        assert secret not in text
    assert await stored(redis, prefix) == []


async def test_a_code_slack_refuses_stores_nothing_and_the_link_can_be_used_again(
    http: TestClient, api: SlackApi, redis, prefix: str
) -> None:
    query, _, cookie = await install_page(http)
    assert await redirect(http, "not-a-code", query["state"][0], cookie) == 401
    assert await bot(http).install.installations.installed() == []
    assert await stored(redis, prefix) == []  # nor the state as used: nothing was installed
    code, _ = api.grant("T0ALPHA")
    assert await redirect(http, code, query["state"][0], cookie) == 200


SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


@pytest.mark.parametrize("page", ["install", "installed", "refused", "slack unreachable"])
async def test_the_install_pages_carry_strict_security_headers(
    engine: Engine, api: SlackApi, page: str
) -> None:
    settings = oauth_settings(api)
    if page == "slack unreachable":
        assert settings.slack and settings.slack.oauth
        settings = Settings(
            slack=SlackSettings("", SECRET, "http://127.0.0.1:9/api/", settings.slack.oauth)
        )
    async with TestClient(TestServer(create_app(settings, Runner(engine)))) as http:
        query, _, cookie = await install_page(http)
        if page == "install":
            response = await http.get("/slack/install")
        else:
            code = api.grant("T0ALPHA")[0] if page == "installed" else "not-a-code"
            response = await http.get(
                "/slack/oauth_redirect",
                params={"code": code, "state": query["state"][0]},
                headers={"Cookie": f"slack-app-oauth-state={cookie}"},
            )
        assert response.status == {"install": 200, "installed": 200}.get(page, response.status)
        html = await response.text()
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value, name
    directives = response.headers["Content-Security-Policy"].split("; ")
    policy = {name: value for name, _, value in (d.partition(" ") for d in directives)}
    assert policy["default-src"] == "'none'" and policy["frame-ancestors"] == "'none'"
    # What the page itself uses is allowed, and no more: its inline style and Slack's button.
    assert "<script" not in html.lower()
    images = re.findall(r'(?:src|srcset)="([^"]+)"', html)
    assert all(u.startswith("https://platform.slack-edge.com/") for u in images)
    assert policy["style-src"] == "'unsafe-inline'"


# --- serving each workspace with its own token -----------------------------------------------


async def test_two_workspaces_are_each_answered_with_their_own_token(
    http: TestClient, api: SlackApi, redis, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    tokens = {team: await install(http, api, team) for team in ("T0ALPHA", "T0BETA")}
    alice = SlackUser(poster(http), api, "alice", team="T0ALPHA")
    bob = SlackUser(poster(http), api, "bob", team="T0BETA")
    await alice.say("hi")
    await alice.answer("start")
    assert await bob.command() == 200
    await bob.answer("start")
    await bob.answer("affected")
    assert step_of(alice.question()) == "role" and step_of(bob.question()) == "support"
    for user in (alice, bob):
        sent = [c for c in api.calls if c.channel == user.dm]
        assert sent and {c.token for c in sent} == {tokens[user.team]}
    opened = [c for c in api.calls if c.method == "conversations.open"]
    assert {c.token for c in opened} == {tokens["T0BETA"]}
    await no_token_in_redis(redis, prefix)
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert not re.search(r"xox[bpe]-", logged)


async def test_an_event_from_a_workspace_never_installed_is_answered_by_nobody(
    http: TestClient, api: SlackApi, redis, prefix: str
) -> None:
    await install(http, api, "T0ALPHA")
    stranger = SlackUser(poster(http), api, "eve", team="T0NOWHERE")
    assert await stranger.say("hi") == 200
    assert [c for c in api.calls if c.channel == stranger.dm] == []
    assert [k for k in await stored(redis, prefix) if b"T0NOWHERE" in k] == []


async def test_the_installation_used_is_the_team_id_s_not_authorizations(
    http: TestClient, api: SlackApi
) -> None:
    tokens = {team: await install(http, api, team) for team in ("T0ALPHA", "T0BETA")}
    alice = SlackUser(poster(http), api, "alice", team="T0ALPHA")
    event = alice.event("hi")
    event["authorizations"][0]["team_id"] = "T0BETA"
    assert await alice.send_json(event) == 200
    assert {c.token for c in api.calls if c.channel == alice.dm} == {tokens["T0ALPHA"]}


async def test_an_org_wide_install_serves_every_workspace_of_the_organisation_as_one_user(
    http: TestClient, api: SlackApi, redis, store: Store, prefix: str
) -> None:
    token = await install(http, api, "T0ONE", enterprise="E0TRUST", org_wide=True)
    assert await bot(http).install.installations.installed() == [Installed("E0TRUST", None)]
    first = SlackUser(poster(http), api, "grace", team="T0ONE", enterprise="E0TRUST")
    again = SlackUser(poster(http), api, "grace", team="T0TWO", enterprise="E0TRUST")
    await first.say("hi")
    await first.answer("start")
    await again.say("hi")
    assert step_of(again.question()) == "role"
    assert {c.token for c in api.calls if c.channel == first.dm} == {token}
    assert await redis.get(store.keys.user(UserKey("slack", "E0TRUST", "UGRACE")))


async def test_a_message_the_bot_starts_itself_goes_with_that_workspace_s_token(
    http: TestClient, api: SlackApi
) -> None:
    """Outside any request (a DM to a school's lead, say): `client_for` the workspace."""
    tokens = {team: await install(http, api, team) for team in ("T0ALPHA", "T0BETA")}
    client = await bot(http).client_for("T0BETA")
    assert client is not None
    await client.chat_postMessage(channel="DULEAD", text="hello")
    (sent,) = api.to("DULEAD")
    assert sent.token == tokens["T0BETA"]
    assert await bot(http).client_for("T0NOWHERE") is None


# --- uninstalling -------------------------------------------------------------------------


def removal(user: SlackUser, kind: str) -> dict:
    """What Slack sends when the workspace removes the app, or revokes its bot token."""
    if kind == "app_uninstalled":
        event = {"type": "app_uninstalled"}
    else:
        event = {"type": "tokens_revoked", "tokens": {"oauth": [], "bot": ["U0BOT"]}}
    return {**user.event(""), "event": {**event, "event_ts": "1700000300.000001"}}


@pytest.mark.parametrize("kind", ["app_uninstalled", "tokens_revoked"])
async def test_an_uninstall_deletes_that_workspace_and_nothing_of_the_other(
    http: TestClient, api: SlackApi, redis, store: Store, prefix: str, kind: str
) -> None:
    tokens = {team: await install(http, api, team) for team in ("T0ALPHA", "T0BETA")}
    alice = SlackUser(poster(http), api, "alice", team="T0ALPHA")
    ann = SlackUser(poster(http), api, "ann", team="T0ALPHA")
    bob = SlackUser(poster(http), api, "bob", team="T0BETA")
    for user in (alice, ann, bob):
        await user.say("hi")
        await user.answer("start")
    beta_before = {k: await redis.dump(k) for k in await stored(redis, prefix) if b"T0BETA" in k}
    assert len(beta_before) == 4  # its installation; bob's progress, question and deliveries

    assert await alice.send_json(removal(alice, kind)) == 200
    api.revoke(tokens["T0ALPHA"])
    installations = bot(http).install.installations
    assert await installations.installed() == [Installed(None, "T0BETA")]
    left = await stored(redis, prefix)
    assert [k for k in left if b"T0ALPHA" in k] == []
    assert {k: await redis.dump(k) for k in left if b"T0BETA" in k} == beta_before

    # The removed workspace is served no more; the other carries on.
    posted = len(api.calls)
    assert await alice.say("hi") == 200
    assert len(api.calls) == posted and await redis.get(store.keys.user(alice.key)) is None
    await bob.answer("affected")
    assert step_of(bob.question()) == "support"


async def test_a_revoked_user_token_leaves_the_installation(
    http: TestClient, api: SlackApi, redis, prefix: str
) -> None:
    await install(http, api, "T0ALPHA")
    alice = SlackUser(poster(http), api, "alice", team="T0ALPHA")
    await alice.say("hi")
    body = removal(alice, "tokens_revoked")
    body["event"]["tokens"] = {"oauth": ["UADMIN1"], "bot": []}
    assert await alice.send_json(body) == 200
    assert len(await bot(http).install.installations.installed()) == 1
    assert len(await stored(redis, prefix)) > 1


# --- the encryption key -------------------------------------------------------------------


NEW = Fernet.generate_key().decode()


async def test_a_worker_started_with_a_new_key_leaves_every_installation_as_it_was(
    engine: Engine, new_engine, api: SlackApi, redis, prefix: str
) -> None:
    """A rolling restart: the worker not yet restarted, knowing only the old key, still opens
    everything while the restarted one runs with the new key first."""
    async with TestClient(TestServer(create_app(oauth_settings(api, KEY), Runner(engine)))) as old:
        token = await install(old, api, "T0ALPHA")
        sealed = await redis.get(bot(old).install.installations.key(Installed(None, "T0ALPHA")))
        new_app = create_app(oauth_settings(api, NEW, KEY), Runner(new_engine()))
        async with TestClient(TestServer(new_app)):
            found = await bot(old).install.installations.find(None, "T0ALPHA", False)
            assert found is not None and found.bot_token == token
            alice = SlackUser(poster(old), api, "alice", team="T0ALPHA")
            await alice.say("hi")
            assert {c.token for c in api.calls if c.channel == alice.dm} == {token}
    key = Installations(redis, Cipher((KEY,)), prefix).key(Installed(None, "T0ALPHA"))
    assert await redis.get(key) == sealed


ROTATION = [
    ((KEY,), (KEY,)),
    # 1. The new key added after the old; one worker restarted, then both.
    ((KEY,), (KEY, NEW)),
    ((KEY, NEW), (KEY, NEW)),
    # 2. The new key first; one worker restarted, then both, then `rotate-key`.
    ((KEY, NEW), (NEW, KEY)),
    ((NEW, KEY), (NEW, KEY)),
    # 3. The old key dropped; one worker restarted, then both.
    ((NEW, KEY), (NEW,)),
    ((NEW,), (NEW,)),
]


async def test_rotating_the_key_as_the_readme_says_every_worker_reads_every_installation(
    engine: Engine, new_engine, api: SlackApi, redis, prefix: str
) -> None:
    """Two workers on one Redis through each moment of the README's rotation, each installing
    a workspace at each moment: both open every installation at every moment."""
    tokens: dict[str, str] = {}
    for moment, (one, two) in enumerate(ROTATION):
        apps = [
            create_app(oauth_settings(api, *keys), Runner(e))
            for keys, e in ((one, engine), (two, new_engine()))
        ]
        async with (
            TestClient(TestServer(apps[0])) as first,
            TestClient(TestServer(apps[1])) as second,
        ):
            workers = (first, second)
            for n, worker in enumerate(workers):
                team = f"T0M{moment}W{n}"
                tokens[team] = await install(worker, api, team)
            if moment == 4:  # step 2 done: every worker knows the new key
                resealed, unreadable = await Installations(redis, Cipher(two), prefix).reseal()
                old_first = sum(keys[0] == KEY for both in ROTATION[:5] for keys in both)
                assert (resealed, unreadable) == (old_first, 0)
            for worker in workers:
                installations = bot(worker).install.installations
                for team, token in tokens.items():
                    found = await installations.find(None, team, False)
                    assert found is not None and found.bot_token == token, (moment, team)
    for team in tokens:
        sealed = await redis.get(
            Installations(redis, Cipher((NEW,)), prefix).key(Installed(None, team))
        )
        assert Cipher((NEW,)).is_current(sealed)


async def test_resealing_leaves_an_installation_saved_meanwhile(
    redis_url: str, redis, prefix: str
) -> None:
    """`rotate-key` runs beside serving workers: a school installing again while its old
    installation is being resealed keeps its new one."""
    old = Installations(redis, Cipher((KEY,)), prefix)
    await old.async_save(Installation(user_id="U1", team_id="T0ALPHA", bot_token="xoxb-old"))
    key = old.key(Installed(None, "T0ALPHA"))
    newer = Installations(redis, Cipher((NEW, KEY)), prefix)

    class Meanwhile(Cipher):
        def reseal(self, sealed: bytes) -> bytes:
            again = super().reseal(sealed)
            saved = newer.cipher.seal(
                json.dumps(
                    vars(Installation(user_id="U1", team_id="T0ALPHA", bot_token="xoxb-new"))
                ).encode()
            )
            sync_redis.Redis.from_url(redis_url).set(key, saved)
            return again

    rotating = Installations(redis, Meanwhile((NEW, KEY)), prefix)
    assert await rotating.reseal() == (0, 0)
    found = await newer.find(None, "T0ALPHA", False)
    assert found is not None and found.bot_token == "xoxb-new"


def test_rotate_key_reseals_every_installation_and_names_those_no_key_opens(
    redis_url: str,
) -> None:
    run = uuid.uuid4().hex[:8].upper()
    teams = (f"T{run}A", f"T{run}B")
    lost = f"T{run}LOST"
    env = {
        "PATH": "/usr/bin:/bin",
        "REDIS_URL": redis_url,
        "SLACK_CLIENT_ID": CLIENT_ID,
        "SLACK_CLIENT_SECRET": CLIENT_SECRET,
        "SLACK_SIGNING_SECRET": SECRET,
        "TOKEN_ENCRYPTION_KEY": f"{NEW},{KEY}",
    }
    sync = sync_redis.Redis.from_url(redis_url)

    async def save(keys: tuple[str, ...], team: str) -> None:
        r = client(redis_url)
        await Installations(r, Cipher(keys)).async_save(
            Installation(user_id="UADMIN", team_id=team, bot_token=f"xoxb-{team}")
        )
        await r.aclose()

    def rotate_key() -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "bot", "rotate-key"],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
            env=env,
        )

    try:
        for team in teams:
            asyncio.run(save((KEY,), team))
        done = rotate_key()
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("2 Slack installations sealed again.\n")
        for team in teams:
            assert Cipher((NEW,)).is_current(sync.get(f"hb:slack-install:-:{team}"))
        asyncio.run(save((Fernet.generate_key().decode(),), lost))
        done = rotate_key()
        assert done.returncode == 1
        assert done.stdout.startswith("0 Slack installations")
        assert done.stderr == "error: 1 cannot be opened with any key we have\n"
    finally:
        for team in (*teams, lost):
            sync.srem("hb:slack-installs", f"-:{team}")
            sync.delete(f"hb:slack-install:-:{team}")
        sync.close()


# --- settings -----------------------------------------------------------------------------


BOTH = {"SLACK_SIGNING_SECRET": SECRET, "SLACK_CLIENT_ID": CLIENT_ID}


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({**BOTH, "SLACK_BOT_TOKEN": "xoxb-1", "SLACK_CLIENT_SECRET": "s"}, "not both"),
        ({**BOTH, "SLACK_CLIENT_SECRET": "s"}, "TOKEN_ENCRYPTION_KEY is not set"),
        ({**BOTH, "SLACK_CLIENT_SECRET": "s", "TOKEN_ENCRYPTION_KEY": "short"}, "key 1"),
        (
            {**BOTH, "SLACK_CLIENT_SECRET": "s", "TOKEN_ENCRYPTION_KEY": f"{KEY},nope"},
            "key 2",
        ),
        (BOTH, "SLACK_CLIENT_SECRET is not set"),
        ({"SLACK_CLIENT_SECRET": "s", "TOKEN_ENCRYPTION_KEY": KEY}, "SLACK_CLIENT_ID is not"),
        (
            {**BOTH, "SLACK_CLIENT_SECRET": "s", "TOKEN_ENCRYPTION_KEY": KEY}
            | {"SLACK_SIGNING_SECRET": ""},
            "SLACK_SIGNING_SECRET is not set",
        ),
        (
            {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": SECRET}
            | {"SLACK_API_URL": "http://slack.example.org/api/"},
            "loopback",
        ),
    ],
)
def test_settings_that_cannot_work_stop_start_up_naming_the_setting(
    env: dict[str, str], named: str
) -> None:
    with pytest.raises(ConfigError, match=named) as caught:
        Settings.from_env(env)
    for secret in ("xoxb-1", SECRET, "nope", "short"):
        assert secret not in str(caught.value)


def test_a_missing_key_with_oauth_stops_serve_with_one_line_and_exit_2() -> None:
    env = {"PATH": "/usr/bin:/bin", **BOTH, "SLACK_CLIENT_SECRET": "s"}
    done = subprocess.run(
        [sys.executable, "-m", "bot", "serve", "--port", "0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "TOKEN_ENCRYPTION_KEY" in done.stderr


def test_plain_http_to_a_loopback_stand_in_is_allowed_and_secrets_stay_out_of_reprs() -> None:
    settings = Settings.from_env(
        {
            **BOTH,
            "SLACK_CLIENT_SECRET": "client-secret-value",
            "TOKEN_ENCRYPTION_KEY": KEY,
            "SLACK_API_URL": "http://127.0.0.1:9/api/",
        }
    )
    assert settings.slack and settings.slack.oauth
    shown = repr(settings)
    for secret in (SECRET, "client-secret-value", KEY):
        assert secret not in shown
    assert CLIENT_ID in shown  # not a secret, and useful to see
    one = Settings.from_env({"SLACK_BOT_TOKEN": "xoxb-42-secret", "SLACK_SIGNING_SECRET": SECRET})
    assert "xoxb-42-secret" not in repr(one) and SECRET not in repr(one)


# --- the whole thing, as `python -m bot serve` ------------------------------------------------


async def test_one_serve_is_installed_into_two_workspaces_from_its_own_page_and_serves_both(
    redis_url: str, api: SlackApi, redis
) -> None:
    env = {
        "REDIS_URL": redis_url,
        "SLACK_CLIENT_ID": CLIENT_ID,
        "SLACK_CLIENT_SECRET": CLIENT_SECRET,
        "SLACK_SIGNING_SECRET": SECRET,
        "TOKEN_ENCRYPTION_KEY": KEY,
        "SLACK_API_URL": api.url,
    }
    run = uuid.uuid4().hex[:8].upper()
    teams = (f"T{run}A", f"T{run}B")
    nobody: Any = None  # each user gets a poster waiting on their own DM
    try:
        async with aiohttp.ClientSession() as session, serving(session, env) as served:

            def poster_to(dm: str):
                async def post(body: bytes, content_type: str, headers: dict[str, str]) -> int:
                    before = len(api.shown())
                    async with session.post(
                        f"{served.url}/slack/events",
                        data=body,
                        headers={"Content-Type": content_type, **headers},
                    ) as response:
                        status = response.status
                    # The bot answers Slack first and then calls the Web API: wait for a post.
                    await api.until(dm, lambda calls: len(api.shown()) > before)
                    return status

                return post

            tokens = {}
            for team in teams:
                async with session.get(f"{served.url}/slack/install") as page:
                    (href,) = re.findall(r'href="([^"]+authorize[^"]*)"', await page.text())
                    state = parse_qs(urlsplit(href.replace("&amp;", "&")).query)["state"][0]
                code, tokens[team] = api.grant(team)
                async with session.get(
                    f"{served.url}/slack/oauth_redirect",
                    params={"code": code, "state": state},
                    headers={"Cookie": f"slack-app-oauth-state={state}"},
                ) as back:
                    assert back.status == 200
            users = [SlackUser(nobody, api, f"u{n}{run}", team=t) for n, t in enumerate(teams)]
            for user in users:
                user._post = poster_to(user.dm)
            for user in users:
                assert await user.say("hi") == 200
                await user.answer("start")
                assert step_of(user.question()) == "role"
                assert {c.token for c in api.calls if c.channel == user.dm} == {tokens[user.team]}
            installed = [k async for k in redis.scan_iter(f"hb:slack-install:-:T{run}*")]
            assert len(installed) == 2
            sealed = [await redis.get(k) for k in installed]
            assert not any(TOKENS.search(v) for v in sealed)
    finally:
        for team in teams:
            await redis.srem("hb:slack-installs", f"-:{team}")
            await redis.delete(*[k async for k in redis.scan_iter(f"hb:*{team}*")] or ["-"])
    assert served.proc.returncode == 0


# --- check-config beside the installs ---------------------------------------------------------


async def test_check_config_names_installs_without_a_school_and_schools_not_installed(
    redis_url: str, redis, tmp_path
) -> None:
    """A trust's admin sees which installed workspace gets no school of its own, and which
    Slack school has not installed the app yet."""
    env = {
        "PATH": "/usr/bin:/bin",
        "REDIS_URL": redis_url,
        "SCHOOL_CONFIG": str(write(tmp_path)),
        "SLACK_CLIENT_ID": CLIENT_ID,
        "SLACK_CLIENT_SECRET": CLIENT_SECRET,
        "SLACK_SIGNING_SECRET": SECRET,
        "TOKEN_ENCRYPTION_KEY": KEY,
    }

    def check_config() -> str:
        done = subprocess.run(
            [sys.executable, "-m", "bot", "check-config"],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
            env=env,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.split("\nSlack: ")[1]

    store = Installations(redis, Cipher((KEY,)))
    try:
        for team in ("T0BIRCH", "T0STRAY"):
            await store.async_save(
                Installation(user_id="UADMIN", team_id=team, bot_token=f"xoxb-{team}", bot_id="B1")
            )
        slack = check_config()
        assert slack.startswith("installed in 2 workspaces.")
        assert "warning: T0STRAY has no [schools.T0STRAY]: its staff get [school] Alder" in slack
        assert "T0BIRCH" not in slack and "not installed" not in slack

        await store.async_delete_installation(enterprise_id=None, team_id="T0BIRCH")
        slack = check_config()
        assert slack.startswith("installed in 1 workspace.")
        assert "Birch" in slack and "is not installed in Slack yet" in slack
    finally:
        for key in [k async for k in redis.scan_iter("hb:slack-install*")]:
            await redis.delete(key)
    assert await redis.scard(index_key("hb")) == 0
