"""Plant known bugs one at a time and see whether the tests catch each (issues 25 and 26).

    python -m tests.mutations --list          # the mutations, one a line
    python -m tests.mutations                 # every mutation
    python -m tests.mutations leads-ttl ...   # only these

Each mutation is one exact piece of text in one file and what replaces it. For each, the
checkout (as it is on disk, committed or not) is copied to a temporary directory, the text
replaced there, and `python -m pytest -x -q` run on the mutation's test files, in the order
listed (the older files first, so "caught by" says whether they catch it), with the copy as
the working directory, so the copy's packages are the ones imported. The real files are
never edited. A mutation is caught when pytest fails; it survives when pytest passes. The
exit status is 1 if any survived (or a mutation's text is no longer in its file: the list
must follow the code), 2 if the tests fail with no mutation at all (checked first), else 0.

Not collected by pytest (its name does not start with `test_`) and not run by CI: it takes
minutes. Run it after changing the code a mutation names, and add a line for each bug that
a review finds the tests would have missed.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutation:
    name: str
    file: str
    original: str
    replacement: str
    tests: tuple[str, ...]
    bug: str
    """What a person would notice."""


MUTATIONS = (
    # --- issue 26: bugs that once passed every test -------------------------------------
    Mutation(
        "others-record-and-walk",
        "conversation/telling/telling.py",
        "if case is None or case.id != case_id or not self.holds(view, case, lead):",
        "if case is None or case.id != case_id or not ("
        "inp.action in (Act.RECORD, Act.FILE, Act.WALK) or self.holds(view, case, lead)):",
        ("tests/test_lead_slack.py", "tests/test_survivors.py"),
        "Copy the record and Walk me through it work for anyone in the workspace",
    ),
    Mutation(
        "teams-uninstall-keeps-lead-card",
        "adapters/teams/app.py",
        "        self.update = outbox.update\n",
        "        self.update = lambda where, shown: __import__('asyncio').sleep(0, False)\n",
        ("tests/test_lead_teams.py", "tests/test_teams_production.py", "tests/test_survivors.py"),
        "removing the Teams app withdraws the report but leaves it on the lead's card",
    ),
    Mutation(
        "acknowledged-shows-sent",
        "conversation/telling/report.py",
        "        at = when(case.acknowledged)\n",
        "        at = when(case.sent)\n",
        ("tests/test_lead_slack.py", "tests/test_overview_slack.py", "tests/test_survivors.py"),
        "status shows the sent time on the Acknowledged line",
    ),
    Mutation(
        "twelve-hour-clock",
        "conversation/dates.py",
        "{at:%H:%M}",
        "{at:%I:%M}",
        ("tests/test_followups.py", "tests/test_survivors.py"),
        "every date in the record on a 12-hour clock without am/pm",
    ),
    Mutation(
        "governor-offer-says-unreachable",
        "conversation/telling/telling.py",
        'group = "governors." if governor else "leads."',
        'group = "leads."',
        ("tests/test_lead_slack.py", "tests/test_lead_teams.py", "tests/test_survivors.py"),
        "an affected head is told 'I can't message them here' above 'Tell <governor>'",
    ),
    Mutation(
        "slack-phones-dropped",
        "adapters/slack/blocks.py",
        "(r.phone, r.email)",
        "(r.email,)",
        ("tests/test_what_people_see.py", "tests/test_slack.py"),
        "every phone number disappears from Slack messages, 999 and 101 included",
    ),
    Mutation(
        "union-link-worded-for-reporter",
        "conversation/school_flow.py",
        "worded=None if school.union.note else generic.worded,",
        "worded=None,",
        ("tests/test_what_people_see.py", "tests/test_school.py"),
        "a union link without a note tells the handler 'Your own union representative'",
    ),
    Mutation(
        "control-characters-in-names",
        "conversation/school.py",
        "    if not _printable(value):\n        at.fail(",
        "    if False:\n        at.fail(",
        ("tests/test_school_file_safety.py", "tests/test_school.py"),
        "line breaks and control characters in school-file names are accepted",
    ),
    Mutation(
        "uninstall-by-prefix",
        "conversation/storage/keys.py",
        'return f"{_glob(self.prefix)}:{{{platform}:{_glob(workspace)}:*"',
        'return f"{_glob(self.prefix)}:{{{platform}:{_glob(workspace)}*"',
        ("tests/test_slack_install.py", "tests/test_survivors.py"),
        "uninstalling T1 deletes the conversations of T12 too",
    ),
    Mutation(
        "uninstall-timers-by-prefix",
        "conversation/storage/timers.py",
        'pattern = f"* {_glob(platform)}:{_glob(workspace)}:*"',
        'pattern = f"* {_glob(platform)}:{_glob(workspace)}*"',
        ("tests/test_slack_install.py", "tests/test_survivors.py"),
        "uninstalling T1 cancels the reminders of T12's reports too",
    ),
    Mutation(
        "retry-window-in-milliseconds",
        "conversation/storage/store.py",
        "if at and tonumber(at) > now - window * 1000 then",
        "if at and tonumber(at) > now - window then",
        ("tests/test_store.py", "tests/test_survivors.py"),
        "the 15-minute retry window shrinks below a second: a retry 2 s later answered twice",
    ),
    Mutation(
        "leads-list-never-expires",
        "conversation/storage/cases.py",
        "            await self.redis.expire(key, self.ttl)\n\n    async def unpoint",
        "\n    async def unpoint",
        ("tests/test_telling.py", "tests/test_survivors.py"),
        "the lead's list of reports is kept for ever",
    ),
    Mutation(
        "slack-checklist-without-999",
        "adapters/slack/blocks.py",
        "    blocks += [DividerBlock(), _section(_mrkdwn(g.footer))]",
        "    blocks += [DividerBlock()]",
        ("tests/test_what_people_see.py", "tests/test_slack.py"),
        "the Slack checklist loses its closing 'call 999' line",
    ),
    Mutation(
        "flow-without-999",
        "conversation/flow.toml",
        'danger = "If anyone is in immediate danger, call **999**."',
        'danger = "If anyone is in immediate danger, get help."',
        ("tests/test_what_people_see.py", "tests/test_flow.py"),
        "the flowchart's closing line no longer says to call 999",
    ),
    Mutation(
        "stale-draw-over-withdrawal",
        "conversation/telling/telling.py",
        "            latest = await self.cases.get(reporter)\n",
        "            return Turn(Outcome.ACTED, ())\n",
        ("tests/test_lead_slack.py", "tests/test_lead_teams.py"),
        "an acknowledgement drawn before a withdrawal lands after it: the report looks live",
    ),
    # --- issue 25: findings whose fixes the tests must keep --------------------------------
    Mutation(
        "teams-names-unescaped",
        "adapters/teams/cards.py",
        '_UNSAFE_IN_NAMES = frozenset("<>[]\\\\`&")',
        '_UNSAFE_IN_NAMES = frozenset("")',
        ("tests/test_escaping.py",),
        "a Teams display name closes the mention and adds a link in the lead's card",
    ),
    Mutation(
        "slack-unescaped",
        "adapters/slack/blocks.py",
        'return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")',
        'return text.replace("&", "&amp;")',
        ("tests/test_escaping.py",),
        "a school value such as <!channel> notifies everyone",
    ),
    Mutation(
        "install-page-frameable",
        "adapters/slack/install.py",
        '    "X-Frame-Options": "DENY",\n',
        "",
        ("tests/test_slack_install.py",),
        "the install pages can be framed by another site",
    ),
)


def _copy(into: Path) -> Path:
    """The checkout as it is on disk, without git's data or caches; the card renderer's
    node_modules linked, not copied."""
    ignore = shutil.ignore_patterns(
        ".git", "__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis", "node_modules"
    )
    target = into / "repo"
    shutil.copytree(ROOT, target, ignore=ignore, symlinks=True)
    modules = ROOT / "tests" / "cards" / "node_modules"
    if modules.is_dir():
        (target / "tests" / "cards" / "node_modules").symlink_to(modules)
    return target


def _plant(copy: Path, m: Mutation) -> None:
    path = copy / m.file
    text = path.read_text()
    found = text.count(m.original)
    if found != 1:
        raise LookupError(f"{m.name}: its text is in {m.file} {found} times, not once")
    path.write_text(text.replace(m.original, m.replacement))


def _pytest(copy: Path, tests: tuple[str, ...]) -> tuple[int, str]:
    """pytest's exit status on `tests` in `copy`, and the first test that failed."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-x",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
            *tests,
        ],
        cwd=copy,
        capture_output=True,
        text=True,
    )
    failed = next((line for line in done.stdout.splitlines() if line.startswith("FAILED")), "")
    return done.returncode, failed.removeprefix("FAILED ")


