"""Upsert: "insert this row, or update the row with the same key", staged in a session.

``session.upsert(*objs, on=..., update=...)`` stages objects with an ``UpsertSpec``: the
conflict target ``on`` (the primary key, a ``Unique`` field, or the fields of a unique
``@entity.index``) and the fields the update branch writes (``update``; by default every field
but the key, the ``on`` fields and the ``Version``). This module checks a spec against the model
and an object against its spec when they are staged, and names the fields a commit reads back
(``read_back``: generated keys, the version, and fields the update branch keeps). Planning is
``core.unitofwork`` (``UpsertStep``), SQL ``core.sql.upsert_sql``, execution ``core.persist``,
and ``core.session`` applies the rows read back after COMMIT.

Callers: ``core.session``. What it leaves out: collections (an upsert writes columns; the
loaded collections its references feed are reloaded on their next read) and entity
before-hooks (the session cannot know which branch a row will take).
"""

from __future__ import annotations

from typing import Any

from core.dialects.base import Dialect
from core.entity import EntityInfo
from core.errors import SessionError
from core.records import Record, init_member
from core.types import MISSING

__all__ = ["UpsertSpec", "check_object", "spec_for"]


class UpsertSpec(Record):
    """How one group of staged upserts is written: conflict target and update branch."""

    __slots__ = ("entity", "on", "update")
    entity: EntityInfo
    #: The conflict target's field names, in declaration order.
    on: tuple[str, ...]
    #: Fields the update branch sets to the staged values (never the key, ``on`` or version).
    update: tuple[str, ...]

    def __init__(self, entity: EntityInfo, on: tuple[str, ...], update: tuple[str, ...]) -> None:
        init_member(self, "entity", entity)
        init_member(self, "on", on)
        init_member(self, "update", update)

    def read_back(self) -> tuple[str, ...]:
        """Fields whose stored value a commit reads back into the object: the ``on`` fields
        first (to match rows to objects), then the key, the version, and every field the
        update branch leaves as it is stored."""
        info = self.entity
        rest = [f.name for f in info.fields if f.name not in self.on and f.name not in self.update]
        return (*self.on, *rest)

    def describe(self) -> str:
        return f"{self.entity.cls.__name__} on {', '.join(self.on)}"


def _unique_sets(info: EntityInfo) -> list[frozenset[str]]:
    sets = [frozenset(f.name for f in info.primary_key)]
    sets += [frozenset((f.name,)) for f in info.fields if f.unique]
    sets += [frozenset(fields) for fields, unique, _ in info.indexes if unique]
    return sets


def spec_for(
    info: EntityInfo,
    on: str | tuple[str, ...] | list[str] | None,
    update: str | tuple[str, ...] | list[str] | None,
    dialect: Dialect,
) -> UpsertSpec:
    """The spec of ``upsert(..., on=, update=)`` for ``info``; a ``SessionError`` (or
    ``UnknownFieldError``) naming entity and fields when it cannot be written."""
    name = info.cls.__name__
    if isinstance(on, str):
        on = (on,)
    if isinstance(update, str):
        update = (update,)
    names = tuple(f.name for f in info.primary_key) if not on else tuple(on)
    for n in names:
        info.field(n)  # UnknownFieldError names the field and lists the known ones
    if len(set(names)) != len(names):
        raise SessionError(f"cannot upsert {name}: on= names a field twice ({', '.join(names)})")
    if frozenset(names) not in _unique_sets(info):
        raise SessionError(
            f"cannot upsert {name} on {', '.join(names)}: no primary key or unique constraint "
            "covers exactly those fields; name the key, a Unique field, or the fields of an "
            "@entity.index(..., unique=True)"
        )
    for n in names:
        f = info.field(n)
        kind = f.kind
        if kind == "reference":
            assert f.target is not None
            kind = f.target.primary_key[0].kind
        if kind not in dialect.returning_exact_kinds:
            raise SessionError(
                f"cannot upsert {name} on {n}: {dialect.display_name} does not give a "
                f"{f.type_label} value back exactly as sent, so rows cannot be matched to objects"
            )
    on_set = set(names)
    ordered_on = tuple(f.name for f in info.fields if f.name in on_set)
    version = info.version_field
    if update is None:
        written = tuple(
            f.name
            for f in info.fields
            if not f.primary_key and f.name not in on_set and f is not version
        )
    else:
        wanted = set(update)
        for n in wanted:
            f = info.field(n)
            if f.primary_key:
                raise SessionError(
                    f"cannot upsert {name}: update= names the primary key {n!r}, which an "
                    "update never changes"
                )
            if f is version:
                raise SessionError(
                    f"cannot upsert {name}: update= names the Version field {n!r}; the session "
                    "sets it (one higher than stored on the update branch)"
                )
        written = tuple(f.name for f in info.fields if f.name in wanted and f.name not in on_set)
    return UpsertSpec(info, ordered_on, written)


def check_object(spec: UpsertSpec, obj: Any) -> None:
    """Every ``on`` field of ``obj`` must hold a value: rows are matched to objects by it (a
    row without one would always be inserted: use ``session.add``)."""
    info = spec.entity
    d = obj.__dict__
    for n in spec.on:
        f = info.field(n)
        v = d.get(n, MISSING)
        if v is MISSING or v is None or (f.autoincrement and v == 0):
            raise SessionError(
                f"cannot upsert {info.describe(obj)}: its {n} holds no value, and an upsert "
                f"on {', '.join(spec.on)} finds its row by it; set it, or stage the object with "
                "session.add() to insert it"
            )
