"""Slow and idle connections are closed within a bound, past the cap a clear 503, and bytes that
are not HTTP a bare 400 and a short log line that quotes none of them.

Each test runs `python -m bot serve` with short limits set through the environment, as an
admin would, and speaks raw HTTP/1.1 to it over loopback: one byte every so often, nothing,
or garbage.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.teams.request import BODY_SECONDS
from bot.connections import LINGER_SECONDS, MALFORMED_LOG_SECONDS
from bot.local_redis import free_port

ROOT = Path(__file__).resolve().parents[1]
IDLE, BODY = 1, 2
"""The test server's HTTP_IDLE_TIMEOUT and HTTP_BODY_TIMEOUT, in seconds."""
MARGIN = 1.5
"""Scheduling slack on two shared cores."""
SLACK_ON = {
    "SLACK_BOT_TOKEN": "xoxb-test",
    "SLACK_SIGNING_SECRET": "test-signing-secret",
    "SLACK_API_URL": "http://127.0.0.1:9/api/",
}
"""Slack on, so that a route reads bodies (it never calls the API in these tests)."""


@contextlib.contextmanager
def serve(
    redis_url: str, max_connections: int, logs: list[str] | None = None, **extra: str
) -> Iterator[int]:
    """`python -m bot serve` on a free port; what it logs is appended to `logs` as it comes
    (read as it comes, so that a flood of lines cannot fill the pipe and stall the server)."""
    port = free_port()
    env = {
        **extra,
        **os.environ,
        "REDIS_URL": redis_url,
        "HTTP_IDLE_TIMEOUT": str(IDLE),
        "HTTP_BODY_TIMEOUT": str(BODY),
        "HTTP_MAX_CONNECTIONS": str(max_connections),
        **SLACK_ON,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stderr=subprocess.DEVNULL if logs is None else subprocess.PIPE,
        text=True,
    )
    reading = None
    if logs is not None:
        reading = threading.Thread(target=lambda: logs.extend(proc.stderr), daemon=True)
        reading.start()
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                    break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "serve did not start"
                time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(15)
        if reading:
            reading.join(5)


@pytest.fixture(scope="module")
def port(redis_url: str) -> Iterator[int]:
    with serve(redis_url, max_connections=300) as port:
        yield port


async def until_closed(reader: asyncio.StreamReader, within: float) -> tuple[float, bytes]:
    """Seconds until the server closed the connection, and what it sent first."""
    started = time.monotonic()
    received = b""
    async with asyncio.timeout(within):
        with contextlib.suppress(ConnectionResetError):
            while chunk := await reader.read(4096):
                received += chunk
    return time.monotonic() - started, received


async def trickle(writer: asyncio.StreamWriter, every: float, data: bytes = b"x") -> None:
    """One byte every `every` seconds until the connection goes."""
    with contextlib.suppress(ConnectionError):
        while not writer.is_closing():
            await asyncio.sleep(every)
            writer.write(data)
            await writer.drain()


async def slow_body(
    port: int, every: float, path: str = "/slack/events"
) -> tuple[asyncio.StreamReader, asyncio.Task]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: bot\r\nContent-Type: application/json\r\n".encode()
        + b"Content-Length: 1000\r\n\r\n{"
    )
    return reader, asyncio.create_task(trickle(writer, every))


async def healthz(port: int) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: bot\r\nConnection: close\r\n\r\n")
    _, received = await until_closed(reader, 5)
    writer.close()
    return int(received.split(b" ", 2)[1]), received


async def test_an_idle_connection_is_closed(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    took, received = await until_closed(reader, IDLE + MARGIN)
    assert received == b"" and took > IDLE * 0.8
    writer.close()


async def test_a_kept_alive_connection_is_closed_once_idle(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: bot\r\n\r\n")
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    await reader.readexactly(int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0]))
    took, received = await until_closed(reader, IDLE + MARGIN)
    assert received == b"" and took > IDLE * 0.8
    writer.close()


async def test_headers_sent_one_byte_at_a_time_are_cut_off(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: bot\r\nX-Slow: ")
    sending = asyncio.create_task(trickle(writer, 0.2))
    took, _ = await until_closed(reader, IDLE + MARGIN)
    assert took > IDLE * 0.8
    sending.cancel()
    writer.close()


async def test_a_body_sent_one_byte_every_second_is_refused_and_closed(port: int) -> None:
    reader, sending = await slow_body(port, every=1.0)
    took, received = await until_closed(reader, BODY + LINGER_SECONDS + MARGIN)
    assert took > BODY * 0.8
    assert received.startswith(b"HTTP/1.1 408"), received
    assert b"request body too slow" in received
    sending.cancel()


@pytest.mark.parametrize(("path", "status"), [("/api/messages", 401), ("/nowhere", 404)])
async def test_a_slow_body_no_route_reads_is_answered_and_closed(
    port: int, path: str, status: int
) -> None:
    """Teams off, or no such route: answered at once, then closed after a short linger."""
    reader, sending = await slow_body(port, every=0.2, path=path)
    _, received = await until_closed(reader, LINGER_SECONDS + MARGIN)
    assert received.startswith(b"HTTP/1.1 %d" % status), received
    sending.cancel()


async def test_a_slow_teams_body_is_refused_by_the_route_and_closed(redis_url: str) -> None:
    """The Teams route reads its own body, after the token: its own deadline applies."""
    with serve(redis_url, max_connections=300, TEAMS_ALLOW_UNAUTHENTICATED="1") as teams_port:
        reader, sending = await slow_body(teams_port, every=1.0, path="/api/messages")
        took, received = await until_closed(reader, BODY_SECONDS + MARGIN)
        assert took > BODY_SECONDS * 0.8
        assert received.startswith(b"HTTP/1.1 408"), received
        sending.cancel()


async def test_healthz_answers_while_many_slow_connections_are_open(port: int) -> None:
    slow = [await slow_body(port, every=0.5) for _ in range(200)]
    started = time.monotonic()
    while time.monotonic() - started < BODY * 0.8:  # all 200 still open
        asked = time.monotonic()
        status, _ = await healthz(port)
        assert status == 200
        assert time.monotonic() - asked < 0.5
        await asyncio.sleep(0.1)
    closed = await asyncio.gather(*(until_closed(r, BODY + LINGER_SECONDS + 5) for r, _ in slow))
    assert all(received.startswith(b"HTTP/1.1 408") for _, received in closed)
    for _, sending in slow:
        sending.cancel()
    assert (await healthz(port))[0] == 200


async def test_past_the_cap_a_connection_is_refused_clearly_until_one_closes(
    redis_url: str,
) -> None:
    with serve(redis_url, max_connections=16) as port:
        held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(16)]
        status, refusal = await healthz(port)
        assert status == 503, refusal
        assert b"Retry-After: 1" in refusal and b"too many connections" in refusal
        await asyncio.gather(*(until_closed(r, IDLE + MARGIN) for r, _ in held))
        assert (await healthz(port))[0] == 200
        for _, writer in held:
            writer.close()


