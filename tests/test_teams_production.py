"""Teams as a school runs it: an app id and password, activities signed by the Bot
Framework, and replies sent with a bearer token from Microsoft Entra.

Microsoft's services are stood in for on loopback (`tests.identity_standin`): the Bot
Framework's signing keys (with a key generated here) and Entra's token endpoints. The bot
reaches them through its settings alone (the SDK's own names), so the code under test is the
code that runs in production.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives.asymmetric import rsa

from adapters.teams.settings import TeamsSettings
from bot.config import Settings
from bot.web import create_app
from conversation.engine import Engine
from conversation.runner import Runner
from tests.drivers.connector import Connector
from tests.drivers.teams_user import APP_ID, TENANT, TeamsUser, is_checklist, step_of

from .helpers import SAMPLE_PATHS, serving, stored
from .identity_standin import WEBCHAT_KID, BotFrameworkKeys, Entra

ROOT = Path(__file__).resolve().parents[1]
SECRET = "standin-client-secret"
EMULATOR_ISSUER = "https://sts.windows.net/d6d49420-f39b-4df7-a1dc-d59a935871db/"


@pytest.fixture
async def keys() -> AsyncIterator[BotFrameworkKeys]:
    async with BotFrameworkKeys() as k:
        yield k


@pytest.fixture
async def entra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Entra]:
    standin = await Entra(app_id=APP_ID, secret=SECRET).start(tmp_path)
    # MSAL's requests trust the stand-in's certificate through the standard variable.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", standin.ca_file)
    try:
        yield standin
    finally:
        await standin.__aexit__()


def production(keys: BotFrameworkKeys, entra: Entra, **changes: Any) -> TeamsSettings:
    """Settings as an admin gives them, with Microsoft's endpoints pointed at the stand-ins."""
    settings = TeamsSettings(
        APP_ID,
        SECRET,
        "MultiTenant",
        "",
        allow_unauthenticated=False,
        service_url_hosts=("127.0.0.1",),
        openid_metadata_url=keys.metadata_url,
        login_url=entra.authority(),
        validate_authority=False,
    )
    return replace(settings, **changes)


class Signed:
    """Posts activities to a running app, each signed for its own serviceUrl."""

    def __init__(self, http: TestClient, keys: BotFrameworkKeys) -> None:
        self.http, self.keys = http, keys
        self.sign: Callable[[dict], str | None] = lambda body: keys.sign(APP_ID, body["serviceUrl"])

    async def __call__(self, body: dict | bytes) -> int:
        assert isinstance(body, dict)
        token = self.sign(body)
        headers = {"Authorization": token} if token else {}
        response = await self.http.post("/api/messages", json=body, headers=headers)
        await response.release()
        return response.status


@pytest.fixture
async def serve(engine: Engine, keys: BotFrameworkKeys):
    """Starts the app with given Teams settings; waits until the keys have been fetched."""
    running: list[TestClient] = []

    async def start(settings: TeamsSettings) -> TestClient:
        http = TestClient(TestServer(create_app(Settings(teams=settings), Runner(engine))))
        await http.start_server()
        running.append(http)
        deadline = time.monotonic() + 10
        while True:  # a signed but empty body: 503 until the keys are in, then 400
            response = await http.post(
                "/api/messages",
                data=b"{}",
                headers={"Authorization": keys.sign(APP_ID, "http://127.0.0.1:9/")},
            )
            await response.release()
            if response.status != 503:
                return http
            assert time.monotonic() < deadline, "the keys never arrived"
            await asyncio.sleep(0.02)

    yield start
    for http in running:
        await http.close()


# --- signed in, bearer out ------------------------------------------------------------------------


