"""`python -m bot chat` in a real terminal (a pty, driven by pexpect), as a person uses it:
Ctrl-C, Ctrl-D, stop, an empty line, piping into `head`, typos, a long account, and a
Redis that stops and comes back while the chat is open."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest
from redis import Redis as SyncRedis
from redis import exceptions as redis_errors

from bot.redis_connection import answers

from .redis_servers import RedisProcess

ROOT = Path(__file__).resolve().parents[1]
PROMPT = "\r\n> "
needs_redis_server = pytest.mark.skipif(
    shutil.which("redis-server") is None, reason="needs a redis-server binary to stop and start"
)
TRACEBACK = re.compile(r"Traceback|KeyboardInterrupt|BrokenPipeError|Exception")


def _env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "BOT_DATA_DIR")}
    return {**base, "TERM": "dumb", "PYTHONUNBUFFERED": "1", **extra}


def _interruptible() -> None:
    """In the chat's process, before it runs: Ctrl-C's SIGINT acted on again. A shell without
    job control starts a background job (`pytest ... &`) with SIGINT ignored, and an ignored
    signal stays ignored across exec, so the bot would never see the Ctrl-C a test types."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def stop_embedded(data: Path) -> None:
    """The embedded Valkey a chat started in `data`, shut down if it is still serving (the
    chat was killed, or a test failed before the bot could stop it): no test leaves one."""
    socket = data / "valkey.sock"
    if socket.exists() and answers(f"unix://{socket}"):
        with contextlib.suppress(redis_errors.ConnectionError):
            SyncRedis(unix_socket_path=str(socket)).shutdown(nosave=True)


@pytest.fixture
def chat() -> Iterator:
    """Start `python -m bot chat` in a pty with the given settings; always ended after, and
    the embedded server of its BOT_DATA_DIR (if it has one) stopped."""
    spawned: list[pexpect.spawn] = []
    folders: list[Path] = []

    def start(user: str, first: str = "1) Start", **env: str) -> pexpect.spawn:
        child = pexpect.spawn(
            sys.executable,
            ["-m", "bot", "chat", "--user", user],
            cwd=str(ROOT),
            env=_env(**env),
            encoding="utf-8",
            timeout=20,
            dimensions=(40, 250),
            preexec_fn=_interruptible,
        )
        spawned.append(child)
        if "BOT_DATA_DIR" in env:
            folders.append(Path(env["BOT_DATA_DIR"]))
        child.expect_exact(first)
        child.expect_exact("> ")
        return child

    yield start
    for child in spawned:
        if child.isalive():
            child.terminate(force=True)
    for folder in folders:
        stop_embedded(folder)


def answer(child: pexpect.spawn, text: str, then: str) -> str:
    """Type a line and wait for `then` and the next prompt; what the bot said before it."""
    child.sendline(text)
    child.expect_exact(then)
    said = child.before
    child.expect_exact("> ")
    return said + then


def ended(child: pexpect.spawn) -> tuple[str, int]:
    """Everything printed until the chat ended, and its exit status."""
    child.expect(pexpect.EOF)
    child.close()
    return child.before, child.exitstatus


def embedded_log(data: Path) -> str:
    return (data / "valkey.log").read_text(errors="replace")


