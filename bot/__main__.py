"""`python -m bot COMMAND`: every way to run the bot; `--help` lists the commands."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from conversation.flow import FlowError

from . import DISTRIBUTION, __version__, logs
from .config import ConfigError, Settings, check_bind


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return _run(args)
    except (ConfigError, FlowError) as exc:  # a misconfiguration: one line, exit 2
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `... | head` read what it wanted: stop quietly, as cat does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def parser() -> argparse.ArgumentParser:
    """Every command and option, each with its help text."""
    parser = argparse.ArgumentParser(
        prog="python -m bot",
        description="The staff harassment guide bot: every way to run it.",
    )
    parser.add_argument("--version", action="version", version=f"{DISTRIBUTION} {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, title="commands")
    chat = commands.add_parser("chat", help="talk to the bot in this terminal")
    chat.add_argument("--user", default="local", help="whose progress to use (default: local)")
    chat.add_argument(
        "--school",
        metavar="ID",
        help="talk as staff of this school: its Slack team or Teams tenant id in SCHOOL_CONFIG",
    )
    commands.add_parser("diagram", help="print the state machine as Mermaid")
    preview = commands.add_parser("preview", help="write every message as an HTML page")
    preview.add_argument("--out", default="preview.html", help="where to write the page")
    preview.add_argument(
        "--school",
        metavar="ID",
        help="with this school's details: its Slack team or Teams tenant id in SCHOOL_CONFIG "
        "(default: [school], or the file's first school)",
    )
    serve = commands.add_parser("serve", help="serve Slack and Teams over HTTP")
    serve.add_argument(
        "--host",
        default="0.0.0.0",
        help="the address to listen on (default: 0.0.0.0, every address of this machine)",
    )
    serve.add_argument(
        "--port", help="the TCP port to listen on (default: the PORT setting, else 3000)"
    )
    serve.add_argument(
        "--workers",
        default="1",
        help="processes sharing the port, each restarted if it dies (default: 1)",
    )
    package = commands.add_parser("teams-package", help="write the Teams app package (zip)")
    package.add_argument("--app-id", required=True, help="the Azure Bot's Microsoft App ID")
    package.add_argument("--out", default="teams-app.zip", help="where to write the zip")
    check = commands.add_parser("check-config", help="check SCHOOL_CONFIG; show what it changes")
    check.add_argument(
        "--school", metavar="ID", help="only this Slack team or Teams tenant id's school"
    )
    commands.add_parser(
        "rotate-key",
        help="seal every stored Slack installation and reference number with "
        "TOKEN_ENCRYPTION_KEY's first key (once every worker runs with it)",
    )
    delete = commands.add_parser(
        "delete-data",
        help="delete one person's data, as typing 'delete my data' would for them (a report "
        "they sent withdrawn)",
    )
    delete.add_argument("platform", help="slack, teams or terminal")
    delete.add_argument(
        "workspace", help="Slack: the workspace's T… (Enterprise Grid: E…); Teams: the tenant id"
    )
    delete.add_argument("user", help="Slack: the member's U… id; Teams: their Entra object id")
    termly = commands.add_parser("summary", help="print a school's termly summary for governors")
    termly.add_argument("--term", required=True, help="autumn-YYYY, spring-YYYY or summer-YYYY")
    termly.add_argument("--school", help="its Slack team or Teams tenant id (default: [school])")
    return parser


def _run(args: argparse.Namespace) -> int:
    if args.command == "diagram":
        from conversation import flow, machine

        print(machine.mermaid(flow.load()))
        return 0
    if args.command == "teams-package":
        from .startup import placeholder_line
        from .teams_package import placeholders, write_package

        try:
            written = write_package(args.app_id, args.out)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        if unset := placeholders():
            print(f"warning: {placeholder_line(unset)}", file=sys.stderr)
        print(written)
        return 0
    settings = Settings.from_env()
    if args.command == "preview":
        return _preview(settings, args.school, args.out)
    if args.command == "check-config":
        return _check_config(settings, args.school)
    if args.command == "rotate-key":
        return asyncio.run(_rotate_key(settings))
    if args.command == "delete-data":
        return _delete_data(settings, args.platform, args.workspace, args.user)
    if args.command == "summary":
        from .summary import print_summary

        return print_summary(settings, args.term, args.school, sys.stdout)
    if args.command == "chat":
        logging.basicConfig(level=logging.WARNING)
        workspace = _school_id(settings, args.school)
        from . import console

        return console.run(settings, args.user, sys.stdin, sys.stdout, workspace)
    if args.command == "serve":
        return _serve(settings, args.host, args.port, args.workers)
    return 0


def _serve(settings: Settings, host: str, port_flag: str | None, workers_flag: str) -> int:
    """Every check that can fail does so before anything starts, in one line (exit 2)."""
    from conversation import flow

    from . import startup
    from .keyfile import sealing_keys
    from .redis_connection import refusal

    port = (
        startup.port(port_flag, "--port")
        if port_flag is not None
        else startup.port(os.environ.get("PORT"))
    )
    workers = startup.workers(workers_flag)
    check_bind(settings, host)
    flow.load()
    startup.check_port(host, port)
    if settings.redis_url and (why := refusal(settings.redis_url)):
        raise ConfigError(why)
    sealing_keys(settings)  # BOT_DATA_DIR unusable: one line, before the first log line
    logs.configure(logging.INFO)
    startup.announce(settings, workers)
    if workers > 1:
        from . import workers as processes

        return processes.run(settings, host, port, workers)
    from .runtime import serve_forever

    asyncio.run(serve_forever(settings, host, port))
    return 0


def _preview(settings: Settings, school_id: str | None, out: str) -> int:
    """Every message as one HTML page, worded for the school `--school` picks, as `chat
    --school` and `check-config --school` pick it (SCHOOL_CONFIG's [school] without one)."""
    from pathlib import Path

    from conversation import flow
    from conversation.school_flow import apply as school_view

    from .preview import write

    seen = flow.load()
    if school_id is not None:
        _school_id(settings, school_id)
    schools = settings.schools
    picked = schools.for_workspace(school_id or "") or next(iter(schools.all()), None)
    if picked is not None:
        seen = school_view(seen, picked)
    try:
        print(write(seen, Path(out)))
    except FileNotFoundError as exc:  # the renderer, with the npm step that fetches it
        raise ConfigError(str(exc)) from None
    return 0


def _school_id(settings: Settings, school: str | None) -> str:
    """`chat --school ID` talks as a user of that workspace or tenant: it must be in the file."""
    if school is None:
        return "local"
    if school not in settings.schools.by_id and school.lower() not in settings.schools.by_id:
        where = settings.schools.source or "SCHOOL_CONFIG (not set)"
        raise ConfigError(f"--school {school}: {where} has no [schools.{school}] table")
    return school


def _check_config(settings: Settings, school: str | None) -> int:
    """What `serve` would refuse, then what it would warn of, then each school's wording."""
    from conversation import flow

    from . import startup
    from .check_config import report
    from .redis_connection import refusal

    _school_id(settings, school)  # an id `chat --school` refuses is refused here too
    flow.load()
    startup.port(os.environ.get("PORT"))
    if settings.redis_url and (why := refusal(settings.redis_url)):
        raise ConfigError(why)
    if not settings.schools:
        print(
            "SCHOOL_CONFIG is not set: every school's staff get the flowchart's generic "
            "wording (copy school.example.toml, fill it in, and set SCHOOL_CONFIG to its path)"
        )
    else:
        report(settings.schools, school, sys.stdout)
        if settings.slack and settings.slack.oauth:
            asyncio.run(_slack_installs(settings))
    warnings = startup.warnings(settings)
    if warnings:
        print("\nWhat serve would warn of:")
    for line in warnings:
        print(f"    warning: {line}")
    return 0


async def _slack_installs(settings: Settings) -> None:
    from adapters.slack.installations import listed

    from .check_config import installed
    from .redis_connection import connect

    async with connect(settings) as redis:
        found = await listed(redis)
    installed((w.enterprise or w.team or "" for w in found), settings.schools, sys.stdout)


def _delete_data(settings: Settings, platform: str, workspace: str, user: str) -> int:
    from . import delete_data

    who = delete_data.user_key(platform, workspace, user)
    logs.configure(logging.WARNING)
    done = asyncio.run(delete_data.run(settings, who))
    if done is None:
        print("error: storage is unavailable: nothing was deleted; try again", file=sys.stderr)
        return 1
    print(done.line())
    return 0


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