async def test_a_signed_activity_is_answered_with_the_bot_s_token_on_every_connector_call(
    serve, keys: BotFrameworkKeys, entra: Entra, connector: Connector
) -> None:
    http = await serve(production(keys, entra))
    alice = TeamsUser(Signed(http, keys), connector)
    await alice.walk(SAMPLE_PATHS["unknown perpetrator, harmful content"])
    assert any(is_checklist(c) for c in connector.sent_to(alice.chat))
    (token,) = entra.issued  # asked once, kept for every call
    assert {c.authorization for c in connector.calls} == {f"Bearer {token}"}
    (asked,) = entra.asked
    assert asked.path == "/botframework.com/oauth2/v2.0/token"  # MultiTenant's authority
    assert asked.form["client_id"] == APP_ID and asked.form["client_secret"] == SECRET
    assert asked.form["scope"] == "https://api.botframework.com/.default"
    assert asked.form["grant_type"] == "client_credentials"


async def test_single_tenant_asks_its_own_tenant_and_serves_only_it(
    serve, keys: BotFrameworkKeys, entra: Entra, connector: Connector, redis, prefix: str
) -> None:
    settings = production(
        keys, entra, app_type="SingleTenant", tenant_id=TENANT, login_url=entra.authority(TENANT)
    )
    http = await serve(settings)
    alice = TeamsUser(Signed(http, keys), connector)
    assert await alice.install() == 201
    assert [a.path for a in entra.asked] == [f"/{TENANT}/oauth2/v2.0/token"]
    assert connector.calls[0].authorization == f"Bearer {entra.issued[0]}"

    before, calls = await stored(redis, prefix), len(connector.calls)
    mallory = TeamsUser(Signed(http, keys), connector, "mallory")
    other = mallory.activity(text="hello")
    other["conversation"]["tenantId"] = other["channelData"]["tenant"]["id"] = "another-tenant"
    assert await mallory.post(other) == 403
    assert await stored(redis, prefix) == before and len(connector.calls) == calls


async def test_a_managed_identity_gets_its_token_from_the_identity_endpoint(
    serve, keys: BotFrameworkKeys, entra: Entra, connector: Connector, monkeypatch
) -> None:
    # App Service's managed-identity endpoint, found by MSAL through the variables it reads.
    monkeypatch.setenv("IDENTITY_ENDPOINT", entra.msi_url)
    monkeypatch.setenv("IDENTITY_HEADER", entra.msi_header)
    settings = production(
        keys, entra, app_type="UserAssignedMSI", tenant_id=TENANT, app_password=""
    )
    alice = TeamsUser(Signed(await serve(settings), keys), connector)
    assert await alice.install() == 201
    (asked,) = entra.asked
    assert asked.path == "/msi/token" and asked.form["client_id"] == APP_ID
    assert asked.form["resource"] == "https://api.botframework.com"
    assert connector.calls[0].authorization == f"Bearer {entra.issued[0]}"


async def test_an_expired_token_is_renewed(
    serve, keys: BotFrameworkKeys, entra: Entra, connector: Connector
) -> None:
    entra.expires_in = 1
    alice = TeamsUser(Signed(await serve(production(keys, entra)), keys), connector)
    assert await alice.install() == 201
    first = connector.calls[-1].authorization
    await asyncio.sleep(1.2)
    assert await alice.answer("start") == 201
    later = {c.authorization for c in connector.calls[1:]}
    assert first not in later and later <= {f"Bearer {t}" for t in entra.issued}
    assert len(entra.asked) <= len(connector.calls)  # renewed when due, not per call


async def test_a_refused_token_is_logged_once_and_not_asked_again_at_once(
    serve,
    keys: BotFrameworkKeys,
    entra: Entra,
    connector: Connector,
    caplog: pytest.LogCaptureFixture,
) -> None:
    entra.refuse = True
    alice = TeamsUser(Signed(await serve(production(keys, entra)), keys), connector)
    caplog.set_level(logging.INFO, "adapters")
    for text in ("hello", "start", "help", "back", "restart"):
        assert await alice.say(text) == 201
    assert connector.calls == [] and len(entra.asked) == 1  # no retry storm
    refused = [r for r in caplog.records if r.getMessage() == "teams token refused"]
    assert len(refused) == 1 and refused[0].__dict__["error"] == "invalid_client"
    assert SECRET not in caplog.text and "AADSTS" not in caplog.text


