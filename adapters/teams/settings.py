"""What the Teams adapter needs to run: its own type, so that nothing here imports `bot`.

`bot.config` builds one from the environment (and checks it there); tests build one directly.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TeamsSettings:
    app_id: str
    app_password: str
    app_type: str
    tenant_id: str
    allow_unauthenticated: bool
