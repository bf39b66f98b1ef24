"""The neutral language between the engine and the adapters.

Inputs say what the user did; replies say what to show. Neither knows about Slack,
Teams or the terminal: each adapter translates these to and from its own platform.
Text may contain **bold**; links travel as `Resource`s for each platform to render.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
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
    """Open the conversation: a new DM, a slash command, the Teams welcome button.
    `fresh` says nothing of the conversation is on screen (a new terminal): resuming at
    the end then shows the checklist again."""

    fresh: bool = False


@dataclass(frozen=True, slots=True)
class Choose:
    """A click on a button or a multi-select submit, for the question `token` showed."""

    options: tuple[str, ...]
    token: str
    as_text: bool = False
    """The checklist asked for as plain text to copy (Teams' "Copy as text")."""


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
    STATUS = "status"
    REFERENCE = "reference"
    """A reference number typed for the record (`reference police 12/3456/26`): read again
    from the typed text by telling, never stored as typed or logged."""


@dataclass(frozen=True, slots=True)
class Do:
    """A command, typed or from a button."""

    command: Command


@dataclass(frozen=True, slots=True)
class Tell:
    """The member of staff choosing whom to tell (`person`, a `Choice` id of an `Offer`),
    or, with `confirmed`, the Send on its preview; `person` "" is Not now."""

    person: str
    token: str
    confirmed: bool = False
    escalate: bool = False
    """With `confirmed`: they agreed it may go to the school's next person if not
    acknowledged in time (the preview's second Send)."""


@dataclass(frozen=True, slots=True)
class Act:
    """The person told, pressing a button on the report they received: `action` is one of
    `Act.ACTIONS`, `case` the report's reference, `item` a checklist item's id."""

    action: str
    case: str
    item: str = ""

    ACKNOWLEDGE = "ack"
    DONE = "done"
    WALK = "walk"
    RECORD = "record"
    REFERENCE = "reference"
    """Choose this report for the reference typed next."""
    FILE = "file"
    """The record as a file, in the format `item` names (`txt` or `csv`): a platform that
    asks the person before a file is sent (Teams' consent card) sends this once they agree."""
    ACTIONS = frozenset({ACKNOWLEDGE, DONE, WALK, RECORD, REFERENCE, FILE})


@dataclass(frozen=True, slots=True)
class Overview:
    """The person asks to see the reports they hold (Slack's Home tab, Teams' `reports`)."""


@dataclass(frozen=True, slots=True)
class Follow:
    """An answer to a follow-up the bot started: `topic` is what it is about ("content":
    whether harmful content came down; "escalation": the warning before a report goes to
    the school's next person), `answer` an option's code, `token` what the question showed
    (for an escalation, the report's reference)."""

    topic: str
    answer: str
    token: str

    CONTENT = "content"
    ESCALATION = "escalation"


@dataclass(frozen=True, slots=True)
class Due:
    """A timer firing: the bot's own input, about the user it is run for. `kind` says which
    timer (see `followups`), `case` the report it is about ("" for none)."""

    kind: str
    case: str = ""


Input = Start | Choose | Say | Do | Tell | Act | Overview | Follow | Due


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
class Plain:
    """Text to copy, search and forward as it is (the checklist as text): shown verbatim,
    line breaks kept, every link written out."""

    text: str


@dataclass(frozen=True, slots=True)
class Answered:
    """What the user chose, for the adapter to show in place of the question they answered.
    `before`: the answers given before it, for a platform whose question messages show them
    (see `runner.InPlace`), so that the message keeps the record it grew."""

    title: str
    chosen: tuple[str, ...]
    before: tuple[Answered, ...] = ()


@dataclass(frozen=True, slots=True)
class Closed:
    """An older question message, once the same or a newer question is shown below it: drawn
    without buttons, so that no live buttons are left behind. `answered`: the answers so far,
    for a platform whose question messages show them (see `runner.InPlace`)."""

    answered: tuple[Answered, ...] = ()


@dataclass(frozen=True, slots=True)
class Shown:
    """Where a person's newest question message is (the adapter's own reference) and the
    version of the question it shows."""

    where: str
    version: int


@dataclass(frozen=True, slots=True)
class Item:
    """One checklist entry of the final guidance."""

    title: str
    lines: tuple[str, ...]
    links: tuple[Resource, ...] = ()
    id: str = ""
    """The step it comes from: what a "mark done" names."""


@dataclass(frozen=True, slots=True)
class Guidance:
    """The final guidance: always sent privately (Slack DM, Teams 1:1)."""

    title: str
    intro: str
    items: tuple[Item, ...]
    footer: str


@dataclass(frozen=True, slots=True)
class Offer:
    """At the end, to the member of staff being targeted: tell the person who should lead?
    `choices` are people (the flowchart's recommended one first), or only "forward" when
    the school named nobody reachable here; `report` is what the first would receive."""

    token: str
    title: str
    text: str
    choices: tuple[Choice, ...]
    report: Report | None = None


@dataclass(frozen=True, slots=True)
class Task:
    """One checklist item of a report, with its "mark done" state."""

    item: Item
    done: str = ""
    """Empty while not done; else who marked it done and when, as shown."""


@dataclass(frozen=True, slots=True)
class Report:
    """What the person told receives, and sees updated: who reported and when, the
    checklist worded for the person handling the case, and what was done when.

    `text` holds `{reporter}` where the adapter puts the platform's mention of the member of
    staff (`reporter`, their platform user id). `withdrawn` set means the report was
    withdrawn: only that is shown, and no checklist."""

    case: str
    reporter: str
    heading: str
    text: str
    status: tuple[str, ...]
    guidance: Guidance
    tasks: tuple[Task, ...]
    acknowledged: bool = False
    withdrawn: str = ""
    labels: ReportLabels | None = None
    reporter_name: str = ""
    """The member of staff's display name where the platform gave it in this turn (never
    stored): Teams needs one to draw a mention."""


@dataclass(frozen=True, slots=True)
class ReportLabels:
    """The words on a report's buttons."""

    acknowledge: str
    done: str
    walk: str
    record: str


@dataclass(frozen=True, slots=True)
class Preview:
    """Exactly what `report` will look like to the person, before anything is sent:
    Send (`Tell(person, token, confirmed=True)`) or Not now."""

    token: str
    person: str
    text: str
    report: Report
    send: str
    not_now: str
    escalate: str = ""
    """The label of a second Send that also agrees to escalation ("": none is offered)."""


@dataclass(frozen=True, slots=True)
class Held:
    """One report in a person's overview: who and when (`heading` holds `{reporter}`, as a
    `Report`'s text does), its state as dated lines, and its buttons as (label, `Act`
    action) pairs, each sending `Act(action, case)`."""

    case: str
    reporter: str
    heading: str
    lines: tuple[str, ...]
    actions: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Reports:
    """The reports a person holds, for their eyes only: never drawn in a channel."""

    title: str
    text: str
    held: tuple[Held, ...]
    footer: str = ""


@dataclass(frozen=True, slots=True)
class RecordFile:
    """A report's dated record as files to keep with the school's own case file: `text`
    (the record exactly as shown in the chat) and `csv` (the same lines as rows). `only`
    names one of them ("txt" or "csv") where a platform sends one file per consent."""

    case: str
    name: str
    """The file name without its extension."""
    text: str
    csv: str
    only: str = ""

    FORMATS = ("txt", "csv")

    def content(self, fmt: str) -> str:
        return self.text if fmt == "txt" else self.csv


@dataclass(frozen=True, slots=True)
class Button:
    """One button of a `Nudge`: its words, and the input a click on it is."""

    label: str
    input: Act | Follow


@dataclass(frozen=True, slots=True)
class Nudge:
    """A message the bot starts itself, later (a reminder, a follow-up question, a warning):
    a title, a few lines, links where the next step needs them, and its buttons. It says
    little: the details stay in the messages only the right person sees."""

    title: str
    text: str
    buttons: tuple[Button, ...] = ()
    links: tuple[Resource, ...] = ()


Reply = (
    Question | Notice | Plain | Guidance | Offer | Preview | Report | Reports | RecordFile | Nudge
)


@dataclass(frozen=True, slots=True)
class Deliver:
    """A message for someone (`to`): posted to their own DM or 1:1 chat, or, with `update`
    (the platform's reference of a message sent earlier), replacing it.

    `then` is called with the new message's reference, or None when it could not be
    delivered (the person never opened the bot, say), and returns what happens next; its
    replies are for the person whose turn it was. `after` > 0 is a retry: it is tried that
    many seconds later, once the turn is over."""

    to: UserKey
    reply: Reply
    update: str | None = None
    then: Callable[[str | None], Awaitable[Turn]] | None = None
    after: float = 0.0


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
    OFFERED = "offered"
    PREVIEWED = "previewed"
    SENT = "sent"
    STATUS = "status"
    ACTED = "acted"
    OVERVIEW = "overview"
    REFERENCE = "reference"
    FOLLOWED = "followed"
    """A timer fired, or a follow-up was answered."""


@dataclass(frozen=True, slots=True)
class Turn:
    """Everything one input produced."""

    outcome: Outcome
    replies: tuple[Reply, ...]
    answered: Answered | None = None
    step: str | None = None
    deliveries: tuple[Deliver, ...] = ()
    """Messages for other people (or for this one outside this chat), made by this turn."""
    closes: int | None = None
    """The version of the question this turn retires: the newest question message, if it
    shows that version, is closed (the same question asked again below it, or one left by
    `back`, `restart` or a button that spends the question's token)."""
    shown: Shown | None = None
    """Where the newest question message was before this turn, where the commit said."""
    about: tuple[str, ...] = ()
    """The reports (their references) this turn's messages show: copies that withdrawing
    the report removes."""
    timed: bool = False
    """Something is due later for this user (a report sent, a follow-up scheduled): an
    adapter that needs to know how to reach them outside a request keeps that now."""
