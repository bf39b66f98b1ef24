"""Where the store is and how it is kept: `REDIS_URL`'s forms, secrets kept out of errors,
the embedded store private to its account, and a user's delivery set bounded."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import ConfigError, Settings
from bot.redis_url import parse, redact
from conversation.messages import UserKey
from conversation.storage import Duplicate, Store
from conversation.storage.store import MAX_DELIVERIES

ROOT = Path(__file__).resolve().parents[1]
ME = UserKey("test", "school", "flood")


def test_cluster_and_sentinel_urls_name_their_nodes_and_service() -> None:
    cluster = parse("rediss+cluster://bot:p%40ss@10.0.0.1:7000,10.0.0.2:7001")
    assert cluster.kind == "cluster" and cluster.tls
    assert cluster.nodes == (("10.0.0.1", 7000), ("10.0.0.2", 7001))
    assert (cluster.username, cluster.password) == ("bot", "p@ss")
    sentinel = parse("redis+sentinel://:pw@s1:26379,s2:26379,[::1]:26380/mymaster/2")
    assert sentinel.kind == "sentinel" and not sentinel.tls
    assert sentinel.nodes == (("s1", 26379), ("s2", 26379), ("::1", 26380))
    assert (sentinel.service, sentinel.db, sentinel.password) == ("mymaster", 2, "pw")
    for plain in ("redis://h:6379/3", "rediss://h", "unix:///run/redis.sock"):
        assert parse(plain).kind == "single"
        assert Settings.from_env({"REDIS_URL": plain}).redis_url == plain


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://h:1", "must start with"),
        ("redis+cluster://h:1/2", "only database 0"),
        ("redis+cluster://h", "host:port"),
        ("redis+cluster://h:1,:2", "host:port"),
        ("redis+sentinel://h:1", "service"),
        ("redis+sentinel://h:1/svc/x", "number"),
        ("redis+sentinel://h:1/svc?password=hunter2", "no query"),
    ],
)
def test_a_malformed_url_is_refused_by_name_with_its_secrets_hidden(url: str, says: str) -> None:
    secret = "hunter2"
    url = url.replace("://", f"://bot:{secret}@", 1) if "?" not in url else url
    with pytest.raises(ConfigError) as error:
        Settings.from_env({"REDIS_URL": url})
    assert says in str(error.value) and "REDIS_URL" in str(error.value)
    assert secret not in str(error.value)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://host:1/8?password=hunter2", "redis://host:1/8?password=***"),
        ("redis://:hunter2@host:1/0", "redis://:***@host:1/0"),
        ("redis://u:hun/ter?2@host:1/0", "redis://u:***@host:1/0"),
        ("unix:///tmp/r.sock?db=1&password=hunter2", "unix:///tmp/r.sock?db=***&password=***"),
        ("redis+cluster://u:hunter2@a:1,b:2", "redis+cluster://u:***@a:1,b:2"),
        ("redis://host:1/0", "redis://host:1/0"),
    ],
)
def test_redaction_hides_passwords_in_the_user_part_and_the_query(url: str, shown: str) -> None:
    assert redact(url) == shown


def test_an_unreachable_redis_with_a_password_in_the_query_does_not_print_it() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "BOT_DATA_DIR")}
    done = subprocess.run(
        [sys.executable, "-m", "bot", "chat"],
        env={**env, "REDIS_URL": "redis://127.0.0.1:1/8?password=hunter2"},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == "error: cannot reach Redis at redis://127.0.0.1:1/8?password=***"


def test_the_embedded_store_is_readable_by_its_own_account_only(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "BOT_DATA_DIR")}
    done = subprocess.run(
        [sys.executable, "-m", "bot", "chat", "--user", "u"],
        env={**env, "BOT_DATA_DIR": str(data)},
        input="1\n1\n",
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    files = [p for p in data.rglob("*") if p.is_file()]
    assert any("appendonly" in p.name or p.suffix == ".aof" for p in files), files
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    for path in data.rglob("*"):
        mode = stat.S_IMODE(path.stat().st_mode)
        if path.is_dir():
            assert mode == 0o700, path
        elif path.is_file():
            assert mode == 0o600, (path, oct(mode))


def test_an_existing_open_folder_is_made_private(tmp_path: Path) -> None:
    from bot.redis_connection import private

    data = tmp_path / "old"
    data.mkdir(mode=0o755)
    (data / "appendonly.aof").write_text("")
    (data / "appendonly.aof").chmod(0o644)
    private(data)
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE((data / "appendonly.aof").stat().st_mode) == 0o600


async def test_a_flood_of_deliveries_for_one_user_keeps_only_the_newest(store: Store) -> None:
    """2,000 deliveries once left 2,000 entries; now the set stays at its cap, and the
    newest are the ones still recognised as retries."""
    progress = None
    for n in range(MAX_DELIVERIES + 50):
        committed = await store.commit(ME, progress, "unchanged", delivery=f"Ev{n}")
        progress = committed.progress
        assert committed.applied
    key = store.keys.seen(ME)
    assert await store.redis.zcard(key) == MAX_DELIVERIES
    with pytest.raises(Duplicate):
        await store.commit(ME, progress, "unchanged", delivery=f"Ev{MAX_DELIVERIES + 49}")
    with pytest.raises(Duplicate):
        await store.commit(ME, progress, "unchanged", delivery="Ev50")
    assert await store.redis.zscore(key, "Ev49") is None
