"""How long `serve` takes from process start to answering `/readyz`."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import urllib.request

from bot import local_redis


def startup_seconds(url: str) -> float:
    """From process start to /readyz answering 200."""
    port = local_redis.free_port()
    env = {**os.environ, "REDIS_URL": url}
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while time.perf_counter() - started < 30:
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r,
            ):
                if r.status == 200:
                    return time.perf_counter() - started
            time.sleep(0.02)
        raise RuntimeError("serve did not become ready in 30 s")
    finally:
        proc.terminate()
        proc.wait(10)
