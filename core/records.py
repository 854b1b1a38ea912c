"""Immutable, slotted value records written out by hand: the base of the small data classes
that ``import core`` loads (expression nodes, annotation markers).

``dataclasses`` would do the same, but it compiles each class's methods when the module is
imported (about half a millisecond a class) and brings in ``inspect``, ``ast`` and ``dis``;
those were a third of ``import core`` (issue 18 asks for <= 80 ms). A record lists its members
in ``__slots__`` and sets them in its own ``__init__`` with ``init_member``; this base gives
``repr``, equality and hashing by value (a subclass may restore identity), immutability and
``_replace``. Callers: ``core.expressions``, ``core.types``, ``core.url``, ``core.paths``,
``core.upsert``, ``core.query``, ``core.session``. What it leaves out: defaults, validation and
ordering (each record's ``__init__`` does what it needs). ``Struct`` is the mutable kind (the
unit of work's change records and plan steps, ``core.unitofwork`` and ``core.persist``).
"""

from __future__ import annotations

from typing import Any

__all__ = ["Record", "Struct", "init_member"]

#: Sets a member of a record being built (its own ``__setattr__`` refuses every write).
init_member = object.__setattr__


class Record:
    """An immutable value: members in ``__slots__``, compared and hashed by their values.

    ``_fields`` names the members (``__slots__`` unless a class says otherwise: one whose
    instances keep their members in ``__dict__``, set in one ``__dict__.update``)."""

    __slots__: tuple[str, ...] = ()
    _fields: tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "_fields" not in cls.__dict__ and "__slots__" in cls.__dict__:
            cls._fields = cls.__slots__

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable: cannot delete {name!r}")

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self._fields)

    def __repr__(self) -> str:
        inner = ", ".join(f"{n}={getattr(self, n)!r}" for n in self._fields)
        return f"{type(self).__name__}({inner})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Record)
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def _replace(self, **changes: Any) -> Any:
        """A copy with ``changes`` (member name -> value) applied."""
        values = {name: getattr(self, name) for name in self._fields}
        values.update(changes)
        return type(self)(**values)


class Struct:
    """A mutable record: members in ``__slots__`` (set by the subclass's ``__init__``),
    compared by value (not hashable); members named in ``_hidden`` are left out of ``==`` and
    ``repr`` (a cache, say)."""

    __slots__: tuple[str, ...] = ()
    _hidden: tuple[str, ...] = ()

    def _shown(self) -> tuple[tuple[str, Any], ...]:
        return tuple((n, getattr(self, n)) for n in self.__slots__ if n not in self._hidden)

    def __repr__(self) -> str:
        inner = ", ".join(f"{n}={v!r}" for n, v in self._shown())
        return f"{type(self).__name__}({inner})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Struct)
        return self._shown() == other._shown()

    __hash__ = None  # type: ignore[assignment]
