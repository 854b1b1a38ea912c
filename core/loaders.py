"""Loading related objects with a query's results: one loader class per strategy.

- ``JoinedLoader`` (``query.join("author")``): many-to-one references read in the same SELECT,
  through LEFT JOINs, their columns after the root's; one statement whatever the row count.
- ``SelectInLoader`` (``query.eager("author")``): the references of a whole result loaded by
  one ``IN`` query per field (chunked under the dialect's parameter limit).

A loader never overwrites what a session holds: it fills only references still loaded as bare
keys (``Unloaded``), so an object the session already has, with unsaved changes, keeps them.
Objects are built by the query's ``materialize(info, rows)``: identity-mapped in a session,
fresh and untracked for ``database.query`` (one object per row and query, shared by every
object that refers to it). Callers: ``core.query``. What it leaves out: SQL text
(``core.sql``), lazy loading of one reference on first access (``core.entity``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from core.entity import EntityInfo, FieldInfo, Unloaded
from core.errors import ValidationError
from core.paths import resolve
from core.sql import Scope

__all__ = ["JoinedLoader", "SelectInLoader", "reference_chain"]

#: ``materialize(info, rows) -> objects``: rows holding exactly ``info``'s columns.
Materialize = Callable[[EntityInfo, Sequence[Sequence[Any]]], list[Any]]


def reference_chain(info: EntityInfo, path: str, what: str) -> tuple[FieldInfo, ...]:
    """The references a path of references (``"author"``, ``"author.org"``) walks."""
    found = resolve(info, path)
    if found.field.kind != "reference":
        raise ValidationError(
            f"{what}({path!r}): {found.owner.cls.__name__}.{found.field.name} is not a reference"
        )
    return (*found.references, found.field)


def _fill(owners: Sequence[Any], f: FieldInfo, by_key: dict[Any, Any]) -> None:
    """Set ``f`` on each owner still holding a bare key to the loaded object of that key."""
    name = f.name
    for o in owners:
        v = o.__dict__.get(name)
        if type(v) is Unloaded:
            target = by_key.get(v.pk)
            if target is not None:
                o.__dict__[name] = target


class JoinedLoader:
    """Many-to-one references loaded in the query's own SELECT (``query.join``).

    Each distinct chain of references (``author``, ``author.org``...) is one LEFT JOIN and
    one group of columns after the root's; a row whose reference is NULL has NULLs there.
    """

    def __init__(self, root: EntityInfo, paths: Sequence[str]) -> None:
        self.root = root
        #: The chains to load, parents before children: ``("author",), ("author", "org")``.
        self.chains: list[tuple[FieldInfo, ...]] = []
        for path in paths:
            chain = reference_chain(root, path, "join")
            for i in range(1, len(chain) + 1):
                if chain[:i] not in self.chains:
                    self.chains.append(chain[:i])

    def columns(self, scope: Scope) -> list[str]:
        """The joined columns to select after the root's (joins are added to ``scope``)."""
        q = scope.dialect.quote
        out: list[str] = []
        for chain in self.chains:
            alias = scope.join(chain)
            target = chain[-1].target
            assert target is not None
            out.extend(f"{alias}.{q(c)}" for c in target.column_names)
        return out

    def load(self, rows: Sequence[Sequence[Any]], roots: list[Any], make: Materialize) -> None:
        """Build the joined objects of ``rows`` and set them on ``roots`` (one per row)."""
        offset = len(self.root.column_names)
        loaded: dict[tuple[FieldInfo, ...], list[Any]] = {(): roots}
        for chain in self.chains:
            target = chain[-1].target
            assert target is not None
            width = len(target.column_names)
            pk_at = offset + target.primary_key[0].position
            seen: dict[Any, Sequence[Any]] = {}
            for row in rows:
                key = row[pk_at]
                if key is not None and key not in seen:
                    seen[key] = row[offset : offset + width]
            objs = make(target, list(seen.values()))
            loaded[chain] = objs
            _fill(loaded[chain[:-1]], chain[-1], {target.pk_of(o): o for o in objs})
            offset += width


class SelectInLoader:
    """The references of a whole result, one ``IN`` query per field (``query.eager``)."""

    def __init__(self, root: EntityInfo, name: str) -> None:
        self.root = root
        self.field = reference_chain(root, name, "eager")[-1]
        if "." in name:
            raise ValidationError(f"eager({name!r}): eager loads fields of {root.cls.__name__}")

    def load(
        self, objs: Sequence[Any], fetch: Callable[[EntityInfo, list[Any]], list[Any]]
    ) -> None:
        """Load the referenced objects that ``objs`` hold as bare keys; ``fetch(info, keys)``
        returns the objects of ``info`` with those keys (one statement per chunk)."""
        name = self.field.name
        target = self.field.target
        assert target is not None
        wanted = {v.pk for o in objs if type(v := o.__dict__.get(name)) is Unloaded}
        if not wanted:
            return
        by_key = {target.pk_of(o): o for o in fetch(target, list(wanted))}
        _fill(objs, self.field, by_key)
