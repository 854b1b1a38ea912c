"""Compare the live schema with the models' schema into operations (pure: no database).

Detected: tables added, dropped and renamed (``@entity.name(..., renamed_from=)``); columns
added, dropped, renamed (``RenamedFrom``), and changed in type (lengths and enum widths
included), nullability (both ways) and database default; primary keys; indexes and uniques
by what they cover (one or several columns, names ignored); foreign keys with ``ON DELETE``;
checks by name. A column dropped and another of the same type added in one table, or a table
dropped and another with the same columns added, is a rename *suggestion*: applied as a
rename only when ``renames`` accepts it (``core.migrations.questioner`` asks), else a drop
and an add. Operations come in an order every backend can run: renames, drops of foreign
keys / indexes / checks, new tables, column changes, new indexes, checks, foreign keys last
(two tables that reference each other are both made before either key), dropped tables.
Callers: ``core.migrations.plan``. What it leaves out: the rows (``checks``), SQL (``render``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.dialects.base import Dialect
from core.entity import EntityInfo
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
from core.migrations.schema import Column, Schema, Table

__all__ = ["Diff", "Suggestion", "compare"]


@dataclass(frozen=True)
class Suggestion:
    """A drop and an add that look like a rename: ``kind`` is "table" or "column"."""

    kind: str
    table: str
    old: str
    new: str
    #: What a user types to make it a rename for good (a marker for the model file).
    hint: str = ""

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.kind, self.table.lower(), self.old.lower(), self.new.lower())

    def describe(self) -> str:
        what = (
            f"table {self.old} -> {self.new}"
            if self.kind == "table"
            else (f"column {self.table}.{self.old} -> {self.new}")
        )
        return f"possible rename: {what}"


@dataclass
class Diff:
    ops: list[Operation] = field(default_factory=list)
    suggestions: list[Suggestion] = field(default_factory=list)


@dataclass
class _Buckets:
    renames: list[Operation] = field(default_factory=list)
    drop_fks: list[Operation] = field(default_factory=list)
    drop_indexes: list[Operation] = field(default_factory=list)
    drop_checks: list[Operation] = field(default_factory=list)
    create_tables: list[Operation] = field(default_factory=list)
    columns: list[Operation] = field(default_factory=list)
    drop_columns: list[Operation] = field(default_factory=list)
    create_indexes: list[Operation] = field(default_factory=list)
    add_checks: list[Operation] = field(default_factory=list)
    add_fks: list[Operation] = field(default_factory=list)
    drop_tables: list[Operation] = field(default_factory=list)

    def ordered(self) -> list[Operation]:
        return [
            *self.renames,
            *self.drop_fks,
            *self.drop_indexes,
            *self.drop_checks,
            *self.create_tables,
            *self.columns,
            *self.drop_columns,
            *self.create_indexes,
            *self.add_checks,
            *self.add_fks,
            *self.drop_tables,
        ]


def _same_type(d: Dialect, live: Column, want: Column) -> bool:
    return d.same_type(d.sql_type(live.type), d.sql_type(want.type))


def compare(
    live: Schema,
    desired: Schema,
    d: Dialect,
    *,
    entities: Sequence[EntityInfo] = (),
    accepted: frozenset[tuple[str, str, str, str]] = frozenset(),
    backfill: Mapping[tuple[str, str], Any] | None = None,
) -> Diff:
    """The operations that turn ``live`` into ``desired``. ``entities`` give the rename
    markers; ``accepted`` holds ``Suggestion.key`` of suggested renames to apply as renames;
    ``backfill`` maps ``(table, column)`` to the value that fills its NULLs."""
    backfill = backfill or {}
    out = _Buckets()
    diff = Diff()
    live = live.copy()
    by_table = {info.table.lower(): info for info in entities}
    # Tables renamed by a marker.
    for info in entities:
        old = info.renamed_from
        if old and live.table(info.table) is None and live.table(old) is not None:
            t = live.table(old)
            assert t is not None
            out.renames.append(RenameTable(t.name, info.table))
            del live.tables[t.name]
            t.name = info.table
            live.tables[info.table] = t
    new_tables = [t for n, t in desired.tables.items() if live.table(n) is None]
    gone = [t for n, t in live.tables.items() if desired.table(n) is None]
    # Suggested table renames: same columns, one to one.
    for want in list(new_tables):
        matches = [g for g in gone if _same_columns(d, g, want)]
        if len(matches) != 1:
            continue
        old_t = matches[0]
        owner = by_table.get(want.name.lower())
        cls = owner.cls.__name__ if owner is not None else want.name
        s = Suggestion(
            "table",
            want.name,
            old_t.name,
            want.name,
            f'@entity.name("{want.name}", renamed_from="{old_t.name}") on {cls}',
        )
        if s.key in accepted:
            out.renames.append(RenameTable(old_t.name, want.name))
            del live.tables[old_t.name]
            old_t.name = want.name
            live.tables[want.name] = old_t
            new_tables.remove(want)
            gone.remove(old_t)
        else:
            diff.suggestions.append(s)
    for want in new_tables:
        definition = want.copy()
        definition.indexes, definition.foreign_keys = {}, {}
        out.create_tables.append(CreateTable(want.name, definition))
        out.create_indexes += [CreateIndex(want.name, i) for i in want.indexes.values()]
        out.add_fks += [AddForeignKey(want.name, fk) for fk in want.foreign_keys.values()]
    for old_t in gone:
        out.drop_fks += [DropForeignKey(old_t.name, fk) for fk in old_t.foreign_keys.values()]
        out.drop_tables.append(DropTable(old_t.name, old_t))
    for name, want in desired.tables.items():
        have = live.table(name)
        if have is None:
            continue
        _compare_table(d, have, want, by_table.get(name.lower()), accepted, backfill, out, diff)
    if d.foreign_key_blocks_type_change:
        _unhook_foreign_keys(live, out)
    diff.ops = out.ordered()
    return diff


def _unhook_foreign_keys(live: Schema, out: _Buckets) -> None:
    """MariaDB/MySQL refuse to change the type of a column a foreign key uses (either end):
    such a key is dropped before the type changes and added back after (with the same
    name and columns; the plan's order puts the ADD after both columns' changes)."""
    retyped = {
        (op.table.lower(), op.old.name.lower())
        for op in out.columns
        if isinstance(op, AlterColumn) and "type" in op.changes
    }
    if not retyped:
        return
    dropped = {
        (op.table.lower(), op.fk.name.lower())
        for op in out.drop_fks
        if isinstance(op, DropForeignKey)
    }
    for t in live.tables.values():
        for fk in t.foreign_keys.values():
            uses = any((t.name.lower(), c.lower()) in retyped for c in fk.columns) or any(
                (fk.ref_table.lower(), c.lower()) in retyped for c in fk.ref_columns
            )
            if uses and (t.name.lower(), fk.name.lower()) not in dropped:
                out.drop_fks.append(DropForeignKey(t.name, fk))
                out.add_fks.append(AddForeignKey(t.name, fk))


def _same_columns(d: Dialect, old: Table, new: Table) -> bool:
    if len(old.columns) != len(new.columns):
        return False
    for c in new.columns.values():
        o = old.column(c.name)
        if o is None or not _same_type(d, o, c):
            return False
    return True


def _compare_table(
    d: Dialect,
    have: Table,
    want: Table,
    info: EntityInfo | None,
    accepted: frozenset[tuple[str, str, str, str]],
    backfill: Mapping[tuple[str, str], Any],
    out: _Buckets,
    diff: Diff,
) -> None:
    table = want.name
    have = have.copy()
    # Columns renamed by a marker.
    if info is not None:
        for f in info.fields:
            old = f.renamed_from
            if old and have.column(f.column) is None and have.column(old) is not None:
                _rename(have, old, f.column, out, table)
    added = [c for n, c in want.columns.items() if have.column(n) is None]
    dropped = [c for n, c in have.columns.items() if want.column(n) is None]
    for c in list(added):
        matches = [o for o in dropped if _same_type(d, o, c)]
        if len(matches) != 1:
            continue
        o = matches[0]
        cls = info.cls.__name__ if info is not None else table
        field_name = (
            next((f.name for f in info.fields if f.column == c.name), c.name) if info else c.name
        )
        s = Suggestion(
            "column",
            table,
            o.name,
            c.name,
            f'Annotated[..., RenamedFrom("{o.name}")] on {cls}.{field_name}',
        )
        if s.key in accepted:
            _rename(have, o.name, c.name, out, table)
            added.remove(c)
            dropped.remove(o)
        else:
            diff.suggestions.append(s)
    for c in added:
        fill = backfill.get((table.lower(), c.name.lower()))
        if not c.nullable and c.default is None and fill is not None:
            out.columns.append(AddColumn(table, c.but(nullable=True)))
            out.columns.append(Backfill(table, c.name, fill))
            out.columns.append(AlterColumn(table, c.but(nullable=True), c))
        else:
            out.columns.append(AddColumn(table, c))
    for c in want.columns.values():
        found = have.column(c.name)
        if found is None:
            continue
        if c.autoincrement:
            # A server-numbered key: its default (a sequence's nextval, an identity) and NOT
            # NULL are the server's; its type is compared (an INTEGER key, or SERIAL, the
            # models want as BIGINT), and whether the server numbers it at all (a key made
            # elsewhere without AUTO_INCREMENT / identity: every insert would fail). A key
            # that is numbered keeps what numbers it.
            numbered = found.autoincrement or not d.catalog_autoincrement_sql
            same_type = _same_type(d, found, c)
            if numbered and same_type:
                continue
            new = found.but(type=found.type if same_type else c.type, autoincrement=True)
            if not numbered:
                new = new.but(nullable=False, default=None)
            out.columns.append(AlterColumn(table, found, new))
            continue
        o = found
        target = c.but(name=o.name, type=o.type if _same_type(d, o, c) else c.type)
        if d.normalize_default(target.default) == o.default:
            target = target.but(default=o.default)
        # A key the models do not number but keep as the table's only key keeps the
        # numbering it has (never dropped behind the user's back), and with it the default
        # that does it (a SERIAL's ``nextval``).
        if o.autoincrement and [k.lower() for k in want.primary_key] == [c.name.lower()]:
            target = target.but(autoincrement=True)
            if o.default is not None:
                target = target.but(default=o.default)
        if target != o.but(autoincrement=target.autoincrement):
            fill = backfill.get((table.lower(), c.name.lower()))
            if o.nullable and not target.nullable and fill is not None:
                out.columns.append(Backfill(table, o.name, fill))
            out.columns.append(AlterColumn(table, o, target))
    if tuple(c.lower() for c in have.primary_key) != tuple(c.lower() for c in want.primary_key):
        out.columns.append(SetPrimaryKey(table, have.primary_key, want.primary_key))
    out.drop_columns += [DropColumn(table, c) for c in dropped]
    dropped_names = {c.name.lower() for c in dropped}
    want_ix = {i.signature: i for i in want.indexes.values()}
    have_ix = {i.signature: i for i in have.indexes.values()}
    for sig, i in have_ix.items():
        if sig not in want_ix and not (set(sig[0]) & dropped_names):
            out.drop_indexes.append(DropIndex(table, i))
    out.create_indexes += [CreateIndex(table, i) for s, i in want_ix.items() if s not in have_ix]
    want_fk = {f.signature: f for f in want.foreign_keys.values()}
    have_fk = {f.signature: f for f in have.foreign_keys.values()}
    for sig, fk in have_fk.items():
        if sig not in want_fk:
            out.drop_fks.append(DropForeignKey(table, fk))
    out.add_fks += [AddForeignKey(table, fk) for s, fk in want_fk.items() if s not in have_fk]
    want_ck = {c.name.lower(): c for c in want.checks.values()}
    have_ck = {c.name.lower(): c for c in have.checks.values()}
    out.drop_checks += [DropCheck(table, c) for n, c in have_ck.items() if n not in want_ck]
    out.add_checks += [AddCheck(table, c) for n, c in want_ck.items() if n not in have_ck]


def _rename(have: Table, old: str, new: str, out: _Buckets, table: str) -> None:
    col = have.column(old)
    assert col is not None
    out.renames.append(RenameColumn(table, col.name, new))
    RenameColumn(table, col.name, new).apply(Schema({have.name: have}))
