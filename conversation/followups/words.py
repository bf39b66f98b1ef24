"""The words of the follow-ups, from `wording.toml`: each text as its reader's role words it."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from ..typed import normalise

WORDING = Path(__file__).with_name("wording.toml")


@cache
def wording(path: Path = WORDING) -> dict[str, Any]:
    with open(path, "rb") as fh:
        return tomllib.load(fh)


def worded(raw: str | Mapping[str, str], role: str | None) -> str:
    """One text, as a table of wordings by role or the same for everyone."""
    if isinstance(raw, str):
        return raw
    return raw["handling" if role == "handling" else "affected"]


@cache
def typed_answers() -> dict[str, tuple[str, str]]:
    """Every typed answer the follow-ups know: what was typed (normalised) -> (topic, code)."""
    w = wording()
    found = {
        normalise(said): ("content", code)
        for code, words in w["content"]["words"].items()
        for said in words
    }
    found |= {normalise(said): ("escalation", "stop") for said in w["warning"]["words"]}
    return found
