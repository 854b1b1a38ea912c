"""Relations: what a ``BackReference`` collection means, resolved against the model.

``core.entity`` reads a collection field (``posts: Annotated[list["Post"], BackReference]``),
finds the entity classes it names (the target, and the pivot of ``via=``), and calls
``resolve`` here, which picks the reference fields that carry the relation and returns a
``RelationInfo``: one-to-many through the target's ``Reference`` to the owner, or many-to-many
through a pivot entity's two ``Reference`` fields. Ambiguous or missing references are a
``ModelError`` naming both classes. Each resolved relation is also listed on the reference
fields that feed it (``FieldInfo.relations``), which is how the session finds the loaded
collections to keep in step when a reference changes.

Callers: ``core.entity`` (at decoration, or when a class named further down is first used),
and, through ``EntityInfo.relations``, the session, loaders, migrate and the REPL. What it
leaves out: reading annotations (``core.entity``), collections in memory
(``core.collection``), loading and storing (the session and the query).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from core.errors import ModelError
from core.types import BackReferenceSpec

if TYPE_CHECKING:
    from core.entity import EntityInfo, FieldInfo

__all__ = ["MANY_TO_MANY", "ONE_TO_MANY", "RelationInfo", "resolve"]

ONE_TO_MANY = "one-to-many"
MANY_TO_MANY = "many-to-many"


class RelationInfo:
    """A resolved collection field (``EntityInfo.relations[name]``).

    - ``name``: the collection's field name on ``owner``; ``collection_type``: list or set.
    - ``owner``: the entity that declares the collection; ``target``: the entity of its items.
    - ``kind``: ``"one-to-many"`` or ``"many-to-many"``.
    - one-to-many: ``reference`` is the target's ``Reference`` field pointing at the owner
      (``Post.author`` for ``Author.posts``): an item belongs to the owner whose key it holds.
    - many-to-many: ``pivot`` is the pivot entity, ``pivot_owner`` its ``Reference`` to the
      owner and ``pivot_target`` its ``Reference`` to the target (``PostTag.post`` and
      ``PostTag.tag`` for ``Post.tags``): each pivot row links one owner to one item.
    - ``mirror``: the collection declared on the other side over the same link, if any
      (``Tag.posts`` for ``Post.tags``).
    """

    __slots__ = (
        "collection_type",
        "kind",
        "name",
        "owner",
        "pivot",
        "pivot_owner",
        "pivot_target",
        "quick",
        "reference",
        "target",
    )

    def __init__(
        self,
        owner: EntityInfo,
        name: str,
        target: EntityInfo,
        collection_type: type,
        *,
        reference: FieldInfo | None = None,
        pivot: EntityInfo | None = None,
        pivot_owner: FieldInfo | None = None,
        pivot_target: FieldInfo | None = None,
    ) -> None:
        self.owner = owner
        self.name = name
        self.target = target
        self.collection_type = collection_type
        self.kind = MANY_TO_MANY if pivot is not None else ONE_TO_MANY
        self.reference = reference
        self.pivot = pivot
        self.pivot_owner = pivot_owner
        self.pivot_target = pivot_target
        #: ``core.collection``'s own: what its quick path for a move needs, when it applies
        #: (None: it does not; False: not known yet).
        self.quick: tuple[Any, ...] | Literal[False] | None = False

    def __repr__(self) -> str:
        head = f"<RelationInfo {self.label}: {self.kind} {self.target.cls.__name__}"
        if self.pivot is not None:
            return f"{head} via {self.pivot.cls.__name__}>"
        assert self.reference is not None
        return f"{head}.{self.reference.name}>"

    @property
    def many_to_many(self) -> bool:
        return self.pivot is not None

    @property
    def label(self) -> str:
        """``Author.posts``: how messages name the collection."""
        return f"{self.owner.cls.__name__}.{self.name}"

    @property
    def mirror(self) -> RelationInfo | None:
        """The target's collection over the same link (many-to-many only), if declared."""
        if self.pivot is None:
            return None
        for other in self.target.relations.values():
            if (
                other.pivot is self.pivot
                and other.pivot_owner is self.pivot_target
                and other.pivot_target is self.pivot_owner
            ):
                return other
        return None


def _pick(
    candidates: list[FieldInfo], mapped_by: str | None, where: str, holder: str, to: str
) -> FieldInfo:
    """The one reference among ``candidates`` (``holder``'s references to ``to``)."""
    names = [f.name for f in candidates]
    if mapped_by is not None:
        for f in candidates:
            if f.name == mapped_by:
                return f
        listed = ", ".join(names) or "none"
        raise ModelError(
            f"{where}: BackReference(mapped_by={mapped_by!r}) names no Reference of {holder} "
            f"to {to}; its references to {to}: {listed}"
        )
    if not candidates:
        raise ModelError(
            f"{where}: {holder} has no Reference to {to}; give {holder} a field such as "
            f"Annotated[{to}, Reference], or use BackReference(via=...) for many-to-many"
        )
    if len(candidates) > 1:
        raise ModelError(
            f"{where} is ambiguous: {holder} has several references to {to} "
            f"({', '.join(names)}); pick one with BackReference(mapped_by={names[0]!r})"
        )
    return candidates[0]


def _references_to(holder: EntityInfo, to: EntityInfo) -> list[FieldInfo]:
    return [f for f in holder.references if f.target is to]


def resolve(
    owner: EntityInfo,
    name: str,
    target: EntityInfo,
    collection_type: type,
    spec: BackReferenceSpec,
    pivot: EntityInfo | None,
) -> RelationInfo:
    """The relation of ``owner.name`` (a collection of ``target``), or a ``ModelError``."""
    where = f"{owner.cls.__name__}.{name}"
    owner_name = owner.cls.__name__
    target_name = target.cls.__name__
    if pivot is None:
        ref = _pick(_references_to(target, owner), spec.mapped_by, where, target_name, owner_name)
        return RelationInfo(owner, name, target, collection_type, reference=ref)
    pivot_name = pivot.cls.__name__
    if pivot is owner or pivot is target:
        raise ModelError(
            f"{where}: BackReference(via={pivot_name}) needs a pivot entity of its own, "
            f"not {pivot_name} itself"
        )
    local = _pick(_references_to(pivot, owner), spec.mapped_by, where, pivot_name, owner_name)
    remote_candidates = [f for f in _references_to(pivot, target) if f is not local]
    if not remote_candidates:
        raise ModelError(
            f"{where}: the pivot {pivot_name} has no Reference to {target_name} besides "
            f"{local.name!r}; give {pivot_name} a field Annotated[{target_name}, Reference]"
        )
    if len(remote_candidates) > 1:
        listed = ", ".join(f.name for f in remote_candidates)
        raise ModelError(
            f"{where} is ambiguous: the pivot {pivot_name} has several references to "
            f"{target_name} ({listed}) besides {local.name!r}; give the pivot one reference "
            "to each side"
        )
    remote = remote_candidates[0]
    return RelationInfo(
        owner,
        name,
        target,
        collection_type,
        pivot=pivot,
        pivot_owner=local,
        pivot_target=remote,
    )


def link(relation: RelationInfo) -> None:
    """List ``relation`` on the reference fields that feed it (``FieldInfo.relations``)."""
    fields: list[Any] = [relation.reference] if relation.pivot is None else [relation.pivot_owner]
    for f in fields:
        if relation not in f.relations:
            f.relations = (*f.relations, relation)
            for fed in f.relations:  # (whether core.collection's quick path applies: anew)
                fed.quick = False
