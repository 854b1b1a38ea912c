"""Filter and ordering expressions: ``F.age >= 18``, ``F.name.like("A%")``, ``&``, ``|``, ``~``.

Besides fields, an expression can name a JSON path (``F.attrs["a"]["b"]``, a ``FieldRef`` with
a ``path``), an aggregate (``F.views.sum()``, for ``select`` and ``having``), a subquery
(``F.author.in_(query)``, ``F.exists(query)``) or a column of the enclosing query
(``outer("id")``, inside a subquery). ``like_escape`` makes ``%``, ``_`` and ``\\`` literal.
Expressions are plain data trees that hold field *names* and *values*; they know nothing of SQL.
``core.sql`` compiles them for a dialect, checking every name against the entity and binding
every value as a parameter. Callers: user code, ``core.query``, and ``ormcli``'s ``where``
compiler. What it leaves out: SQL text, validation of names (done at compile time).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from core.records import Record, init_member

__all__ = [
    "AGGREGATES",
    "Aggregate",
    "And",
    "Arith",
    "Compare",
    "Exists",
    "Expr",
    "F",
    "FieldRef",
    "In",
    "InQuery",
    "IsNull",
    "Like",
    "Matches",
    "Not",
    "Or",
    "Order",
    "Outer",
    "Related",
    "Term",
    "and_",
    "field_names",
    "like_escape",
    "not_",
    "or_",
    "outer",
    "term_name",
]

#: Aggregate functions of ``F.x.sum()`` and friends.
AGGREGATES = ("count", "sum", "avg", "min", "max")

OPERATORS = ("=", "!=", "<", "<=", ">", ">=")


class Expr:
    """Base of boolean expressions; combine with ``&``, ``|`` and ``~``."""

    __slots__ = ()

    def __and__(self, other: Expr) -> Expr:
        return And((self, _expr(other)))

    def __or__(self, other: Expr) -> Expr:
        return Or((self, _expr(other)))

    def __invert__(self) -> Expr:
        return Not(self)

    def __bool__(self) -> bool:
        raise TypeError(
            "an expression has no truth value; combine expressions with &, | and ~ "
            "(not 'and', 'or', 'not')"
        )


def _conjunction(items: tuple[Expr, ...]) -> Expr | None:
    checked = tuple(_expr(i) for i in items)
    if not checked:
        return None
    return checked[0] if len(checked) == 1 else And(checked)


def _expr(value: Any) -> Expr:
    if not isinstance(value, Expr):
        raise TypeError(f"expected a filter expression, got {value!r}")
    return value


class _Node(Record):
    """An expression node: a ``Record`` compared by identity (``==`` on a field builds an
    expression, so nodes are never compared by value)."""

    __slots__ = ()
    __eq__ = object.__eq__
    __hash__ = object.__hash__


_set = init_member


class Compare(_Node, Expr):
    __slots__ = ("field", "op", "value")
    field: Term
    op: str
    value: Any

    def __init__(self, field: Term, op: str, value: Any) -> None:
        _set(self, "field", field)
        _set(self, "op", op)
        _set(self, "value", value)


class In(_Node, Expr):
    __slots__ = ("field", "negate", "values")
    field: Term
    values: tuple[Any, ...]
    negate: bool

    def __init__(self, field: Term, values: tuple[Any, ...], negate: bool = False) -> None:
        _set(self, "field", field)
        _set(self, "values", values)
        _set(self, "negate", negate)


class Like(_Node, Expr):
    """``LIKE`` (case-sensitive on every backend) or, ``insensitive``, ``ILIKE``; ``\\``
    escapes ``%``, ``_`` and itself (see ``like_escape``)."""

    __slots__ = ("field", "insensitive", "negate", "pattern")
    field: Term
    pattern: str
    negate: bool
    insensitive: bool

    def __init__(
        self, field: Term, pattern: str, negate: bool = False, insensitive: bool = False
    ) -> None:
        _set(self, "field", field)
        _set(self, "pattern", pattern)
        _set(self, "negate", negate)
        _set(self, "insensitive", insensitive)


class Matches(_Node, Expr):
    """A regular expression search (``re.search`` semantics for the common subset)."""

    __slots__ = ("field", "negate", "pattern")
    field: Term
    pattern: str
    negate: bool

    def __init__(self, field: Term, pattern: str, negate: bool = False) -> None:
        _set(self, "field", field)
        _set(self, "pattern", pattern)
        _set(self, "negate", negate)


class IsNull(_Node, Expr):
    __slots__ = ("field", "negate")
    field: Term
    negate: bool

    def __init__(self, field: Term, negate: bool = False) -> None:
        _set(self, "field", field)
        _set(self, "negate", negate)


class InQuery(_Node, Expr):
    """``field IN (SELECT ...)``: ``query`` is a ``core.query.Query`` (its key, or its one
    selected column), compiled into the statement."""

    __slots__ = ("field", "negate", "query")
    field: Term
    query: Any
    negate: bool

    def __init__(self, field: Term, query: Any, negate: bool = False) -> None:
        _set(self, "field", field)
        _set(self, "query", query)
        _set(self, "negate", negate)


class Exists(_Node, Expr):
    """``EXISTS (SELECT ...)``; ``outer("field")`` inside ``query`` correlates it."""

    __slots__ = ("negate", "query")
    query: Any
    negate: bool

    def __init__(self, query: Any, negate: bool = False) -> None:
        _set(self, "query", query)
        _set(self, "negate", negate)

    def __invert__(self) -> Expr:
        return Exists(self.query, not self.negate)


class Related(_Node, Expr):
    """``F.posts.any(...)`` / ``F.posts.none(...)``: some item of a collection (or none)
    meets ``where`` (any item at all when ``where`` is None); ``where`` names the items'
    fields."""

    __slots__ = ("field", "negate", "where")
    field: str
    where: Expr | None
    negate: bool

    def __init__(self, field: str, where: Expr | None, negate: bool = False) -> None:
        _set(self, "field", field)
        _set(self, "where", where)
        _set(self, "negate", negate)


class Outer(Record):
    """A field of the enclosing query, used as a value inside a subquery's filter."""

    __slots__ = ("field",)
    field: str

    def __init__(self, field: str) -> None:
        _set(self, "field", field)


