"""Read the live schema through the dialect's catalog queries into a ``Schema``.

The queries are data on each dialect (``catalog_*_sql``, same row shapes on every backend);
this module only assembles the rows. Tables whose name starts with ``ormcli_`` (the history
table) and checks not named ``ck_...`` (MariaDB's own ``json_valid`` checks) are left out, as
are expression and partial indexes. Callers: ``core.migrations.plan`` and ``runner``.
What it leaves out: views, triggers, sequences, comments, collations.
"""

from __future__ import annotations

from typing import Any

from core.migrations.schema import Check, Column, ForeignKey, Index, Schema, Table

__all__ = ["HISTORY_TABLE", "read_schema"]

#: The history table (``core.migrations.history``); never part of a diff.
HISTORY_TABLE = "ormcli_migrations"
_CTX = "cannot read the schema"


def _ours(name: str) -> bool:
    return name.lower().startswith("ormcli_") or name.lower().startswith("_ormcli_")


def read_schema(conn: Any) -> Schema:
    """The tables of the connection's database (``conn`` is a ``core.connection``)."""
    d = conn.dialect
    schema = Schema()
    for table, column, type_, nullable, default in conn.fetchall(d.catalog_columns_sql, (), _CTX):
        if _ours(table):
            continue
        t = schema.tables.setdefault(table, Table(table))
        t.columns[column] = Column(
            column, "sql:" + str(type_), bool(nullable), d.normalize_default(default)
        )
    if d.catalog_autoincrement_sql:
        for table, column in conn.fetchall(d.catalog_autoincrement_sql, (), _CTX):
            found = schema.tables.get(table)
            if found is not None and column in found.columns:
                found.columns[column] = found.columns[column].but(autoincrement=True)
    pks: dict[str, list[str]] = {}
    for table, column, pk_name in conn.fetchall(d.catalog_pk_sql, (), _CTX):
        if table in schema.tables:
            pks.setdefault(table, []).append(column)
            schema.tables[table].pk_name = pk_name
    for table, cols in pks.items():
        t = schema.tables[table]
        t.primary_key = tuple(cols)
        for c in cols:  # a key column is never NULL, whatever the catalog says
            t.columns[c] = t.columns[c].but(nullable=False)
    indexes: dict[tuple[str, str], list[Any]] = {}
    for table, name, unique, column, constraint in conn.fetchall(d.catalog_indexes_sql, (), _CTX):
        if table in schema.tables:
            entry = indexes.setdefault((table, name), [bool(unique), bool(constraint), []])
            entry[2].append(column)
    for (table, name), (unique, constraint, cols) in indexes.items():
        if any(c is None for c in cols):
            continue  # an expression index: not ours to compare
        schema.tables[table].indexes[name] = Index(name, tuple(cols), unique, constraint)
    fks: dict[tuple[str, str], list[Any]] = {}
    for table, name, column, ref, ref_column, rule in conn.fetchall(d.catalog_fks_sql, (), _CTX):
        if table in schema.tables:
            entry = fks.setdefault((table, name), [ref, str(rule).lower(), [], []])
            entry[2].append(column)
            entry[3].append(ref_column)
    for (table, name), (ref, rule, cols, ref_cols) in fks.items():
        if any(c is None for c in ref_cols):  # SQLite: a reference to the key, unnamed
            target = schema.table(ref)
            ref_cols = list(target.primary_key) if target is not None else ref_cols
        rule = "restrict" if rule in ("no action", "restrict") else rule
        schema.tables[table].foreign_keys[name] = ForeignKey(
            name, tuple(cols), ref, tuple(ref_cols), rule
        )
    for table, name, *expression in d.read_checks(conn):
        if table in schema.tables and name.lower().startswith("ck_"):
            schema.tables[table].checks[name] = Check(name, expression[0] if expression else "")
    return schema
