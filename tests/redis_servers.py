"""Real Redis Cluster and Sentinel sets on loopback, from the `redis-server` binary.

Each server runs in its own temporary folder on a free port and is always stopped
afterwards. Failover is made quick (a cluster node is failed after 1 s unanswered, a
Sentinel master after 1 s), and every replica is started with no diskless-sync delay and
waited for until its link to the master is up: Redis 7 otherwise delays a replica's
first sync by 5 s, and a replica that never synced is never promoted.

Ports are picked below the kernel's ephemeral range, so that no outgoing connection (this
machine runs several test sessions at once) can be given one between picking and binding; a
server that still finds its port taken exits at once, and is started again on new ports.
The waits for a cluster to form are generous: they bound a failure, and a loaded two-core
machine can take many seconds to do what an idle one does in one.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.crc import key_slot
from redis.retry import Retry

from bot.local_redis import wait_until_answers

NODE_TIMEOUT_MS = 1000
"""cluster-node-timeout and Sentinel's down-after-milliseconds."""

COMMON = [
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "no",
    "--repl-diskless-sync-delay",
    "0",
    "--protected-mode",
    "no",
]


SETTLE_SECONDS = 60.0
"""At most this long for a cluster to form or a Sentinel set to settle."""

START_TRIES = 5
"""Servers started on new ports after finding theirs taken, before giving up."""


def ephemeral_low() -> int:
    """The lowest port the kernel hands outgoing connections."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A loopback port free now, below the ephemeral range (see the module's docstring)."""
    high = ephemeral_low() - 1
    while True:
        port = random.randint(max(1024, high - 12_000), high)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port


class Exited(AssertionError):
    """A server exited while starting (its port was taken, most often)."""


