"""SQL text for one dialect: DDL, INSERT / UPDATE / DELETE / SELECT, and compiled filters.

Identifiers come only from the model and go through ``Dialect.quote``; every value is a bound
parameter (the functions here return text with placeholders and append values to a list).
Statement text depends only on the shape of a batch (entity, columns, row count), so it is
cached. Callers: ``core.unitofwork`` (planning), ``core.persist``, ``core.query``,
``core.migrations`` renders its own DDL. What it leaves out: executing anything.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from functools import lru_cache, partial
from itertools import chain
from typing import Any

from core.codec import EntityCodec
from core.dialects.base import Dialect
from core.entity import EntityInfo, FieldInfo, Unloaded
from core.errors import ValidationError
from core.expressions import (
    AGGREGATES,
    Aggregate,
    And,
    Compare,
    Exists,
    Expr,
    FieldRef,
    In,
    InQuery,
    IsNull,
    Like,
    Matches,
    Not,
    Or,
    Order,
    Outer,
    Related,
    Term,
    term_name,
)
from core.paths import Path, resolve, resolve_collection, step_target
from core.relations import RelationInfo

__all__ = [
    "Scope",
    "TermCompiler",
    "compile_where",
    "delete_sql",
    "insert_sql",
    "order_sql",
    "pivot_select_sql",
    "select_sql",
    "update_batches",
    "update_sql",
    "upsert_select_sql",
    "upsert_sql",
]


def _cols(dialect: Dialect, names: Sequence[str]) -> str:
    return ", ".join(dialect.quote(n) for n in names)


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
    if form == "values":
        width = len(set_cols) + len(pk_cols)
        size = max(1, min(dialect.update_batch_rows, dialect.max_params // width))
        out_values = []
        for start in range(0, len(rows), size):
            chunk = rows[start : start + size]
            sql = _update_values_sql(dialect, info.table, set_cols, pk_cols, len(chunk))
            out_values.append((sql, list(chain.from_iterable(chunk)), len(chunk)))
        return out_values
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
def _update_values_sql(
    dialect: Dialect, table: str, columns: tuple[str, ...], pk: tuple[str, ...], rows: int
) -> str:
    """``UPDATE t SET a = v.column1 FROM (VALUES (?, ?), ...) AS v WHERE t.pk = v.column2``
    (SQLite 3.33+: the new values and the key of each row, one statement per chunk)."""
    q = dialect.quote
    v = q("_v")
    sets = ", ".join(f"{q(c)} = {v}.column{i + 1}" for i, c in enumerate(columns))
    where = " AND ".join(
        f"{q(table)}.{q(c)} = {v}.column{len(columns) + i + 1}" for i, c in enumerate(pk)
    )
    one = f"({dialect.placeholders(len(columns) + len(pk))})"
    values = ", ".join([one] * rows)
    return f"UPDATE {q(table)} SET {sets} FROM (VALUES {values}) AS {v} WHERE {where}"


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


@lru_cache(maxsize=1024)
def upsert_sql(
    dialect: Dialect,
    table: str,
    columns: tuple[str, ...],
    rows: int,
    arrays: tuple[str, ...] | None,
    on: tuple[str, ...],
    update: tuple[str, ...],
    version: str | None,
    returning: tuple[str, ...],
) -> str:
    """``INSERT INTO t (cols) VALUES (...), ... <upsert clause> [RETURNING ...]``: the dialect's
    ``upsert_clause`` (``ON CONFLICT (on) DO UPDATE SET ...`` / ``ON DUPLICATE KEY UPDATE``)
    setting ``update`` to the staged values and ``version`` one higher than stored. With no
    field to update, the first ``on`` column is set to itself (the row still comes back).
    ``arrays``: the casts of an array-form insert (``SELECT * FROM unnest(...)``), else None."""
    q = dialect.quote
    if arrays is not None:
        sql = insert_array_sql(dialect, table, columns, arrays, ())
    else:
        sql = insert_sql(dialect, table, columns, rows, ())
    new, old = dialect.upsert_new_value, dialect.upsert_old_value
    sets = [f"{q(c)} = {new.format(col=q(c))}" for c in update]
    if version is not None:
        sets.append(f"{q(version)} = {old.format(table=q(table), col=q(version))} + 1")
    if not sets:
        sets.append(f"{q(on[0])} = {old.format(table=q(table), col=q(on[0]))}")
    sql += dialect.upsert_clause.format(target=_cols(dialect, on), sets=", ".join(sets))
    if returning:
        sql += f" RETURNING {_cols(dialect, returning)}"
    return sql


@lru_cache(maxsize=256)
def upsert_select_sql(
    dialect: Dialect, table: str, columns: tuple[str, ...], on: tuple[str, ...], rows: int
) -> str:
    """``SELECT cols FROM t WHERE on IN (...)`` (row values for several ``on`` columns): the
    rows of an upsert batch read back in its transaction, where there is no RETURNING."""
    q = dialect.quote
    head = f"SELECT {_cols(dialect, columns)} FROM {q(table)} WHERE "
    if len(on) == 1:
        return head + f"{q(on[0])} IN ({dialect.placeholders(rows)})"
    row = f"({dialect.placeholders(len(on))})"
    return head + f"({_cols(dialect, on)}) IN ({', '.join([row] * rows)})"


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


@lru_cache(maxsize=256)
def pivot_select_sql(
    dialect: Dialect, relation: RelationInfo, whole_links: bool = True
) -> tuple[str, str]:
    """``SELECT link.*, t.* FROM pivot AS link JOIN target AS t ON t.pk = link.target`` and
    the owner column ``link.owner`` (the caller adds ``WHERE`` it is among some keys): a
    many-to-many collection's pivot rows, each with its item. Without ``whole_links`` only
    ``link.owner`` of the pivot's columns is selected (pivot objects made from owner and item
    later: ``core.collection.lazy_pivots``)."""
    q = dialect.quote
    pivot, target = relation.pivot, relation.target
    assert pivot is not None and relation.pivot_owner is not None
    assert relation.pivot_target is not None
    link, item = q("_l"), q("_t")
    names = pivot.column_names if whole_links else [relation.pivot_owner.column]
    cols = [f"{link}.{q(c)}" for c in names]
    cols += [f"{item}.{q(c)}" for c in target.column_names]
    sql = (
        f"SELECT {', '.join(cols)} FROM {q(pivot.table)} AS {link} JOIN {q(target.table)} "
        f"AS {item} ON {item}.{q(target.primary_key[0].column)} = "
        f"{link}.{q(relation.pivot_target.column)}"
    )
    return sql, f"{link}.{q(relation.pivot_owner.column)}"


# -- filters -------------------------------------------------------------------------------


class Scope:
    """How one statement names its tables: the root entity, and for a SELECT the LEFT JOINs of
    many-to-one paths (``author.name`` in a filter, ``order_by``, ``select``, ``group_by`` or
    ``Query.join``). A subquery (``F.x.in_(query)``, ``F.exists(query)``) aliases its root
    ``_s1``, ``_s2``... by depth, so that ``outer("f")`` names the enclosing row unambiguously.

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
        alias: str | None = None,
    ) -> None:
        self.dialect = dialect
        self.root = root
        self.codec_of = codec_of
        self.joins = joins
        #: The root table's alias (a subquery's ``_s1``...), or None.
        self.alias = alias
        #: The root's columns are written ``qualifier.column`` ("" when unqualified).
        self.qualifier = (
            dialect.quote(alias) if alias else dialect.quote(root.table) if joins else ""
        )
        #: Path of references (field names) -> the alias of the table it reaches.
        self.aliases: dict[tuple[str, ...], str] = {}
        self._join_sql: list[str] = []
        #: Subquery aliases made so far (shared with nested scopes, so that none repeats).
        self._subqueries = [0]

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
        self._subqueries[0] += 1
        return self.dialect.quote(f"_e{self._subqueries[0]}")

    def nested(self, root: EntityInfo, qualifier: str) -> Scope:
        """The scope of an ``EXISTS`` subquery on ``root``, whose table is written
        ``qualifier`` (an alias made by ``subquery_alias``): no joins, aliases numbered on."""
        scope = Scope(self.dialect, root, self.codec_of)
        scope.qualifier = qualifier
        scope._subqueries = self._subqueries
        return scope

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
        table = self.dialect.quote(self.root.table)
        if self.alias:
            table += f" AS {self.qualifier}"
        return table + "".join(self._join_sql)

    @property
    def name(self) -> str:
        """How the root table is named inside the statement (for ``outer(...)``)."""
        return self.qualifier or self.dialect.quote(self.root.table)