# --- what is refused ------------------------------------------------------------------------------

ATTACKER = rsa.generate_private_key(65537, 2048)
FORGED: dict[str, Callable[[BotFrameworkKeys, str], str]] = {
    "no token": lambda k, url: "",
    "expired a minute ago": lambda k, url: k.sign(APP_ID, url, exp=int(time.time()) - 60),
    "expired four minutes ago": lambda k, url: k.sign(APP_ID, url, exp=int(time.time()) - 240),
    "no expiry": lambda k, url: k.sign(APP_ID, url, exp=None),
    "for another bot": lambda k, url: k.sign("another-app-id", url),
    "from another issuer": lambda k, url: k.sign(APP_ID, url, iss="https://evil.example/"),
    "from the emulator": lambda k, url: k.sign(
        APP_ID, url, iss=EMULATOR_ISSUER, appid=APP_ID, ver="1.0"
    ),
    "an unknown key id": lambda k, url: k.sign(APP_ID, url, kid="not-published"),
    "no key id": lambda k, url: k.sign(APP_ID, url, kid=None),
    "alg none": lambda k, url: k.sign(APP_ID, url, alg="none"),
    "signed by another key": lambda k, url: k.sign(APP_ID, url, key=ATTACKER),
    "a key not endorsed for msteams": lambda k, url: k.sign(APP_ID, url, kid=WEBCHAT_KID),
    "for another serviceUrl": lambda k, url: k.sign(APP_ID, "https://evil.example/"),
    "no serviceurl claim": lambda k, url: k.sign(APP_ID, url, serviceurl=None),
    "Basic scheme": lambda k, url: "Basic " + k.sign(APP_ID, url).split()[1],
}


@pytest.mark.parametrize("name", list(FORGED))
async def test_a_token_that_is_not_the_bot_framework_s_for_this_bot_gets_401(
    serve, keys: BotFrameworkKeys, entra: Entra, connector: Connector, redis, prefix, name: str
) -> None:
    signed = Signed(await serve(production(keys, entra)), keys)
    signed.sign = lambda body: FORGED[name](keys, body["serviceUrl"])
    mallory = TeamsUser(signed, connector, "mallory")
    assert await mallory.install() == 401
    assert await mallory.say("delete my data") == 401
    assert connector.calls == [] and entra.asked == [] and await stored(redis, prefix) == []


async def test_only_teams_is_served_and_only_as_its_user(
    serve, keys: BotFrameworkKeys, entra: Entra, connector: Connector, redis, prefix: str
) -> None:
    """Another channel (webchat is on for every Azure Bot) cannot reach a Teams user's case,
    even correctly signed with the victim's Entra object id and tenant."""
    signed = Signed(await serve(production(keys, entra)), keys)
    alice = TeamsUser(signed, connector)
    await alice.install()
    await alice.answer("start")
    before, calls = await stored(redis, prefix), len(connector.calls)
    for channel in ("webchat", "directline", "emulator", None):
        forged = alice.activity(text="delete my data", channelId=channel)
        if channel is None:
            del forged["channelId"]
        assert await alice.post(forged) in (401, 403), channel
    no_aad = alice.activity(text="delete my data")
    del no_aad["from"]["aadObjectId"]
    assert await alice.post(no_aad) == 400
    split = alice.activity(text="delete my data")
    split["channelData"]["tenant"]["id"] = "another-tenant"
    assert await alice.post(split) == 400
    assert await stored(redis, prefix) == before and len(connector.calls) == calls


