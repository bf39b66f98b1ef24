"""The flowchart as typed, validated data, loaded once from `flow.toml`.

Everything else (machine, guidance, renderers, tests, diagram) reads these objects, so
a mistake in the data file fails here, at start-up, with the place it was found.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROLES = ("affected", "handling")
ROLE_STEP = "role"
FINAL_OPTIONS = frozenset({"restart", "resend", "delete"})
NOTICES = frozenset(
    {
        "help",
        "resumed",
        "stale",
        "ended",
        "unclear",
        "partly",
        "long",
        "exclusive",
        "at_start",
        "restarted",
        "stopped",
        "deleted",
        "unavailable",
    }
)
DEFAULT_FLOW = Path(__file__).with_name("flow.toml")
_ID = re.compile(r"^[a-z][a-z_]*$")

Answers = Mapping[str, tuple[str, ...]]
"""Chosen option ids per answered step, in the order they were answered."""


class FlowError(ValueError):
    """The flow data file is not well formed."""


@dataclass(frozen=True, slots=True)
class Wording:
    """One text, worded for the person being targeted or for the person handling it."""

    affected: str
    handling: str

    def to(self, role: str | None) -> str:
        return self.handling if role == "handling" else self.affected


@dataclass(frozen=True, slots=True)
class Resource:
    id: str
    name: str
    description: str
    """As shown; `to(role)` words it for the person reading."""
    url: str = ""
    phone: str = ""
    email: str = ""
    worded: Wording | None = None
    """The description for each role, when the flow data words it both ways."""

    def to(self, role: str | None) -> Resource:
        """This resource as the reader sees it: "your union" or "the staff member's"."""
        if self.worded is None:
            return self
        return replace(self, description=self.worded.to(role), worded=None)


@dataclass(frozen=True, slots=True)
class Condition:
    """Holds when the answer to `step` includes any of `any_of`."""

    step: str
    any_of: frozenset[str]

    def holds(self, answers: Answers) -> bool:
        return not self.any_of.isdisjoint(answers.get(self.step, ()))

    def __str__(self) -> str:
        return f"{self.step} has {' or '.join(sorted(self.any_of))}"


@dataclass(frozen=True, slots=True)
class Paragraph:
    text: Wording
    when: Condition | None = None


@dataclass(frozen=True, slots=True)
class Option:
    id: str
    label: str
    words: tuple[str, ...] = ()
    guidance: Wording | None = None
    links: tuple[Resource, ...] = ()
    exclusive: bool = False


@dataclass(frozen=True, slots=True)
class Step:
    id: str
    title: str
    text: tuple[Paragraph, ...]
    options: tuple[Option, ...]
    guidance: tuple[Paragraph, ...] = ()
    links: tuple[Resource, ...] = ()
    multi: bool = False
    final: bool = False
    ask_if: Condition | None = None

    def option(self, option_id: str) -> Option | None:
        return next((o for o in self.options if o.id == option_id), None)


@dataclass(frozen=True, slots=True)
class Flow:
    title: str
    danger: str
    checklist_title: Wording
    checklist_intro: Wording
    checklist_again: str
    notices: Mapping[str, str]
    resources: Mapping[str, Resource]
    steps: tuple[Step, ...]
    surfaces: Mapping[str, Flow] = field(default_factory=dict)
    """The same flow worded for each surface that says something differently (by the
    user's platform name): only words differ, never a step, an option or a link."""

    def step(self, step_id: str) -> Step:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)

    @property
    def first(self) -> Step:
        return self.steps[0]


@cache
def load(path: Path = DEFAULT_FLOW) -> Flow:
    """Read and validate a flow file; cached, since the flow never changes while running.
    Every mistake is one FlowError naming the file, so start-up can say it in one line."""
    try:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
        return _Parser(raw).flow()
    except OSError as exc:
        raise FlowError(f"{path}: cannot read it: {exc.strerror or type(exc).__name__}") from None
    except tomllib.TOMLDecodeError as exc:
        raise FlowError(f"{path}: not valid TOML: {exc}") from None
    except FlowError as exc:
        raise FlowError(f"{path}: {exc}") from None
    except (KeyError, TypeError, AttributeError) as exc:
        raise FlowError(f"{path}: missing or malformed field {exc}") from None


_KEYS = {
    "flow": {"title", "danger", "checklist", "notices", "resources", "steps", "surfaces"},
    "[checklist]": {"title", "intro", "again"},
    "resource": {"name", "description", "url", "phone", "email"},
    "step": {
        "id",
        "title",
        "text",
        "options",
        "guidance",
        "checklist",
        "links",
        "multi",
        "final",
        "ask_if",
    },
    "option": {"id", "label", "words", "guidance", "links", "exclusive"},
    "paragraph": {"text", "when"},
}
"""Every key the flow file may use, by where: any other is a typo that would be ignored."""


