"""Wires settings, Redis, store and engine together: the one place they meet."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from conversation import flow
from conversation.engine import Engine
from conversation.store import Store

from .config import Settings
from .redis_connection import connect, replica_wait_ms


@contextlib.asynccontextmanager
async def running_engine(settings: Settings) -> AsyncIterator[Engine]:
    async with connect(settings) as redis:
        wait = await replica_wait_ms(redis)
        store = Store(redis, ttl_seconds=settings.ttl_seconds, replica_wait_ms=wait)
        yield Engine(
            flow.load(),
            store,
            settings.ttl_days,
            log_salt=settings.log_salt,
            schools=settings.schools,
        )


async def serve_forever(settings: Settings, host: str, port: int, reuse_port: bool = False) -> None:
    from .web import serve

    if settings.teams and settings.teams.allow_unauthenticated:
        logging.getLogger("bot").warning(
            "TEAMS_ALLOW_UNAUTHENTICATED=1: /api/messages accepts unauthenticated activities. "
            "For local development and tests only."
        )
    async with running_engine(settings) as engine:
        await serve(settings, engine, host, port, reuse_port=reuse_port)
