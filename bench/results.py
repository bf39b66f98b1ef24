"""A measured run's figures, the ratios between two runs, and the table they are printed as."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TextIO


@dataclass
class Result:
    name: str
    turns: int
    seconds: float
    latencies_ms: list[float] = field(repr=False)
    extra: dict[str, float | str] = field(default_factory=dict)

    @classmethod
    def merged(cls, rounds: list[Result]) -> Result:
        """Timed rounds of one measure as one: every latency, the turns and the time summed,
        the failures summed, figures per turn weighted by each round's turns."""
        turns = sum(r.turns for r in rounds)
        extra: dict[str, float | str] = {"rounds": len(rounds)}
        for key, first in rounds[0].extra.items():
            values = [(r.extra.get(key, 0), r.turns) for r in rounds]
            if key in FAILURES:
                extra[key] = sum(int(v) for v, _ in values)
            elif key == "users" or not isinstance(first, int | float):
                extra[key] = first
            else:
                extra[key] = round(sum(float(v) * t for v, t in values) / max(turns, 1), 3)
        seconds = sum(r.seconds for r in rounds)
        latencies = [ms for r in rounds for ms in r.latencies_ms]
        return cls(rounds[0].name, turns, seconds, latencies, extra)

    @property
    def per_second(self) -> float:
        return self.turns / self.seconds

    def pct(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

    def row(self) -> dict[str, float | str]:
        return {
            "name": self.name,
            "turns": self.turns,
            "turns_per_s": round(self.per_second, 1),
            "p50_ms": round(self.pct(50), 3),
            "p99_ms": round(self.pct(99), 3),
            **self.extra,
        }


def ratio(a: Result, b: Result) -> dict[str, float]:
    """How `a` compares with `b`, its floor measured in the same run (1.0 is the floor)."""
    return {
        "p50": round(a.pct(50) / b.pct(50), 2),
        "p99": round(a.pct(99) / b.pct(99), 2),
        "throughput": round(b.per_second / a.per_second, 2),
    }


COLUMNS = ("name", "turns", "turns_per_s", "p50_ms", "p99_ms")
FAILURES = ("errors", "unfinished_users", "server_log_problems")
"""Counts that fail the benchmark, summed over rounds."""


def print_table(
    rows: list[dict[str, float | str]], ratios: dict[str, dict[str, float]], out: TextIO
) -> None:
    """One line per row in aligned columns (names left, figures right), each row's other
    figures indented under it, then the ratios."""
    cells = [[str(r[c]) for c in COLUMNS] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(COLUMNS)]

    def line(values: list[str] | tuple[str, ...]) -> str:
        return "  ".join(
            v.ljust(w) if i == 0 else v.rjust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ).rstrip()

    extras = [k for r in rows for k in r if k not in COLUMNS]
    key_width = max(map(len, extras), default=0)
    print(line(COLUMNS), file=out)
    print(line(["-" * w for w in widths]), file=out)
    for r, row in zip(rows, cells, strict=True):
        print(line(row), file=out)
        for k, v in r.items():
            if k not in COLUMNS:
                print(f"    {k:<{key_width}}  {v}", file=out)
    print(file=out)
    name_width = max(map(len, ratios), default=0)
    for name, r in ratios.items():
        print(
            f"ratio {name:<{name_width}}  p50 {r['p50']:>5}x  p99 {r['p99']:>5}x  "
            f"time for the same work {r['throughput']:>5}x",
            file=out,
        )
