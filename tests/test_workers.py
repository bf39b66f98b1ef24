"""`serve --workers N` keeps N workers: one killed is started again, with a log line, and one
that dies at once each time it starts is started again after a growing pause, not spun on."""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.local_redis import free_port
from bot.workers import QUICK_SECONDS

from .redis_servers import COMMON, Server, started

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(
    shutil.which("redis-server") is None, reason="needs a redis-server binary to stop"
)


class Workers:
    """`python -m bot serve --workers 2` on a free port; its log lines read as they come."""

    def __init__(self, redis_url: str) -> None:
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if k not in ("SCHOOL_CONFIG", "PORT")}
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bot",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                "2",
            ],
            cwd=ROOT,
            env={**env, "REDIS_URL": redis_url, "TEAMS_ALLOW_UNAUTHENTICATED": "1"},
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[dict] = queue.Queue()
        self.seen: list[dict] = []
        self.unclaimed: list[dict] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            if line.startswith("{"):
                self.lines.put(json.loads(line))

    def wait_for(self, event: str, count: int = 1, seconds: float = 30) -> list[dict]:
        """Until `count` lines of `event` not yet waited for have been logged; those lines."""
        deadline = time.monotonic() + seconds
        while len([line for line in self.unclaimed if line["event"] == event]) < count:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {count}x {event!r} within {seconds} s") from None
            self.seen.append(line)
            self.unclaimed.append(line)
        found = [line for line in self.unclaimed if line["event"] == event][:count]
        self.unclaimed = [line for line in self.unclaimed if not any(line is f for f in found)]
        return found

    def ready(self) -> int:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=5) as r:
                return r.status
        except urllib.error.HTTPError as exc:
            return exc.code

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(30)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[Server]:
    """A redis-server of the test's own, to stop and start again."""

    def make() -> Server:
        port = free_port()
        return Server(port, tmp_path / f"redis-{port}", ["--port", str(port), *COMMON])

    server = started(make)
    yield server
    server.stop()


def test_a_killed_worker_is_started_again_and_serves(own_redis: Server) -> None:
    workers = Workers(f"redis://127.0.0.1:{own_redis.port}/0")
    try:
        first = {line["pid"] for line in workers.wait_for("worker started", 2)}
        workers.wait_for("serving", 2)
        time.sleep(QUICK_SECONDS)  # long enough up that a death is not one at start-up
        for pid in first:  # both: whatever answers next must be a worker started again
            os.kill(pid, signal.SIGKILL)
        died = workers.wait_for("worker died: starting it again", 2)
        assert {line["pid"] for line in died} == first
        assert {line["signal"] for line in died} == {"SIGKILL"}
        assert {line["restart_in_s"] for line in died} == {0.0}  # they had run a while: at once
        again = {line["pid"] for line in workers.wait_for("worker started", 2)}
        assert again.isdisjoint(first)
        workers.wait_for("serving", 2)
        assert all(workers.ready() == 200 for _ in range(20))
    finally:
        assert workers.stop() == 0


def test_a_worker_that_dies_as_it_starts_is_started_again_after_growing_pauses(
    own_redis: Server,
) -> None:
    workers = Workers(f"redis://127.0.0.1:{own_redis.port}/0")
    try:
        pids = [line["pid"] for line in workers.wait_for("worker started", 2)]
        workers.wait_for("serving", 2)
        time.sleep(QUICK_SECONDS)
        own_redis.stop()  # now a worker started again cannot reach Redis, and exits at once
        os.kill(pids[0], signal.SIGKILL)
        started_at = time.monotonic()
        deaths = workers.wait_for("worker died: starting it again", 4, seconds=60)
        took = time.monotonic() - started_at
        pauses = [line["restart_in_s"] for line in deaths]
        assert pauses == [0.0, 1.0, 2.0, 4.0]  # the kill, then three deaths at start-up
        assert [line.get("exit_code") for line in deaths[1:]] == [2, 2, 2]
        assert took >= 3, took  # paused, not spun: 1 + 2 seconds before the fourth line
        cannot = [line for line in workers.seen if line["event"] == "worker cannot start"]
        assert cannot and all("cannot reach Redis" in line["error"] for line in cannot)
        own_redis.start()  # Redis back: the next start stays up
        workers.wait_for("serving", 1, seconds=60)
        assert workers.ready() == 200
    finally:
        workers.stop()
