"""`python -m bench [--users N] [--quick]`: run the benchmark from a checkout."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="Measure a turn against its floors, in one run."
    )
    parser.add_argument("--users", type=int, default=200, help="simulated concurrent users")
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--json", default="bench-results.json", help="where to write figures")
    args = parser.parse_args(argv)
    return run(args.users, Path(args.json), args.quick)


if __name__ == "__main__":
    sys.exit(main())