def baseline(chosen: list[Mutation]) -> bool:
    """Whether every test the mutations name passes with no mutation: else "caught" would
    mean nothing."""
    tests = tuple(dict.fromkeys(t for m in chosen for t in m.tests))
    with tempfile.TemporaryDirectory(prefix="mutation-none-") as tmp:
        status, failed = _pytest(_copy(Path(tmp)), tests)
    if status:
        print(f"without any mutation the tests fail ({status}): {failed}", file=sys.stderr)
    return status == 0


def run(m: Mutation) -> tuple[str, float]:
    """'caught', 'survived', 'stale' (its text is not in the file once) or 'error N' (pytest
    could not run the tests); and the seconds taken."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"mutation-{m.name}-") as tmp:
        copy = _copy(Path(tmp))
        try:
            _plant(copy, m)
        except LookupError as exc:
            print(exc, file=sys.stderr)
            return "stale", time.monotonic() - started
        status, failed = _pytest(copy, m.tests)
    # 1: a test failed. Anything else but 0 (no such file, no tests, an error in pytest)
    # says nothing about the mutation.
    result = {0: "survived", 1: f"caught by {failed}"}.get(status, f"error {status}")
    return result, time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--list", action="store_true", help="list the mutations and stop")
    parser.add_argument(
        "--no-baseline", action="store_true", help="skip the run without any mutation"
    )
    parser.add_argument("names", nargs="*", help="only these mutations")
    args = parser.parse_args(argv)
    by_name = {m.name: m for m in MUTATIONS}
    if unknown := [n for n in args.names if n not in by_name]:
        parser.error(f"no such mutation: {', '.join(unknown)}")
    chosen = [by_name[n] for n in args.names] if args.names else list(MUTATIONS)
    if args.list:
        for m in chosen:
            print(f"{m.name:34} {m.file:34} {m.bug}")
        return 0
    if not args.no_baseline and not baseline(chosen):
        return 2
    bad = 0
    for m in chosen:
        result, took = run(m)
        bad += not result.startswith("caught")
        print(f"{m.name:34} {took:4.0f} s  {result}", flush=True)
    print(f"{len(chosen) - bad} of {len(chosen)} caught")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
