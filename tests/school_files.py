"""School files for the tests: two schools side by side, and one mistake per kind."""

from __future__ import annotations

import tomllib
from pathlib import Path

from conversation import school

BIRCH_TENANT = "7c0a4e2b-1d3f-4a5b-8c9d-0e1f2a3b4c5d"
ALDER_TENANT = "3f2e1d0c-9b8a-4765-a4b3-c2d1e0f9a8b7"
TWO_SCHOOLS = f"""
[school]
name = "Alder Academy"

[school.eap]
name = "Alder Wellbeing Line"
phone = "0800 111 2222"
url = "https://alder.example.org/eap"
hours = "weekdays 8am to 8pm"

[school.union]
note = "Alder's union reps meet staff on Tuesdays in room 4."

[school.policies]
staff_code_of_conduct = "https://alder.example.org/policies/staff-code"
behaviour_policy = "https://alder.example.org/policies/behaviour"
parental_code_of_conduct = "https://alder.example.org/policies/parental-code"
home_school_agreement = "https://alder.example.org/policies/home-school"
social_media_policy = "https://alder.example.org/policies/social-media"
anti_bullying_and_harassment = "https://alder.example.org/policies/anti-bullying"

[[school.leads]]
name = "Lee Leader"
role = "Assistant head"
slack = "U0LEADALDER"
email = "lee@alder.example.org"

[[school.governors]]
name = "Gwen Governor"
role = "Chair of governors"
teams = "0a0a0a0a-1b1b-4c2c-8d3d-4e4e4e4e4e4e"
phone = "01632 960001"

[schools.T0BIRCH]
name = "Birch Primary"
also = ["{BIRCH_TENANT.upper()}"]

[schools.T0BIRCH.policies]
behaviour_policy = "https://birch.example.org/behaviour"

[[schools.T0BIRCH.leads]]
name = "Bea Birchlead"
role = "Headteacher"
teams = "5b5b5b5b-6c6c-4d7d-8e8e-9f9f9f9f9f9f"

[[schools.T0BIRCH.governors]]
name = "Gus Birchgov"
role = "Trustee"
email = "gus@birch.example.org"
"""


def write(tmp: Path, text: str = TWO_SCHOOLS, name: str = "school.toml") -> Path:
    path = tmp / name
    path.write_text(text)
    return path


def two_schools() -> school.Schools:
    return school.parse(tomllib.loads(TWO_SCHOOLS), "school.toml")


def words_of(s: school.School) -> list[str]:
    """Every detail of a school that a user of another school must never see."""
    people = [*s.leads, *s.governors]
    found = [s.name, *s.policies.values(), *(p.name for p in people)]
    if s.eap:
        found += [s.eap.name, s.eap.phone]
    if s.union and s.union.note:
        found.append(s.union.note)
    return found
