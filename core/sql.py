"""SQL text for one dialect: DDL, INSERT / UPDATE / DELETE / SELECT, and compiled filters.

Identifiers come only from the model and go through ``Dialect.quote``; every value is a bound
parameter (the functions here return text with placeholders and append values to a list).
Statement text depends only on the shape of a batch (entity, columns, row count), so it is
cached. Callers: ``core.unitofwork`` (planning), ``core.persist``, ``core.query``,
``core.migrate``. What it leaves out: executing anything.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import lru_cache
from typing import Any

from core.codec import EntityCodec
from core.dialects.base import Dialect
from core.entity import EntityInfo, FieldInfo, Unloaded
from core.errors import ValidationError
from core.expressions import And, Compare, Expr, In, IsNull, Like, Not, Or, Order
from core.paths import Path, resolve

__all__ = [
    "Scope",
    "compile_where",
    "create_index_sql",
    "create_table_sql",
    "delete_sql",
    "insert_sql",
    "order_sql",
    "select_sql",
    "update_batches",
    "update_sql",
]


def _cols(dialect: Dialect, names: Sequence[str]) -> str:
    return ", ".join(dialect.quote(n) for n in names)


# -- DDL -----------------------------------------------------------------------------------


def column_sql(dialect: Dialect, f: FieldInfo, *, single_pk: bool) -> str:
    if f.autoincrement and single_pk:
        return f"{dialect.quote(f.column)} {dialect.autoincrement_pk}"
    sql = f"{dialect.quote(f.column)} {dialect.column_type(f)}"
    if not f.nullable:
        sql += " NOT NULL"
    if f.primary_key and single_pk:
        sql += " PRIMARY KEY"
    return sql


def create_table_sql(dialect: Dialect, info: EntityInfo) -> str:
    q = dialect.quote
    single_pk = len(info.primary_key) == 1
    parts = [column_sql(dialect, f, single_pk=single_pk) for f in info.fields]
    if not single_pk:
        parts.append(f"PRIMARY KEY ({_cols(dialect, [f.column for f in info.primary_key])})")
    for f in info.fields:
        if f.unique and not f.primary_key:
            parts.append(f"CONSTRAINT {q(unique_name(info, f))} UNIQUE ({q(f.column)})")
    for f in info.references:
        target = f.target
        assert target is not None
        parts.append(
            f"CONSTRAINT {q(f'fk_{info.table}_{f.column}')} FOREIGN KEY ({q(f.column)}) "
            f"REFERENCES {q(target.table)} ({q(target.primary_key[0].column)})"
            + (f" ON DELETE {f.on_delete.upper()}" if f.on_delete != "restrict" else "")
        )
    body = ",\n  ".join(parts)
    return f"CREATE TABLE {q(info.table)} (\n  {body}\n){dialect.table_options}"


def index_name(info: EntityInfo, f: FieldInfo) -> str:
    return f"ix_{info.table}_{f.column}"


def create_index_sql(dialect: Dialect, info: EntityInfo, f: FieldInfo) -> str:
    q = dialect.quote
    return f"CREATE INDEX {q(index_name(info, f))} ON {q(info.table)} ({q(f.column)})"


def unique_name(info: EntityInfo, f: FieldInfo) -> str:
    """The name of a field's unique constraint or index (errors find the field by it)."""
    return f"uq_{info.table}_{f.column}"


def create_unique_index_sql(dialect: Dialect, info: EntityInfo, f: FieldInfo) -> str:
    """A unique index on one column of an existing table (new tables get a constraint)."""
    q = dialect.quote
    return f"CREATE UNIQUE INDEX {q(unique_name(info, f))} ON {q(info.table)} ({q(f.column)})"


def add_column_sql(dialect: Dialect, info: EntityInfo, f: FieldInfo) -> str:
    q = dialect.quote
    return f"ALTER TABLE {q(info.table)} ADD COLUMN {column_sql(dialect, f, single_pk=False)}"


# -- DML -----------------------------------------------------------------------------------


@lru_cache(maxsize=1024)
def insert_sql(
    dialect: Dialect, table: str, columns: tuple[str, ...], rows: int, returning: tuple[str, ...]
) -> str:
    """``INSERT INTO t (cols) VALUES (...), (...) [RETURNING ...]`` for ``rows`` rows."""
    q = dialect.quote
    if columns:
        one = f"({dialect.placeholders(len(columns))})"
        sql = f"INSERT INTO {q(table)} ({_cols(dialect, columns)}) VALUES " + ", ".join(
            [one] * rows
        )
    else:
        sql = f"INSERT INTO {q(table)} {dialect.empty_insert_values}"
    if returning:
        sql += f" RETURNING {_cols(dialect, returning)}"
    return sql


