"""What the Teams adapter needs to run: its own type, so that nothing here imports `bot`.

`bot.config` builds one from the environment (and checks it there); tests build one directly.
The Microsoft endpoints default to the public cloud's; tests point them at stand-ins on
loopback through the same settings (see `connector` for what each one is).
"""

from __future__ import annotations

from dataclasses import dataclass, field

BOT_FRAMEWORK_ISSUER = "https://api.botframework.com"
"""The only issuer of the tokens Teams activities arrive with (the SDK's
TO_BOT_FROM_CHANNEL_TOKEN_ISSUER); emulator and skill issuers are not accepted."""

OPENID_METADATA_URL = "https://login.botframework.com/v1/.well-known/openidconfiguration"
"""Where the Bot Framework publishes its signing keys (TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL)."""

OAUTH_SCOPE = "https://api.botframework.com"
"""The audience of the bot's own token for the Connector (TO_CHANNEL_FROM_BOT_OAUTH_SCOPE)."""

LOGIN_URL_PREFIX = "https://login.microsoftonline.com/"
"""Entra's authority; the bot's token comes from `<prefix><tenant>` (TO_CHANNEL_FROM_BOT_LOGIN_URL
replaces the whole authority)."""

SERVICE_URL_HOSTS = ("smba.trafficmanager.net",)
"""Where Microsoft Teams (commercial cloud) says replies go: the only hosts the bot sends to."""


@dataclass(frozen=True, slots=True)
class TeamsSettings:
    app_id: str
    app_password: str = field(repr=False)  # secrets stay out of the repr
    app_type: str
    tenant_id: str
    allow_unauthenticated: bool
    allowed_tenants: frozenset[str] = frozenset()
    """Empty: every tenant is served."""
    service_url_hosts: tuple[str, ...] = SERVICE_URL_HOSTS
    openid_metadata_url: str = OPENID_METADATA_URL
    login_url: str = ""
    """Empty: `LOGIN_URL_PREFIX` and the app's tenant (SingleTenant) or botframework.com."""
    oauth_scope: str = OAUTH_SCOPE
    validate_authority: bool = True

    @property
    def authority(self) -> str:
        """The Entra authority the bot's token is asked of, as the SDK builds it."""
        if self.login_url:
            return self.login_url
        tenant = self.tenant_id if self.app_type == "SingleTenant" else "botframework.com"
        return LOGIN_URL_PREFIX + tenant
