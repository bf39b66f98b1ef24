"""A school's own details: whom its staff call, its policies, who leads a case.

An admin writes them in one TOML file (`SCHOOL_CONFIG`, see `school.example.toml`), read
once at start-up and checked strictly: a mistake stops start-up with one line naming the
file, the key and what is wrong, never the value (start-up errors end up in logs).

A school only adds its details to the flowchart's wording (`school_flow.apply`); the
steps and decisions never change. `Schools.for_workspace` picks a user's school from the
Slack team id or Teams tenant id the adapters put in `UserKey.workspace`, so the adapters
(and the "tell the person who leads" feature) can use the same lookup.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, NoReturn

from . import timing
from .timing import FollowUp

POLICIES = (
    "staff_code_of_conduct",
    "behaviour_policy",
    "parental_code_of_conduct",
    "home_school_agreement",
    "social_media_policy",
    "anti_bullying_and_harassment",
)
"""The school policies the flowchart names, as `[school.policies]` keys."""

_SLACK_TEAM = re.compile(r"^[TE][A-Z0-9]{2,}$")
_SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,}$")
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
_PHONE = re.compile(r"^\+?[0-9][0-9 ()\-]{1,30}[0-9]$")
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
_HOST = re.compile(r"^https://[A-Za-z0-9.-]+\.[A-Za-z]{2,}(:[0-9]+)?(/\S*)?$")
_SHORT, _LONG = 120, 400
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
"""Unicode's bidirectional controls: one can show a name, or a whole line, reversed."""
_NOT_IN_URLS = frozenset(' "<>\\^`{|}')
"""What RFC 3986 does not allow in an address as written (percent-encode it): any of them
could end a link early in Slack's `<url|text>`, a markdown `(url)` or an HTML attribute."""


class SchoolError(ValueError):
    """The school file is missing or malformed: one line, naming file and key."""


@dataclass(frozen=True, slots=True)
class Person:
    """Someone who leads or manages a case. `slack` is a Slack user id, `teams` an Entra
    object id: the ids a message to them would be addressed to."""

    name: str
    role: str = ""
    slack: str = ""
    teams: str = ""
    email: str = ""
    phone: str = ""

    @property
    def on_a_platform(self) -> bool:
        return bool(self.slack or self.teams)

    def contact(self) -> str:
        """Name, role and how to reach them, as the checklist names them."""
        extra = ", ".join(x for x in (self.role, self.email, self.phone) if x)
        return f"{self.name} ({extra})" if extra else self.name


@dataclass(frozen=True, slots=True)
class Eap:
    """The school's employee assistance programme."""

    name: str
    phone: str = ""
    url: str = ""
    hours: str = ""
    email: str = ""


@dataclass(frozen=True, slots=True)
class Union:
    note: str = ""
    url: str = ""


KEEP_DAYS = 730
"""Days a term's counts for the governors' summary are kept, unless the school file says."""


@dataclass(frozen=True, slots=True)
class Summary:
    """The governors' termly summary (`[school.summary]`): counts and times only."""

    governor: str = ""
    """The name of one of the school's governors, who receives it at each term's end."""
    keep_days: int = KEEP_DAYS
    """How long each term's counts are kept after the term ends."""
    terms: Mapping[str, date] = field(default_factory=dict)
    """Term name (`autumn-2026`) to its last day, where the school sets it."""


@dataclass(frozen=True, slots=True)
class School:
    """One school's details. `id` is its `[schools.<id>]` key, or "" for `[school]`."""

    id: str
    name: str
    eap: Eap | None = None
    union: Union | None = None
    policies: Mapping[str, str] = field(default_factory=dict)
    """Policy key (one of POLICIES) to the school's own https:// copy."""
    leads: tuple[Person, ...] = ()
    governors: tuple[Person, ...] = ()
    deputies: tuple[Person, ...] = ()
    """Who a report not acknowledged goes to next, where the member of staff agreed."""
    also: tuple[str, ...] = ()
    """Other workspace or tenant ids served by this same school."""
    summary: Summary = Summary()
    follow_up: FollowUp = timing.DEFAULT
    """The school's clock: reminders, escalation, follow-ups, quiet hours, closures."""

    def who_leads(self, head_or_lead_affected: bool) -> tuple[Person, ...]:
        """Whom the flowchart says manages the case: the nominated lead(s), or a governor
        or trustee when the person affected is the headteacher or nominated lead."""
        return self.governors if head_or_lead_affected else self.leads

    @property
    def label(self) -> str:
        return f"[schools.{self.id}]" if self.id else "[school]"


