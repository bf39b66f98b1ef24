"""Settings never show their secrets when printed, logged or shown in a traceback."""

from __future__ import annotations

import dataclasses
import importlib
import re
from pathlib import Path

from bot.config import Settings

ROOT = Path(__file__).resolve().parents[1]
SECRET_NAME = re.compile(r"token|secret|password|salt|credential|private|redis_url")
"""Field names that hold a secret (a Redis URL may carry a password)."""

ENV = {
    "REDIS_URL": "redis://:hunter2redis@127.0.0.1:6379/0?password=hunter2query",
    "LOG_SALT": "hunter2salt",
    "SLACK_BOT_TOKEN": "xoxb-hunter2token",
    "SLACK_SIGNING_SECRET": "hunter2signing",
    "MicrosoftAppId": "00000000-0000-0000-0000-000000000001",
    "MicrosoftAppPassword": "hunter2password",
}


def settings_types() -> list[type]:
    """Every settings dataclass: `bot.config`'s, and each adapter's settings modules."""
    modules = ["bot.config"] + [
        ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for path in sorted(ROOT.glob("adapters/*/settings*.py"))
    ]
    found = {
        obj
        for name in modules
        for obj in vars(importlib.import_module(name)).values()
        if isinstance(obj, type)
        and dataclasses.is_dataclass(obj)
        and obj.__name__.endswith("Settings")
    }
    return sorted(found, key=lambda t: t.__qualname__)


def test_the_settings_read_from_the_environment_print_no_secret() -> None:
    settings = Settings.from_env(ENV)
    assert settings.slack and settings.teams  # both platforms on, so both reprs are included
    shown = f"{settings!r} {settings!s} {settings.slack!r} {settings.teams!r}"
    assert "hunter2" not in shown, shown  # in every secret above, and nothing else
    assert "SlackSettings(" in shown and "api_url=" in shown  # the rest is still there


def test_every_secret_field_of_every_settings_type_is_kept_out_of_its_repr() -> None:
    """New settings fields holding a secret must say `field(repr=False)` too."""
    types = settings_types()
    assert {t.__name__ for t in types} >= {"Settings", "SlackSettings", "TeamsSettings"}
    shown = {
        f"{t.__name__}.{f.name}"
        for t in types
        for f in dataclasses.fields(t)
        if SECRET_NAME.search(f.name) and f.repr
    }
    assert not shown
