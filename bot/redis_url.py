"""`REDIS_URL` read into what it names: one server, a Redis Cluster, or a Sentinel set.

Plain `redis://`, `rediss://` and `unix://` URLs are redis-py's own and are handed to it
as they are. Cluster and Sentinel have no URL form in redis-py, so this project gives
them one, with several `host:port` seeds in one URL:

    redis+cluster://[user:password@]host:port[,host:port...]
    redis+sentinel://[user:password@]host:port[,host:port...]/service_name[/db]

(`rediss+` for TLS.) Every error names the URL with its secrets hidden.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

PLAIN = ("redis", "rediss", "unix")
CLUSTER = ("redis+cluster", "rediss+cluster")
SENTINEL = ("redis+sentinel", "rediss+sentinel")


@dataclass(frozen=True, slots=True)
class RedisTarget:
    """Where the store is. `url` is the whole URL for a single server, else unused."""

    kind: Literal["single", "cluster", "sentinel"]
    url: str
    nodes: tuple[tuple[str, int], ...] = ()
    username: str | None = None
    password: str | None = None
    tls: bool = False
    service: str = ""
    db: int = 0


def parse(url: str) -> RedisTarget:
    """What `url` names; ValueError, with the URL's secrets hidden, if it names nothing."""
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme in PLAIN:
        return RedisTarget("single", url)
    if scheme not in CLUSTER + SENTINEL:
        raise ValueError(
            "REDIS_URL must start with redis://, rediss://, unix://, redis+cluster://, "
            f"rediss+cluster://, redis+sentinel:// or rediss+sentinel://, got {redact(url)}"
        )
    userinfo, _, rest = url.partition("://")[2].rpartition("@")
    hosts, _, tail = rest.partition("/")
    path, _, query = tail.partition("?")
    if query or "?" in hosts:
        raise ValueError(f"REDIS_URL takes no query parameters here: {redact(url)}")
    username, _, password = userinfo.partition(":")
    nodes = tuple(_node(part, url) for part in hosts.split(","))
    kind: Literal["cluster", "sentinel"] = "cluster" if scheme in CLUSTER else "sentinel"
    target = RedisTarget(
        kind,
        url,
        nodes,
        username=unquote(username) or None,
        password=unquote(password) or None,
        tls=scheme.startswith("rediss"),
    )
    parts = [p for p in path.split("/") if p]
    if kind == "cluster":
        if parts not in ([], ["0"]):
            raise ValueError(f"REDIS_URL: a cluster has only database 0: {redact(url)}")
        return target
    if not parts or len(parts) > 2:
        raise ValueError(
            f"REDIS_URL must name the Sentinel service, as .../service_name: {redact(url)}"
        )
    db = parts[1] if len(parts) == 2 else "0"
    if not db.isdigit():
        raise ValueError(f"REDIS_URL: the database must be a number: {redact(url)}")
    return RedisTarget(
        kind,
        url,
        nodes,
        target.username,
        target.password,
        target.tls,
        service=unquote(parts[0]),
        db=int(db),
    )


def _node(part: str, url: str) -> tuple[str, int]:
    try:
        split = urlsplit(f"//{part}")
        host, port = split.hostname, split.port
    except ValueError:
        host = port = None
    if not host or not port:
        raise ValueError(f"REDIS_URL: each node must be host:port, got {redact(url)}")
    return host, port


def redact(url: str) -> str:
    """The URL without its password or any query value, fit for an error message."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "***" if "@" in url or "?" in url else url
    userinfo, at, rest = rest.rpartition("@")  # a password may hold "/", "?" or "@"
    if ":" in userinfo:
        userinfo = userinfo.partition(":")[0] + ":***"
    rest, qmark, query = rest.partition("?")
    if qmark:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(name, "***") for name, _ in pairs], safe="*")
    return f"{scheme}://{userinfo}{at}{rest}{qmark}{query}"
