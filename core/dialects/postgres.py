"""The PostgreSQL dialect: psycopg 3, ``%s`` placeholders, RETURNING, ``UPDATE ... FROM unnest``.

Storage choices: int as BIGINT, naive datetimes as TIMESTAMP, ``Annotated[datetime, Aware]`` as
TIMESTAMPTZ, Decimal as unconstrained NUMERIC (every digit kept), UUID as UUID, bytes as BYTEA,
JSON as JSONB, Enum by value (BIGINT or VARCHAR). psycopg adapts these natively, so most values
pass through unconverted. Batches travel as one array per column (``unnest``): a batch of
UPDATEs measured ~3x faster than executemany in a pipeline. A commit's statements go out in
one pipeline (psycopg's pipeline mode) after BEGIN, in 2,000-row chunks (removals: 500 keys
to a ``pk = ANY(array)``): one round trip, and the server works on one chunk while the next is
built. ``Query.stream`` streams (libpq >= 17): the server's rows arrive 1,000 at a time; a load
that keeps every object reads a buffered result a chunk at a time. Driver errors are
classified by SQLSTATE: 23xxx integrity (psycopg's diagnostics name table, column and
constraint), 40001/40P01 conflict, 08xxx/57P0x and client-side failures connection.
Callers: ``core.adapters.postgres``. What it leaves out: connecting (the adapter).
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Generator, Sequence
from typing import Any, ClassVar

import psycopg

from core.dialects.base import Converter, Dialect, _first_line, json_dumps
from core.entity import FieldInfo
from core.errors import DatabaseError

__all__ = ["PostgresDialect"]

# psycopg reports an error it ignores while leaving a pipeline that already failed ("error
# ignored terminating <psycopg.Pipeline ...>") as a warning on its logger; with no logging set
# up, Python would print it to stderr after our own one-line error. The error that matters was
# raised and translated; an application that configures logging still sees the warning.
logging.getLogger("psycopg").addHandler(logging.NullHandler())

#: Spellings PostgreSQL reports (``format_type``) for the types ``type_map`` declares.
_ALIASES = {
    "int8": "bigint",
    "int": "integer",
    "int4": "integer",
    "float8": "double precision",
    "bool": "boolean",
    "timestamp": "timestamp without time zone",
    "timestamptz": "timestamp with time zone",
    "time": "time without time zone",
    "decimal": "numeric",
}
#: The current schema's namespace, in the catalog queries.
_SCHEMA = "current_schema()::regnamespace"
_VARCHAR = re.compile(r"^varchar\((\d+)\)$")

#: SQLSTATEs that mean the server ended the session (admin shutdown, crash, restart).
_LOST_STATES = frozenset({"57P01", "57P02", "57P03"})
_CONFLICT_STATES = frozenset({"40001", "40P01", "55P03"})
#: A write sent to a hot standby (or inside a read-only transaction).
_READ_ONLY_STATES = frozenset({"25006"})
_INTEGRITY_KINDS = {
    "23505": "UNIQUE",
    "23503": "FOREIGN KEY",
    "23502": "NOT NULL",
    "23514": "CHECK",
}


def _canonical(t: str) -> str:
    t = re.sub(r"\s+", " ", t.strip().lower())
    m = _VARCHAR.match(t)
    if m:
        return f"character varying({m.group(1)})"
    return _ALIASES.get(t, t)


class PostgresDialect(Dialect):
    name: ClassVar[str] = "postgresql"
    display_name: ClassVar[str] = "PostgreSQL"
    text_nul: ClassVar[bool] = False
    placeholder: ClassVar[str] = "%s"
    quote_char: ClassVar[str] = '"'
    #: The protocol counts bound parameters in 16 bits.
    max_params: ClassVar[int] = 65_535
    supports_returning: ClassVar[bool] = True
    update_form: ClassVar[str] = "unnest"
    array_batches: ClassVar[bool] = True
    #: psycopg runs executemany in pipeline mode: one Sync, one wait, whatever the row count.
    executemany_rows_per_round_trip: ClassVar[int] = 1_000_000
    begin_sql: ClassVar[str | None] = "BEGIN"
    #: psycopg's pipeline mode (libpq >= 14).
    pipelines: ClassVar[bool] = psycopg.Pipeline.is_supported()
    #: Measured on 10,000 and 100,000 inserts: 2,000-row statements in one pipeline took
    #: 20-30% less time than one statement of every row (the server inserts one chunk while
    #: the client builds the next).
    array_rows: ClassVar[int] = 2_000
    #: Measured on 10,000 removals (INTEGER and BIGINT keys): ``pk = ANY(%s::bigint[])`` in
    #: 500-key statements, pipelined, took 10-11 ms; 2,000-key statements 10.4-11.6; one
    #: 10,000-key statement 14.8; a join to ``unnest`` in 2,000-key statements 13.8-14.7.
    array_delete_rows: ClassVar[int] = 500
    #: libpq >= 17 sends a result in chunks of rows (psycopg >= 3.2's ``stream(size=...)``):
    #: ``Query.stream``'s memory stays flat (every chunk reuses the memory of the one before).
    streams_chunks: ClassVar[bool] = bool(
        getattr(getattr(psycopg, "capabilities", None), "has_stream_chunked", lambda: False)()
    )
    #: A hot standby answers reads only; a promoted one takes writes.
    writable_sql: ClassVar[str | None] = "SELECT NOT pg_is_in_recovery()"
    #: Behind by how long: 0 on a primary, or when everything received has been replayed while
    #: the WAL receiver streams; unknown (NULL) when it does not stream (cut off from the
    #: primary: its data may be old however idle it looks).
    replica_lag_sql: ClassVar[str | None] = (
        "SELECT CASE WHEN NOT pg_is_in_recovery() THEN 0"
        " WHEN NOT EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming')"
        " THEN NULL"
        " WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0"
        " ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0) END"
    )
    autoincrement_pk: ClassVar[str] = "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"
    str_with_length: ClassVar[str] = "VARCHAR({n})"
    type_map: ClassVar[dict[str, str]] = {
        "int": "BIGINT",
        "float": "DOUBLE PRECISION",
        "bool": "BOOLEAN",
        "str": "TEXT",
        "bytes": "BYTEA",
        "decimal": "NUMERIC",
        "datetime": "TIMESTAMP",
        "datetime_aware": "TIMESTAMPTZ",
        "date": "DATE",
        "time": "TIME",
        "uuid": "UUID",
        "enum_int": "BIGINT",
        "enum_str": "VARCHAR({n})",
        "json": "JSONB",
    }
    returning_exact_kinds: ClassVar[frozenset[str]] = frozenset(
        {"int", "str", "bool", "bytes", "uuid", "date", "time", "datetime", "decimal", "enum"}
    )

    ilike_sql: ClassVar[str] = "{col} {not}ILIKE {p}"
    regex_sql: ClassVar[str | None] = "{col} {not}~ {p}"
    # JSON null compares as NULL, as on the other backends (jsonb's null is a value).
    json_scalar_sql: ClassVar[str] = "NULLIF({col} #> {path}::text[], 'null'::jsonb)"
    json_text_sql: ClassVar[str] = "({col} #>> {path}::text[])"
    json_null_sql: ClassVar[str] = "({col} #>> {path}::text[])"
    json_order_sql: ClassVar[tuple[str, ...]] = ("NULLIF({col} #> {path}::text[], 'null'::jsonb)",)
    json_select_sql: ClassVar[str] = "({col} #> {path}::text[])"
    json_select_decoded: ClassVar[bool] = True
    json_value_sql: ClassVar[str] = "{p}::jsonb"

    def json_path(self, path: Sequence[str | int]) -> Any:
        return [str(k) for k in path]

    def json_value(self, value: Any) -> Any:
        return json_dumps(value)

    def cast_type(self, f: FieldInfo) -> str:
        # A cast to VARCHAR(n) would cut long text silently; TEXT lets the column refuse it.
        if f.kind == "reference":
            target = f.target
            assert target is not None
            return self.cast_type(target.primary_key[0])
        if f.kind == "str" or (f.kind == "enum" and "VARCHAR" in self.column_type(f)):
            return "TEXT"
        return self.column_type(f)

    def to_db_kind(self, f: FieldInfo) -> Converter | None:
        if f.kind == "uuid":
            return None
        return super().to_db_kind(f)

    # -- errors ----------------------------------------------------------------------------

    # A load that keeps every object (``find``, the loaders) reads the buffered result in
    # chunks (``stream`` is None: ``cursor.fetchmany``, rows made in C a chunk at a time):
    # psycopg's ``stream`` yields row by row from a Python generator, ~780 client instructions
    # a row more (S2r, 10,000 rows: 45.6M -> 37.8M; wall 9.6 -> 8.8 ms; at 100,000 rows the
    # CPU is 78 -> 67 ms, the wall 96 -> 103 ms: the stream overlaps the server's sending).
    # ``Query.stream`` (its own connection) streams, so its memory stays flat.
    def stream_unbuffered(
        self, raw: Any, sql: str, params: Sequence[Any], size: int
    ) -> Generator[Any, None, None] | None:
        if not self.streams_chunks:
            return None  # one row a time (libpq < 17) is slower than a buffered result
        rows: Generator[Any, None, None] = raw.cursor().stream(sql, params, size=size)
        return rows

    def send_begin(self, raw: Any) -> None:
        # libpq's PQexec of the bare command (the connection's documented ``pgconn``): no
        # cursor, no parameters, no result conversion; a third of the client CPU of a cursor's
        # execute, and less than pipelining BEGIN with the next statement (measured under
        # load: 82 us against 122 us per BEGIN + SELECT + COMMIT).
        result = raw.pgconn.exec_(b"BEGIN")
        if result.status != psycopg.pq.ExecStatus.COMMAND_OK:
            if raw.pgconn.status != psycopg.pq.ConnStatus.OK:
                message = raw.pgconn.error_message.decode(errors="replace").strip()
                raise psycopg.OperationalError(f"the connection was lost: {message}")
            raise psycopg.errors.error_from_result(result)

    def pipeline(self, raw: Any) -> contextlib.AbstractContextManager[Any]:
        pipe: contextlib.AbstractContextManager[Any] = raw.pipeline()
        return pipe

    def failed_in_pipeline(self, cursors: Sequence[Any], exc: BaseException) -> int:
        server = getattr(getattr(exc, "diag", None), "sqlstate", None) is not None
        if not server and not self.is_connection_error(exc):
            return len(cursors) - 1  # the client failed while sending the last one
        # psycopg attaches a result to each cursor in order and stops at the failure; a lost
        # connection is the first statement left without one (whenever the loss was seen).
        return next((i for i, c in enumerate(cursors) if c.pgresult is None), len(cursors) - 1)

    def cancel(self, raw: Any) -> None:
        # A cancel request on its own connection to the server (libpq's PQcancel); the running
        # statement fails with SQLSTATE 57014 and the connection stays usable.
        raw.cancel_safe()

    def is_connection_error(self, exc: BaseException) -> bool:
        if isinstance(exc, psycopg.InterfaceError):
            return True
        if isinstance(exc, psycopg.OperationalError):
            state = exc.sqlstate
            return state is None or state.startswith("08") or state in _LOST_STATES
        return getattr(exc, "sqlstate", None) in _READ_ONLY_STATES

    def translate_error(
        self, exc: BaseException, entity_names: dict[str, str], context: str
    ) -> DatabaseError:
        text = _first_line(exc)
        state = getattr(exc, "sqlstate", None)
        if isinstance(exc, psycopg.Error) and state in _INTEGRITY_KINDS:
            diag = exc.diag
            return self.integrity_error(
                exc,
                entity_names,
                context,
                kind=_INTEGRITY_KINDS[state],
                table=diag.table_name,
                column=diag.column_name,
                constraint=diag.constraint_name,
            )
        return self.classified_error(
            exc,
            text,
            context,
            conflict=state in _CONFLICT_STATES,
            missing_table=state == "42P01",
            read_only=state in _READ_ONLY_STATES,
        )

    # -- schema ----------------------------------------------------------------------------

    catalog_autoincrement_sql: ClassVar[str] = (
        "SELECT c.relname, a.attname FROM pg_catalog.pg_class c"
        " JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid"
        " LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum"
        " WHERE c.relkind = 'r' AND c.relnamespace = "
        + _SCHEMA
        + " AND a.attnum > 0 AND NOT a.attisdropped AND (a.attidentity <> ''"
        " OR strpos(pg_get_expr(d.adbin, d.adrelid), 'nextval(') = 1)"
    )
    catalog_columns_sql: ClassVar[str] = (
        "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull,"
        " pg_get_expr(d.adbin, d.adrelid)"
        " FROM pg_catalog.pg_class c"
        " JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid"
        " LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum"
        " WHERE c.relkind = 'r' AND c.relnamespace = "
        + _SCHEMA
        + " AND a.attnum > 0 AND NOT a.attisdropped ORDER BY c.relname, a.attnum"
    )
    catalog_pk_sql: ClassVar[str] = (
        "SELECT t.relname, a.attname, ic.relname FROM pg_catalog.pg_index i"
        " JOIN pg_catalog.pg_class t ON t.oid = i.indrelid"
        " JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid"
        " CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)"
        " JOIN pg_catalog.pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum"
        " WHERE i.indisprimary AND t.relnamespace = " + _SCHEMA + " ORDER BY t.relname, k.n"
    )
    catalog_indexes_sql: ClassVar[str] = (
        "SELECT t.relname, ic.relname, i.indisunique, a.attname,"
        " EXISTS (SELECT 1 FROM pg_catalog.pg_constraint c WHERE c.conindid = i.indexrelid"
        " AND c.conrelid = t.oid AND c.contype IN ('u', 'x'))"
        " FROM pg_catalog.pg_index i"
        " JOIN pg_catalog.pg_class t ON t.oid = i.indrelid"
        " JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid"
        " CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)"
        " LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum"
        " WHERE NOT i.indisprimary AND i.indpred IS NULL AND t.relnamespace = "
        + _SCHEMA
        + " ORDER BY t.relname, ic.relname, k.n"
    )
    catalog_fks_sql: ClassVar[str] = (
        "SELECT t.relname, c.conname, a.attname, rt.relname, ra.attname,"
        " CASE c.confdeltype WHEN 'c' THEN 'cascade' WHEN 'n' THEN 'set null'"
        " WHEN 'd' THEN 'set default' ELSE 'restrict' END"
        " FROM pg_catalog.pg_constraint c"
        " JOIN pg_catalog.pg_class t ON t.oid = c.conrelid"
        " JOIN pg_catalog.pg_class rt ON rt.oid = c.confrelid"
        " CROSS JOIN LATERAL unnest(c.conkey, c.confkey) WITH ORDINALITY AS k(a1, a2, n)"
        " JOIN pg_catalog.pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.a1"
        " JOIN pg_catalog.pg_attribute ra ON ra.attrelid = rt.oid AND ra.attnum = k.a2"
        " WHERE c.contype = 'f' AND t.relnamespace = "
        + _SCHEMA
        + " ORDER BY t.relname, c.conname, k.n"
    )
    catalog_checks_sql: ClassVar[str] = (
        "SELECT t.relname, c.conname FROM pg_catalog.pg_constraint c"
        " JOIN pg_catalog.pg_class t ON t.oid = c.conrelid"
        " WHERE c.contype = 'c' AND t.relnamespace = " + _SCHEMA
    )
    char_length_fn: ClassVar[str] = "char_length"
    not_integer_sql: ClassVar[str] = "NOT ({c}::text ~ '^\\s*[-+]?[0-9]+\\s*$')"
    lock_try_sql: ClassVar[str] = "SELECT pg_try_advisory_lock(hashtext(%s || current_schema()))"
    unlock_sql: ClassVar[str] = "SELECT pg_advisory_unlock(hashtext(%s || current_schema()))"
    max_identifier_bytes: ClassVar[int] = 63
    lock_waits_local: ClassVar[bool] = True
    serial_sequence_type_sql: ClassVar[str] = "ALTER SEQUENCE {sequence} AS {type}"

    def numbering_statements(
        self, table: str, column: str, on: bool
    ) -> list[tuple[str, tuple[Any, ...]]]:
        t, c = self.quote(table), self.quote(column)
        if not on:
            return [(f"ALTER TABLE {t} ALTER COLUMN {c} DROP IDENTITY IF EXISTS", ())]
        return [
            (f"ALTER TABLE {t} ALTER COLUMN {c} ADD GENERATED BY DEFAULT AS IDENTITY", ()),
            # The identity's sequence starts after the rows already there (its name comes
            # from the catalog; the table as an identifier, the column as a name: bound).
            (
                f"SELECT setval(pg_get_serial_sequence(%s, %s),"
                f" (SELECT COALESCE(MAX({c}), 0) + 1 FROM {t}), false)",
                (t, column),
            ),
        ]

    def get_lock_waits(self, conn: Any) -> Any:
        return conn.fetchall("SELECT current_setting('lock_timeout')", (), "read lock_timeout")[0][
            0
        ]

    def set_lock_waits(self, conn: Any, seconds: float, *, local: bool = False) -> None:
        # lock_timeout also bounds CREATE INDEX CONCURRENTLY's wait for older transactions;
        # 0 would mean "no limit", so the shortest is 1 ms. set_config(..., true) is SET LOCAL.
        ms = max(1, int(seconds * 1000))
        conn.fetchall(
            "SELECT set_config('lock_timeout', %s, %s)", (f"{ms}ms", local), "set lock_timeout"
        )

    def restore_lock_waits(self, conn: Any, saved: Any) -> None:
        if saved is not None:
            conn.fetchall(
                "SELECT set_config('lock_timeout', %s, false)", (saved,), "restore lock_timeout"
            )

    online_index_sql: ClassVar[str] = (
        "CREATE {unique}INDEX CONCURRENTLY {name} ON {table} ({columns})"
    )
    online_index_outside_transaction: ClassVar[bool] = True
    online_index_cleanup_sql: ClassVar[str] = "DROP INDEX IF EXISTS {index}"
    online_constraint_suffix: ClassVar[str] = " NOT VALID"
    #: NOT VALID is committed before VALIDATE runs: VALIDATE then holds only SHARE UPDATE
    #: EXCLUSIVE (writes go on) instead of the ADD's lock for the whole scan.
    online_constraint_outside_transaction: ClassVar[bool] = True
    online_constraint_cleanup_sql: ClassVar[str] = (
        "ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {name}"
    )
    validate_constraint_sql: ClassVar[str] = "ALTER TABLE {table} VALIDATE CONSTRAINT {name}"
    lock_levels: ClassVar[dict[str, str]] = {
        "create_table": "none",
        "add_column": "ACCESS EXCLUSIVE, brief (metadata only)",
        "create_index": "SHARE (writes wait)",
        "create_index_online": "none (CONCURRENTLY)",
        "alter_type": "ACCESS EXCLUSIVE (table rewritten)",
        "default": "ACCESS EXCLUSIVE, brief",
        "add_foreign_key": "SHARE ROW EXCLUSIVE (rows checked)",
        "add_foreign_key_online": "SHARE UPDATE EXCLUSIVE (NOT VALID, then VALIDATE)",
        "add_check_online": "SHARE UPDATE EXCLUSIVE (NOT VALID, then VALIDATE)",
        "set_not_null": "ACCESS EXCLUSIVE (rows checked)",
    }

    def canonical_type(self, declared: str) -> str:
        return _canonical(declared)