# --- bytes that are not HTTP ----------------------------------------------------------------

MARK = b"Pupil-Zq7-Secret"
"""In every malformed request: none of the answers and no log line may contain it."""

_GZIPPED = gzip.compress(b"{}")
MALFORMED = {
    "a TLS hello on the HTTP port": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + MARK,
    "not a method": MARK + b" / HTTP/1.1\r\nHost: bot\r\n\r\n",
    "a bad request line": b"GET /" + MARK + b" HTTP/1.1 and more\r\nHost: bot\r\n\r\n",
    "a bad header line": b"GET /healthz HTTP/1.1\r\nHost: bot\r\n" + MARK + b" here\r\n\r\n",
    "a control character in a header": b"GET /healthz HTTP/1.1\r\nX-A: " + MARK + b"\x01\r\n\r\n",
    "a header line too long": b"GET /healthz HTTP/1.1\r\nX-A: " + MARK * 600 + b"\r\n\r\n",
    "a bad chunk size": b"POST /slack/events HTTP/1.1\r\nHost: bot\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n" + MARK + b"\r\n",
    "a body that is not the gzip it says": b"POST /slack/events HTTP/1.1\r\nHost: bot\r\n"
    b"Content-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s"
    % (len(_GZIPPED), _GZIPPED[:10] + MARK[: len(_GZIPPED) - 10]),
    # On a kept-alive connection, after a good request answered: aiohttp logs this one at
    # ERROR even where it keeps the first request's quiet.
    "garbage after a good request": (
        b"GET /healthz HTTP/1.1\r\nHost: bot\r\n\r\n",
        MARK + b" / HTTP/1.1\r\n\r\n",
    ),
}
BARE_400 = b'{"error": "malformed request"}'


async def exchange(port: int, request: bytes | tuple[bytes, bytes]) -> bytes:
    """What the server last sends back before it closes the connection. For two requests,
    the second is sent once the first is answered, on the same connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    if isinstance(request, tuple):
        first, request = request
        writer.write(first)
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        await reader.readexactly(int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0]))
    writer.write(request)
    with contextlib.suppress(ConnectionError):
        await writer.drain()
    _, received = await until_closed(reader, 10)
    writer.close()
    return received


async def test_malformed_requests_get_a_bare_400_and_short_counted_log_lines(
    redis_url: str,
) -> None:
    """aiohttp answers bytes it cannot parse with a page quoting them, and logs an ERROR
    traceback quoting them again, about 40 lines a second from one client. Here: a bare 400,
    and at most one short INFO line a second naming only each error's class and how many."""
    rounds = 8
    logs: list[str] = []
    with serve(redis_url, max_connections=300, logs=logs) as port:
        started = time.monotonic()
        for _ in range(rounds):
            answers = await asyncio.gather(*(exchange(port, r) for r in MALFORMED.values()))
            for kind, answer in zip(MALFORMED, answers, strict=True):
                assert answer.split(b" ", 2)[1] == b"400", (kind, answer)
                assert answer.partition(b"\r\n\r\n")[2] == BARE_400, (kind, answer)
                assert MARK not in answer, kind
        sent_for = time.monotonic() - started
        assert (await healthz(port))[0] == 200  # and the server carries on
        await asyncio.sleep(MALFORMED_LOG_SECONDS + MARGIN)  # the last count is logged
    log = "".join(logs)
    assert MARK.decode() not in log and MARK.decode().lower() not in log.lower()
    assert "Traceback" not in log
    lines = [json.loads(line) for line in log.splitlines()]
    assert all(line["level"] in {"info", "warning"} for line in lines), log
    malformed = [line for line in lines if line["event"] == "malformed requests refused"]
    assert len(malformed) <= sent_for / MALFORMED_LOG_SECONDS + 2, len(malformed)
    assert sum(line["count"] for line in malformed) == rounds * len(MALFORMED)
    assert all(len(json.dumps(line)) < 400 for line in malformed)
    named = {kind for line in malformed for kind in line["errors"]}
    assert named <= {
        "BadHttpMethod",
        "BadStatusLine",
        "BadHttpMessage",
        "InvalidHeader",
        "LineTooLong",
        "TransferEncodingError",
        "RequestPayloadError",
    }, named
