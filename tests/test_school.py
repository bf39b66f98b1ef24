"""The school file as an admin meets it: the example loads, each school is found by its
workspace or tenant id, every kind of mistake stops start-up with one line, and
`check-config` shows what staff will see."""

from __future__ import annotations

from pathlib import Path

import pytest

from conversation import school

from .helpers import run_bot as run
from .school_files import ALDER_TENANT, BIRCH_TENANT, two_schools, write

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "school.example.toml"
LEAD = '[[school.leads]]\nname = "Pat Secretname"\nemail = "pat@example.org"\n'


# --- the example, and finding a user's school ------------------------------------------


def test_the_example_file_is_valid_and_holds_every_kind_of_detail() -> None:
    schools = school.load(EXAMPLE)
    (example,) = schools.all()
    assert example is schools.default and example.name == "Example Academy"
    assert example.eap and example.eap.phone and example.eap.hours and example.eap.url
    assert example.union and example.union.note
    assert set(example.policies) == set(school.POLICIES)
    assert example.leads[0].slack and example.leads[0].teams and example.leads[0].email
    assert example.governors and example.who_leads(True) == example.governors
    assert example.who_leads(False) == example.leads


def test_a_user_gets_their_workspace_s_school_else_the_default_else_none() -> None:
    schools = two_schools()
    birch = schools.by_id["T0BIRCH"]
    assert schools.for_workspace("T0BIRCH") is birch
    assert schools.for_workspace(BIRCH_TENANT) is birch  # Teams sends tenant ids lower case
    assert schools.for_workspace(BIRCH_TENANT.upper()) is birch
    assert schools.for_workspace("T0OTHER") is schools.default
    assert schools.for_workspace(ALDER_TENANT) is schools.default
    alone = school.parse({"schools": {"T0BIRCH": {"name": "Birch"}}})
    assert alone.for_workspace("T0OTHER") is None and alone.default is None
    assert [s.name for s in schools.all()] == ["Alder Academy", "Birch Primary"]


def test_unset_means_no_schools() -> None:
    assert not school.from_env({})
    assert school.from_env({}).for_workspace("T0ANY") is None


# --- one line per mistake ----------------------------------------------------------------

MISTAKES = {
    "unknown key": (
        '[school]\nname = "A"\nmotto = "Learning together"\n',
        "school.motto: unknown key",
    ),
    "unknown key in a table": (
        '[school]\nname = "A"\n[school.eap]\nname = "E"\nfax = "0800 1"\n',
        "school.eap.fax: unknown key",
    ),
    "unknown policy": (
        '[school]\nname = "A"\n[school.policies]\nuniform = "https://example.org/u"\n',
        "school.policies.uniform: unknown key",
    ),
    "wrong type": ("[school]\nname = 1234\n", "school.name: must be text in quotes, got a number"),
    "leads as one table": (
        '[school]\nname = "A"\n[school.leads]\nname = "Pat Secretname"\n',
        "school.leads: must be a list of tables ([[leads]]), got a table",
    ),
    "a URL that is not https": (
        '[school]\nname = "A"\n[school.policies]\n'
        'behaviour_policy = "http://example.org/secret-path"\n',
        "school.policies.behaviour_policy: must be an https:// address",
    ),
    "a URL with no host": (
        '[school]\nname = "A"\n[school.eap]\nname = "E"\nurl = "https://"\n',
        "school.eap.url: is not a web address",
    ),
    "a phone with letters": (
        '[school]\nname = "A"\n[school.eap]\nname = "E"\nphone = "0800 SECRET"\n',
        "school.eap.phone: must be a phone number",
    ),
    "a lead with no way to reach them": (
        '[school]\nname = "A"\n[[school.leads]]\nname = "Pat Secretname"\nrole = "Head"\n',
        "school.leads[0]: has no way to reach them",
    ),
    "a bad Slack user id": (
        '[school]\nname = "A"\n' + LEAD + 'slack = "pat.secretname"\n',
        "school.leads[0].slack: must be a Slack user id",
    ),
    "a bad Entra object id": (
        '[school]\nname = "A"\n' + LEAD.replace("leads", "governors") + 'teams = "pat"\n',
        "school.governors[0].teams: must be an Entra object id",
    ),
    "a bad email": (
        '[school]\nname = "A"\n[[school.leads]]\nname = "Pat Secretname"\nemail = "pat"\n',
        "school.leads[0].email: must be an email address",
    ),
    "a name missing": ('[school.eap]\nname = "E"\n', "school.name: is required"),
    "empty text": ('[school]\nname = "  "\n', "school.name: must not be empty"),
    "a bad school id": (
        '[schools.our-school]\nname = "A"\n',
        "schools.our-school: 'our-school' is neither a Slack team id",
    ),
    "one id for two schools": (
        f'[schools.T0ONE]\nname = "A"\nalso = ["{BIRCH_TENANT}"]\n'
        f'[schools.T0TWO]\nname = "B"\nalso = ["{BIRCH_TENANT.upper()}"]\n',
        f"schools.T0TWO.also: {BIRCH_TENANT} is already given to [schools.T0ONE]",
    ),
    "also on the default": (
        '[school]\nname = "A"\nalso = ["T0ONE"]\n',
        "school.also: unknown key",
    ),
    "nothing in the file": ("", "has neither a [school] table nor any [schools.<id>] tables"),
    "not TOML": ('[school]\nname = "A\n', "not valid TOML"),
}
SECRETS = ("Pat Secretname", "SECRET", "secret-path", "pat.secretname")


