"""Data checks: what each operation would do to the rows there are, before anything runs.

``assess(conn, ops, live)`` counts, per operation, the rows it touches and sorts it into
``safe`` (applies without asking), ``data loss`` (needs ``--allow-data-loss`` or a yes on a
terminal: dropping a table or column that holds data, a cast that may change values, a new
primary key on a table with rows) or ``blocked`` (would fail or cannot be done without losing
data silently: NOT NULL over NULLs, a unique over duplicates, text longer than a narrowed
column, values that do not cast, rows that a new foreign key or check rejects; the note says
the fix). Every count is a read-only query; values stay bound parameters.
Callers: ``core.migrations.plan``. What it leaves out: running the operations.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from core.dialects.base import Dialect
from core.migrations.operations import (
    AddCheck,
    AddColumn,
    AddForeignKey,
    AlterColumn,
    Backfill,
    CreateIndex,
    DropColumn,
    DropTable,
    Operation,
    RenameColumn,
    RenameTable,
    SetPrimaryKey,
)
from core.migrations.schema import Schema

__all__ = ["BLOCKED", "LOSS", "SAFE", "Finding", "assess", "type_change"]

SAFE, LOSS, BLOCKED = "safe", "data loss", "blocked"
_CTX = "cannot check the data before migrating"
_LEN = re.compile(r"^(?:character varying|varchar|char|character)\((\d+)\)$")
_TEXT = ("text", "longtext", "mediumtext", "clob")
_INTS = {"smallint": 2, "integer": 4, "int": 4, "bigint": 8, "mediumint": 3, "tinyint": 1}


@dataclass(frozen=True)
class Finding:
    """What one operation does to the data: ``risk`` is SAFE, LOSS or BLOCKED."""

    risk: str = SAFE
    rows: int | None = None
    note: str = ""


def type_change(d: Dialect, old: str, new: str) -> tuple[str, int | None]:
    """("widen" | "narrow" | "to_int" | "cast", the new length for a narrowing)."""
    a, b = d.canonical_type(d.sql_type(old)), d.canonical_type(d.sql_type(new))
    la, lb = _LEN.match(a), _LEN.match(b)
    if b in _TEXT or (b.startswith("character varying") and not lb):
        return ("widen", None) if a not in ("bytea", "blob", "longblob") else ("cast", None)
    if lb:
        n = int(lb.group(1))
        if la and int(la.group(1)) <= n:
            return "widen", None
        return "narrow", n
    base_a, base_b = a.split("(")[0], b.split("(")[0]
    if base_b in _INTS:
        if base_a in _INTS and _INTS[base_a] <= _INTS[base_b]:
            return "widen", None
        return "to_int", None
    if base_a in _INTS and base_b in ("real", "double", "double precision", "numeric", "decimal"):
        return "widen", None
    return "cast", None


def _count(conn: Any, sql: str, params: tuple[Any, ...] = ()) -> int:
    return int(conn.fetchall(sql, params, _CTX)[0][0])


def assess(conn: Any, ops: list[Operation], live: Schema) -> list[Finding]:
    d: Dialect = conn.dialect
    q = d.quote
    out: list[Finding] = []
    # Tables and columns as the database names them now (renames in the plan undone).
    table_name: dict[str, str] = {}
    column_name: dict[tuple[str, str], str] = {}
    filled: set[tuple[str, str]] = set()
    created: set[str] = set()
    #: Columns this plan adds: their values are their default (or NULL) until it runs.
    added: dict[tuple[str, str], Any] = {}
    for op in ops:
        if isinstance(op, RenameTable):
            table_name[op.new_name] = table_name.get(op.table, op.table)
        elif isinstance(op, RenameColumn):
            column_name[(op.table, op.new)] = column_name.get((op.table, op.old), op.old)
        elif op.kind == "create_table":
            created.add(op.table)
        elif isinstance(op, AddColumn):
            added[(op.table, op.column.name)] = op.column

    def tbl(name: str) -> str:
        return q(table_name.get(name, name))

    def col(table: str, name: str) -> str:
        return q(column_name.get((table, name), name))

    def rows_of(table: str) -> int:
        return 0 if table in created else _count(conn, f"SELECT COUNT(*) FROM {tbl(table)}")

    for op in ops:
        t = op.table
        finding = Finding()
        if t in created or isinstance(op, RenameTable | RenameColumn):
            out.append(finding)
            continue
        new_cols = _columns_of(op) & {c for (tt, c) in added if tt == t}
        if new_cols and not isinstance(op, AddColumn):
            out.append(_on_new_columns(op, new_cols, added, t, rows_of))
            continue
        if isinstance(op, DropTable):
            n = rows_of(t)
            finding = Finding(LOSS if n else SAFE, n, f"{n} rows of {t} will be lost" if n else "")
        elif isinstance(op, DropColumn):
            c = col(t, op.column.name)
            n = _count(conn, f"SELECT COUNT(*) FROM {tbl(t)} WHERE {c} IS NOT NULL")
            note = f"{n} rows of {t} hold a value in {op.column.name} that will be lost"
            finding = Finding(LOSS if n else SAFE, n, note if n else "")
        elif isinstance(op, AddColumn):
            new = op.column
            if not new.nullable and new.default is None:
                n = rows_of(t)
                if n:
                    finding = Finding(
                        BLOCKED,
                        n,
                        f"{t} has {n} rows and the new column {new.name} is NOT NULL without "
                        f"a default; give the field a default or run with --backfill "
                        f"{t}.{new.name}=VALUE",
                    )
        elif isinstance(op, Backfill):
            n = _count(conn, f"SELECT COUNT(*) FROM {tbl(t)} WHERE {col(t, op.column)} IS NULL")
            filled.add((t, op.column))
            finding = Finding(SAFE, n, f"{n} rows of {t} get {op.column}={op.value!r}" if n else "")
        elif isinstance(op, AlterColumn):
            finding = _alter(conn, d, op, tbl(t), col(t, op.old.name), (t, op.new.name) in filled)
        elif isinstance(op, CreateIndex) and op.index.unique:
            finding = _duplicates(
                conn, d, tbl(t), t, [col(t, c) for c in op.index.columns], op.index.columns
            )
        elif isinstance(op, SetPrimaryKey) and op.new:
            n = rows_of(t)
            dup = _duplicates(conn, d, tbl(t), t, [col(t, c) for c in op.new], op.new)
            if dup.risk == BLOCKED:
                finding = dup
            elif n:
                finding = Finding(
                    LOSS,
                    n,
                    f"the primary key of {t} ({n} rows) changes; references to it may break",
                )
        elif isinstance(op, AddForeignKey):
            fk = op.fk
            c = col(t, fk.columns[0])
            n = _count(
                conn,
                f"SELECT COUNT(*) FROM {tbl(t)} WHERE {c} IS NOT NULL AND NOT EXISTS "
                f"(SELECT 1 FROM {tbl(fk.ref_table)} r WHERE r.{q(fk.ref_columns[0])} = "
                f"{tbl(t)}.{c})",
            )
            if n:
                finding = Finding(
                    BLOCKED,
                    n,
                    f"{n} rows of {t} refer to {fk.ref_table} rows that do not exist "
                    f"({fk.columns[0]}); fix or remove them first",
                )
        elif isinstance(op, AddCheck):
            n = _count(conn, f"SELECT COUNT(*) FROM {tbl(t)} WHERE NOT ({op.check.expression})")
            if n:
                finding = Finding(
                    BLOCKED,
                    n,
                    f"{n} rows of {t} fail the check {op.check.expression!r}; fix them first",
                )
        out.append(finding)
    return out


def _columns_of(op: Operation) -> set[str]:
    if isinstance(op, AlterColumn):
        return {op.new.name}
    if isinstance(op, Backfill):
        return {op.column}
    if isinstance(op, CreateIndex):
        return set(op.index.columns)
    if isinstance(op, SetPrimaryKey):
        return set(op.new)
    if isinstance(op, AddForeignKey):
        return set(op.fk.columns)
    return set()


def _on_new_columns(
    op: Operation, cols: set[str], added: dict[tuple[str, str], Any], t: str, rows_of: Any
) -> Finding:
    """An operation over columns this plan adds: every row holds the same default there."""
    if not isinstance(op, CreateIndex | SetPrimaryKey):
        return Finding()
    defaults = [added[(t, c)].default for c in sorted(cols)]
    if all(d is None for d in defaults) and isinstance(op, CreateIndex):
        return Finding()  # NULLs never collide
    n = rows_of(t)
    if n > 1:
        shared = ", ".join(f"{c}={added[(t, c)].default}" for c in sorted(cols))
        return Finding(
            BLOCKED,
            n,
            f"the {n} rows of {t} would all share {shared}; add the column first, "
            "fill it, then make it unique",
        )
    return Finding()


def _alter(conn: Any, d: Dialect, op: AlterColumn, t: str, c: str, filled: bool) -> Finding:
    name = f"{op.table}.{op.new.name}"
    if "type" in op.changes:
        how, n = type_change(d, op.old.type, op.new.type)
        if how == "narrow":
            assert n is not None
            bad = _count(conn, f"SELECT COUNT(*) FROM {t} WHERE {d.char_length_fn}({c}) > {int(n)}")
            if bad:
                return Finding(
                    BLOCKED,
                    bad,
                    f"{bad} values of {name} are longer than {n} characters; shorten them first",
                )
        elif how == "to_int":
            bad = _count(
                conn,
                f"SELECT COUNT(*) FROM {t} WHERE {c} IS NOT NULL AND "
                + d.not_integer_sql.format(c=c),
            )
            if bad:
                return Finding(
                    BLOCKED,
                    bad,
                    f"{bad} values of {name} will not cast to an integer; fix them first",
                )
        elif how == "cast":
            rows = _count(conn, f"SELECT COUNT(*) FROM {t} WHERE {c} IS NOT NULL")
            if rows:
                return Finding(
                    LOSS,
                    rows,
                    f"{rows} values of {name} will be converted to "
                    f"{d.sql_type(op.new.type)} and may change",
                )
    if "numbering" in op.changes and op.new.autoincrement and d.numbering_renumbers_zero:
        zeros = _count(conn, f"SELECT COUNT(*) FROM {t} WHERE {c} = 0")
        if zeros:
            return Finding(
                BLOCKED,
                zeros,
                f"a row of {op.table} has {op.new.name} = 0, which the server's numbering "
                "would replace with a new value; give that row another key first",
            )
    if op.old.nullable and not op.new.nullable and not filled:
        nulls = _count(conn, f"SELECT COUNT(*) FROM {t} WHERE {c} IS NULL")
        if nulls:
            return Finding(
                BLOCKED,
                nulls,
                f"{nulls} rows of {op.table} have {op.new.name} NULL; run with --backfill "
                f"{op.table}.{op.new.name}=VALUE",
            )
    return Finding()


def _duplicates(
    conn: Any, d: Dialect, t: str, table: str, cols: list[str], names: tuple[str, ...]
) -> Finding:
    group = ", ".join(cols)
    not_null = " AND ".join(f"{c} IS NOT NULL" for c in cols)
    rows = conn.fetchall(
        f"SELECT {group}, COUNT(*) FROM {t} WHERE {not_null} GROUP BY {group} "
        f"HAVING COUNT(*) > 1 ORDER BY COUNT(*) DESC",
        (),
        _CTX,
    )
    if not rows:
        return Finding()
    total = sum(int(r[-1]) for r in rows)
    first = rows[0]
    shared = ", ".join(f"{n}={v!r}" for n, v in zip(names, first[:-1], strict=True))
    more = f" ({total} rows in {len(rows)} groups)" if len(rows) > 1 else ""
    return Finding(
        BLOCKED,
        total,
        f"{int(first[-1])} rows of {table} share {shared}{more}; make them unique first",
    )
