"""`python -m bot delete-data PLATFORM WORKSPACE USER`: one person's `delete my data`, run
for them by an admin (they have left, or cannot type it).

It is the same turn as the person typing it, so everything theirs goes the same way: their
progress, question pointer and delivery ids, their follow-up and its timers, and a report
they sent, withdrawn (its record deleted, the message of the person told replaced by a line
saying so, its reminders and escalation cancelled). The person is told in their chat where
the bot can still reach them; where it cannot (they left), the withdrawal is drawn through
the chat of the person told instead, and nothing is said to anyone else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from aiohttp import web

from adapters.slack.request import SLACK_ID
from conversation.messages import Answered, Closed, Command, Reply, Say, UserKey
from conversation.runner import Outbox, Runner
from conversation.storage.keys import BadId, check_part
from conversation.telling.telling import RETRIES

from .config import ConfigError, Settings

PLATFORMS = ("slack", "teams", "terminal")
RETRIES_SECONDS = sum(RETRIES) + 5
"""How long the command waits for the withdrawal's retries to finish (each retry's wait, and
a few seconds for the platform's answers)."""


def user_key(platform: str, workspace: str, user: str) -> UserKey:
    """The person, from the ids an admin typed; ConfigError (one line, exit 2) if they cannot
    be anyone's."""
    if platform not in PLATFORMS:
        raise ConfigError(f"platform must be one of {', '.join(PLATFORMS)}, not {platform!r}")
    try:
        who = UserKey(platform, check_part(workspace), check_part(user))
    except BadId:
        raise ConfigError("the workspace and user ids cannot hold spaces, :, {, } or *") from None
    if platform == "slack" and not (SLACK_ID.fullmatch(workspace) and SLACK_ID.fullmatch(user)):
        raise ConfigError(
            "Slack ids are upper-case letters and digits: the workspace's T… (or the "
            "organisation's E…) and the member's U… or W…"
        )
    return who


@dataclass
class Deleted:
    """What the command did, for its one line of output."""

    told: bool
    """The person was told in their own chat."""
    withdrawn: bool
    """They had sent a report, now withdrawn."""
    replaced: int = 0
    """Messages of the people told, replaced by the withdrawal."""
    refused: int = 0
    """Such messages the platform would not replace, however often it was asked."""

    def line(self) -> str:
        said = "told in their chat" if self.told else "not told (the bot cannot reach them)"
        if not self.withdrawn:
            return f"Deleted; {said}; they had sent no report."
        copies = f"{self.replaced} message{'s' if self.replaced != 1 else ''} replaced"
        if self.refused:
            copies += f", {self.refused} refused by the platform"
        return f"Deleted; {said}; their report withdrawn ({copies})."


@dataclass
class _Counted:
    """The outbox the turn runs through: the person's own, or, where they cannot be reached,
    none for them (what they would be told goes nowhere) and the chat of the person they told
    for the withdrawal. Counts what the withdrawal replaced."""

    inner: Outbox | None
    theirs: bool
    updated: dict[str, bool] = field(default_factory=dict)
    """Each message the withdrawal replaced (True) or could not (False), at its last try."""

    def here(self, where: str) -> bool:
        return self.theirs and self.inner is not None and self.inner.here(where)

    def origin(self, newest: str | None) -> str | None:
        return self.inner.origin(newest) if self.theirs and self.inner else None

    async def reply(self, replies: Sequence[Reply]) -> list[str | None]:
        if self.theirs and self.inner is not None:
            return await self.inner.reply(replies)
        return [None] * len(replies)

    async def send(self, to: UserKey, reply: Reply) -> str | None:
        return await self.inner.send(to, reply) if self.inner else None

    async def update(self, where: str, shown: Reply | Answered | Closed) -> bool:
        done = await self.inner.update(where, shown) if self.inner else False
        self.updated[where] = done
        return done


async def delete_data(turns: Runner, who: UserKey) -> Deleted | None:
    """`delete my data` for `who`, through the platform's outboxes (`Runner.outboxes`, filled
    as the web app is made), the withdrawal's retries waited for; None if storage was
    unavailable (nothing deleted)."""
    reach = turns.outboxes.get(who.platform)
    theirs = await reach(who) if reach else None
    inner: Outbox | None = theirs
    if theirs is None and reach and turns.telling:
        case = await turns.telling.cases.get(who)
        inner = await reach(case.lead) if case else None
    outbox = _Counted(inner, theirs is not None)
    turn = await turns.run(who, Say(Command.DELETE.value), outbox)
    if turn is None:
        return None
    await turns.idle(RETRIES_SECONDS)
    done = list(outbox.updated.values())
    return Deleted(theirs is not None, bool(turn.deliveries), done.count(True), done.count(False))


async def run(settings: Settings, who: UserKey) -> Deleted | None:
    """The command: the conversation and the platforms' adapters as `serve` makes them (no
    listener), the turn, then everything closed."""
    from .runtime import running
    from .web import create_app

    async with running(settings) as turns:
        app = web.AppRunner(create_app(settings, turns))
        await app.setup()
        try:
            return await delete_data(turns, who)
        finally:
            await app.cleanup()