def _codecs_beside(codec: EntityCodec) -> Callable[[EntityInfo], EntityCodec]:
    """Codecs for a statement compiled without a database at hand: ``codec`` for its own
    entity, new ones (cached) for entities reached through references."""
    made = {codec.info: codec}

    def codec_of(info: EntityInfo) -> EntityCodec:
        if info not in made:
            made[info] = EntityCodec(info, codec.dialect)
        return made[info]

    return codec_of


def _json_field(f: FieldInfo, term: FieldRef) -> None:
    if f.kind != "json":
        raise ValidationError(
            f"{f.entity}.{f.name} is not a JSON field; {term!r} needs one (a dict or list field)"
        )
    for key in term._json:
        if isinstance(key, str) and ('"' in key or "\\" in key):
            raise ValidationError(
                f"the JSON key {key!r} in {term!r} has a double quote or backslash, which "
                "cannot be addressed alike on every backend; rename the key"
            )


def _json_sql(
    template: str, dialect: Dialect, column: str, term: FieldRef, params: list[Any]
) -> str:
    """``template`` filled for ``term``'s path on ``column``; the path is bound as often as
    the template uses it."""
    params.extend([dialect.json_path(term._json)] * template.count("{path}"))
    return template.format(col=column, path=dialect.placeholder)


