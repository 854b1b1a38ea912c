"""One database connection: statements logged and counted, driver errors translated.

Every statement goes through ``Connection.execute`` / ``executemany`` / ``fetchall``, which log
it on the ``core.sql`` logger at DEBUG (text and parameter count; values only when the
database was created with ``log_values=True``), count statements and round trips, and turn
driver exceptions into ``core.errors`` via the dialect. ``commit()`` reports a lost connection
as ``CommitOutcomeUnknownError``: the COMMIT was sent and nobody knows whether it landed. Where
the dialect can, ``begin()`` sends nothing and BEGIN waits for the transaction's first
statement: it goes out in the same round trip when that is a pipeline of several statements
(PostgreSQL) or in the same query text (MariaDB, whose connections take several statements per
query); before a single statement on PostgreSQL it goes alone, the cheapest way the driver has
(a pipeline of two costs more client CPU than the round trip it saves). Where the dialect
turns autocommit off and on (``Dialect.autocommit_off_sql``, MariaDB), a connection used for
transaction after transaction runs with autocommit off: its transactions then send no BEGIN
(the first statement opens one), and the first statement it runs outside a transaction turns
autocommit back on in the same query text. ``lookup`` runs small queries (a row by key) on one
cursor kept per connection.
Callers: ``core.database``, ``core.persist``, ``core.query``, ``core.migrations``. What it leaves
out: opening connections (``core.adapters``) and deciding what to send.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from functools import partial
from itertools import islice
from typing import Any

from core.dialects.base import Dialect
from core.errors import CommitOutcomeUnknownError, DatabaseError, OrmConnectionError

__all__ = ["Connection", "sql_logger"]

sql_logger = logging.getLogger("core.sql")


def _take(rows: Iterator[Any], size: int) -> list[Any]:
    """The next ``size`` rows of a streamed result (fewer at its end)."""
    return list(islice(rows, size))


def _drop_statement(err: DatabaseError, sql: str) -> None:
    """Cut ``err``'s message where it starts quoting ``sql`` (a driver that echoes the
    statement would print every value in it): the last safety net behind the dialects'
    own cleaning (``Dialect.translate_error``)."""
    head = sql[:24]
    text = str(err)
    if len(head) < 12 or head not in text:
        return
    err.args = (text[: text.index(head)].rstrip(" :(") + " (statement not shown)",)


class Connection:
    """A DB-API connection plus counting, logging and error translation."""

    def __init__(
        self,
        raw: Any,
        dialect: Dialect,
        entity_names: dict[str, str],
        *,
        log_values: bool = False,
        on_lost: Callable[[Connection], None] | None = None,
    ) -> None:
        self.raw = raw
        self.dialect = dialect
        #: table name -> entity name, so that errors name entities.
        self.entity_names = entity_names
        self.log_values = log_values
        self.statements = 0
        self.round_trips = 0
        self.in_transaction = False
        self.broken = False
        self._on_lost = on_lost
        #: BEGIN is owed and goes out with the next statement (dialects that pipeline).
        self._begin_pending = False
        #: The driver connection runs with autocommit off (``Dialect.autocommit_off_sql``):
        #: a transaction's first statement opens it, and one outside a transaction must turn
        #: autocommit on first. ``_after_tx``: the last statement sent was a transaction's.
        self._autocommit_off = False
        self._after_tx = False
        #: The statement sent last: an error message that quotes it loses the quote.
        self._last_sql = ""
        #: The cursor ``lookup`` reuses (made on first use).
        self._lookup_cursor: Any = None
        #: ``dialect.after_fetch``, None where it is the default that does nothing.
        self._after_fetch: Callable[[Any], None] | None = (
            None if type(dialect).after_fetch is Dialect.after_fetch else dialect.after_fetch
        )

    # -- logging -----------------------------------------------------------------------------

    def _log(self, sql: str, nparams: int, rows: int, many: bool) -> None:
        self.statements += 1
        self._last_sql = sql
        if sql_logger.isEnabledFor(logging.DEBUG):
            extra = {"sql": sql, "params": nparams, "rows": rows, "many": many}
            kind = f"{rows} rows, " if many else ""
            sql_logger.debug("%s [%s%d params]", sql, kind, nparams, extra=extra)

    def _log_values(self, params: Any) -> None:
        if self.log_values and sql_logger.isEnabledFor(logging.DEBUG):
            sql_logger.debug("  values: %r", params)

    def _fail(self, exc: BaseException, context: str) -> DatabaseError:
        err = self.dialect.translate_error(exc, self.entity_names, context)
        _drop_statement(err, self._last_sql)
        if isinstance(err, OrmConnectionError) or self.dialect.is_connection_error(exc):
            self.broken = True
            if not isinstance(err, OrmConnectionError):
                err = OrmConnectionError(f"{context}: the connection was lost", exc)
            if self._on_lost is not None:
                self._on_lost(self)
        return err

    # -- statements --------------------------------------------------------------------------

    def execute(self, sql: str, params: Sequence[Any] = (), context: str = "query") -> Any:
        """Run one statement; returns the cursor (rows readable with ``fetchall``)."""
        if self._begin_pending:
            if not self.dialect.begin_joins:
                self._send_begin()
            else:
                opening = self._opening()
                if opening is not None:
                    return self._execute_joined(opening, sql, params, context)
        elif not self.in_transaction:
            self._after_tx = False
            if self._autocommit_off:
                return self._execute_joined(self._autocommit_on(), sql, params, context)
        if sql_logger.isEnabledFor(logging.DEBUG):
            self._log(sql, len(params), 1, False)
            self._log_values(params)
        else:  # (what ``_log`` counts, inlined: every statement passes here)
            self.statements += 1
            self._last_sql = sql
        self.round_trips += 1
        try:
            cur = self.raw.cursor()
            cur.execute(sql, params)
        except Exception as exc:
            raise self._fail(exc, context) from exc
        return cur

    def _opening(self) -> str | None:
        """Settle the owed BEGIN before the transaction's first statement: None when the
        connection runs with autocommit off (that statement opens the transaction), else the
        statement to send first: the one that turns autocommit off where the last statement
        sent was a transaction's too (a connection used for transaction after transaction),
        else BEGIN."""
        self._begin_pending = False
        if self._autocommit_off:
            return None
        again, self._after_tx = self._after_tx, True
        off = self.dialect.autocommit_off_sql
        if again and off is not None:
            return off
        begin = self.dialect.begin_sql
        assert begin is not None
        return begin

    def _autocommit_on(self) -> str:
        on = self.dialect.autocommit_on_sql
        assert on is not None
        return on

    def _execute_joined(self, first: str, sql: str, params: Sequence[Any], context: str) -> Any:
        """``first`` (BEGIN, or a statement turning autocommit off or on) and ``sql`` in one
        query text, one round trip (``begin_joins``); the cursor is left on ``sql``'s result.
        Where ``sql`` fails, a transaction it was to open is open (the caller rolls it back,
        as after any failed statement)."""
        self._log(first, 0, 1, False)
        self._log(sql, len(params), 1, False)
        self._log_values(params)
        self.round_trips += 1
        try:
            cur = self.raw.cursor()
            cur.execute(f"{first}; {sql}", params)
            if first == self.dialect.autocommit_off_sql:
                self._autocommit_off = True
            elif first == self.dialect.autocommit_on_sql:
                self._autocommit_off = False
            cur.nextset()  # (sql's own error is raised here)
        except Exception as exc:
            # What the server last reported (``first`` may or may not have run).
            self._autocommit_off = not self.dialect.autocommit_is_on(self.raw)
            raise self._fail(exc, context) from exc
        return cur

    def _outside(self) -> None:
        """Before a statement outside a transaction that cannot carry another in its query
        text: autocommit turned back on where it was off, in a round trip of its own."""
        self._after_tx = False
        if not self._autocommit_off:
            return
        on = self._autocommit_on()
        self._log(on, 0, 1, False)
        self.round_trips += 1
        try:
            cur = self.raw.cursor()
            cur.execute(on)
            cur.close()
        except Exception as exc:
            self._autocommit_off = not self.dialect.autocommit_is_on(self.raw)
            raise self._fail(exc, "turn autocommit on") from exc
        self._autocommit_off = False

    def lookup(self, sql: str, params: Sequence[Any] = (), context: str = "query") -> list[Any]:
        """The rows of a small query (a row by key: ``Session.get``), run on a cursor this
        connection keeps for them (making and closing a cursor per statement cost PostgreSQL
        lookups a third of their client time); the cursor holds the last result's rows."""
        if self._begin_pending:
            if not self.dialect.begin_joins:
                self._send_begin()
            elif not self._autocommit_off:
                return self.fetchall(sql, params, context)
            else:  # the lookup opens the transaction
                self._begin_pending = False
        elif not self.in_transaction:
            self._after_tx = False
            if self._autocommit_off:
                return self.fetchall(sql, params, context)
        if sql_logger.isEnabledFor(logging.DEBUG):
            self._log(sql, len(params), 1, False)
            self._log_values(params)
        else:  # (what ``_log`` counts, inlined: every get passes here)
            self.statements += 1
            self._last_sql = sql
        self.round_trips += 1
        try:
            cur = self._lookup_cursor
            if cur is None:
                cur = self._lookup_cursor = self.raw.cursor()
            cur.execute(sql, params)
            found: list[Any] = cur.fetchall()
            if self._after_fetch is not None:
                self._after_fetch(self.raw)
        except Exception as exc:
            raise self._fail(exc, context) from exc
        return found

    def execute_pipelined(self, statements: Iterable[tuple[str, Sequence[Any], str]]) -> list[Any]:
        """Run ``(sql, params, context)`` statements in order; their cursors, results read.

        Where the dialect pipelines (PostgreSQL) they go out in one round trip, an owed BEGIN
        first, each statement sent as soon as ``statements`` yields it (so the server runs one
        while the next is built), and the first failure is raised after the last was sent,
        named by that statement's context. Elsewhere they run one by one.
        """
        if not self.dialect.pipelines:
            return [self.execute(sql, params, context) for sql, params, context in statements]
        cursors: list[Any] = []
        contexts: list[str] = []
        items = iter(statements)
        # A single statement needs no pipeline (which costs more client CPU than a round trip):
        # an owed BEGIN then goes alone before it.
        first = next(items, None)
        if first is None:
            return []
        second = next(items, None)
        if second is None:
            return [self.execute(*first)]
        items = itertools.chain((first, second), items)
        building = False
        self.round_trips += 1
        try:
            with self.dialect.pipeline(self.raw):
                if self._begin_pending:
                    self._begin_pending = False
                    assert self.dialect.begin_sql is not None
                    self._log(self.dialect.begin_sql, 0, 1, False)
                    self.raw.execute(self.dialect.begin_sql)
                while True:
                    building = True
                    item = next(items, None)
                    building = False
                    if item is None:
                        break
                    sql, params, context = item
                    self._log(sql, len(params), 1, False)
                    self._log_values(params)
                    cur = self.raw.cursor()
                    cursors.append(cur)
                    contexts.append(context)
                    cur.execute(sql, params)
        except Exception as exc:
            if building:  # the caller's own error while building parameters
                raise
            at = self.dialect.failed_in_pipeline(cursors, exc) if cursors else -1
            raise self._fail(exc, contexts[at] if cursors else "begin a transaction") from exc
        return cursors

    @property
    def begin_pending(self) -> bool:
        """Whether BEGIN is owed and will go out (and be counted) with the next statement
        (not on a connection running with autocommit off: that statement opens the
        transaction)."""
        return self._begin_pending and not self._autocommit_off

    def fetchall(self, sql: str, params: Sequence[Any] = (), context: str = "query") -> list[Any]:
        """Run one query and return all its rows."""
        cur = self.execute(sql, params, context)
        try:
            rows: list[Any] = cur.fetchall()
            cur.close()
            self.dialect.after_fetch(self.raw)
        except Exception as exc:
            raise self._fail(exc, context) from exc
        return rows

    def fetch_described(
        self, sql: str, params: Sequence[Any] = (), context: str = "query"
    ) -> tuple[list[str], list[Any]]:
        """Run one statement; the names of its result's columns and its rows (none: [], [])."""
        cur = self.execute(sql, params, context)
        try:
            names = [d[0] for d in cur.description] if cur.description else []
            rows: list[Any] = cur.fetchall() if cur.description else []
            cur.close()
            self.dialect.after_fetch(self.raw)
        except Exception as exc:
            raise self._fail(exc, context) from exc
        return names, rows

    def stream(
        self,
        sql: str,
        params: Sequence[Any] = (),
        context: str = "query",
        size: int = 1000,
        *,
        unbuffered: bool = False,
    ) -> Generator[Sequence[Any], None, None]:
        """Run one query and yield its rows in chunks of up to ``size`` rows.

        A consumer that turns each chunk into objects while its rows are fresh in the cache
        does so faster than over one list of every row (loading 100,000 rows: 20% less time),
        and the driver's row tuples die chunk by chunk. Consume it at once, with the
        database's lock held (the connection is busy until it is done), and close it when
        stopping early: that ends the query. ``unbuffered``: on a connection of its own, the
        rows may also be read unbuffered (``Dialect.stream_unbuffered``: PostgreSQL with libpq
        >= 17 and MariaDB then do not buffer the server's rows whole first).
        """
        start = self.dialect.stream_unbuffered if unbuffered else self.dialect.stream
        if self._begin_pending:
            if self._autocommit_off or not self.dialect.begin_joins:
                self._send_begin()  # (nothing is sent where autocommit is off)
        elif not self.in_transaction:
            self._outside()
        streamed = None if self._begin_pending else start(self.raw, sql, params, size)
        if streamed is None:
            cur = self.execute(sql, params, context)
            fetch: Callable[[], Sequence[Any]] = partial(cur.fetchmany, size)
            close: Callable[[], Any] = cur.close
        else:
            self._log(sql, len(params), 1, False)
            self._log_values(params)
            self.round_trips += 1
            fetch = partial(_take, streamed, size)
            close = streamed.close
        try:
            while True:
                try:
                    chunk = fetch()  # (a streamed query is sent, and fails, on the first)
                except Exception as exc:
                    raise self._fail(exc, context) from exc
                if not chunk:
                    break
                yield chunk
        finally:
            close()
            self.dialect.after_fetch(self.raw)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]], context: str = "query") -> int:
        """One statement, many parameter rows (counted as one statement)."""
        if not rows:
            return 0
        if self._begin_pending:
            self._send_begin()
        elif not self.in_transaction:
            self._outside()
        self._log(sql, len(rows) * len(rows[0]), len(rows), True)
        self._log_values(rows)
        self.round_trips += self.dialect_round_trips(len(rows))
        try:
            cur = self.raw.cursor()
            cur.executemany(sql, rows)
            count: int = cur.rowcount
            cur.close()
        except Exception as exc:
            raise self._fail(exc, context) from exc
        return count

    def insert_ids(
        self, sql: str, rows: Sequence[Sequence[Any]], context: str = "query"
    ) -> list[Any]:
        """A single-row INSERT once per row; the generated keys in row order (no RETURNING).

        The dialect sends up to ``insert_ids_per_round_trip`` of them at once, each statement
        reporting its own key: no arithmetic on ids that concurrent inserts could break.
        """
        if self._begin_pending:
            self._send_begin()
        elif not self.in_transaction:
            self._outside()
        per = max(1, self.dialect.insert_ids_per_round_trip)
        keys: list[Any] = []
        for start in range(0, len(rows), per):
            chunk = rows[start : start + per]
            self._log(sql, len(chunk) * len(chunk[0]), len(chunk), len(chunk) > 1)
            self._log_values(chunk)
            self.round_trips += 1
            try:
                keys.extend(self.dialect.insert_ids(self.raw.cursor(), sql, chunk))
            except Exception as exc:
                raise self._fail(exc, context) from exc
        return keys

    def dialect_round_trips(self, rows: int) -> int:
        """Round trips an ``executemany`` of ``rows`` takes (1 for in-process SQLite)."""
        per = getattr(self.dialect, "executemany_rows_per_round_trip", 0)
        return 1 if not per else -(-rows // per)

    # -- transactions ------------------------------------------------------------------------

    def _send_begin(self) -> None:
        """The owed BEGIN on its own (before a call that is not pipelined), the cheapest way
        the driver has (``Dialect.send_begin``); nothing where autocommit is off."""
        if self._opening() is None:
            return
        begin = self.dialect.begin_sql
        assert begin is not None
        self._log(begin, 0, 1, False)
        self.round_trips += 1
        try:
            self.dialect.send_begin(self.raw)
        except Exception as exc:
            raise self._fail(exc, "begin a transaction") from exc

    def begin(self) -> None:
        """Open a write transaction; where the dialect allows, BEGIN waits for the first
        statement and goes out with it (a transaction that sends nothing sends no BEGIN)."""
        if self.dialect.begin_sql and (self.dialect.pipelines or self.dialect.begin_joins):
            self._begin_pending = True
        elif self.dialect.begin_sql:
            self._send_begin()
        self.in_transaction = True

    def commit(self) -> None:
        if self._begin_pending:  # nothing was sent: there is nothing to commit
            self._begin_pending = False
            self.in_transaction = False
            return
        self._log("COMMIT", 0, 1, False)
        self.round_trips += 1
        try:
            self.raw.commit()
        except Exception as exc:
            self.in_transaction = False
            if self.dialect.is_connection_error(exc):
                self.broken = True
                if self._on_lost is not None:
                    self._on_lost(self)
                raise CommitOutcomeUnknownError(
                    "the connection was lost after COMMIT was sent, so it is unknown whether "
                    "the commit was saved; check the database before retrying",
                    exc,
                ) from exc
            raise self._fail(exc, "commit") from exc
        self.in_transaction = False

    def rollback(self) -> None:
        self.in_transaction = False
        if self._begin_pending or self.broken:
            self._begin_pending = False
            return
        self._log("ROLLBACK", 0, 1, False)
        try:
            self.raw.rollback()
        except Exception:
            self.broken = True

    def savepoint(self, name: str) -> None:
        """Set a savepoint inside the open transaction."""
        sql = self.dialect.savepoint_sql.format(self.dialect.quote(name))
        self.execute(sql, (), "set a savepoint")

    def rollback_to(self, name: str) -> None:
        """Undo everything since the savepoint ``name`` (which stays set) and release it."""
        q = self.dialect.quote(name)
        self.execute(self.dialect.rollback_to_savepoint_sql.format(q), (), "roll back a savepoint")
        self.execute(self.dialect.release_savepoint_sql.format(q), (), "release a savepoint")

    def release(self, name: str) -> None:
        """Keep what was done since the savepoint ``name`` and forget the savepoint."""
        sql = self.dialect.release_savepoint_sql.format(self.dialect.quote(name))
        self.execute(sql, (), "release a savepoint")

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing a dead connection may fail
            self.raw.close()

    def executescript(self, statements: Iterable[str], context: str) -> None:
        for sql in statements:
            self.execute(sql, (), context)
