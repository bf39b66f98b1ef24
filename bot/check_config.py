"""`python -m bot check-config`: what each school's staff will see, before a restart.

The differences are worked out by comparing each school's view of the flow with the
generic one, step by step, so what this prints is what the bot will say.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TextIO

from conversation import flow as flows
from conversation import plaintext
from conversation.flow import ROLES, Flow, Resource, Step, Wording
from conversation.school import POLICIES, School, Schools
from conversation.school_flow import apply


def report(schools: Schools, only: str | None, out: TextIO) -> None:
    """Print, for each school (or the one `only` picks), what differs and what is missing."""
    generic = flows.load()
    chosen = schools.all()
    if only is not None:  # an id of the file's (`chat --school` and this refuse others)
        picked = schools.for_workspace(only)
        chosen = (picked,) if picked else ()
    count = len(schools.all())
    out.write(f"{schools.source}: valid, {count} school{'s' if count != 1 else ''}.\n")
    for school in chosen:
        out.write("\n" + _header(school, schools) + "\n")
        out.write("  What its staff see that the generic flowchart wording does not say:\n")
        for line in differences(generic, apply(generic, school)):
            out.write(f"    {line}\n")
        out.write("  Follow-ups ([follow_up]; UK time):\n")
        for line in school.follow_up.lines():
            out.write(f"    {line}\n")
        warnings = omissions(school)
        if warnings:
            out.write("  Probably forgotten:\n")
            for line in warnings:
                out.write(f"    warning: {line}\n")


def installed(workspaces: Iterable[str], schools: Schools, out: TextIO) -> None:
    """Beside the file, where the Slack app is installed (many-workspaces mode): a workspace
    with no school of its own, and a Slack school the app is not installed in. `workspaces`
    are the ids users are keyed by: the Grid organisation's where there is one, else the
    workspace's, as the school is chosen."""
    ids = sorted(set(workspaces))
    out.write(f"\nSlack: installed in {len(ids)} workspace{'s' if len(ids) != 1 else ''}.\n")
    for workspace in ids:
        if workspace in schools.by_id:
            continue
        fallback = schools.for_workspace(workspace)
        gets = f"{fallback.label} {fallback.name}" if fallback else "the generic wording"
        out.write(f"    warning: {workspace} has no [schools.{workspace}]: its staff get {gets}\n")
    for school in schools.all():
        slack_ids = [i for i in (school.id, *school.also) if _SLACK_ID.match(i)]
        if slack_ids and not set(slack_ids) & set(ids):
            out.write(
                f"    warning: {school.label} {school.name} is not installed in Slack yet "
                "(its admin installs it from /slack/install)\n"
            )


_SLACK_ID = re.compile(r"^[TE][A-Z0-9]+$")
"""A Slack workspace (T…) or Grid organisation (E…) id, as opposed to a Teams tenant's GUID."""


def _header(school: School, schools: Schools) -> str:
    if not school.id:
        others = " without a school of its own" if schools.by_id else ""
        return f"[school] {school.name}: every Slack workspace and Teams tenant{others}"
    ids = ", ".join((school.id, *school.also))
    return f"{school.label} {school.name}: Slack workspace or Teams tenant {ids}"


def differences(generic: Flow, school: Flow) -> list[str]:
    """Each addition or change a school makes, as "Step, where: what"."""
    lines: list[str] = []
    for g, s in zip(generic.steps, school.steps, strict=True):
        for para in s.text:
            if para not in g.text:
                lines += [f"{s.title}, question: {t}" for t in _wordings(para.text)]
        for link in s.links:
            if link not in g.links:
                lines.append(f"{s.title}, question and checklist: {_link(link)}")
        lines += _option_changes(g, s)
    return lines


def _option_changes(g: Step, s: Step) -> list[str]:
    lines = []
    for go, so in zip(g.options, s.options, strict=True):
        where = f'{s.title}, checklist if "{so.label}"'
        if so.guidance is not None and so.guidance != go.guidance:
            for role in ROLES:
                old = go.guidance.to(role) if go.guidance else ""
                new = so.guidance.to(role)
                added = new[len(old) :].strip() if old and new.startswith(old) else new
                lines.append(f"{where}: {plaintext.strip_bold(added)}")
        lines += [f"{where}: {_link(r)}" for r in so.links if r not in go.links]
    return list(dict.fromkeys(lines))


def _wordings(text: Wording) -> list[str]:
    return list(dict.fromkeys(plaintext.strip_bold(text.to(r)) for r in ROLES))


def _link(r: Resource) -> str:
    return plaintext.resource(r).replace("\n  ", " · ")


def omissions(school: School) -> list[str]:
    """What an admin probably forgot: each makes the guidance vaguer than it could be."""
    lines = []
    if school.eap is None:
        lines.append("no [eap]: staff are told only that the school office or HR has the details")
    elif not school.eap.phone:
        lines.append("the EAP has no phone number")
    if school.union is None:
        lines.append("no [union] note: staff get the generic union wording")
    if not school.leads:
        lines.append("no [[leads]]: nobody is named as the nominated lead")
    if not school.governors:
        lines.append("no [[governors]]: nobody is named for when the head or lead is affected")
    everyone = (("leads", school.leads), ("governors", school.governors))
    for kind, people in (*everyone, ("deputies", school.deputies)):
        for i, person in enumerate(people):
            if not person.on_a_platform:
                lines.append(
                    f"{kind}[{i}] ({person.name}) is reachable on neither Slack nor Teams "
                    "(no slack or teams id)"
                )
    missing = [p for p in POLICIES if p not in school.policies]
    if missing:
        lines.append(f"policies named by the flowchart but not linked: {', '.join(missing)}")
    if school.summary.governor and not school.id:
        lines.append(
            "[summary] names a governor, but [school] names no workspace or tenant: the termly "
            "summary is never sent (give the school a [schools.<id>] table, or print it with "
            "python -m bot summary)"
        )
    return lines
