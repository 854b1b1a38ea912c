"""Operations: one schema change each, as plain data (Alembic's ``ops``, without the scripts).

``core.migrations.diff`` produces them, ``core.migrations.render`` turns them into SQL for a
dialect, ``core.migrations.files`` stores them as JSON, and ``apply_ops`` plays them on a
``Schema`` (what the database looks like afterwards, without touching it). Each knows its
``symbol`` (``+`` adds, ``~`` changes, ``-`` removes), a one-line ``describe()`` and its
``reverse()`` (the down step; ``None`` where nothing can give the data back).
Callers: the rest of ``core.migrations``. What it leaves out: SQL, and whether a step is safe
for the rows a database holds (``core.migrations.checks``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar

from core.migrations.schema import Check, Column, ForeignKey, Index, Schema, Table

__all__ = [
    "AddCheck",
    "AddColumn",
    "AddForeignKey",
    "AlterColumn",
    "Backfill",
    "CreateIndex",
    "CreateTable",
    "DropCheck",
    "DropColumn",
    "DropForeignKey",
    "DropIndex",
    "DropTable",
    "Operation",
    "RenameColumn",
    "RenameTable",
    "SetPrimaryKey",
    "apply_ops",
    "op_from_dict",
    "op_to_dict",
]


def _plain(spec: str) -> str:
    return spec.removeprefix("sql:")


#: How ``describe`` spells a type spec (``Dialect.sql_type`` for the backend at hand).
TypeNamer = Callable[[str], str]


def _col(c: Column, t: TypeNamer = _plain) -> str:
    text = f"{c.name} {t(c.type)}"
    text += "" if c.nullable else " NOT NULL"
    if c.default is not None:
        text += f" DEFAULT {c.default}"
    return text


class Operation:
    """Base: ``kind`` names it in files; ``table`` is the table it works on."""

    kind: ClassVar[str] = ""
    symbol: ClassVar[str] = "~"
    table: str

    def describe(self, t: TypeNamer = _plain) -> str:
        raise NotImplementedError

    def reverse(self) -> Operation | None:
        return None

    def apply(self, schema: Schema) -> None:
        raise NotImplementedError

    def _t(self, schema: Schema) -> Table:
        t = schema.table(self.table)
        assert t is not None, f"{self.kind}: no table {self.table!r}"
        return t


@dataclass(frozen=True)
class CreateTable(Operation):
    """A table with its columns, key and checks (indexes and foreign keys are their own ops)."""

    kind: ClassVar[str] = "create_table"
    symbol: ClassVar[str] = "+"
    table: str
    definition: Table

    def describe(self, t: TypeNamer = _plain) -> str:
        cols = ", ".join(_col(c, t) for c in self.definition.columns.values())
        return f"create table {self.table} ({cols})"

    def reverse(self) -> Operation:
        return DropTable(self.table, self.definition)

    def apply(self, schema: Schema) -> None:
        t = self.definition.copy()
        t.indexes, t.foreign_keys = {}, {}
        schema.tables[self.table] = t


@dataclass(frozen=True)
class DropTable(Operation):
    kind: ClassVar[str] = "drop_table"
    symbol: ClassVar[str] = "-"
    table: str
    definition: Table

    def describe(self, t: TypeNamer = _plain) -> str:
        return f"drop table {self.table}"

    def apply(self, schema: Schema) -> None:
        t = self._t(schema)
        del schema.tables[t.name]


@dataclass(frozen=True)
class RenameTable(Operation):
    kind: ClassVar[str] = "rename_table"
    table: str
    new_name: str

    def describe(self, t: TypeNamer = _plain) -> str:
        return f"rename table {self.table} to {self.new_name} (rows kept)"

    def reverse(self) -> Operation:
        return RenameTable(self.new_name, self.table)

    def apply(self, schema: Schema) -> None:
        t = self._t(schema)
        del schema.tables[t.name]
        t.name = self.new_name
        schema.tables[self.new_name] = t


@dataclass(frozen=True)
class AddColumn(Operation):
    kind: ClassVar[str] = "add_column"
    symbol: ClassVar[str] = "+"
    table: str
    column: Column

    def describe(self, t: TypeNamer = _plain) -> str:
        return f"add column {self.table}.{_col(self.column, t)}"

    def reverse(self) -> Operation:
        return DropColumn(self.table, self.column)

    def apply(self, schema: Schema) -> None:
        self._t(schema).columns[self.column.name] = self.column


@dataclass(frozen=True)
class DropColumn(Operation):
    kind: ClassVar[str] = "drop_column"
    symbol: ClassVar[str] = "-"
    table: str
    column: Column

    def describe(self, t: TypeNamer = _plain) -> str:
        return f"drop column {self.table}.{self.column.name}"

    def apply(self, schema: Schema) -> None:
        t = self._t(schema)
        col = t.column(self.column.name)
        assert col is not None
        del t.columns[col.name]
        low = col.name.lower()
        t.indexes = {
            n: i for n, i in t.indexes.items() if low not in [c.lower() for c in i.columns]
        }
        t.foreign_keys = {
            n: f for n, f in t.foreign_keys.items() if low not in [c.lower() for c in f.columns]
        }


@dataclass(frozen=True)
class RenameColumn(Operation):
    kind: ClassVar[str] = "rename_column"
    table: str
    old: str
    new: str

    def describe(self, t: TypeNamer = _plain) -> str:
        return f"rename column {self.table}.{self.old} to {self.new} (data kept)"

    def reverse(self) -> Operation:
        return RenameColumn(self.table, self.new, self.old)

    def apply(self, schema: Schema) -> None:
        t = self._t(schema)
        col = t.column(self.old)
        assert col is not None
        t.columns = {
            (self.new if n == col.name else n): (c.but(name=self.new) if n == col.name else c)
            for n, c in t.columns.items()
        }

        def ren(cols: tuple[str, ...]) -> tuple[str, ...]:
            return tuple(self.new if c.lower() == col.name.lower() else c for c in cols)

        t.primary_key = ren(t.primary_key)
        t.indexes = {
            n: Index(i.name, ren(i.columns), i.unique, i.constraint) for n, i in t.indexes.items()
        }
        t.foreign_keys = {
            n: ForeignKey(f.name, ren(f.columns), f.ref_table, f.ref_columns, f.on_delete)
            for n, f in t.foreign_keys.items()
        }


@dataclass(frozen=True)
class AlterColumn(Operation):
    """Type, nullability, default and numbering of one column, from ``old`` to ``new``
    (numbering: whether the server hands out its values, a key's ``AUTO_INCREMENT`` /
    identity)."""

    kind: ClassVar[str] = "alter_column"
    table: str
    old: Column
    new: Column

    @property
    def changes(self) -> list[str]:
        out = []
        if self.old.type != self.new.type:
            out.append("type")
        if self.old.nullable != self.new.nullable:
            out.append("nullable")
        if self.old.default != self.new.default:
            out.append("default")
        if self.old.autoincrement != self.new.autoincrement:
            out.append("numbering")
        return out

    def describe(self, t: TypeNamer = _plain) -> str:
        parts = []
        o, n = self.old, self.new
        if "type" in self.changes:
            parts.append(f"type {t(o.type)} -> {t(n.type)}")
        if "nullable" in self.changes:
            parts.append("NOT NULL" if not n.nullable else "allow NULL")
        if "default" in self.changes:
            parts.append(f"default {o.default} -> {n.default}")
        if "numbering" in self.changes:
            parts.append(
                "numbered by the server" if n.autoincrement else "no longer numbered by the server"
            )
        return f"alter column {self.table}.{n.name}: {', '.join(parts)}"

    def reverse(self) -> Operation:
        return AlterColumn(self.table, self.new, self.old)

    def apply(self, schema: Schema) -> None:
        t = self._t(schema)
        col = t.column(self.old.name)
        assert col is not None
        t.columns[col.name] = self.new


@dataclass(frozen=True)
class Backfill(Operation):
    """``UPDATE t SET c = value WHERE c IS NULL`` (the value is a bound parameter)."""

    kind: ClassVar[str] = "backfill"
    table: str
    column: str
    value: Any

    def describe(self, t: TypeNamer = _plain) -> str:
        return f"fill NULLs of {self.table}.{self.column} with {self.value!r}"

    def apply(self, schema: Schema) -> None:
        pass


@dataclass(frozen=True)
class SetPrimaryKey(Operation):
    kind: ClassVar[str] = "set_primary_key"
    table: str
    old: tuple[str, ...]
    new: tuple[str, ...]

    def describe(self, t: TypeNamer = _plain) -> str:
        return f"primary key of {self.table}: ({', '.join(self.old)}) -> ({', '.join(self.new)})"

    def reverse(self) -> Operation:
        return SetPrimaryKey(self.table, self.new, self.old)

    def apply(self, schema: Schema) -> None:
        self._t(schema).primary_key = self.new


@dataclass(frozen=True)
class CreateIndex(Operation):
    kind: ClassVar[str] = "create_index"
    symbol: ClassVar[str] = "+"
    table: str
    index: Index

    def describe(self, t: TypeNamer = _plain) -> str:
        what = "unique index" if self.index.unique else "index"
        return f"create {what} {self.index.name} on {self.table} ({', '.join(self.index.columns)})"

    def reverse(self) -> Operation:
        return DropIndex(self.table, self.index)

    def apply(self, schema: Schema) -> None:
        self._t(schema).indexes[self.index.name] = self.index


@dataclass(frozen=True)
class DropIndex(Operation):
    kind: ClassVar[str] = "drop_index"
    symbol: ClassVar[str] = "-"
    table: str
    index: Index

    def describe(self, t: TypeNamer = _plain) -> str:
        what = "unique index" if self.index.unique else "index"
        return f"drop {what} {self.index.name} on {self.table} ({', '.join(self.index.columns)})"

    def reverse(self) -> Operation:
        return CreateIndex(
            self.table, Index(self.index.name, self.index.columns, self.index.unique)
        )

    def apply(self, schema: Schema) -> None:
        self._t(schema).indexes.pop(self.index.name, None)


@dataclass(frozen=True)
class AddForeignKey(Operation):
    kind: ClassVar[str] = "add_foreign_key"
    symbol: ClassVar[str] = "+"
    table: str
    fk: ForeignKey

    def describe(self, t: TypeNamer = _plain) -> str:
        f = self.fk
        return (
            f"add foreign key {f.name}: {self.table} ({', '.join(f.columns)}) -> "
            f"{f.ref_table} ({', '.join(f.ref_columns)}) on delete {f.on_delete}"
        )

    def reverse(self) -> Operation:
        return DropForeignKey(self.table, self.fk)

    def apply(self, schema: Schema) -> None:
        self._t(schema).foreign_keys[self.fk.name] = self.fk


@dataclass(frozen=True)
class DropForeignKey(Operation):
    kind: ClassVar[str] = "drop_foreign_key"
    symbol: ClassVar[str] = "-"
    table: str
    fk: ForeignKey

    def describe(self, t: TypeNamer = _plain) -> str:
        return f"drop foreign key {self.fk.name} on {self.table}"

    def reverse(self) -> Operation:
        return AddForeignKey(self.table, self.fk)

    def apply(self, schema: Schema) -> None:
        self._t(schema).foreign_keys.pop(self.fk.name, None)


@dataclass(frozen=True)
class AddCheck(Operation):
    kind: ClassVar[str] = "add_check"
    symbol: ClassVar[str] = "+"
    table: str
    check: Check

    def describe(self, t: TypeNamer = _plain) -> str:
        return f"add check {self.check.name} on {self.table}: {self.check.expression}"

    def reverse(self) -> Operation:
        return DropCheck(self.table, self.check)

    def apply(self, schema: Schema) -> None:
        self._t(schema).checks[self.check.name] = self.check


@dataclass(frozen=True)
class DropCheck(Operation):
    kind: ClassVar[str] = "drop_check"
    symbol: ClassVar[str] = "-"
    table: str
    check: Check

    def describe(self, t: TypeNamer = _plain) -> str:
        return f"drop check {self.check.name} on {self.table}"

    def reverse(self) -> Operation | None:
        return AddCheck(self.table, self.check) if self.check.expression else None

    def apply(self, schema: Schema) -> None:
        self._t(schema).checks.pop(self.check.name, None)


_KINDS: dict[str, type[Operation]] = {
    cls.kind: cls
    for cls in (
        CreateTable,
        DropTable,
        RenameTable,
        AddColumn,
        DropColumn,
        RenameColumn,
        AlterColumn,
        Backfill,
        SetPrimaryKey,
        CreateIndex,
        DropIndex,
        AddForeignKey,
        DropForeignKey,
        AddCheck,
        DropCheck,
    )
}


def apply_ops(schema: Schema, ops: list[Operation]) -> Schema:
    """The schema after ``ops`` (a copy; ``schema`` is left as it was)."""
    out = schema.copy()
    for op in ops:
        op.apply(out)
    return out


def op_to_dict(op: Operation) -> dict[str, Any]:
    data: dict[str, Any] = {"op": op.kind}
    for f in fields(op):  # type: ignore[arg-type]
        value = getattr(op, f.name)
        if isinstance(value, Table):
            data[f.name] = value.to_dict()
        elif isinstance(value, Column | Index | ForeignKey | Check):
            data[f.name] = asdict(value)
        elif isinstance(value, tuple):
            data[f.name] = list(value)
        else:
            data[f.name] = value
    return data


def op_from_dict(data: dict[str, Any]) -> Operation:
    cls = _KINDS.get(data.get("op", ""))
    if cls is None:
        raise ValueError(f"unknown migration operation {data.get('op')!r}")
    kwargs: dict[str, Any] = {}
    for f in fields(cls):  # type: ignore[arg-type]
        value = data[f.name]
        hint = str(f.type)
        if hint == "Table":
            value = Table.from_dict(value)
        elif hint == "Column":
            value = Column(**value)
        elif hint == "Index":
            value = Index(**{**value, "columns": tuple(value["columns"])})
        elif hint == "ForeignKey":
            value = ForeignKey(
                **{
                    **value,
                    "columns": tuple(value["columns"]),
                    "ref_columns": tuple(value["ref_columns"]),
                }
            )
        elif hint == "Check":
            value = Check(**value)
        elif hint.startswith("tuple"):
            value = tuple(value)
        kwargs[f.name] = value
    return cls(**kwargs)
