"""Reference numbers in a report's record: the platform's, the police's, the phone company's,
Report Harmful Content's. The only typed text the bot keeps.

So it is read strictly (`typed.reference`: letters, digits, - and /, at most 32 characters,
a clear refusal otherwise, and nothing changed), sealed with the deployment's key before it
reaches Redis (the case holds `r:<random>` fields of Fernet tokens), kept only inside the
case (withdrawn or expired, it goes with it), and never logged: every log line here names
an outcome, never a kind or a value.

The member of staff adds one to their own report by typing it. The person who holds a report
types it too; holding several, they first choose the report with its "Add a reference"
button, remembered for `CHOSEN_SECONDS`.
"""

from __future__ import annotations

import contextlib
import secrets

from ..dates import when
from ..messages import Notice, Outcome, Reply, Turn, UserKey
from ..storage import Case, Cases, Changed, Cipher, StoreUnavailable, parse_reference
from ..storage.cases import REFERENCE
from ..storage.seal import InvalidToken
from ..typed import REFERENCE_KINDS, TypedReference
from ..views import Views
from .people import holds
from .report import Noted, wording

MOST = 10
"""Reference numbers one record holds at most."""
CHOSEN_SECONDS = 900
"""How long a report chosen with "Add a reference" waits for the reference to be typed."""


class References:
    def __init__(self, cases: Cases, views: Views, cipher: Cipher) -> None:
        self.cases = cases
        self.views = views
        self.cipher = cipher
        self.words = wording()["references"]

    def opened(self, case: Case) -> list[Noted]:
        """The record's reference numbers, opened (one that no key opens says so)."""
        found = []
        for sealed in case.references.values():
            try:
                kind, at, value = self.cipher.open(sealed.encode()).decode().split("|", 2)
            except (InvalidToken, ValueError):
                found.append(Noted("", "", 0))
                continue
            found.append(Noted(kind if kind in REFERENCE_KINDS else "", value, int(at)))
        return found

    async def choose(self, person: UserKey, report: str) -> Turn:
        """`person` pressed "Add a reference" on `report` (checked theirs): the next reference
        they type is for it."""
        key = self.cases.keys.referring(person)
        await self.cases.db.call(self.cases.redis.set(key, report, ex=CHOSEN_SECONDS))
        return Turn(Outcome.REFERENCE, (Notice(self.words["chosen"]),))

    async def forget(self, person: UserKey) -> None:
        """The report `person` chose, forgotten with their `delete my data` (best effort, after
        the deletion itself: the choice lapses within minutes anyway)."""
        with contextlib.suppress(StoreUnavailable):
            await self.cases.db.call(self.cases.redis.delete(self.cases.keys.referring(person)))

    async def add(self, person: UserKey, typed: TypedReference | None) -> tuple[Reply, ...]:
        """A reference typed by `person`, kept in the record it belongs to, or refused with
        the reason; nothing changes unless it is kept."""
        w = self.words
        if typed is None or typed.problem == "how":
            return (Notice(w["how"]),)
        if typed.problem:
            return (Notice(f"{w[typed.problem]}\n\n{w['how']}"),)
        found = await self._target(person)
        if isinstance(found, str):
            return (Notice(w[found]),)
        reporter, case, by = found
        kind = w["kinds"][typed.kind]
        noted = self.opened(case)
        if any(n.kind == typed.kind and n.value == typed.value for n in noted):
            return (Notice(w["already"].format(kind=kind)),)
        if len(noted) >= MOST:
            return (Notice(w["full"].format(most=str(MOST))),)
        now = self.cases.now()
        sealed = self.cipher.seal(f"{typed.kind}|{now}|{typed.value}".encode()).decode()
        field = REFERENCE + secrets.token_hex(4)
        changed = await self.cases.change(reporter, case.id, {field: sealed}, by=by)
        if changed.status is not Changed.APPLIED:
            return (Notice(w["no_case"]),)
        return (Notice(w["added"].format(kind=kind, value=typed.value, date=when(now))),)

    async def _target(self, person: UserKey) -> tuple[UserKey, Case, UserKey | None] | str:
        """The report a reference typed by `person` is for: the one they chose, else their
        own, else the only one they hold; or why there is none ("choose", "no_case")."""
        chosen = await self._chosen(person)
        if chosen is not None:
            return chosen
        own = await self.cases.get(person)
        if own is not None:
            return person, own, None
        held = []
        for reporter in await self.cases.pointed(person):
            case = await self.cases.get(reporter)
            if case is not None and self._holds(person, case):
                held.append((reporter, case, person))
        if len(held) == 1:
            return held[0]
        return "choose" if held else "no_case"

    async def _chosen(self, person: UserKey) -> tuple[UserKey, Case, UserKey] | None:
        raw = None
        with contextlib.suppress(StoreUnavailable):  # then it is as if none was chosen
            raw = await self.cases.db.call(self.cases.redis.get(self.cases.keys.referring(person)))
        named = parse_reference(raw.decode(), person) if raw else None
        if named is None:
            return None
        case_id, reporter = named
        case = await self.cases.get(reporter)
        if case is None or case.id != case_id or not self._holds(person, case):
            return None
        return reporter, case, person

    def _holds(self, person: UserKey, case: Case) -> bool:
        view = self.views.for_user(person)
        return holds(view.school, case, person)
