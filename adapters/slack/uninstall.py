"""When a workspace removes the app (`app_uninstalled`, or `tokens_revoked` for its bot
token): its installation goes, and so does every conversation kept for its users.

A user's keys are named after their platform, workspace and user (`{slack:T123:U456}`), so
a workspace's keys are found with SCAN on a pattern of its own, never KEYS, and each
user's keys, which share one hash tag and so one Cluster slot, are deleted in one command.
Grid users are kept under their organisation (see `request.ids`): theirs go when the
organisation's last installation does.
"""

from __future__ import annotations

import logging
from collections import defaultdict

from conversation.storage import Store, Timers

from .installations import Installations

log = logging.getLogger("adapters.slack")


class Uninstall:
    def __init__(self, store: Store, installations: Installations | None) -> None:
        self.store = store
        self.installations = installations
        """None with one workspace's `SLACK_BOT_TOKEN`: nothing is stored to remove."""

    async def __call__(self, enterprise_id: str | None, team_id: str, org_wide: bool) -> int:
        """Remove the installation, then the conversations nothing serves any more.
        Returns how many keys of conversations were deleted."""
        team: str | None = None if org_wide and enterprise_id else team_id
        if self.installations is not None:
            await self.installations.delete(enterprise_id, team)
        if not enterprise_id:
            deleted = await self.delete_conversations(team_id)
        elif await self._organisation_still_installed(enterprise_id):
            deleted = 0
        else:
            deleted = await self.delete_conversations(enterprise_id)
        log.info("slack uninstalled", extra={"deleted_keys": deleted})
        return deleted

    async def delete_conversations(self, workspace: str) -> int:
        """Every key of every user of `workspace`: progress, question pointer, deliveries,
        and anything else kept under the user's hash tag; and every timer of theirs."""
        pattern = self.store.keys.users_of("slack", workspace)
        by_user: dict[bytes, list[bytes]] = defaultdict(list)
        async for key in self.store.redis.scan_iter(match=pattern, count=1000):
            raw = key if isinstance(key, bytes) else key.encode()
            by_user[raw.partition(b"}")[0]].append(raw)
        for keys in by_user.values():
            await self.store.redis.delete(*keys)
        # Their timers live in the platform's one sorted set, not under their hash tags.
        await Timers(self.store.db).forget_workspace("slack", workspace)
        return sum(len(keys) for keys in by_user.values())

    async def _organisation_still_installed(self, enterprise_id: str) -> bool:
        if self.installations is None:
            return False
        return any(w.enterprise == enterprise_id for w in await self.installations.installed())
