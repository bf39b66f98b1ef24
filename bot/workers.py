"""`serve --workers N`: N identical processes on one port, sharing one Redis.

The kernel spreads connections across them (SO_REUSEPORT). No worker keeps anything
another needs: all progress is in Redis, so any worker can take any request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import signal
from dataclasses import replace

from . import logs
from .config import ConfigError, Settings
from .redis_connection import answers, embedded, redact

log = logging.getLogger("bot.workers")


def run(settings: Settings, host: str, port: int, workers: int) -> int:
    with contextlib.ExitStack() as stack:
        if not settings.redis_url:  # one embedded server for all workers, owned here
            settings = replace(settings, redis_url=stack.enter_context(embedded(settings.data_dir)))
        if not answers(settings.redis_url):  # fail once, here, not once per worker
            raise ConfigError(f"cannot reach Redis at {redact(settings.redis_url)}")
        ctx = multiprocessing.get_context("spawn")
        procs = [ctx.Process(target=_worker, args=(settings, host, port)) for _ in range(workers)]
        for proc in procs:
            proc.start()
        stopping = False

        def stop(signum: int, frame: object) -> None:
            nonlocal stopping
            stopping = True
            for proc in procs:
                if proc.is_alive():
                    proc.terminate()  # SIGTERM: each worker finishes its in-flight turns

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        log.info("workers started", extra={"workers": workers, "port": port})
        for proc in procs:
            proc.join()
        failed = [p.exitcode for p in procs if p.exitcode]
        return 0 if stopping and not [c for c in failed if c != -signal.SIGTERM] else 1


def _worker(settings: Settings, host: str, port: int) -> None:
    from .runtime import serve_forever

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    logs.configure(logging.INFO)
    asyncio.run(serve_forever(settings, host, port, reuse_port=True))
