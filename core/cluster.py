"""Routing between several servers of one database: a writer chosen among candidates, with
failover, and read replicas used when allowed, skipped when they lag or fail.

``Router`` has the interface of ``core.pool.Pool`` (``acquire`` / ``release`` /
``connection`` / ``peek`` / ``busy`` / ``close``), so a session holds a writer's connection
exactly as it holds a single server's, and ``read_connection()`` lends a connection for a read
that may go to a replica. One ``Pool`` per server does the pooling.

- **Writers**: the servers that may take writes, in order of preference. A new connection to
  a server of a list is asked whether the server takes writes now (``Dialect.writable_sql``:
  a PostgreSQL primary and not a hot standby; a Galera node in the primary component); a
  server that refuses the connection, or is not writable, is marked down for ``retry_after``
  seconds and the next candidate is tried. With ``balance="first"`` the first live candidate
  takes every transaction (one writer: no certification conflicts between our own sessions on
  Galera); with ``"round-robin"`` new transactions rotate over the live candidates (writes
  spread over Galera nodes). A connection lost while in use (``Connection.broken``) marks its
  server down and drops that server's idle connections: the next transaction fails over.
- **Readers**: servers that may answer reads of sessions that have not written. Each is checked
  for lag (``Dialect.replica_lag_sql``) at most every ``lag_check_interval`` seconds; one
  behind by more than ``max_replica_lag`` seconds, or of unknown lag, or down, is skipped, and
  the read goes to the next reader or, if none is fit, to a writer.
- **Causal reads** (Galera): each new connection runs ``Dialect.causal_reads_sql(level)``, so
  a read waits until the node has applied what the cluster had certified when it began.

Callers: ``core.database`` (builds it for ``Database([...])`` and ``replicas=[...]``). What it
leaves out: opening connections (the ``open(server)`` callable), deciding whether a session may
read from a replica (``core.session``), and retrying statements (a failed statement is the
caller's error; only the choice of server for the *next* one changes).
"""

from __future__ import annotations

import itertools
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from core.connection import Connection
from core.errors import ConfigurationError, DatabaseError, OrmConnectionError, PoolTimeoutError
from core.pool import Pool

__all__ = ["Router", "Server"]

BALANCES = ("first", "round-robin")


class Server:
    """One server of the list: its pool and what the router last learnt about it."""

    def __init__(self, display: str, pool: Pool) -> None:
        self.display = display
        self.pool = pool
        #: Until when (``time.monotonic()``) it is skipped, after a failure or a "not writable".
        self.down_until = 0.0
        #: Why it was last skipped (one line, for ``Router.describe``).
        self.reason = ""
        #: Replica lag in seconds as last measured (None: unknown), and when it was measured.
        self.lag: float | None = 0.0
        self.lag_checked = -1e9

    def __repr__(self) -> str:
        return f"Server({self.display!r}, down_until={self.down_until}, lag={self.lag})"

    def is_down(self, now: float) -> bool:
        return now < self.down_until


