"""`python -m bench`: what a turn costs, measured against floors in the same run.

Machines here are shared and noisy, so every figure that matters is a ratio of two
measurements taken side by side: the engine against bare Redis GET+SET, each HTTP
adapter against the smallest bot on the same framework. Nothing here fails on timing.

| module | what it measures or holds |
| --- | --- |
| `engine_floor` | the engine's turn against a bare GET+SET on the same Redis client |
| `timers` | the runner's turn with the follow-ups on against off: what timers cost a turn |
| `http_runs` | a real `serve` process against the floor bots, driven by the same users |
| `floor_bots` | the smallest Bolt and botbuilder bots, run as processes of their own |
| `startup` | process start to `/readyz` answering 200 |
| `results` | figures, ratios, and the printed table |

It runs from a checkout (`python -m bench`), beside the tests whose stand-ins it shares
(`tests/drivers/`); none of it is in the wheel, and the runtime never imports it.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from bot import local_redis

from . import engine_floor, http_runs, timers
from .results import FAILURES, print_table, ratio
from .startup import startup_seconds


def run(users: int, out_file: Path, quick: bool) -> int:
    with local_redis.redis_url() as url:
        engine, floor = asyncio.run(engine_floor.engine_turns(url, users, rounds=1 if quick else 5))
        rows = [engine.row(), floor.row()]
        ratios = {"engine turn / GET+SET floor": ratio(engine, floor)}
        with_timers, without = asyncio.run(timers.timer_cost(url, users))
        rows += [with_timers.row(), without.row()]
        ratios["follow-ups on / off"] = ratio(with_timers, without)
        for ours, minimal in http_runs.run(url, users, quick):
            rows += [ours.row(), minimal.row()]
            ratios[f"{ours.name} / {minimal.name}"] = ratio(ours, minimal)
        startup = startup_seconds(url)
    rows.append(
        {
            "name": "start-up to /readyz",
            "turns": 1,
            "turns_per_s": "",
            "p50_ms": round(startup * 1000),
            "p99_ms": "",
        }
    )
    print_table(rows, ratios, sys.stdout)
    out_file.write_text(json.dumps({"users": users, "rows": rows, "ratios": ratios}, indent=2))
    print(f"figures written to {out_file}")
    # A smoke test fails on errors only, never on timing.
    failed = sum(float(r.get(c, 0)) for r in rows for c in FAILURES)
    if failed:
        print(
            f"FAILED: {failed:g} errors, unfinished users or server log problems (see above)",
            file=sys.stderr,
        )
    return 1 if failed else 0
