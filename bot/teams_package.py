"""The Teams app package an admin uploads: manifest.json and two icons, in one zip.

`python -m bot teams-package --app-id ID [--out FILE]`. The icons are drawn here with
zlib and struct, so the package needs nothing beyond the standard library.
"""

from __future__ import annotations

import json
import os
import re
import struct
import zipfile
import zlib
from collections.abc import Callable, Mapping
from importlib import metadata
from pathlib import Path
from urllib.parse import urlsplit

SCHEMA_VERSION = "1.19"
COMMAND = "report-harassment"
REPORTS = "reports"
"""The command that shows a person the reports staff have sent them (personal scope only)."""
SCOPES = ["personal", "team", "groupChat"]
"""Personal is where the conversation happens. Team and group chat only let someone start
it from there with @mention: the bot answers "I've messaged you privately" and carries on
in the 1:1 chat. Drop them to keep the bot out of channels altogether."""

ACCENT = (0x1D, 0x70, 0xB8)
GUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")

DEVELOPER_DEFAULTS = {
    # Shown in Teams' app details. Set these to your school's or trust's own pages.
    "TEAMS_DEVELOPER_NAME": "Your school or trust",
    "TEAMS_WEBSITE_URL": "https://www.example.org/",
    "TEAMS_PRIVACY_URL": "https://www.example.org/privacy",
    "TEAMS_TERMS_URL": "https://www.example.org/terms",
}
PAGES = ("TEAMS_WEBSITE_URL", "TEAMS_PRIVACY_URL", "TEAMS_TERMS_URL")
DEVELOPER_NAME_MAX = 32
"""Teams' limit on developer.name: a longer one is refused, not cut short in the store."""


def placeholders(env: Mapping[str, str] = os.environ) -> list[str]:
    """The developer settings left at their placeholders (shown in Teams' app details)."""
    return [name for name, default in DEVELOPER_DEFAULTS.items() if not env.get(name)]


