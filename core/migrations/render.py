"""Operations to SQL for one dialect; SQLite's table rebuilds live here.

``render(ops, dialect, before)`` returns the statements, in order, that turn the schema
``before`` into ``apply_ops(before, ops)``. Where the dialect cannot alter a table in place
(SQLite: dropping or changing a column, keys, foreign keys, checks), every such operation on a
table is folded into one rebuild of it: create the new table, copy the rows, drop the old one,
rename the new one, re-create its indexes (the runner then runs ``PRAGMA foreign_key_check``).
Values (backfills) stay bound parameters; defaults are literals from the models. Callers:
``core.migrations.plan`` and ``files``. What it leaves out: running anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from core.dialects.base import Dialect
from core.migrations.operations import (
    AddCheck,
    AddColumn,
    AddForeignKey,
    AlterColumn,
    Backfill,
    CreateIndex,
    CreateTable,
    DropCheck,
    DropColumn,
    DropForeignKey,
    DropIndex,
    DropTable,
    Operation,
    RenameColumn,
    RenameTable,
    SetPrimaryKey,
    apply_ops,
)
from core.migrations.schema import Column, ForeignKey, Schema, Table

__all__ = ["Statement", "column_sql", "create_table_sql", "render"]


@dataclass(frozen=True)
class Statement:
    sql: str
    params: tuple[Any, ...] = ()
    #: Must run outside a transaction (PostgreSQL's CREATE INDEX CONCURRENTLY).
    outside_transaction: bool = False
    #: Part of a SQLite rebuild (the runner checks foreign keys afterwards).
    rebuild: bool = False
    ops: tuple[int, ...] = field(default=())
    #: Run when this statement fails outside a transaction: removes what it left half-made
    #: (an INVALID index, a NOT VALID constraint).
    cleanup: str = ""
    #: After that cleanup, how many statements before this one a resumed run starts (1 for
    #: a VALIDATE whose constraint the cleanup dropped: the ADD runs again).
    rewind: int = 0

    def flags(self) -> dict[str, Any]:
        """What the history keeps besides the SQL and parameters (for a resumed run)."""
        out: dict[str, Any] = {}
        if self.outside_transaction:
            out["outside_transaction"] = True
        if self.cleanup:
            out["cleanup"] = self.cleanup
        if self.rewind:
            out["rewind"] = self.rewind
        return out


def column_sql(d: Dialect, c: Column, *, inline_pk: bool = False) -> str:
    if c.autoincrement and inline_pk:
        return f"{d.quote(c.name)} {d.autoincrement_pk}"
    sql = f"{d.quote(c.name)} {d.sql_type(c.type)}"
    if not c.nullable:
        sql += " NOT NULL"
    if c.default is not None:
        sql += f" DEFAULT {c.default}"
    return sql


def _cols(d: Dialect, cols: tuple[str, ...]) -> str:
    return ", ".join(d.quote(c) for c in cols)


def _on_delete(fk: ForeignKey) -> str:
    return "" if fk.on_delete == "restrict" else f" ON DELETE {fk.on_delete.upper()}"


def _fk_clause(d: Dialect, fk: ForeignKey) -> str:
    return (
        f"CONSTRAINT {d.quote(fk.name)} FOREIGN KEY ({_cols(d, fk.columns)}) "
        f"REFERENCES {d.quote(fk.ref_table)} ({_cols(d, fk.ref_columns)}){_on_delete(fk)}"
    )


def create_table_sql(d: Dialect, t: Table, name: str | None = None, *, with_fks: bool) -> str:
    auto = len(t.primary_key) == 1 and any(
        c.autoincrement and c.name == t.primary_key[0] for c in t.columns.values()
    )
    parts = [column_sql(d, c, inline_pk=auto) for c in t.columns.values()]
    if t.primary_key and not auto:
        parts.append(f"PRIMARY KEY ({_cols(d, t.primary_key)})")
    parts += [f"CONSTRAINT {d.quote(c.name)} CHECK ({c.expression})" for c in t.checks.values()]
    if with_fks:
        parts += [_fk_clause(d, fk) for fk in t.foreign_keys.values()]
    body = ",\n  ".join(parts)
    return f"CREATE TABLE {d.quote(name or t.name)} (\n  {body}\n){d.table_options}"


def _create_index(d: Dialect, table: str, idx: Any, online: bool) -> Statement:
    unique = "UNIQUE " if idx.unique else ""
    if online and d.online_index_sql:
        sql = d.online_index_sql.format(
            unique=unique,
            name=d.quote(idx.name),
            table=d.quote(table),
            columns=_cols(d, idx.columns),
        )
        outside = d.online_index_outside_transaction
        cleanup = d.online_index_cleanup_sql.format(index=d.quote(idx.name), table=d.quote(table))
        return Statement(sql, outside_transaction=outside, cleanup=cleanup if outside else "")
    return Statement(
        f"CREATE {unique}INDEX {d.quote(idx.name)} ON {d.quote(table)} ({_cols(d, idx.columns)})"
    )


def _needs_rebuild(d: Dialect, op: Operation, created: set[str]) -> bool:
    if d.alter_column_form != "rebuild" or op.table in created:
        return False
    if isinstance(op, AddColumn):
        c = op.column
        return not c.nullable and c.default is None
    if isinstance(op, DropIndex):
        return op.index.constraint
    return isinstance(
        op,
        DropColumn
        | AlterColumn
        | SetPrimaryKey
        | AddForeignKey
        | DropForeignKey
        | AddCheck
        | DropCheck,
    )


def render(
    ops: list[Operation], d: Dialect, before: Schema, *, online: bool = False
) -> list[Statement]:
    """The statements that carry out ``ops`` on a database whose schema is ``before``."""
    after = apply_ops(before, ops)
    created = {op.table for op in ops if isinstance(op, CreateTable)}
    rebuilt: dict[str, int] = {}  # table (its name after renames) -> index of its last op
    final_name: dict[str, str] = {}
    for op in ops:
        if isinstance(op, RenameTable):
            final_name[op.table] = op.new_name
    # Tables the plan drops: what it changes on them first needs no rebuild (a down part
    # dropping a table drops its foreign keys and indexes before it).
    doomed = {op.table for op in ops if isinstance(op, DropTable) and after.table(op.table) is None}
    for i, op in enumerate(ops):
        if _needs_rebuild(d, op, created) and op.table not in doomed:
            rebuilt[op.table] = i
    for i, op in enumerate(ops):
        if op.table in rebuilt and not isinstance(op, RenameTable | DropTable | CreateTable):
            rebuilt[op.table] = i
    out: list[Statement] = []
    q = d.quote
    for i, op in enumerate(ops):
        if op.table in rebuilt and not isinstance(op, RenameTable):
            if rebuilt[op.table] == i:
                out += _rebuild(d, op.table, before, after, ops, i)
            continue
        if op.table in doomed and _needs_rebuild(d, op, created):
            continue  # the table is dropped later in the plan
        stmts: list[Statement] = []
        t = q(op.table)
        if isinstance(op, CreateTable):
            full = after.table(op.table) or op.definition
            inline = d.alter_column_form == "rebuild"
            definition = op.definition.copy()
            if inline:  # SQLite cannot add constraints later: the table is made with them
                definition.foreign_keys = dict(full.foreign_keys)
                definition.checks = dict(full.checks)
            stmts.append(Statement(create_table_sql(d, definition, with_fks=inline)))
        elif isinstance(op, DropTable):
            stmts.append(Statement(f"DROP TABLE {t}"))
        elif isinstance(op, RenameTable):
            stmts.append(Statement(f"ALTER TABLE {t} RENAME TO {q(op.new_name)}"))
        elif isinstance(op, AddColumn):
            suffix = d.online_alter_suffix if online else ""
            stmts.append(
                Statement(f"ALTER TABLE {t} ADD COLUMN {column_sql(d, op.column)}{suffix}")
            )
        elif isinstance(op, DropColumn):
            stmts.append(Statement(f"ALTER TABLE {t} DROP COLUMN {q(op.column.name)}"))
        elif isinstance(op, RenameColumn):
            stmts.append(Statement(f"ALTER TABLE {t} RENAME COLUMN {q(op.old)} TO {q(op.new)}"))
        elif isinstance(op, AlterColumn):
            stmts += _alter_column(d, op)
        elif isinstance(op, Backfill):
            c = q(op.column)
            stmts.append(
                Statement(f"UPDATE {t} SET {c} = {d.placeholder} WHERE {c} IS NULL", (op.value,))
            )
        elif isinstance(op, SetPrimaryKey):
            if op.old:
                live = before.table(op.table)
                name = (live.pk_name if live is not None else None) or f"{op.table}_pkey"
                stmts.append(Statement(d.drop_pk_sql.format(table=t, name=q(name))))
            if op.new:
                stmts.append(Statement(f"ALTER TABLE {t} ADD PRIMARY KEY ({_cols(d, op.new)})"))
        elif isinstance(op, CreateIndex):
            stmts.append(_create_index(d, op.table, op.index, online))
        elif isinstance(op, DropIndex):
            if op.index.constraint:
                sql = d.drop_check_sql.format(table=t, name=q(op.index.name))
            else:
                sql = d.drop_index_sql.format(index=q(op.index.name), table=t)
            held = _held_by_foreign_keys(d, op, before, after)
            stmts += [Statement(d.drop_fk_sql.format(table=t, name=q(fk.name))) for fk in held]
            stmts.append(Statement(sql))
            stmts += [Statement(f"ALTER TABLE {t} ADD {_fk_clause(d, fk)}") for fk in held]
        elif isinstance(op, AddForeignKey):
            if op.table in created and d.alter_column_form == "rebuild":
                continue  # made inline with its table
            stmts += _add_constraint(d, t, _fk_clause(d, op.fk), op.fk.name, online)
        elif isinstance(op, DropForeignKey):
            stmts.append(Statement(d.drop_fk_sql.format(table=t, name=q(op.fk.name))))
        elif isinstance(op, AddCheck):
            if op.table in created and d.alter_column_form == "rebuild":
                continue  # made inline with its table
            clause = f"CONSTRAINT {q(op.check.name)} CHECK ({op.check.expression})"
            stmts += _add_constraint(d, t, clause, op.check.name, online)
        elif isinstance(op, DropCheck):
            stmts.append(Statement(d.drop_check_sql.format(table=t, name=q(op.check.name))))
        else:  # pragma: no cover - every operation kind is rendered above
            raise TypeError(f"cannot render {op!r}")
        out += [replace(s, ops=(i,)) for s in stmts]
    return out


def _held_by_foreign_keys(
    d: Dialect, op: DropIndex, before: Schema, after: Schema
) -> list[ForeignKey]:
    """Foreign keys (kept by the plan) for which the server needs the index ``op`` drops:
    dropped first and added back after it (the server then makes an index of its own)."""
    old, new = before.table(op.table), after.table(op.table)
    if not d.foreign_key_needs_index or old is None or new is None:
        return []
    out = []
    for name, fk in old.foreign_keys.items():
        cols = [c.lower() for c in fk.columns]
        if (
            name not in new.foreign_keys
            or [c.lower() for c in op.index.columns][: len(cols)] != cols
        ):
            continue
        others = [i.columns for i in new.indexes.values() if i.name != op.index.name]
        others.append(new.primary_key)
        if not any([c.lower() for c in o][: len(cols)] == cols for o in others):
            out.append(fk)
    return out


def _add_constraint(d: Dialect, t: str, clause: str, name: str, online: bool) -> list[Statement]:
    if online and d.online_constraint_suffix:
        outside = d.online_constraint_outside_transaction
        cleanup = d.online_constraint_cleanup_sql.format(table=t, name=d.quote(name))
        return [
            Statement(
                f"ALTER TABLE {t} ADD {clause}{d.online_constraint_suffix}",
                outside_transaction=outside,
                cleanup=cleanup if outside else "",
            ),
            Statement(
                d.validate_constraint_sql.format(table=t, name=d.quote(name)),
                outside_transaction=outside,
                cleanup=cleanup if outside else "",
                rewind=1 if outside else 0,
            ),
        ]
    return [Statement(f"ALTER TABLE {t} ADD {clause}")]


#: ``nextval('name'::regclass)``, the default of a SERIAL column, as the catalog writes it:
#: the name is PostgreSQL's own rendering of the sequence (quoted where it needs to be).
_NEXTVAL = re.compile(
    r"^nextval\('((?:\"[^\"]+\"|[a-z_][a-z0-9_$]*)(?:\.(?:\"[^\"]+\"|[a-z_][a-z0-9_$]*))?)'"
    r"(?:::regclass)?\)$"
)


def _serial_sequence(default: str | None) -> str | None:
    """The sequence behind a SERIAL column's default, as an identifier ready for SQL; None
    for anything else (an identity column has no default; nothing else is trusted)."""
    match = _NEXTVAL.match(default or "")
    return match.group(1) if match else None


def _alter_column(d: Dialect, op: AlterColumn) -> list[Statement]:
    t, c, new = d.quote(op.table), d.quote(op.new.name), op.new
    changes = op.changes
    if d.alter_column_form == "modify":
        if changes == ["default"]:
            if new.default is None:
                return [Statement(f"ALTER TABLE {t} ALTER COLUMN {c} DROP DEFAULT")]
            return [Statement(f"ALTER TABLE {t} ALTER COLUMN {c} SET DEFAULT {new.default}")]
        suffix = d.autoincrement_modify_suffix if new.autoincrement else ""
        return [Statement(f"ALTER TABLE {t} MODIFY COLUMN {column_sql(d, new)}{suffix}")]
    out = []
    if "type" in changes:
        sql_type = d.sql_type(new.type)
        out.append(
            Statement(f"ALTER TABLE {t} ALTER COLUMN {c} TYPE {sql_type} USING {c}::{sql_type}")
        )
        sequence = _serial_sequence(new.default) if new.autoincrement else None
        if sequence and d.serial_sequence_type_sql:  # SERIAL: its sequence widens too
            out.append(
                Statement(d.serial_sequence_type_sql.format(sequence=sequence, type=sql_type))
            )
    if "nullable" in changes:
        verb = "DROP NOT NULL" if new.nullable else "SET NOT NULL"
        out.append(Statement(f"ALTER TABLE {t} ALTER COLUMN {c} {verb}"))
    if "default" in changes:
        verb = "DROP DEFAULT" if new.default is None else f"SET DEFAULT {new.default}"
        out.append(Statement(f"ALTER TABLE {t} ALTER COLUMN {c} {verb}"))
    if "numbering" in changes:  # after the default: an identity needs the column without one
        out += [
            Statement(sql, params)
            for sql, params in d.numbering_statements(op.table, new.name, new.autoincrement)
        ]
    return out


def _rebuild(
    d: Dialect, table: str, before: Schema, after: Schema, ops: list[Operation], at: int
) -> list[Statement]:
    """One table rebuilt to its shape after ``ops`` (SQLite's 12-step ALTER, in order)."""
    q = d.quote
    new = after.table(table)
    # The table as it is just before the rebuild: renames of the table itself applied.
    old = apply_ops(before, [op for op in ops[:at] if isinstance(op, RenameTable | CreateTable)])
    old_t = old.table(table)
    assert new is not None and old_t is not None
    source: dict[str, str] = {c: c for c in old_t.columns}
    fills: dict[str, Any] = {}
    for op in ops:
        if op.table != table:
            continue
        if isinstance(op, RenameColumn):
            source = {(op.new if k == op.old else k): v for k, v in source.items()}
        elif isinstance(op, DropColumn):
            source.pop(op.column.name, None)
        elif isinstance(op, Backfill):
            fills[op.column] = op.value
    tmp = f"_ormcli_new_{table}"
    cols: list[str] = []
    exprs: list[str] = []
    params: list[Any] = []
    for c in new.columns.values():
        src = source.get(c.name)
        if src is not None:
            cols.append(q(c.name))
            if c.name in fills:
                exprs.append(f"COALESCE({q(src)}, {d.placeholder})")
                params.append(fills[c.name])
            else:
                exprs.append(q(src))
        elif c.name in fills:
            cols.append(q(c.name))
            exprs.append(d.placeholder)
            params.append(fills[c.name])
    out = [
        Statement(create_table_sql(d, new, tmp, with_fks=True), rebuild=True),
        Statement(
            f"INSERT INTO {q(tmp)} ({', '.join(cols)}) SELECT {', '.join(exprs)} FROM {q(table)}",
            tuple(params),
            rebuild=True,
        ),
    ]
    if any(c.autoincrement for c in new.columns.values()):
        out += [
            Statement(sql, values, rebuild=True)
            for sql, values in d.rebuild_counter_statements(tmp, table)
        ]
    out += [
        Statement(f"DROP TABLE {q(table)}", rebuild=True),
        Statement(f"ALTER TABLE {q(tmp)} RENAME TO {q(table)}", rebuild=True),
    ]
    out += [
        Statement(_create_index(d, table, idx, False).sql, rebuild=True)
        for idx in new.indexes.values()
    ]
    touched = tuple(i for i, op in enumerate(ops) if op.table == table)
    return [replace(s, outside_transaction=False, rebuild=True, ops=touched) for s in out]