def outer(field: str) -> Outer:
    """The enclosing query's ``field`` inside a subquery: ``F.author == outer("id")``."""
    return Outer(field)


def like_escape(text: str) -> str:
    """``text`` with ``%``, ``_`` and ``\\`` made literal for ``like`` / ``ilike``."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class And(_Node, Expr):
    __slots__ = ("items",)
    items: tuple[Expr, ...]

    def __init__(self, items: tuple[Expr, ...]) -> None:
        _set(self, "items", items)


class Or(_Node, Expr):
    __slots__ = ("items",)
    items: tuple[Expr, ...]

    def __init__(self, items: tuple[Expr, ...]) -> None:
        _set(self, "items", items)


class Not(_Node, Expr):
    __slots__ = ("item",)
    item: Expr

    def __init__(self, item: Expr) -> None:
        _set(self, "item", item)


class Order(Record):
    __slots__ = ("descending", "field")
    field: Term
    descending: bool

    def __init__(self, field: Term, descending: bool = False) -> None:
        _set(self, "field", field)
        _set(self, "descending", descending)


class Arith(_Node):
    """An arithmetic value over fields of the row: ``F.views + 1``, ``F.price * 2`` (a value
    for ``patch_many``; the operands are ``FieldRef``, ``Arith`` or plain values)."""

    __slots__ = ("left", "op", "right")
    left: Any
    op: str
    right: Any

    def __init__(self, left: Any, op: str, right: Any) -> None:
        _set(self, "left", left)
        _set(self, "op", op)
        _set(self, "right", right)

    def __add__(self, value: Any) -> Arith:
        return Arith(self, "+", value)

    def __sub__(self, value: Any) -> Arith:
        return Arith(self, "-", value)

    def __mul__(self, value: Any) -> Arith:
        return Arith(self, "*", value)


class _Operand:
    """Comparison operators on something with a value: a field, a JSON path, an aggregate."""

    __slots__ = ()
    __hash__ = None  # type: ignore[assignment]

    def _term(self) -> Term:
        raise NotImplementedError

    def __eq__(self, value: Any) -> Expr:  # type: ignore[override]
        if value is None:
            return IsNull(self._term())
        return Compare(self._term(), "=", value)

    def __ne__(self, value: Any) -> Expr:  # type: ignore[override]
        if value is None:
            return IsNull(self._term(), negate=True)
        return Compare(self._term(), "!=", value)

    def __lt__(self, value: Any) -> Expr:
        return Compare(self._term(), "<", value)

    def __le__(self, value: Any) -> Expr:
        return Compare(self._term(), "<=", value)

    def __gt__(self, value: Any) -> Expr:
        return Compare(self._term(), ">", value)

    def __ge__(self, value: Any) -> Expr:
        return Compare(self._term(), ">=", value)

    def in_(self, values: Iterable[Any]) -> Expr:
        """``IN`` a list of values, or a query (compiled as a subquery)."""
        if hasattr(values, "_subquery_sql"):
            return InQuery(self._term(), values)
        return In(self._term(), tuple(values))

    def not_in(self, values: Iterable[Any]) -> Expr:
        if hasattr(values, "_subquery_sql"):
            return InQuery(self._term(), values, negate=True)
        return In(self._term(), tuple(values), negate=True)

    def is_null(self) -> Expr:
        return IsNull(self._term())

    def is_not_null(self) -> Expr:
        return IsNull(self._term(), negate=True)

    def asc(self) -> Order:
        return Order(self._term())

    def desc(self) -> Order:
        return Order(self._term(), descending=True)


class Aggregate(_Operand, Record):  # type: ignore[misc]  # _Operand's == builds a filter
    """``COUNT``/``SUM``/``AVG``/``MIN``/``MAX`` of a field (``None``: ``COUNT(*)``)."""

    __slots__ = ("distinct", "field", "func")
    func: str
    field: Term | None
    distinct: bool

    def __init__(self, func: str, field: Term | None, distinct: bool = False) -> None:
        _set(self, "func", func)
        _set(self, "field", field)
        _set(self, "distinct", distinct)

    def _term(self) -> Term:
        return self

    def __repr__(self) -> str:
        inner = "*" if self.field is None else repr(self.field)
        return f"{self.func}({'DISTINCT ' if self.distinct else ''}{inner})"


class FieldRef(_Operand):
    """A field by name or dotted path; comparison operators build expressions (``F.age > 3``).

    An attribute of a ``FieldRef`` extends the path through a relation: ``F.author.name`` is
    the path ``"author.name"`` (``core.paths`` resolves it against the model when the query is
    compiled). The path is kept in ``_path``: entity fields never start with ``_``, so no field
    name hides it. A field named like a method (``like``, ``desc``, ``sum``...) is reached as
    ``F("author.desc")``. ``F.attrs["a"]["b"]`` is the same field with a JSON path of keys and
    list indexes (``_json``).
    """

    __slots__ = ("_json", "_path")

    def __init__(self, name: str, json: tuple[str | int, ...] = ()) -> None:
        self._path = name
        self._json = json

    def __getattr__(self, name: str) -> FieldRef:
        if name.startswith("_"):
            raise AttributeError(name)
        if self._json:
            raise AttributeError(f"{self!r} is a JSON path; index it with [{name!r}]")
        return FieldRef(f"{self._path}.{name}")

    def __repr__(self) -> str:
        return f"F.{self._path}" + "".join(f"[{k!r}]" for k in self._json)

    def _term(self) -> Term:
        return self if self._json else self._path

    def __getitem__(self, key: str | int) -> FieldRef:
        if isinstance(key, bool) or not isinstance(key, str | int):
            raise TypeError(f"a JSON path takes text keys and list indexes, got {key!r}")
        return FieldRef(self._path, (*self._json, key))

    # Arithmetic builds values for ``patch_many`` (``views=F.views + 1``), not filters.
    def __add__(self, value: Any) -> Arith:
        return Arith(self, "+", value)

    def __radd__(self, value: Any) -> Arith:
        return Arith(value, "+", self)

    def __sub__(self, value: Any) -> Arith:
        return Arith(self, "-", value)

    def __rsub__(self, value: Any) -> Arith:
        return Arith(value, "-", self)

    def __mul__(self, value: Any) -> Arith:
        return Arith(self, "*", value)

    def __rmul__(self, value: Any) -> Arith:
        return Arith(value, "*", self)

    def like(self, pattern: str) -> Expr:
        """Case-sensitive on every backend; ``%`` any text, ``_`` one character."""
        return Like(self._term(), pattern)

    def not_like(self, pattern: str) -> Expr:
        return Like(self._term(), pattern, negate=True)

    def ilike(self, pattern: str) -> Expr:
        """``like`` ignoring case."""
        return Like(self._term(), pattern, insensitive=True)

    def not_ilike(self, pattern: str) -> Expr:
        return Like(self._term(), pattern, negate=True, insensitive=True)

    def matches(self, regex: str) -> Expr:
        """A regular expression search (anywhere in the text unless anchored)."""
        return Matches(self._term(), regex)

    # -- collections ---------------------------------------------------------------------------

    def any(self, *where: Expr) -> Expr:
        """A collection with at least one item meeting every condition (``F.posts.any()``:
        at least one item)."""
        return Related(self._path, _conjunction(where))

    def none(self, *where: Expr) -> Expr:
        """A collection with no item meeting every condition (``F.posts.none()``: empty)."""
        return Related(self._path, _conjunction(where), negate=True)

    # -- aggregates (for select() and having()) ----------------------------------------------

    def count(self, distinct: bool = False) -> Aggregate:
        return Aggregate("count", self._term(), distinct)

    def sum(self) -> Aggregate:
        return Aggregate("sum", self._term())

    def avg(self) -> Aggregate:
        return Aggregate("avg", self._term())

    def min(self) -> Aggregate:
        return Aggregate("min", self._term())

    def max(self) -> Aggregate:
        return Aggregate("max", self._term())


#: What an expression compares: a field name, a field with a JSON path, or an aggregate.
Term = str | FieldRef | Aggregate


class _FieldNamespace:
    """``F.name`` and ``F("name")`` both give a ``FieldRef``."""

    __slots__ = ()

    def __getattr__(self, name: str) -> FieldRef:
        if name.startswith("__"):
            raise AttributeError(name)
        return FieldRef(name)

    def __call__(self, name: str) -> FieldRef:
        return FieldRef(name)

    def count(self) -> Aggregate:
        """``COUNT(*)``: the rows of a group."""
        return Aggregate("count", None)

    def exists(self, query: Any) -> Expr:
        """``EXISTS (query)``; correlate it with ``outer("field")`` in its filter."""
        if not hasattr(query, "_subquery_sql"):
            raise TypeError(f"F.exists() takes a query, got {query!r}")
        return Exists(query)


F = _FieldNamespace()


def and_(*items: Expr) -> Expr:
    return And(tuple(_expr(i) for i in items))


def or_(*items: Expr) -> Expr:
    return Or(tuple(_expr(i) for i in items))


def not_(item: Expr) -> Expr:
    return Not(_expr(item))


def term_name(term: Any) -> str | None:
    """The field name or path a term reads (None: ``COUNT(*)``)."""
    if isinstance(term, str):
        return term
    if isinstance(term, FieldRef):
        return term._path
    if isinstance(term, Aggregate):
        return None if term.field is None else term_name(term.field)
    return None


def field_names(expr: Expr) -> Iterator[str]:
    """Every field name or path an expression tests (read off its nodes' ``field`` members,
    JSON paths and aggregates included; subqueries are statements of their own; the
    conditions inside ``any()`` / ``none()`` name the items' fields and are not listed)."""
    if isinstance(expr, Related):
        yield expr.field
        return
    if not isinstance(expr, _Node):
        return
    members: tuple[str, ...] = type(expr).__slots__
    for member in members:
        value = getattr(expr, member)
        if member == "field":
            name = term_name(value)
            if name is not None:
                yield name
        elif isinstance(value, Expr):
            yield from field_names(value)
        elif isinstance(value, tuple):
            for item in value:
                if isinstance(item, Expr):
                    yield from field_names(item)
