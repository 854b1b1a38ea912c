"""The ``where`` expression language: parse it into a small tree, compile the tree to core's
query expressions (``core.F``, ``and_``, ``or_``, ``not_``).

Grammar (keywords are case-insensitive)::

    expr     := and_expr ("or" and_expr)*
    and_expr := not_expr ("and" not_expr)*
    not_expr := "not" not_expr | "(" expr ")" | test
    test     := FIELD op VALUE                    op: = == != <> < <= > >=
              | FIELD ["not"] "in" "(" VALUE ("," VALUE)* ")"
              | FIELD ["not"] "like" STRING
              | FIELD "is" ["not"] "null"

Callers: ``language.py`` parses the clause of ``find``/``count``/``remove ... where``;
``executor.py`` compiles it with :func:`compile_where`, passing the value converter from
``values.py``. A field compared to ``None`` with ``=``/``!=`` means ``is null``/``is not null``.
It never produces SQL text: values stay Python values and core binds them as parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import core
from ormcli.errors import ParseError
from ormcli.literals import Lit, parse_literal
from ormcli.tokens import TokenStream, describe

STOP_WORDS = ("order", "limit")
_COMPARISONS = {
    "=": "==",
    "==": "==",
    "!=": "!=",
    "<>": "!=",
    "<": "<",
    "<=": "<=",
    ">": ">",
    ">=": ">=",
}


@dataclass(frozen=True)
class Compare:
    """``field op value``; ``op`` is one of ``== != < <= > >=``."""

    field: str
    op: str
    value: Lit


@dataclass(frozen=True)
class In:
    """``field [not] in (v, ...)``."""

    field: str
    values: tuple[Lit, ...]
    negated: bool = False


@dataclass(frozen=True)
class Like:
    """``field [not] like "pattern"``."""

    field: str
    pattern: str
    negated: bool = False


@dataclass(frozen=True)
class IsNull:
    """``field is [not] null``."""

    field: str
    negated: bool = False


@dataclass(frozen=True)
class And:
    """All of ``items``."""

    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Or:
    """Any of ``items``."""

    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Not:
    """The negation of ``item``."""

    item: Expr


Expr = Compare | In | Like | IsNull | And | Or | Not


def parse_where(stream: TokenStream) -> Expr:
    """Parse an expression from ``stream``; stops before ``order``/``limit`` or the end."""
    if stream.peek().kind == "EOF":
        raise ParseError("expected a condition after 'where', got end of line", stream.peek().pos)
    return _parse_or(stream)


def _parse_or(stream: TokenStream) -> Expr:
    items = [_parse_and(stream)]
    while stream.accept_keyword("or"):
        items.append(_parse_and(stream))
    return items[0] if len(items) == 1 else Or(tuple(items))


def _parse_and(stream: TokenStream) -> Expr:
    items = [_parse_not(stream)]
    while stream.accept_keyword("and"):
        items.append(_parse_not(stream))
    return items[0] if len(items) == 1 else And(tuple(items))


def _parse_not(stream: TokenStream) -> Expr:
    if stream.accept_keyword("not"):
        return Not(_parse_not(stream))
    if stream.accept_op("("):
        inner = _parse_or(stream)
        stream.expect_op(")", "to close '('")
        return inner
    return _parse_test(stream)


def _parse_test(stream: TokenStream) -> Expr:
    name = stream.expect_name("a field name in the condition").text
    token = stream.peek()
    if token.kind == "OP" and token.text in _COMPARISONS:
        stream.next()
        value = parse_literal(stream, f"after '{name} {token.text}'")
        return Compare(name, _COMPARISONS[token.text], value)
    negated = stream.accept_keyword("not")
    if stream.accept_keyword("in"):
        stream.expect_op("(", f"after '{name} in'")
        values = [parse_literal(stream, f"in the list of '{name} in'")]
        while stream.accept_op(","):
            values.append(parse_literal(stream, f"in the list of '{name} in'"))
        stream.expect_op(")", f"to close the list of '{name} in'")
        return In(name, tuple(values), negated)
    if stream.accept_keyword("like"):
        pattern = stream.peek()
        if pattern.kind != "STRING":
            raise ParseError(
                f"expected a quoted pattern after '{name} like', got {describe(pattern)}",
                pattern.pos,
            )
        stream.next()
        return Like(name, str(pattern.value), negated)
    if not negated and stream.accept_keyword("is"):
        is_not = stream.accept_keyword("not")
        if not stream.accept_keyword("null"):
            found = stream.peek()
            raise ParseError(f"expected 'null' after 'is', got {describe(found)}", found.pos)
        return IsNull(name, is_not)
    found = stream.peek()
    raise ParseError(
        f"expected an operator (= != < <= > >= in like is) after {name!r}, got {describe(found)}",
        found.pos,
    )


def fields_of(expr: Expr) -> list[str]:
    """The field names an expression mentions, in order (for validation and completion)."""
    if isinstance(expr, And | Or):
        return [name for item in expr.items for name in fields_of(item)]
    if isinstance(expr, Not):
        return fields_of(expr.item)
    return [expr.field]


Converter = Callable[[Any, Lit], Any]
"""Turns a literal into the value to compare a field with: ``(FieldInfo, Lit) -> value``."""


def compile_where(expr: Expr, info: Any, convert: Converter) -> Any:
    """Compile ``expr`` for the entity ``info`` (core.EntityInfo) to a core expression.

    Unknown fields raise core's ``UnknownFieldError``; bad values whatever ``convert`` raises.
    """
    if isinstance(expr, And):
        return core.and_(*(compile_where(item, info, convert) for item in expr.items))
    if isinstance(expr, Or):
        return core.or_(*(compile_where(item, info, convert) for item in expr.items))
    if isinstance(expr, Not):
        return core.not_(compile_where(expr.item, info, convert))
    field = info.field(expr.field)
    column = core.F(field.name)
    if isinstance(expr, IsNull):
        return column.is_not_null() if expr.negated else column.is_null()
    if isinstance(expr, Like):
        test = column.like(expr.pattern)
        return core.not_(test) if expr.negated else test
    if isinstance(expr, In):
        values = [convert(field, lit) for lit in expr.values]
        return column.not_in(values) if expr.negated else column.in_(values)
    value = None if expr.value.value is None else convert(field, expr.value)
    if value is None and expr.op in ("==", "!="):
        return column.is_null() if expr.op == "==" else column.is_not_null()
    return _apply(column, expr.op, value)


def _apply(column: Any, op: str, value: Any) -> Any:
    if op == "==":
        return column == value
    if op == "!=":
        return column != value
    if op == "<":
        return column < value
    if op == "<=":
        return column <= value
    if op == ">":
        return column > value
    return column >= value
