"""`python -m bot summary --term autumn-2026 [--school ID]`: a school's termly summary for its
governors, printed from the statistics store (counts and times only)."""

from __future__ import annotations

import asyncio
from typing import TextIO

from conversation import flow, summary, terms
from conversation.school import School
from conversation.storage import Db, Statistics

from .config import ConfigError, Settings
from .redis_connection import connect


def print_summary(settings: Settings, term_name: str, school_id: str | None, out: TextIO) -> int:
    schools = settings.schools
    if school_id is None:
        school = schools.default
    else:
        school = schools.by_id.get(school_id) or schools.by_id.get(school_id.lower())
        if school is None:
            where = schools.source or "SCHOOL_CONFIG (not set)"
            raise ConfigError(f"--school {school_id}: {where} has no [schools.{school_id}] table")
    try:
        term = terms.school_term(school, term_name)
    except terms.BadTerm as exc:
        raise ConfigError(f"--term: {exc}") from None
    out.write(asyncio.run(_summary(settings, school, term)) + "\n")
    return 0


async def _summary(settings: Settings, school: School | None, term: terms.Term) -> str:
    async with connect(settings) as redis:
        return await summary.summary(Statistics(Db(redis)), school, term, flow.load())