def _known(raw: Mapping[str, Any], kind: str, where: str) -> None:
    unknown = sorted(set(raw) - _KEYS[kind])
    if unknown:
        raise FlowError(f"{where}: unknown key{'s' if len(unknown) > 1 else ''} {unknown}")


_SURFACE_FIELDS = {"notices", "checklist", "steps"}
_SURFACE_STEP_FIELDS = {"title", "text", "options"}


def _on_surface(raw: dict[str, Any], name: str, overlay: dict[str, Any]) -> dict[str, Any]:
    """The raw flow with one surface's wording laid over it; anything else is refused, so
    that a surface can never change what the flowchart asks or decides."""
    where = f"[surfaces.{_ident(name, 'surface')}]"
    if not set(overlay) <= _SURFACE_FIELDS:
        raise FlowError(f"{where} may only word {sorted(_SURFACE_FIELDS)}")
    notices = overlay.get("notices", {})
    if not set(notices) <= NOTICES:
        raise FlowError(f"{where}: unknown notices {sorted(set(notices) - NOTICES)}")
    checklist = overlay.get("checklist", {})
    if not set(checklist) <= set(raw["checklist"]):
        raise FlowError(f"{where}: unknown checklist fields {sorted(checklist)}")
    steps = {s["id"]: s for s in raw["steps"]}
    for sid, change in overlay.get("steps", {}).items():
        if sid not in steps or not set(change) <= _SURFACE_STEP_FIELDS:
            raise FlowError(f"{where}: step {sid!r} is unknown or changes more than its words")
        labels = {o["id"]: o for o in steps[sid]["options"]}
        for oid, option in change.get("options", {}).items():
            if oid not in labels or set(option) != {"label"}:
                raise FlowError(f"{where}: step {sid!r} may only relabel its options")
    worded = {k: v for k, v in raw.items() if k != "surfaces"}
    worded["notices"] = {**raw["notices"], **notices}
    worded["checklist"] = {**raw["checklist"], **checklist}
    worded["steps"] = [_reword(s, overlay.get("steps", {}).get(s["id"], {})) for s in raw["steps"]]
    return worded


