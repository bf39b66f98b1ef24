"""What the Slack adapter needs to run: its own type, so that nothing here imports `bot`.

`bot.config` builds one from the environment (and checks it there); tests build one directly.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SlackSettings:
    bot_token: str
    signing_secret: str
    api_url: str
