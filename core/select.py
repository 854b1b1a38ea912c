"""Projections: ``query.select(*fields, **named)`` returns plain rows, not entities.

A ``SelectQuery`` wraps an entity ``Query`` (its filter, grouping, order and paging) and a list
of named terms — fields, references (their key), JSON paths and aggregates — compiled by
``core.sql.TermCompiler``. Its rows are ``Row`` tuples that also read by name. Rows are never
identity-mapped or tracked: changing one changes nothing. Callers: ``core.query.Query.select``,
user code, ``ormcli``. What it leaves out: SQL text (``core.sql``), partial entities (a row is
never an entity with fields missing).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from core.errors import NotFoundError, ValidationError
from core.expressions import Aggregate, Expr, FieldRef, Order, Term

if TYPE_CHECKING:
    from core.query import Query

__all__ = ["Row", "SelectQuery"]


class Row(tuple[Any, ...]):
    """One result row: a tuple whose items also read by name (``row.total``, ``row["n"]``).

    A dotted or JSON path name reads with ``row["author.name"]`` or as an attribute with
    ``_`` for the dots (``row.author_name``).
    """

    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]] = ()
    _index: ClassVar[dict[str, int]] = {}

    def __getattr__(self, name: str) -> Any:
        i = self._index.get(name)
        if i is None:
            raise AttributeError(
                f"this row has no column {name!r}; it has {', '.join(self._fields)}"
            )
        return tuple.__getitem__(self, i)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            i = self._index.get(key)
            if i is None:
                raise KeyError(f"this row has no column {key!r}; it has {', '.join(self._fields)}")
            return tuple.__getitem__(self, i)
        return tuple.__getitem__(self, key)

    def __repr__(self) -> str:
        items = ", ".join(f"{n}={v!r}" for n, v in zip(self._fields, self, strict=False))
        return f"Row({items})"

    def _asdict(self) -> dict[str, Any]:
        return dict(zip(self._fields, self, strict=True))


def row_class(names: Sequence[str]) -> type[Row]:
    """A ``Row`` subclass for these column names."""
    index: dict[str, int] = {}
    for i, name in enumerate(names):
        index[name] = i
        index.setdefault(name.replace(".", "_"), i)
    return type("Row", (Row,), {"__slots__": (), "_fields": tuple(names), "_index": index})


def _name_of(term: Term) -> str:
    if isinstance(term, str):
        return term
    if isinstance(term, FieldRef):
        return "_".join([term._path, *(str(k) for k in term._json)])
    raise ValidationError(
        f"select() names an aggregate by keyword, such as total={term!r}; got it positionally"
    )


class SelectQuery:
    """A query returning ``Row`` tuples; build it like a ``Query``, then ``find`` / ``stream``."""

    def __init__(self, base: Query[Any], columns: tuple[tuple[str, Term], ...]) -> None:
        self._base = base
        self.columns = columns
        self._aliases: dict[str, Term] = dict(columns)

    @classmethod
    def of(
        cls, base: Query[Any], fields: Iterable[str | FieldRef], named: Mapping[str, Any]
    ) -> SelectQuery:
        columns: list[tuple[str, Term]] = []
        for item in fields:
            term = item._term() if isinstance(item, FieldRef) else item
            columns.append((_name_of(term), term))
        for name, item in named.items():
            term = item._term() if isinstance(item, FieldRef) else item
            columns.append((name, term))
        if not columns:
            raise ValidationError("select() needs at least one field or aggregate")
        seen: set[str] = set()
        for name, term in columns:
            if name in seen:
                raise ValidationError(f"select() names the column {name!r} twice")
            seen.add(name)
            if not isinstance(term, str | FieldRef | Aggregate):
                raise ValidationError(
                    f"select() takes field names, F expressions and aggregates, got {term!r}"
                )
            base._check_term(term)
        return cls(base, tuple(columns))

    def _with(self, base: Query[Any]) -> SelectQuery:
        return SelectQuery(base, self.columns)

    def __repr__(self) -> str:
        params: list[Any] = []
        return f"<SelectQuery {self._sql(params)} {params!r}>"

    # -- building (as on Query) ----------------------------------------------------------------

    def filter(self, *exprs: Expr, **equals: Any) -> SelectQuery:
        return self._with(self._base.filter(*exprs, **equals))

    def group_by(self, *fields: str | FieldRef) -> SelectQuery:
        return self._with(self._base.group_by(*fields))

    def having(self, *exprs: Expr) -> SelectQuery:
        return self._with(self._base.having(*exprs))

    def order_by(self, *fields: str | Order | FieldRef) -> SelectQuery:
        """Sort by fields or by selected columns' names (``"-total"``)."""
        return self._with(self._base._order(fields, self._aliases))

    def distinct(self, on: bool = True) -> SelectQuery:
        return self._with(self._base.distinct(on))

    def limit(self, n: int | None) -> SelectQuery:
        return self._with(self._base.limit(n))

    def offset(self, n: int | None) -> SelectQuery:
        return self._with(self._base.offset(n))

    def page(self, number: int, size: int) -> SelectQuery:
        base = self._base
        if not base._spec.orders:  # a stable order: the selected columns
            base = base._order([n for n, _ in self.columns], self._aliases)
        return self._with(base.page(number, size))

    # -- SQL -----------------------------------------------------------------------------------

    def _sql(self, params: list[Any]) -> str:
        return self._base._compose(params, self.columns)

    def _subquery_sql(self, params: list[Any], outer: Any, depth: int) -> str:
        if len(self.columns) != 1:
            names = ", ".join(n for n, _ in self.columns)
            raise ValidationError(f"a subquery selects one column, this one selects {names}")
        return self._base._compose(params, self.columns, outer=outer, depth=depth)

    def _decoders(self) -> list[Callable[[Any], Any]]:
        terms = [t for _, t in self.columns]
        compiler = self._base._compiler(self._base._scope(select=True, terms=terms))
        return [compiler.decoder(t) for t in terms]

    def _rows(self, chunks: Iterable[Sequence[Any]]) -> Iterator[Row]:
        cls = row_class([n for n, _ in self.columns])
        decoders = self._decoders()
        make = tuple.__new__
        for rows in chunks:
            for raw in rows:
                yield make(cls, [d(v) for d, v in zip(decoders, raw, strict=True)])

    def _context(self) -> str:
        return f"cannot query {self._base.info.cls.__name__}"

    # -- terminal methods ----------------------------------------------------------------------

    def find(self) -> list[Row]:
        """Every row."""
        params: list[Any] = []
        sql = self._sql(params)
        return self._base.database._load(
            sql, params, self._context(), lambda c: list(self._rows(c))
        )

    def find_one(self) -> Row:
        row = self.find_one_or_none()
        if row is None:
            raise NotFoundError(
                f"no {self._base.info.cls.__name__} matches {self._base._describe()}"
            )
        return row

    def find_one_or_none(self) -> Row | None:
        rows = self.limit(1).find()
        return rows[0] if rows else None

    def stream(self, batch: int = 1000) -> Iterator[Row]:
        """The rows one by one, read ``batch`` at a time (see ``Query.stream``)."""
        if not isinstance(batch, int) or isinstance(batch, bool) or batch < 1:
            raise ValidationError(f"stream() takes a batch size >= 1, got {batch!r}")
        params: list[Any] = []
        sql = self._sql(params)
        chunks = self._base.database._stream(sql, params, self._context(), batch)
        try:
            yield from self._rows(chunks)
        finally:
            chunks.close()

    def explain(self) -> list[str]:
        """The database's plan for this query."""
        params: list[Any] = []
        sql = self._sql(params)
        return self._base.database._explain(sql, params, self._context())

    def __iter__(self) -> Iterator[Row]:
        return iter(self.find())