#: Conditions on one field (or JSON path, or aggregate).
_Leaf = Compare | In | InQuery | Like | Matches | IsNull


class TermCompiler:
    """SQL of terms (fields and paths, JSON paths, aggregates) and filters for one statement.

    ``scope`` names the statement's tables (joins for paths through references; a subquery's
    alias); ``aliases`` maps names of a ``select``'s columns to their terms (``having`` and
    ``order_by`` may name them); ``outer`` is the enclosing statement's scope inside a
    subquery, for ``outer("field")``.
    """

    def __init__(
        self,
        codec: EntityCodec,
        scope: Scope | None = None,
        aliases: Mapping[str, Term] | None = None,
        outer: Scope | None = None,
        depth: int = 0,
    ) -> None:
        self.codec = codec
        self.info = codec.info
        self.dialect = codec.dialect
        self.scope = scope or Scope(codec.dialect, codec.info, _codecs_beside(codec))
        self.aliases = aliases or {}
        self.outer = outer
        self.depth = depth

    def resolve(self, term: Term) -> Term:
        if isinstance(term, str) and term in self.aliases:
            resolved: Term = self.aliases[term]
            return resolved
        return term

    # -- terms ---------------------------------------------------------------------------------

    def path(self, name: str) -> Path:
        return resolve(self.info, name)

    def column(self, name: str) -> tuple[str, Path]:
        """A field's (or path's) column in this statement."""
        path = self.path(name)
        if path.references and not self.scope.joins:
            raise ValidationError(f"the path {name!r} needs a joining query")
        return self.scope.column(path), path

    def field_of(self, term: Term, resolve_alias: bool = True) -> FieldInfo | None:
        """The field a term reads (an aggregate: the field it aggregates; COUNT: None)."""
        if resolve_alias:
            term = self.resolve(term)
        name = term_name(term)
        return None if name is None else self.path(name).field

    def term(
        self,
        term: Term,
        params: list[Any],
        *,
        text: bool = False,
        null: bool = False,
        resolve_alias: bool = True,
    ) -> str:
        """A term's SQL: a column, a JSON scalar (``text``: as text; ``null``: to test for
        nothing there), or an aggregate; a name of ``aliases`` stands for its term (an
        aggregate's field never does)."""
        if resolve_alias:
            term = self.resolve(term)
        dialect = self.dialect
        if isinstance(term, str):
            return self.column(term)[0]
        if isinstance(term, FieldRef):
            column, path = self.column(term._path)
            if not term._json:
                return column
            _json_field(path.field, term)
            template = (
                dialect.json_null_sql
                if null
                else dialect.json_text_sql
                if text
                else dialect.json_scalar_sql
            )
            return _json_sql(template, dialect, column, term, params)
        if isinstance(term, Aggregate):
            if term.func not in AGGREGATES:
                raise ValidationError(f"unknown aggregate {term.func!r}")
            if term.field is None:
                return "COUNT(*)"
            inner = self.term(term.field, params, resolve_alias=False)
            of = self.field_of(term.field, False)
            json = isinstance(term.field, FieldRef) and bool(term.field._json)
            if term.func != "count" and of is not None and not json:
                if of.kind in dialect.numeric_text_kinds:
                    inner = dialect.numeric_cast.format(inner)
                elif term.func == "avg" and of.kind in ("int", "bool", "float"):
                    inner = dialect.avg_cast.format(inner)
            distinct = "DISTINCT " if term.distinct else ""
            return f"{term.func.upper()}({distinct}{inner})"
        raise ValidationError(f"not a field, JSON path or aggregate: {term!r}")

    def selected(self, term: Term, params: list[Any]) -> str:
        """A term as a selected column (a JSON path selects its JSON value whole)."""
        if isinstance(term, FieldRef) and term._json:
            column, path = self.column(term._path)
            _json_field(path.field, term)
            return _json_sql(self.dialect.json_select_sql, self.dialect, column, term, params)
        return self.term(term, params, resolve_alias=False)

    def decoder(self, term: Term) -> Callable[[Any], Any]:
        """Driver value of a selected term -> Python value."""
        if isinstance(term, Aggregate):
            if term.func == "count":
                return _int_or_none
            f = self.field_of(term, False)
            if f is None or (isinstance(term.field, FieldRef) and term.field._json):
                return _number if term.func in ("sum", "avg") else _plain
            if term.func in ("min", "max"):
                return partial(_from_db_lenient, self._codec_of(term), f)
            if f.kind == "decimal":
                return _decimal
            if term.func == "avg":
                return _float
            return _int_like if f.kind in ("int", "bool") else _float
        if isinstance(term, FieldRef) and term._json:
            return _plain if self.dialect.json_select_decoded else _json_loads
        name = term_name(term)
        assert name is not None
        path = self.path(name)
        return partial(self.scope.codec_of(path.owner).value_from_db, path.field)

    def _codec_of(self, term: Term) -> EntityCodec:
        name = term_name(term)
        return self.scope.codec_of(self.path(name).owner if name else self.info)

    # -- values --------------------------------------------------------------------------------

    def value(self, term: Term, v: Any, info: EntityInfo | None = None) -> Any:
        """A compared value for ``term`` (of ``info``, the root by default), validated and
        converted for the driver."""
        if isinstance(term, FieldRef) and term._json:
            if isinstance(v, dict | list | tuple) or not isinstance(v, str | int | float):
                raise ValidationError(
                    f"{term!r} compares with text, numbers and booleans, got {v!r}"
                )
            return self.dialect.json_value(v)
        if isinstance(term, Aggregate):
            f = self.field_of(term, False)
            on_path = isinstance(term.field, FieldRef) and bool(term.field._json)
            if term.func in ("min", "max") and f is not None and not on_path:
                return self._field_value(self._codec_of(term), f, v)
            if isinstance(v, bool) or not isinstance(v, int | float | Decimal):
                raise ValidationError(f"{term!r} compares with numbers, got {v!r}")
            kind = f.kind if f is not None and not on_path else None
            exact = kind == "decimal" and kind not in self.dialect.numeric_text_kinds
            if isinstance(v, Decimal) and not exact:
                return float(v)  # compared with a float (SQLite cannot bind a Decimal)
            return v
        owner = info or self.info
        name = term if isinstance(term, str) else term_name(term)
        assert name is not None
        return self._field_value(self.scope.codec_of(owner), owner.field(name), v)

    def _field_value(self, codec: EntityCodec, f: FieldInfo, v: Any) -> Any:
        dialect = self.dialect
        try:
            if f.kind == "reference":
                target = f.target
                assert target is not None
                if isinstance(v, target.cls | Unloaded):
                    return codec.value_to_db(f, v)
                # A key of the referenced entity: coerced by the target's key field.
                pk_field = target.primary_key[0]
                return dialect.to_db_converter(pk_field)(pk_field.coerce(v))
            return codec.value_to_db(f, f.coerce(v))
        except ValidationError as exc:
            raise ValidationError(f"in a filter on {self.info.cls.__name__}: {exc}") from None

    # -- filters -------------------------------------------------------------------------------

    def where(self, expr: Expr, params: list[Any]) -> str:
        """SQL text for ``expr``; values are appended to ``params``.

        A field may be a path through references (``author.name``, any depth). A condition
        through a reference holds for a row whose referenced row exists and meets it: in a
        SELECT's top-level conjunction it is tested on the joined row (``scope.joins``),
        anywhere else (under ``|`` or ``~``, in UPDATE and DELETE, ``IS NULL`` tests) as
        ``EXISTS (SELECT 1 FROM target WHERE target.pk = fk AND ...)`` — the two agree, so
        ``find``, ``count``, ``delete_many`` and ``patch_many`` match the same rows. A path
        ending on the referenced entity's key (``author.id == 3``) compares the foreign key.
        """
        return self._walk(expr, params, True)

    def _walk(self, e: Expr, params: list[Any], top: bool) -> str:
        if isinstance(e, _Leaf):
            term = self.resolve(e.field)
            if isinstance(term, Aggregate):
                return self._leaf(e, term, self.info, None, self.term(term, params), params)
            return self._on_path(e, term, self.info, self.scope.qualifier, top, params)
        if isinstance(e, Related):
            return self._related(e, self.info, self.scope.qualifier, params)
        if isinstance(e, Exists):
            sub = e.query._subquery_sql(params, self.scope, self.depth + 1)
            return f"{'NOT ' if e.negate else ''}EXISTS ({sub})"
        if isinstance(e, And | Or):
            if not e.items:
                return "1 = 1" if isinstance(e, And) else "1 = 0"
            joiner = " AND " if isinstance(e, And) else " OR "
            inner_top = top and isinstance(e, And)
            return "(" + joiner.join(self._walk(i, params, inner_top) for i in e.items) + ")"
        if isinstance(e, Not):
            return f"NOT ({self._walk(e.item, params, False)})"
        raise ValidationError(f"not a filter expression: {e!r}")

    def _on_path(
        self,
        e: _Leaf,
        term: str | FieldRef,
        info: EntityInfo,
        qual: str,
        top: bool,
        params: list[Any],
    ) -> str:
        """A condition on a field or path of ``info`` (its table written ``qual``; "" for the
        unqualified root); ``top``: in the SELECT's top-level conjunction."""
        q = self.dialect.quote
        name = term if isinstance(term, str) else term._path
        json = () if isinstance(term, str) else term._json
        path = resolve(info, name)
        if not path.references:
            column = f"{qual}.{q(path.field.column)}" if qual else q(path.field.column)
            return self._leaf(e, term, info, path.field, column, params)
        first = path.references[0]
        target = first.target
        assert target is not None
        if (
            len(path.references) == 1
            and path.field.primary_key
            and len(target.primary_key) == 1
            and not json
            and (isinstance(e, In | InQuery) or (isinstance(e, Compare) and e.value is not None))
        ):
            column = f"{qual}.{q(first.column)}" if qual else q(first.column)
            return self._leaf(e, first.name, info, first, column, params)
        if top and self.scope.joins and not isinstance(e, IsNull):
            rest = name.split(".", len(path.references))[-1]
            leaf_term: str | FieldRef = FieldRef(rest, json) if json else rest
            column = self.scope.column(path)
            return self._leaf(e, leaf_term, path.owner, path.field, column, params)
        outer = qual or q(info.table)
        alias = self.scope.subquery_alias()
        rest_name = name.split(".", 1)[1]
        inner = self._on_path(
            e, FieldRef(rest_name, json) if json else rest_name, target, alias, False, params
        )
        return (
            f"EXISTS (SELECT 1 FROM {q(target.table)} AS {alias} WHERE "
            f"{alias}.{q(target.primary_key[0].column)} = {outer}.{q(first.column)} AND {inner})"
        )

    def _leaf(
        self,
        e: _Leaf,
        term: Term,
        info: EntityInfo,
        f: FieldInfo | None,
        column: str,
        params: list[Any],
    ) -> str:
        """A condition on one column (``f`` of ``info``, or an aggregate), written ``column``;
        a JSON path in ``term`` wraps the column."""
        dialect = self.dialect
        p = dialect.placeholder
        neg = "NOT " if getattr(e, "negate", False) else ""
        json = isinstance(term, FieldRef) and bool(term._json)

        def col(*, text: bool = False, null: bool = False) -> str:
            if not json:
                return column
            assert isinstance(term, FieldRef) and f is not None
            _json_field(f, term)
            template = (
                dialect.json_null_sql
                if null
                else dialect.json_text_sql
                if text
                else dialect.json_scalar_sql
            )
            return _json_sql(template, dialect, column, term, params)

        ph = dialect.json_value_sql.format(p=p) if json else p
        if isinstance(e, Compare):
            if e.op not in ("=", "!=", "<", "<=", ">", ">="):
                raise ValidationError(f"unknown comparison operator {e.op!r}")
            if e.value is None:
                return f"{col(null=True)} IS {'NOT ' if e.op == '!=' else ''}NULL"
            op = "<>" if e.op == "!=" else e.op
            left = col()
            if isinstance(e.value, Outer):
                return f"{left} {op} {self._outer_column(e.value)}"
            params.append(self.value(term, e.value, info))
            numeric = not json and f is not None and f.kind in dialect.numeric_text_kinds
            if op in ("<", "<=", ">", ">=") and numeric and not isinstance(term, Aggregate):
                cast = dialect.numeric_cast
                return f"{cast.format(left)} {op} {cast.format(p)}"
            return f"{left} {op} {ph}"
        if isinstance(e, In):
            if not e.values:
                return "1 = 1" if e.negate else "1 = 0"
            left = col()
            params.extend(self.value(term, v, info) for v in e.values)
            return f"{left} {neg}IN ({', '.join([ph] * len(e.values))})"
        if isinstance(e, InQuery):
            left = col()
            sub = e.query._subquery_sql(params, self.scope, self.depth + 1)
            return f"{left} {neg}IN ({sub})"
        if isinstance(e, Like):
            if not isinstance(e.pattern, str):
                raise ValidationError(f"like takes a text pattern, got {e.pattern!r}")
            if _ends_with_escape(e.pattern):
                raise ValidationError(
                    f"the pattern {e.pattern!r} ends with an escaping backslash; "
                    "write \\\\ for a literal one (like_escape does)"
                )
            left = col(text=True)
            params.append(dialect.like_pattern(e.pattern))
            template = dialect.ilike_sql if e.insensitive else dialect.like_sql
            return template.format(col=left, p=p, **{"not": neg})
        if isinstance(e, Matches):
            if dialect.regex_sql is None:
                raise ValidationError(
                    f"matches() needs regular expressions, which {dialect.name} lacks"
                )
            if not isinstance(e.pattern, str):
                raise ValidationError(f"matches takes a text pattern, got {e.pattern!r}")
            try:
                re.compile(e.pattern)
            except re.error as exc:
                raise ValidationError(
                    f"matches() takes a regular expression; {e.pattern!r}: {exc}"
                ) from None
            left = col(text=True)
            params.append(e.pattern)
            return dialect.regex_sql.format(col=left, p=p, **{"not": neg})
        assert isinstance(e, IsNull)
        return f"{col(null=True)} IS {neg}NULL"

    def _related(self, e: Related, info: EntityInfo, qual: str, params: list[Any]) -> str:
        """``any()`` / ``none()`` on a collection of ``info`` (its table written ``qual``),
        reached through references: an ``EXISTS`` subquery on the items (joined through the
        pivot for many-to-many), the conditions inside compiled on the items' entity."""
        q = self.dialect.quote
        references, relation = resolve_collection(info, e.field)
        outer = qual or q(info.table)
        if references:
            first = references[0]
            target = step_target(first)
            alias = self.scope.subquery_alias()
            rest = Related(e.field.split(".", 1)[1], e.where, e.negate)
            inner = self._related(rest, target, alias, params)
            return (
                f"EXISTS (SELECT 1 FROM {q(target.table)} AS {alias} WHERE "
                f"{alias}.{q(target.primary_key[0].column)} = {outer}.{q(first.column)} "
                f"AND {inner})"
            )
        owner_key = f"{outer}.{q(info.primary_key[0].column)}"
        target = relation.target
        if relation.pivot is None:
            assert relation.reference is not None
            alias = self.scope.subquery_alias()
            sql = (
                f"EXISTS (SELECT 1 FROM {q(target.table)} AS {alias} WHERE "
                f"{alias}.{q(relation.reference.column)} = {owner_key}"
            )
        else:
            assert relation.pivot_owner is not None and relation.pivot_target is not None
            link = self.scope.subquery_alias()
            sql = f"EXISTS (SELECT 1 FROM {q(relation.pivot.table)} AS {link}"
            alias = ""
            if e.where is not None:
                alias = self.scope.subquery_alias()
                sql += (
                    f" JOIN {q(target.table)} AS {alias} ON {alias}."
                    f"{q(target.primary_key[0].column)} = {link}.{q(relation.pivot_target.column)}"
                )
            sql += f" WHERE {link}.{q(relation.pivot_owner.column)} = {owner_key}"
        if e.where is not None:
            items = TermCompiler(
                self.scope.codec_of(target),
                self.scope.nested(target, alias),
                outer=self.outer,
                depth=self.depth,
            )
            sql += f" AND {items._walk(e.where, params, False)}"
        return ("NOT " if e.negate else "") + sql + ")"

    def _outer_column(self, ref: Outer) -> str:
        if self.outer is None:
            raise ValidationError(f"outer({ref.field!r}) is only meaningful inside a subquery")
        path = resolve(self.outer.root, ref.field)
        if path.references:
            raise ValidationError(f"outer({ref.field!r}) names a field of the enclosing entity")
        return f"{self.outer.name}.{self.dialect.quote(path.field.column)}"

    # -- ordering and grouping -----------------------------------------------------------------

    def order(self, orders: Sequence[Order], params: list[Any]) -> str:
        """``ORDER BY ...``; a path through references (``author.name``) needs a joining
        scope; a JSON path sorts by the dialect's keys (numbers by value)."""
        if not orders:
            return ""
        dialect = self.dialect
        parts: list[str] = []
        for o in orders:
            desc = " DESC" if o.descending else ""
            if isinstance(o.field, str) and o.field in self.aliases:
                parts.append(dialect.quote(o.field) + desc)
                continue
            term = o.field
            if isinstance(term, FieldRef) and term._json:
                column, path = self._order_column(term._path)
                _json_field(path.field, term)
                parts.extend(
                    _json_sql(t, dialect, column, term, params) + desc
                    for t in dialect.json_order_sql
                )
                continue
            if isinstance(term, Aggregate):
                parts.append(self.term(term, params, resolve_alias=False) + desc)
                continue
            name = term_name(term)
            assert name is not None
            column, path = self._order_column(name)
            if path.field.kind in dialect.numeric_text_kinds:
                column = dialect.numeric_cast.format(column)
            parts.append(column + desc)
        return " ORDER BY " + ", ".join(parts)

    def _order_column(self, name: str) -> tuple[str, Path]:
        path = self.path(name)
        if path.references and not self.scope.joins:
            raise ValidationError(f"ordering by the path {name!r} needs a joining query")
        return self.scope.column(path), path

    def group(self, terms: Sequence[Term], params: list[Any]) -> str:
        if not terms:
            return ""
        return " GROUP BY " + ", ".join(self.term(t, params, resolve_alias=False) for t in terms)