def write_package(app_id: str, out: str, env: Mapping[str, str] = os.environ) -> str:
    """Write the zip to `out` and return its absolute path; ValueError for a bad app id."""
    app_id = app_id.strip()
    if not GUID.fullmatch(app_id):
        raise ValueError(
            f"--app-id must be the Azure Bot's Microsoft App ID, a GUID such as "
            f"00000000-0000-0000-0000-000000000000 (got {app_id!r})"
        )
    manifest = build_manifest(app_id.lower(), env)
    path = Path(out)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr("manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False))
        package.writestr("color.png", color_icon())
        package.writestr("outline.png", outline_icon())
    return str(path.resolve())


def build_manifest(app_id: str, env: Mapping[str, str] = os.environ) -> dict:
    developer = {name: env.get(name) or default for name, default in DEVELOPER_DEFAULTS.items()}
    for name in PAGES:
        if urlsplit(developer[name]).scheme != "https":
            raise ValueError(f"{name} must be an https:// URL")
    name = developer["TEAMS_DEVELOPER_NAME"]
    if len(name) > DEVELOPER_NAME_MAX:
        raise ValueError(
            f"TEAMS_DEVELOPER_NAME is {len(name)} characters: Teams takes at most "
            f"{DEVELOPER_NAME_MAX} (shorten it, for example to the school's or trust's short name)"
        )
    command = {
        "title": COMMAND,
        "description": "Start a private, step-by-step guide to reporting online harassment",
    }
    reports = {
        "title": REPORTS,
        "description": "The reports staff have sent you, and what is done on each",
    }
    return {
        "$schema": (
            "https://developer.microsoft.com/en-us/json-schemas/teams/"
            f"v{SCHEMA_VERSION}/MicrosoftTeams.schema.json"
        ),
        "manifestVersion": SCHEMA_VERSION,
        "version": _version(env),
        "id": app_id,
        "developer": {
            "name": name,
            "websiteUrl": developer["TEAMS_WEBSITE_URL"],
            "privacyUrl": developer["TEAMS_PRIVACY_URL"],
            "termsOfUseUrl": developer["TEAMS_TERMS_URL"],
        },
        "name": {
            "short": "Staff harassment guide",
            "full": "Staff harassment guide: online bullying and harassment of school staff",
        },
        "description": {
            "short": "Private, step-by-step help when school staff are bullied or harassed online",
            "full": (
                "Guides a member of school staff who is being bullied or harassed online "
                "because of their work, or the person handling their case, through the "
                "Department for Education flowchart 'Handling online bullying and harassment "
                "incident in schools'. It asks only the questions the flowchart needs and ends "
                "with a private checklist: where to get support, the school policies to use, "
                "whether to involve the police, who should lead, and what to do for each kind "
                "of abuse, with the links. Everything happens in your private chat with the "
                "bot; it keeps only the options you choose, and deletes them when you ask or "
                "after a set time without use."
            ),
        },
        "icons": {"color": "color.png", "outline": "outline.png"},
        "accentColor": "#{:02X}{:02X}{:02X}".format(*ACCENT),
        "bots": [
            {
                "botId": app_id,
                "scopes": SCOPES,
                "isNotificationOnly": False,
                # The record of a report as a file, with the person's consent (1:1 chat only).
                "supportsFiles": True,
                "commandLists": [
                    {"scopes": ["personal"], "commands": [command, reports]},
                    {"scopes": [s for s in SCOPES if s != "personal"], "commands": [command]},
                ],
            }
        ],
        "validDomains": [],
    }


def _version(env: Mapping[str, str]) -> str:
    """TEAMS_APP_VERSION, else the bot's own: Teams accepts an updated upload only if higher."""
    version = env.get("TEAMS_APP_VERSION") or ""
    if version and not re.fullmatch(r"\d+\.\d+\.\d+", version):
        raise ValueError("TEAMS_APP_VERSION must look like 1.2.3")
    if not version:
        try:
            version = metadata.version("staff-harassment-bot")
        except metadata.PackageNotFoundError:
            version = "1.0.0"
    return version if re.fullmatch(r"\d+\.\d+\.\d+", version) else "1.0.0"


# --- icons ---------------------------------------------------------------------------------


def color_icon() -> bytes:
    """192 by 192, full colour: a white speech bubble on the accent colour, fully opaque."""

    def pixel(cover: float) -> tuple[int, int, int, int]:
        r, g, b = (round(c + (255 - c) * cover) for c in ACCENT)
        return r, g, b, 255

    return _png(192, 2, pixel)


def outline_icon() -> bytes:
    """32 by 32 outline: the same bubble in white on transparent, as Teams requires."""
    return _png(32, 4, lambda cover: (255, 255, 255, round(255 * cover)))


def _bubble(x: float, y: float) -> bool:
    """The drawing, in a unit square: a rounded speech bubble with a tail and three dots."""
    for cx in (0.34, 0.5, 0.66):
        if (x - cx) ** 2 + (y - 0.43) ** 2 <= 0.055**2:
            return False
    left, top, right, bottom, radius = 0.14, 0.18, 0.86, 0.68, 0.12
    nx = min(max(x, left + radius), right - radius)
    ny = min(max(y, top + radius), bottom - radius)
    if left <= x <= right and top <= y <= bottom and (x - nx) ** 2 + (y - ny) ** 2 <= radius**2:
        return True
    # The tail: a triangle below the bubble's lower left.
    return 0.26 <= x <= 0.46 and 0.6 <= y <= 0.84 - (x - 0.26) * (0.22 / 0.2)


def _png(size: int, samples: int, colour: Callable[[float], tuple[int, ...]]) -> bytes:
    """An 8-bit RGBA PNG, each pixel coloured by how much of it the bubble covers."""
    step = 1 / (size * samples)
    offsets = [(i + 0.5) * step for i in range(samples)]
    rows = []
    for py in range(size):
        row = bytearray(b"\x00")  # filter type: none
        for px in range(size):
            hits = sum(_bubble(px / size + dx, py / size + dy) for dx in offsets for dy in offsets)
            row += bytes(colour(hits / samples**2))
        rows.append(bytes(row))
    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
        + _chunk(b"IEND", b"")
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
