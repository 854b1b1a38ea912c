"""Collections in memory: the class attribute of a ``BackReference`` field.

A collection field (``posts: Annotated[list["Post"], BackReference]``) is not a column: its
value lives in the object's ``__dict__`` once set or loaded. Callers: ``core.entity`` puts a
``CollectionAttribute`` on the class for each collection field. What it leaves out: which
items belong in a collection (``core.relations`` says how, the session loads them).
"""

from __future__ import annotations

from typing import Any

from core.errors import SessionError

__all__ = ["CollectionAttribute"]


class CollectionAttribute:
    """Class attribute of a collection field: the collection held in the object's ``__dict__``.

    A new object's collection starts empty; assigning takes a copy of the items given.
    """

    __slots__ = ("collection_type", "name")

    def __init__(self, name: str, collection_type: type) -> None:
        self.name = name
        self.collection_type = collection_type

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        d = obj.__dict__
        value = d.get(self.name)
        if value is None:
            from core.entity import entity_info

            info = entity_info(obj)
            if info.has_pk(obj):
                raise SessionError(
                    f"{info.describe(obj)}: the collection {self.name!r} is not loaded"
                )
            value = d[self.name] = self.collection_type()
        return value

    def __set__(self, obj: Any, value: Any) -> None:
        obj.__dict__[self.name] = self.collection_type(value)
