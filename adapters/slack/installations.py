"""Slack installations in Redis, sealed: slack_sdk's `AsyncInstallationStore` for this bot.

slack_sdk ships installation stores for files, SQLite, SQLAlchemy and S3, none for Redis.
This one keeps the latest installation of each workspace (or of each Grid organisation,
for an org-wide install) as one key holding the installation's JSON sealed by `Cipher`,
so that no token (nor a workspace's name) is readable in Redis; and a set of the
installed ids, which are not secret, to list them without KEYS.

Each key is a single key on its own (no multi-key command), so Redis Cluster serves it.
The bot asks for bot scopes only, so an installation is its workspace's bot: `find_bot`
and `find_installation` read the same record.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.installation_store.models.bot import Bot
from slack_sdk.oauth.installation_store.models.installation import Installation

from conversation.storage import Keys
from conversation.storage.keys import PREFIX

from .cipher import Cipher, InvalidToken

log = logging.getLogger("adapters.slack")

NONE = "-"
"""Stands for a missing id in a key: no enterprise (not Grid), or no team (org-wide)."""


@dataclass(frozen=True, slots=True)
class Installed:
    """Where the app is installed: a workspace, or a whole Grid organisation (`team` None)."""

    enterprise: str | None
    team: str | None

    @property
    def id(self) -> str:
        return f"{self.enterprise or NONE}:{self.team or NONE}"

    @classmethod
    def parse(cls, raw: str) -> Installed:
        enterprise, _, team = raw.partition(":")
        return cls(None if enterprise == NONE else enterprise, None if team == NONE else team)


class Installations(AsyncInstallationStore):
    def __init__(self, redis: Redis, cipher: Cipher, prefix: str = PREFIX) -> None:
        self.redis = redis
        self.cipher = cipher
        self.prefix = prefix
        self._log = log
        self._replace = redis.register_script(_REPLACE)

    @property
    def logger(self) -> logging.Logger:
        return self._log

    def key(self, where: Installed) -> str:
        return Keys(self.prefix).slack_installation(where.id)

    # --- slack_sdk's interface -------------------------------------------------------------

    async def async_save(self, installation: Installation) -> None:
        where = _where(installation.enterprise_id, installation.team_id)
        if installation.is_enterprise_install:
            where = Installed(installation.enterprise_id, None)
        sealed = self.cipher.seal(json.dumps(installation.__dict__).encode())
        await self.redis.set(self.key(where), sealed)
        await self.redis.sadd(index_key(self.prefix), where.id)

    async def async_save_bot(self, bot: Bot) -> None:
        """Token rotation saves the refreshed bot: it is the installation with new tokens."""
        where = Installed(bot.enterprise_id, None if bot.is_enterprise_install else bot.team_id)
        current = await self._read(where)
        if current is None:
            return
        for name in ("bot_token", "bot_refresh_token", "bot_token_expires_at", "bot_scopes"):
            setattr(current, name, getattr(bot, name))
        await self.async_save(current)

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        installation = await self.find(enterprise_id, team_id, is_enterprise_install)
        if installation is not None and user_id is not None and installation.user_id != user_id:
            return None  # only the installer has an installation of their own
        return installation

    async def async_find_bot(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        is_enterprise_install: bool | None = False,
    ) -> Bot | None:
        installation = await self.find(enterprise_id, team_id, is_enterprise_install)
        return installation.to_bot() if installation and installation.bot_token else None

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self.delete(enterprise_id, team_id)

    async def async_delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        if user_id is None:
            await self.delete(enterprise_id, team_id)
        # A user's own tokens: this bot asks for none, so there is nothing else to delete.

    async def async_delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self.delete(enterprise_id, team_id)

    # --- this bot's own --------------------------------------------------------------------

    async def find(
        self, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None
    ) -> Installation | None:
        """The installation serving this workspace: its own, or else its organisation's
        org-wide one (which serves every workspace of the organisation)."""
        if not is_enterprise_install:
            found = await self._read(_where(enterprise_id, team_id))
            if found is not None or not enterprise_id:
                return found
        return await self._read(Installed(enterprise_id, None)) if enterprise_id else None

    async def delete(self, enterprise_id: str | None, team_id: str | None) -> None:
        """Both the workspace's own installation and, with no team, the org-wide one."""
        where = _where(enterprise_id, team_id)
        await self.redis.delete(self.key(where))
        await self.redis.srem(index_key(self.prefix), where.id)

    async def installed(self) -> list[Installed]:
        """Every workspace and organisation the app is installed in."""
        return await listed(self.redis, self.prefix)

    async def reseal(self) -> tuple[int, int]:
        """Seal every installation read with an old key again with the current one, so that
        the old key can then be dropped: how many were resealed, and how many could not be
        opened at all. Only once every worker knows the current key (`rotate-key`)."""
        resealed = unreadable = 0
        for where in await self.installed():
            sealed = await self.redis.get(self.key(where))
            if sealed is None or self.cipher.is_current(sealed):
                continue
            try:
                again = self.cipher.reseal(sealed)
            except InvalidToken:
                unreadable += 1
                continue
            # Unless a worker saved it meanwhile (a new install): that one stays.
            resealed += await self._replace(keys=[self.key(where)], args=[sealed, again])
        return resealed, unreadable

    async def unreadable(self) -> int:
        """How many stored installations no key in TOKEN_ENCRYPTION_KEY opens."""
        count = 0
        for where in await self.installed():
            sealed = await self.redis.get(self.key(where))
            count += sealed is not None and not self.cipher.opens(sealed)
        return count

    async def _read(self, where: Installed) -> Installation | None:
        sealed = await self.redis.get(self.key(where))
        if sealed is None:
            return None
        try:
            data: dict[str, Any] = json.loads(self.cipher.open(sealed))
        except InvalidToken:
            # A key removed from TOKEN_ENCRYPTION_KEY too soon; the ids stay out of the log.
            log.error("slack installation unreadable with TOKEN_ENCRYPTION_KEY")
            return None
        return Installation(**data)


_REPLACE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
return 0
"""
"""KEYS: an installation. ARGV: the value read, its replacement. Replaced if unchanged."""


def index_key(prefix: str) -> str:
    """The set of installed ids (not secret), to list them without KEYS."""
    return Keys(prefix).slack_installations()


async def listed(redis: Redis, prefix: str = PREFIX) -> list[Installed]:
    """Every workspace and Grid organisation (org-wide, `team` None) the app is installed in,
    read without any key: the ids are not sealed. For `check-config`, to set beside the
    school file's `[schools.<team id>]`."""
    members = await redis.smembers(index_key(prefix))
    return sorted((Installed.parse(_text(m)) for m in members), key=lambda w: w.id)


def _where(enterprise_id: str | None, team_id: str | None) -> Installed:
    return Installed(enterprise_id or None, team_id or None)


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw
