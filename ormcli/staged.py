"""Reads that answer as the commit would leave the data: the database's rows plus staged work.

``find``, ``count`` and ``show`` ask the database for the rows it holds and then apply what the
session has staged for the entity: staged adds that match are included, rows staged for removal
are left out, and changed rows are matched on their new values (a row changed so that it no
longer matches drops out; one changed so that it now matches comes in). Each row carries a mark:
``+`` staged add, ``~`` staged change, ``-`` staged removal (only ``show`` displays a removed
row), ``""`` untouched.

Staged objects are matched in memory by :func:`matches` with Python comparisons: ``like`` is
case-sensitive (``%`` and ``_`` wildcards), a null never satisfies a comparison or ``in`` (as in
SQL), references compare by key (a staged entity by identity). Rows nobody touched are matched
and ordered by the database only; a staged row is placed among them by the ``order by`` values
(nulls first).

Callers: ``executor.py``. What it leaves out: SQL (core), rendering (``render.py``), staging
itself (the executor's ``add``/``set``/``remove``).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import core
from ormcli.literals import Lit
from ormcli.where import (
    And,
    Compare,
    Expr,
    In,
    IsNull,
    Like,
    Not,
    Or,
    Related,
    resolve_collection,
    resolve_field,
)

ADDED, CHANGED, REMOVED = "+", "~", "-"

Convert = Callable[[Any, Lit], Any]
"""The executor's literal converter: ``(FieldInfo, Lit) -> value`` (as for ``compile_where``)."""


@dataclass
class Staging:
    """What the session has staged for one entity."""

    added: list[Any] = field(default_factory=list)
    added_ids: set[int] = field(default_factory=set)
    #: id(obj) -> (obj, {field: (old, new)})
    changed: dict[int, tuple[Any, dict[str, tuple[Any, Any]]]] = field(default_factory=dict)
    #: id(obj) -> obj
    removed: dict[int, Any] = field(default_factory=dict)
    #: stored rows the database matched that the staged removals leave out of the answer
    hidden: int = 0

    @property
    def empty(self) -> bool:
        """Nothing staged for the entity."""
        return not (self.added or self.changed or self.removed)

    @property
    def touched(self) -> int:
        """How many stored rows the staged work changes or removes."""
        return len(self.changed) + len(self.removed)

    def mark(self, obj: Any) -> str:
        """``+``, ``~``, ``-`` or ``""`` for one object."""
        oid = id(obj)
        if oid in self.removed:
            return REMOVED
        if oid in self.changed:
            return CHANGED
        if oid in self.added_ids:
            return ADDED
        return ""


def staging_of(session: Any, info: Any) -> Staging:
    """The staged adds, changes and removals of ``info``'s entity in ``session``."""
    staging = Staging()
    if not session.is_dirty:
        return staging
    changes = session.changes()
    for insert in changes.inserts:
        if insert.entity is info:
            staging.added.append(insert.obj)
            staging.added_ids.add(id(insert.obj))
    for update in changes.updates:
        if update.entity is info:
            staging.changed[id(update.obj)] = (update.obj, dict(update.changes))
    for delete in changes.deletes:
        if delete.entity is info:
            staging.removed[id(delete.obj)] = delete.obj
    return staging


# --- matching in memory ---------------------------------------------------------------------


def _is_entity(value: Any) -> bool:
    return hasattr(type(value), "__orm_entity__")


def _norm(value: Any) -> Any:
    """A value as compared: an entity by its key (a new one without a key by identity)."""
    if value is not None and _is_entity(value):
        info = core.entity_info(value)
        try:
            key = info.pk_of(value)
        except AttributeError:
            key = None
        return ("new", id(value)) if key in (None, 0) else key
    return value


def _less(a: Any, b: Any) -> bool:
    """``a < b`` with nulls first; values of different types by their text."""
    if a is None:
        return b is not None
    if b is None:
        return False
    try:
        return bool(a < b)
    except TypeError:
        return str(a) < str(b)


def _like(pattern: str) -> re.Pattern[str]:
    parts = []
    for char in pattern:
        parts.append(".*" if char == "%" else "." if char == "_" else re.escape(char))
    return re.compile("".join(parts), re.DOTALL)


