"""HTTP halves of the benchmark; filled in as the Slack and Teams adapters land."""

from __future__ import annotations

from collections.abc import Iterator


def run(url: str, users: int, quick: bool) -> Iterator[tuple]:
    return iter(())
