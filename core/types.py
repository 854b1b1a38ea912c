"""Markers that go in ``Annotated[...]`` and the ``field()`` default helper.

Callers: model files (``from core import PrimaryKey, ...``) and ``core.entity``, which reads the
markers when a class is decorated. What it leaves out: what the markers mean for storage (that is
``core.entity`` and the dialects).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "MISSING",
    "AutoIncrement",
    "Aware",
    "FieldDefault",
    "Index",
    "MaxLength",
    "PrimaryKey",
    "Reference",
    "Unique",
    "field",
]


class _Missing:
    """The sentinel for 'no value given' (``None`` is a value)."""

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()


class Marker:
    """A flag marker such as ``PrimaryKey``; compared by identity."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


PrimaryKey = Marker("PrimaryKey")
AutoIncrement = Marker("AutoIncrement")
Unique = Marker("Unique")
Index = Marker("Index")
Reference = Marker("Reference")
Aware = Marker("Aware")


@dataclass(frozen=True, slots=True)
class MaxLength:
    """``Annotated[str, MaxLength(80)]``: the column holds at most ``length`` characters."""

    length: int

    def __post_init__(self) -> None:
        if not isinstance(self.length, int) or self.length <= 0:
            raise ValueError(f"MaxLength takes a positive int, not {self.length!r}")


@dataclass(frozen=True, slots=True)
class FieldDefault:
    """What ``field(default=..., default_factory=...)`` returns; read by ``core.entity``."""

    default: Any = MISSING
    default_factory: Callable[[], Any] | None = None


def field(*, default: Any = MISSING, default_factory: Callable[[], Any] | None = None) -> Any:
    """Give a field a default value or a factory called once per new object.

    >>> tags: list[str] = field(default_factory=list)
    """
    if default is not MISSING and default_factory is not None:
        raise ValueError("field() takes default or default_factory, not both")
    return FieldDefault(default, default_factory)