def matches(expr: Expr, info: Any, convert: Convert, value_of: Callable[[str], Any]) -> bool:
    """Does a row whose field values ``value_of`` gives satisfy ``expr``?"""
    if isinstance(expr, And):
        return all(matches(item, info, convert, value_of) for item in expr.items)
    if isinstance(expr, Or):
        return any(matches(item, info, convert, value_of) for item in expr.items)
    if isinstance(expr, Not):
        return not matches(expr.item, info, convert, value_of)
    reached, raw = _follow(value_of, expr.field)
    if not reached:
        return False  # through a reference that is null: as in SQL, no referenced row to meet
    if isinstance(expr, Related):
        relation = resolve_collection(info, expr.field)
        inner = expr.where
        found = any(
            inner is None or matches(inner, relation.target, convert, current(item))
            for item in raw or ()
        )
        return found != expr.negated
    f = resolve_field(info, expr.field)
    value = _norm(raw)
    if isinstance(expr, IsNull):
        return (value is not None) if expr.negated else (value is None)
    if isinstance(expr, Like):
        if value is None:
            return False
        found = _like(expr.pattern).fullmatch(str(value)) is not None
        return found != expr.negated
    if isinstance(expr, In):
        if value is None:
            return False
        found = any(value == _norm(convert(f, lit)) for lit in expr.values)
        return found != expr.negated
    assert isinstance(expr, Compare)
    other = None if expr.value.value is None else _norm(convert(f, expr.value))
    if other is None:
        if expr.op in ("==", "!="):
            return (value is None) == (expr.op == "==")
        return False
    if value is None:
        return False
    if expr.op == "==":
        return bool(value == other)
    if expr.op == "!=":
        return bool(value != other)
    if expr.op == "<":
        return _less(value, other)
    if expr.op == "<=":
        return not _less(other, value)
    if expr.op == ">":
        return _less(other, value)
    return not _less(value, other)


def _follow(value_of: Callable[[str], Any], path: str) -> tuple[bool, Any]:
    """``(reached, value)`` of a field or path (``author.name``): the first name through
    ``value_of``, the rest through the referenced objects; not reached through a null."""
    first, *rest = path.split(".")
    value = value_of(first)
    for name in rest:
        if value is None:
            return False, None
        value = getattr(value, name, None)
    return True, value


def current(obj: Any) -> Callable[[str], Any]:
    """Field values as staged (what the commit will store)."""
    return lambda name: getattr(obj, name, None)


def stored(obj: Any, changes: dict[str, tuple[Any, Any]]) -> Callable[[str], Any]:
    """Field values as stored now (the old side of staged changes)."""
    return lambda name: changes[name][0] if name in changes else getattr(obj, name, None)


# --- ordering -------------------------------------------------------------------------------


class _SortKey:
    """The ``order by`` values of one row, compared field by field (``desc`` reversed)."""

    __slots__ = ("descending", "values")

    def __init__(self, values: tuple[Any, ...], descending: tuple[bool, ...]) -> None:
        self.values = values
        self.descending = descending

    def __lt__(self, other: _SortKey) -> bool:
        for a, b, desc in zip(self.values, other.values, self.descending, strict=True):
            if a == b:
                continue
            return _less(b, a) if desc else _less(a, b)
        return False


def merge(
    stored_rows: list[Any],
    staged_rows: Iterable[Any],
    order: tuple[tuple[str, bool], ...],
) -> list[Any]:
    """``stored_rows`` in the database's order with each staged row placed by ``order``
    (appended when there is no order)."""
    staged_rows = list(staged_rows)
    if not staged_rows:
        return stored_rows
    if not order:
        return stored_rows + staged_rows
    names = tuple(name for name, _ in order)
    descending = tuple(desc for _, desc in order)

    def key(obj: Any) -> _SortKey:
        return _SortKey(tuple(_norm(getattr(obj, n, None)) for n in names), descending)

    rows = list(stored_rows)
    keys = [key(o) for o in rows]
    for obj in staged_rows:
        k = key(obj)
        at = bisect.bisect_right(keys, k)
        keys.insert(at, k)
        rows.insert(at, obj)
    return rows


def apply_to_find(
    found: list[Any],
    staging: Staging,
    accept: Callable[[Callable[[str], Any]], bool],
    order: tuple[tuple[str, bool], ...],
    limit: int | None,
) -> list[Any]:
    """The rows of a ``find`` as the commit would leave them.

    ``found``: what the database returned (asked with ``limit + staging.touched`` when there is
    a limit); ``accept(values)``: does a row with these values match the ``where``?
    """
    untouched = []
    staged = []
    seen: set[int] = set()
    for obj in found:
        oid = id(obj)
        seen.add(oid)
        if oid in staging.removed:
            continue
        if oid in staging.changed:
            if accept(current(obj)):
                staged.append(obj)
            continue
        untouched.append(obj)
    for oid, (obj, _) in staging.changed.items():
        if oid not in seen and oid not in staging.removed and accept(current(obj)):
            staged.append(obj)
    staged.extend(obj for obj in staging.added if accept(current(obj)))
    rows = merge(untouched, staged, order)
    return rows if limit is None else rows[:limit]


def adjust_count(
    counted: int,
    staging: Staging,
    accept: Callable[[Callable[[str], Any]], bool],
    stored_match: Callable[[Any], bool],
) -> int:
    """A database ``count`` adjusted for staged work: rows that match now but will not after
    the commit are taken off, staged rows that will match are added.

    ``stored_match(obj)``: does the stored row of a touched object match (the database's
    answer where the executor can ask it)?"""
    for obj in staging.removed.values():
        if stored_match(obj):
            counted -= 1
    for oid, (obj, _) in staging.changed.items():
        if oid in staging.removed:
            continue
        if stored_match(obj):
            counted -= 1
        if accept(current(obj)):
            counted += 1
    return counted + sum(1 for obj in staging.added if accept(current(obj)))
