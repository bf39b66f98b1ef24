"""Slow and idle connections are closed within a bound, and past the cap a clear 503.

Each test runs `python -m bot serve` with short limits set through the environment, as an
admin would, and speaks raw HTTP/1.1 to it over loopback: one byte every so often, or nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.teams.request import BODY_SECONDS
from bot.connections import LINGER_SECONDS
from bot.local_redis import free_port

ROOT = Path(__file__).resolve().parents[1]
IDLE, BODY = 1, 2
"""The test server's HTTP_IDLE_TIMEOUT and HTTP_BODY_TIMEOUT, in seconds."""
MARGIN = 1.5
"""Scheduling slack on two shared cores."""


@contextlib.contextmanager
def serve(redis_url: str, max_connections: int, **extra: str) -> Iterator[int]:
    port = free_port()
    env = {
        **extra,
        **os.environ,
        "REDIS_URL": redis_url,
        "HTTP_IDLE_TIMEOUT": str(IDLE),
        "HTTP_BODY_TIMEOUT": str(BODY),
        "HTTP_MAX_CONNECTIONS": str(max_connections),
        # Slack on, so that a route reads bodies (it never calls the API in these tests).
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": "test-signing-secret",
        "SLACK_API_URL": "http://127.0.0.1:9/api/",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stderr=subprocess.DEVNULL,
    )
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