@pytest.mark.parametrize("kind", MISTAKES)
def test_each_kind_of_mistake_is_one_line_naming_file_and_key(tmp_path: Path, kind: str) -> None:
    text, expected = MISTAKES[kind]
    path = write(tmp_path, text)
    with pytest.raises(school.SchoolError) as caught:
        school.load(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and expected in message and "\n" not in message
    for secret in SECRETS:
        assert secret not in message  # a start-up error lands in the logs: never a value


@pytest.mark.parametrize("kind", MISTAKES)
@pytest.mark.parametrize(
    "command", [("check-config",), ("chat",), ("serve", "--port", "1")], ids=lambda c: c[0]
)
def test_start_up_stops_with_exit_2_and_the_one_line(
    tmp_path: Path, kind: str, command: tuple[str, ...]
) -> None:
    text, expected = MISTAKES[kind]
    path = write(tmp_path, text)
    done = run(*command, env={"SCHOOL_CONFIG": str(path)})
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"error: {path}: ") and expected in done.stderr
    assert len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr
    assert done.stdout == ""


def test_a_missing_file_is_one_line_too(tmp_path: Path) -> None:
    done = run("serve", env={"SCHOOL_CONFIG": str(tmp_path / "nope.toml")})
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"error: SCHOOL_CONFIG: cannot read {tmp_path / 'nope.toml'}: No such file or directory"
    )


# --- check-config -----------------------------------------------------------------------------


def test_check_config_shows_the_example_s_details_where_staff_will_see_them() -> None:
    done = run("check-config", env={"SCHOOL_CONFIG": str(EXAMPLE)})
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith(f"{EXAMPLE}: valid, 1 school.")
    expect = [
        "Welcome, question: This guide is set up for staff at Example Academy.",
        "Support, question and checklist: Health Assured (employee assistance programme)",
        "0800 000 0000",
        "Open 24 hours a day, 7 days a week.",
        "Union reps for NEU",
        'Relevant policy, checklist if "A member of staff": Staff behaviour policy or code '
        "of conduct: Example Academy's own copy. · https://example.org/policies/staff-code",
        'Relevant policy, checklist if "A parent or carer": Social media policy',
        "Bullying or harassment criteria, question and checklist: Anti-bullying",
        "Who leads the investigation, question: At Example Academy, the nominated lead is "
        "Jo Bloggs (Deputy headteacher, j.bloggs@example.org).",
        'Who leads the investigation, checklist if "Yes": At Example Academy, that is '
        "Sam Patel (Chair of governors, chair@example.org).",
    ]
    for line in expect:
        assert line in out, line
    report, _, serve = out.partition("What serve would warn of:")
    assert "warning" not in report  # the example forgets nothing
    # but it is the example: serve would warn that staff would see it, and check-config says so
    assert (
        f"warning: {EXAMPLE}: [school] still has school.example.toml's details "
        "(Example Academy, example.org): staff would see them" in serve
    )
    assert "U0123ABCD" not in out  # platform ids are for reaching people, never shown


