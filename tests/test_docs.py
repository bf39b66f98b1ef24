"""The README and docs/ hold together: every relative link names a file that exists, and
every `#anchor` a heading in it (the README was split into docs/, and links rot quietly)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\((?!https?:|mailto:)([^)#\s]*)(?:#([^)\s]+))?\)")


def anchors(page: Path) -> set[str]:
    """GitHub's anchors for a page's headings."""
    heads = re.findall(r"(?m)^#+ (.+)$", page.read_text())
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in heads}


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_every_link_and_anchor_resolves(page: Path) -> None:
    broken = []
    for target, anchor in LINK.findall(page.read_text()):
        linked = (page.parent / target).resolve() if target else page
        if not linked.exists():
            broken.append(target)
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target}#{anchor}")
    assert not broken, f"{page.name}: {broken}"


def test_the_readme_is_short_and_says_where_to_go() -> None:
    """Read in five minutes: the two commands, then the admin's path, then where to go."""
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) < 150
    assert readme.index("## Quick start") < readme.index("docs/admin-guide.md") < 1500
    assert readme.index("## Where to go next") < 3000
