"""Microsoft's Adaptive Cards library, run under Node, as the judge of our cards.

`problems(cards)` hands cards to tests/cards/validate.js, which parses each one with the
npm `adaptivecards` package (the renderer Web Chat uses) for schema 1.4 and runs its
validateProperties(); it returns what the library reported, by card name. To check new
cards, pass whatever yields them: `assert problems(my_cards()) == {}`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

CHECKS = Path(__file__).with_name("cards")
LIBRARY = CHECKS / "node_modules" / "adaptivecards" / "dist" / "adaptivecards.js"


def library() -> str:
    """Node, with the library installed (`npm ci` here the first time, as .ci/run does).

    Without Node the card checks are skipped on a developer's machine, saying why, and fail
    in CI (CI=true), where .ci/run installs it."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node and npm and not LIBRARY.exists():
        subprocess.run(
            [npm, "ci", "--prefix", str(CHECKS), "--no-audit", "--no-fund", "--loglevel=error"],
            check=True,
            timeout=300,
        )
    if node is None or not LIBRARY.exists():
        why = f"needs node and `npm ci --prefix {CHECKS}` (Debian: apt-get install nodejs npm)"
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)
    return node


def problems(cards: Iterable[tuple[str, dict[str, Any]]]) -> dict[str, list[str]]:
    """Every parse or validation event, by card name; {} when every card is clean."""
    node = library()
    batch = list(cards)
    names = [name for name, _ in batch]
    assert len(set(names)) == len(names), "card names must be unique"
    done = subprocess.run(
        [node, str(CHECKS / "validate.js")],
        input=json.dumps(batch),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return json.loads(done.stdout)