def test_check_config_warns_about_what_an_admin_probably_forgot(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[school]\nname = "Oak"\n[school.eap]\nname = "Oak EAP"\n'
        '[[school.leads]]\nname = "Only Email"\nemail = "o@oak.example.org"\n',
    )
    done = run("check-config", env={"SCHOOL_CONFIG": str(path)})
    assert done.returncode == 0, done.stderr
    report = done.stdout.partition("What serve would warn of:")[0]
    warnings = [line.strip() for line in report.splitlines() if "warning:" in line]
    assert warnings == [
        "warning: the EAP has no phone number",
        "warning: no [union] note: staff get the generic union wording",
        "warning: no [[governors]]: nobody is named for when the head or lead is affected",
        "warning: leads[0] (Only Email) is reachable on neither Slack nor Teams "
        "(no slack or teams id)",
        "warning: policies named by the flowchart but not linked: " + ", ".join(school.POLICIES),
    ]
    bare = write(tmp_path, '[school]\nname = "Elm"\n', "bare.toml")
    out = run("check-config", env={"SCHOOL_CONFIG": str(bare)}).stdout
    assert "warning: no [eap]" in out and "warning: no [[leads]]" in out


def test_check_config_for_one_school_and_for_an_id_without_one(tmp_path: Path) -> None:
    env = {"SCHOOL_CONFIG": str(write(tmp_path))}
    birch = run("check-config", "--school", "T0BIRCH", env=env).stdout
    header = (
        f"[schools.T0BIRCH] Birch Primary: Slack workspace or Teams tenant T0BIRCH, {BIRCH_TENANT}"
    )
    assert header in birch
    assert "Bea Birchlead" in birch and "Alder" not in birch
    # An id `chat --school` refuses is refused here too, in the same words.
    other = run("check-config", "--school", "T0NOTHERE", env=env)
    chat = run("chat", "--school", "T0NOTHERE", env=env)
    assert other.returncode == chat.returncode == 2 and other.stdout == ""
    refused = f"--school T0NOTHERE: {tmp_path / 'school.toml'} has no [schools.T0NOTHERE] table"
    assert other.stderr == chat.stderr == f"error: {refused}\n"
    # A tenant id in capitals is the same tenant, for both.
    assert run("check-config", "--school", BIRCH_TENANT.upper(), env=env).returncode == 0
    unset = run("check-config", env={})
    assert unset.returncode == 0, unset.stderr
    assert "SCHOOL_CONFIG is not set: every school's staff get the flowchart's generic" in (
        unset.stdout
    )


# --- the terminal chat --------------------------------------------------------------------------

TO_THE_LEAD = "1\n2\n1\n3\n3\n3\n"  # start, handling, continue, a parent, not sure, not now


def test_chat_with_school_talks_as_staff_of_that_school(
    tmp_path: Path, redis, redis_url: str, prefix: str
) -> None:
    env = {"SCHOOL_CONFIG": str(write(tmp_path)), "REDIS_URL": redis_url}
    to_the_end = TO_THE_LEAD + "2\n4\n"  # the head is affected; something else
    birch = run("chat", "--user", prefix, "--school", "T0BIRCH", env=env, stdin=to_the_end)
    assert birch.returncode == 0, birch.stderr
    assert "staff at Birch Primary" in birch.stdout
    assert "the nominated lead is Bea Birchlead (Headteacher)" in birch.stdout
    assert "At Birch Primary, that is Gus Birchgov (Trustee, gus@birch.example.org)" in (
        birch.stdout
    )
    assert "the school office or HR has the details" in birch.stdout  # Birch has no EAP
    assert "Alder" not in birch.stdout
    alder = run("chat", "--user", prefix + "a", env=env, stdin=TO_THE_LEAD)
    assert "staff at Alder Academy" in alder.stdout and "Alder Wellbeing Line" in alder.stdout
    assert "Birch" not in alder.stdout
    unknown = run("chat", "--school", "T0NOTHERE", env=env)
    assert unknown.returncode == 2
    assert unknown.stderr.strip() == (
        f"error: --school T0NOTHERE: {tmp_path / 'school.toml'} has no [schools.T0NOTHERE] table"
    )


def test_the_schools_travel_to_serve_workers_intact() -> None:
    """`serve --workers N` hands the settings to each process by pickling them."""
    import pickle

    from bot.config import Settings

    settings = Settings.from_env({"SCHOOL_CONFIG": str(EXAMPLE)})
    copy = pickle.loads(pickle.dumps(settings))
    assert copy.schools == settings.schools and copy.schools.default.name == "Example Academy"