def _reword(step: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    labels = change.get("options", {})
    options = [{**o, **labels.get(o["id"], {})} for o in step["options"]]
    return {**step, **{k: v for k, v in change.items() if k != "options"}, "options": options}


class _Parser:
    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw
        self.resources: dict[str, Resource] = {}
        self.steps: list[Step] = []

    def flow(self) -> Flow:
        _known(self.raw, "flow", "the file")
        _known(self.raw["checklist"], "[checklist]", "[checklist]")
        for rid, r in self.raw["resources"].items():
            self.resources[_ident(rid, "resource")] = self.resource(rid, r)
        for raw_step in self.raw["steps"]:
            self.steps.append(self.step(raw_step))
        self.check_shape()
        # Only once the flow itself is sound: each surface is parsed, and so checked, in full.
        surfaces = {
            name: _Parser(_on_surface(self.raw, name, overlay)).flow()
            for name, overlay in self.raw.get("surfaces", {}).items()
        }
        checklist = self.raw["checklist"]
        return Flow(
            title=self.raw["title"],
            danger=self.raw["danger"],
            checklist_title=_wording(checklist["title"]),
            checklist_intro=_wording(checklist["intro"]),
            checklist_again=checklist["again"],
            notices=self.notices(),
            resources=self.resources,
            steps=tuple(self.steps),
            surfaces=surfaces,
        )

    @staticmethod
    def resource(rid: str, raw: dict[str, Any]) -> Resource:
        _known(raw, "resource", f"[resources.{rid}]")
        if raw.get("url") and urlsplit(raw["url"]).scheme != "https":
            # Shown to staff as a link to follow: never one a network could rewrite.
            raise FlowError(f"[resources.{rid}]: url must be an https:// address")
        worded = _wording(raw["description"])
        fields = {**raw, "description": worded.affected}
        return Resource(
            id=rid, **fields, worded=worded if isinstance(raw["description"], dict) else None
        )

    def check_shape(self) -> None:
        """What the engine relies on: a role question first, and one final step last."""
        finals = [s for s in self.steps if s.final]
        if len(finals) != 1 or finals[0] is not self.steps[-1]:
            raise FlowError("exactly one step, the last, must be `final = true`")
        if not {o.id for o in finals[0].options} <= FINAL_OPTIONS:
            raise FlowError(f"the final step's options must be among {sorted(FINAL_OPTIONS)}")
        role = next((s for s in self.steps if s.id == ROLE_STEP), None)
        if role is None or tuple(o.id for o in role.options) != ROLES or role.multi:
            raise FlowError(f"step {ROLE_STEP!r} must ask a single choice of {ROLES}")

    def notices(self) -> dict[str, str]:
        notices = self.raw["notices"]
        if set(notices) != NOTICES:
            raise FlowError(f"[notices] needs exactly {sorted(NOTICES)}")
        if not all(isinstance(text, str) for text in notices.values()):
            raise FlowError("[notices] must all be text")
        return notices

    def step(self, raw: dict[str, Any]) -> Step:
        sid = _ident(raw["id"], "step")
        _known(raw, "step", f"step {sid!r}")
        if any(s.id == sid for s in self.steps):
            raise FlowError(f"step {sid!r} is defined twice")
        options = tuple(self.option(sid, o) for o in raw["options"])
        if not options or len({o.id for o in options}) != len(options):
            raise FlowError(f"step {sid!r} needs options with distinct ids")
        multi = bool(raw.get("multi", False))
        if not multi and any(o.exclusive for o in options):
            raise FlowError(f"step {sid!r}: `exclusive` only makes sense on a multi-choice step")
        phrases = [
            p for o in options for p in {o.id.replace("_", " "), o.label.casefold(), *o.words}
        ]
        if len(set(phrases)) != len(phrases):
            raise FlowError(f"step {sid!r}: a label or word names two options")
        text = self.paragraphs(sid, raw["text"])
        return Step(
            id=sid,
            title=raw["title"],
            text=text,
            guidance=text
            if raw.get("checklist")
            else self.paragraphs(sid, raw.get("guidance", ())),
            options=options,
            links=self.links(sid, raw.get("links", ())),
            multi=multi,
            final=bool(raw.get("final", False)),
            ask_if=self.condition(sid, raw["ask_if"]) if "ask_if" in raw else None,
        )

    def option(self, sid: str, raw: dict[str, Any]) -> Option:
        _known(raw, "option", f"step {sid!r}, option {raw.get('id')!r}")
        return Option(
            id=_ident(raw["id"], f"option of {sid!r}"),
            label=raw["label"],
            words=tuple(w.casefold() for w in raw.get("words", ())),
            guidance=_wording(raw["guidance"]) if "guidance" in raw else None,
            links=self.links(sid, raw.get("links", ())),
            exclusive=bool(raw.get("exclusive", False)),
        )

    def paragraphs(self, sid: str, raw: list[dict[str, Any]]) -> tuple[Paragraph, ...]:
        for p in raw:
            _known(p, "paragraph", f"step {sid!r}, a paragraph")
        return tuple(
            Paragraph(
                text=_wording(p["text"]),
                when=self.condition(sid, p["when"]) if "when" in p else None,
            )
            for p in raw
        )

    def links(self, sid: str, ids: list[str]) -> tuple[Resource, ...]:
        unknown = [i for i in ids if i not in self.resources]
        if unknown:
            raise FlowError(f"step {sid!r} links to unknown resources {unknown}")
        return tuple(self.resources[i] for i in ids)

    def condition(self, sid: str, raw: dict[str, list[str]]) -> Condition:
        """A condition may only look back, at options of a step already asked."""
        if len(raw) != 1:
            raise FlowError(f"step {sid!r}: a condition names exactly one earlier step")
        ((step_id, any_of),) = raw.items()
        earlier = next((s for s in self.steps if s.id == step_id), None)
        if earlier is None:
            raise FlowError(f"step {sid!r}: condition on {step_id!r}, which is not an earlier step")
        missing = set(any_of) - {o.id for o in earlier.options}
        if missing:
            raise FlowError(f"step {sid!r}: {step_id!r} has no options {sorted(missing)}")
        return Condition(step_id, frozenset(any_of))


def _ident(value: str, what: str) -> str:
    if not _ID.match(value):
        raise FlowError(f"{what} id {value!r} must be lower-case letters and underscores")
    return value


def _wording(raw: str | dict[str, str]) -> Wording:
    if isinstance(raw, str):
        return Wording(raw, raw)
    if set(raw) != set(ROLES):
        raise FlowError(f"a worded-by-role text needs exactly {ROLES}, got {sorted(raw)}")
    return Wording(**raw)