class Router:
    """The ``Pool`` interface over several servers; see the module docstring."""

    def __init__(
        self,
        writers: Sequence[Server],
        readers: Sequence[Server] = (),
        *,
        balance: str = "first",
        retry_after: float = 2.0,
        max_replica_lag: float = 5.0,
        lag_check_interval: float = 1.0,
    ) -> None:
        if not writers:
            raise ConfigurationError("a server list needs at least one server that takes writes")
        if balance not in BALANCES:
            raise ConfigurationError(
                f"balance must be one of {', '.join(map(repr, BALANCES))}, got {balance!r}"
            )
        self.writers = list(writers)
        self.readers = list(readers)
        self.balance = balance
        self.retry_after = float(retry_after)
        self.max_replica_lag = float(max_replica_lag)
        self.lag_check_interval = float(lag_check_interval)
        self.shared = False
        self._lock = threading.Lock()
        #: Which server lent each checked-out connection (so ``release`` finds its pool).
        self._owner: dict[Connection, Server] = {}
        self._rotation = itertools.count()
        self._next_reader = itertools.count()
        #: Connections known to reach a writable server (asked once each).
        self._writable: weakref.WeakKeyDictionary[Connection, bool] = weakref.WeakKeyDictionary()
        #: The writer that took the last transaction (what ``describe`` calls current).
        self.current: Server = self.writers[0]

    # -- the Pool interface -----------------------------------------------------------------

    @property
    def size(self) -> int:
        return self.writers[0].pool.size

    @property
    def timeout(self) -> float:
        return self.writers[0].pool.timeout

    @property
    def opened(self) -> int:
        return sum(s.pool.opened for s in self._servers())

    @property
    def idle(self) -> int:
        return sum(s.pool.idle for s in self._servers())

    @property
    def in_use(self) -> int:
        return sum(s.pool.in_use for s in self._servers())

    def __repr__(self) -> str:
        return f"<Router {self.describe()}>"

    def acquire(self, timeout: float | None = None) -> Connection:
        """A connection to a writable server (failing over down the list)."""
        return self._acquire(self._writer_order(), timeout, write=True)

    def release(self, conn: Connection) -> None:
        with self._lock:
            server = self._owner.pop(conn)
        if conn.broken:
            self.mark_down(server, "its connection was lost")
        server.pool.release(conn)

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        conn = self.acquire()
        try:
            yield conn
        finally:
            self.release(conn)

    @contextmanager
    def read_connection(self) -> Iterator[Connection]:
        """A connection for a read that may be answered by a replica (else by a writer)."""
        order = [s for s in self._reader_order() if self._fresh_enough(s)]
        conn = self._acquire([*order, *self._writer_order()], None, write=False)
        try:
            yield conn
        finally:
            self.release(conn)

    def peek(self) -> Connection:
        conn = self.acquire()
        self.release(conn)
        return conn

    def busy(self) -> list[Connection]:
        with self._lock:
            return list(self._owner)

    def close(self) -> None:
        for server in self._servers():
            server.pool.close()

    # -- choosing ---------------------------------------------------------------------------

    def _servers(self) -> list[Server]:
        seen: dict[int, Server] = {}
        for server in [*self.writers, *self.readers]:
            seen.setdefault(id(server), server)
        return list(seen.values())

    def _writer_order(self) -> list[Server]:
        """Live writers first (rotated for round-robin), then those marked down (tried last:
        a list whose every server is marked down still gets a chance when they are back)."""
        now = time.monotonic()
        live = [s for s in self.writers if not s.is_down(now)]
        down = [s for s in self.writers if s.is_down(now)]
        if self.balance == "round-robin" and live:
            k = next(self._rotation) % len(live)
            live = live[k:] + live[:k]
        return live + down

    def _reader_order(self) -> list[Server]:
        now = time.monotonic()
        live = [s for s in self.readers if not s.is_down(now)]
        if live:
            k = next(self._next_reader) % len(live)
            live = live[k:] + live[:k]
        return live

    def _acquire(self, order: list[Server], timeout: float | None, write: bool) -> Connection:
        failures: list[str] = []
        last: OrmConnectionError | None = None
        for server in order:
            try:
                conn = server.pool.acquire(timeout)
            except PoolTimeoutError:
                raise
            except OrmConnectionError as exc:
                self.mark_down(server, str(exc))
                failures.append(f"{server.display}: {exc}")
                last = exc
                continue
            if write and not self._takes_writes(server, conn):
                failures.append(f"{server.display}: {server.reason}")
                continue
            with self._lock:
                self._owner[conn] = server
            if write:
                self.current = server
            return conn
        raise OrmConnectionError(
            f"cannot {'write to' if write else 'read from'} any server of the list: "
            + "; ".join(failures[-3:]),
            last.orig if last is not None else None,
        )

    def _takes_writes(self, server: Server, conn: Connection) -> bool:
        """Whether ``conn``'s server takes writes: asked once per connection (a standby's
        connection that is refused is closed, so after a promotion a new one asks again)."""
        if conn in self._writable:
            return True
        try:
            ok = conn.dialect.writable(conn)
        except DatabaseError as exc:  # a server that cannot even say is not written to
            ok, why = False, str(exc)
        else:
            why = "it does not take writes (a standby, or a node outside the primary component)"
        if ok:
            self._writable[conn] = True
            return True
        conn.broken = True  # closed on release: the next connection asks afresh
        server.pool.release(conn)
        self.mark_down(server, why)
        return False

    def mark_down(self, server: Server, reason: str) -> None:
        """Skip ``server`` for ``retry_after`` seconds and drop its idle connections."""
        server.down_until = time.monotonic() + self.retry_after
        server.reason = reason.splitlines()[0] if reason else "down"
        server.pool.close()

    def _fresh_enough(self, server: Server) -> bool:
        """Whether a reader is within ``max_replica_lag`` (measured at most every
        ``lag_check_interval`` seconds, on a connection of its own pool)."""
        now = time.monotonic()
        if now - server.lag_checked >= self.lag_check_interval:
            server.lag_checked = now
            try:
                with server.pool.connection() as conn:
                    server.lag = conn.dialect.replica_lag(conn)
            except OrmConnectionError as exc:
                self.mark_down(server, str(exc))
                return False
        lag = server.lag
        if lag is None or lag > self.max_replica_lag:
            server.reason = "lag unknown" if lag is None else f"{lag:.1f} s behind"
            return False
        return True

    def describe(self) -> str:
        """Where writes and reads go, one line (the REPL's toolbar, ``ormcli`` messages)."""
        now = time.monotonic()
        parts = [f"writes: {self.current.display}"]
        readers = [s.display for s in self.readers if not s.is_down(now)]
        if readers:
            parts.append("reads: " + ", ".join(readers))
        down = [f"{s.display} ({s.reason})" for s in self._servers() if s.is_down(now)]
        if down:
            parts.append("down: " + ", ".join(down))
        return "; ".join(parts)
