"""Every Redis key the bot writes, named here and nowhere else.

A user's keys share one hash tag, `{platform:workspace:user}`, so that they sit in one Cluster
slot: one script can check a retry, commit a turn, or delete everything the user has. The
parts of a tag are platform ids, checked by each adapter; a part that could end the tag or
run into the next one (`{`, `}`, `:`) is refused here too, so that one user's keys can never
be named into another's slot or matched by another workspace's pattern.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..messages import UserKey

PREFIX = "hb"
"""What every key of this bot starts with (tests give each test a prefix of its own)."""

_FORBIDDEN = re.compile(r"[{}:\s*?\[\]\\]")
_GLOB = re.compile(r"([*?\[\]\\])")


class BadId(ValueError):
    """A platform id that cannot be part of a key name."""


def check_part(part: str) -> str:
    """A user key's part, if it can be named in a key; BadId if not."""
    if not part or _FORBIDDEN.search(part) or not part.isprintable():
        raise BadId("an id with characters that cannot be part of a key")
    return part


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str = PREFIX

    # --- one user's keys: one hash tag, one slot ---------------------------------------

    def user(self, user: UserKey) -> str:
        """The user's progress; every other key of theirs starts with it."""
        parts = (user.platform, check_part(user.workspace), check_part(user.user))
        return f"{self.prefix}:{{{':'.join(parts)}}}"

    def message(self, user: UserKey) -> str:
        """Where their newest question message is (an adapter's reference) and its version."""
        return self.user(user) + ":msg"

    def seen(self, user: UserKey) -> str:
        """The platform deliveries they sent lately (a sorted set: id -> time applied)."""
        return self.user(user) + ":seen"

    def case(self, reporter: UserKey) -> str:
        """The report they told the person who leads (a hash of ids and times)."""
        return self.user(reporter) + ":case"

    def pending(self, reporter: UserKey) -> str:
        """The preview waiting for a typed "yes"."""
        return self.user(reporter) + ":tell"

    def sends(self, reporter: UserKey) -> str:
        """When they sent reports lately (a sorted set of times), for the daily limit."""
        return self.user(reporter) + ":sends"

    def clicks(self, person: UserKey) -> str:
        """Their latest clicks on report buttons that send without changing the report
        (click -> time), so that a doubled click sends once."""
        return self.user(person) + ":clicks"

    def leads(self, lead: UserKey) -> str:
        """The reports a person was told of (reporter -> case id), for `status`."""
        return self.user(lead) + ":leads"

    def follow(self, user: UserKey) -> str:
        """The follow-up asking whether harmful content came down (a hash of its stage, the
        token of the question open, and the options chosen with their times)."""
        return self.user(user) + ":follow"

    def copies(self, person: UserKey) -> str:
        """Messages in a person's chat that show a report (message reference -> report
        reference): the walk-through and the record, removed when the report is withdrawn."""
        return self.user(person) + ":copies"

    def referring(self, person: UserKey) -> str:
        """The report a person chose with "Add a reference", for the reference they type next
        (its report reference, for minutes)."""
        return self.user(person) + ":refto"

    def users_of(self, platform: str, workspace: str) -> str:
        """A SCAN pattern matching every key of every user of one workspace, and no other
        workspace's (the `:` after the workspace id ends it)."""
        return f"{_glob(self.prefix)}:{{{platform}:{_glob(workspace)}:*"

    # --- the deployment's keys -------------------------------------------------------

    def statistics(self, school: str, term: str) -> str:
        """One school's counts for one term (a hash), for the governors' summary: counts and
        times only, never a case, a person or an answer. Its times to acknowledge sit beside
        it under the same hash tag (`+ ":acks"`, a list of seconds)."""
        return f"{self.prefix}:{{stats:{check_part(school)}:{check_part(term)}}}"

    def timers(self, platform: str) -> str:
        """Every timer of one platform's users: a sorted set of timer -> when it is due.
        One key (so one Cluster slot) per platform: a few thousand members at most, which
        one master serves easily; its tag is the platform, never a user's."""
        return f"{self.prefix}:timers:{{{check_part(platform)}}}"

    def timer_tries(self, platform: str) -> str:
        """How many times each timer has failed to deliver (a hash beside `timers`, in its
        slot), so that retries stop after a few."""
        return self.timers(platform) + ":tries"

    def teams_tenant(self, tenant: str) -> str:
        """Where a Teams tenant's messages go (its service URL and the bot's id there), kept
        from its activities so that a timer can message someone outside any request."""
        return f"{self.prefix}:teams-tenant:{check_part(tenant)}"

    def slack_installation(self, installed_id: str) -> str:
        return f"{self.prefix}:slack-install:{installed_id}"

    def slack_installations(self) -> str:
        """The set of installed workspace ids (not secret), to list them without KEYS."""
        return f"{self.prefix}:slack-installs"

    def every_case(self) -> str:
        """A SCAN pattern matching every user's report (`case`), for resealing."""
        return f"{_glob(self.prefix)}:{{*}}:case"

    def slack_state(self, state: str) -> str:
        return f"{self.prefix}:slack-oauth-state:{state}"


def _glob(text: str) -> str:
    return _GLOB.sub(r"\\\1", text)
