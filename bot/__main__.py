"""`python -m bot chat | diagram | preview | serve | teams-package`: every way to run the bot."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from . import logs
from .config import ConfigError, Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    chat = commands.add_parser("chat", help="talk to the bot in this terminal")
    chat.add_argument("--user", default="local", help="whose progress to use (default: local)")
    commands.add_parser("diagram", help="print the state machine as Mermaid")
    preview = commands.add_parser("preview", help="write every message as an HTML page")
    preview.add_argument("--out", default="preview.html", help="where to write the page")
    serve = commands.add_parser("serve", help="serve Slack and Teams over HTTP")
    serve.add_argument("--host", default="0.0.0.0")
    serve.add_argument("--port", type=int, default=_port(os.environ.get("PORT")))
    serve.add_argument("--workers", type=int, default=1, help="processes sharing the port")
    bench = commands.add_parser("bench", help="measure a turn against its floors")
    bench.add_argument("--users", type=int, default=200, help="simulated concurrent users")
    bench.add_argument("--quick", action="store_true", help="a short smoke run")
    bench.add_argument("--json", default="bench-results.json", help="where to write figures")
    package = commands.add_parser("teams-package", help="write the Teams app package (zip)")
    package.add_argument("--app-id", required=True, help="the Azure Bot's Microsoft App ID")
    package.add_argument("--out", default="teams-app.zip", help="where to write the zip")
    args = parser.parse_args(argv)

    if args.command == "diagram":
        from conversation import flow, machine

        print(machine.mermaid(flow.load()))
        return 0
    if args.command == "preview":
        from pathlib import Path

        from conversation import flow

        from .preview import write

        try:
            print(write(flow.load(), Path(args.out)))
        except FileNotFoundError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return 0
    if args.command == "bench":
        from pathlib import Path

        from . import bench as benchmark

        return benchmark.run(args.users, Path(args.json), args.quick)
    if args.command == "teams-package":
        from .teams_package import write_package

        try:
            print(write_package(args.app_id, args.out))
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return 0
    try:
        settings = Settings.from_env()
        if args.command == "chat":
            logging.basicConfig(level=logging.WARNING)
            return asyncio.run(_chat(settings, args.user))
        if args.command == "serve":
            logs.configure(logging.INFO)
            if args.workers > 1:
                from . import workers

                return workers.run(settings, args.host, args.port, args.workers)
            from .runtime import serve_forever

            asyncio.run(serve_forever(settings, args.host, args.port))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _port(raw: str | None) -> int:
    return int(raw) if raw and raw.isdigit() else 3000


async def _chat(settings: Settings, user: str) -> int:
    from . import console
    from .runtime import running_engine

    async with running_engine(settings) as engine:
        return await console.chat(engine, user, sys.stdin, sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