@pytest.mark.parametrize(
    "url", ["https://evil.example/", "http://smba.trafficmanager.net/uk/", "https://127.0.0.2/"]
)
async def test_replies_go_only_to_the_teams_hosts_listed(
    serve, keys: BotFrameworkKeys, entra: Entra, connector: Connector, redis, prefix, url: str
) -> None:
    settings = production(keys, entra, service_url_hosts=("smba.trafficmanager.net",))
    mallory = TeamsUser(Signed(await serve(settings), keys), connector, "mallory")
    assert await mallory.post(mallory.activity(text="hello", serviceUrl=url)) == 403
    assert entra.asked == [] and await stored(redis, prefix) == []


async def test_tenants_not_listed_are_refused_and_listed_ones_served(
    serve, keys: BotFrameworkKeys, entra: Entra, connector: Connector, redis, prefix: str
) -> None:
    settings = production(keys, entra, allowed_tenants=frozenset({TENANT, "second-school"}))
    signed = Signed(await serve(settings), keys)
    alice = TeamsUser(signed, connector)
    assert await alice.install() == 201 and step_of(alice.question()) == "welcome"
    before, calls = await stored(redis, prefix), len(connector.calls)
    mallory = TeamsUser(signed, connector, "mallory")
    for kind in ("install", "message", "removed"):
        activity = {
            "install": mallory.activity(
                type="conversationUpdate", membersAdded=[{"id": "28:bot-id"}]
            ),
            "message": mallory.activity(text="hello"),
            "removed": mallory.activity(type="installationUpdate", action="remove"),
        }[kind]
        activity["conversation"]["tenantId"] = "elsewhere"
        activity["channelData"]["tenant"]["id"] = "elsewhere"
        assert await mallory.post(activity) == 403, kind
    assert await stored(redis, prefix) == before and len(connector.calls) == calls


async def test_uninstalling_from_personal_scope_deletes_that_user_s_progress(
    serve, keys: BotFrameworkKeys, entra: Entra, connector: Connector, redis, prefix: str
) -> None:
    signed = Signed(await serve(production(keys, entra)), keys)
    alice, bob = TeamsUser(signed, connector), TeamsUser(signed, connector, "bob")
    for user in (alice, bob):
        await user.install()
        await user.answer("start")
    calls = len(connector.calls)
    removed = alice.activity(type="installationUpdate", action="remove")
    assert await alice.post(removed) == 201
    left = await stored(redis, prefix)
    assert left and not [k for k in left if alice.aad.encode() in k]
    assert [k for k in left if bob.aad.encode() in k]  # nobody else's
    assert len(connector.calls) == calls  # nothing is sent to a chat without the bot


async def test_with_no_tenant_list_the_start_up_says_every_tenant_is_served(
    engine: Engine, keys: BotFrameworkKeys, entra: Entra, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "adapters")
    create_app(Settings(teams=production(keys, entra)), Runner(engine))
    assert "teams serves every tenant" in caplog.text
    caplog.clear()
    create_app(
        Settings(teams=production(keys, entra, allowed_tenants=frozenset({TENANT}))), Runner(engine)
    )
    assert "teams serves every tenant" not in caplog.text


# --- cheap refusals, and a key endpoint that hangs ---------------------------------------------


async def test_a_hanging_key_endpoint_delays_nothing(
    serve, engine: Engine, keys: BotFrameworkKeys, entra: Entra, connector: Connector
) -> None:
    keys.hang = True
    async with TestClient(
        TestServer(create_app(Settings(teams=production(keys, entra)), Runner(engine)))
    ) as http:
        while keys.fetches == 0:  # the fetch has started, and hangs
            await asyncio.sleep(0.01)
        alice = TeamsUser(Signed(http, keys), connector)
        started = time.monotonic()
        statuses = await asyncio.gather(alice.install(), alice.say("hi"), http.get("/healthz"))
        assert time.monotonic() - started < 1
        assert statuses[:2] == [503, 503]  # not yet: the Bot Framework retries
        assert statuses[2].status == 200 and connector.calls == []


