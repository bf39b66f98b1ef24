"""The reports a person holds, together: Slack's Home tab, Teams' `reports`.

Only reports this person holds (`people.holds`: the person told, or whom it was escalated
to, while the school file still names them); each with when it was sent, whether it was
acknowledged, how many of its steps are done, what is due next, and the buttons of the
report itself. It is drawn only where the person alone sees it.
"""

from __future__ import annotations

from ..dates import when
from ..messages import Act, Held, Reports, UserKey
from ..storage import Case, Cases, reference
from ..views import View
from .due import NextDue
from .people import holds
from .report import items, wording


async def held(cases: Cases, view: View, person: UserKey) -> list[tuple[UserKey, Case]]:
    """The reports `person` holds: (reporter, case), the newest sent first."""
    found = []
    for reporter in await cases.pointed(person):
        case = await cases.get(reporter)
        if case is not None and holds(view.school, case, person):
            found.append((reporter, case))
    found.sort(key=lambda rc: rc[1].sent or rc[1].created, reverse=True)
    return found


async def overview(
    cases: Cases, view: View, person: UserKey, due: NextDue | None = None
) -> tuple[Reports, tuple[str, ...]]:
    """`person`'s overview, and the references of the reports it shows (copies of them that
    withdrawing a report removes). `due` says what is due next on a report (the follow-ups')."""
    w = wording()["overview"]
    labels = wording()["report"]
    shown = []
    for reporter, case in await held(cases, view, person):
        steps = [item_id for item_id, _ in items(view, case)]
        lines = [w["sent"].format(date=when(case.sent or case.created))]
        if case.acknowledged:
            lines.append(w["acknowledged"].format(date=when(case.acknowledged)))
        else:
            lines.append(w["not_acknowledged"])
        done = sum(1 for s in steps if s in case.done)
        lines.append(w["steps"].format(done=str(done), total=str(len(steps))))
        if due and (next_one := await due(reporter, case)) is not None:
            lines.append(w["due"].format(what=next_one.what, date=when(next_one.at)))
        actions = [
            (labels["walk"], Act.WALK),
            (labels["record"], Act.RECORD),
            (w["reference"], Act.REFERENCE),
        ]
        if not case.acknowledged:
            actions.insert(0, (labels["acknowledge"], Act.ACKNOWLEDGE))
        ref = reference(case, reporter)
        shown.append(Held(ref, reporter.user, w["heading"], tuple(lines), tuple(actions)))
    text = w["text"] if shown else w["none"]
    footer = w["footer"] if shown else ""
    return Reports(w["title"], text, tuple(shown), footer), tuple(h.case for h in shown)
