"""Running the bot as an admin does: what `serve` says as it starts, the one line and exit 2
for each misconfiguration (and `check-config` saying the same), `/readyz` naming what cannot
serve, and the Teams package's settings. Each runs `python -m bot` as a real process."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from bot.__main__ import parser
from bot.local_redis import free_port

from .helpers import serving as serve_bot
from .identity_standin import BotFrameworkKeys
from .redis_servers import COMMON, Server

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "school.example.toml"
PASSWORD = "s3cret-redis-pass"
APP_ID = "00000000-0000-0000-0000-0000000000a1"
needs_redis_server = pytest.mark.skipif(
    shutil.which("redis-server") is None, reason="needs a redis-server binary"
)
OURS = ("REDIS_URL", "SCHOOL_CONFIG", "PORT", "BOT_DATA_DIR", "MicrosoftAppId")
"""Settings a developer's shell may have: each test sets its own."""


def _env(**extra: str) -> dict[str, str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in OURS and not k.startswith(("SLACK_", "TEAMS_", "Microsoft"))
    }
    return {**base, **extra}


def run(*args: str, cwd: Path = ROOT, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def one_line(done: subprocess.CompletedProcess) -> str:
    """The one line a misconfiguration gets: exit 2, nothing else said, no traceback."""
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith("error: ")
    return line


def logged(stderr: str) -> list[dict]:
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


@pytest.fixture(scope="module")
def locked_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A redis-server that asks for a password: its port."""
    if shutil.which("redis-server") is None:
        pytest.skip("needs a redis-server binary")
    folder = tmp_path_factory.mktemp("locked")

    # Server.start waits with a client that has no password: wait by hand instead.
    port = free_port()
    server = Server(port, folder, ["--port", str(port), *COMMON, "--requirepass", PASSWORD])
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "log", "ab") as log:
        server.proc = subprocess.Popen(
            ["redis-server", *server.args], cwd=folder, stdout=log, stderr=log
        )
    deadline = time.monotonic() + 20
    while True:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        assert time.monotonic() < deadline and server.proc.poll() is None, "redis did not start"
        time.sleep(0.05)
    yield port
    server.stop()


def serving(session: aiohttp.ClientSession, env: dict[str, str]):
    """`python -m bot serve` with exactly `env`, none of the shell's."""
    return serve_bot(session, env, inherit=False)


# --- the summary line and the warnings ----------------------------------------------------------


async def test_serve_says_what_it_runs_with_and_warns_of_the_example_school(
    locked_redis: int,
) -> None:
    url = f"redis://:{PASSWORD}@127.0.0.1:{locked_redis}/0"
    env = _env(REDIS_URL=url, SCHOOL_CONFIG=str(EXAMPLE), TEAMS_ALLOW_UNAUTHENTICATED="1")
    async with aiohttp.ClientSession() as session, serving(session, env) as served:
        pass
    lines = logged(served.stderr)
    (start,) = [line for line in lines if line["event"] == "starting"]
    assert start["version"] and start["version"] != "unknown"
    assert start["platforms"] == ["teams (unauthenticated)"]
    assert start["redis"] == "single"
    assert start["redis_at"] == f"redis://:***@127.0.0.1:{locked_redis}/0"
    assert start["school_file"] == str(EXAMPLE) and start["schools"] == 1
    assert start["workers"] == 1
    warnings = [line["event"] for line in lines if line["level"] == "warning"]
    assert (
        f"{EXAMPLE}: [school] still has school.example.toml's details (Example Academy, "
        "example.org): staff would see them; put in your school's own"
    ) in warnings
    assert any(w.startswith("TEAMS_DEVELOPER_NAME, TEAMS_WEBSITE_URL, ") for w in warnings)
    assert not any("no platform" in w or "embedded" in w for w in warnings)
    assert PASSWORD not in served.stderr


async def test_serve_with_nothing_set_warns_that_nobody_can_reach_it(tmp_path: Path) -> None:
    env = _env(BOT_DATA_DIR=str(tmp_path / "data"))
    async with aiohttp.ClientSession() as session, serving(session, env) as served:
        status, body = await _ready(session, served.url)
        assert (status, body) == (200, {"redis": "ok"})  # nothing else is configured to ask
    lines = logged(served.stderr)
    (start,) = [line for line in lines if line["event"] == "starting"]
    assert start["platforms"] == [] and start["redis"] == "embedded"
    assert start["school_file"] is None and start["schools"] == 0
    warnings = [line["event"] for line in lines if line["level"] == "warning"]
    assert warnings[:2] == [
        "no platform is configured: Slack answers 404 and Teams 401, so nobody can reach the "
        "bot (set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET, SLACK_CLIENT_ID and "
        "SLACK_CLIENT_SECRET, or MicrosoftAppId)",
        f"REDIS_URL is not set: using the embedded store in {tmp_path / 'data'}, on this "
        "machine only and with no replica; it is for trying the bot out (set REDIS_URL in "
        "production)",
    ]


# --- one line and exit 2 ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        ((), {"PORT": "abc"}, "error: PORT must be a port number from 1 to 65535, got 'abc'"),
        ((), {"PORT": "70000"}, "error: PORT must be a port number from 1 to 65535, got '70000'"),
        ((), {"PORT": "0"}, "error: PORT must be a port number from 1 to 65535, got '0'"),
        (("--port", "80a"), {}, "error: --port must be a port number from 1 to 65535, got '80a'"),
        (("--workers", "0"), {}, "error: --workers must be a whole number from 1 to 64, got '0'"),
        (("--host", "no.such.host.invalid"), {}, "error: --host no.such.host.invalid: not an"),
        (
            (),
            {"MicrosoftAppId": "my-bot", "MicrosoftAppPassword": "x"},
            "error: MicrosoftAppId must be the Azure Bot's Microsoft App ID, a GUID",
        ),
    ],
    ids=["PORT=abc", "PORT=70000", "PORT=0", "--port", "--workers", "--host", "MicrosoftAppId"],
)
def test_a_setting_serve_cannot_use_is_one_line(
    tmp_path: Path, args: tuple[str, ...], env: dict[str, str], expected: str
) -> None:
    done = run("serve", *args, BOT_DATA_DIR=str(tmp_path), **env)
    assert one_line(done).startswith(expected)


