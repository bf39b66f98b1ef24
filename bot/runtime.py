"""Wires settings, Redis and the conversation together: the one place they meet."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from conversation.runner import Runner, build
from conversation.storage import Cipher

from .config import Settings
from .keyfile import sealing_keys
from .redis_connection import connect, replica_wait_ms


@contextlib.asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Runner]:
    cipher = Cipher(sealing_keys(settings))
    async with connect(settings) as redis:
        yield build(
            redis,
            ttl_days=settings.ttl_days,
            case_ttl_days=settings.case_ttl_days,
            schools=settings.schools,
            log_salt=settings.log_salt,
            replica_wait_ms=await replica_wait_ms(redis),
            cipher=cipher,
        )


async def serve_forever(settings: Settings, host: str, port: int, reuse_port: bool = False) -> None:
    from .web import serve

    if settings.teams and settings.teams.allow_unauthenticated:
        logging.getLogger("bot").warning(
            "TEAMS_ALLOW_UNAUTHENTICATED=1: /api/messages accepts unauthenticated activities. "
            "For local development and tests only."
        )
    async with running(settings) as runner:
        await serve(settings, runner, host, port, reuse_port=reuse_port)
