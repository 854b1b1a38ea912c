"""Dotted field paths through relations: ``"author.name"``, ``"author.org.name"``.

``resolve(info, "author.name")`` checks a path against the model and says what it goes
through: the many-to-one references, in order, and the field it ends on. The names come only
from the model, so a path can never carry SQL. Callers: ``core.sql`` (filters, ordering and
joins compiled through references), ``core.query`` (checks at build time), ``ormcli``
(completion). What it leaves out: SQL text and loading.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.entity import EntityInfo, FieldInfo
from core.errors import UnknownFieldError, ValidationError

__all__ = ["Path", "resolve"]


@dataclass(frozen=True, slots=True)
class Path:
    """A checked path: the references it walks (many-to-one, in order) and its last field."""

    text: str
    root: EntityInfo
    references: tuple[FieldInfo, ...]
    field: FieldInfo

    @property
    def owner(self) -> EntityInfo:
        """The entity whose field the path ends on."""
        if not self.references:
            return self.root
        target = self.references[-1].target
        assert target is not None
        return target


def resolve(info: EntityInfo, path: str) -> Path:
    """Check ``path`` (a field name, or references then a field) against ``info``'s model."""
    names = path.split(".")
    current = info
    references: list[FieldInfo] = []
    for i, name in enumerate(names):
        try:
            f = current.field(name)
        except UnknownFieldError as exc:
            if not references:
                raise
            walked = ".".join(names[:i])
            raise UnknownFieldError(f"in the path {path!r} (through {walked}): {exc}") from None
        if i == len(names) - 1:
            return Path(path, info, tuple(references), f)
        if f.kind != "reference":
            raise ValidationError(
                f"{current.cls.__name__}.{name} is not a reference, so the path {path!r} cannot "
                "go through it; a path walks references, then names a field"
            )
        target = f.target
        assert target is not None
        references.append(f)
        current = target
    raise ValidationError(f"empty field path {path!r}")  # pragma: no cover - split gives one
