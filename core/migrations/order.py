"""Fail first: where DDL cannot be rolled back, run the steps most likely to fail before the rest.

On MariaDB/MySQL every statement commits by itself, so a plan that fails half-way leaves what
ran before the failure applied. ``fail_first(ops, dialect)`` reorders a plan so that the steps
the rows can break — NOT NULL on an existing column, a unique index or primary key over
existing rows, a narrowing or risky cast, a foreign key or check over existing rows, a new NOT
NULL column without a default — run before the safe ones (new tables and columns, plain
indexes, widening, drops). A step keeps every earlier step it depends on in front of it (the
same table created or renamed, the same columns added, renamed, filled or changed, the table a
foreign key points to), so the reordered plan does what the original did. The data checks
(``core.migrations.checks``) still run before any statement. Callers: ``core.migrations.plan``
(only where ``Dialect.transactional_ddl`` is false). What it leaves out: SQL and the rows.
"""

from __future__ import annotations

import re

from core.dialects.base import Dialect
from core.migrations.checks import type_change
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
)

__all__ = ["fail_first", "fail_prone"]

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: Every column of a table.
_ALL = frozenset({"*"})


def fail_prone(op: Operation, d: Dialect) -> bool:
    """Whether existing rows can make ``op`` fail when it runs."""
    if isinstance(op, AlterColumn):
        if op.old.nullable and not op.new.nullable:
            return True
        return "type" in op.changes and type_change(d, op.old.type, op.new.type)[0] != "widen"
    if isinstance(op, CreateIndex):
        return op.index.unique
    if isinstance(op, AddColumn):
        return not op.column.nullable and op.column.default is None
    return isinstance(op, SetPrimaryKey | AddForeignKey | AddCheck)


def _touches(op: Operation) -> dict[str, frozenset[str]]:
    """Table (lower case) -> the columns ``op`` reads or changes there (``*``: all of them)."""
    t = op.table.lower()
    if isinstance(op, CreateTable | DropTable):
        return {t: _ALL}
    if isinstance(op, RenameTable):
        return {t: _ALL, op.new_name.lower(): _ALL}
    if isinstance(op, AddColumn | DropColumn):
        return {t: frozenset({op.column.name.lower()})}
    if isinstance(op, RenameColumn):
        return {t: frozenset({op.old.lower(), op.new.lower()})}
    if isinstance(op, AlterColumn):
        return {t: frozenset({op.old.name.lower(), op.new.name.lower()})}
    if isinstance(op, Backfill):
        return {t: frozenset({op.column.lower()})}
    if isinstance(op, SetPrimaryKey):
        return {t: frozenset(c.lower() for c in (*op.old, *op.new))}
    if isinstance(op, CreateIndex | DropIndex):
        return {t: frozenset(c.lower() for c in op.index.columns)}
    if isinstance(op, AddForeignKey | DropForeignKey):
        fk = op.fk
        out = {t: frozenset(c.lower() for c in fk.columns)}
        ref = fk.ref_table.lower()
        out[ref] = out.get(ref, frozenset()) | frozenset(c.lower() for c in fk.ref_columns)
        return out
    if isinstance(op, AddCheck | DropCheck):
        return {t: frozenset(w.lower() for w in _WORD.findall(op.check.expression)) or _ALL}
    return {t: _ALL}


def _depends(later: Operation, earlier: Operation) -> bool:
    a, b = _touches(later), _touches(earlier)
    for table, cols in a.items():
        other = b.get(table)
        if other is not None and ("*" in cols or "*" in other or cols & other):
            return True
    return False


def fail_first(ops: list[Operation], d: Dialect) -> list[Operation]:
    """``ops`` with the fail-prone steps (and what each depends on) moved to the front."""
    placed: set[int] = set()
    order: list[int] = []

    def place(i: int) -> None:
        if i in placed:
            return
        for j in range(i):
            if j not in placed and _depends(ops[i], ops[j]):
                place(j)
        placed.add(i)
        order.append(i)

    for i, op in enumerate(ops):
        if fail_prone(op, d):
            place(i)
    for i in range(len(ops)):
        place(i)
    return [ops[i] for i in order]
