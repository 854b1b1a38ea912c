"""The schema the models ask for: one ``Table`` per entity, in neutral type specs.

Columns take their type spec from the field (``int``, ``str(80)``, ``enum_str(5)``,
``str_indexed`` for unbounded text that is indexed, ...), their nullability, and a database
default from a literal default on the field (int, float, Decimal, str, bool, Enum; not
factories, JSON or references). Indexes: ``Index`` and ``Unique`` markers,
``@entity.index(...)``, and one on every reference column unless it is marked ``NoIndex`` or
an index or the key already starts with it. Foreign keys carry the reference's ``ON DELETE``.
``check_names`` refuses identifiers the backend cannot take, when the models are registered.
Callers: ``core.migrations.plan``, ``core.database``. What it leaves out: the live database.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from core.entity import EntityInfo, FieldInfo
from core.migrations.names import check_names
from core.migrations.schema import Check, Column, ForeignKey, Index, Schema, Table

__all__ = ["bounded_name", "check_names", "desired_schema", "sql_literal", "type_spec"]

#: Longest generated constraint / index name: within PostgreSQL's 63 bytes and MySQL's 64.
_NAME_LIMIT = 63


def bounded_name(name: str) -> str:
    """``name``, or a prefix of it and a hash of the whole when it is too long for a server."""
    if len(name.encode()) <= _NAME_LIMIT:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return name.encode()[: _NAME_LIMIT - 9].decode("utf-8", "ignore") + "_" + digest


def type_spec(f: FieldInfo) -> str:
    """The neutral type of a field's column (``Dialect.sql_type`` renders it)."""
    kind = f.kind
    if kind == "reference":
        target = f.target
        assert target is not None
        spec = type_spec(target.primary_key[0])
        return spec
    if kind == "str":
        if f.max_length is not None:
            return f"str({f.max_length})"
        return "str_indexed" if (f.index or f.unique or f.primary_key) else "str"
    if kind == "datetime" and f.aware:
        return "datetime_aware"
    if kind == "enum":
        assert f.enum_type is not None
        values = [m.value for m in f.enum_type]
        if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            return "enum_int"
        return f"enum_str({max(max((len(str(v)) for v in values), default=1), 1)})"
    return kind


def sql_literal(value: Any) -> str | None:
    """A literal default as SQL text, or None when it cannot be one (the same on every
    backend: numbers as written, text single-quoted with quotes doubled, TRUE / FALSE)."""
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return (
            repr(value) if value == value and value not in (float("inf"), float("-inf")) else None
        )
    if isinstance(value, Decimal):
        return format(value, "f") if value.is_finite() else None
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return None


def _default(f: FieldInfo) -> str | None:
    if f.primary_key or f.autoincrement or f.default_factory is not None:
        return None
    if f.kind in ("json", "reference", "bytes") or f.default is None:
        return None
    try:
        return sql_literal(f.default)
    except Exception:  # pragma: no cover - an exotic default is simply not a database default
        return None


def _on_delete(f: FieldInfo) -> str:
    """The reference's ``ON DELETE`` rule (``Reference(on_delete=...)``), ``restrict`` if none."""
    return f.on_delete or "restrict"


def desired_table(info: EntityInfo) -> Table:
    t = Table(info.table)
    single_auto = len(info.primary_key) == 1 and info.primary_key[0].autoincrement
    for f in info.fields:
        t.columns[f.column] = Column(
            f.column,
            type_spec(f),
            f.nullable,
            _default(f),
            autoincrement=f.autoincrement and single_auto,
        )
    t.primary_key = tuple(f.column for f in info.primary_key)
    seen: set[tuple[tuple[str, ...], bool]] = set()

    def add(name: str, columns: tuple[str, ...], unique: bool) -> None:
        index = Index(bounded_name(name), columns, unique)
        if index.signature not in seen:
            seen.add(index.signature)
            t.indexes[index.name] = index

    for f in info.fields:
        if f.unique and not (f.primary_key and len(info.primary_key) == 1):
            add(f"uq_{info.table}_{f.column}", (f.column,), True)
        elif f.index and not f.primary_key:
            add(f"ix_{info.table}_{f.column}", (f.column,), False)
    for names, unique, name in info.indexes:
        cols = tuple(info.field(n).column for n in names)
        prefix = "uq" if unique else "ix"
        add(name or f"{prefix}_{info.table}_{'_'.join(cols)}", cols, unique)
    for f in info.references:
        target = f.target
        assert target is not None
        fk = ForeignKey(
            bounded_name(f"fk_{info.table}_{f.column}"),
            (f.column,),
            target.table,
            (target.primary_key[0].column,),
            _on_delete(f),
        )
        t.foreign_keys[fk.name] = fk
        low = f.column.lower()
        covered = (t.primary_key and t.primary_key[0].lower() == low) or any(
            i.columns[0].lower() == low for i in t.indexes.values()
        )
        if not covered and not f.no_index:
            add(f"ix_{info.table}_{f.column}", (f.column,), False)
    _key_widths(info, t)
    for f in info.fields:
        for expression in f.checks:
            digest = hashlib.sha1(expression.encode()).hexdigest()[:6]
            name = bounded_name(f"ck_{info.table}_{f.column}_{digest}")
            t.checks[name] = Check(name, expression)
    return t


#: Characters of unbounded text one index may cover in all (InnoDB: 3,072 bytes of utf8mb4).
_KEY_CHARS = 768


def _key_widths(info: EntityInfo, t: Table) -> None:
    """Unbounded text in a key or index gets a width that fits it (``str_indexed(n)``:
    ``VARCHAR(n)`` where the backend cannot index unbounded text, e.g. MariaDB; TEXT
    elsewhere): two such columns in one key share the room of one."""
    by_column = {f.column.lower(): f for f in info.fields}
    keys = [t.primary_key, *(i.columns for i in t.indexes.values())]
    share: dict[str, int] = {}
    for cols in keys:
        texts = [
            c
            for c in cols
            if by_column[c.lower()].kind == "str" and by_column[c.lower()].max_length is None
        ]
        for c in texts:
            width = _KEY_CHARS // len(texts)
            share[c] = min(share.get(c, width), width)
    for column, width in share.items():
        spec = "str_indexed" if width == _KEY_CHARS else f"str_indexed({width})"
        t.columns[column] = t.columns[column].but(type=spec)


def desired_schema(entities: Sequence[EntityInfo]) -> Schema:
    return Schema({info.table: desired_table(info) for info in entities})
