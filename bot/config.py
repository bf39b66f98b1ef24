"""Settings, read once from the environment into one frozen object and passed in."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

# Each adapter owns its settings type; this module only reads them from the environment.
from adapters.addresses import is_loopback
from adapters.slack.settings import SlackOAuth, SlackSettings
from adapters.teams.settings import (
    OAUTH_SCOPE,
    OPENID_METADATA_URL,
    SERVICE_URL_HOSTS,
    TeamsSettings,
)
from conversation import school

from .redis_url import parse as redis_target


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names it, never its secret value."""


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """What one client may hold of the server (see `bot.connections`)."""

    idle_timeout: float = 15
    """Seconds a connection may stay open without sending a whole request's headers, counted
    from when it opened or was last answered: idle keep-alives and slow headers alike."""
    body_timeout: float = 10
    """Seconds a request's body may take to arrive once its headers have."""
    max_connections: int = 500
    """Open connections at most (lowered to fit the file-descriptor limit); more get 503."""


@dataclass(frozen=True, slots=True)
class Settings:
    # Out of the repr: the URL may carry a password, and the salt would let a reader of
    # the logs test guessed user ids against their hashes.
    redis_url: str | None = field(default=None, repr=False)
    data_dir: Path = Path(".data")
    ttl_days: int = 30
    case_ttl_days: int = 90
    """Days of inactivity before a report told to the person who leads is deleted."""
    log_salt: bytes | None = field(default=None, repr=False)
    slack: SlackSettings | None = None
    teams: TeamsSettings | None = None
    schools: school.Schools = school.NO_SCHOOLS
    """Each school's own details, from the file SCHOOL_CONFIG names (none: generic wording)."""
    http: HttpLimits = HttpLimits()
    encryption_keys: tuple[str, ...] = field(default=(), repr=False)
    """TOKEN_ENCRYPTION_KEY's Fernet keys, when set: they seal Slack's tokens and the reference
    numbers in a record (without it, `bot.keyfile` keeps a key in `data_dir`)."""

    @property
    def ttl_seconds(self) -> int:
        return self.ttl_days * 86_400

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        redis_url = env.get("REDIS_URL") or None
        if redis_url:
            try:
                redis_target(redis_url)
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
        salt = env.get("LOG_SALT")
        return cls(
            redis_url=redis_url,
            data_dir=Path(env.get("BOT_DATA_DIR") or ".data"),
            ttl_days=_positive_int(env, "CONVERSATION_TTL_DAYS", 30),
            case_ttl_days=_positive_int(env, "CASE_TTL_DAYS", 90),
            log_salt=salt.encode() if salt else None,
            slack=_slack(env),
            teams=_teams(env),
            schools=_schools(env),
            encryption_keys=_fernet_keys(env) if env.get("TOKEN_ENCRYPTION_KEY") else (),
            http=HttpLimits(
                idle_timeout=_positive_int(env, "HTTP_IDLE_TIMEOUT", 15),
                body_timeout=_positive_int(env, "HTTP_BODY_TIMEOUT", 10),
                max_connections=_positive_int(env, "HTTP_MAX_CONNECTIONS", 500),
            ),
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
    if parts.scheme == "http" and not is_loopback(parts.hostname):
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
        and not is_loopback(urlsplit(redirect).hostname or "")
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


def check_bind(settings: Settings, host: str) -> None:
    """Unauthenticated Teams answers anyone who can reach it, and sends replies wherever they
    say: it is for this machine only."""
    if settings.teams and settings.teams.allow_unauthenticated and not is_loopback(host):
        raise ConfigError(
            f"TEAMS_ALLOW_UNAUTHENTICATED=1 serves only a loopback address, not --host {host}"
            " (use --host 127.0.0.1)"
        )


def _list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in env.get(name, "").split(",") if x.strip())


def _endpoint(env: Mapping[str, str], name: str, default: str) -> str:
    """One of Microsoft's endpoints (the SDK's own setting names): https, or plain http on
    loopback for a stand-in."""
    url = env.get(name) or default
    parts = urlsplit(url)
    if not parts.hostname or not (
        parts.scheme == "https" or (parts.scheme == "http" and is_loopback(parts.hostname))
    ):
        raise ConfigError(f"{name} must be an https:// URL (http:// only on loopback)")
    return url


def _teams(env: Mapping[str, str]) -> TeamsSettings | None:
    """Teams is on when an app id is set, or explicitly unauthenticated for local tests.

    Beyond the app's identity, tests and private clouds set Microsoft's endpoints through
    the SDK's own names: TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL (the signing keys),
    TO_CHANNEL_FROM_BOT_LOGIN_URL (the Entra authority of the bot's token),
    TO_CHANNEL_FROM_BOT_OAUTH_SCOPE (its audience), VALIDATE_AUTHORITY (false only for a
    stand-in); and TEAMS_SERVICE_URL_HOSTS lists the hosts replies may go to."""
    allow = env.get("TEAMS_ALLOW_UNAUTHENTICATED", "") == "1"
    app_id = env.get("MicrosoftAppId", "")
    if not app_id and not allow:
        return None
    if app_id and not _GUID.fullmatch(app_id):
        # A name or a secret pasted here would fail only at the first message, as 401s.
        raise ConfigError("MicrosoftAppId must be the Azure Bot's Microsoft App ID, a GUID")
    app_type = env.get("MicrosoftAppType") or "MultiTenant"
    if app_type not in ("MultiTenant", "SingleTenant", "UserAssignedMSI"):
        raise ConfigError("MicrosoftAppType must be MultiTenant, SingleTenant or UserAssignedMSI")
    tenant = env.get("MicrosoftAppTenantId", "")
    if app_type == "SingleTenant" and not tenant:
        raise ConfigError("MicrosoftAppTenantId is required when MicrosoftAppType is SingleTenant")
    if app_type == "UserAssignedMSI" and not tenant:
        raise ConfigError(
            "MicrosoftAppTenantId is required when MicrosoftAppType is UserAssignedMSI"
        )
    if app_type != "UserAssignedMSI" and app_id and not env.get("MicrosoftAppPassword"):
        raise ConfigError(f"MicrosoftAppPassword is required when MicrosoftAppType is {app_type}")
    validate = env.get("VALIDATE_AUTHORITY", "true").strip().lower()
    if validate not in ("true", "false"):
        raise ConfigError("VALIDATE_AUTHORITY must be true or false")
    login_url = env.get("TO_CHANNEL_FROM_BOT_LOGIN_URL", "")
    return TeamsSettings(
        app_id=app_id,
        app_password=env.get("MicrosoftAppPassword", ""),
        app_type=app_type,
        tenant_id=tenant,
        allow_unauthenticated=allow and not app_id,
        allowed_tenants=frozenset(_list(env, "TEAMS_ALLOWED_TENANTS")),
        service_url_hosts=tuple(h.lower() for h in _list(env, "TEAMS_SERVICE_URL_HOSTS"))
        or SERVICE_URL_HOSTS,
        openid_metadata_url=_endpoint(
            env, "TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL", OPENID_METADATA_URL
        ),
        login_url=login_url and _endpoint(env, "TO_CHANNEL_FROM_BOT_LOGIN_URL", ""),
        oauth_scope=env.get("TO_CHANNEL_FROM_BOT_OAUTH_SCOPE") or OAUTH_SCOPE,
        validate_authority=validate == "true",
    )


_GUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")


def _schools(env: Mapping[str, str]) -> school.Schools:
    """Read once at start-up: a mistake stops it, with one line naming file and key."""
    try:
        return school.from_env(env)
    except school.SchoolError as exc:
        raise ConfigError(str(exc)) from None
