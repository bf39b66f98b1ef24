"""The web process: health, readiness, routes that are off, and a clean stop on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from bot.config import Settings
from bot.redis_connection import client
from bot.web import create_app
from conversation import flow
from conversation.engine import Engine
from conversation.store import Store

from .conftest import _free_port

ROOT = Path(__file__).resolve().parents[1]


async def test_health_and_readiness(engine: Engine) -> None:
    async with TestClient(TestServer(create_app(Settings(), engine))) as http:
        assert (await http.get("/healthz")).status == 200
        ready = await http.get("/readyz")
        assert ready.status == 200 and (await ready.json()) == {"redis": "ok"}
        assert (await http.post("/slack/events", data=b"{}")).status == 404  # Slack is off
        assert (await http.post("/api/messages", json={"type": "message"})).status == 401


async def test_not_ready_while_redis_is_unreachable() -> None:
    dead = Engine(flow.load(), Store(client("redis://127.0.0.1:1/0"), 60), ttl_days=1)
    async with TestClient(TestServer(create_app(Settings(), dead))) as http:
        started = time.monotonic()
        assert (await http.get("/readyz")).status == 503
        assert time.monotonic() - started < 3
        assert (await http.get("/healthz")).status == 200
    await dead.store.redis.aclose()


def test_serve_logs_json_and_stops_cleanly_on_sigterm(redis_url: str) -> None:
    port = _free_port()
    env = {**os.environ, "REDIS_URL": redis_url, "PORT": str(port)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1"],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
                    assert r.status == 200
                    break
            except OSError:
                time.sleep(0.1)
        else:
            raise AssertionError("serve never became ready")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    finally:
        proc.kill()
    lines = [json.loads(line) for line in proc.stderr.read().splitlines() if line.startswith("{")]
    assert [x["event"] for x in lines if x["logger"] == "bot.web"] == ["serving", "stopping"]
