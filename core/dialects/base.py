"""What every dialect has: SQL facts as class attributes, value converters, error translation.

A dialect is data about one backend — how identifiers are quoted, the placeholder, the type
map, the parameter limit, whether ``INSERT ... RETURNING`` exists, the batched-update form —
plus the few functions that turn Python values into driver values and back, read the schema for
``migrate``, and turn driver errors into ``core.errors``. No module outside ``core.dialects``
tests a backend's name: it reads these attributes. Callers: ``core.sql``, ``core.codec``,
``core.connection``, ``core.migrations``. What it leaves out: connecting (``core.adapters``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import json
import math
import re
import uuid
from collections.abc import Callable, Generator, Sequence
from decimal import Decimal
from typing import Any, ClassVar

from core.entity import FieldInfo
from core.errors import (
    ConflictError,
    DatabaseError,
    IntegrityError,
    OrmConnectionError,
    ValidationError,
    shorten,
)

__all__ = ["INT64_CHECK", "Dialect", "json_dumps", "json_dumps_canonical"]

#: ``Dialect.fast_check`` of an int field: a value of 64 bits (``{}`` is the value).
INT64_CHECK = "-9223372036854775808 <= {} <= 9223372036854775807"

Converter = Callable[[Any], Any]

json_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
json_dumps_canonical = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), sort_keys=True
).encode


def _strict_check(f: FieldInfo, v: Any) -> Any:
    """The value if it already has the field's type (no lenient parsing at commit time) and
    every backend can store it exactly (``FieldInfo.storable_problem``)."""
    kind = f.kind
    ok: bool
    if kind == "int":
        ok = isinstance(v, int) and not isinstance(v, bool)
    elif kind == "float":
        ok = isinstance(v, int | float) and not isinstance(v, bool)
        if ok:
            v = float(v)
    elif kind == "bool":
        ok = isinstance(v, bool)
    elif kind == "str":
        ok = isinstance(v, str)
        if ok and f.max_length is not None and len(v) > f.max_length:
            raise f._invalid(v, f"longer than {f.max_length} characters")
    elif kind == "bytes":
        ok = isinstance(v, bytes | bytearray | memoryview)
        if ok:
            v = bytes(v)
    elif kind == "decimal":
        ok = isinstance(v, Decimal) or (isinstance(v, int) and not isinstance(v, bool))
        if ok:
            v = Decimal(v)
    elif kind == "datetime":
        ok = isinstance(v, dt.datetime)
        if ok:
            f.check_awareness(v)
    elif kind == "date":
        ok = isinstance(v, dt.date) and not isinstance(v, dt.datetime)
    elif kind == "time":
        ok = isinstance(v, dt.time)
    elif kind == "uuid":
        ok = isinstance(v, uuid.UUID)
    elif kind == "enum":
        ok = isinstance(v, f.enum_type)  # type: ignore[arg-type]
    elif kind == "json":
        ok = isinstance(v, list | dict)
    else:  # pragma: no cover - references are converted by core.codec
        ok = True
    if not ok:
        raise f._invalid(v)
    problem = f.storable_problem(v)
    if problem is not None:
        raise f._invalid(v, problem)
    return v


class Dialect:
    """Facts and conversions for one backend; subclasses override attributes, not logic."""

    name: ClassVar[str] = "base"
    #: How messages name the backend ("SQLite", "PostgreSQL", "MariaDB/MySQL").
    display_name: ClassVar[str] = "this database"
    #: Which float values beyond the finite ones a float column stores exactly.
    stores_nan: ClassVar[bool] = True
    stores_infinity: ClassVar[bool] = True
    #: ``(integer digits, fraction digits)`` a decimal column holds exactly (None: any), and
    #: whether it holds NaN and infinities.
    decimal_digits: ClassVar[tuple[int, int] | None] = None
    decimal_specials: ClassVar[bool] = True
    #: Whether text may contain NUL characters.
    text_nul: ClassVar[bool] = True
    #: The driver's placeholder for one bound parameter.
    placeholder: ClassVar[str] = "?"
    quote_char: ClassVar[str] = '"'
    #: Bound parameters one statement may carry.
    max_params: ClassVar[int] = 999
    #: Rows one multi-row INSERT or ``IN (...)`` DELETE may carry (besides the parameter limit).
    max_rows_per_insert: ClassVar[int] = 100_000
    #: Rows one array statement carries (``array_batches``: INSERT and UPDATE joined to
    #: ``unnest``); pipelined, the server runs one while the next is being built.
    array_rows: ClassVar[int] = 100_000
    #: Keys one array DELETE (``pk = ANY(array)``) carries.
    array_delete_rows: ClassVar[int] = 100_000
    #: Removals of a composite key as row values, ``WHERE (a, b) IN ((?, ?), ...)``; False:
    #: one-row DELETEs sent with executemany (in-process SQLite: 10,000 removals took 37 ms
    #: that way, 48 as row values). Array dialects send one array per key column instead.
    row_value_deletes: ClassVar[bool] = False
    #: Send a batch as one array parameter per column (``INSERT ... SELECT * FROM unnest(...)``,
    #: ``DELETE ... WHERE pk = ANY(...)``): a handful of parameters whatever the row count.
    array_batches: ClassVar[bool] = False
    supports_returning: ClassVar[bool] = True
    #: How a batch of UPDATEs with the same changed columns is sent:
    #: "executemany" (one prepared statement, many parameter rows), "unnest" (one
    #: ``UPDATE ... FROM unnest(array, ...)``, PostgreSQL), "values" (``UPDATE ... FROM
    #: (VALUES (...), ...)``, SQLite 3.33+) or "case" (``UPDATE ... SET c = CASE pk WHEN ...
    #: END WHERE pk IN (...)``, MySQL); see ``core.sql.update_batches``.
    update_form: ClassVar[str] = "executemany"
    #: Rows one "case"- or "values"-form UPDATE carries (besides the parameter limit).
    update_batch_rows: ClassVar[int] = 100_000
    #: Bytes one statement's text may take with its values in it, where the driver binds on
    #: the client (MySQL: the server's ``max_allowed_packet``, learnt on connecting); None: no
    #: limit besides ``max_params``. Batches are cut to stay under it (``core.unitofwork``).
    max_statement_bytes: int | None = None
    #: The server setting behind ``max_statement_bytes``, named in messages.
    statement_size_setting: ClassVar[str] = ""
    #: Rows an ``executemany`` sends per round trip; 0 when the whole batch is one.
    executemany_rows_per_round_trip: ClassVar[int] = 0
    #: Without RETURNING: single-row INSERTs sent in one round trip, each reporting its own
    #: generated key (see ``insert_ids``).
    insert_ids_per_round_trip: ClassVar[int] = 1
    #: Text after ``CREATE TABLE t (...)`` (storage engine, character set).
    table_options: ClassVar[str] = ""
    #: SQL to open a write transaction.
    begin_sql: ClassVar[str | None] = "BEGIN"
    #: What follows ``INSERT INTO t`` for a row of defaults only (an entity with nothing but
    #: a generated key).
    empty_insert_values: ClassVar[str] = "DEFAULT VALUES"
    #: Foreign keys are checked row by row inside one statement (InnoDB), not at its end: a
    #: DELETE of a parent and its children of the same table must delete the children first.
    checks_foreign_keys_per_row: ClassVar[bool] = False
    #: One writer at a time for the whole database (a file lock): a second writer waits for
    #: the adapter's timeout, then fails with ``ConflictError`` ("database is locked").
    single_writer: ClassVar[bool] = False
    #: SQL to set, roll back to and release a savepoint (``{}``: its quoted name).
    savepoint_sql: ClassVar[str] = "SAVEPOINT {}"
    rollback_to_savepoint_sql: ClassVar[str] = "ROLLBACK TO SAVEPOINT {}"
    release_savepoint_sql: ClassVar[str] = "RELEASE SAVEPOINT {}"
    #: Whether statements can be pipelined (``pipeline``): sent one after another without
    #: waiting, their results read after the last. A transaction whose first step is a
    #: pipeline sends its BEGIN in it, and a commit whose statements need no earlier result is
    #: one round trip.
    pipelines: ClassVar[bool] = False
    #: Whether BEGIN can travel in the text of a transaction's first statement (``BEGIN;
    #: SELECT ...``, one round trip: a server taking several statements per query, MariaDB),
    #: where the dialect does not pipeline.
    begin_joins: ClassVar[bool] = False
    #: Statements that turn the connection's autocommit off and back on (MariaDB), or None.
    #: Where set, a connection used for two transactions in a row turns autocommit off in the
    #: second one's first query text (instead of BEGIN): from then on each transaction is
    #: opened by its first statement and sends no BEGIN at all, until a statement outside a
    #: transaction turns autocommit back on in its own query text (so such statements still
    #: run alone and leave no transaction, snapshot or lock behind). ``begin_joins`` only.
    autocommit_off_sql: ClassVar[str | None] = None
    autocommit_on_sql: ClassVar[str | None] = None
    #: Whether the reads of a scoped session (``Database.transaction``) run inside its
    #: transaction (opened by its first statement). Not SQLite's: its BEGIN IMMEDIATE takes
    #: the database's one write lock, which every block would then hold from its first read.
    scoped_reads_in_transaction: ClassVar[bool] = True
    #: ``cancel`` also stops a statement waiting on another transaction's lock (SQLite's busy
    #: wait ends only at its timeout).
    cancels_lock_waits: ClassVar[bool] = True
    #: One row, one value: whether the server takes writes now (a primary, a Galera node of
    #: the primary component). Asked on each new connection to a server of a list
    #: (``core.cluster``); None: the dialect cannot tell, every server is taken as writable.
    writable_sql: ClassVar[str | None] = None
    #: One row, one value: seconds a read replica is behind (0 when current, NULL when unknown:
    #: not streaming, not synced). None: replicas are not checked for lag.
    replica_lag_sql: ClassVar[str | None] = None
    #: Upsert (``core.sql.upsert_sql``): the clause after the INSERT's rows (``{target}``: the
    #: conflict target's columns, ``{sets}``: the assignments), and how an assignment names
    #: the staged value (``{col}``) and the stored one (``{table}``, ``{col}``).
    upsert_clause: ClassVar[str] = " ON CONFLICT ({target}) DO UPDATE SET {sets}"
    upsert_new_value: ClassVar[str] = "excluded.{col}"
    upsert_old_value: ClassVar[str] = "{table}.{col}"
    #: Column types by field kind; ``{n}`` is MaxLength.
    type_map: ClassVar[dict[str, str]] = {}
    str_with_length: ClassVar[str] = "VARCHAR({n})"
    #: Column definition of an auto-incremented integer primary key.
    autoincrement_pk: ClassVar[str] = "INTEGER PRIMARY KEY"
    #: Kinds whose value comes back from RETURNING equal to what was sent (used to match
    #: returned ids to objects by content, never by row order).
    returning_exact_kinds: ClassVar[frozenset[str]] = frozenset(
        {"int", "str", "bool", "bytes", "uuid", "date", "time", "datetime", "decimal", "enum"}
    )
    #: Kinds stored as text that compare and sort as numbers through ``numeric_cast``.
    numeric_text_kinds: ClassVar[frozenset[str]] = frozenset()
    numeric_cast: ClassVar[str] = "CAST({} AS REAL)"
    #: ``LIMIT`` value meaning "no limit" where OFFSET needs a LIMIT, else None.
    unlimited: ClassVar[int | None] = None

    # -- patterns, JSON paths, EXPLAIN (``core.sql`` fills ``{col}``, ``{p}``, ``{path}``) -------

    #: ``like``: case-sensitive; ``\\`` escapes ``%``, ``_`` and itself (``like_pattern``
    #: turns the pattern into what the SQL expects). ``{not}`` is "" or "NOT ".
    like_sql: ClassVar[str] = "{col} {not}LIKE {p}"
    #: ``ilike``: case-insensitive, every letter folded as ``str.lower`` does.
    ilike_sql: ClassVar[str] = "LOWER({col}) {not}LIKE LOWER({p})"
    #: ``matches``: a regular expression search; None where the backend has none.
    regex_sql: ClassVar[str | None] = None
    #: One JSON scalar at a path, to compare, and as text (``like``, ``is null``). JSON null
    #: and a missing key are both NULL.
    json_scalar_sql: ClassVar[str] = "json_extract({col}, {path})"
    json_text_sql: ClassVar[str] = "json_extract({col}, {path})"
    #: Whether a JSON path holds nothing (missing, or JSON null), objects and lists included.
    json_null_sql: ClassVar[str] = "json_extract({col}, {path})"
    #: The sort keys of a JSON path: numbers by value, text by text, on every backend.
    json_order_sql: ClassVar[tuple[str, ...]] = ("json_extract({col}, {path})",)
    #: The JSON value at a path, selected (``select``): JSON text, or decoded by the driver.
    json_select_sql: ClassVar[str] = "({col} -> {path})"
    json_select_decoded: ClassVar[bool] = False
    #: A compared value's placeholder in a JSON comparison.
    json_value_sql: ClassVar[str] = "{p}"
    #: The argument of ``AVG`` over whole numbers, so that it is a float (``{}``: the column).
    avg_cast: ClassVar[str] = "{}"
    #: What precedes a query to show its plan.
    explain_sql: ClassVar[str] = "EXPLAIN "

    def like_pattern(self, pattern: str) -> str:
        """The bound value of a ``like`` pattern (``\\`` escapes; checked by the caller)."""
        return pattern

    def json_path(self, path: Sequence[str | int]) -> Any:
        """The bound value of a JSON path (keys quoted, so ``.`` or ``$`` in a key is text)."""
        return "$" + "".join(f"[{k}]" if isinstance(k, int) else f'."{k}"' for k in path)

    def json_value(self, value: Any) -> Any:
        """A scalar compared with a JSON path, as the driver binds it."""
        return value

    # -- identifiers and fragments ---------------------------------------------------------

    def quote(self, ident: str) -> str:
        q = self.quote_char
        return f"{q}{ident.replace(q, q + q)}{q}"

    def placeholders(self, n: int) -> str:
        return ", ".join([self.placeholder] * n)

    def column_type(self, f: FieldInfo) -> str:
        if f.kind == "str" and f.max_length is not None:
            return self.str_with_length.format(n=f.max_length)
        if f.kind == "datetime" and f.aware and "datetime_aware" in self.type_map:
            return self.type_map["datetime_aware"]
        if f.kind == "enum":
            assert f.enum_type is not None
            values = [m.value for m in f.enum_type]
            if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
                return self.type_map["enum_int"]
            longest = max((len(str(v)) for v in values), default=1)
            return self.type_map["enum_str"].format(n=max(longest, 1))
        if f.kind == "reference":
            target = f.target
            assert target is not None
            return self.column_type(target.primary_key[0])
        return self.type_map[f.kind]

    def cast_type(self, f: FieldInfo) -> str:
        """The type a batch of values for ``f`` is cast to ("unnest" form; no length limit)."""
        return self.column_type(f)

    def limit_clause(self, limit: int | None, offset: int | None, params: list[Any]) -> str:
        sql = ""
        if limit is None and offset is not None and self.unlimited is not None:
            limit = self.unlimited
        if limit is not None:
            sql += f" LIMIT {self.placeholder}"
            params.append(limit)
        if offset is not None:
            sql += f" OFFSET {self.placeholder}"
            params.append(offset)
        return sql

    # -- values ----------------------------------------------------------------------------

    def literal_bytes(self, value: Any) -> int:
        """Bytes a driver value takes written into a statement's text (where
        ``max_statement_bytes`` applies; elsewhere values travel apart from the text)."""
        return len(repr(value).encode("utf-8", "surrogateescape"))

    def to_db_converter(self, f: FieldInfo) -> Converter:
        """A function: Python value of field ``f`` (validated strictly) -> driver value."""
        convert = self.to_db_kind(f)
        nullable = f.nullable or f.autoincrement
        check = self.value_problem

        def to_db(v: Any) -> Any:
            if v is None:
                if nullable:
                    return None
                raise ValidationError(f"{f.entity}.{f.name} is not nullable, got None")
            v = _strict_check(f, v)
            problem = check(f, v)
            if problem is not None:
                raise f._invalid(v, problem)
            return convert(v) if convert is not None else v

        return to_db

    def value_problem(self, f: FieldInfo, v: Any) -> str | None:
        """Why this backend cannot store ``v`` (already of ``f``'s type) exactly, or None.

        Read from the dialect's data (``stores_nan``, ``decimal_digits``, ``text_nul`` ...);
        what no backend stores is ``FieldInfo.storable_problem``'s job."""
        kind = f.kind
        where = self.display_name
        if kind == "float":
            if v != v and not self.stores_nan:
                return f"{where} cannot store NaN in a float column"
            if v in (math.inf, -math.inf) and not self.stores_infinity:
                return f"{where} cannot store infinity in a float column"
        elif kind == "decimal":
            if not v.is_finite():
                return None if self.decimal_specials else f"{where} cannot store {v} as a decimal"
            if self.decimal_digits is not None:
                whole, fraction = self.decimal_digits
                _sign, digits, exponent = v.as_tuple()
                assert isinstance(exponent, int)
                if -exponent > fraction and any(digits[len(digits) + exponent + fraction :]):
                    return f"{where} keeps {fraction} decimal places; it would round this value"
                if len(digits) + exponent > whole and any(digits):
                    return f"{where} keeps {whole} digits before the decimal point"
        elif kind == "str" and not self.text_nul and "\x00" in v:
            return f"{where} cannot store the NUL character in text"
        return None

    def fast_check(self, f: FieldInfo) -> str | None:
        """An extra condition (``{}`` is the value) under which a value of exactly ``f``'s
        type passes without the checking converter; None: no extra condition; ``"False"``:
        always check. Keeps ``value_problem`` and ``storable_problem`` true on the fast path
        of a commit (``core.codec``)."""
        kind = f.kind
        if kind == "int":
            return INT64_CHECK
        if kind == "float":
            if not self.stores_infinity:
                return "{0} - {0} == 0.0"  # finite (NaN and infinities give NaN)
            return None if self.stores_nan else "{0} == {0}"
        if kind == "str":
            return "{0}.isascii()" + ("" if self.text_nul else " and '\\x00' not in {0}")
        if kind == "decimal":
            return None if self.decimal_digits is None and self.decimal_specials else "False"
        if kind == "time":
            return "{}.tzinfo is None"
        if kind == "datetime" and f.aware:
            return "1 < {}.year < 9999"
        return None

    def to_db_kind(self, f: FieldInfo) -> Converter | None:
        """The conversion of an already valid, non-None value; None when it passes through."""
        kind = f.kind
        if kind == "enum":
            return _enum_to_db
        if kind == "json":
            return json_dumps
        if kind == "uuid":
            return str
        return None

    def to_db_inline(self, f: FieldInfo) -> str | None:
        """``to_db_kind`` as a Python expression template (``{}`` is the value), for the
        generated parameter-row code to run without a call; None: call ``to_db_kind``."""
        return None

    def from_db_converter(self, f: FieldInfo) -> Converter | None:
        """A function: non-None driver value -> Python value; None when it passes through."""
        kind = f.kind
        if kind == "enum":
            enum_type = f.enum_type
            assert enum_type is not None
            return enum_type
        if kind == "json":
            return _json_loads
        if kind == "uuid":
            return _uuid_from_db
        if kind == "decimal":
            return _decimal_from_db
        if kind == "bool":
            return bool
        if kind == "bytes":
            return bytes
        return None

    def insert_ids(self, cursor: Any, sql: str, rows: Sequence[Sequence[Any]]) -> list[Any]:
        """Run a single-row INSERT once per row; the key each one generated, in row order."""
        keys = []
        for row in rows:
            cursor.execute(sql, row)
            keys.append(cursor.lastrowid)
        return keys

    # -- errors ----------------------------------------------------------------------------

    def is_connection_error(self, exc: BaseException) -> bool:
        return False

    def cancel(self, raw: Any) -> None:
        """Stop the statement running on ``raw``; called from another thread while the owner of
        ``raw`` waits for it (its call then fails with the driver's "cancelled" error and the
        connection stays usable). Default: the DB-API has no way, so nothing happens."""

    def writable(self, conn: Any) -> bool:
        """Whether the server behind ``conn`` (a ``core.connection.Connection``) takes writes
        now (``writable_sql``; True where the dialect cannot tell)."""
        if self.writable_sql is None:
            return True
        rows = conn.fetchall(self.writable_sql, (), "check that the server takes writes")
        return bool(rows and rows[0][0])

    def replica_lag(self, conn: Any) -> float | None:
        """Seconds the server behind ``conn`` lags as a replica (``replica_lag_sql``); None
        when unknown, 0.0 where the dialect cannot tell."""
        if self.replica_lag_sql is None:
            return 0.0
        rows = conn.fetchall(self.replica_lag_sql, (), "check a replica's lag")
        value = rows[0][0] if rows else None
        return None if value is None else float(value)

    #: A statement that waits until this server has applied every write its cluster had
    #: certified (Galera's causal wait, whatever the session's ``wsrep_sync_wait``): sent
    #: before ``commit(retries=N)`` sends the work again after a conflict, so that the retry
    #: starts from the commit it lost to instead of being certified against it again ("":
    #: nothing to wait for).
    settle_sql: ClassVar[str] = ""

    def causal_reads_sql(self, level: int) -> str | None:
        """SQL run on each new connection to a server of a list so that its reads wait for
        commits made through other nodes (Galera's ``wsrep_sync_wait``); None where the
        dialect has no such setting."""
        return None

    def autocommit_is_on(self, raw: Any) -> bool:
        """Whether the driver connection ``raw`` runs in autocommit mode, as the server last
        reported it (``autocommit_off_sql`` dialects; read after a failed statement, when what
        took effect is not known)."""
        return True

    def send_begin(self, raw: Any) -> None:
        """Send ``begin_sql`` on the driver connection ``raw``, alone."""
        cur = raw.cursor()
        cur.execute(self.begin_sql)
        cur.close()

    def pipeline(self, raw: Any) -> contextlib.AbstractContextManager[Any]:
        """A block in which statements sent on ``raw`` are pipelined (``pipelines`` dialects):
        on leaving it every result has arrived, or the first failure is raised."""
        return contextlib.nullcontext()

    def failed_in_pipeline(self, cursors: Sequence[Any], exc: BaseException) -> int:
        """Which of the pipelined statements (their cursors, in order) raised ``exc``."""
        return len(cursors) - 1

    def stream(
        self, raw: Any, sql: str, params: Sequence[Any], size: int
    ) -> Generator[Any, None, None] | None:
        """The rows of one query as the server sends them, ``size`` at a time, or None where
        the driver cannot stream (rows are then read from a cursor in chunks of ``size``).

        Called only outside a transaction or once its BEGIN went out; the caller consumes the
        iterator at once and closes it, also when it stops early."""
        return None

    #: ``Query.stream`` reads on a connection of its own: the server's rows are read while the
    #: caller's loop runs, and other queries (lazy references) must not wait for them.
    stream_on_own_connection: ClassVar[bool] = True

    def stream_unbuffered(
        self, raw: Any, sql: str, params: Sequence[Any], size: int
    ) -> Generator[Any, None, None] | None:
        """``stream`` on a connection used for nothing else, where the driver can then read
        rows as they arrive without buffering the result (default: ``stream``)."""
        return self.stream(raw, sql, params, size)

    def after_fetch(self, raw: Any) -> None:
        """Release what the driver keeps of a result once its rows were read (default: none)."""

    def translate_error(
        self, exc: BaseException, entity_names: dict[str, str], context: str
    ) -> DatabaseError:
        """A ``core.errors`` error for a driver error; ``entity_names`` maps table -> entity."""
        return DatabaseError(f"{context}: {_first_line(exc)}", exc)

    def classified_error(
        self,
        exc: BaseException,
        text: str,
        context: str,
        *,
        conflict: bool = False,
        missing_table: bool = False,
        read_only: bool = False,
        not_ready: bool = False,
    ) -> DatabaseError:
        """The non-integrity errors every dialect maps alike, once it has classified ``exc``."""
        if conflict:
            return ConflictError(
                f"{context}: a concurrent transaction conflicted with this one ({text}); try again",
                exc,
                retryable=True,
            )
        if read_only:
            return OrmConnectionError(
                f"{context}: the server is read-only (a standby or replica: {text}); writes go "
                "to the primary, and the next transaction looks for a writable server",
                exc,
            )
        if not_ready:
            return OrmConnectionError(
                f"{context}: the cluster node is not ready ({text}): it is not part of the "
                "primary component; the next transaction goes to another node",
                exc,
            )
        if self.is_connection_error(exc):
            return OrmConnectionError(f"{context}: the connection was lost ({text})", exc)
        if missing_table:
            return DatabaseError(f"{context}: {text}; run migrate to create it", exc)
        return DatabaseError(f"{context}: {text}", exc)

    def integrity_error(
        self,
        exc: BaseException,
        entity_names: dict[str, str],
        context: str,
        *,
        kind: str,
        table: str | None,
        column: str | None,
        constraint: str | None,
    ) -> IntegrityError:
        """An ``IntegrityError`` that names entity and field, built from parsed driver text."""
        entity = entity_names.get(table or "", table)
        if column is None and constraint is not None:
            column = _column_from_constraint(constraint, table)
        where = f"{entity}.{column}" if entity and column else (entity or constraint or "")
        what = f"{kind} constraint" + (f" {constraint!r}" if constraint else "")
        message = f"{context}: {what} failed on {where}" if where else f"{context}: {what} failed"
        return IntegrityError(
            message, exc, entity=entity, field=column, constraint=constraint or kind, kind=kind
        )

    # -- schema (read by core.migrations.reader, written by core.migrations.render) ---------

    #: Catalog queries, one row each: columns ``(table, column, declared type, nullable,
    #: default as SQL text)`` in column order; primary keys ``(table, column, constraint
    #: name)`` in key order; indexes other than the key ``(table, index, unique, column,
    #: made as a constraint)`` in index order (a NULL column: an expression, ignored);
    #: foreign keys ``(table, name, column, referenced table, referenced column, on delete)``;
    #: checks ``(table, name)``.
    catalog_columns_sql: ClassVar[str] = ""
    catalog_pk_sql: ClassVar[str] = ""
    catalog_indexes_sql: ClassVar[str] = ""
    catalog_fks_sql: ClassVar[str] = ""
    catalog_checks_sql: ClassVar[str] = ""
    #: ``(table, column)`` of columns the server numbers itself (SQLite: the rowid alias,
    #: a lone ``INTEGER PRIMARY KEY``, with or without ``AUTOINCREMENT``; MySQL
    #: ``AUTO_INCREMENT``; PostgreSQL an identity or a sequence's ``nextval`` default), so
    #: that a key the models number and the server does not is found, and a table rebuild or
    #: a column change keeps the numbering ("": not read; every such key taken as numbered).
    catalog_autoincrement_sql: ClassVar[str] = ""
    #: Making a column server-numbered replaces a stored 0 with a new value (MySQL's
    #: ``AUTO_INCREMENT`` outside ``NO_AUTO_VALUE_ON_ZERO``): migrate refuses while one exists.
    numbering_renumbers_zero: ClassVar[bool] = False
    #: DDL runs inside a transaction: a failed migrate leaves nothing behind. Where it does
    #: not (MySQL commits around each DDL statement), progress is recorded per statement.
    transactional_ddl: ClassVar[bool] = True
    #: How a column's type, nullability and default change: "separate" (``ALTER COLUMN ...
    #: TYPE / SET NOT NULL / SET DEFAULT``), "modify" (``MODIFY COLUMN`` with the whole
    #: definition) or "rebuild" (a new table, rows copied: SQLite).
    alter_column_form: ClassVar[str] = "separate"
    #: Appended to a server-numbered key's definition in ``MODIFY COLUMN`` (MySQL drops
    #: ``AUTO_INCREMENT`` from a column redefined without it).
    autoincrement_modify_suffix: ClassVar[str] = ""
    #: The server refuses to change the type of a column a foreign key uses (MySQL error
    #: 1832/1833): the diff drops the key around the change and adds it back.
    foreign_key_blocks_type_change: ClassVar[bool] = False
    #: Changes the type of the sequence behind a ``SERIAL`` column (``{sequence}``, ``{type}``)
    #: along with the column's (PostgreSQL; an identity column's follows by itself).
    serial_sequence_type_sql: ClassVar[str] = ""
    drop_index_sql: ClassVar[str] = "DROP INDEX {index}"
    drop_fk_sql: ClassVar[str] = "ALTER TABLE {table} DROP CONSTRAINT {name}"
    drop_check_sql: ClassVar[str] = "ALTER TABLE {table} DROP CONSTRAINT {name}"
    drop_pk_sql: ClassVar[str] = "ALTER TABLE {table} DROP CONSTRAINT {name}"
    #: Length in characters of a text value (data checks before narrowing a column).
    char_length_fn: ClassVar[str] = "CHAR_LENGTH"
    #: A condition true where the value of ``{c}`` would not convert to an integer.
    not_integer_sql: ClassVar[str] = (
        "NOT (CAST({c} AS TEXT) ~ '^[[:space:]]*[-+]?[0-9]+[[:space:]]*$')"
    )
    #: ``SELECT`` that tries the migration lock once (one parameter: the lock's name), true
    #: when taken; "" where the write transaction itself is the lock (SQLite).
    lock_try_sql: ClassVar[str] = ""
    unlock_sql: ClassVar[str] = ""

    def get_lock_waits(self, conn: Any) -> Any:
        """The connection's current lock-wait limits, to give back to ``restore_lock_waits``
        after a migrate run (None where there is nothing to set)."""
        return None

    def set_lock_waits(self, conn: Any, seconds: float, *, local: bool = False) -> None:
        """Make every lock wait of this connection's statements (the DDL's own, not just the
        migration lock's) end after ``seconds`` with a ``ConflictError``. ``local``: for the
        open transaction only, where the backend can (PostgreSQL ``SET LOCAL``)."""

    def restore_lock_waits(self, conn: Any, saved: Any) -> None:
        """Give back what ``get_lock_waits`` read."""

    #: Whether ``set_lock_waits(local=True)`` ends with the transaction: the runner sets it
    #: after BEGIN, and again (session-wide, restored after) for statements run outside it.
    lock_waits_local: ClassVar[bool] = False

    def try_migration_lock(self, conn: Any, name: str) -> bool:
        """Try once to take the migration lock ``name`` on ``conn`` (``lock_try_sql``); True
        when taken (or where the write transaction itself is the lock)."""
        if not self.lock_try_sql:
            return True
        return bool(conn.fetchall(self.lock_try_sql, (name,), "take the migration lock")[0][0])

    def release_migration_lock(self, conn: Any, name: str) -> None:
        if self.unlock_sql:
            conn.fetchall(self.unlock_sql, (name,), "release the migration lock")

    #: Longest table / column name in bytes (0: no limit worth checking).
    max_identifier_bytes: ClassVar[int] = 0
    #: Name prefixes the backend keeps for itself.
    reserved_prefixes: ClassVar[tuple[str, ...]] = ()
    #: Online variants (``migrate --online``): an index built without blocking writes
    #: (``{unique}``, ``{name}``, ``{table}``, ``{columns}``), and text appended to ``ADD
    #: CONSTRAINT`` for foreign keys and checks that are then validated separately. Where
    #: these run outside the migration's transaction, a failed one can leave a half-made
    #: object behind (PostgreSQL: an INVALID index, a NOT VALID constraint): the cleanup
    #: statements remove it, so a later run can make it again.
    online_index_sql: ClassVar[str] = ""
    #: The server keeps an index under every foreign key and refuses to drop the last one
    #: (InnoDB): dropping it means dropping the key, then adding it back.
    foreign_key_needs_index: ClassVar[bool] = False
    online_index_outside_transaction: ClassVar[bool] = False
    online_index_cleanup_sql: ClassVar[str] = ""
    online_constraint_suffix: ClassVar[str] = ""
    online_constraint_outside_transaction: ClassVar[bool] = False
    online_constraint_cleanup_sql: ClassVar[str] = ""
    validate_constraint_sql: ClassVar[str] = ""
    online_alter_suffix: ClassVar[str] = ""
    #: Sent before a migration's transaction and after it (SQLite turns foreign keys off
    #: around table rebuilds, as its documentation prescribes), and the query that lists
    #: rows breaking a foreign key, run before such a migration commits.
    migrate_prologue_sql: ClassVar[tuple[str, ...]] = ()
    migrate_epilogue_sql: ClassVar[tuple[str, ...]] = ()
    foreign_key_check_sql: ClassVar[str] = ""
    #: What each operation locks, shown in the plan (by operation kind).
    lock_levels: ClassVar[dict[str, str]] = {}

    def sql_type(self, spec: str) -> str:
        """A column type for a neutral type spec (``core.migrations.model.type_spec``), or
        the declared type of a ``sql:`` spec read from a database."""
        if spec.startswith("sql:"):
            return spec[4:]
        kind, _, arg = spec.partition("(")
        n = arg.rstrip(")")
        if kind == "str" and n:
            return self.str_with_length.format(n=n)
        if kind == "str_indexed":
            if "str_indexed" not in self.type_map:
                return self.type_map["str"]
            return self.str_with_length.format(n=n) if n else self.type_map["str_indexed"]
        if kind == "enum_str":
            return self.type_map["enum_str"].format(n=n or 1)
        if kind == "datetime_aware":
            return self.type_map.get("datetime_aware", self.type_map["datetime"])
        return self.type_map[kind]

    def canonical_type(self, declared: str) -> str:
        """A declared type spelled the one way the database reports it (for comparing)."""
        return _norm_type(declared)

    def same_type(self, declared: str, expected: str) -> bool:
        """Whether a column's declared type is the type the model maps to."""
        return self.canonical_type(declared) == self.canonical_type(expected)

    def normalize_default(self, text: str | None) -> str | None:
        """A column default as SQL text, spelled one way whatever the catalog said
        (``'x'::text`` and ``'x'`` alike, ``true`` as ``1``, ``1.50`` as ``1.5``)."""
        return _normalize_default(text)

    def rebuild_counter_statements(self, new: str, old: str) -> list[tuple[str, tuple[Any, ...]]]:
        """Statements (with parameters) that give a rebuilt table ``new`` the id counter of
        ``old`` before ``old`` is dropped (table rebuilds only)."""
        return []

    def numbering_statements(
        self, table: str, column: str, on: bool
    ) -> list[tuple[str, tuple[Any, ...]]]:
        """Statements (with parameters) that make the server number ``column`` of ``table``
        (``on``; the next value follows the highest in the table) or stop numbering it, where
        a column change does it apart from the column's definition (``alter_column_form``
        "separate"; "modify" writes it into the definition, "rebuild" into the new table)."""
        return []

    def read_checks(self, conn: Any) -> list[tuple[str, ...]]:
        """``(table, name)`` of every CHECK constraint, or ``(table, name, expression)`` where
        a table rebuild needs the expression (``conn`` is a ``core.connection``)."""
        if not self.catalog_checks_sql:
            return []
        return [(t, n) for t, n in conn.fetchall(self.catalog_checks_sql, (), "read checks")]

    def missing_columns(self, conn: Any, table: str, columns: Sequence[str]) -> list[str]:
        """The ``columns`` that ``table`` lacks, where the database would not say so itself
        (``conn`` is a ``core.connection``). Servers refuse an unknown column: nothing to do."""
        return []


_CAST = re.compile(r"::[a-z_ ]+(?:\(\d+(?:,\s*\d+)?\))?(?:\[\])?$", re.I)
_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def _normalize_default(text: str | None) -> str | None:
    if text is None:
        return None
    t = text.strip()
    for _ in range(4):
        if t.startswith("(") and t.endswith(")"):
            t = t[1:-1].strip()
        t = _CAST.sub("", t).strip()
    if t.upper() == "NULL" or t == "":
        return None
    if t.lower() in ("true", "false"):
        return "1" if t.lower() == "true" else "0"
    if len(t) >= 2 and t[0] == "'" and t[-1] == "'":
        inner = t[1:-1].replace("''", "'")
        if _NUMBER.match(inner):
            t = inner
        else:
            return "'" + inner.replace("'", "''") + "'"
    if _NUMBER.match(t):
        d = Decimal(t)
        if d == d.to_integral_value():
            return str(int(d))
        return format(d.normalize(), "f")
    return t


def _norm_type(t: str) -> str:
    return re.sub(r"\s+", " ", t.strip().lower())


def _column_from_constraint(constraint: str, table: str | None) -> str | None:
    """Our constraint names are ``uq_<table>_<column>`` / ``fk_<table>_<column>``."""
    for prefix in ("uq_", "fk_", "ix_", "nn_"):
        if constraint.startswith(prefix) and table and constraint[3:].startswith(table + "_"):
            return constraint[3 + len(table) + 1 :]
    return None


def _first_line(exc: BaseException) -> str:
    """One line that describes a driver error without the statement or its values.

    The first line of its message (a server's later lines quote the statement: ``LINE 1:
    INSERT ...``). An error Python raised while the driver encoded a statement carries that
    statement, values and all, in its arguments (``UnicodeEncodeError.object``): only its
    reason is kept. Long tokens are cut (``core.errors.shorten``)."""
    if isinstance(exc, UnicodeError):
        reason = getattr(exc, "reason", "") or type(exc).__name__
        encoding = getattr(exc, "encoding", "") or "the connection's encoding"
        return f"a value cannot be encoded as {encoding} ({reason})"
    text = str(exc).strip() or type(exc).__name__
    return shorten(text.splitlines()[0])


def _enum_to_db(v: enum.Enum) -> Any:
    return v.value


def _json_loads(v: Any) -> Any:
    if isinstance(v, str | bytes | bytearray):
        return json.loads(v)
    return v


def _uuid_from_db(v: Any) -> uuid.UUID:
    if isinstance(v, uuid.UUID):
        return v
    if isinstance(v, bytes | bytearray):
        return uuid.UUID(bytes=bytes(v))
    return uuid.UUID(v)


def _decimal_from_db(v: Any) -> Decimal:
    if isinstance(v, Decimal):
        return v
    if isinstance(v, float):
        return Decimal(repr(v))
    return Decimal(v)
