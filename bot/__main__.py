"""`python -m bot chat | diagram | serve`: the one entry point for every way to run the bot."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from .config import ConfigError, Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    chat = commands.add_parser("chat", help="talk to the bot in this terminal")
    chat.add_argument("--user", default="local", help="whose progress to use (default: local)")
    commands.add_parser("diagram", help="print the state machine as Mermaid")
    args = parser.parse_args(argv)

    if args.command == "diagram":
        from conversation import flow, machine

        print(machine.mermaid(flow.load()))
        return 0
    try:
        settings = Settings.from_env()
        if args.command == "chat":
            logging.basicConfig(level=logging.WARNING)
            return asyncio.run(_chat(settings, args.user))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


async def _chat(settings: Settings, user: str) -> int:
    from . import console
    from .runtime import running_engine

    async with running_engine(settings) as engine:
        return await console.chat(engine, user, sys.stdin, sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
