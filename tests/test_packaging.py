"""What an admin installs: the wheel, the container image, compose.yaml and .env.example.

The settings `.env.example` must list are found by reading the code (every environment
read in `bot/`, `adapters/` and `conversation/`), so a new setting without an entry fails
here. The image is built only where a container engine's daemon answers; elsewhere the test
is skipped and says why.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from bot.config import Settings

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "adapters", "conversation")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
VERSION = PYPROJECT["project"]["version"]
ENTRY = re.compile(r"^(?:#\s*)?([A-Za-z][A-Za-z0-9_]*)=")
"""An entry of .env.example: `NAME=value`, or `# NAME=value` for one that is off."""


# --- the settings the code reads ------------------------------------------------------------


def _env_reads(tree: ast.AST) -> tuple[set[str], list[int]]:
    """Names read from an environment mapping in one module, and the lines of reads whose
    name is not written there (a loop over names: listed in `_dynamic_names`). A helper's
    read of a name it was given, `env.get(name)`, counts at its callers, `_list(env, "X")`."""
    names: set[str] = set()
    dynamic: list[int] = []

    def is_env(node: ast.AST) -> bool:
        return (isinstance(node, ast.Name) and node.id in ("env", "environ")) or (
            isinstance(node, ast.Attribute) and node.attr == "environ"
        )

    def named(arg: ast.AST, line: int, params: set[str]) -> None:
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            names.add(arg.value)
        elif not (isinstance(arg, ast.Name) and arg.id in params):
            dynamic.append(line)

    def visit(node: ast.AST, params: set[str]) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            params = {a.arg for a in (*node.args.posonlyargs, *node.args.args)}
        if isinstance(node, ast.Call):
            func = node.func
            reads = isinstance(func, ast.Attribute) and (
                (func.attr == "get" and is_env(func.value)) or func.attr == "getenv"
            )
            if reads and node.args:
                named(node.args[0], node.lineno, params)
            for first, second in zip(node.args, node.args[1:], strict=False):
                if is_env(first) and isinstance(second, ast.Constant):
                    named(second, node.lineno, params)
        elif (
            isinstance(node, ast.Subscript)
            and isinstance(node.ctx, ast.Load)
            and is_env(node.value)
        ):
            named(node.slice, node.lineno, params)
        for child in ast.iter_child_nodes(node):
            visit(child, params)

    visit(tree, set())
    return names, dynamic


def _dynamic_names() -> dict[str, set[str]]:
    """Modules that read settings by looping over names kept in a table of their own."""
    from bot.teams_package import DEVELOPER_DEFAULTS

    return {"bot/teams_package.py": set(DEVELOPER_DEFAULTS)}


def settings_read_by_code() -> set[str]:
    found: set[str] = set()
    known = _dynamic_names()
    unexplained = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            names, dynamic = _env_reads(ast.parse(path.read_text(), rel))
            found |= names
            if dynamic and rel in known:
                found |= known[rel]
            elif dynamic:
                unexplained += [f"{rel}:{line}" for line in dynamic]
    assert not unexplained, (
        f"settings read by a name this test cannot see: {unexplained}; "
        "add the module's names to _dynamic_names"
    )
    return found


def env_example() -> list[str]:
    return (ROOT / ".env.example").read_text().splitlines()


def listed_settings() -> set[str]:
    return {m[1] for line in env_example() if (m := ENTRY.match(line))}


def test_the_scan_finds_settings_of_every_kind() -> None:
    """Direct reads, helpers given a name, os.environ, and a table of names looped over."""
    found = settings_read_by_code()
    assert {
        "REDIS_URL",  # env.get, and os.environ.get in bot/local_redis.py
        "CASE_TTL_DAYS",  # _positive_int(env, ...)
        "TEAMS_ALLOWED_TENANTS",  # _list(env, ...)
        "MicrosoftAppId",
        "SCHOOL_CONFIG",  # conversation/school.py
        "PORT",  # bot/__main__.py
        "TEAMS_PRIVACY_URL",  # looped over in bot/teams_package.py
    } <= found
    # Set by the code for slack_sdk, never read from the admin.
    assert "SLACKCLIENT_SKIP_DEPRECATION" not in found


def test_env_example_lists_every_setting_the_code_reads() -> None:
    missing = settings_read_by_code() - listed_settings()
    assert not missing, f".env.example has no entry for {sorted(missing)}"


def test_env_example_lists_nothing_the_code_does_not_read() -> None:
    stale = listed_settings() - settings_read_by_code()
    assert not stale, f".env.example lists settings nothing reads: {sorted(stale)}"


def test_every_entry_in_env_example_is_explained_by_a_comment() -> None:
    """Each entry's paragraph (the lines since the last blank one) has a comment of its own."""
    paragraph: list[str] = []
    unexplained = []
    for line in env_example():
        if not line.strip():
            paragraph = []
            continue
        if (m := ENTRY.match(line)) and not any(
            p.startswith("#") and not ENTRY.match(p) for p in paragraph
        ):
            unexplained.append(m[1])
        paragraph.append(line)
    assert not unexplained, f"entries with no comment: {unexplained}"


