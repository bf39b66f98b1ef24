"""The web process: health, readiness, routes that are off, and a clean stop on SIGTERM."""

from __future__ import annotations

import json
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.config import Settings
from bot.local_redis import free_port
from bot.redis_connection import client
from bot.web import create_app
from conversation import flow
from conversation.engine import Engine
from conversation.runner import Runner
from conversation.storage import Db, Store
from conversation.views import Views

ROOT = Path(__file__).resolve().parents[1]


async def test_health_and_readiness(engine: Engine) -> None:
    async with TestClient(TestServer(create_app(Settings(), Runner(engine)))) as http:
        assert (await http.get("/healthz")).status == 200
        ready = await http.get("/readyz")
        assert ready.status == 200 and (await ready.json()) == {"redis": "ok"}
        assert (await http.post("/slack/events", data=b"{}")).status == 404  # Slack is off
        assert (await http.post("/api/messages", json={"type": "message"})).status == 401


async def test_not_ready_while_redis_is_unreachable() -> None:
    dead = Engine(
        Views(flow.load(), ttl_days=1), Store(Db(client("redis://127.0.0.1:1/0")), ttl_seconds=60)
    )
    async with TestClient(TestServer(create_app(Settings(), Runner(dead)))) as http:
        started = time.monotonic()
        assert (await http.get("/readyz")).status == 503
        assert time.monotonic() - started < 3
        assert (await http.get("/healthz")).status == 200
    await dead.store.redis.aclose()


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_logs_json_and_stops_cleanly_on_sigterm(redis_url: str, workers: int) -> None:
    port = free_port()
    env = {**os.environ, "REDIS_URL": redis_url, "PORT": str(port)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--workers", str(workers)],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[dict] = queue.Queue()
    threading.Thread(
        target=lambda: [lines.put(json.loads(x)) for x in proc.stderr if x.startswith("{")],
        daemon=True,
    ).start()
    events: list[str] = []

    def web_events_until(count: int) -> None:
        while len(events) < count:
            line = lines.get(timeout=20)
            if line["logger"] == "bot.web":
                events.append(line["event"])

    try:
        web_events_until(workers)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
            assert r.status == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        web_events_until(2 * workers)
    finally:
        proc.kill()
    assert events == ["serving"] * workers + ["stopping"] * workers


async def test_a_refused_path_made_up_by_the_client_is_not_logged(
    runner, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with TestClient(TestServer(create_app(Settings(), runner))) as http:
        response = await http.get("/my-deputy-zebrafinch-posts-memes")
        assert response.status == 404
    # Ours only: `serve` runs with no access log, unlike the test server.
    ours = [r for r in caplog.records if r.name.split(".")[0] in ("bot", "adapters")]
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in ours)
    assert "refused" in logged and "zebrafinch" not in logged
