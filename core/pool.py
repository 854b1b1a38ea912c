"""A small pool of connections: one user at a time per connection, a bounded number open.

``Pool(connect, size=5, timeout=30.0)`` hands out ``core.connection.Connection`` objects
opened by ``connect``. The public interface (also what a replica / cluster router builds on):

- ``acquire(timeout=None) -> Connection``: the most recently released idle connection (so a
  single-threaded program keeps using one connection), else a new one while fewer than
  ``size`` are open, else wait up to ``timeout`` seconds for one to be released and then raise
  ``PoolTimeoutError`` naming the pool's size and timeout.
- ``release(conn)``: give it back. A broken connection is closed and its slot freed; one left
  inside a transaction is rolled back first (a pooled connection never carries a transaction
  from one user to the next).
- ``connection()``: ``acquire`` / ``release`` as a context manager.
- ``peek()``: the connection the next ``acquire`` in this thread would get, without checking
  it out (tools and tests that read its counters).
- ``busy()``: the connections checked out right now (what ``Database.cancel`` cancels).
- ``close()``: close every idle connection; connections in use are closed when released.
- ``size``, ``timeout``, ``opened``, ``idle``, ``in_use``: settings and current counts.

A ``shared`` pool (SQLite ``:memory:``, whose data lives in its one connection) holds a single
connection behind a re-entrant lock: the thread that holds it may acquire it again (a session's
transaction and a query of the same thread share it); other threads wait up to ``timeout``.

Callers: ``core.database`` (every statement runs on a connection acquired here) and
``core.session`` (a session holds one while its transaction is open). What it leaves out:
opening connections (the ``connect`` callable: adapter + ``Connection``), health checks beyond
the ``broken`` flag that ``Connection`` sets when the driver reports a lost connection, and
routing between servers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from core.connection import Connection
from core.errors import ConfigurationError, PoolTimeoutError

__all__ = ["Pool"]


class Pool:
    """Up to ``size`` connections, each used by one caller at a time."""

    def __init__(
        self,
        connect: Callable[[], Connection],
        *,
        size: int = 5,
        timeout: float = 30.0,
        shared: bool = False,
        name: str = "the database",
    ) -> None:
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise ConfigurationError(f"pool_size must be a whole number >= 1, got {size!r}")
        if not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout < 0:
            raise ConfigurationError(f"pool_timeout must be seconds >= 0, got {timeout!r}")
        self._open = connect
        self.size = 1 if shared else size
        self.timeout = float(timeout)
        self.shared = shared
        self.name = name
        #: Idle connections, most recently released last.
        self._idle: list[Connection] = []
        #: Connections open (idle or in use).
        self.opened = 0
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._waiting = 0  # callers waiting in ``acquire`` (``release`` notifies only then)
        #: Shared mode: the one connection and the re-entrant lock that guards it.
        self._shared_conn: Connection | None = None
        self._shared_lock = threading.RLock()
        self._depth = 0  # how many times the holding thread acquired it
        #: Connections checked out now (not shared mode): what ``busy`` reports.
        self._lent: set[Connection] = set()

    def __repr__(self) -> str:
        return (
            f"<Pool {self.name} size={self.size} open={self.opened} idle={self.idle} "
            f"timeout={self.timeout:g}s>"
        )

    @property
    def idle(self) -> int:
        if self.shared:
            return int(self._shared_conn is not None)
        return len(self._idle)

    @property
    def in_use(self) -> int:
        return 0 if self.shared else self.opened - len(self._idle)

    # -- checking out and in -----------------------------------------------------------------

    def acquire(self, timeout: float | None = None) -> Connection:
        """A connection for the caller alone until ``release``; see the module docstring."""
        wait = self.timeout if timeout is None else timeout
        if self.shared:
            if not self._shared_lock.acquire(timeout=wait):
                raise self._timed_out(wait)
            try:
                conn = self._shared_conn
                if conn is None or conn.broken:
                    if conn is not None:
                        conn.close()
                    conn = self._shared_conn = self._open()
                    self.opened = 1
            except BaseException:
                self._shared_lock.release()
                raise
            self._depth += 1
            return conn
        deadline = None
        with self._lock:
            while True:
                idle = self._idle
                while idle:
                    conn = idle.pop()
                    if not conn.broken:
                        self._lent.add(conn)
                        return conn
                    conn.close()
                    self.opened -= 1
                if self.opened < self.size:
                    self.opened += 1  # the slot is ours; open outside the lock
                    break
                if deadline is None:
                    deadline = time.monotonic() + wait
                left = deadline - time.monotonic()
                self._waiting += 1
                try:
                    timed_out = left <= 0 or not self._cond.wait(left)
                finally:
                    self._waiting -= 1
                if timed_out and not self._idle and self.opened >= self.size:
                    raise self._timed_out(wait)
        try:
            conn = self._open()
        except BaseException:
            with self._lock:
                self.opened -= 1
                if self._waiting:
                    self._cond.notify()
            raise
        with self._lock:
            self._lent.add(conn)
        return conn

    def release(self, conn: Connection) -> None:
        """Give a connection back (rolled back first if left inside a transaction)."""
        if self.shared:
            self._depth -= 1
            if self._depth == 0 and conn.in_transaction:
                conn.rollback()
            self._shared_lock.release()
            return
        if conn.in_transaction:
            conn.rollback()
        with self._lock:
            self._lent.discard(conn)
            if conn.broken:
                conn.close()
                self.opened -= 1
            else:
                self._idle.append(conn)
            if self._waiting:
                self._cond.notify()

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """``with pool.connection() as conn:`` acquire, then release however the block ends."""
        conn = self.acquire()
        try:
            yield conn
        finally:
            self.release(conn)

    def peek(self) -> Connection:
        """The connection the next ``acquire`` of this thread would get (opened if none is
        idle), left in the pool: for reading its counters, or for tools that run one statement
        at a time in a single thread."""
        conn = self.acquire()
        self.release(conn)
        return conn

    def busy(self) -> list[Connection]:
        """The connections checked out right now (``Database.cancel`` stops their statements)."""
        if self.shared:
            conn = self._shared_conn
            return [conn] if conn is not None and self._depth else []
        with self._lock:
            return list(self._lent)

    def close(self) -> None:
        """Close the idle connections (and the shared one); the pool stays usable."""
        if self.shared:
            with self._shared_lock:
                if self._shared_conn is not None:
                    self._shared_conn.close()
                    self._shared_conn = None
                    self.opened = 0
            return
        with self._lock:
            idle, self._idle = self._idle, []
            self.opened -= len(idle)
        for conn in idle:
            conn.close()

    def _timed_out(self, wait: float) -> PoolTimeoutError:
        return PoolTimeoutError(
            f"no connection to {self.name} became free within {wait:g} s (pool_size="
            f"{self.size}, all in use); raise pool_size or pool_timeout, or end sessions' "
            "transactions sooner"
        )
