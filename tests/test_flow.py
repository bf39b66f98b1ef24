"""The flow data: the SPEC's resources are all there, and a broken file fails clearly."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from conversation import flow

FLOW = flow.load()
SPEC_LINKS = {
    "education_support": (
        "https://www.educationsupport.org.uk/get-help/help-for-you/helpline/",
        "08000 562 561",
    ),
    "npcc": ("https://www.npcc.police.uk/", ""),
    "police_uk": ("https://www.police.uk/pu/contact-the-police/report-a-crime-incident/", "101"),
    "ofcom": ("https://www.ofcom.org.uk/", ""),
    "swgfl": (
        "https://swgfl.co.uk/resources/how-to-respond-to-the-online-sexual-harassment-of-school/college-staff/",
        "",
    ),
    "report_harmful_content": ("https://reportharmfulcontent.com/", ""),
    "posh": ("https://saferinternet.org.uk/professionals-online-safety-helpline", "0344 381 4772"),
}


@pytest.mark.parametrize(("rid", "expected"), SPEC_LINKS.items())
def test_every_resource_the_spec_names_is_linked_with_its_number(rid: str, expected) -> None:
    url, phone = expected
    resource = FLOW.resources[rid]
    assert resource.url == url and phone in resource.phone and resource.description
    used = {r.id for s in FLOW.steps for r in (*s.links, *(x for o in s.options for x in o.links))}
    assert rid in used


def test_the_school_specific_supports_are_there_to_configure() -> None:
    assert {"eap", "union"} <= set(FLOW.resources)
    # and the support step (the flowchart's initial response) points to them
    linked = {r.id for r in FLOW.step("support").links}
    assert {"eap", "union", "education_support"} <= linked


def _toml(v) -> str:
    """Enough of a TOML writer for the flow file: JSON scalars, inline tables and arrays."""
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_toml(x)}" for k, x in v.items()) + " }"
    if isinstance(v, list):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    return json.dumps(v)


def _broken(tmp_path: Path, change) -> Path:
    raw = tomllib.loads(flow.DEFAULT_FLOW.read_text())
    change(raw)
    path = tmp_path / "flow.toml"
    path.write_text("\n".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in raw.items()))
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r["steps"][2].update(links=["nowhere"]), "unknown resources"),
        (lambda r: r["steps"][4].update(ask_if={"types": ["calls"]}), "not an earlier step"),
        (lambda r: r["steps"][4].update(ask_if={"perpetrator": ["aliens"]}), "no options"),
        (lambda r: r["steps"][3]["options"][0].update(guidance={"affected": "x"}), "exactly"),
        (lambda r: r["steps"].pop(), "final"),
        (lambda r: r["steps"][1]["options"].pop(), "role"),
        (lambda r: r["steps"][3]["options"][1].update(words=["staff"]), "names two options"),
        (lambda r: r["steps"][3]["options"][1].update(id="Pupil!"), "lower-case"),
        (lambda r: r["notices"].pop("help"), "notices"),
        # a surface may word things its own way, never change what is asked or decided
        (lambda r: r["surfaces"]["terminal"].update(resources={}), "may only word"),
        (lambda r: r["surfaces"]["terminal"]["steps"].update(nowhere={}), "unknown"),
        (
            lambda r: r["surfaces"]["slack"]["steps"]["summary"].update(ask_if={}),
            "more than its words",
        ),
        (
            lambda r: r["surfaces"]["terminal"]["steps"]["summary"].update(
                options={"resend": {"label": "x", "guidance": "y"}}
            ),
            "only relabel",
        ),
        (lambda r: r["surfaces"]["teams"]["notices"].update(hello="x"), "unknown notices"),
        (lambda r: r["surfaces"]["teams"]["notices"].update(help=7), "must all be text"),
        # a typo is refused, not ignored: the key it meant would silently be missing
        (lambda r: r.update(titel="x"), r"the file: unknown key \['titel'\]"),
        (lambda r: r["checklist"].update(intor="x"), r"\[checklist\]: unknown key"),
        (lambda r: r["steps"][2].update(ask_iff={}), r"step 'support': unknown key \['ask_iff'\]"),
        (lambda r: r["steps"][3]["options"][0].update(lable="x"), "option 'staff': unknown key"),
        (lambda r: r["steps"][2]["text"][0].update(wen={}), "a paragraph: unknown key"),
        (lambda r: r["resources"]["npcc"].update(link="x"), r"\[resources.npcc\]: unknown key"),
        # a link shown to staff is https, never one a network could rewrite
        (
            lambda r: r["resources"]["npcc"].update(url="http://www.npcc.police.uk/"),
            r"\[resources.npcc\]: url must be an https:// address",
        ),
    ],
)
def test_a_broken_flow_file_fails_at_start_up_saying_where(tmp_path: Path, change, message) -> None:
    path = _broken(tmp_path, change)
    with pytest.raises(flow.FlowError, match=message) as raised:
        flow.load(path)
    assert str(raised.value).startswith(f"{path}: ") and "\n" not in str(raised.value)


def test_a_flow_file_that_is_not_toml_is_one_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "flow.toml"
    path.write_text("title = \n")
    with pytest.raises(flow.FlowError, match=rf"^{path}: not valid TOML"):
        flow.load(path)
