"""Microsoft Teams: Bot Framework activities in, neutral inputs to the engine, Adaptive Cards out.

The only package that imports the Bot Framework SDK. botbuilder-python is archived
upstream, so a later move to the Microsoft 365 Agents SDK should touch this package and
nothing else. One module per job:

| module | its job |
| --- | --- |
| `settings` | `TeamsSettings`, what the adapter needs (built by `bot.config`) |
| `request` | reading and checking an activity, and reading it as the engine's terms |
| `cards` | rendering: neutral replies as activities and Adaptive Cards |
| `turns` | a turn: the engine called, replies sent to the 1:1 chat (`TeamsBot`) |
| `signatures` | the Bot Framework's JWT, checked with keys fetched in the background |
| `tokens` | the bot's own bearer token from Entra (MSAL), renewed before expiry |
| `connector` | authenticating requests; the Connector clients (aiohttp) replies go out by |
| `app` | wiring: `attach` adds `POST /api/messages` |

Imports run one way: `app` -> `turns` -> `request` -> `cards`, and all of them down to
`conversation`; nothing here imports `bot`.

The names below are imported when first used, so that `bot.config` can build the
settings without loading the platform's SDK (the terminal chat never needs it).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import attach
    from .cards import MULTI_INPUT
    from .connector import Authentication
    from .request import COMMAND
    from .settings import TeamsSettings
    from .turns import CANNOT_MOVE, MOVED_PRIVATE, TeamsBot

_HOMES = {
    "Authentication": "connector",
    "CANNOT_MOVE": "turns",
    "COMMAND": "request",
    "MOVED_PRIVATE": "turns",
    "MULTI_INPUT": "cards",
    "TeamsBot": "turns",
    "TeamsSettings": "settings",
    "attach": "app",
}
__all__ = [
    "CANNOT_MOVE",
    "COMMAND",
    "MOVED_PRIVATE",
    "MULTI_INPUT",
    "Authentication",
    "TeamsBot",
    "TeamsSettings",
    "attach",
]


def __getattr__(name: str) -> Any:
    """The re-exported name, from its own module (PEP 562)."""
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
