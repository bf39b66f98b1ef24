"""The neutral language between the engine and the adapters.

Inputs say what the user did; replies say what to show. Neither knows about Slack,
Teams or the terminal: each adapter translates these to and from its own platform.
Text may contain **bold**; links travel as `Resource`s for each platform to render.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .flow import Resource


@dataclass(frozen=True, slots=True)
class UserKey:
    """Who is talking: progress is stored per platform, workspace (or tenant) and user."""

    platform: str
    workspace: str
    user: str


# --- inputs -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Start:
    """Open the conversation: a new DM, a slash command, the Teams welcome button."""


@dataclass(frozen=True, slots=True)
class Choose:
    """A click on a button or a multi-select submit, for the question `token` showed."""

    options: tuple[str, ...]
    token: str


@dataclass(frozen=True, slots=True)
class Say:
    """Typed text: a command, an option's number or words, or anything else."""

    text: str


class Command(StrEnum):
    BACK = "back"
    RESTART = "restart"
    HELP = "help"
    STOP = "stop"
    DELETE = "delete my data"


@dataclass(frozen=True, slots=True)
class Do:
    """A command, typed or from a button."""

    command: Command


Input = Start | Choose | Say | Do


# --- replies ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Choice:
    id: str
    label: str


@dataclass(frozen=True, slots=True)
class Question:
    """The current step, with the token an answer must carry to count."""

    step: str
    token: str
    title: str
    text: str
    options: tuple[Choice, ...]
    multi: bool = False
    links: tuple[Resource, ...] = ()
    version: int = 0
    """The conversation's version when asked: later questions have higher ones."""


@dataclass(frozen=True, slots=True)
class Notice:
    """A short message about the conversation itself (not an answer to anything)."""

    text: str


@dataclass(frozen=True, slots=True)
class Answered:
    """What the user chose, for the adapter to show in place of the question they answered."""

    title: str
    chosen: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Item:
    """One checklist entry of the final guidance."""

    title: str
    lines: tuple[str, ...]
    links: tuple[Resource, ...] = ()


@dataclass(frozen=True, slots=True)
class Guidance:
    """The final guidance: always sent privately (Slack DM, Teams 1:1)."""

    title: str
    intro: str
    items: tuple[Item, ...]
    footer: str


Reply = Question | Notice | Guidance


class Outcome(StrEnum):
    """What a turn did, for logs and adapters; never carries the user's words."""

    STARTED = "started"
    RESUMED = "resumed"
    ANSWERED = "answered"
    FINISHED = "finished"
    STALE = "stale"
    UNCLEAR = "unclear"
    BACK = "back"
    RESTARTED = "restarted"
    HELP = "help"
    STOPPED = "stopped"
    DELETED = "deleted"
    RESENT = "resent"
    DUPLICATE = "duplicate"
    """A platform re-delivered an input already applied: nothing to do or say."""


@dataclass(frozen=True, slots=True)
class Turn:
    """Everything one input produced."""

    outcome: Outcome
    replies: tuple[Reply, ...]
    answered: Answered | None = None
    step: str | None = None
