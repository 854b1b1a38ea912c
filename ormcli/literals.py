"""Literal values of the command language: ``"text"``, ``42``, ``3.5``, ``True``, ``None``,
``[1, 2]``, ``{"k": "v"}`` and handles (``@1``).

Callers: ``language.py`` (assignments, keys) and ``where.py`` (comparison values) read values
with :func:`parse_literal`; ``values.py`` coerces a :class:`Lit` to a field's type and formats
Python values back into this syntax with :func:`format_literal`. Decoding is done by hand from
tokens; nothing is evaluated. It knows nothing about fields or types beyond the literal's own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

from ormcli.errors import ParseError
from ormcli.tokens import TokenStream, describe

_NAMED = {"True": True, "False": False, "None": None, "true": True, "false": False, "null": None}


@dataclass(frozen=True)
class Handle:
    """A reference to an entity staged in this session, written ``@number``."""

    number: int

    def __str__(self) -> str:
        return f"@{self.number}"


@dataclass(frozen=True)
class Lit:
    """A literal as written: its decoded ``value`` and its source ``text`` (for messages and
    for exact decimals)."""

    value: Any
    text: str


def parse_literal(stream: TokenStream, context: str) -> Lit:
    """Read one literal (scalar, handle, list or dict) from ``stream``.

    ``context`` completes the error message, e.g. ``"after 'name='"``.
    """
    start = stream.peek()
    value = _parse_value(stream, context)
    end = stream.tokens[stream.index - 1]
    text = stream.line[start.pos : end.pos + len(end.text)]
    return Lit(value, text)


def _parse_value(stream: TokenStream, context: str) -> Any:
    token = stream.peek()
    if token.kind in ("STRING", "NUMBER", "HANDLE"):
        stream.next()
        return Handle(int(str(token.value))) if token.kind == "HANDLE" else token.value
    if token.kind == "NAME" and token.text in _NAMED:
        stream.next()
        return _NAMED[token.text]
    if stream.accept_op("["):
        items: list[Any] = []
        while not stream.accept_op("]"):
            items.append(_parse_value(stream, "in a list"))
            if not stream.accept_op(","):
                stream.expect_op("]", "to close the list")
                break
        return items
    if stream.accept_op("{"):
        mapping: dict[str, Any] = {}
        while not stream.accept_op("}"):
            key = stream.peek()
            if key.kind != "STRING":
                raise ParseError(f"expected a quoted key in a dict, got {describe(key)}", key.pos)
            stream.next()
            stream.expect_op(":", "after a dict key")
            mapping[str(key.value)] = _parse_value(stream, "in a dict")
            if not stream.accept_op(","):
                stream.expect_op("}", "to close the dict")
                break
        return mapping
    if token.kind == "NAME":
        hint = json.dumps(token.text)
        raise ParseError(
            f"expected a value {context}, got {token.text!r} (quote text: {hint})", token.pos
        )
    raise ParseError(f"expected a value {context}, got {describe(token)}", token.pos)


def format_literal(value: Any) -> str:
    """Write a Python value in the language's literal syntax (what a user could type back)."""
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, Handle):
        return str(value)
    if isinstance(value, Enum):
        return json.dumps(value.name)
    if isinstance(value, int | float | Decimal):
        return str(value)
    if isinstance(value, datetime | date | time):
        return json.dumps(value.isoformat())
    if isinstance(value, UUID):
        return json.dumps(str(value))
    if isinstance(value, bytes):
        return json.dumps(value.hex())
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(format_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        items = (f"{json.dumps(str(k))}: {format_literal(v)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    return json.dumps(str(value))
