"""The SQLite dialect: stdlib ``sqlite3``, ``?`` placeholders, RETURNING (SQLite >= 3.35).

Storage choices: datetimes, dates and times as ISO text (aware datetimes normalised to UTC, so
text order is time order), Decimal as canonical text in a TEXT-affinity column (a NUMERIC
column would keep only ~15 significant digits; range comparisons and ordering cast to REAL),
UUID as 36-character text, JSON as text, Enum by value. Callers:
``core.adapters.SQLiteAdapter``. What it leaves out: connecting and pragmas (the adapter).
"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, ClassVar

from core.dialects.base import Converter, Dialect, _first_line
from core.entity import FieldInfo
from core.errors import ConflictError, DatabaseError, OrmConnectionError

__all__ = ["SQLiteDialect"]

_UNIQUE = re.compile(r"UNIQUE constraint failed: ([\w.]+)")
_NOT_NULL = re.compile(r"NOT NULL constraint failed: ([\w.]+)")
_CHECK = re.compile(r"CHECK constraint failed: (\w+)")
_CHECK_NAME = re.compile(r'CONSTRAINT\s+"(ck_[^"]+)"\s+CHECK\s*\(', re.I)


def _parenthesised(sql: str, start: int) -> str:
    """The text from ``start`` (just after an opening parenthesis) to its closing one,
    skipping parentheses inside quoted strings and names."""
    depth, i, quote = 1, start, ""
    while i < len(sql):
        ch = sql[i]
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"`":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return sql[start:i].strip()
        i += 1
    return ""


def _decimal_to_db(v: Decimal) -> str:
    """Canonical text: equal Decimals give equal text (1.50 and 1.5 both give '1.5')."""
    text = format(v, "f")  # exact: no rounding to the context precision
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _datetime_to_db(v: dt.datetime) -> str:
    if v.tzinfo is not None:
        v = v.astimezone(dt.UTC)
    return v.isoformat(" ", "microseconds")


def _time_to_db(v: dt.time) -> str:
    return v.isoformat("microseconds")


def _date_to_db(v: dt.date) -> str:
    return v.isoformat()


def _glob_pattern(pattern: str) -> str:
    """A ``like`` pattern as a GLOB pattern: ``%`` -> ``*``, ``_`` -> ``?``, ``\\x`` -> ``x``
    literal; GLOB's own ``*``, ``?`` and ``[`` made literal as ``[*]``, ``[?]``, ``[[]``."""
    out = []
    chars = iter(pattern)
    for c in chars:
        if c == "\\":
            c = next(chars, "\\")
        elif c == "%":
            out.append("*")
            continue
        elif c == "_":
            out.append("?")
            continue
        out.append(f"[{c}]" if c in "*?[" else c)
    return "".join(out)


