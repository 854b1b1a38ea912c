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
              | COLLECTION ("any" | "none") ["(" expr ")"]

A FIELD may be a path through references, ``author.name`` or ``author.org.name`` (the
condition holds when the referenced row exists and meets it). A COLLECTION (a ``BackReference``
field, possibly after references: ``author.posts``) is tested with ``any`` (some item meets
the condition in parentheses, or there is an item at all) or ``none`` (no item does); the
condition inside names the items' fields: ``posts any (title like "x%")``, ``posts none``.

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
from ormcli.errors import ParseError, UsageError
from ormcli.literals import Lit, parse_literal
from ormcli.suggest import did_you_mean
from ormcli.tokens import TokenStream, describe

STOP_WORDS = ("order", "limit")
#: The words after a collection: ``posts any (...)``, ``posts none``.
COLLECTION_WORDS = ("any", "none")
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
class Related:
    """``collection any [(expr)]`` / ``collection none [(expr)]`` (``negated``)."""

    field: str
    where: Expr | None
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


Expr = Compare | In | Like | IsNull | Related | And | Or | Not


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
    for word in COLLECTION_WORDS:
        if stream.accept_keyword(word):
            inner = None
            if stream.accept_op("("):
                inner = _parse_or(stream)
                stream.expect_op(")", f"to close '{name} {word} ('")
            return Related(name, inner, negated=word == "none")
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
        f"expected an operator (= != < <= > >= in like is any none) after {name!r}, "
        f"got {describe(found)}",
        found.pos,
    )


def fields_of(expr: Expr) -> list[str]:
    """The field names and paths an expression mentions, in order (for validation and
    completion); a collection condition gives the collection, not the items' fields."""
    if isinstance(expr, And | Or):
        return [name for item in expr.items for name in fields_of(item)]
    if isinstance(expr, Not):
        return fields_of(expr.item)
    return [expr.field]


def resolve_field(info: Any, path: str) -> Any:
    """The FieldInfo a field name or path through references (``author.name``) ends on."""
    names = path.split(".")
    for i, name in enumerate(names):
        f = _step(info, path, names, i)
        if i == len(names) - 1:
            return f
        if f.kind != "reference":
            raise UsageError(
                f"{info.cls.__name__}.{name} is not a reference, so {path!r} cannot go through it"
            )
        info = f.target
    raise UsageError(f"empty field path {path!r}")  # pragma: no cover - split gives a name


def resolve_collection(info: Any, path: str) -> Any:
    """The RelationInfo a collection path (``posts``, ``author.posts``) ends on."""
    *head, last = path.split(".")
    if head:
        ref = resolve_field(info, ".".join(head))
        if ref.kind != "reference":
            raise UsageError(f"{'.'.join(head)!r} is not a reference, so {path!r} names nothing")
        info = ref.target
    relation = info.relations.get(last)
    if relation is None:
        known = ", ".join(info.relations) or "none"
        raise UsageError(
            f"{info.cls.__name__} has no collection {last!r} to test with any/none "
            f"(collections: {known})"
        )
    return relation


def _step(info: Any, path: str, names: list[str], i: int) -> Any:
    name = names[i]
    if info.has_field(name):
        return info.field(name)
    if name in info.relations:
        where = ".".join(names[: i + 1])
        raise UsageError(
            f"{info.cls.__name__}.{name} is a collection; test its items with "
            f"'{where} any (...)' or '{where} none (...)'"
        )
    known = [f.name for f in info.fields] + list(info.relations)
    within = f" in {path!r}" if len(names) > 1 else ""
    hint = did_you_mean(name, known)
    raise UsageError(
        f"{info.cls.__name__} has no field {name!r}{within}{hint} (fields: {', '.join(known)})"
    )


Converter = Callable[[Any, Lit], Any]
"""Turns a literal into the value to compare a field with: ``(FieldInfo, Lit) -> value``."""


def compile_where(expr: Expr, info: Any, convert: Converter) -> Any:
    """Compile ``expr`` for the entity ``info`` (core.EntityInfo) to a core expression.

    Unknown fields and paths raise ``CliError``; bad values whatever ``convert`` raises.
    """
    if isinstance(expr, And):
        return core.and_(*(compile_where(item, info, convert) for item in expr.items))
    if isinstance(expr, Or):
        return core.or_(*(compile_where(item, info, convert) for item in expr.items))
    if isinstance(expr, Not):
        return core.not_(compile_where(expr.item, info, convert))
    if isinstance(expr, Related):
        relation = resolve_collection(info, expr.field)
        inner = () if expr.where is None else (compile_where(expr.where, relation.target, convert),)
        collection = core.F(expr.field)
        return collection.none(*inner) if expr.negated else collection.any(*inner)
    field = resolve_field(info, expr.field)
    column = core.F(expr.field)
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