@dataclass(frozen=True, slots=True)
class Schools:
    """Every school of a deployment: by workspace or tenant id, and a default."""

    default: School | None = None
    by_id: Mapping[str, School] = field(default_factory=dict)
    """Every id (table keys and `also`) to its school; tenant GUIDs in lower case."""
    source: str = ""

    def for_workspace(self, workspace: str) -> School | None:
        """The workspace's or tenant's own school, else `[school]`, else None (generic)."""
        return self.by_id.get(workspace) or self.by_id.get(workspace.lower()) or self.default

    def all(self) -> tuple[School, ...]:
        """Each school once: the default first, then the others in file order."""
        unique = {s.id: s for s in self.by_id.values()}
        return ((self.default,) if self.default else ()) + tuple(unique.values())

    def __bool__(self) -> bool:
        return bool(self.default or self.by_id)


NO_SCHOOLS = Schools()


def from_env(env: Mapping[str, str]) -> Schools:
    """The schools named by SCHOOL_CONFIG, or none (everyone sees the generic wording)."""
    path = env.get("SCHOOL_CONFIG")
    return load(Path(path)) if path else NO_SCHOOLS


def load(path: Path) -> Schools:
    """Read and check a school file. Raises SchoolError with one line on any mistake."""
    try:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise SchoolError(f"SCHOOL_CONFIG: cannot read {path}: {why}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SchoolError(f"{path}: not valid TOML: {exc}") from None
    return parse(raw, str(path))


def parse(raw: Mapping[str, Any], source: str = "school file") -> Schools:
    at = _At(source, "")
    at.keys(raw, {"school", "schools"})
    if not raw:
        at.fail("has neither a [school] table nor any [schools.<id>] tables")
    default = _school(at.into("school"), raw["school"], "") if "school" in raw else None
    by_id: dict[str, School] = {}
    tables = raw.get("schools", {})
    if not isinstance(tables, dict):
        at.into("schools").fail("must be tables: [schools.<id>]")
    for key, table in tables.items():
        here = at.into(f"schools.{key}")
        school = _school(here, table, _workspace_id(here, key))
        for i, wid in enumerate((school.id, *school.also)):
            if wid in by_id:
                where = here if i == 0 else here.into("also")
                where.fail(f"{wid} is already given to {by_id[wid].label}")
            by_id[wid] = school
    return Schools(default, by_id, source)


# --- checking, one table at a time ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class _At:
    """Where in the file a value is, for the one line a mistake is reported in."""

    file: str
    key: str

    def into(self, key: str | int) -> _At:
        if isinstance(key, int):
            return _At(self.file, f"{self.key}[{key}]")
        return _At(self.file, f"{self.key}.{key}" if self.key else key)

    def fail(self, what: str) -> NoReturn:
        where = f"{self.file}: {self.key}" if self.key else self.file
        raise SchoolError(f"{where}: {what}")

    def table(self, raw: Any) -> dict[str, Any]:
        if not isinstance(raw, dict):
            self.fail(f"must be a table, got {_kind(raw)}")
        return raw

    def keys(self, raw: Mapping[str, Any], allowed: set[str], required: tuple[str, ...] = ()):
        for key in raw:
            if key not in allowed:
                self.into(key).fail(f"unknown key (expected one of {', '.join(sorted(allowed))})")
        for key in required:
            if key not in raw:
                self.into(key).fail("is required")


def _school(at: _At, raw: Any, sid: str) -> School:
    raw = at.table(raw)
    allowed = {
        "name",
        "eap",
        "union",
        "policies",
        "leads",
        "governors",
        "deputies",
        "summary",
        "follow_up",
    }
    allowed |= {"also"} if sid else set()
    at.keys(raw, allowed, required=("name",))
    governors = _people(at.into("governors"), raw.get("governors", []))
    return School(
        id=sid,
        name=_text(at.into("name"), raw["name"]),
        eap=_eap(at.into("eap"), raw["eap"]) if "eap" in raw else None,
        union=_union(at.into("union"), raw["union"]) if "union" in raw else None,
        policies=_policies(at.into("policies"), raw.get("policies", {})),
        leads=_people(at.into("leads"), raw.get("leads", [])),
        governors=governors,
        deputies=_people(at.into("deputies"), raw.get("deputies", [])),
        also=_also(at.into("also"), raw.get("also", [])),
        summary=_summary(at.into("summary"), raw.get("summary", {}), governors),
        follow_up=_follow_up(at.into("follow_up"), raw.get("follow_up", {})),
    )


def _summary(at: _At, raw: Any, governors: tuple[Person, ...]) -> Summary:
    raw = at.table(raw)
    at.keys(raw, {"governor", "keep_days", "terms"})
    governor = _text(at.into("governor"), raw["governor"]) if "governor" in raw else ""
    if governor and not any(g.name == governor and g.on_a_platform for g in governors):
        at.into("governor").fail("must be the name of a governor above with a slack or teams id")
    keep = raw.get("keep_days", KEEP_DAYS)
    if not isinstance(keep, int) or isinstance(keep, bool) or not 1 <= keep <= 3650:
        at.into("keep_days").fail("must be a whole number of days from 1 to 3650")
    terms = at.into("terms").table(raw.get("terms", {}))
    ends = {}
    for name, day in terms.items():
        here = at.into("terms").into(name)
        if not re.fullmatch(r"(autumn|spring|summer)-\d{4}", name):
            here.fail("must be named autumn-YYYY, spring-YYYY or summer-YYYY")
        if isinstance(day, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", day.strip()):
            try:
                day = date.fromisoformat(day.strip())
            except ValueError:
                here.fail("is not a date")
        if not isinstance(day, date) or hasattr(day, "hour"):
            here.fail("must be the term's last day, a date such as 2026-12-18")
        ends[name] = day
    return Summary(governor, keep, ends)


_CLOCK = {
    "lead_reminder": timing.duration,
    "escalate_after": timing.duration,
    "platform_check": timing.duration,
    "report_harmful_content": timing.duration,
    "digest": timing.weekly,
    "quiet_hours": timing.quiet_hours,
    "closed": timing.closures,
}
"""`[follow_up]`'s keys, each with its reader (see `timing`)."""


def _follow_up(at: _At, raw: Any) -> FollowUp:
    raw = at.table(raw)
    at.keys(raw, set(_CLOCK))
    values = {}
    for key, value in raw.items():
        try:
            values[key] = _CLOCK[key](value)
        except ValueError as exc:
            at.into(key).fail(str(exc))
    return FollowUp(**values)


def _eap(at: _At, raw: Any) -> Eap:
    raw = at.table(raw)
    at.keys(raw, {"name", "phone", "url", "hours", "email"}, required=("name",))
    return Eap(
        name=_text(at.into("name"), raw["name"]),
        phone=_phone(at.into("phone"), raw["phone"]) if "phone" in raw else "",
        url=_url(at.into("url"), raw["url"]) if "url" in raw else "",
        hours=_text(at.into("hours"), raw["hours"]) if "hours" in raw else "",
        email=_email(at.into("email"), raw["email"]) if "email" in raw else "",
    )


def _union(at: _At, raw: Any) -> Union:
    raw = at.table(raw)
    at.keys(raw, {"note", "url"})
    return Union(
        note=_text(at.into("note"), raw["note"], _LONG) if "note" in raw else "",
        url=_url(at.into("url"), raw["url"]) if "url" in raw else "",
    )


def _policies(at: _At, raw: Any) -> dict[str, str]:
    raw = at.table(raw)
    at.keys(raw, set(POLICIES))
    return {k: _url(at.into(k), raw[k]) for k in POLICIES if k in raw}


def _people(at: _At, raw: Any) -> tuple[Person, ...]:
    if not isinstance(raw, list):
        at.fail(f"must be a list of tables ([[{at.key.rpartition('.')[2]}]]), got {_kind(raw)}")
    return tuple(_person(at.into(i), p) for i, p in enumerate(raw))


def _person(at: _At, raw: Any) -> Person:
    raw = at.table(raw)
    at.keys(raw, {"name", "role", "slack", "teams", "email", "phone"}, required=("name",))
    person = Person(
        name=_text(at.into("name"), raw["name"]),
        role=_text(at.into("role"), raw["role"]) if "role" in raw else "",
        slack=_slack_user(at.into("slack"), raw["slack"]) if "slack" in raw else "",
        teams=_guid(at.into("teams"), raw["teams"]) if "teams" in raw else "",
        email=_email(at.into("email"), raw["email"]) if "email" in raw else "",
        phone=_phone(at.into("phone"), raw["phone"]) if "phone" in raw else "",
    )
    if not (person.slack or person.teams or person.email or person.phone):
        at.fail("has no way to reach them: give at least one of slack, teams, email, phone")
    return person


def _also(at: _At, raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list):
        at.fail(f"must be a list of workspace or tenant ids, got {_kind(raw)}")
    return tuple(_workspace_id(at.into(i), x) for i, x in enumerate(raw))


def _workspace_id(at: _At, raw: Any) -> str:
    value = _string(at, raw)
    if _SLACK_TEAM.match(value):
        return value
    if _GUID.match(value):
        return value.lower()
    at.fail(
        f"{value[:_SHORT]!r} is neither a Slack team id (T followed by capitals and digits) "
        "nor a Teams tenant id (a GUID)"
    )


# --- checking one value ----------------------------------------------------------------


def _kind(raw: Any) -> str:
    names = {bool: "true or false", int: "a number", float: "a number", str: "text"}
    names |= {list: "a list", dict: "a table"}
    return next((v for t, v in names.items() if type(raw) is t), type(raw).__name__)


def _string(at: _At, raw: Any) -> str:
    if not isinstance(raw, str):
        at.fail(f"must be text in quotes, got {_kind(raw)}")
    return raw.strip()


def _text(at: _At, raw: Any, limit: int = _SHORT) -> str:
    value = _string(at, raw)
    if not value:
        at.fail("must not be empty")
    if not _printable(value):
        at.fail("must be one line (no line breaks or control characters)")
    if len(value) > limit:
        at.fail(f"is too long ({len(value)} characters; at most {limit})")
    return value


def _printable(value: str) -> bool:
    """No control character (line breaks, terminal escapes, C1 codes), line or paragraph
    separator, or bidirectional control: each would change how the text around it shows."""
    return not any(c in _BIDI or unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in value)


def _url(at: _At, raw: Any) -> str:
    value = _string(at, raw)
    if not value.startswith("https://"):
        at.fail("must be an https:// address")
    if not _printable(value) or _NOT_IN_URLS.intersection(value):
        at.fail('must be written as a web address: no spaces, control characters or <>"{}|\\^`')
    if not _HOST.match(value) or len(value) > 1000:
        at.fail("is not a web address (https://host.domain/path, no spaces)")
    return value


def _phone(at: _At, raw: Any) -> str:
    return _matching(at, _text(at, raw), _PHONE, "a phone number: digits, spaces, + ( ) and - only")


def _email(at: _At, raw: Any) -> str:
    return _matching(at, _text(at, raw), _EMAIL, "an email address")


def _slack_user(at: _At, raw: Any) -> str:
    why = "a Slack user id (U followed by capitals and digits, like U0123ABCD)"
    return _matching(at, _string(at, raw), _SLACK_USER, why)


def _guid(at: _At, raw: Any) -> str:
    why = "an Entra object id (a GUID like 00000000-0000-0000-0000-000000000000)"
    return _matching(at, _string(at, raw), _GUID, why).lower()


def _matching(at: _At, value: str, pattern: re.Pattern[str], what: str) -> str:
    if not pattern.match(value):
        at.fail(f"must be {what}")
    return value