class SQLiteDialect(Dialect):
    name: ClassVar[str] = "sqlite"
    display_name: ClassVar[str] = "SQLite"
    #: SQLite stores a NaN REAL as NULL.
    stores_nan: ClassVar[bool] = False
    placeholder: ClassVar[str] = "?"
    max_params: ClassVar[int] = 32_766
    # In-process, a statement costs no round trip, and 500-row statements measured faster than
    # ones at the parameter limit (10,000 inserts: 30 ms against 37; bench/, S1 and S5).
    max_rows_per_insert: ClassVar[int] = 500
    supports_returning: ClassVar[bool] = sqlite3.sqlite_version_info >= (3, 35)
    # A batch of UPDATEs as one ``UPDATE ... FROM (VALUES ...)`` per 500 rows: one statement
    # to prepare and run instead of one execution per row (S9: faster than executemany).
    update_form: ClassVar[str] = (
        "values" if sqlite3.sqlite_version_info >= (3, 33) else "executemany"
    )
    update_batch_rows: ClassVar[int] = 500
    begin_sql: ClassVar[str | None] = "BEGIN IMMEDIATE"
    scoped_reads_in_transaction: ClassVar[bool] = False
    single_writer: ClassVar[bool] = True
    autoincrement_pk: ClassVar[str] = "INTEGER PRIMARY KEY AUTOINCREMENT"
    unlimited: ClassVar[int | None] = -1
    str_with_length: ClassVar[str] = "VARCHAR({n})"
    type_map: ClassVar[dict[str, str]] = {
        "int": "INTEGER",
        "float": "REAL",
        "bool": "BOOLEAN",
        "str": "TEXT",
        "bytes": "BLOB",
        "decimal": "DECIMAL TEXT",
        "datetime": "DATETIME",
        "date": "DATE",
        "time": "TIME",
        "uuid": "CHAR(36)",
        "enum_int": "INTEGER",
        "enum_str": "TEXT",
        "json": "JSON",
    }
    returning_exact_kinds: ClassVar[frozenset[str]] = frozenset(
        {
            "int",
            "str",
            "bool",
            "bytes",
            "uuid",
            "date",
            "time",
            "datetime",
            "enum",
            "float",
            "decimal",
        }
    )
    # Decimals are stored as canonical text (every digit kept, equal values equal text);
    # order and range comparisons go through REAL.
    numeric_text_kinds: ClassVar[frozenset[str]] = frozenset({"decimal"})

    cancels_lock_waits: ClassVar[bool] = False
    # SQLite's LIKE ignores ASCII case: ``like`` is GLOB with the pattern translated. Python's
    # ``str.lower`` (``ormcli_lower``) and ``re.search`` (``regexp``) are registered on
    # connecting (``core.adapters.sqlite``), so case folds and patterns match as on the servers.
    like_sql: ClassVar[str] = "{col} {not}GLOB {p}"
    ilike_sql: ClassVar[str] = "ormcli_lower({col}) {not}GLOB ormcli_lower({p})"
    regex_sql: ClassVar[str | None] = "{col} {not}REGEXP {p}"
    explain_sql: ClassVar[str] = "EXPLAIN QUERY PLAN "
    #: sqlite3 steps a cursor on demand (nothing is buffered), and other cursors of the same
    #: connection may run meanwhile; ``:memory:`` lives in one connection anyway.
    stream_on_own_connection: ClassVar[bool] = False

    def like_pattern(self, pattern: str) -> str:
        return _glob_pattern(pattern)

    def to_db_kind(self, f: FieldInfo) -> Converter | None:
        kind = f.kind
        if kind == "datetime":
            return _datetime_to_db
        if kind == "date":
            return _date_to_db
        if kind == "time":
            return _time_to_db
        if kind == "decimal":
            return _decimal_to_db
        return super().to_db_kind(f)

    def to_db_inline(self, f: FieldInfo) -> str | None:
        # Same text as _datetime_to_db / _date_to_db for the values that reach it (naive
        # datetimes are checked to be naive before the expression runs).
        if f.kind == "datetime" and not f.aware:
            return "{}.isoformat(' ', 'microseconds')"
        if f.kind == "date":
            return "{}.isoformat()"
        return None

    def from_db_converter(self, f: FieldInfo) -> Converter | None:
        kind = f.kind
        if kind == "datetime":
            return dt.datetime.fromisoformat
        if kind == "date":
            return dt.date.fromisoformat
        if kind == "time":
            return dt.time.fromisoformat
        return super().from_db_converter(f)

    def is_connection_error(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.ProgrammingError) and "closed" in str(exc)

    def cancel(self, raw: Any) -> None:
        # sqlite3_interrupt: made to be called from another thread; a statement waiting on a
        # lock stops at its next step (the busy timeout may run out first).
        raw.interrupt()

    def translate_error(
        self, exc: BaseException, entity_names: dict[str, str], context: str
    ) -> DatabaseError:
        text = _first_line(exc)
        if isinstance(exc, sqlite3.IntegrityError):
            for pattern, kind in ((_UNIQUE, "UNIQUE"), (_NOT_NULL, "NOT NULL")):
                m = pattern.search(text)
                if m:
                    table, _, column = m.group(1).partition(".")
                    return self.integrity_error(
                        exc,
                        entity_names,
                        context,
                        kind=kind,
                        table=table,
                        column=column or None,
                        constraint=None,
                    )
            m = _CHECK.search(text)
            if m:
                return self.integrity_error(
                    exc,
                    entity_names,
                    context,
                    kind="CHECK",
                    table=None,
                    column=None,
                    constraint=m.group(1),
                )
            if "FOREIGN KEY" in text:
                return self.integrity_error(
                    exc,
                    entity_names,
                    context,
                    kind="FOREIGN KEY",
                    table=None,
                    column=None,
                    constraint=None,
                )
            return self.integrity_error(
                exc,
                entity_names,
                context,
                kind="integrity",
                table=None,
                column=None,
                constraint=None,
            )
        if isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text):
            return ConflictError(
                f"{context}: the database is locked by another connection; try again",
                exc,
                retryable=True,
            )
        if self.is_connection_error(exc):
            return OrmConnectionError(f"{context}: the connection is closed", exc)
        missing = isinstance(exc, sqlite3.OperationalError) and "no such table" in text
        return self.classified_error(exc, text, context, missing_table=missing)

    def missing_columns(self, conn: Any, table: str, columns: Sequence[str]) -> list[str]:
        """SQLite reads a double-quoted name that is no column as a string: ``SELECT "nick"``
        gives the text 'nick' for every row and ``WHERE "nick" = 1`` matches nothing, without
        an error. A query checks its table's columns first (once per connection)."""
        rows = conn.fetchall(f"PRAGMA table_info({self.quote(table)})", ())
        if not rows:  # no such table: the query itself fails and names it
            return []
        have = {row[1].lower() for row in rows}
        return [c for c in columns if c.lower() not in have]

    # -- schema ----------------------------------------------------------------------------

    catalog_columns_sql: ClassVar[str] = (
        'SELECT m.name, p.name, p.type, p."notnull" = 0 AND p.pk = 0, p.dflt_value'
        " FROM sqlite_master m JOIN pragma_table_info(m.name) p"
        " WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' ORDER BY m.name, p.cid"
    )
    catalog_autoincrement_sql: ClassVar[str] = (
        "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p"
        " WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND p.pk = 1"
        " AND upper(p.type) = 'INTEGER' AND instr(upper(m.sql), 'WITHOUT ROWID') = 0"
        " AND (SELECT count(*) FROM pragma_table_info(m.name) k WHERE k.pk > 0) = 1"
    )
    catalog_pk_sql: ClassVar[str] = (
        "SELECT m.name, p.name, NULL FROM sqlite_master m JOIN pragma_table_info(m.name) p"
        " WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND p.pk > 0"
        " ORDER BY m.name, p.pk"
    )
    catalog_indexes_sql: ClassVar[str] = (
        "SELECT m.name, il.name, il.\"unique\", ii.name, il.origin = 'u'"
        " FROM sqlite_master m JOIN pragma_index_list(m.name) il"
        " JOIN pragma_index_info(il.name) ii"
        " WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND il.origin <> 'pk'"
        " AND il.partial = 0 ORDER BY m.name, il.name, ii.seqno"
    )
    catalog_fks_sql: ClassVar[str] = (
        'SELECT m.name, \'fk_\' || m.name || \'_\' || f."from", f."from", f."table",'
        ' f."to", lower(f.on_delete) FROM sqlite_master m'
        " JOIN pragma_foreign_key_list(m.name) f"
        " WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' ORDER BY m.name, f.id, f.seq"
    )
    transactional_ddl: ClassVar[bool] = True
    alter_column_form: ClassVar[str] = "rebuild"
    char_length_fn: ClassVar[str] = "LENGTH"
    not_integer_sql: ClassVar[str] = "CAST(CAST({c} AS INTEGER) AS TEXT) <> TRIM(CAST({c} AS TEXT))"

    def get_lock_waits(self, conn: Any) -> Any:
        return conn.fetchall("PRAGMA busy_timeout", (), "read the busy timeout")[0][0]

    def set_lock_waits(self, conn: Any, seconds: float, *, local: bool = False) -> None:
        # The busy timeout bounds BEGIN IMMEDIATE (another writer) and COMMIT (readers of a
        # rollback-journal database). PRAGMA takes no parameter: a whole number, formatted.
        ms = max(1, int(seconds * 1000))
        conn.execute(f"PRAGMA busy_timeout = {ms}", (), "set the busy timeout")

    def restore_lock_waits(self, conn: Any, saved: Any) -> None:
        if saved is not None:
            conn.execute(f"PRAGMA busy_timeout = {int(saved)}", (), "restore the busy timeout")

    migrate_prologue_sql: ClassVar[tuple[str, ...]] = ("PRAGMA foreign_keys = OFF",)
    migrate_epilogue_sql: ClassVar[tuple[str, ...]] = ("PRAGMA foreign_keys = ON",)
    foreign_key_check_sql: ClassVar[str] = "PRAGMA foreign_key_check"
    reserved_prefixes: ClassVar[tuple[str, ...]] = ("sqlite_",)
    lock_levels: ClassVar[dict[str, str]] = {
        "rebuild": "database write lock (table rebuilt)",
        "default": "database write lock",
    }

    def rebuild_counter_statements(self, new: str, old: str) -> list[tuple[str, tuple[Any, ...]]]:
        """The AUTOINCREMENT counter of ``old`` given to its rebuilt copy ``new`` (else an
        id deleted before the rebuild could be handed out again)."""
        return [
            ("DELETE FROM sqlite_sequence WHERE name = ?", (new,)),
            (
                "INSERT INTO sqlite_sequence (name, seq) "
                "SELECT ?, seq FROM sqlite_sequence WHERE name = ?",
                (new, old),
            ),
        ]

    def read_checks(self, conn: Any) -> list[tuple[str, ...]]:
        """SQLite keeps no catalog of checks: names and expressions are read from each
        table's SQL (a table rebuild writes the expressions again)."""
        out: list[tuple[str, ...]] = []
        for name, sql in conn.fetchall(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            (),
            "read checks",
        ):
            text = sql or ""
            out += [
                (name, m.group(1), _parenthesised(text, m.end()))
                for m in _CHECK_NAME.finditer(text)
            ]
        return out

    def canonical_type(self, declared: str) -> str:
        t = re.sub(r"\s+", " ", declared.strip().lower())
        return {"integer primary key autoincrement": "integer"}.get(t, t)