def test_ctrl_c_at_the_prompt_ends_at_once_and_the_bot_stops_its_own_server(
    chat, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    child = chat("me", BOT_DATA_DIR=str(data))
    answer(child, "start", "Who you are")
    started = time.monotonic()
    child.sendintr()  # what Ctrl-C does: SIGINT to the terminal's whole foreground group
    out, status = ended(child)
    assert time.monotonic() - started < 5
    assert status == 130
    lines = [line for line in out.splitlines() if line.strip() and line.strip() != "^C"]
    assert lines == [
        "Paused: your answers are kept for 30 days. Run the chat again to carry on, "
        "or type delete my data next time to delete them."
    ]
    assert not TRACEBACK.search(out)
    # The embedded Valkey did not get the terminal's SIGINT: the bot stopped it (SIGTERM).
    log = embedded_log(data)
    assert "Received SIGTERM" in log and "SIGINT" not in log
    assert not answers(f"unix://{data / 'valkey.sock'}")
    # ...and kept the progress: a new chat resumes where this one was.
    again = chat("me", "Welcome back. You were at: Who you are", BOT_DATA_DIR=str(data))
    again.sendline("stop")
    out, status = ended(again)
    assert status == 0 and "Paused" in out


@needs_redis_server
def test_ctrl_c_during_a_turn_that_waits_on_a_hung_redis_ends_at_once(chat, tmp_path: Path) -> None:
    redis = RedisProcess(tmp_path)
    redis.start()
    try:
        child = chat("hung", REDIS_URL=redis.url)
        os.kill(redis.proc.pid, signal.SIGSTOP)
        child.sendline("start")
        time.sleep(0.3)  # the turn is now waiting on the hung server
        started = time.monotonic()
        child.sendintr()
        out, status = ended(child)
        assert time.monotonic() - started < 1.5, "Ctrl-C waited for the turn"
        assert status == 130 and "Paused" in out and not TRACEBACK.search(out)
    finally:
        os.kill(redis.proc.pid, signal.SIGCONT)
        redis.stop()


def test_ctrl_d_ends_the_line_and_the_chat(chat, redis, redis_url: str, prefix: str) -> None:
    child = chat(prefix, REDIS_URL=redis_url)
    child.sendeof()
    out, status = ended(child)
    assert status == 0
    # The shell's prompt comes back on a line of its own, after one line from the bot.
    assert out.startswith("\r\n") and out.endswith("\r\n")
    assert out.strip().startswith("Paused: your answers are kept for 30 days.")
    assert len(out.strip().splitlines()) == 1


def test_stop_ends_the_chat_with_one_line(chat, redis, redis_url: str, prefix: str) -> None:
    child = chat(prefix, REDIS_URL=redis_url)
    child.sendline("stop")
    out, status = ended(child)
    assert status == 0
    assert [line for line in out.splitlines() if line.strip()][-1].startswith("Paused:")


def test_an_empty_line_reprints_nothing(chat, redis, redis_url: str, prefix: str) -> None:
    child = chat(prefix, REDIS_URL=redis_url)
    child.sendline("")
    child.sendline("   ")
    child.sendline("start")
    child.expect_exact("Who you are")
    # Between the two empty lines and the answer: only the prompts, no question again.
    typed_back, answered = child.before.split("✓")
    # (the terminal's echo of what is typed and the prompts may interleave either way)
    assert sorted(typed_back.split()) == [">", ">", "start"]
    assert answered.strip() == "Welcome: Start"


def test_typos_in_the_terminal_are_understood(chat, redis, redis_url: str, prefix: str) -> None:
    child = chat(prefix, REDIS_URL=redis_url)
    answer(child, "hi", "Who you are")  # the welcome's one answer is to begin
    answer(child, "im the member of staff", "Support")
    answer(child, "nxet", "Relevant policy")  # "next", mistyped
    said = answer(child, "a parnet on facebook", "bullying or harassment criteria")
    assert "✓ Relevant policy: A parent or carer" in said
    answer(child, "i dont think so", "Police involvement")
    answer(child, "not shure", "Who leads the investigation")
    answer(child, "no", "What kind of online bullying")
    said = answer(child, "phnoe calls, sexaul harrasment", "Abusive phone calls\r\n\r\nRefer")
    assert "✓ Next steps: Abusive phone calls, Online sexual harassment" in said


def test_a_part_not_understood_is_said_not_dropped(
    chat, redis, redis_url: str, prefix: str
) -> None:
    child = chat(prefix, REDIS_URL=redis_url)
    for text, then in (("1", "Who you are"), ("1", "Support"), ("1", "Relevant policy")):
        answer(child, text, then)
    said = answer(child, "parent, my neighbour", "Choose all that apply")
    assert 'I understood A parent or carer, but not "my neighbour". If that is all, type 3' in said
    assert "✓" not in said
    assert "✓ Relevant policy: A parent or carer" in answer(child, "3", "criteria")


def test_a_long_account_gets_a_kind_answer_and_the_options(
    chat, redis, redis_url: str, prefix: str
) -> None:
    child = chat(prefix, REDIS_URL=redis_url)
    for text, then in (("1", "Who you are"), ("1", "Support"), ("1", "Relevant policy")):
        answer(child, text, then)
    answer(child, "pupil", "criteria")
    answer(child, "yes", "Police involvement")
    account = ("A parent posted about me and I reported it, it was awful. " * 80)[:4600]
    child.sendline(account)
    child.expect_exact("I don't read or keep what is typed here")
    child.expect_exact("> ")
    said = child.before
    assert "Police involvement\r\n\r\n1) Yes\r\n2) Not sure\r\n3) Not at the moment" in said
    assert "NPCC guidance" not in said  # the options, not the whole question again
    assert "✓" not in said  # nothing in it was read as an answer ("reported" is not "Yes")


def test_piped_into_head_ends_quietly_and_stops_the_embedded_server(tmp_path: Path) -> None:
    data = tmp_path / "data"
    try:
        _piped_into_head(data)
    finally:
        stop_embedded(data)


def _piped_into_head(data: Path) -> None:
    done = subprocess.run(
        f"printf '1\\n1\\n1\\n' | {sys.executable} -m bot chat --user me | head -3",
        shell=True,
        cwd=ROOT,
        env=_env(BOT_DATA_DIR=str(data)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0
    assert done.stdout.splitlines()[0] == "Welcome"
    assert done.stderr == "", done.stderr
    assert not answers(f"unix://{data / 'valkey.sock'}")


@needs_redis_server
def test_a_redis_outage_is_waited_out_in_the_same_chat(chat, tmp_path: Path) -> None:
    redis = RedisProcess(tmp_path)
    redis.start()
    try:
        child = chat("outage", REDIS_URL=redis.url)
        answer(child, "1", "Who you are")
        redis.stop()
        said = answer(child, "1", "type your answer again in a minute")
        assert "Support" not in said
        said = answer(child, "2", "type your answer again in a minute")  # still away
        redis.start()
        said = answer(child, "1", "Support")  # the same process, carrying on
        assert "✓ Who you are: I'm the member of staff being bullied or harassed" in said
        assert child.isalive()
        child.sendline("stop")
        out, status = ended(child)
        assert status == 0 and not TRACEBACK.search(out)
    finally:
        if redis.proc and redis.proc.poll() is None:
            redis.stop()


AFFECTED_TO_THE_END = "1\n1\n1\n2\n1\n1\n2\n1\n1\n"
"""Start, the member of staff affected, continue, a pupil, yes, yes, yes, calls, continue."""


@pytest.mark.parametrize("school", [None, "school.example.toml"], ids=["no school", "a school"])
def test_the_terminal_offers_only_what_it_can_do_and_a_new_one_shows_the_checklist_again(
    redis, redis_url: str, prefix: str, school: str | None
) -> None:
    """Nothing on a terminal can choose "Get the checklist to forward": it is never offered
    there. And a new terminal has nothing above it: resuming at the end shows the checklist
    again before saying it is above."""
    env = {**_env(REDIS_URL=redis_url), **({"SCHOOL_CONFIG": str(ROOT / school)} if school else {})}

    def chat(stdin: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "bot", "chat", "--user", prefix],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
            env=env,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    first = chat(AFFECTED_TO_THE_END)
    assert "Your checklist is above. What next?" in first
    assert "Get the checklist to forward" not in first
    offered = re.findall(r"^(\d)\) (.+)$", first, re.M)
    assert offered[-3:] == [
        ("1", "Start again"),
        ("2", "Show it again"),
        ("3", "Delete my answers now"),
    ]
    again = chat("")
    _welcome, _, rest = again.partition("Welcome back.")
    checklist, above, _ = rest.partition("Your checklist is above. What next?")
    assert above, again
    assert "[ ] Support" in checklist and "[ ] Abusive phone calls" in checklist
