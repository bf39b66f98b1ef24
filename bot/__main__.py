"""`python -m bot COMMAND`: every way to run the bot; `--help` lists the commands."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from . import DISTRIBUTION, __version__, logs
from .config import ConfigError, Settings, check_bind


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bot",
        description="The staff harassment guide bot: every way to run it.",
    )
    parser.add_argument("--version", action="version", version=f"{DISTRIBUTION} {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, title="commands")
    chat = commands.add_parser("chat", help="talk to the bot in this terminal")
    chat.add_argument("--user", default="local", help="whose progress to use (default: local)")
    chat.add_argument("--school", help="talk as staff of this school id (see SCHOOL_CONFIG)")
    commands.add_parser("diagram", help="print the state machine as Mermaid")
    preview = commands.add_parser("preview", help="write every message as an HTML page")
    preview.add_argument("--out", default="preview.html", help="where to write the page")
    preview.add_argument(
        "--school", metavar="FILE", help="with this school file's details (its first school)"
    )
    serve = commands.add_parser("serve", help="serve Slack and Teams over HTTP")
    serve.add_argument("--host", default="0.0.0.0")
    serve.add_argument("--port", type=int, default=_port(os.environ.get("PORT")))
    serve.add_argument("--workers", type=int, default=1, help="processes sharing the port")
    package = commands.add_parser("teams-package", help="write the Teams app package (zip)")
    package.add_argument("--app-id", required=True, help="the Azure Bot's Microsoft App ID")
    package.add_argument("--out", default="teams-app.zip", help="where to write the zip")
    check = commands.add_parser("check-config", help="check SCHOOL_CONFIG; show what it changes")
    check.add_argument("--school", help="only this Slack team or Teams tenant id's school")
    commands.add_parser(
        "rotate-key",
        help="seal every stored Slack installation and reference number with "
        "TOKEN_ENCRYPTION_KEY's first key (once every worker runs with it)",
    )
    termly = commands.add_parser("summary", help="print a school's termly summary for governors")
    termly.add_argument("--term", required=True, help="autumn-YYYY, spring-YYYY or summer-YYYY")
    termly.add_argument("--school", help="its Slack team or Teams tenant id (default: [school])")
    args = parser.parse_args(argv)

    if args.command == "diagram":
        from conversation import flow, machine

        print(machine.mermaid(flow.load()))
        return 0
    if args.command == "preview":
        from pathlib import Path

        from conversation import flow, school
        from conversation.school_flow import apply as school_view

        from .preview import write

        seen = flow.load()
        try:
            if args.school:
                seen = school_view(seen, school.load(Path(args.school)).all()[0])
            print(write(seen, Path(args.out)))
        except (FileNotFoundError, school.SchoolError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return 0
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
        if args.command == "check-config":
            return _check_config(settings, args.school)
        if args.command == "rotate-key":
            return asyncio.run(_rotate_key(settings))
        if args.command == "summary":
            from .summary import print_summary

            return print_summary(settings, args.term, args.school, sys.stdout)
        if args.command == "chat":
            logging.basicConfig(level=logging.WARNING)
            workspace = _school_id(settings, args.school)
            from . import console

            return console.run(settings, args.user, sys.stdin, sys.stdout, workspace)
        if args.command == "serve":
            check_bind(settings, args.host)
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


def _school_id(settings: Settings, school: str | None) -> str:
    """`chat --school ID` talks as a user of that workspace or tenant: it must be in the file."""
    if school is None:
        return "local"
    if school not in settings.schools.by_id and school.lower() not in settings.schools.by_id:
        where = settings.schools.source or "SCHOOL_CONFIG (not set)"
        raise ConfigError(f"--school {school}: {where} has no [schools.{school}] table")
    return school


def _check_config(settings: Settings, school: str | None) -> int:
    if not settings.schools:
        raise ConfigError(
            "SCHOOL_CONFIG is not set: nothing to check (copy school.example.toml, "
            "fill it in, and set SCHOOL_CONFIG to its path)"
        )
    from .check_config import report

    report(settings.schools, school, sys.stdout)
    if settings.slack and settings.slack.oauth:
        asyncio.run(_slack_installs(settings))
    return 0


async def _slack_installs(settings: Settings) -> None:
    from adapters.slack.installations import listed

    from .check_config import installed
    from .redis_connection import connect

    async with connect(settings) as redis:
        found = await listed(redis)
    installed((w.enterprise or w.team or "" for w in found), settings.schools, sys.stdout)


async def _rotate_key(settings: Settings) -> int:
    """Step 2 of "Rotating the encryption key" in the admin's guide: never at a worker's
    start, where workers not yet restarted could not open what it resealed. Slack's stored
    installations (with SLACK_CLIENT_ID) and every report's reference numbers."""
    from conversation.storage import Cases, Cipher, Db

    from .keyfile import sealing_keys
    from .redis_connection import connect

    cipher = Cipher(sealing_keys(settings))
    oauth = settings.slack and settings.slack.oauth
    unreadable = 0
    async with connect(settings) as redis:
        if oauth:
            from adapters.slack.installations import Installations

            resealed, lost = await Installations(redis, cipher).reseal()
            unreadable += lost
            print(f"{resealed} Slack installation{'s' if resealed != 1 else ''} sealed again.")
        resealed, lost = await Cases(Db(redis), 0).reseal(cipher)
        unreadable += lost
        print(f"{resealed} reference number{'s' if resealed != 1 else ''} sealed again.")
    if unreadable:
        print(f"error: {unreadable} cannot be opened with any key we have", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