@pytest.mark.parametrize(
    ("taken_on", "serve_on", "workers"),
    [
        ("127.0.0.1", "127.0.0.1", "1"),
        ("127.0.0.1", "127.0.0.1", "2"),
        # Both set SO_REUSEADDR, as servers do: Linux lets each bind beside the other's.
        ("0.0.0.0", "127.0.0.1", "1"),
        ("127.0.0.1", "0.0.0.0", "2"),
    ],
)
def test_a_port_in_use_is_one_line(
    tmp_path: Path, taken_on: str, serve_on: str, workers: str
) -> None:
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind((taken_on, 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run(
            *("serve", "--host", serve_on, "--port", str(port), "--workers", workers),
            BOT_DATA_DIR=str(tmp_path),
        )
        assert one_line(done) == (
            f"error: cannot listen on {serve_on}:{port}: address already in use "
            "(another program, or another bot, is serving it)"
        )


@needs_redis_server
@pytest.mark.parametrize("command", ["serve", "check-config", "chat"])
def test_a_wrong_redis_password_is_said_as_such(locked_redis: int, command: str) -> None:
    wrong = f"redis://:not-{PASSWORD}@127.0.0.1:{locked_redis}/0"
    line = one_line(run(command, REDIS_URL=wrong))
    assert (
        line
        == f"error: Redis refused the password in REDIS_URL (redis://:***@127.0.0.1:{locked_redis}/0)"
    )
    none = one_line(run(command, REDIS_URL=f"redis://127.0.0.1:{locked_redis}/0"))
    assert none == (
        f"error: Redis at redis://127.0.0.1:{locked_redis}/0 needs a password, and REDIS_URL "
        "gives none"
    )
    gone = one_line(run(command, REDIS_URL=f"redis://:{PASSWORD}@127.0.0.1:1/0"))
    assert gone == "error: cannot reach Redis at redis://:***@127.0.0.1:1/0"
    no_db = one_line(run(command, REDIS_URL=f"redis://:{PASSWORD}@127.0.0.1:{locked_redis}/99"))
    where = f"redis://:***@127.0.0.1:{locked_redis}/99"
    assert no_db == f"error: Redis at {where} refused: DB index is out of range"


def test_a_data_folder_that_cannot_be_one_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    line = one_line(run("serve", BOT_DATA_DIR=str(tmp_path / "a-file" / "data")))
    assert line.startswith(f"error: BOT_DATA_DIR: cannot keep the reference key in {tmp_path}")


def test_a_wrong_redis_password_with_workers_is_one_line_too(locked_redis: int) -> None:
    wrong = f"redis://:not-{PASSWORD}@127.0.0.1:{locked_redis}/0"
    line = one_line(run("serve", "--workers", "2", "--port", str(free_port()), REDIS_URL=wrong))
    assert line.startswith("error: Redis refused the password in REDIS_URL")


def _copy_with_flow(tmp_path: Path, edit: str, into: str) -> Path:
    """The bot's code, copied, with one line of its flow.toml changed: as an admin who edited
    it would run it (`python -m bot` from the copy finds the copy first)."""
    tree = tmp_path / "bot-copy"
    for package in ("bot", "adapters", "conversation"):
        shutil.copytree(
            ROOT / package, tree / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    flow_file = tree / "conversation" / "flow.toml"
    text = flow_file.read_text()
    assert edit in text
    flow_file.write_text(text.replace(edit, into, 1))
    return tree


@pytest.mark.parametrize(
    ("edit", "into", "expected"),
    [
        (
            'url = "https://www.npcc.police.uk/',
            'url = "http://www.npcc.police.uk/',
            "[resources.npcc]: url must be an https:// address",
        ),
        ("[resources.npcc]\n", "[resources.npcc]\nwebsite = 'x'\n", "unknown key ['website']"),
        ("[checklist]\n", "[checklist\n", "not valid TOML"),
        ('id = "role"', 'id = "Role"', "step id 'Role' must be lower-case"),
    ],
    ids=["http", "unknown key", "not TOML", "a bad id"],
)
@pytest.mark.parametrize("command", ["serve", "check-config", "diagram"])
def test_a_mistake_in_flow_toml_is_one_line_naming_the_file(
    tmp_path: Path, edit: str, into: str, expected: str, command: str
) -> None:
    tree = _copy_with_flow(tmp_path, edit, into)
    done = run(command, cwd=tree, BOT_DATA_DIR=str(tmp_path / "data"))
    line = one_line(done)
    assert line.startswith(f"error: {tree / 'conversation' / 'flow.toml'}: ") and expected in line


def test_the_flow_file_shipped_is_valid() -> None:
    done = run("diagram")
    assert done.returncode == 0 and "stateDiagram-v2" in done.stdout, done.stderr


def test_check_config_says_what_serve_would_refuse(tmp_path: Path) -> None:
    line = one_line(run("check-config", PORT="abc", SCHOOL_CONFIG=str(EXAMPLE)))
    assert line == "error: PORT must be a port number from 1 to 65535, got 'abc'"


def test_every_option_of_every_command_has_help() -> None:
    top = parser()
    (commands,) = [a for a in top._actions if a.dest == "command"]
    assert set(commands.choices) >= {"serve", "chat", "preview", "check-config"}
    for name, sub in commands.choices.items():
        for action in sub._actions:
            assert action.help, f"{name} {action.option_strings} has no help text"
    serve = run("serve", "--help").stdout
    assert "the TCP port to listen on (default: the PORT setting" in serve


# --- /readyz while Teams cannot check a signature -----------------------------------------------


def _teams_env(redis_url: str, metadata_url: str) -> dict[str, str]:
    return _env(
        REDIS_URL=redis_url,
        MicrosoftAppId=APP_ID,
        MicrosoftAppPassword="not-used-here",
        TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL=metadata_url,
    )


async def _ready(session: aiohttp.ClientSession, url: str) -> tuple[int, dict]:
    async with session.get(f"{url}/readyz") as response:
        return response.status, await response.json()


async def test_readyz_is_503_naming_teams_while_its_signing_keys_are_unreachable(
    redis_url: str,
) -> None:
    unreachable = f"http://127.0.0.1:{free_port()}/v1/.well-known/openidconfiguration"
    async with aiohttp.ClientSession() as session:
        async with serving(session, _teams_env(redis_url, unreachable)) as served:
            for _ in range(10):  # it stays unready, not ready by chance of timing
                status, body = await _ready(session, served.url)
                assert (status, body) == (503, {"redis": "ok", "teams": "unavailable"})
                await asyncio.sleep(0.1)
        async with (
            BotFrameworkKeys() as keys,
            serving(session, _teams_env(redis_url, keys.metadata_url)) as served,
        ):
            deadline = time.monotonic() + 20
            while (await _ready(session, served.url))[0] != 200:
                assert time.monotonic() < deadline, "never ready with the keys reachable"
                await asyncio.sleep(0.05)
            assert await _ready(session, served.url) == (200, {"redis": "ok", "teams": "ok"})


# --- the Teams package --------------------------------------------------------------------------


def test_teams_package_refuses_a_long_developer_name_and_warns_of_placeholders(
    tmp_path: Path,
) -> None:
    out = tmp_path / "app.zip"
    args = ("teams-package", "--app-id", APP_ID, "--out", str(out))
    name = "The Very Long Name Of A Multi-Academy Trust"
    line = one_line(run(*args, TEAMS_DEVELOPER_NAME=name))
    assert line == (
        f"error: TEAMS_DEVELOPER_NAME is {len(name)} characters: Teams takes at most 32 "
        "(shorten it, for example to the school's or trust's short name)"
    )
    assert not out.exists()
    placeholder = run(*args)
    assert placeholder.returncode == 0 and out.exists()
    (warning,) = placeholder.stderr.splitlines()
    assert warning.startswith(
        "warning: TEAMS_DEVELOPER_NAME, TEAMS_WEBSITE_URL, TEAMS_PRIVACY_URL, TEAMS_TERMS_URL "
        "not set: the Teams app package shows placeholders"
    )
    own = {
        "TEAMS_DEVELOPER_NAME": "Oak Trust",
        "TEAMS_WEBSITE_URL": "https://oak.sch.uk/",
        "TEAMS_PRIVACY_URL": "https://oak.sch.uk/privacy",
        "TEAMS_TERMS_URL": "https://oak.sch.uk/terms",
    }
    done = run(*args, **own)
    assert done.returncode == 0 and done.stderr == ""
    with zipfile.ZipFile(out) as package:
        manifest = json.loads(package.read("manifest.json"))
    assert manifest["developer"]["name"] == "Oak Trust"


def test_only_the_example_s_own_details_count_as_unedited(tmp_path: Path) -> None:
    """The example's name, links and addresses; a school's own name or host is not it."""
    from bot.startup import example_values
    from conversation import school

    (example,) = school.load(EXAMPLE).all()
    assert set(example_values(example)) == {"Example Academy", "example.org"}
    own = tmp_path / "oak.toml"
    own.write_text(
        '[school]\nname = "Example Road Academy"\n'
        '[school.eap]\nname = "Oak EAP"\nurl = "https://oak.example.org/eap"\n'
        '[[school.leads]]\nname = "Lee"\nemail = "lee@oak.example.org"\n'
    )
    (oak,) = school.load(own).all()
    assert list(example_values(oak)) == []
