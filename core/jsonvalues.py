"""What a JSON field may hold: checked element by element against its declared type.

A JSON field is stored as JSON text (JSONB on PostgreSQL), so a value survives the round trip
only when it is made of ``dict`` (string keys), ``list``, ``str``, ``int``, finite ``float``,
``bool`` and ``None``: a ``set`` cannot be written, a ``tuple`` comes back as a ``list``, an
``int`` key comes back as a ``str``, and ``NaN`` is refused by two backends of three. On top,
the field's annotation is honoured: ``list[str]`` takes only strings, ``dict[str, int]`` only
ints (``bool`` is not an ``int`` here), ``list[float]`` takes ints too; a bare ``list``/``dict``
or ``Any`` takes any JSON value.

``json_problem(f, value)`` returns why ``value`` does not fit, or None. Callers:
``FieldInfo.coerce`` (when a value is set through the API that coerces, and in the REPL) and
the dialects' commit-time check (``core.dialects.base``). What it leaves out: encoding (the
dialects' ``json_dumps``) and change tracking of JSON values (``core.codec``).
"""

from __future__ import annotations

import math
import types
import typing
from typing import Any

__all__ = ["json_problem"]

_JSON_SCALARS = (str, int, float, bool, type(None))


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _problem(value: Any, tp: Any, where: str) -> str | None:
    """Why ``value`` (at ``where``, e.g. ``[2]`` or ``['k']``) is not a JSON ``tp``."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any or tp is object:
        return _any_problem(value, where)
    if origin in (typing.Union, types.UnionType):
        if all(_problem(value, arg, where) for arg in args):
            names = " | ".join(_type_name(a) for a in args)
            return f"{where or 'the value'} is {value!r}, not {names}"
        return None
    if tp is type(None):
        return None if value is None else f"{where or 'the value'} is {value!r}, not None"
    if origin is list or tp is list:
        if not isinstance(value, list):
            return f"{where or 'the value'} is {value!r}, not a list"
        item = args[0] if args else Any
        for i, element in enumerate(value):
            problem = _problem(element, item, f"{where}[{i}]")
            if problem:
                return problem
        return None
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            return f"{where or 'the value'} is {value!r}, not a dict"
        item = args[1] if len(args) == 2 else Any
        for key, element in value.items():
            if not isinstance(key, str):
                return f"{where or 'the value'} has the key {key!r}: JSON keys are strings"
            problem = _problem(element, item, f"{where}[{key!r}]")
            if problem:
                return problem
        return None
    if tp is bool:
        ok = isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif tp is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if ok and not math.isfinite(value):
            return f"{where or 'the value'} is {value!r}: JSON has no NaN or infinity"
    elif tp is str:
        ok = isinstance(value, str)
    else:  # a type JSON cannot hold (a model's own class, Decimal, datetime ...)
        return f"{where or 'the value'} is declared {_type_name(tp)}, which JSON cannot hold"
    return None if ok else f"{where or 'the value'} is {value!r}, not {_type_name(tp)}"


def _any_problem(value: Any, where: str) -> str | None:
    if isinstance(value, float) and not math.isfinite(value):
        return f"{where or 'the value'} is {value!r}: JSON has no NaN or infinity"
    if isinstance(value, _JSON_SCALARS):
        return None
    if isinstance(value, list):
        for i, element in enumerate(value):
            problem = _any_problem(element, f"{where}[{i}]")
            if problem:
                return problem
        return None
    if isinstance(value, dict):
        for key, element in value.items():
            if not isinstance(key, str):
                return f"{where or 'the value'} has the key {key!r}: JSON keys are strings"
            problem = _any_problem(element, f"{where}[{key!r}]")
            if problem:
                return problem
        return None
    kind = type(value).__name__
    return f"{where or 'the value'} is {value!r}, a {kind}, which JSON cannot hold"


def json_problem(declared: Any, value: Any) -> str | None:
    """Why ``value`` cannot be stored exactly in a JSON field declared ``declared`` (the
    field's ``python_type``, e.g. ``list[str]``), or None when it can."""
    return _problem(value, declared, "")
