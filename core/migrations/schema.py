"""A database schema as plain data: tables, columns, keys, indexes, foreign keys, checks.

Both sides of a diff are a ``Schema``: the one the models ask for (``core.migrations.model``)
and the one the database has (``core.migrations.reader``). Column types are *type specs*:
neutral ones from the models (``int``, ``str``, ``str(80)``, ``enum_str(5)``, ...; rendered by
``Dialect.sql_type``) or ``sql:<declared type>`` as a database reports it. Defaults are SQL
literal text (``0``, ``'draft'``, ``TRUE``). Callers: every module of ``core.migrations``.
What it leaves out: reading and writing databases.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

__all__ = ["Check", "Column", "ForeignKey", "Index", "Schema", "Table", "fingerprint"]


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    nullable: bool
    default: str | None = None
    autoincrement: bool = False

    def but(self, **changes: Any) -> Column:
        return replace(self, **changes)


@dataclass(frozen=True)
class Index:
    name: str
    columns: tuple[str, ...]
    unique: bool = False
    #: Made as a UNIQUE constraint (dropped with DROP CONSTRAINT, or a rebuild on SQLite).
    constraint: bool = False

    @property
    def signature(self) -> tuple[tuple[str, ...], bool]:
        """What an index is for a diff: its columns and uniqueness, never its name."""
        return tuple(c.lower() for c in self.columns), self.unique


@dataclass(frozen=True)
class ForeignKey:
    name: str
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]
    #: ``restrict`` (also what ``no action`` reads as), ``cascade`` or ``set null``.
    on_delete: str = "restrict"

    @property
    def signature(self) -> tuple[Any, ...]:
        cols = tuple(c.lower() for c in self.columns)
        refs = tuple(c.lower() for c in self.ref_columns)
        return cols, self.ref_table.lower(), refs, self.on_delete


@dataclass(frozen=True)
class Check:
    #: ``ck_<table>_<field>_<hash>``: the hash covers the expression, so an edited
    #: expression is a new check (checks are compared by name only).
    name: str
    expression: str


@dataclass
class Table:
    name: str
    columns: dict[str, Column] = field(default_factory=dict)
    primary_key: tuple[str, ...] = ()
    indexes: dict[str, Index] = field(default_factory=dict)
    foreign_keys: dict[str, ForeignKey] = field(default_factory=dict)
    checks: dict[str, Check] = field(default_factory=dict)
    #: The primary key constraint's name where the database names it (PostgreSQL).
    pk_name: str | None = None

    def column(self, name: str) -> Column | None:
        col = self.columns.get(name)
        if col is not None:
            return col
        lowered = name.lower()
        return next((c for n, c in self.columns.items() if n.lower() == lowered), None)

    def copy(self) -> Table:
        return Table(
            self.name,
            dict(self.columns),
            self.primary_key,
            dict(self.indexes),
            dict(self.foreign_keys),
            dict(self.checks),
            self.pk_name,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "columns": [asdict(c) for c in self.columns.values()],
            "primary_key": list(self.primary_key),
            "indexes": [asdict(i) for i in self.indexes.values()],
            "foreign_keys": [asdict(f) for f in self.foreign_keys.values()],
            "checks": [asdict(c) for c in self.checks.values()],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Table:
        table = cls(data["name"], primary_key=tuple(data.get("primary_key", ())))
        for c in data.get("columns", ()):
            table.columns[c["name"]] = Column(**c)
        for i in data.get("indexes", ()):
            table.indexes[i["name"]] = Index(**{**i, "columns": tuple(i["columns"])})
        for f in data.get("foreign_keys", ()):
            fk = ForeignKey(
                **{**f, "columns": tuple(f["columns"]), "ref_columns": tuple(f["ref_columns"])}
            )
            table.foreign_keys[fk.name] = fk
        for c in data.get("checks", ()):
            table.checks[c["name"]] = Check(**c)
        return table


@dataclass
class Schema:
    tables: dict[str, Table] = field(default_factory=dict)

    def table(self, name: str) -> Table | None:
        t = self.tables.get(name)
        if t is not None:
            return t
        lowered = name.lower()
        return next((t for n, t in self.tables.items() if n.lower() == lowered), None)

    def copy(self) -> Schema:
        return Schema({n: t.copy() for n, t in self.tables.items()})

    def to_dict(self) -> dict[str, Any]:
        return {"tables": [self.tables[n].to_dict() for n in sorted(self.tables)]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schema:
        tables = [Table.from_dict(t) for t in data.get("tables", ())]
        return cls({t.name: t for t in tables})


def fingerprint(schema: Schema, canonical_type: Any = None) -> str:
    """A short hash of what matters in a live schema (names of indexes and foreign keys
    excluded: a diff compares by what they cover). ``canonical_type`` normalises types."""
    norm = canonical_type or (lambda t: t.lower())
    parts: list[Any] = []
    for name in sorted(schema.tables, key=str.lower):
        t = schema.tables[name]
        parts.append(
            [
                name.lower(),
                [
                    [c.name.lower(), norm(c.type), c.nullable, c.default]
                    for c in sorted(t.columns.values(), key=lambda c: c.name.lower())
                ],
                [c.lower() for c in t.primary_key],
                sorted([list(i.signature[0]), i.signature[1]] for i in t.indexes.values()),
                sorted(repr(f.signature) for f in t.foreign_keys.values()),
                sorted(c.name for c in t.checks.values()),
            ]
        )
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
