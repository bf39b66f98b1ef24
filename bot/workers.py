"""`serve --workers N`: N identical processes on one port, sharing one Redis.

The kernel spreads connections across them (SO_REUSEPORT). No worker keeps anything
another needs: all progress is in Redis, so any worker can take any request, and a worker
that dies (a crash, the out-of-memory killer) is simply started again. One that dies soon
after starting is started again after a growing pause, and after `GIVE_UP` such deaths in a
row the whole server stops, so that what supervises it (systemd, the container engine) sees.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import signal
import sys
import time
from dataclasses import dataclass, replace
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess

from . import logs
from .config import ConfigError, Settings
from .redis_connection import embedded, refusal

log = logging.getLogger("bot.workers")

QUICK_SECONDS = 10.0
"""A worker that dies sooner than this after starting died of something at start-up."""
BACKOFF_SECONDS = (1.0, 2.0, 4.0, 8.0, 16.0)
"""The pause before starting again a worker that died quickly, by deaths in a row."""
GIVE_UP = len(BACKOFF_SECONDS) + 1
"""Quick deaths in a row after which the server stops (exit 1) rather than spin."""


@dataclass
class _Slot:
    number: int
    proc: BaseProcess
    started: float
    quick_deaths: int = 0
    due: float | None = None
    """When to start it again, once it has died."""


def run(settings: Settings, host: str, port: int, workers: int) -> int:
    with contextlib.ExitStack() as stack:
        if not settings.redis_url:  # one embedded server for all workers, owned here
            settings = replace(settings, redis_url=stack.enter_context(embedded(settings.data_dir)))
        if why := refusal(settings.redis_url):  # fail once, here, not once per worker
            raise ConfigError(why)
        ctx = multiprocessing.get_context("spawn")

        def start(number: int) -> BaseProcess:
            proc = ctx.Process(target=_worker, args=(settings, host, port), daemon=False)
            proc.start()
            log.info("worker started", extra={"worker": number, "pid": proc.pid})
            return proc

        slots = [_Slot(n, start(n), time.monotonic()) for n in range(workers)]
        stopping = False

        def stop(signum: int, frame: object) -> None:
            nonlocal stopping
            stopping = True
            for slot in slots:
                if slot.proc.is_alive():
                    slot.proc.terminate()  # SIGTERM: each worker finishes its in-flight turns

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        log.info("workers started", extra={"workers": workers, "port": port})
        gave_up = False
        while not stopping:
            now = time.monotonic()
            for slot in slots:
                if slot.due is None and slot.proc.exitcode is not None:
                    slot.due = _died(slot, now)
                    if slot.quick_deaths >= GIVE_UP:
                        log.error(
                            "worker keeps dying at start-up: stopping the server",
                            extra={"worker": slot.number, "deaths": slot.quick_deaths},
                        )
                        gave_up = True
                        stop(signal.SIGTERM, None)
                        break
                if not stopping and slot.due is not None and slot.due <= now:
                    slot.proc, slot.started, slot.due = start(slot.number), now, None
            pending = [s.due for s in slots if s.due is not None]
            timeout = max(0.0, min(pending) - now) if pending else 1.0
            wait([s.proc.sentinel for s in slots if s.due is None], timeout=min(timeout, 1.0))
        for slot in slots:
            slot.proc.join()
        if gave_up:
            return 1
        failed = [s.proc.exitcode for s in slots if s.proc.exitcode]
        return 0 if not [c for c in failed if c != -signal.SIGTERM] else 1


def _died(slot: _Slot, now: float) -> float:
    """Log the death; when to start the worker again."""
    quick = now - slot.started < QUICK_SECONDS
    slot.quick_deaths = slot.quick_deaths + 1 if quick else 0
    pause = BACKOFF_SECONDS[min(slot.quick_deaths, len(BACKOFF_SECONDS)) - 1] if quick else 0.0
    code = slot.proc.exitcode or 0
    how = {"signal": signal.Signals(-code).name} if code < 0 else {"exit_code": code}
    log.error(
        "worker died: starting it again",
        extra={"worker": slot.number, "pid": slot.proc.pid, **how, "restart_in_s": pause},
    )
    return now + pause


def _worker(settings: Settings, host: str, port: int) -> None:
    from .runtime import serve_forever

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    logs.configure(logging.INFO)
    try:
        asyncio.run(serve_forever(settings, host, port, reuse_port=True))
    except ConfigError as exc:  # Redis gone since the parent's check, say: one line
        logging.getLogger("bot.workers").error("worker cannot start", extra={"error": str(exc)})
        sys.exit(2)
