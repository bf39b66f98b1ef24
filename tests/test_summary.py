"""The governors' summary outside the chat: England's terms, the school file's `[school.summary]`,
`python -m bot summary`, and the key that seals reference numbers at rest."""

from __future__ import annotations

import stat
import tomllib
import uuid
from datetime import date, datetime
from pathlib import Path

import pytest
import redis as sync_redis

from bot.__main__ import main as cli
from bot.config import ConfigError, Settings
from bot.keyfile import KEY_FILE, sealing_keys
from conversation import school, summary, terms
from conversation.dates import ZONE
from conversation.storage import Cipher, Tally

from .school_files import LEADS_SCHOOL

# --- terms ----------------------------------------------------------------------------------------


def at(*when: int) -> int:
    return int(datetime(*when, tzinfo=ZONE).timestamp())


def test_terms_tile_the_year_from_their_usual_ends() -> None:
    autumn = terms.term_of(at(2026, 10, 5, 9))
    assert (autumn.name, autumn.after, autumn.last) == (
        "autumn-2026",
        date(2026, 7, 31),
        date(2026, 12, 31),
    )
    spring = terms.term_of(at(2027, 1, 10))
    assert (spring.name, spring.last) == ("spring-2027", date(2027, 3, 25))  # Easter: 28 March
    assert terms.term_of(at(2027, 3, 26)).name == "summer-2027"
    assert terms.term_of(at(2027, 8, 1)).name == "autumn-2027"
    assert autumn.closes_at == at(2027, 1, 1)  # midnight after its last day, UK time


def test_a_schools_closures_and_set_dates_end_its_terms() -> None:
    closures = [
        (date(2026, 12, 21), date(2027, 1, 4)),  # Christmas
        (date(2027, 2, 15), date(2027, 2, 19)),  # half term: too short to end a term
        (date(2027, 3, 29), date(2027, 4, 9)),  # Easter
        (date(2027, 7, 23), date(2027, 9, 1)),  # summer
    ]
    assert terms.term("autumn-2026", closures=closures).last == date(2026, 12, 20)
    assert terms.term_of(at(2026, 12, 25), closures=closures).name == "spring-2027"
    assert terms.term("spring-2027", closures=closures).last == date(2027, 3, 28)
    assert terms.term("summer-2027", closures=closures).last == date(2027, 7, 22)
    set_ends = {"autumn-2026": date(2026, 12, 18)}
    assert terms.term("autumn-2026", set_ends, closures).last == date(2026, 12, 18)
    assert terms.term("spring-2027", set_ends, closures).after == date(2026, 12, 18)
    with pytest.raises(terms.BadTerm, match="autumn-YYYY"):
        terms.term("winter-2026")


def test_the_school_file_names_the_governor_the_keeping_and_the_term_dates() -> None:
    raw = LEADS_SCHOOL + (
        '\n[school.summary]\ngovernor = "Gwen Governor"\nkeep_days = 365\n'
        "terms = { autumn-2026 = 2026-12-18 }\n"
    )
    oak = school.parse(tomllib.loads(raw), "school.toml").default
    assert oak is not None and oak.summary == school.Summary(
        "Gwen Governor", 365, {"autumn-2026": date(2026, 12, 18)}
    )
    for bad, said in (
        ('governor = "Nobody"', "school.summary.governor: must be the name of a governor"),
        ("keep_days = -1", "school.summary.keep_days: must be a whole number"),
        ("terms = { autumn-2026 = 18 }", "school.summary.terms.autumn-2026: must be the term's"),
        ("colour = 1", "school.summary.colour: unknown key"),
    ):
        with pytest.raises(school.SchoolError, match="^school.toml: " + said.split(":")[0]) as e:
            school.parse(tomllib.loads(f"{LEADS_SCHOOL}\n[school.summary]\n{bad}\n"), "school.toml")
        assert said in str(e.value) and "\n" not in str(e.value)


# --- the summary's text ---------------------------------------------------------------------------