def wait_for(check: Callable[[], bool], what: str, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        with contextlib.suppress(redis.RedisError, OSError):
            if check():
                return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


async def await_for(check: Callable[[], bool], what: str, seconds: float = 20.0) -> float:
    """Like `wait_for` without blocking the event loop; returns the seconds it took."""
    started = time.monotonic()
    while True:
        with contextlib.suppress(redis.RedisError, OSError):
            if await asyncio.to_thread(check):
                return time.monotonic() - started
        if time.monotonic() - started > seconds:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@dataclass
class Server:
    """One redis-server (or Sentinel) process, which a test may kill and start again."""

    port: int
    folder: Path
    args: list[str]
    proc: subprocess.Popen | None = None
    bus: int = 0
    """A cluster node's bus port."""

    def start(self) -> None:
        """Start and wait until it answers; `Exited` at once if it exits meanwhile."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / "log", "ab") as log:
            proc = self.proc = subprocess.Popen(
                ["redis-server", *self.args], cwd=self.folder, stdout=log, stderr=log
            )

        def answers() -> bool:
            """Ours answers: not another server that holds the port (its process id)."""
            if proc.poll() is not None:
                tail = (self.folder / "log").read_text(errors="replace").splitlines()[-3:]
                raise Exited(f"redis on {self.port} exited: {' / '.join(tail)}")
            with redis.Redis(port=self.port, socket_timeout=0.5, retry=Retry(NoBackoff(), 0)) as r:
                return r.info("server")["process_id"] == proc.pid

        wait_for(answers, f"redis on {self.port}", 30)

    def kill(self) -> None:
        """SIGKILL: the server dies at once, as in a crash, with nothing flushed."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=1, single_connection_client=True)

    def info(self, section: str) -> dict:
        with self.client() as r:
            return r.info(section)

    @property
    def name(self) -> str:
        return f"127.0.0.1:{self.port}"


def started(make: Callable[[], Server]) -> Server:
    """A server from `make` (which picks new ports each call), started, trying new ports
    when the ones picked were taken meanwhile."""
    for attempt in range(START_TRIES):
        server = make()
        try:
            server.start()
            return server
        except Exited:
            server.stop()
            if attempt == START_TRIES - 1:
                raise
    raise AssertionError("unreachable")


def _replica_synced(server: Server) -> bool:
    info = server.info("replication")
    return info["role"] == "slave" and info.get("master_link_status") == "up"


# --- a cluster of three masters, one replica each --------------------------------------------


@dataclass
class Cluster:
    servers: list[Server]
    url: str = ""
    masters_at_start: list[Server] = field(default_factory=list)

    def server(self, name: str) -> Server:
        return next(s for s in self.servers if s.name == name)

    def nodes(self, via: Server | None = None, known: bool = False) -> list[dict]:
        """CLUSTER NODES as one live server sees them (`known`: leaving out nodes it is still
        shaking hands with, which it lists under a made-up id)."""
        via = via or next(s for s in self.servers if s.alive)
        with via.client() as r:
            parsed = r.execute_command("CLUSTER NODES")  # redis-py parses it into a dict
        return [
            {
                "id": node["node_id"],
                "name": address,
                "flags": set(node["flags"].split(",")),
                "master": node["master_id"],
                "slots": [(int(s[0]), int(s[-1])) for s in node["slots"]],
            }
            for address, node in parsed.items()
            if not (known and {"handshake", "noaddr"} & set(node["flags"].split(",")))
        ]

    def masters(self) -> list[Server]:
        """The live servers serving slots as masters now."""
        return [
            self.server(n["name"])
            for n in self.nodes()
            if "master" in n["flags"] and "fail" not in n["flags"] and n["slots"]
            if self.server(n["name"]).alive
        ]

    def replica_of(self, master: Server) -> Server:
        nodes = self.nodes()
        (master_id,) = [n["id"] for n in nodes if n["name"] == master.name]
        (replica,) = [n["name"] for n in nodes if n["master"] == master_id]
        return self.server(replica)

    def master_for_slot(self, slot: int) -> Server | None:
        for node in self.nodes():
            if "master" not in node["flags"] or "fail" in node["flags"]:
                continue
            if any(low <= slot <= high for low, high in node["slots"]):
                return self.server(node["name"])
        return None

    def healthy(self) -> bool:
        """Every slot served by a live master, every live node agreeing (on which node
        replicates which, too), every replica synced."""
        live = [s for s in self.servers if s.alive]
        views = []
        for server in live:
            with server.client() as r:
                if r.execute_command("CLUSTER INFO")["cluster_state"] != "ok":
                    return False
            nodes = self.nodes(server)
            failed = [n for n in nodes if n["flags"] & {"fail", "fail?"}]
            if failed and all(s.alive for s in self.servers):
                return False
            views.append({n["name"]: n["master"] for n in nodes if "slave" in n["flags"]})
        replicas = [s for s in live if s.info("replication")["role"] == "slave"]
        if any(set(view) != {s.name for s in replicas} or view != views[0] for view in views):
            return False
        return all(_replica_synced(s) for s in replicas)

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


def _cluster_node(folder: Path, node_timeout_ms: int) -> Server:
    port, bus = free_port(), free_port()
    args = [
        "--port",
        str(port),
        *COMMON,
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        "nodes.conf",
        "--cluster-port",  # the bus, else port + 10000, which may not exist or be free
        str(bus),
        "--cluster-node-timeout",
        str(node_timeout_ms),
        # a replica may always be promoted, however long since it heard its master
        "--cluster-replica-validity-factor",
        "0",
    ]
    return Server(port, folder / f"node-{port}", args, bus=bus)


@contextlib.contextmanager
def redis_cluster(
    folder: Path, masters: int = 3, node_timeout_ms: int = NODE_TIMEOUT_MS
) -> Iterator[Cluster]:
    """Three masters with a replica each, slots split evenly, all synced and agreed."""
    cluster = Cluster([])
    servers = cluster.servers
    try:
        for _ in range(masters * 2):
            servers.append(started(lambda: _cluster_node(folder, node_timeout_ms)))
        primaries, replicas = servers[:masters], servers[masters:]
        span = 16384 // masters
        for i, server in enumerate(primaries):
            high = 16383 if i == masters - 1 else (i + 1) * span - 1
            with server.client() as r:
                r.execute_command("CLUSTER ADDSLOTSRANGE", i * span, high)
        with servers[0].client() as r:
            for server in servers[1:]:
                r.execute_command("CLUSTER MEET", "127.0.0.1", server.port, server.bus)
        wait_for(
            lambda: all(len(cluster.nodes(s, known=True)) == len(servers) for s in servers),
            "every node to know every other",
            SETTLE_SECONDS,
        )
        ids = {n["name"]: n["id"] for n in cluster.nodes()}
        for primary, replica in zip(primaries, replicas, strict=True):
            with replica.client() as r:
                wait_for(
                    lambda r=r, primary=primary: r.execute_command(
                        "CLUSTER REPLICATE", ids[primary.name]
                    ),
                    f"{replica.name} to replicate {primary.name}",
                )
        wait_for(
            cluster.healthy, "the cluster to be whole and every replica synced", SETTLE_SECONDS
        )
        # A write on every master, so that each replica has an offset and is listed in
        # CLUSTER SLOTS (Redis leaves out a replica at offset 0).
        for i, server in enumerate(primaries):
            with server.client() as r:
                tag = next(
                    t
                    for t in range(10_000)
                    if span * i <= key_slot(f"{t}".encode()) < span * (i + 1)
                )
                r.set(f"warm:{{{tag}}}", 1)
        cluster.masters_at_start = primaries
        cluster.url = "redis+cluster://" + ",".join(s.name for s in servers[:2])
        yield cluster
    finally:
        cluster.stop()


# --- a master, a replica and three Sentinels ---------------------------------------------------

SERVICE = "mymaster"


@dataclass
class SentinelSet:
    data: list[Server]
    sentinels: list[Server]
    url: str = ""

    def master_address(self) -> str:
        """The master's address as a live Sentinel names it now."""
        for sentinel in self.sentinels:
            if sentinel.alive:
                with sentinel.client() as r:
                    host, port = r.execute_command("SENTINEL GET-MASTER-ADDR-BY-NAME", SERVICE)
                host = host.decode() if isinstance(host, bytes) else host
                return f"{host}:{int(port)}"
        raise AssertionError("no Sentinel alive")

    def master(self) -> Server:
        return next(s for s in self.data if s.name == self.master_address())

    def settled(self) -> bool:
        """Every Sentinel knows the master, its replica and the two other Sentinels, they
        agree on the master, it is a master, and the replica has synced."""
        names = set()
        for sentinel in self.sentinels:
            with sentinel.client() as r:
                fields = r.execute_command("SENTINEL MASTER", SERVICE)  # parsed by redis-py
            if fields["num-slaves"] < 1 or fields["num-other-sentinels"] < 2:
                return False
            if fields["flags"] != "master":
                return False
            names.add(f"{fields['ip']}:{fields['port']}")
        if len(names) != 1:
            return False
        (name,) = names
        master = next(s for s in self.data if s.name == name)
        if master.info("replication")["role"] != "master":
            return False
        return all(_replica_synced(s) for s in self.data if s is not master and s.alive)

    def stop(self) -> None:
        for server in (*self.sentinels, *self.data):
            server.stop()


@contextlib.contextmanager
def sentinel_set(folder: Path) -> Iterator[SentinelSet]:
    group = SentinelSet([], [])

    def data(name: str, *args: str) -> Callable[[], Server]:
        def make() -> Server:
            port = free_port()
            return Server(port, folder / f"{name}-{port}", ["--port", str(port), *COMMON, *args])

        return make

    def sentinel() -> Server:
        port = free_port()
        home = folder / f"sentinel-{port}"
        home.mkdir(parents=True, exist_ok=True)
        (home / "sentinel.conf").write_text(
            f"port {port}\nbind 127.0.0.1\nprotected-mode no\n"
            f"sentinel monitor {SERVICE} 127.0.0.1 {master.port} 2\n"
            f"sentinel down-after-milliseconds {SERVICE} {NODE_TIMEOUT_MS}\n"
            f"sentinel failover-timeout {SERVICE} 2000\n"
            f"sentinel parallel-syncs {SERVICE} 1\n"
        )
        return Server(port, home, ["sentinel.conf", "--sentinel"])

    try:
        master = started(data("master"))
        group.data.append(master)
        replica = started(data("replica", "--replicaof", "127.0.0.1", str(master.port)))
        group.data.append(replica)
        wait_for(lambda: _replica_synced(replica), "the replica to sync", SETTLE_SECONDS)
        for _ in range(3):
            group.sentinels.append(started(sentinel))
        wait_for(
            group.settled,
            "the Sentinels to know the master, replica and each other",
            SETTLE_SECONDS,
        )
        group.url = "redis+sentinel://" + ",".join(s.name for s in group.sentinels) + f"/{SERVICE}"
        yield group
    finally:
        group.stop()


class RedisProcess:
    """A real redis-server with its append-only file on, which a test can stop and start."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.port = folder, free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.folder),
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ],
            stdout=subprocess.DEVNULL,
        )
        wait_until_answers(self.url)

    def stop(self) -> None:
        assert self.proc is not None
        self.proc.terminate()
        self.proc.wait(10)
