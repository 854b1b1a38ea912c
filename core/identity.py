"""The identity map of a session: per entity, primary key -> the one object of that row.

A plain dict per entity, with one refinement: a query that loads an entity into a session that
holds none of it yet, and whose keys came in strictly ascending order (a full scan on SQLite or
InnoDB, a fresh PostgreSQL table, any ``order_by`` the key), has distinct keys by construction.
Its keys and objects are kept as two lists (``defer``) and enter the dict only when something
first asks for the entity's map (a lookup, a second query, a commit that removes some of them).
A 100,000-row load so builds no 100,000-entry dict it may never need: the dict and its growing
copies took 8-12 ms of a 100-ms PostgreSQL fetch, and fresh memory that a 10,000-row fetch
does not pay for.

Callers: ``core.session`` (and ``core.query`` through it). What it leaves out: building objects
from rows (``core.codec``: the generated ``merge`` decides whether a load can be deferred) and
change tracking.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from core.entity import EntityInfo

__all__ = ["IdentityMap"]


class IdentityMap:
    """Per entity, primary key -> object; see the module docstring for deferred loads."""

    __slots__ = ("_deferred", "_maps")

    def __init__(self) -> None:
        self._maps: dict[EntityInfo, dict[Any, Any]] = {}
        #: Per entity, a load whose keys have not entered its map: (keys, objects), the keys
        #: distinct. Only a load into an empty map is deferred, so there is at most one.
        self._deferred: dict[EntityInfo, tuple[list[Any], list[Any]]] = {}

    def get(self, info: EntityInfo) -> dict[Any, Any] | None:
        """The entity's map, or None when nothing of it was ever mapped."""
        if info in self._deferred:
            return self.mapping(info)
        return self._maps.get(info)

    def mapping(self, info: EntityInfo) -> dict[Any, Any]:
        """The entity's map (made empty if there was none), to read or change; a deferred
        load enters it first."""
        mapping = self._maps.get(info)
        if mapping is None:
            mapping = self._maps[info] = {}
        if self._deferred:
            deferred = self._deferred.pop(info, None)
            if deferred is not None:
                mapping.update(zip(*deferred, strict=True))
        return mapping

    def lookup(self, info: EntityInfo, key: Any) -> Any:
        """The object mapped under ``key``, or None."""
        if info in self._deferred:
            return self.mapping(info).get(key)
        mapping = self._maps.get(info)
        return None if mapping is None else mapping.get(key)

    def defer(self, info: EntityInfo, keys: list[Any], objs: list[Any]) -> None:
        """Keep a load's distinct ``keys`` and their ``objs`` for the map's first use; the
        entity's map must be empty."""
        if self._maps.get(info) or info in self._deferred:
            raise AssertionError(f"a load of {info.cls.__name__} deferred into a map in use")
        self._deferred[info] = (keys, objs)

    def count(self, info: EntityInfo) -> int:
        """How many objects of the entity are mapped (deferred ones included)."""
        deferred = self._deferred.get(info)
        return len(self._maps.get(info) or ()) + (len(deferred[0]) if deferred else 0)

    def drop(self, info: EntityInfo) -> None:
        """Forget every object of the entity (a commit removed them all)."""
        self._maps.pop(info, None)
        self._deferred.pop(info, None)

    def objects(self) -> Iterator[Any]:
        """Every mapped object, deferred ones included."""
        for mapping in self._maps.values():
            yield from mapping.values()
        for _keys, objs in self._deferred.values():
            yield from objs

    def clear(self) -> None:
        self._maps.clear()
        self._deferred.clear()
