"""Queries: ``filter``, ``order_by``, ``limit``, ``offset``, ``eager``, and terminal methods.

A ``Query`` is immutable: each builder method returns a new one. Bound to a session it returns
tracked, identity-mapped objects (a re-query never overwrites unsaved changes); bound to none
(``database.query``) it returns fresh, untracked objects every time. References load lazily
on first access; ``eager("author")`` loads them up front with one ``IN`` query per field.
``delete_many`` and ``patch_many`` are bulk statements that run at once: on a session query in
the session's transaction (``Session._bulk_delete`` / ``_bulk_patch`` keep its objects true),
on ``database.query`` in a transaction of their own. Besides objects, a query can return plain rows:
``select(*fields, **named)`` with ``group_by`` / ``having`` / ``distinct`` (``core.select``);
it pages by number (``page``) or by key (``after``), streams (``stream``: chunks of rows,
optionally untracked), shows its plan (``explain``) and goes into another query as a subquery
(``F.x.in_(query)``, ``F.exists(query)``). Callers: user code, ``core.session``, ``ormcli``.
What it leaves out: SQL text (``core.sql``), staging (``core.session``).
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from core.codec import collector_paused
from core.collection import UNTRACKED
from core.entity import EntityInfo, FieldInfo
from core.errors import NotFoundError, ValidationError
from core.expressions import (
    And,
    Arith,
    Compare,
    Expr,
    FieldRef,
    IsNull,
    Or,
    Order,
    Term,
    field_names,
    term_name,
)
from core.loaders import JoinedLoader, SelectInLoader, Source
from core.paths import resolve
from core.records import Record, init_member
from core.sql import Scope, TermCompiler, select_sql

if TYPE_CHECKING:
    from core.database import Database
    from core.select import SelectQuery
    from core.session import Session

__all__ = ["Query"]

T = TypeVar("T")


class _Spec(Record):
    """What a query was built with (``Query._with`` copies it with changes)."""

    __slots__ = (
        "distinct",
        "eager",
        "group",
        "having",
        "joins",
        "limit",
        "offset",
        "orders",
        "where",
    )
    where: tuple[Expr, ...]
    orders: tuple[Order, ...]
    limit: int | None
    offset: int | None
    eager: tuple[str, ...]
    joins: tuple[str, ...]
    group: tuple[Term, ...]
    having: tuple[Expr, ...]
    distinct: bool

    def __init__(
        self,
        where: tuple[Expr, ...] = (),
        orders: tuple[Order, ...] = (),
        limit: int | None = None,
        offset: int | None = None,
        eager: tuple[str, ...] = (),
        joins: tuple[str, ...] = (),
        group: tuple[Term, ...] = (),
        having: tuple[Expr, ...] = (),
        distinct: bool = False,
    ) -> None:
        init_member(self, "where", where)
        init_member(self, "orders", orders)
        init_member(self, "limit", limit)
        init_member(self, "offset", offset)
        init_member(self, "eager", eager)
        init_member(self, "joins", joins)
        init_member(self, "group", group)
        init_member(self, "having", having)
        init_member(self, "distinct", distinct)


class Query(Generic[T]):
    """A query on one entity; build it, then call a terminal method."""

    def __init__(
        self,
        database: Database,
        info: EntityInfo,
        session: Session | None,
        spec: _Spec | None = None,
        via: Session | None = None,
    ) -> None:
        self.database = database
        self.info = info
        self.session = session
        self._spec = spec or _Spec()
        #: Where statements run: a session (inside its transaction when one is open; also for
        #: an untracked query made by a session, ``via``) or the database's pool.
        self._via = via
        self._io: Database | Session = via or session or database

    def _with(self, **changes: Any) -> Query[T]:
        spec: _Spec = self._spec._replace(**changes)
        return Query(self.database, self.info, self.session, spec, self._via)

    def __repr__(self) -> str:
        params: list[Any] = []
        return f"<Query {self._select_sql(params)} {params!r}>"

    # -- building ----------------------------------------------------------------------------

    def filter(self, *exprs: Expr, **equals: Any) -> Query[T]:
        """Keep rows matching every expression; keyword arguments mean equality (None: IS NULL)."""
        items = list(exprs)
        for e in items:
            if not isinstance(e, Expr):
                raise ValidationError(f"filter() takes expressions such as F.age > 3, got {e!r}")
        for name, value in equals.items():
            items.append(IsNull(name) if value is None else Compare(name, "=", value))
        return self._with(where=self._spec.where + tuple(items))

    def by_pk(self, pk: Any) -> Query[T]:
        keys = pk if len(self.info.primary_key) > 1 else (pk,)
        if not isinstance(keys, tuple) or len(keys) != len(self.info.primary_key):
            names = ", ".join(f.name for f in self.info.primary_key)
            raise ValidationError(f"{self.info.cls.__name__} has the key ({names}); got {pk!r}")
        return self.filter(
            *(Compare(f.name, "=", k) for f, k in zip(self.info.primary_key, keys, strict=True))
        )

    def order_by(self, *fields: str | Order | FieldRef) -> Query[T]:
        """Sort by fields: ``"name"``, ``"-age"`` (descending), ``F.age.desc()``, a path
        ``"author.name"``, or a JSON path ``F.attrs["rank"]``."""
        return self._order(fields, {})

    def _order(self, fields: Iterable[Any], aliases: Mapping[str, Term]) -> Query[T]:
        orders = []
        for item in fields:
            if isinstance(item, Order):
                orders.append(item)
            elif isinstance(item, FieldRef):
                orders.append(item.asc())
            elif isinstance(item, str) and item.startswith("-"):
                orders.append(Order(item[1:], descending=True))
            elif isinstance(item, str):
                orders.append(Order(item))
            else:
                raise ValidationError(f"order_by() takes field names, got {item!r}")
        for o in orders:
            self._check_term(o.field, aliases)
        return self._with(orders=self._spec.orders + tuple(orders))

    def _check_term(self, term: Term, aliases: Mapping[str, Term] | None = None) -> None:
        """Fail now, naming the field, when ``term`` names no field or path of the entity."""
        if isinstance(term, str) and term in (aliases or {}):
            return
        name = term_name(term)
        if name is not None:
            resolve(self.info, name)

    def group_by(self, *fields: str | FieldRef) -> Query[T]:
        """Group rows by fields or paths (a reference groups by its key); then ``select`` what
        to return per group: ``group_by("author.name").select("author.name", n=F.count())``.
        """
        terms = tuple(f._term() if isinstance(f, FieldRef) else f for f in fields)
        for t in terms:
            if not isinstance(t, str | FieldRef):
                raise ValidationError(f"group_by() takes field names, got {t!r}")
            self._check_term(t)
        return self._with(group=self._spec.group + terms)

    def having(self, *exprs: Expr) -> Query[T]:
        """Keep groups matching every expression (``F.views.sum() > 10``, or a selected
        column by its name: ``F.n > 2``)."""
        for e in exprs:
            if not isinstance(e, Expr):
                raise ValidationError(
                    f"having() takes expressions such as F.id.count() > 1, got {e!r}"
                )
        return self._with(having=self._spec.having + tuple(exprs))

    def distinct(self, on: bool = True) -> Query[T]:
        """``SELECT DISTINCT``: leave out repeated rows (meaningful with ``select``)."""
        return self._with(distinct=on)

    def select(self, *fields: str | FieldRef, **named: Term | FieldRef) -> SelectQuery:
        """Plain rows instead of objects: ``select("title", "author.name", n=F.id.count())``.

        A row reads by name (``row.title``, ``row["author.name"]``, ``row.author_name``) or
        position; a positional field is named after itself (a JSON path after its field and
        keys joined with ``_``).
        """
        from core.select import SelectQuery  # select builds on Query: imported on use

        return SelectQuery.of(self, fields, named)

    def _keyed_orders(self) -> tuple[Order, ...]:
        """This query's order with the key appended to break ties (a stable order)."""
        orders = self._spec.orders
        names = {o.field for o in orders if isinstance(o.field, str)}
        return orders + tuple(Order(f.name) for f in self.info.primary_key if f.name not in names)

    def page(self, number: int, size: int) -> Query[T]:
        """Page ``number`` (from 1) of ``size`` rows, in this query's order with the key
        breaking ties (so that pages neither overlap nor skip)."""
        for what, n in (("page number", number), ("page size", size)):
            if not isinstance(n, int) or isinstance(n, bool) or n < 1:
                raise ValidationError(f"the {what} is a whole number >= 1, got {n!r}")
        q = self._with(orders=self._keyed_orders())
        return q.limit(size).offset((number - 1) * size)

    def after(self, last: Any) -> Query[T]:
        """The rows after ``last`` (an object or row of the previous page; None: the first
        page) in this query's order with the key breaking ties: keyset paging, as fast on
        the last page as on the first. Fetch every page, the first too, through ``after``.
        """
        orders = list(self._keyed_orders())
        if last is None:
            return self._with(orders=tuple(orders))
        values = []
        for o in orders:
            if not isinstance(o.field, str) or "." in o.field:
                raise ValidationError(f"after() pages by fields of the entity, not by {o.field!r}")
            try:
                v = getattr(last, o.field)
            except AttributeError:
                raise ValidationError(
                    f"after() needs the {o.field!r} of the last row, and {last!r} has none"
                ) from None
            if v is None:
                raise ValidationError(
                    f"after() cannot page past a row whose {o.field!r} is None; "
                    "order by fields without empty values"
                )
            values.append(v)
        ors: list[Expr] = []
        for i, o in enumerate(orders):
            same = [Compare(p.field, "=", v) for p, v in zip(orders[:i], values, strict=False)]
            beyond = Compare(o.field, "<" if o.descending else ">", values[i])
            ors.append(And((*same, beyond)) if same else beyond)
        return self._with(where=(*self._spec.where, Or(tuple(ors))), orders=tuple(orders))

    def limit(self, n: int | None) -> Query[T]:
        if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 0):
            raise ValidationError(f"limit takes a whole number >= 0, got {n!r}")
        return self._with(limit=n)

    def offset(self, n: int | None) -> Query[T]:
        if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 0):
            raise ValidationError(f"offset takes a whole number >= 0, got {n!r}")
        return self._with(offset=n)

    def eager(self, *paths: str) -> Query[T]:
        """Load these relations with the results: references (``"author"``), collections
        (``"posts"``) and paths of them (``"posts.tags"``), one ``IN`` query per level."""
        for path in paths:
            SelectInLoader(self.info, path)
        return self._with(eager=self._spec.eager + tuple(paths))

    def join(self, *references: str) -> Query[T]:
        """Load these references (``"author"``, or a chain ``"author.org"``) in the same
        SELECT, through LEFT JOINs: no further statement when they are read."""
        JoinedLoader(self.info, references)
        return self._with(joins=self._spec.joins + tuple(references))

    # -- SQL ---------------------------------------------------------------------------------

    def _scope(
        self, *, select: bool, terms: Iterable[Term] = (), alias: str | None = None
    ) -> Scope:
        """The statement's scope: a SELECT joins when something names a path or a join
        (``terms``: a ``select``'s columns); a subquery's root is aliased ``alias``."""
        spec = self._spec
        names = [
            *(term_name(o.field) for o in spec.orders),
            *(term_name(t) for t in (*spec.group, *terms)),
            *(n for e in (*spec.where, *spec.having) for n in field_names(e)),
        ]
        joins = select and (bool(spec.joins) or any(n and "." in n for n in names))
        return Scope(
            self.database.dialect, self.info, self.database.codec, joins=joins, alias=alias
        )

    def _compiler(
        self,
        scope: Scope,
        aliases: Mapping[str, Term] | None = None,
        outer: Scope | None = None,
        depth: int = 0,
    ) -> TermCompiler:
        return TermCompiler(self.database.codec(self.info), scope, aliases, outer, depth)

    def _where_sql(
        self, params: list[Any], scope: Scope | None = None, compiler: TermCompiler | None = None
    ) -> str:
        if not self._spec.where:
            return ""
        expr = self._spec.where[0] if len(self._spec.where) == 1 else And(self._spec.where)
        if compiler is None:
            compiler = self._compiler(scope or self._scope(select=False))
        return " WHERE " + compiler.where(expr, params)

    def _select_sql(self, params: list[Any], columns: tuple[str, ...] | None = None) -> str:
        if self._spec.group or self._spec.having:
            raise ValidationError(
                "a grouped query returns rows: add select(...) naming what to return per group"
            )
        self.database._require_columns(self.info)
        dialect = self.database.dialect
        scope = self._scope(select=True)
        compiler = self._compiler(scope)
        where = self._where_sql(params, compiler=compiler)
        order = compiler.order(self._spec.orders, params)
        if not scope.joins:
            sql = select_sql(dialect, self.info.table, columns or self.info.column_names)
        else:
            names = [
                f"{scope.qualifier}.{dialect.quote(c)}" for c in columns or self.info.column_names
            ]
            if columns is None and self._spec.joins:
                names += JoinedLoader(self.info, self._spec.joins).columns(scope)
            sql = f"SELECT {', '.join(names)} FROM {scope.from_sql()}"
        if self._spec.distinct:
            sql = "SELECT DISTINCT " + sql[len("SELECT ") :]
        sql += where + order
        sql += dialect.limit_clause(self._spec.limit, self._spec.offset, params)
        return sql

    def _compose(
        self,
        params: list[Any],
        columns: Sequence[tuple[str, Term]],
        *,
        outer: Scope | None = None,
        depth: int = 0,
    ) -> str:
        """``SELECT [DISTINCT] term AS name, ... FROM t [AS _sN] [JOIN ...] WHERE ... GROUP BY
        ... HAVING ... ORDER BY ... LIMIT ...`` (``core.select``, and subqueries). Paths
        through references (``author.name``) are joined once each, shared by every clause."""
        self.database._require_columns(self.info)
        dialect = self.database.dialect
        q = dialect.quote
        scope = self._scope(
            select=True, terms=[t for _, t in columns], alias=f"_s{depth}" if depth else None
        )
        plain = self._compiler(scope, None, outer, depth)
        named = self._compiler(scope, dict(columns), outer, depth)  # HAVING, ORDER BY: names
        listed = ", ".join(f"{plain.selected(t, params)} AS {q(n)}" for n, t in columns)
        rest = self._where_sql(params, compiler=plain)
        rest += plain.group(self._spec.group, params)
        if self._spec.having:
            having = self._spec.having
            rest += " HAVING " + named.where(having[0] if len(having) == 1 else And(having), params)
        rest += named.order(self._spec.orders, params)
        rest += dialect.limit_clause(self._spec.limit, self._spec.offset, params)
        distinct = "DISTINCT " if self._spec.distinct else ""
        return f"SELECT {distinct}{listed} FROM {scope.from_sql()}{rest}"

    def _subquery_sql(self, params: list[Any], outer: Scope, depth: int) -> str:
        """This query inside another (``F.x.in_(query)``, ``F.exists(query)``): it selects the
        key; ``outer("field")`` in its filter names the enclosing query's row."""
        key = self.info.primary_key
        if len(key) != 1:
            raise ValidationError(
                f"{self.info.cls.__name__} has a composite key; select(...) one field to use "
                "it as a subquery"
            )
        return self._compose(params, [(key[0].name, key[0].name)], outer=outer, depth=depth)

    def _select(self, limit_one: bool = False) -> tuple[str, list[Any], str]:
        """The SELECT of this query: its SQL, parameters, and the context for errors."""
        q = self.limit(1) if limit_one else self
        params: list[Any] = []
        sql = q._select_sql(params)
        return sql, params, f"cannot query {self.info.cls.__name__}"

    def _rows(self, limit_one: bool = False) -> list[Any]:
        return self._io._fetch(*self._select(limit_one))

    # -- terminal methods --------------------------------------------------------------------

    def find(self) -> list[T]:
        """Every matching object."""
        with collector_paused():  # the rows' tuples too (S2x10: 11 ms of collection -> 6)
            return self._io._load(*self._select(), self._objects)

    def find_one(self) -> T:
        """The first matching object; ``NotFoundError`` when there is none."""
        obj = self.find_one_or_none()
        if obj is None:
            raise NotFoundError(f"no {self.info.cls.__name__} matches {self._describe()}")
        return obj

    def find_one_or_none(self) -> T | None:
        objs = self._objects((self._rows(limit_one=True),))
        return objs[0] if objs else None

    def stream(self, batch: int = 1000, *, track: bool = True) -> Iterator[T]:
        """The matching objects one by one, read ``batch`` rows at a time: the whole result is
        never held. ``track=False`` (or an untracked query) builds plain objects outside the
        identity map, so memory stays flat however many rows come.

        On a server the rows come on a connection of their own, unbuffered (MariaDB) or in
        chunks (PostgreSQL), so other queries may run inside the loop; it sees what was
        committed when it started. The query runs when the first object is asked for; stop
        early by breaking out: the query ends there. A bad ``batch`` is refused at once.
        """
        if not isinstance(batch, int) or isinstance(batch, bool) or batch < 1:
            raise ValidationError(f"stream() takes a batch size >= 1, got {batch!r}")
        sql, params, context = self._select()
        chunks = self.database._stream(sql, params, context, batch)
        slow = self._spec.joins or self._spec.eager or self.info.relations
        if (track and self.session is not None) or slow:
            q = self if track else Query(self.database, self.info, None, self._spec)
            return q._stream_objects(chunks)
        # Plain objects (they stand for stored rows: core.collection.UNTRACKED), made by a
        # generated generator handed over as it is (EntityCodec._compile_stream_rows).
        stream_rows = self.database.codec(self.info).stream_rows
        return stream_rows(chunks, self.database._resolve_untracked, UNTRACKED)

    def _stream_objects(self, chunks: Generator[Sequence[Any], None, None]) -> Iterator[T]:
        """``stream``'s objects through ``_objects``, a chunk at a time (tracked objects, or
        untracked ones with relations or joins to load)."""
        try:
            for rows in chunks:
                yield from self._objects((rows,))
        finally:
            chunks.close()

    def explain(self) -> list[str]:
        """The database's plan for this query, one line per row of its EXPLAIN."""
        params: list[Any] = []
        sql = self._select_sql(params)
        return self.database._explain(sql, params, f"cannot explain {self.info.cls.__name__}")

    def count(self) -> int:
        self.database._require_columns(self.info)
        params: list[Any] = []
        scope = self._scope(select=True)
        where = self._where_sql(params, scope)
        sql = f"SELECT COUNT(*) FROM {scope.from_sql()}{where}"
        rows = self._io._fetch(sql, params, f"cannot count {self.info.cls.__name__}")
        return int(rows[0][0])

    def has(self) -> bool:
        params: list[Any] = []
        sql = self._select_sql(params, (self.info.primary_key[0].column,))
        if self._spec.limit is None:
            sql += self.database.dialect.limit_clause(1, None, params)
        return bool(self._io._fetch(sql, params, f"cannot query {self.info.cls.__name__}"))

    def delete_many(self) -> int:
        """Delete every matching row now; returns the number deleted.

        On a session query it runs in the session's transaction (flushing staged work first),
        so it commits and rolls back with it; the session's objects of the deleted rows are
        detached (and mapped again by a rollback). On ``database.query`` it runs in a
        transaction of its own."""
        self.database._require_columns(self.info)
        dialect = self.database.dialect
        context = f"cannot delete {self.info.cls.__name__}"
        if self.session is not None:
            self.session.flush()
        params: list[Any] = []
        where = self._where_sql(params)
        sql = f"DELETE FROM {dialect.quote(self.info.table)}{where}"
        if self.session is None:
            return self.database._write(sql, params, context)
        return self.session._bulk_delete(self.info, sql, params, context, self._matching_keys)

    def patch_many(self, **values: Any) -> int:
        """Set fields on every matching row now; returns the number changed. A value may be an
        expression over the row's fields: ``patch_many(views=F.views + 1)``.

        On a session query it runs in the session's transaction (flushing staged work first)
        and the session's objects of the changed rows get the new values, without a pending
        change (a rollback puts the old ones back). On ``database.query`` it runs in a
        transaction of its own."""
        self.database._require_columns(self.info)
        if not values:
            raise ValidationError("patch_many() needs at least one field=value")
        codec = self.database.codec(self.info)
        dialect = self.database.dialect
        q = dialect.quote
        if self.session is not None:
            self.session.flush()
        params: list[Any] = []
        sets = []
        coerced = {}
        computed = []
        for name, value in values.items():
            f = self.info.field(name)
            if f.primary_key:
                raise ValidationError(f"patch_many() cannot change the key {name!r}")
            if isinstance(value, Arith | FieldRef):
                sets.append(f"{q(f.column)} = {self._value_sql(f, value, params)}")
                computed.append(f)
                continue
            coerced[name] = value if f.kind == "reference" else f.coerce(value)
            params.append(codec.value_to_db(f, coerced[name]))
            sets.append(f"{q(f.column)} = {dialect.placeholder}")
        sql = f"UPDATE {q(self.info.table)} SET {', '.join(sets)}" + self._where_sql(params)
        context = f"cannot update {self.info.cls.__name__}"
        if self.session is None:
            return self.database._write(sql, params, context)
        return self.session._bulk_patch(
            self.info, sql, params, context, self._matching_keys, coerced, computed
        )

    def _value_sql(self, f: FieldInfo, value: Any, params: list[Any]) -> str:
        """SQL for a ``patch_many`` value expression: fields of this entity quoted, every other
        value a bound parameter (converted as ``f``'s values are)."""
        if isinstance(value, FieldRef):
            ref = self.info.field(value._path)
            return self.database.dialect.quote(ref.column)
        if isinstance(value, Arith):
            if value.op not in ("+", "-", "*"):
                raise ValidationError(f"patch_many() cannot compute {value!r}")
            left = self._value_sql(f, value.left, params)
            right = self._value_sql(f, value.right, params)
            return f"({left} {value.op} {right})"
        params.append(self.database.codec(self.info).value_to_db(f, f.coerce(value)))
        return self.database.dialect.placeholder

    def _matching_keys(self) -> list[Any]:
        params: list[Any] = []
        cols = tuple(f.column for f in self.info.primary_key)
        rows = self._io._fetch(
            self._select_sql(params, cols), params, f"cannot query {self.info.cls.__name__}"
        )
        codec = self.database.codec(self.info)
        out = []
        for row in rows:
            keys = [
                codec.value_from_db(f, v) for f, v in zip(self.info.primary_key, row, strict=True)
            ]
            out.append(keys[0] if len(keys) == 1 else tuple(keys))
        return out

    def _describe(self) -> str:
        if not self._spec.where:
            return "the query"
        params: list[Any] = []
        text = self._where_sql(params)
        return f"{text.strip()} {params!r}"

    # -- objects -----------------------------------------------------------------------------

    def _objects(self, chunks: Iterable[Sequence[Any]]) -> list[T]:
        """Objects for the rows of ``chunks`` (sequences of rows), in order."""
        source = Source(self.database, self.session)
        if self._spec.joins:
            rows = [row for chunk in chunks for row in chunk]
            width = len(self.info.column_names)
            objs = source.materialize(self.info, ([row[:width] for row in rows],))
            JoinedLoader(self.info, self._spec.joins).load(rows, objs, source)
        else:
            objs = source.materialize(self.info, chunks)
        for path in self._spec.eager:
            SelectInLoader(self.info, path).load(objs, source)
        return objs

    def __iter__(self) -> Any:
        return iter(self.find())
