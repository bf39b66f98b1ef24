"""Slack: Events API, `/report-harassment` and button clicks in; Block Kit in the user's DM out.

One module per job, so that each change has one place to go:

| module | its job |
| --- | --- |
| `settings` | `SlackSettings`, what the adapter needs (built by `bot.config`) |
| `request` | reading and checking a request: signature, then the body's shape |
| `blocks` | rendering: neutral replies as Block Kit, and the action ids they carry |
| `turns` | a turn: the engine called, replies posted to the DM through the Web API |
| `install` | many workspaces: Bolt's OAuth flow, its two pages and its `authorize` |
| `installations`, `states` | slack_sdk's installation and OAuth-state stores, on Redis |
| `cipher` | the Fernet keys sealing the stored tokens |
| `uninstall` | a workspace removing the app: its installation and its users' keys deleted |
| `app` | wiring: `attach` adds the routes and the Bolt app with its listeners |

Imports run one way: `app` -> `install`, `uninstall`, `turns` -> `request` -> `blocks`, and
all of them down to `conversation`; nothing here imports `bot`.

The names below are imported when first used, so that `bot.config` can build the
settings without loading the platform's SDK (the terminal chat never needs it).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import BOT, SlackBot, attach
    from .blocks import ANSWER, PICK, SUBMIT, render
    from .settings import SlackSettings
    from .turns import MOVED_PRIVATE

_HOMES = {
    "ANSWER": "blocks",
    "BOT": "app",
    "MOVED_PRIVATE": "turns",
    "PICK": "blocks",
    "SUBMIT": "blocks",
    "SlackBot": "app",
    "SlackSettings": "settings",
    "attach": "app",
    "render": "blocks",
}
__all__ = [
    "ANSWER",
    "BOT",
    "MOVED_PRIVATE",
    "PICK",
    "SUBMIT",
    "SlackBot",
    "SlackSettings",
    "attach",
    "render",
]


def __getattr__(name: str) -> Any:
    """The re-exported name, from its own module (PEP 562)."""
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