def test_every_count_under_five_says_fewer_than_five_and_times_need_five() -> None:
    from conversation import flow

    term = terms.term("autumn-2026")
    four = Tally({"sent": 4, "k:calls": 4, "acked": 4}, (60, 120, 180, 240))
    text = summary.text(four, None, term, flow.load())
    assert "Reports sent to the person who leads: fewer than 5" in text
    assert "- Abusive phone calls: fewer than 5" in text and ": 4" not in text
    assert "not shown, as fewer than 5 were acknowledged" in text and "minute" not in text
    five = Tally({"sent": 5, "k:calls": 5, "acked": 5}, (60, 120, 180, 240, 90_000))
    text = summary.text(five, None, term, flow.load())
    assert "Reports sent to the person who leads: 5" in text
    assert "median 3 minutes, longest 1 day 1 hour (5 acknowledged)" in text


# --- python -m bot summary ------------------------------------------------------------------------


def test_the_cli_prints_a_schools_summary(
    redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    team = "T0SUM" + uuid.uuid4().hex[:8].upper()
    path = tmp_path / "school.toml"
    path.write_text(f'[schools.{team}]\nname = "Summary School"\n')
    monkeypatch.setenv("SCHOOL_CONFIG", str(path))
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("BOT_DATA_DIR", str(tmp_path / "data"))
    key = f"hb:{{stats:{team}:spring-2027}}"
    r = sync_redis.Redis.from_url(redis_url)
    try:
        r.hset(key, mapping={"sent": 7, "p:parent": 6, "p:pupil": 1, "done": 1})
        assert cli(["summary", "--term", "spring-2027", "--school", team]) == 0
        out = capsys.readouterr().out
        assert "School: Summary School" in out and "Reports sent to the person who leads: 7" in out
        assert "- A parent or carer: 6" in out and "- A pupil: fewer than 5" in out
        assert "Still open (not every step done, not withdrawn): 6" in out
        assert cli(["summary", "--term", "spring-27", "--school", team]) == 2
        assert cli(["summary", "--term", "spring-2027", "--school", "T0OTHER"]) == 2
        err = capsys.readouterr().err.strip().split("\n")
        assert err == [
            "error: --term: 'spring-27' is not a term: use autumn-YYYY, spring-YYYY or summer-YYYY",
            f"error: --school T0OTHER: {path} has no [schools.T0OTHER] table",
        ]
    finally:
        r.delete(key)
        r.close()


# --- the key sealing reference numbers ------------------------------------------------------------


def test_the_reference_key_is_kept_in_the_data_dir_unless_one_is_set(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    (key,) = sealing_keys(settings)
    kept = tmp_path / "data" / KEY_FILE
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o700
    sealed = Cipher((key,)).seal(b"12/3456/26")
    assert Cipher(sealing_keys(settings)).open(sealed) == b"12/3456/26"  # after a restart

    given = Settings.from_env({"TOKEN_ENCRYPTION_KEY": key, "BOT_DATA_DIR": str(tmp_path / "o")})
    assert sealing_keys(given) == (key,) and not (tmp_path / "o").exists()
    with pytest.raises(ConfigError, match=r"^TOKEN_ENCRYPTION_KEY: key 1 is not a Fernet key"):
        Settings.from_env({"TOKEN_ENCRYPTION_KEY": "not-a-key"})
    kept.write_text("scribbled over\n")
    with pytest.raises(ConfigError, match=f"^{kept} is not a Fernet key: delete it"):
        sealing_keys(settings)


def test_check_config_says_a_school_without_an_id_never_gets_its_summary_sent() -> None:
    from bot.check_config import omissions

    raw = '[school]\nname = "Oak"\n[[school.governors]]\nname = "Gwen"\nslack = "U0GOV"\n'
    raw += '[school.summary]\ngovernor = "Gwen"\n'
    oak = school.parse(tomllib.loads(raw), "school.toml").default
    assert oak is not None and oak.summary.governor
    assert any("termly summary is never sent" in line for line in omissions(oak))
    with_id = school.parse(tomllib.loads(raw.replace("[school", "[schools.T0OAK")), "s.toml")
    (own,) = with_id.all()
    assert not any("never sent" in line for line in omissions(own))