def _ends_with_escape(pattern: str) -> bool:
    run = len(pattern) - len(pattern.rstrip("\\"))
    return run % 2 == 1


def _plain(v: Any) -> Any:
    return v


def _int_or_none(v: Any) -> Any:
    return None if v is None else int(v)


def _int_like(v: Any) -> Any:
    if v is None:
        return None
    return int(v) if v == int(v) else float(v)


def _float(v: Any) -> Any:
    return None if v is None else float(v)


def _decimal(v: Any) -> Any:
    if v is None or isinstance(v, Decimal):
        return v
    return Decimal(repr(v)) if isinstance(v, float) else Decimal(str(v))


def _number(v: Any) -> Any:
    if v is None or isinstance(v, int | float):
        return v
    d = Decimal(str(v))
    return int(d) if d == d.to_integral_value() else float(d)


def _json_loads(v: Any) -> Any:
    if isinstance(v, str | bytes | bytearray):
        return json.loads(v)
    return v


def _from_db_lenient(codec: EntityCodec, f: FieldInfo, v: Any) -> Any:
    """MIN/MAX of a field: its value (a number where the column was cast for the aggregate)."""
    if v is None:
        return None
    if f.kind == "decimal":
        return _decimal(v)
    return codec.value_from_db(f, v)


def compile_where(
    expr: Expr, codec: EntityCodec, params: list[Any], scope: Scope | None = None
) -> str:
    """SQL text for ``expr`` on ``codec``'s entity; values are appended to ``params`` (see
    ``TermCompiler.where``)."""
    return TermCompiler(codec, scope).where(expr, params)


def order_sql(
    orders: Sequence[Order],
    codec: EntityCodec,
    scope: Scope | None = None,
    params: list[Any] | None = None,
) -> str:
    """``ORDER BY ...``; a path through references (``author.name``) needs a ``scope`` that
    joins; a JSON path binds its path into ``params`` (then required)."""
    out: list[Any] = [] if params is None else params
    sql = TermCompiler(codec, scope).order(orders, out)
    if params is None and out:
        raise ValueError("order_sql() of a JSON path needs the statement's params list")
    return sql
