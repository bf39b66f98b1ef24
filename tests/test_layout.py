"""The tests' own structure: no test module imports another (what tests share lives in
tests/drivers, tests/helpers and the other modules not named test_*), so that a test file can
be changed or deleted without breaking a second one."""

from __future__ import annotations

import ast
from pathlib import Path

HERE = Path(__file__).parent


def test_no_test_module_imports_another() -> None:
    found = []
    for path in sorted(HERE.glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and (node.level or node.module == "tests"):
                names = [node.module or "", *(a.name for a in node.names)]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tests."):
                names = [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names if a.name.startswith("tests.")]
            for name in names:
                if name.rpartition(".")[2].startswith("test_"):
                    found.append(f"{path.name} imports {name}")
    assert not found, found
