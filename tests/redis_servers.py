"""Real Redis Cluster and Sentinel sets on loopback, from the `redis-server` binary.

Each server runs in its own temporary folder on a free port and is always stopped
afterwards. Failover is made quick (a cluster node is failed after 1 s unanswered, a
Sentinel master after 1 s), and every replica is started with no diskless-sync delay and
waited for until its link to the master is up: Redis 7 otherwise delays a replica's
first sync by 5 s, and a replica that never synced is never promoted.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import redis
from redis.crc import key_slot

from bot.local_redis import free_port

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
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / "log", "ab") as log:
            self.proc = subprocess.Popen(
                ["redis-server", *self.args], cwd=self.folder, stdout=log, stderr=log
            )
        wait_for(lambda: self.client().ping(), f"redis on {self.port}")

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

    def nodes(self, via: Server | None = None) -> list[dict]:
        """CLUSTER NODES as one live server sees them."""
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
        """Every slot served by a live master, every live node agreeing, every replica synced."""
        live = [s for s in self.servers if s.alive]
        for server in live:
            with server.client() as r:
                if r.execute_command("CLUSTER INFO")["cluster_state"] != "ok":
                    return False
            failed = [n for n in self.nodes(server) if n["flags"] & {"fail", "fail?"}]
            if failed and all(s.alive for s in self.servers):
                return False
        replicas = [s for s in live if s.info("replication")["role"] == "slave"]
        return all(_replica_synced(s) for s in replicas)

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


@contextlib.contextmanager
def redis_cluster(folder: Path, masters: int = 3) -> Iterator[Cluster]:
    """Three masters with a replica each, slots split evenly, all synced and agreed."""
    servers = []
    for i in range(masters * 2):
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
            str(NODE_TIMEOUT_MS),
            # a replica may always be promoted, however long since it heard its master
            "--cluster-replica-validity-factor",
            "0",
        ]
        servers.append(Server(port, folder / f"node{i}", args, bus=bus))
    cluster = Cluster(servers)
    try:
        for server in servers:
            server.start()
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
            lambda: all(len(cluster.nodes(s)) == len(servers) for s in servers),
            "every node to know every other",
        )
        ids = {n["name"]: n["id"] for n in cluster.nodes()}
        for primary, replica in zip(primaries, replicas, strict=True):
            with replica.client() as r:
                r.execute_command("CLUSTER REPLICATE", ids[primary.name])
        wait_for(cluster.healthy, "the cluster to be whole and every replica synced")
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
    master_port, replica_port = free_port(), free_port()
    master = Server(master_port, folder / "master", ["--port", str(master_port), *COMMON])
    replica = Server(
        replica_port,
        folder / "replica",
        ["--port", str(replica_port), *COMMON, "--replicaof", "127.0.0.1", str(master_port)],
    )
    sentinels = []
    for i in range(3):
        port = free_port()
        home = folder / f"sentinel{i}"
        home.mkdir(parents=True)
        (home / "sentinel.conf").write_text(
            f"port {port}\nbind 127.0.0.1\nprotected-mode no\n"
            f"sentinel monitor {SERVICE} 127.0.0.1 {master_port} 2\n"
            f"sentinel down-after-milliseconds {SERVICE} {NODE_TIMEOUT_MS}\n"
            f"sentinel failover-timeout {SERVICE} 2000\n"
            f"sentinel parallel-syncs {SERVICE} 1\n"
        )
        sentinels.append(Server(port, home, ["sentinel.conf", "--sentinel"]))
    group = SentinelSet([master, replica], sentinels)
    try:
        master.start()
        replica.start()
        wait_for(lambda: _replica_synced(replica), "the replica to sync")
        for sentinel in sentinels:
            sentinel.start()
        wait_for(group.settled, "the Sentinels to know the master, replica and each other", 30)
        group.url = "redis+sentinel://" + ",".join(s.name for s in sentinels) + f"/{SERVICE}"
        yield group
    finally:
        group.stop()
