"""The command line as a user runs it: `python -m bot chat` and `python -m bot diagram`."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import WHOLE_PATH
from .helpers import run_bot as run

ROOT = Path(__file__).resolve().parents[1]


def test_a_piped_chat_reaches_the_final_guidance(redis, redis_url: str, prefix: str) -> None:
    done = run("chat", "--user", prefix, stdin=WHOLE_PATH, env={"REDIS_URL": redis_url})
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Checklist for handling this case" in out
    assert "check the school behaviour policy" in out and "parental code of conduct" in out
    assert "ofcom.org.uk" in out and "reportharmfulcontent.com" in out
    assert "swgfl.co.uk" not in out


def test_running_again_with_the_same_user_resumes(redis, redis_url: str, prefix: str) -> None:
    env = {"REDIS_URL": redis_url}
    assert run("chat", "--user", prefix, stdin="1\n1\nstop\n", env=env).returncode == 0
    again = run("chat", "--user", prefix, stdin="", env=env)
    assert again.returncode == 0
    assert "Welcome back. You were at: Support" in again.stdout


def test_with_no_redis_url_an_embedded_server_keeps_progress(tmp_path: Path) -> None:
    env = {"BOT_DATA_DIR": str(tmp_path / "data")}
    first = run("chat", "--user", "u", stdin="1\n1\n", env=env)
    assert first.returncode == 0, first.stderr
    second = run("chat", "--user", "u", stdin="", env=env)  # a new server process, same folder
    assert "Welcome back. You were at: Support" in second.stdout
    assert (tmp_path / "data" / "appendonlydir").is_dir()


async def test_delete_data_deletes_a_terminal_users_progress(
    redis, redis_url: str, prefix: str
) -> None:
    """The admin's `delete-data` on a person's data: gone, and one line says so."""
    env = {"REDIS_URL": redis_url}
    assert run("chat", "--user", prefix, stdin="1\n1\n", env=env).returncode == 0
    key = f"hb:{{terminal:local:{prefix}}}"
    assert await redis.exists(key) == 1
    done = run("delete-data", "terminal", "local", prefix, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith("Deleted;") and done.stderr == ""
    assert await redis.exists(key) == 0


@pytest.mark.parametrize(
    ("ids", "says"),
    [
        (("skype", "T0", "U0"), "platform must be one of slack, teams, terminal"),
        (("slack", "t0", "u0"), "Slack ids are upper-case letters and digits"),
        (("teams", "tenant", "a:b"), "the workspace and user ids cannot hold spaces"),
    ],
)
def test_delete_data_refuses_ids_that_cannot_be_anyones_in_one_line(
    ids: tuple[str, ...], says: str
) -> None:
    done = run("delete-data", *ids, env={"REDIS_URL": "redis://127.0.0.1:1/0"})
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1
    assert done.stderr.startswith(f"error: {says}")


def test_an_unreachable_redis_is_one_clear_line() -> None:
    done = run("chat", env={"REDIS_URL": "redis://:secret@127.0.0.1:1/0"})
    assert done.returncode == 2
    assert done.stderr.strip() == "error: cannot reach Redis at redis://:***@127.0.0.1:1/0"


@pytest.mark.parametrize(
    ("name", "value"),
    [("CONVERSATION_TTL_DAYS", "soon"), ("REDIS_URL", "http://x"), ("SLACK_BOT_TOKEN", "xoxb-1")],
)
def test_a_bad_setting_is_named(name: str, value: str) -> None:
    done = run("chat", env={name: value})
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and len(done.stderr.splitlines()) == 1
    assert (
        "SLACK_SIGNING_SECRET" in done.stderr if name == "SLACK_BOT_TOKEN" else name in done.stderr
    )


def test_the_diagram_is_drawn_from_the_machine_and_the_readme_shows_it() -> None:
    done = run("diagram")
    assert done.returncode == 0
    for edge in (
        "perpetrator --> criteria: answer [perpetrator has parent or pupil or staff]",
        "perpetrator --> police: answer",
        "types --> content: answer [types has content]",
        "content --> summary: answer",
    ):
        assert edge in done.stdout
    drawn = (ROOT / "docs" / "architecture.md").read_text()
    blocks = [b.strip() for b in re.findall(r"```mermaid\n(.*?)```", drawn, re.S)]
    assert done.stdout.strip() in blocks, "run: python -m bot diagram"


def test_help_lists_every_command_in_plain_text() -> None:
    done = run("--help")
    assert done.returncode == 0, done.stderr
    for command in ("chat", "diagram", "serve", "teams-package", "delete-data"):
        assert re.search(rf"^    {command} +\S", done.stdout, re.M), command
    assert "`" not in done.stdout


def test_output_piped_into_a_reader_that_has_gone_ends_quietly() -> None:
    """`python -m bot check-config | head -1`: the reader has gone when the bot writes; it
    stops without a traceback, as command-line tools do. (The pipe's reading end is closed
    before the bot starts, so every write finds it gone.)"""
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "bot", "diagram"],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            timeout=60,
        )
    finally:
        os.close(write)
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr
    assert done.returncode == 141
