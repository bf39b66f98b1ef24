"""One user's progress, and its compact stored form.

Only ids and numbers are stored, never anything the user typed:
`version|started_ms|updated_s|step|step=opt,opt;step=opt`, and for a walk-through of a report
`|` and that report's reference. The version leads, so the compare-and-set script in
`storage` can read it without decoding the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .flow import Answers


@dataclass(frozen=True, slots=True)
class Progress:
    step: str
    answers: tuple[tuple[str, tuple[str, ...]], ...] = ()
    version: int = 0
    started: int = 0
    """Milliseconds since the epoch when this conversation began; part of every token."""
    updated: int = 0
    origin: str = ""
    """The report this conversation was begun from (a walk-through of it by the person told):
    withdrawing that report deletes it. Empty for the user's own conversation."""

    @property
    def token(self) -> str:
        """Names this exact question in this conversation: stale and double clicks miss it."""
        return f"{self.started:x}.{self.version}"

    @property
    def answer_map(self) -> Answers:
        return dict(self.answers)

    def advance(self, step: str, answered: tuple[str, ...], now: int) -> Progress:
        return replace(
            self,
            step=step,
            answers=(*self.answers, (self.step, answered)),
            version=self.version + 1,
            updated=now,
        )

    def bumped(self, now: int) -> Progress:
        """The same place, as a new version: every token shown so far is spent, so a second
        click on a button that moves nothing on (send it again) finds it stale."""
        return replace(self, version=self.version + 1, updated=now)

    def back(self, now: int) -> Progress:
        """Return to the last answered step, forgetting that answer (and so all after it)."""
        *rest, (step, _) = self.answers
        return replace(self, step=step, answers=tuple(rest), version=self.version + 1, updated=now)

    def encode(self) -> str:
        answers = ";".join(f"{s}={','.join(ids)}" for s, ids in self.answers)
        origin = f"|{self.origin}" if self.origin else ""
        return f"{self.version}|{self.started}|{self.updated}|{self.step}|{answers}{origin}"

    @classmethod
    def decode(cls, raw: str) -> Progress:
        version, started, updated, step, answers, *origin = raw.split("|")
        pairs = (pair.split("=") for pair in answers.split(";") if pair)
        return cls(
            step=step,
            answers=tuple((s, tuple(ids.split(","))) for s, ids in pairs),
            version=int(version),
            started=int(started),
            updated=int(updated),
            origin=origin[0] if origin else "",
        )
