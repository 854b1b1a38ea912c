"""Schema migration: compare the models with the database and plan what is missing.

``migration_plan`` reads the live schema through the dialect and returns the statements that
create what the models have and the database lacks: tables (with primary keys, unique and
foreign-key constraints), nullable columns, indexes, and unique indexes for fields marked
``Unique`` after their table was made. It never drops or rewrites: a column
the models no longer have, a column whose type differs, or a new NOT NULL column without a safe
way to fill existing rows is listed in ``refused`` with the reason. Callers: ``core.database``
(``migrate``, ``migration_plan``) and ``ormcli migrate``. What it leaves out: renames, type
changes, data migrations, dropping anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from core.connection import Connection
from core.entity import EntityInfo
from core.sql import (
    add_column_sql,
    create_index_sql,
    create_table_sql,
    create_unique_index_sql,
    index_name,
)

__all__ = ["MigrationPlan", "migration_plan"]


@dataclass
class MigrationPlan:
    """Statements that bring the schema up to the models, and differences left alone."""

    statements: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.statements


def _ordered(entities: Sequence[EntityInfo]) -> list[EntityInfo]:
    """Referenced tables before the tables that reference them."""
    out: list[EntityInfo] = []
    seen: set[EntityInfo] = set()

    def visit(info: EntityInfo, path: frozenset[EntityInfo]) -> None:
        if info in seen or info in path:
            return
        for f in info.references:
            target = f.target
            if target is not None and target is not info and target in entities:
                visit(target, path | {info})
        seen.add(info)
        out.append(info)

    for info in entities:
        visit(info, frozenset())
    return out


def migration_plan(conn: Connection, entities: Sequence[EntityInfo]) -> MigrationPlan:
    dialect = conn.dialect
    existing = dialect.read_schema(conn)
    lowered = {name.lower(): table for name, table in existing.items()}
    plan = MigrationPlan()
    for info in _ordered(entities):
        table = existing.get(info.table) or lowered.get(info.table.lower())
        if table is None:
            plan.statements.append(create_table_sql(dialect, info))
            for f in info.fields:
                if f.index and not f.unique and not f.primary_key:
                    plan.statements.append(create_index_sql(dialect, info, f))
            continue
        columns = {name.lower(): col for name, col in table.columns.items()}
        present: set[str] = set()  # columns that are there, or added now, with the right type
        for f in info.fields:
            col = columns.get(f.column.lower())
            if col is None:
                if f.nullable and not f.primary_key and f.kind != "reference":
                    plan.statements.append(add_column_sql(dialect, info, f))
                    present.add(f.name)
                else:
                    plan.refused.append(
                        f"{info.cls.__name__}.{f.name}: the column is missing and is not "
                        "nullable, so existing rows have no value for it; make it "
                        "'| None' or add it by hand"
                    )
                continue
            expected = dialect.column_type(f)
            if not dialect.same_type(col.type, expected) and not f.autoincrement:
                plan.refused.append(
                    f"{info.cls.__name__}.{f.name}: the column is {col.type} in the database "
                    f"but the model maps it to {expected}; migrate does not change types"
                )
            else:
                present.add(f.name)
        known = {f.column.lower() for f in info.fields}
        for name in table.columns:
            if name.lower() not in known:
                plan.refused.append(
                    f"{info.table}.{name}: the column is in the database but not in the "
                    f"model {info.cls.__name__}; migrate never drops columns"
                )
        indexes = {i.lower() for i in table.indexes}
        unique = {c.lower() for c in table.unique}
        for f in info.fields:
            wanted = f.index and not f.unique and not f.primary_key
            if wanted and index_name(info, f).lower() not in indexes:
                plan.statements.append(create_index_sql(dialect, info, f))
            # A field marked Unique since its table was made: a unique index (the table
            # keeps its rows; should two rows share a value, the statement fails and names it).
            if (
                f.unique
                and not f.primary_key
                and f.name in present
                and f.column.lower() not in unique
            ):
                plan.statements.append(create_unique_index_sql(dialect, info, f))
    return plan
