"""Dotted field paths through relations: ``"author.name"``, ``"author.org.name"``, ``"posts"``.

``resolve(info, "author.name")`` checks a path that ends on a field: the many-to-one
references it walks, in order, and the field. ``resolve_collection(info, "author.posts")``
checks a path that ends on a collection (``BackReference``), for ``any()`` / ``none()``.
``resolve_relations(info, "posts.tags")`` checks a path of relations only (references and
collections), for loading. The names come only from the model, so a path never carries SQL.
Callers: ``core.sql`` (filters, ordering and joins through relations), ``core.query`` and
``core.loaders`` (checks at build time), ``ormcli`` (completion). What it leaves out: SQL text
and loading.
"""

from __future__ import annotations

from core.entity import EntityInfo, FieldInfo
from core.errors import UnknownFieldError, ValidationError
from core.records import Record, init_member
from core.relations import RelationInfo

__all__ = ["Path", "Step", "resolve", "resolve_collection", "resolve_relations", "step_target"]

#: One step of a path of relations: a reference field (many-to-one) or a collection.
Step = FieldInfo | RelationInfo


class Path(Record):
    """A checked path: the references it walks (many-to-one, in order) and its last field."""

    __slots__ = ("field", "references", "root", "text")
    text: str
    root: EntityInfo
    references: tuple[FieldInfo, ...]
    field: FieldInfo

    def __init__(
        self, text: str, root: EntityInfo, references: tuple[FieldInfo, ...], field: FieldInfo
    ) -> None:
        init_member(self, "text", text)
        init_member(self, "root", root)
        init_member(self, "references", references)
        init_member(self, "field", field)

    @property
    def owner(self) -> EntityInfo:
        """The entity whose field the path ends on."""
        if not self.references:
            return self.root
        return step_target(self.references[-1])


def step_target(step: Step) -> EntityInfo:
    """The entity a step leads to."""
    if isinstance(step, RelationInfo):
        return step.target
    target = step.target
    assert target is not None
    return target


def _lookup(info: EntityInfo, name: str) -> Step:
    if info.has_field(name):
        return info.field(name)
    relation = info.relations.get(name)
    if relation is not None:
        return relation
    known = ", ".join([f.name for f in info.fields] + list(info.relations))
    raise UnknownFieldError(f"{info.cls.__name__} has no field {name!r}; its fields are: {known}")


def _walk(info: EntityInfo, path: str) -> list[Step]:
    """Every step of ``path`` (fields and collections), each checked to lead on."""
    names = path.split(".")
    current = info
    steps: list[Step] = []
    for i, name in enumerate(names):
        try:
            step = _lookup(current, name)
        except UnknownFieldError as exc:
            if not steps:
                raise
            raise UnknownFieldError(
                f"in the path {path!r} (through {'.'.join(names[:i])}): {exc}"
            ) from None
        steps.append(step)
        if i < len(names) - 1:
            if isinstance(step, FieldInfo) and step.kind != "reference":
                raise ValidationError(
                    f"{current.cls.__name__}.{name} is not a reference, so the path {path!r} "
                    "cannot go through it; a path walks references, then names a field"
                )
            current = step_target(step)
    return steps


def _collection_hint(steps: list[Step], relation: RelationInfo, path: str) -> ValidationError:
    head = ".".join(path.split(".")[: steps.index(relation) + 1])
    return ValidationError(
        f"{relation.label} is a collection, so {path!r} names no single value; test its "
        f"items with F.{head}.any(...) or F.{head}.none(...)"
    )


def resolve(info: EntityInfo, path: str) -> Path:
    """Check ``path`` (a field name, or references then a field) against ``info``'s model."""
    steps = _walk(info, path)
    for step in steps:
        if isinstance(step, RelationInfo):
            raise _collection_hint(steps, step, path)
    fields = [s for s in steps if isinstance(s, FieldInfo)]
    return Path(path, info, tuple(fields[:-1]), fields[-1])


def resolve_collection(info: EntityInfo, path: str) -> tuple[tuple[FieldInfo, ...], RelationInfo]:
    """Check ``path`` (references, then a collection): the references and the collection."""
    steps = _walk(info, path)
    *head, last = steps
    for step in head:
        if isinstance(step, RelationInfo):
            raise _collection_hint(steps, step, path)
    if not isinstance(last, RelationInfo):
        raise ValidationError(
            f"{path!r} is the field {last.entity}.{last.name}, not a collection: any() and "
            "none() test the items of a BackReference collection"
        )
    return tuple(s for s in head if isinstance(s, FieldInfo)), last


def resolve_relations(info: EntityInfo, path: str, what: str) -> list[Step]:
    """Check ``path`` (references and collections only, as ``"posts.tags"``), for ``what``."""
    steps = _walk(info, path)
    for step in steps:
        if isinstance(step, FieldInfo) and step.kind != "reference":
            raise ValidationError(
                f"{what}({path!r}): {step.entity}.{step.name} is neither a reference nor a "
                "collection"
            )
    return steps
