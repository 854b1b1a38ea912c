"""Test servers started from nothing on loopback: a 3-node MariaDB Galera cluster and a
PostgreSQL primary with a streaming hot standby. Stopped by PID; nothing is left behind.

Callers: ``tests/cluster/conftest.py`` (session-scoped fixtures) and ``bench`` scenario C.
What it leaves out: anything but loopback, TLS, and tuning beyond small buffers.

Galera notes, as found on this machine: the nodes run as root (as the ``mysql`` user, the
Galera library fails to set its thread priority here); rsync state transfer then runs its
daemon as ``nobody``, so the joiners' data directories are made writable to it. Instead of
a full state transfer, the first node is initialised and bootstrapped once, stopped cleanly,
and its data directory copied to the two others, which then join with an incremental
transfer. Short failure timeouts (suspect 2 s) make a killed node leave the cluster in about
3 s. PostgreSQL: ``initdb`` and ``pg_basebackup -R`` as the ``postgres`` user; the pair runs
with synchronous replication when asked (``synchronous=True``), so that a commit the primary
acknowledged is on the standby too (a failover then loses nothing).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["GaleraCluster", "PostgresPair", "galera_available", "postgres_pair_available"]

GALERA_LIB = "/usr/lib/galera/libgalera_smm.so"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
_STREAMING = "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"


def galera_available() -> str | None:
    """None when a Galera cluster can be started here, else why not."""
    for need in (GALERA_LIB, shutil.which("mariadbd"), shutil.which("mariadb-install-db")):
        if not need or not Path(need).exists():
            return f"Galera cannot run here: {need or 'mariadbd'} is missing"
    if os.geteuid() != 0:
        return "Galera test nodes run as root here"
    return None


def postgres_pair_available() -> str | None:
    """None when a PostgreSQL primary/standby pair can be started here, else why not."""
    if not (PG_BIN / "initdb").exists():
        return f"PostgreSQL server binaries are not in {PG_BIN}"
    if os.geteuid() != 0:
        return "the PostgreSQL pair is started as the postgres user (needs root)"
    return None


def _wait(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not happen within {seconds:g} s")


def _run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)  # type: ignore[call-overload, no-any-return]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@dataclass
class _Node:
    index: int
    port: int
    base: int  # gcomm port; IST and SST use base + 1 and base + 2
    home: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mysql://root@127.0.0.1:{self.port}/test"

    @property
    def cnf(self) -> Path:
        return self.home / "my.cnf"


@dataclass
class GaleraCluster:
    """Three MariaDB Galera nodes on loopback ports from ``first_port`` (default 3321..3323)."""

    size: int = 3
    first_port: int = 3321
    first_gcomm: int = 4621
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="ormcli-galera-")))
    nodes: list[_Node] = field(default_factory=list)

    @property
    def urls(self) -> list[str]:
        return [n.url for n in self.nodes]

    def _write_config(self, node: _Node) -> None:
        peers = ",".join(f"127.0.0.1:{n.base}" for n in self.nodes)
        options = ";".join(
            [
                f"gmcast.listen_addr=tcp://127.0.0.1:{node.base}",
                f"ist.recv_addr=127.0.0.1:{node.base + 1}",
                "evs.keepalive_period=PT0.5S",
                "evs.inactive_check_period=PT0.5S",
                "evs.suspect_timeout=PT2S",
                "evs.inactive_timeout=PT4S",
                "evs.install_timeout=PT3S",
                "gcache.size=16M",
            ]
        )
        node.cnf.write_text(
            "[mariadbd]\n"
            "user=root\n"
            f"datadir={node.home / 'data'}\n"
            f"socket={node.home / 'sock'}\n"
            f"pid-file={node.home / 'pid'}\n"
            f"port={node.port}\n"
            "bind-address=127.0.0.1\n"
            f"log-error={node.home / 'err.log'}\n"
            "innodb_buffer_pool_size=16M\n"
            "innodb_log_file_size=8M\n"
            "performance_schema=OFF\n"
            "skip-name-resolve\n"
            "binlog_format=ROW\n"
            "innodb_autoinc_lock_mode=2\n"
            "wsrep_on=ON\n"
            f"wsrep_provider={GALERA_LIB}\n"
            "wsrep_cluster_name=ormcli_test\n"
            f"wsrep_cluster_address=gcomm://{peers}\n"
            f"wsrep_node_address=127.0.0.1:{node.base}\n"
            f"wsrep_node_name=n{node.index}\n"
            "wsrep_sst_method=rsync\n"
            f"wsrep_sst_receive_address=127.0.0.1:{node.base + 2}\n"
            f'wsrep_provider_options="{options}"\n'
        )

    def _query(self, node: _Node, sql: str) -> str | None:
        try:
            out = subprocess.run(
                ["mariadb", "-h127.0.0.1", f"-P{node.port}", "-uroot", "-N", "-e", sql],
                capture_output=True,
                text=True,
                timeout=5,
            )
        except subprocess.TimeoutExpired:
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    def ready(self, node: _Node) -> bool:
        """Whether the node itself says it is ready (``wsrep_ready``: in the primary component)."""
        out = self._query(node, "SHOW STATUS LIKE 'wsrep_ready'")
        return bool(out) and out.split("\t")[-1] == "ON"

    def state(self, node: _Node) -> str | None:
        """The node's ``wsrep_local_state_comment`` (Synced, Donor/Desynced, ...), or None."""
        out = self._query(node, "SHOW STATUS LIKE 'wsrep_local_state_comment'")
        return out.split("\t")[-1] if out else None

    def _spawn(self, node: _Node, *extra: str) -> None:
        node.proc = subprocess.Popen(
            ["mariadbd", f"--defaults-file={node.cnf}", *extra],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def start(self) -> GaleraCluster:
        """Initialise, bootstrap and join every node; returns when all are Synced."""
        self.nodes = [
            _Node(i + 1, self.first_port + i, self.first_gcomm + 10 * i, self.root / f"n{i + 1}")
            for i in range(self.size)
        ]
        for node in self.nodes:
            node.home.mkdir(parents=True, exist_ok=True)
            self._write_config(node)
        first = self.nodes[0]
        _run(
            [
                "mariadb-install-db",
                "--no-defaults",
                "--user=root",
                f"--datadir={first.home / 'data'}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ]
        )
        # Bootstrap once so the data directory holds the cluster's identity, stop cleanly,
        # then give every node a copy: they join by incremental transfer, not a full one.
        self._spawn(first, "--wsrep-new-cluster")
        _wait(lambda: self.state(first) == "Synced", 30, "the first Galera node starting")
        self._query(first, "CREATE DATABASE IF NOT EXISTS test")
        self._query(first, "SHUTDOWN")
        assert first.proc is not None
        first.proc.wait(timeout=30)
        for node in self.nodes[1:]:
            shutil.copytree(first.home / "data", node.home / "data", symlinks=True)
        self.root.chmod(0o777)
        for node in self.nodes:
            for path in [node.home, *node.home.rglob("*")]:
                # (my.cnf stays 0644: the server ignores a world-writable option file)
                if path != node.cnf:
                    path.chmod(0o777 if path.is_dir() else 0o666)
        grastate = first.home / "data" / "grastate.dat"
        grastate.write_text(
            grastate.read_text().replace("safe_to_bootstrap: 0", "safe_to_bootstrap: 1")
        )
        self._spawn(first, "--wsrep-new-cluster")
        _wait(lambda: self.state(first) == "Synced", 30, "the first Galera node restarting")
        for node in self.nodes[1:]:
            self._spawn(node)
        for node in self.nodes[1:]:
            _wait(lambda n=node: self.state(n) == "Synced", 60, f"Galera node {node.index} joining")  # type: ignore[misc]
        return self

    def kill(self, index: int) -> None:
        """SIGKILL node ``index`` (1-based)."""
        node = self.nodes[index - 1]
        if node.proc is not None and node.proc.poll() is None:
            os.killpg(node.proc.pid, signal.SIGKILL)
            node.proc.wait(timeout=10)

    def cluster_size(self, index: int) -> int:
        out = self._query(self.nodes[index - 1], "SHOW STATUS LIKE 'wsrep_cluster_size'")
        return int(out.split("\t")[-1]) if out else 0

    def stop(self) -> None:
        """Kill every node by PID and remove their files."""
        for node in self.nodes:
            if node.proc is not None and node.proc.poll() is None:
                os.killpg(node.proc.pid, signal.SIGKILL)
                node.proc.wait(timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class PostgresPair:
    """A PostgreSQL 15 primary (``port``) and a streaming hot standby (``port + 1``)."""

    port: int = 5452
    synchronous: bool = False
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="ormcli-pgpair-")))

    @property
    def primary_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def standby_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port + 1}/postgres"

    def _as_postgres(self, *cmd: str) -> None:
        _run(["su", "postgres", "-c", " ".join(cmd)])

    def _pid(self, name: str) -> int | None:
        pidfile = self.root / name / "postmaster.pid"
        try:
            return int(pidfile.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def _ready(self, port: int) -> bool:
        out = subprocess.run(
            [str(PG_BIN / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port)],
            capture_output=True,
        )
        return out.returncode == 0

    def _psql(self, port: int, sql: str) -> str:
        return _run(
            ["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-tAc", sql]
        ).stdout.strip()

    def start(self) -> PostgresPair:
        shutil.chown(self.root, "postgres")
        primary, standby = self.root / "primary", self.root / "standby"
        self._as_postgres(
            str(PG_BIN / "initdb"), "-D", str(primary), "-A", "trust", "-U", "postgres", "--no-sync"
        )
        settings = [
            f"port={self.port}",
            "listen_addresses='127.0.0.1'",
            f"unix_socket_directories='{self.root}'",
            "wal_level=replica",
            "max_wal_senders=5",
            "hot_standby=on",
            "fsync=off",
            "shared_buffers=16MB",
            "wal_receiver_status_interval=1s",
        ]
        if self.synchronous:
            settings += ["synchronous_standby_names='*'", "synchronous_commit=on"]
        with (primary / "postgresql.conf").open("a") as conf:
            conf.write("\n".join(settings) + "\n")
        with (primary / "pg_hba.conf").open("a") as hba:
            hba.write("host replication all 127.0.0.1/32 trust\n")
        self._pg_ctl("primary", "start")
        self._as_postgres(
            str(PG_BIN / "pg_basebackup"),
            "-h 127.0.0.1",
            f"-p {self.port}",
            "-U postgres",
            f"-D {standby}",
            "-R",
            "-X stream",
        )
        conf = standby / "postgresql.conf"
        conf.write_text(conf.read_text().replace(f"port={self.port}", f"port={self.port + 1}"))
        self._pg_ctl("standby", "start")
        _wait(
            lambda: (
                self._psql(
                    self.port, "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"
                )
                == "1"
            ),
            30,
            "the standby streaming",
        )
        return self

    def _pg_ctl(self, name: str, action: str, *extra: str) -> None:
        log = self.root / f"{name}.log"
        self._as_postgres(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(self.root / name),
            "-l",
            str(log),
            "-w",
            action,
            *extra,
        )

    def kill_primary(self) -> None:
        """SIGKILL the primary's postmaster and its backends (a machine that died)."""
        pid = self._pid("primary")
        if pid is not None and _alive(pid):
            os.kill(pid, signal.SIGSTOP)  # no new children while its backends are killed
            subprocess.run(["pkill", "-9", "-P", str(pid)], check=False)
            os.kill(pid, signal.SIGKILL)
            _wait(lambda: not _alive(pid), 10, "the primary dying")

    def promote_standby(self) -> None:
        """Promote the standby (``pg_ctl promote``, waiting until it takes writes). It has no
        standby of its own, so a synchronous pair's setting is cleared there, as failover
        tooling does: otherwise every COMMIT on it would wait for a standby forever."""
        self._pg_ctl("standby", "promote")
        if self.synchronous:
            self._psql(self.port + 1, "ALTER SYSTEM SET synchronous_standby_names = ''")
            self._psql(self.port + 1, "SELECT pg_reload_conf()")

    def stop(self) -> None:
        """Stop both servers (immediate mode) by PID and remove their files."""
        for name in ("standby", "primary"):
            pid = self._pid(name)
            if pid is not None and _alive(pid):
                os.kill(pid, signal.SIGQUIT)
                deadline = time.monotonic() + 10
                while _alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.05)
                if _alive(pid):
                    os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.root, ignore_errors=True)