async def test_a_huge_activity_is_refused_unread(
    serve, keys: BotFrameworkKeys, entra: Entra, connector: Connector, redis, prefix: str
) -> None:
    """14,000 membersAdded (221 KiB): refused before parsing, signed or not."""
    http = await serve(production(keys, entra))
    alice = TeamsUser(Signed(http, keys), connector)
    huge = alice.activity(
        type="conversationUpdate", membersAdded=[{"id": f"29:{n:08d}"} for n in range(14_000)]
    )
    token = keys.sign(APP_ID, huge["serviceUrl"])
    started = time.process_time()
    for headers in ({}, {"Authorization": token}):
        for _ in range(10):
            response = await http.post("/api/messages", json=huge, headers=headers)
            assert response.status == 413
    assert time.process_time() - started < 1.5  # serialising the body here is most of it

    async def chunks():
        yield b'{"type": "message", "pad": "' + b"x" * 200_000 + b'"}'

    response = await http.post(
        "/api/messages", data=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status == 401  # no length given: the sender is refused before any read
    response = await http.post(
        "/api/messages",
        data=chunks(),
        headers={"Content-Type": "application/json", "Authorization": token},
    )
    assert response.status == 413
    assert connector.calls == [] and await stored(redis, prefix) == []


# --- as an admin runs it -------------------------------------------------------------------------


async def test_serve_in_production_mode_end_to_end(
    redis_url: str, redis, keys: BotFrameworkKeys, entra: Entra, connector: Connector
) -> None:
    env = {
        "REDIS_URL": redis_url,
        "MicrosoftAppId": APP_ID,
        "MicrosoftAppPassword": SECRET,
        "MicrosoftAppType": "MultiTenant",
        "TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL": keys.metadata_url,
        "TO_CHANNEL_FROM_BOT_LOGIN_URL": entra.authority(),
        "VALIDATE_AUTHORITY": "false",
        "TEAMS_SERVICE_URL_HOSTS": "127.0.0.1",
        "TEAMS_ALLOWED_TENANTS": TENANT,
        "REQUESTS_CA_BUNDLE": entra.ca_file,
        "SSL_CERT_FILE": entra.ca_file,
    }
    bob = TeamsUser(None, connector, "bob-production")
    try:
        async with aiohttp.ClientSession() as session, serving(session, env) as served:

            async def post(body: dict) -> int:
                for _ in range(200):
                    token = keys.sign(APP_ID, body["serviceUrl"])
                    async with session.post(
                        f"{served.url}/api/messages", json=body, headers={"Authorization": token}
                    ) as response:
                        if response.status != 503:  # the keys arrive just after start-up
                            return response.status
                    await asyncio.sleep(0.05)
                return 503

            bob._post = post
            await bob.walk(SAMPLE_PATHS["a pupil, sexual harassment, police not sure"])
            assert any(is_checklist(c) for c in connector.sent_to(bob.chat))
    finally:
        await redis.delete(
            *[k async for k in redis.scan_iter(f"hb:{{teams:{TENANT}:{bob.aad}}}*")] or ["-"]
        )
    assert {c.authorization for c in connector.calls} == {f"Bearer {entra.issued[0]}"}
    assert "teams turn failed" not in served.stderr and "Traceback" not in served.stderr


def test_unauthenticated_mode_refuses_to_serve_beyond_loopback(redis_url: str) -> None:
    env = {**os.environ, "REDIS_URL": redis_url, "TEAMS_ALLOW_UNAUTHENTICATED": "1"}
    env.pop("MicrosoftAppId", None)
    for host in ("0.0.0.0", "::", "192.0.2.1"):
        done = subprocess.run(
            [sys.executable, "-m", "bot", "serve", "--host", host, "--port", "1"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 2, done.stderr
        (line,) = done.stderr.strip().splitlines()
        assert "TEAMS_ALLOW_UNAUTHENTICATED=1" in line and "loopback" in line