def test_env_example_as_shipped_is_valid_and_turns_nothing_on() -> None:
    """Copied to .env unedited (compose fills in REDIS_URL), it is read without an error, and
    no platform is on until the admin fills one in."""
    env = {}
    for line in env_example():
        if not line.startswith("#") and "=" in line:
            name, _, value = line.partition("=")
            env[name] = value
    env["REDIS_URL"] = env["REDIS_URL"] or "redis://redis:6379/0"
    settings = Settings.from_env(env)
    assert settings.slack is None and settings.teams is None
    assert settings.ttl_days == 30 and settings.case_ttl_days == 90


# --- compose.yaml -----------------------------------------------------------------------------


def _scalar(text: str) -> object:
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        return [_scalar(x) for x in text[1:-1].split(",") if x.strip()]
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return text


def _read_yaml(text: str) -> object:
    """The block mappings, block lists and flow lists compose.yaml uses (PyYAML, when it is
    installed, reads the whole language)."""
    try:
        import yaml
    except ImportError:
        pass
    else:
        return yaml.safe_load(text)
    lines = []
    for raw in text.splitlines():
        stripped = raw.split(" #")[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if stripped.strip():
            lines.append((len(stripped) - len(stripped.lstrip()), stripped.strip()))

    def block(i: int, indent: int) -> tuple[object, int]:
        if lines[i][1].startswith("- "):
            items = []
            while i < len(lines) and lines[i][0] == indent and lines[i][1].startswith("- "):
                items.append(_scalar(lines[i][1][2:]))
                i += 1
            return items, i
        mapping: dict[str, object] = {}
        while i < len(lines) and lines[i][0] == indent:
            key, _, rest = lines[i][1].partition(":")
            i += 1
            if rest.strip():
                mapping[_scalar(key)] = _scalar(rest)
            elif i < len(lines) and lines[i][0] > indent:
                mapping[_scalar(key)], i = block(i, lines[i][0])
            else:
                mapping[_scalar(key)] = None
        return mapping, i

    return block(0, 0)[0]


def test_compose_runs_the_bot_with_a_persistent_redis_and_an_optional_tls_proxy() -> None:
    compose = _read_yaml((ROOT / "compose.yaml").read_text())
    assert isinstance(compose, dict)
    services, volumes = compose["services"], compose["volumes"]
    bot, redis, caddy = services["bot"], services["redis"], services["caddy"]

    assert bot["build"] == "." and bot["env_file"] == ".env"
    assert bot["image"] == f"staff-harassment-bot:{VERSION}"
    assert bot["environment"]["REDIS_URL"] == "${REDIS_URL:-redis://redis:6379/0}"
    assert bot["depends_on"]["redis"]["condition"] == "service_healthy"
    assert "profiles" not in bot and "profiles" not in redis

    assert re.fullmatch(r"redis:7(\.\d+)*", redis["image"])
    command = redis["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    mounts = dict(v.split(":", 1) for v in redis["volumes"])
    assert mounts["redis-data"] == "/data" and "redis-data" in volumes

    assert caddy["profiles"] == ["tls"]
    caddy_mounts = dict(v.split(":", 1) for v in caddy["volumes"])
    assert caddy_mounts["./deploy/Caddyfile"] == "/etc/caddy/Caddyfile:ro"
    assert (ROOT / "deploy" / "Caddyfile").is_file() and (ROOT / "deploy" / "nginx.conf").is_file()
    for service in services.values():
        for mount in service.get("volumes", []):
            source = mount.split(":", 1)[0]
            assert source.startswith(".") or source in volumes, f"undeclared volume {source}"


# --- the version ------------------------------------------------------------------------------


def test_version_is_pyprojects_and_has_a_changelog_entry() -> None:
    import bot

    assert bot.SOURCE_VERSION == VERSION
    run = subprocess.run(
        [sys.executable, "-m", "bot", "--version"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout == f"staff-harassment-bot {VERSION}\n"
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert re.search(rf"^## \[{re.escape(VERSION)}\] - \d{{4}}-\d{{2}}-\d{{2}}$", changelog, re.M)


# --- the wheel --------------------------------------------------------------------------------


def _runtime_data_files() -> set[str]:
    """Every file of the three packages that is not Python source: what they read at run time."""
    return {
        p.relative_to(ROOT).as_posix()
        for package in PACKAGES
        for p in (ROOT / package).rglob("*")
        if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts
    }


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from a copy of this checkout (a build in place would leave an
    egg-info behind, whose version then shadows the package's)."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "node_modules", "__pycache__", ".*_cache", ".data", "*.egg-info"
        ),
    )
    out = tmp / "dist"
    tried = []
    for isolation in ([], ["--no-build-isolation"]):
        build = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "-w", out, source],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if build.returncode == 0:
            return next(out.glob("*.whl"))
        tried.append(build.stderr.strip().splitlines()[-1:])
    pytest.skip(f"pip could not build a wheel here (offline, or setuptools too old): {tried}")


def test_the_wheel_ships_the_runtime_and_its_data_only(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    dist_info = f"staff_harassment_bot-{VERSION}.dist-info"
    assert wheel.name.startswith(f"staff_harassment_bot-{VERSION}-")
    assert {n.split("/")[0] for n in names} == {*PACKAGES, dist_info}
    assert not [n for n in names if re.search(r"(^|/)(bench|tests|drivers)/", n)]
    assert _runtime_data_files() <= set(names)
    assert {"conversation/flow.toml", "conversation/telling/wording.toml"} <= set(names)
    assert {f"{dist_info}/licenses/LICENSE", f"{dist_info}/licenses/NOTICE"} <= set(names)
    metadata = zipfile.ZipFile(wheel).read(f"{dist_info}/METADATA").decode()
    assert "License-Expression: MIT" in metadata and "License-File: NOTICE" in metadata


def test_the_installed_wheel_says_its_version_and_reads_its_flow(
    wheel: Path, tmp_path: Path
) -> None:
    """From the wheel alone (not this checkout): the version is the wheel's, and the flow's
    data files load from inside the package."""
    installed = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(installed)
    env = {**os.environ, "PYTHONPATH": str(installed)}

    def python(*args: str) -> subprocess.CompletedProcess:
        """This Python, outside the checkout, seeing only the unpacked wheel."""
        return subprocess.run(
            [sys.executable, *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    version = python("-m", "bot", "--version")
    assert version.stdout == f"staff-harassment-bot {VERSION}\n", version.stderr
    where = python("-c", "import bot, conversation; print(bot.__file__, conversation.__file__)")
    assert where.stdout.split() == [
        str(installed / "bot" / "__init__.py"),
        str(installed / "conversation" / "__init__.py"),
    ]
    flow = python("-m", "bot", "diagram")
    assert flow.returncode == 0 and "welcome --> role" in flow.stdout, flow.stderr


# --- the container image ------------------------------------------------------------------


def _container_engine() -> str | None:
    """docker or podman, if its daemon (or podman's own service) answers."""
    for engine in ("docker", "podman"):
        if shutil.which(engine):
            info = subprocess.run([engine, "info"], capture_output=True, timeout=30)
            if info.returncode == 0:
                return engine
    return None


def test_the_image_builds_and_runs_as_a_non_root_user() -> None:
    engine = _container_engine()
    if engine is None:
        found = [e for e in ("docker", "podman") if shutil.which(e)]
        why = f"{' and '.join(found)} installed but no daemon answers `info`" if found else ""
        pytest.skip(f"no container engine to build the image with ({why or 'none installed'})")
    tag = f"staff-harassment-bot:test-{os.getpid()}"
    build = subprocess.run(
        [engine, "build", "-t", tag, str(ROOT)], capture_output=True, text=True, timeout=1200
    )
    assert build.returncode == 0, build.stderr[-3000:]
    try:

        def run(*command: str) -> str:
            done = subprocess.run(
                [engine, "run", "--rm", tag, *command], capture_output=True, text=True, timeout=120
            )
            assert done.returncode == 0, done.stderr
            return done.stdout

        assert run("python", "-m", "bot", "--version") == f"staff-harassment-bot {VERSION}\n"
        assert run("id", "-u").strip() == "10001"
        # Only the wheel is installed: no checkout, tests or benchmark in the image.
        assert run("ls", "-A", "/data").strip() == ""
        assert run("python", "-c", "import importlib.util as u; print(u.find_spec('bench'))") == (
            "None\n"
        )
    finally:
        subprocess.run([engine, "rmi", "-f", tag], capture_output=True, timeout=120)
