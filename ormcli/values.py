"""Values between the user and the model: coerce a typed literal to a field's type, and turn a
field's value back into text for display and JSON.

Callers: ``executor.py`` (``add``/``set`` assignments, keys, ``where`` values) and
``render``-bound result building. Coercion goes through core's ``FieldInfo.coerce``; this module
only adds what a line of text needs (exact decimals from the literal's text, references resolved
by the caller's ``resolve`` function, one message naming field, expected type and the text
given). It does not look anything up in a database itself.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime, time
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

import core
from ormcli.errors import CliError
from ormcli.literals import Handle, Lit, format_literal

Resolver = Callable[[Any, Lit], Any]
"""``(target EntityInfo, literal) -> entity instance``, for reference fields."""


def bad_value(field: Any, lit: Lit, why: str = "", owner: str | None = None) -> CliError:
    """The one message for a wrong value: field, expected type, the text given.

    ``owner`` is the entity as the user names it (the class name); core's entity name otherwise.
    """
    extra = f" ({why})" if why else ""
    entity = owner or getattr(field, "entity", None)
    label = f"{entity}.{field.name}" if entity else str(field.name)
    return CliError(f"{label} expects {field.type_label}, got {lit.text}{extra}")


def coerce(field: Any, lit: Lit, resolve: Resolver, owner: str | None = None) -> Any:
    """The value ``lit`` means for ``field`` (a core FieldInfo), or a CliError."""
    value = lit.value
    if value is None:
        if field.nullable or field.autoincrement:
            return None
        raise bad_value(field, lit, "the field is not nullable", owner)
    if field.kind == "reference":
        return resolve(field.target, lit)
    if isinstance(value, Handle):
        raise bad_value(field, lit, "a handle can only be given to a reference field", owner)
    if field.kind == "decimal" and isinstance(value, float):
        value = lit.text
    limit = field.max_length
    if field.kind == "str" and isinstance(value, str) and limit is not None and len(value) > limit:
        raise bad_value(field, lit, f"longer than {limit} characters", owner)
    if field.kind in ("str", "bytes") and not isinstance(value, str):
        raise bad_value(field, lit, owner=owner)
    try:
        return field.coerce(value)
    except core.ValidationError as exc:
        if "aware" in str(exc):
            raise CliError(str(exc)) from None
        if field.kind == "enum" and field.enum_type is not None:
            allowed = ", ".join(m.name for m in field.enum_type)
            raise bad_value(field, lit, f"one of {allowed}", owner) from None
        raise bad_value(field, lit, owner=owner) from None


def key_value(info: Any, values: tuple[Lit, ...]) -> Any:
    """Coerce the literals of a primary key (one value, or one per composite-key field)."""
    fields = info.primary_key
    if len(values) != len(fields):
        names = ", ".join(f.name for f in fields)
        given = ", ".join(lit.text for lit in values)
        raise CliError(
            f"{info.cls.__name__} has a key of {len(fields)} field(s) ({names}), got ({given})"
        )

    owner = info.cls.__name__

    def no_reference(target: Any, lit: Lit) -> Any:
        raise bad_value(target, lit, owner=owner)

    coerced = []
    for f, lit in zip(fields, values, strict=True):
        if f.kind == "reference":
            target_pk = f.target.primary_key[0]
            coerced.append(coerce(target_pk, lit, no_reference, owner))
        else:
            coerced.append(coerce(f, lit, no_reference, owner))
    return coerced[0] if len(coerced) == 1 else tuple(coerced)


def plain(value: Any) -> Any:
    """A JSON-ready form of a field value (ISO text for dates, str for Decimal/UUID)."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, Enum):
        return value.name
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return value


def display(value: Any) -> str:
    """A field value as a table cell shows it: text unquoted, the rest as literals."""
    if isinstance(value, str):
        return value
    if isinstance(value, Enum):
        return value.name
    if isinstance(value, datetime | date | time):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    if isinstance(value, list | dict):
        return json.dumps(plain(value), ensure_ascii=False)
    return format_literal(value)


__all__ = ["Resolver", "bad_value", "coerce", "display", "format_literal", "key_value", "plain"]
