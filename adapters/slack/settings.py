"""What the Slack adapter needs to run: its own type, so that nothing here imports `bot`.

`bot.config` builds one from the environment (and checks it there); tests build one directly.
Secrets are kept out of the reprs, so that a settings object printed or logged shows none.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SCOPES = ("chat:write", "commands", "files:write", "im:history", "im:write")
"""The bot scopes an install asks for: the ones this bot uses, and no more."""


@dataclass(frozen=True, slots=True)
class SlackOAuth:
    """Many workspaces: each installs the app from `/slack/install` and gets its own token."""

    client_id: str
    client_secret: str = field(repr=False)
    encryption_keys: tuple[str, ...] = field(repr=False)
    """Fernet keys for the stored tokens: the first encrypts, every one decrypts (rotation)."""
    redirect_uri: str | None = None
    """Sent to Slack only when set: needed when the app has more than one redirect URL."""


@dataclass(frozen=True, slots=True)
class SlackSettings:
    bot_token: str = field(repr=False)
    """One workspace's `xoxb-` token; empty when `oauth` is set."""
    signing_secret: str = field(repr=False)
    api_url: str = "https://slack.com/api/"
    oauth: SlackOAuth | None = None

    @property
    def authorize_url(self) -> str:
        """Slack's consent page sits beside its Web API (`/oauth/v2/authorize` next to `/api/`),
        so a stand-in for one is a stand-in for both."""
        return self.api_url.removesuffix("/").removesuffix("/api") + "/oauth/v2/authorize"
