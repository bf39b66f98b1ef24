"""Settings, read once from the environment into one frozen object and passed in."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

# Each adapter owns its settings type; this module only reads them from the environment.
from adapters.slack.settings import SlackOAuth, SlackSettings
from adapters.teams.settings import TeamsSettings
from conversation import school


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names it, never its secret value."""


@dataclass(frozen=True, slots=True)
class Settings:
    redis_url: str | None = None
    data_dir: Path = Path(".data")
    ttl_days: int = 30
    log_salt: bytes | None = None
    slack: SlackSettings | None = None
    teams: TeamsSettings | None = None
    schools: school.Schools = school.NO_SCHOOLS
    """Each school's own details, from the file SCHOOL_CONFIG names (none: generic wording)."""

    @property
    def ttl_seconds(self) -> int:
        return self.ttl_days * 86_400

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        redis_url = env.get("REDIS_URL") or None
        if redis_url and urlsplit(redis_url).scheme not in ("redis", "rediss", "unix"):
            raise ConfigError("REDIS_URL must start with redis://, rediss:// or unix://")
        salt = env.get("LOG_SALT")
        return cls(
            redis_url=redis_url,
            data_dir=Path(env.get("BOT_DATA_DIR") or ".data"),
            ttl_days=_positive_int(env, "CONVERSATION_TTL_DAYS", 30),
            log_salt=salt.encode() if salt else None,
            slack=_slack(env),
            teams=_teams(env),
            schools=_schools(env),
        )


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if value < 1:
        raise ConfigError(f"{name} must be at least 1, got {value}")
    return value


def _slack(env: Mapping[str, str]) -> SlackSettings | None:
    """Slack is on in one of two modes: one workspace (`SLACK_BOT_TOKEN`) or many, each
    installing the app itself (`SLACK_CLIENT_ID` and `SLACK_CLIENT_SECRET`); never both."""
    token, secret = env.get("SLACK_BOT_TOKEN"), env.get("SLACK_SIGNING_SECRET")
    client_id, client_secret = env.get("SLACK_CLIENT_ID"), env.get("SLACK_CLIENT_SECRET")
    if token and (client_id or client_secret):
        raise ConfigError(
            "set SLACK_BOT_TOKEN (one workspace) or SLACK_CLIENT_ID and SLACK_CLIENT_SECRET "
            "(installed from /slack/install), not both"
        )
    if not token and not secret and not client_id and not client_secret:
        return None
    oauth = None
    if client_id or client_secret:
        oauth = _slack_oauth(env, client_id, client_secret)
    elif not token:
        raise ConfigError("SLACK_BOT_TOKEN is not set, but SLACK_SIGNING_SECRET is")
    elif not token.startswith("xoxb-"):
        raise ConfigError("SLACK_BOT_TOKEN must be a bot token starting with xoxb-")
    if not secret:
        needs = "SLACK_CLIENT_ID" if oauth else "SLACK_BOT_TOKEN"
        raise ConfigError(f"SLACK_SIGNING_SECRET is not set, but {needs} is")
    api_url = env.get("SLACK_API_URL") or "https://slack.com/api/"
    parts = urlsplit(api_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError("SLACK_API_URL must be an http(s) URL")
    if parts.scheme == "http" and not _loopback(parts.hostname):
        # The bot token travels in every request's Authorization header.
        raise ConfigError("SLACK_API_URL may use plain http only on a loopback address")
    api_url = api_url if api_url.endswith("/") else api_url + "/"
    return SlackSettings(token or "", secret, api_url, oauth)


def _slack_oauth(
    env: Mapping[str, str], client_id: str | None, client_secret: str | None
) -> SlackOAuth:
    if not client_id:
        raise ConfigError("SLACK_CLIENT_ID is not set, but SLACK_CLIENT_SECRET is")
    if not client_secret:
        raise ConfigError("SLACK_CLIENT_SECRET is not set, but SLACK_CLIENT_ID is")
    redirect = env.get("SLACK_REDIRECT_URI") or None
    if (
        redirect
        and urlsplit(redirect).scheme != "https"
        and not _loopback(urlsplit(redirect).hostname or "")
    ):
        raise ConfigError("SLACK_REDIRECT_URI must be an https:// URL")
    return SlackOAuth(client_id, client_secret, _fernet_keys(env), redirect)


def _fernet_keys(env: Mapping[str, str]) -> tuple[str, ...]:
    """TOKEN_ENCRYPTION_KEY: the current Fernet key first, then any old ones still needed to
    read tokens stored before a rotation, comma-separated."""
    from cryptography.fernet import Fernet

    raw = env.get("TOKEN_ENCRYPTION_KEY", "")
    keys = tuple(k.strip() for k in raw.split(",") if k.strip())
    if not keys:
        raise ConfigError(
            "TOKEN_ENCRYPTION_KEY is not set: with SLACK_CLIENT_ID the tokens are stored "
            "encrypted (make one with: python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())')"
        )
    for n, key in enumerate(keys, 1):
        try:
            Fernet(key)
        except ValueError:
            raise ConfigError(
                f"TOKEN_ENCRYPTION_KEY: key {n} is not a Fernet key (32 url-safe base64 bytes)"
            ) from None
    return keys


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _teams(env: Mapping[str, str]) -> TeamsSettings | None:
    """Teams is on when an app id is set, or explicitly unauthenticated for local tests."""
    allow = env.get("TEAMS_ALLOW_UNAUTHENTICATED", "") == "1"
    app_id = env.get("MicrosoftAppId", "")
    if not app_id and not allow:
        return None
    app_type = env.get("MicrosoftAppType") or "MultiTenant"
    if app_type not in ("MultiTenant", "SingleTenant", "UserAssignedMSI"):
        raise ConfigError("MicrosoftAppType must be MultiTenant, SingleTenant or UserAssignedMSI")
    tenant = env.get("MicrosoftAppTenantId", "")
    if app_type == "SingleTenant" and not tenant:
        raise ConfigError("MicrosoftAppTenantId is required when MicrosoftAppType is SingleTenant")
    return TeamsSettings(
        app_id=app_id,
        app_password=env.get("MicrosoftAppPassword", ""),
        app_type=app_type,
        tenant_id=tenant,
        allow_unauthenticated=allow and not app_id,
    )


def _schools(env: Mapping[str, str]) -> school.Schools:
    """Read once at start-up: a mistake stops it, with one line naming file and key."""
    try:
        return school.from_env(env)
    except school.SchoolError as exc:
        raise ConfigError(str(exc)) from None
