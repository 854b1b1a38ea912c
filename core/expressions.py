"""Filter and ordering expressions: ``F.age >= 18``, ``F.name.like("A%")``, ``&``, ``|``, ``~``.

Expressions are plain data trees that hold field *names* and *values*; they know nothing of SQL.
``core.sql`` compiles them for a dialect, checking every name against the entity and binding
every value as a parameter. Callers: user code, ``core.query``, and ``ormcli``'s ``where``
compiler. What it leaves out: SQL text, validation of names (done at compile time).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields, is_dataclass
from typing import Any

__all__ = [
    "And",
    "Compare",
    "Expr",
    "F",
    "FieldRef",
    "In",
    "IsNull",
    "Like",
    "Not",
    "Or",
    "Order",
    "and_",
    "field_names",
    "not_",
    "or_",
]

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


def _expr(value: Any) -> Expr:
    if not isinstance(value, Expr):
        raise TypeError(f"expected a filter expression, got {value!r}")
    return value


@dataclass(frozen=True, slots=True, eq=False)
class Compare(Expr):
    field: str
    op: str
    value: Any


@dataclass(frozen=True, slots=True, eq=False)
class In(Expr):
    field: str
    values: tuple[Any, ...]
    negate: bool = False


@dataclass(frozen=True, slots=True, eq=False)
class Like(Expr):
    field: str
    pattern: str
    negate: bool = False


@dataclass(frozen=True, slots=True, eq=False)
class IsNull(Expr):
    field: str
    negate: bool = False


@dataclass(frozen=True, slots=True, eq=False)
class And(Expr):
    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True, eq=False)
class Or(Expr):
    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True, eq=False)
class Not(Expr):
    item: Expr


@dataclass(frozen=True, slots=True)
class Order:
    field: str
    descending: bool = False


class FieldRef:
    """A field by name or dotted path; comparison operators build expressions (``F.age > 3``).

    An attribute of a ``FieldRef`` extends the path through a relation: ``F.author.name`` is
    the path ``"author.name"`` (``core.paths`` resolves it against the model when the query is
    compiled). The path is kept in ``_path``: entity fields never start with ``_``, so no field
    name hides it. A field named like a method (``like``, ``desc``...) is reached as
    ``F("author.desc")``.
    """

    __slots__ = ("_path",)
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, name: str) -> None:
        self._path = name

    def __getattr__(self, name: str) -> FieldRef:
        if name.startswith("_"):
            raise AttributeError(name)
        return FieldRef(f"{self._path}.{name}")

    def __repr__(self) -> str:
        return f"F.{self._path}"

    def __eq__(self, value: Any) -> Expr:  # type: ignore[override]
        if value is None:
            return IsNull(self._path)
        return Compare(self._path, "=", value)

    def __ne__(self, value: Any) -> Expr:  # type: ignore[override]
        if value is None:
            return IsNull(self._path, negate=True)
        return Compare(self._path, "!=", value)

    def __lt__(self, value: Any) -> Expr:
        return Compare(self._path, "<", value)

    def __le__(self, value: Any) -> Expr:
        return Compare(self._path, "<=", value)

    def __gt__(self, value: Any) -> Expr:
        return Compare(self._path, ">", value)

    def __ge__(self, value: Any) -> Expr:
        return Compare(self._path, ">=", value)

    def in_(self, values: Iterable[Any]) -> Expr:
        return In(self._path, tuple(values))

    def not_in(self, values: Iterable[Any]) -> Expr:
        return In(self._path, tuple(values), negate=True)

    def like(self, pattern: str) -> Expr:
        return Like(self._path, pattern)

    def not_like(self, pattern: str) -> Expr:
        return Like(self._path, pattern, negate=True)

    def is_null(self) -> Expr:
        return IsNull(self._path)

    def is_not_null(self) -> Expr:
        return IsNull(self._path, negate=True)

    def asc(self) -> Order:
        return Order(self._path)

    def desc(self) -> Order:
        return Order(self._path, descending=True)


class _FieldNamespace:
    """``F.name`` and ``F("name")`` both give a ``FieldRef``."""

    __slots__ = ()

    def __getattr__(self, name: str) -> FieldRef:
        if name.startswith("__"):
            raise AttributeError(name)
        return FieldRef(name)

    def __call__(self, name: str) -> FieldRef:
        return FieldRef(name)


F = _FieldNamespace()


def and_(*items: Expr) -> Expr:
    return And(tuple(_expr(i) for i in items))


def or_(*items: Expr) -> Expr:
    return Or(tuple(_expr(i) for i in items))


def not_(item: Expr) -> Expr:
    return Not(_expr(item))


def field_names(expr: Expr) -> Iterator[str]:
    """Every field name or path an expression tests (read off its nodes' ``field`` members)."""
    if not is_dataclass(expr):
        return
    for member in fields(expr):
        value = getattr(expr, member.name)
        if member.name == "field" and isinstance(value, str):
            yield value
        elif isinstance(value, Expr):
            yield from field_names(value)
        elif isinstance(value, tuple):
            for item in value:
                if isinstance(item, Expr):
                    yield from field_names(item)
