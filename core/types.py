"""Markers that go in ``Annotated[...]`` and the ``field()`` default helper.

Callers: model files (``from core import PrimaryKey, ...``) and ``core.entity``, which reads the
markers when a class is decorated. What it leaves out: what the markers mean for storage (that is
``core.entity`` and the dialects).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core.records import Record, init_member

__all__ = [
    "MISSING",
    "AutoIncrement",
    "Aware",
    "BackReference",
    "BackReferenceSpec",
    "Check",
    "FieldDefault",
    "Index",
    "MaxLength",
    "NoIndex",
    "PrimaryKey",
    "Reference",
    "ReferenceSpec",
    "RenamedFrom",
    "Unique",
    "Version",
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
#: Optimistic locking: ``version: Annotated[int, Version] = 1`` (see ``docs/session.md``).
Version = Marker("Version")
Index = Marker("Index")
Aware = Marker("Aware")
#: On a ``Reference`` field: no index on its column (migrate indexes reference columns by default).
NoIndex = Marker("NoIndex")

#: What ``Reference(on_delete=...)`` accepts: the foreign key's ``ON DELETE`` rule.
ON_DELETE_RULES = ("restrict", "cascade", "set null")
#: What ``Reference(orphans=...)`` accepts (None: a child taken out of a collection gets None).
ORPHAN_RULES = (None, "delete")


class ReferenceSpec(Marker):
    """The ``Reference`` marker (many-to-one), bare or called with options.

    ``on_delete``: what the database does to referring rows when the referenced row is
    deleted (``"restrict"``, the default, refuses; ``"cascade"`` deletes them; ``"set null"``
    clears the reference, which must then be nullable); the session applies the same rule to
    loaded objects after commit. ``orphans="delete"``: a child taken out of a collection
    mapped by this reference is removed instead of getting ``None``.
    """

    __slots__ = ("on_delete", "orphans")

    def __init__(self, on_delete: str = "restrict", orphans: str | None = None) -> None:
        super().__init__("Reference")
        if on_delete not in ON_DELETE_RULES:
            raise ValueError(
                f"Reference(on_delete=...) takes 'restrict', 'cascade' or 'set null', "
                f"not {on_delete!r}"
            )
        if orphans not in ORPHAN_RULES:
            raise ValueError(f"Reference(orphans=...) takes None or 'delete', not {orphans!r}")
        self.on_delete = on_delete
        self.orphans = orphans

    def __call__(self, *, on_delete: str = "restrict", orphans: str | None = None) -> ReferenceSpec:
        return ReferenceSpec(on_delete, orphans)

    def __repr__(self) -> str:
        if self.on_delete == "restrict" and self.orphans is None:
            return "Reference"
        extra = f", orphans={self.orphans!r}" if self.orphans else ""
        return f"Reference(on_delete={self.on_delete!r}{extra})"


class BackReferenceSpec(Marker):
    """The ``BackReference`` marker: a collection, bare or called with options.

    ``Annotated[list["Post"], BackReference]`` on ``Author``: the posts whose ``Reference``
    points at this author (one-to-many). ``mapped_by="author"`` names that reference when the
    target has several to this entity. ``via=PostTag`` (the class, or its name as a string for
    a class defined further down): many-to-many through that pivot entity, whose two
    ``Reference`` fields point at both sides (``mapped_by`` then names the pivot's reference
    to this entity when it has several). Not a column.
    """

    __slots__ = ("mapped_by", "via")

    def __init__(self, mapped_by: str | None = None, via: type | str | None = None) -> None:
        super().__init__("BackReference")
        if mapped_by is not None and not isinstance(mapped_by, str):
            raise ValueError(f"BackReference(mapped_by=...) takes a field name, not {mapped_by!r}")
        if via is not None and not isinstance(via, type | str):
            raise ValueError(
                f"BackReference(via=...) takes an entity class or its name, not {via!r}"
            )
        self.mapped_by = mapped_by
        self.via = via

    def __call__(
        self, *, mapped_by: str | None = None, via: type | str | None = None
    ) -> BackReferenceSpec:
        return BackReferenceSpec(mapped_by, via)

    def __repr__(self) -> str:
        parts = []
        if self.mapped_by is not None:
            parts.append(f"mapped_by={self.mapped_by!r}")
        if self.via is not None:
            via = self.via if isinstance(self.via, str) else self.via.__name__
            parts.append(f"via={via!r}" if isinstance(self.via, str) else f"via={via}")
        return f"BackReference({', '.join(parts)})" if parts else "BackReference"


#: ``Annotated[Author, Reference]`` or ``Annotated[Author, Reference(on_delete="cascade")]``.
Reference = ReferenceSpec()
#: ``Annotated[list["Post"], BackReference]`` or ``BackReference(mapped_by=..., via=...)``.
BackReference = BackReferenceSpec()


class MaxLength(Record):
    """``Annotated[str, MaxLength(80)]``: the column holds at most ``length`` characters."""

    __slots__ = ("length",)
    length: int

    def __init__(self, length: int) -> None:
        if not isinstance(length, int) or length <= 0:
            raise ValueError(f"MaxLength takes a positive int, not {length!r}")
        init_member(self, "length", length)


class Check(Record):
    """``Annotated[int, Check("age >= 0")]``: a CHECK constraint (SQL written by the model's
    author, naming columns as they are; the same text must run on every backend used)."""

    __slots__ = ("expression",)
    expression: str

    def __init__(self, expression: str) -> None:
        if not isinstance(expression, str) or not expression.strip():
            raise ValueError(f"Check takes a SQL expression as text, not {expression!r}")
        init_member(self, "expression", expression)


class RenamedFrom(Record):
    """``Annotated[str, RenamedFrom("old")]``: migrate renames the column ``old`` (data kept)."""

    __slots__ = ("name",)
    name: str

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"RenamedFrom takes the old field name, not {name!r}")
        init_member(self, "name", name)


class FieldDefault(Record):
    """What ``field(default=..., default_factory=...)`` returns; read by ``core.entity``."""

    __slots__ = ("default", "default_factory")
    default: Any
    default_factory: Callable[[], Any] | None

    def __init__(
        self, default: Any = MISSING, default_factory: Callable[[], Any] | None = None
    ) -> None:
        init_member(self, "default", default)
        init_member(self, "default_factory", default_factory)


def field(*, default: Any = MISSING, default_factory: Callable[[], Any] | None = None) -> Any:
    """Give a field a default value or a factory called once per new object.

    >>> tags: list[str] = field(default_factory=list)
    """
    if default is not MISSING and default_factory is not None:
        raise ValueError("field() takes default or default_factory, not both")
    return FieldDefault(default, default_factory)