@lru_cache(maxsize=1024)
def update_sql(dialect: Dialect, table: str, columns: tuple[str, ...], pk: tuple[str, ...]) -> str:
    """``UPDATE t SET a = ?, b = ? WHERE pk = ?`` (sent with ``executemany``)."""
    q, p = dialect.quote, dialect.placeholder
    sets = ", ".join(f"{q(c)} = {p}" for c in columns)
    where = " AND ".join(f"{q(c)} = {p}" for c in pk)
    return f"UPDATE {q(table)} SET {sets} WHERE {where}"


def update_batches(
    dialect: Dialect, info: EntityInfo, columns: tuple[str, ...], rows: Sequence[Sequence[Any]]
) -> list[tuple[str, list[Any], int]] | None:
    """``(sql, params, rows)`` per statement of a batched UPDATE in the dialect's form.

    ``rows`` are ``(*new values of columns, *primary key)``. None for the "executemany" form
    (and for one row): then ``update_sql`` is sent once per row.
    """
    form = dialect.update_form
    if form == "executemany" or len(rows) < 2:
        return None
    fields = tuple(info.field(n) for n in columns)
    set_cols = tuple(f.column for f in fields)
    pk_cols = tuple(f.column for f in info.primary_key)
    if form == "unnest":
        casts = tuple(dialect.cast_type(f) for f in (*fields, *info.primary_key))
        sql = _update_unnest_sql(dialect, info.table, set_cols, pk_cols, casts)
        size = max(1, dialect.array_rows)
        return [
            (sql, [[row[i] for row in chunk] for i in range(len(casts))], len(chunk))
            for chunk in (rows[start : start + size] for start in range(0, len(rows), size))
        ]
    if form == "case":
        width = 2 * len(set_cols) + 1
        size = max(1, min(dialect.update_batch_rows, dialect.max_params // width))
        out = []
        for start in range(0, len(rows), size):
            chunk = rows[start : start + size]
            params: list[Any] = []
            for i in range(len(set_cols)):
                for row in chunk:
                    params.extend(row[len(set_cols) :])
                    params.append(row[i])
            for row in chunk:
                params.extend(row[len(set_cols) :])
            sql = _update_case_sql(dialect, info.table, set_cols, pk_cols, len(chunk))
            out.append((sql, params, len(chunk)))
        return out
    raise ValueError(f"unknown update form {form!r} on {type(dialect).__name__}")


@lru_cache(maxsize=256)
def _update_unnest_sql(
    dialect: Dialect,
    table: str,
    columns: tuple[str, ...],
    pk: tuple[str, ...],
    casts: tuple[str, ...],
) -> str:
    """``UPDATE t SET a = v.c0 FROM unnest(?::T[], ...) AS v(c0, ..., k0) WHERE t.pk = v.k0``."""
    q, p = dialect.quote, dialect.placeholder
    names = [f"c{i}" for i in range(len(columns))] + [f"k{i}" for i in range(len(pk))]
    arrays = ", ".join(f"{p}::{cast}[]" for cast in casts)
    sets = ", ".join(f"{q(c)} = {q('_v')}.{q(n)}" for c, n in zip(columns, names, strict=False))
    where = " AND ".join(f"{q(table)}.{q(c)} = {q('_v')}.{q(f'k{i}')}" for i, c in enumerate(pk))
    return (
        f"UPDATE {q(table)} SET {sets} FROM unnest({arrays}) AS {q('_v')}"
        f"({_cols(dialect, names)}) WHERE {where}"
    )


@lru_cache(maxsize=256)
def _update_case_sql(
    dialect: Dialect, table: str, columns: tuple[str, ...], pk: tuple[str, ...], rows: int
) -> str:
    """``UPDATE t SET a = CASE pk WHEN ? THEN ? ... END, ... WHERE pk IN (?, ...)``."""
    q, p = dialect.quote, dialect.placeholder
    if len(pk) == 1:
        when = f" WHEN {p} THEN {p}" * rows
        cases = [f"{q(c)} = CASE {q(pk[0])}{when} END" for c in columns]
        where = f"{q(pk[0])} IN ({dialect.placeholders(rows)})"
    else:
        match = " AND ".join(f"{q(k)} = {p}" for k in pk)
        when = f" WHEN {match} THEN {p}" * rows
        cases = [f"{q(c)} = CASE{when} END" for c in columns]
        one = f"({dialect.placeholders(len(pk))})"
        where = f"({_cols(dialect, pk)}) IN ({', '.join([one] * rows)})"
    return f"UPDATE {q(table)} SET {', '.join(cases)} WHERE {where}"


@lru_cache(maxsize=256)
def insert_array_sql(
    dialect: Dialect,
    table: str,
    columns: tuple[str, ...],
    casts: tuple[str, ...],
    returning: tuple[str, ...],
) -> str:
    """``INSERT INTO t (cols) SELECT * FROM unnest(?::T[], ...) [RETURNING ...]``."""
    q, p = dialect.quote, dialect.placeholder
    arrays = ", ".join(f"{p}::{cast}[]" for cast in casts)
    sql = f"INSERT INTO {q(table)} ({_cols(dialect, columns)}) SELECT * FROM unnest({arrays})"
    if returning:
        sql += f" RETURNING {_cols(dialect, returning)}"
    return sql


@lru_cache(maxsize=256)
def delete_array_sql(
    dialect: Dialect, table: str, pk: tuple[str, ...], casts: tuple[str, ...]
) -> str:
    """``DELETE FROM t WHERE pk = ANY(?::T[])``: one array of keys; a composite key joins
    the table to ``unnest`` of one array per key column.

    Sent in chunks of ``dialect.array_delete_rows`` keys, pipelined: 10,000 keys in 500-key
    chunks took 10-11 ms, on an INTEGER key as on BIGINT, where a join to ``unnest`` in
    2,000-key chunks took 14 and one 10,000-key ``= ANY`` 15. Composite keys (text, bigint):
    10,000 in 500-key chunks 22 ms; ``(a, b) IN (SELECT * FROM unnest(...))`` 29; row values
    fail at a few thousand keys (the server's stack depth); one-row DELETEs pipelined 136.
    """
    q, p = dialect.quote, dialect.placeholder
    if len(pk) == 1:
        return f"DELETE FROM {q(table)} WHERE {q(pk[0])} = ANY({p}::{casts[0]}[])"
    arrays = ", ".join(f"{p}::{cast}[]" for cast in casts)
    on = " AND ".join(f"_t.{q(c)} = _k.{q(c)}" for c in pk)
    return (
        f"DELETE FROM {q(table)} AS _t USING unnest({arrays}) AS _k({_cols(dialect, pk)}) "
        f"WHERE {on}"
    )


@lru_cache(maxsize=1024)
def delete_sql(dialect: Dialect, table: str, pk: tuple[str, ...], rows: int) -> str:
    """``DELETE FROM t WHERE pk IN (...)``; a composite key as row values where the dialect
    has ``row_value_deletes`` (``WHERE (a, b) IN ((?, ?), ...)``), else one row per
    parameter set (sent with executemany)."""
    q, p = dialect.quote, dialect.placeholder
    if len(pk) == 1:
        return f"DELETE FROM {q(table)} WHERE {q(pk[0])} IN ({dialect.placeholders(rows)})"
    if dialect.row_value_deletes:
        row = f"({dialect.placeholders(len(pk))})"
        return f"DELETE FROM {q(table)} WHERE ({_cols(dialect, pk)}) IN ({', '.join([row] * rows)})"
    where = " AND ".join(f"{q(c)} = {p}" for c in pk)
    return f"DELETE FROM {q(table)} WHERE {where}"


@lru_cache(maxsize=256)
def select_sql(dialect: Dialect, table: str, columns: tuple[str, ...]) -> str:
    return f"SELECT {_cols(dialect, columns)} FROM {dialect.quote(table)}"


# -- filters -------------------------------------------------------------------------------


class Scope:
    """How one statement names its tables: the root entity, and for a SELECT the LEFT JOINs of
    many-to-one paths (``author.name`` in a filter, ``order_by`` or ``Query.join``).

    ``joins=False`` (UPDATE, DELETE, and a SELECT that needs none): root columns go
    unqualified, as in the first round, and every condition through a reference becomes an
    ``EXISTS`` subquery. ``joins=True``: root columns are qualified by the table's name and
    each path prefix gets one alias (``_j1``, ``_j2``...), shared by every use. Subqueries
    alias their tables ``_e1``, ``_e2``...; the names cannot clash with an entity's (entity
    names are taken from class names unless given).
    """

    def __init__(
        self,
        dialect: Dialect,
        root: EntityInfo,
        codec_of: Callable[[EntityInfo], EntityCodec],
        *,
        joins: bool = False,
    ) -> None:
        self.dialect = dialect
        self.root = root
        self.codec_of = codec_of
        self.joins = joins
        #: The root's columns are written ``qualifier.column`` ("" when unqualified).
        self.qualifier = dialect.quote(root.table) if joins else ""
        #: Path of references (field names) -> the alias of the table it reaches.
        self.aliases: dict[tuple[str, ...], str] = {}
        self._join_sql: list[str] = []
        self._subqueries = 0

    def join(self, references: Sequence[FieldInfo]) -> str:
        """The alias of the row reached through ``references`` from the root (joined once)."""
        assert self.joins, "joins are only made in a SELECT"
        q = self.dialect.quote
        outer = self.qualifier
        key: tuple[str, ...] = ()
        for f in references:
            key += (f.name,)
            alias = self.aliases.get(key)
            if alias is None:
                target = f.target
                assert target is not None
                alias = q(f"_j{len(self.aliases) + 1}")
                self.aliases[key] = alias
                self._join_sql.append(
                    f" LEFT JOIN {q(target.table)} AS {alias} ON "
                    f"{alias}.{q(target.primary_key[0].column)} = {outer}.{q(f.column)}"
                )
            outer = alias
        return outer

    def subquery_alias(self) -> str:
        self._subqueries += 1
        return self.dialect.quote(f"_e{self._subqueries}")

    def column(self, path: Path) -> str:
        """A path's column in this statement (its references joined)."""
        q = self.dialect.quote
        if path.references:
            return f"{self.join(path.references)}.{q(path.field.column)}"
        return (
            f"{self.qualifier}.{q(path.field.column)}" if self.qualifier else q(path.field.column)
        )

    def from_sql(self) -> str:
        """``"table"`` and its joins (joins are made while the rest is compiled: call last)."""
        return self.dialect.quote(self.root.table) + "".join(self._join_sql)


def _codecs_beside(codec: EntityCodec) -> Callable[[EntityInfo], EntityCodec]:
    """Codecs for a statement compiled without a database at hand: ``codec`` for its own
    entity, new ones (cached) for entities reached through references."""
    made = {codec.info: codec}

    def codec_of(info: EntityInfo) -> EntityCodec:
        if info not in made:
            made[info] = EntityCodec(info, codec.dialect)
        return made[info]

    return codec_of


def compile_where(
    expr: Expr, codec: EntityCodec, params: list[Any], scope: Scope | None = None
) -> str:
    """SQL text for ``expr`` on ``codec``'s entity; values are appended to ``params``.

    A field may be a path through references (``author.name``, any depth). A condition
    through a reference holds for a row whose referenced row exists and meets it: in a
    SELECT's top-level conjunction it is tested on the joined row (``scope.joins``), anywhere
    else (under ``|`` or ``~``, in UPDATE and DELETE, ``IS NULL`` tests) as ``EXISTS
    (SELECT 1 FROM target WHERE target.pk = fk AND ...)`` — the two agree, so ``find``,
    ``count``, ``delete_many`` and ``patch_many`` match the same rows. A path ending on the
    referenced entity's key (``author.id == 3``) compares the foreign key itself.
    """
    dialect = codec.dialect
    q, p = dialect.quote, dialect.placeholder
    if scope is None:
        scope = Scope(dialect, codec.info, _codecs_beside(codec))

    def value(info: EntityInfo, f: FieldInfo, v: Any) -> Any:
        fcodec = scope.codec_of(info)
        try:
            if f.kind == "reference":
                target = f.target
                assert target is not None
                if isinstance(v, target.cls | Unloaded):
                    return fcodec.value_to_db(f, v)
                # A key of the referenced entity: coerced by the target's key field.
                pk_field = target.primary_key[0]
                return dialect.to_db_converter(pk_field)(pk_field.coerce(v))
            return fcodec.value_to_db(f, f.coerce(v))
        except ValidationError as exc:
            raise ValidationError(f"in a filter on {codec.info.cls.__name__}: {exc}") from None

    def leaf(e: Expr, info: EntityInfo, f: FieldInfo, column: str) -> str:
        """A condition on one column (``f`` of ``info``), written ``column``."""
        if isinstance(e, Compare):
            if e.value is None:
                return f"{column} IS {'NOT ' if e.op == '!=' else ''}NULL"
            if e.op not in ("=", "!=", "<", "<=", ">", ">="):
                raise ValidationError(f"unknown comparison operator {e.op!r}")
            params.append(value(info, f, e.value))
            op = "<>" if e.op == "!=" else e.op
            if op in ("<", "<=", ">", ">=") and f.kind in dialect.numeric_text_kinds:
                cast = dialect.numeric_cast
                return f"{cast.format(column)} {op} {cast.format(p)}"
            return f"{column} {op} {p}"
        if isinstance(e, In):
            if not e.values:
                return "1 = 1" if e.negate else "1 = 0"
            params.extend(value(info, f, v) for v in e.values)
            neg = "NOT " if e.negate else ""
            return f"{column} {neg}IN ({dialect.placeholders(len(e.values))})"
        if isinstance(e, Like):
            if not isinstance(e.pattern, str):
                raise ValidationError(f"like takes a text pattern, got {e.pattern!r}")
            params.append(e.pattern)
            return f"{column} {'NOT ' if e.negate else ''}LIKE {p}"
        assert isinstance(e, IsNull)
        return f"{column} IS {'NOT ' if e.negate else ''}NULL"

    def on_path(e: Compare | In | Like | IsNull, info: EntityInfo, qual: str, top: bool) -> str:
        """A condition on a field or path of ``info`` (its table written ``qual``; "" for the
        unqualified root); ``top``: in the SELECT's top-level conjunction."""
        path = resolve(info, e.field)
        if not path.references:
            column = f"{qual}.{q(path.field.column)}" if qual else q(path.field.column)
            return leaf(e, info, path.field, column)
        first = path.references[0]
        target = first.target
        assert target is not None
        if (
            len(path.references) == 1
            and path.field.primary_key
            and len(target.primary_key) == 1
            and (isinstance(e, In) or (isinstance(e, Compare) and e.value is not None))
        ):
            column = f"{qual}.{q(first.column)}" if qual else q(first.column)
            return leaf(e, info, first, column)
        if top and scope.joins and not isinstance(e, IsNull):
            return leaf(e, path.owner, path.field, scope.column(path))
        outer = qual or q(info.table)
        alias = scope.subquery_alias()
        rest = replace(e, field=e.field.split(".", 1)[1])
        inner = on_path(rest, target, alias, False)
        return (
            f"EXISTS (SELECT 1 FROM {q(target.table)} AS {alias} WHERE "
            f"{alias}.{q(target.primary_key[0].column)} = {outer}.{q(first.column)} AND {inner})"
        )

    def walk(e: Expr, top: bool) -> str:
        if isinstance(e, Compare | In | Like | IsNull):
            return on_path(e, codec.info, scope.qualifier, top)
        if isinstance(e, And | Or):
            if not e.items:
                return "1 = 1" if isinstance(e, And) else "1 = 0"
            joiner = " AND " if isinstance(e, And) else " OR "
            inner_top = top and isinstance(e, And)
            return "(" + joiner.join(walk(i, inner_top) for i in e.items) + ")"
        if isinstance(e, Not):
            return f"NOT ({walk(e.item, False)})"
        raise ValidationError(f"not a filter expression: {e!r}")

    return walk(expr, True)


def order_sql(orders: Sequence[Order], codec: EntityCodec, scope: Scope | None = None) -> str:
    """``ORDER BY ...``; a path through references (``author.name``) needs a ``scope`` that
    joins."""
    if not orders:
        return ""
    parts = []
    for o in orders:
        path = resolve(codec.info, o.field)
        if path.references and (scope is None or not scope.joins):
            raise ValidationError(f"ordering by the path {o.field!r} needs a joining query")
        column = codec.dialect.quote(path.field.column) if scope is None else scope.column(path)
        if path.field.kind in codec.dialect.numeric_text_kinds:
            column = codec.dialect.numeric_cast.format(column)
        parts.append(f"{column}{' DESC' if o.descending else ''}")
    return " ORDER BY " + ", ".join(parts)
