"""What `serve` says as it starts, and what it refuses to start with.

One summary line (version, platforms, which Redis, the school file, workers), then one
warning for each state that would help nobody: no platform, the embedded store, the example
school unedited, the Teams app's placeholder pages. `check-config` prints the same warnings.
Nothing here logs a token, a password or a school's details: only names of settings, kinds
and counts, and REDIS_URL with its password hidden.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import socket
from collections.abc import Iterator, Mapping
from typing import Any

from conversation.school import School

from .config import ConfigError, Settings
from .redis_url import parse, redact
from .teams_package import placeholders

log = logging.getLogger("bot.startup")

DISTRIBUTION = "staff-harassment-bot"
MAX_WORKERS = 64
EXAMPLE_NAME = "Example Academy"
EXAMPLE_HOST = re.compile(r"(?<![\w.-])example\.(?:org|com|net)\b", re.I)
"""The example's own host, in a link or an address: not a school's subdomain of it."""


def version() -> str:
    """The bot's version (`bot.__version__`: the installed wheel's, or this checkout's)."""
    from . import __version__

    return __version__


def port(raw: str | None, name: str = "PORT", default: int = 3000) -> int:
    """A TCP port from a setting or flag; ConfigError naming it, rather than a quiet 3000."""
    if raw is None or raw == "":
        return default
    if not raw.strip().isdigit() or not 1 <= int(raw) <= 65535:
        raise ConfigError(f"{name} must be a port number from 1 to 65535, got {raw!r}")
    return int(raw)


def workers(raw: str) -> int:
    """`--workers`: processes, each a whole Python with its own connections to Redis."""
    if not raw.strip().isdigit() or not 1 <= int(raw) <= MAX_WORKERS:
        raise ConfigError(f"--workers must be a whole number from 1 to {MAX_WORKERS}, got {raw!r}")
    return int(raw)


def check_port(host: str, number: int) -> None:
    """A port in use, or an address this machine does not have, as one line before anything
    starts (and before `--workers` spawns processes that would each fail)."""
    try:
        infos = socket.getaddrinfo(host, number, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigError(f"--host {host}: not an address here ({exc.strerror})") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will
        try:
            probe.bind(address)
        except OSError as exc:
            raise ConfigError(listen_error(host, number, exc)) from None


def listen_error(host: str, number: int, exc: OSError) -> str:
    why = exc.strerror or type(exc).__name__
    hint = " (another program, or another bot, is serving it)" if "in use" in why else ""
    return f"cannot listen on {host}:{number}: {why.lower()}{hint}"


def platforms(settings: Settings) -> list[str]:
    on = []
    if settings.slack:
        on.append("slack (many workspaces)" if settings.slack.oauth else "slack")
    if settings.teams:
        on.append("teams (unauthenticated)" if settings.teams.allow_unauthenticated else "teams")
    return on


def redis_kind(settings: Settings) -> tuple[str, str]:
    """Which Redis, and where, with any password hidden."""
    if not settings.redis_url:
        return "embedded", str(settings.data_dir.resolve())
    return parse(settings.redis_url).kind, redact(settings.redis_url)


def announce(settings: Settings, workers: int, env: Mapping[str, str] = os.environ) -> None:
    """The summary line, then a warning line for each state that helps nobody."""
    kind, where = redis_kind(settings)
    log.info(
        "starting",
        extra={
            "version": version(),
            "platforms": platforms(settings),
            "redis": kind,
            "redis_at": where,
            "school_file": settings.schools.source or None,
            "schools": len(settings.schools.all()),
            "workers": workers,
        },
    )
    for line in warnings(settings, env):
        log.warning(line)


def warnings(settings: Settings, env: Mapping[str, str] = os.environ) -> list[str]:
    """Each state the bot would start in that helps nobody, as one line."""
    lines = []
    if not settings.slack and not settings.teams:
        lines.append(
            "no platform is configured: Slack answers 404 and Teams 401, so nobody can reach "
            "the bot (set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET, SLACK_CLIENT_ID and "
            "SLACK_CLIENT_SECRET, or MicrosoftAppId)"
        )
    if not settings.redis_url:
        lines.append(
            f"REDIS_URL is not set: using the embedded store in {settings.data_dir}, on this "
            "machine only and with no replica; it is for trying the bot out (set REDIS_URL "
            "in production)"
        )
    for school in settings.schools.all():
        if found := sorted(set(example_values(school))):
            lines.append(
                f"{settings.schools.source}: {school.label} still has school.example.toml's "
                f"details ({', '.join(found)}): staff would see them; put in your school's own"
            )
    if settings.teams and (unset := placeholders(env)):
        lines.append(placeholder_line(unset))
    return lines


def example_values(school: School) -> Iterator[str]:
    """Which of the example file's values a school still has: its name, example.org links
    and addresses."""
    for value in _strings(school):
        if value == EXAMPLE_NAME:
            yield EXAMPLE_NAME
        for host in EXAMPLE_HOST.findall(value):
            yield host.lower()


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from _strings(getattr(value, f.name))
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, tuple | list | frozenset | set):
        for item in value:
            yield from _strings(item)


def placeholder_line(unset: list[str]) -> str:
    return (
        f"{', '.join(unset)} not set: the Teams app package shows placeholders (www.example.org "
        'pages, "Your school or trust") in the app\'s details; set them and run teams-package'
    )
