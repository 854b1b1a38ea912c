"""The unit of work, as pure planning: staged session state -> change set -> ordered batches.

Two stages, neither of which touches a database:

1. ``collect`` reads what a session staged (new objects, the old values its ``__setattr__``
   hook recorded, JSON snapshots, removals) and returns a ``ChangeSet`` of inserts, updates
   with ``{field: (old, new)}``, and deletes. Only objects that were touched are visited, plus
   (a read of a JSON field's list or dict counts as a touch: it may be edited in place).
   The change set is built grouped (changed objects by entity and changed columns, in one
   generated loop per entity: ``EntityCodec.collect``); its flat lists are made on demand. For
   a commit, relation moves come first (``EntityCodec.collect_moves``: objects whose only
   change is a reference moved between loaded owners, their UPDATE's rows made in the same
   pass, ``UpdateGroup.rows``); the generic loop takes the rest.
2. ``plan`` orders the change set and cuts it into statements: inserts parents-first, each
   table's rows in the order they were added (a cycle among new rows through a nullable
   reference is broken: those references are inserted as NULL and set by one UPDATE per
   entity and field right after the inserts, a "post-update"; a cycle through non-nullable
   references only is a ``CycleError``), then staged upserts (``UpsertStep``: one
   ``INSERT ... ON CONFLICT DO UPDATE`` / ``ON DUPLICATE KEY UPDATE`` per chunk of a group,
   parents' groups first; groups that new rows refer to go before the inserts), then updates
   grouped by the set of changed columns,
   then deletes children-first (removed rows of entities that reference each other: the
   cycle's nullable references set to NULL first), each chunked under the dialect's
   parameter limit and, where the driver puts the values into the statement's text (MySQL),
   under the server's statement size.

Callers: ``core.session`` (``changes``, ``pending_sql``, ``commit``) and ``core.persist``, which
runs a plan. What it leaves out: executing statements and changing objects after a commit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from core.codec import EntityCodec, UpdateGroup, same_reference
from core.dialects.base import Dialect, json_dumps_canonical
from core.entity import (
    EntityInfo,
    FieldInfo,
    Unloaded,
    _no_loader,
    _raw_value,
    entity_info,
    unloaded_key,
)
from core.errors import CycleError, SessionError, ValidationError
from core.records import Struct
from core.relations import RelationInfo
from core.sql import (
    delete_array_sql,
    delete_sql,
    insert_array_sql,
    insert_sql,
    update_sql,
    upsert_select_sql,
    upsert_sql,
)
from core.types import MISSING
from core.upsert import UpsertSpec

if TYPE_CHECKING:
    from core.session import Session

__all__ = [
    "ChangeSet",
    "CollectionEdit",
    "Delete",
    "DeleteStep",
    "Insert",
    "InsertStep",
    "PostUpdateStep",
    "Update",
    "UpdateGroup",
    "UpdateStep",
    "Upsert",
    "UpsertStep",
    "VersionedStep",
    "collect",
    "plan",
]


# -- the change set ------------------------------------------------------------------------


class Insert(Struct):
    """A new object to insert; ``values`` are read from it when asked for."""

    __slots__ = ("entity", "obj")
    entity: EntityInfo
    obj: Any

    def __init__(self, entity: EntityInfo, obj: Any) -> None:
        self.entity = entity
        self.obj = obj

    @property
    def values(self) -> dict[str, Any]:
        """The values it will be inserted with (references as objects)."""
        return {f.name: current_value(self.obj, f) for f in self.entity.fields}


class Upsert(Struct):
    """A staged upsert: ``obj`` to insert, or to write into the row it conflicts with on
    ``on`` (the fields ``update``); ``values`` are read from it when asked for."""

    __slots__ = ("entity", "obj", "on", "update")
    entity: EntityInfo
    obj: Any
    on: tuple[str, ...]
    update: tuple[str, ...]

    def __init__(
        self, entity: EntityInfo, obj: Any, on: tuple[str, ...], update: tuple[str, ...]
    ) -> None:
        self.entity = entity
        self.obj = obj
        self.on = on
        self.update = update

    @property
    def values(self) -> dict[str, Any]:
        """The values it will be inserted with (references as objects)."""
        return {f.name: current_value(self.obj, f) for f in self.entity.fields}


class Update(Struct):
    """A loaded object whose fields changed: ``{field: (old, new)}``."""

    __slots__ = ("changes", "entity", "obj", "pk")
    entity: EntityInfo
    obj: Any
    pk: Any
    changes: dict[str, tuple[Any, Any]]

    def __init__(
        self, entity: EntityInfo, obj: Any, pk: Any, changes: dict[str, tuple[Any, Any]]
    ) -> None:
        self.entity = entity
        self.obj = obj
        self.pk = pk
        self.changes = changes


class CollectionEdit(Struct):
    """Items joining and leaving one owner's collection: ``owner`` is the object (or, when it
    is not loaded, a bare key: ``core.entity.Unloaded``), ``relation`` the collection."""

    __slots__ = ("added", "owner", "relation", "removed")
    owner: Any
    relation: RelationInfo
    added: list[Any]
    removed: list[Any]

    def __init__(
        self, owner: Any, relation: RelationInfo, added: list[Any], removed: list[Any]
    ) -> None:
        self.owner = owner
        self.relation = relation
        self.added = added
        self.removed = removed

    @property
    def name(self) -> str:
        return self.relation.name


def _owner_key(v: Any) -> Any:
    return ("key", v.target, v.pk) if type(v) is Unloaded else ("obj", id(v))


def _placeholder(
    target: EntityInfo, v: Any, lookup: Callable[[EntityInfo, Any], Any] | None = None
) -> Any:
    """A reference's value, a key made the object ``lookup`` maps for it, else an
    ``Unloaded`` placeholder (that never loads)."""
    if v is None or v is MISSING or hasattr(v, "__dict__"):
        return v
    key = unloaded_key(v)
    mapped = lookup(target, key) if lookup is not None else None
    if mapped is not None:
        return mapped
    return v if type(v) is Unloaded else Unloaded(target, key, _no_loader)


def collection_edits(cs: ChangeSet) -> list[CollectionEdit]:
    """See ``ChangeSet.collections``."""
    edits: dict[tuple[Any, str], CollectionEdit] = {}

    def note(owner: Any, rel: RelationInfo, item: Any, added: bool) -> None:
        if owner is None or owner is MISSING:
            return
        # (A bare key, as a session's load stores it: the session's object of that row, else
        # shown as a placeholder.)
        owner = _placeholder(rel.owner, owner, cs.lookup)
        if rel.pivot is not None:
            item = _placeholder(rel.target, item, cs.lookup)
        key = (_owner_key(owner), rel.label)
        edit = edits.get(key)
        if edit is None:
            edit = edits[key] = CollectionEdit(owner, rel, [], [])
        (edit.added if added else edit.removed).append(item)

    def member(obj: Any, rel: RelationInfo) -> Any:
        return obj if rel.pivot is None else current_value(obj, rel.pivot_target)  # type: ignore[arg-type]

    for ins in cs.inserts:
        for f in ins.entity.references:
            for rel in f.relations:
                note(current_value(ins.obj, f), rel, member(ins.obj, rel), True)
    for upd in cs.updates:
        for name, (old, new) in upd.changes.items():
            f = upd.entity.field(name)
            for rel in f.relations if f.kind == "reference" else ():
                note(old, rel, member(upd.obj, rel), False)
                note(new, rel, member(upd.obj, rel), True)
    for dele in cs.deletes:
        for f in dele.entity.references:
            for rel in f.relations:
                note(current_value(dele.obj, f), rel, member(dele.obj, rel), False)
    return list(edits.values())


class Delete(Struct):
    """A loaded object to delete."""

    __slots__ = ("entity", "obj", "pk")
    entity: EntityInfo
    obj: Any
    pk: Any

    def __init__(self, entity: EntityInfo, obj: Any, pk: Any) -> None:
        self.entity = entity
        self.obj = obj
        self.pk = pk


class ChangeSet:
    """What a commit would do, as data.

    Built grouped, the way ``plan`` and the session's bookkeeping consume it: ``new`` (staged
    objects in staging order), ``update_groups`` (by entity and changed columns) and
    ``delete_groups`` (by entity: objects and their keys). The flat lists ``inserts``,
    ``updates`` and ``deletes``, in the order the work was staged, are made on first use, so a
    commit of 10,000 changes builds no per-object records it does not need.
    """

    __slots__ = (
        "_batches",
        "_deletes",
        "_inserts",
        "_order",
        "_post_updates",
        "_updates",
        "_upserts",
        "delete_groups",
        "lookup",
        "new",
        "update_groups",
        "upsert_groups",
    )

    def __init__(
        self,
        new: list[Any] | None = None,
        update_groups: dict[tuple[EntityInfo, tuple[str, ...]], UpdateGroup] | None = None,
        delete_groups: dict[EntityInfo, tuple[list[Any], list[Any]]] | None = None,
        order: tuple[list[int], list[int]] = ([], []),
        upsert_groups: dict[UpsertSpec, list[Any]] | None = None,
    ) -> None:
        self.new: list[Any] = new if new is not None else []
        #: The session's identity-map lookup ``(entity, key) -> object or None``: the object a
        #: bare key stands for in ``collections`` (None: keys are shown as keys).
        self.lookup: Callable[[EntityInfo, Any], Any] | None = None
        #: Staged upserts by spec (entity, conflict target, fields updated), in staging order.
        self.upsert_groups = upsert_groups if upsert_groups is not None else {}
        self._upserts: list[Upsert] | None = None
        self.update_groups = update_groups if update_groups is not None else {}
        self.delete_groups = delete_groups if delete_groups is not None else {}
        self._order = order
        self._inserts: list[Insert] | None = None
        self._updates: list[Update] | None = None
        self._deletes: list[Delete] | None = None
        self._batches: list[tuple[EntityInfo, list[Any]]] | None = None
        self._post_updates: list[tuple[Any, FieldInfo]] = []

    def insert_batches(self) -> list[tuple[EntityInfo, list[Any]]]:
        """New objects by entity, parents before children (see ``order_inserts``)."""
        if self._batches is None:
            self._batches, self._post_updates = order_inserts(self.new)
        return self._batches

    def post_updates(self) -> list[tuple[Any, FieldInfo]]:
        """``(new object, reference field)`` pairs inserted as NULL and set right after the
        inserts, to break a cycle among new rows (see ``order_inserts``)."""
        self.insert_batches()
        return self._post_updates

    @property
    def collections(self) -> list[CollectionEdit]:
        """The collection edits these changes make, by owner and collection, in the order
        first met: items joining (``added``) and leaving (``removed``) a declared collection
        (a child's reference set or cleared, a pivot row inserted or deleted)."""
        return collection_edits(self)

    @property
    def inserts(self) -> list[Insert]:
        """New objects, in the order they were staged."""
        if self._inserts is None:
            self._inserts = [Insert(type(o).__orm_entity__, o) for o in self.new]
        return self._inserts

    @property
    def upserts(self) -> list[Upsert]:
        """Staged upserts, grouped by spec, each group in the order staged."""
        if self._upserts is None:
            self._upserts = [
                Upsert(spec.entity, o, spec.on, spec.update)
                for spec, objs in self.upsert_groups.items()
                for o in objs
            ]
        return self._upserts

    @property
    def updates(self) -> list[Update]:
        """Changed objects with ``{field: (old, new)}``, in the order they were first changed."""
        if self._updates is None:
            by_id: dict[int, Update] = {}
            for (info, _cols), g in self.update_groups.items():
                if len(g.diffs) != len(g.objs):
                    raise SessionError(
                        "this change set was collected for a commit and keeps no old values; "
                        "use session.changes()"
                    )
                for obj, pk, diff in zip(g.objs, g.pks, g.diffs, strict=True):
                    by_id[id(obj)] = Update(info, obj, pk, diff)
            self._updates = [by_id[oid] for oid in self._order[0] if oid in by_id]
        return self._updates

    @property
    def deletes(self) -> list[Delete]:
        """Removed objects, in the order they were removed."""
        if self._deletes is None:
            by_id: dict[int, Delete] = {}
            for info, (objs, pks) in self.delete_groups.items():
                for obj, pk in zip(objs, pks, strict=True):
                    by_id[id(obj)] = Delete(info, obj, pk)
            self._deletes = [by_id[oid] for oid in self._order[1] if oid in by_id]
        return self._deletes

    @property
    def empty(self) -> bool:
        return not (self.new or self.update_groups or self.delete_groups or self.upsert_groups)

    def counts(self) -> tuple[int, int, int]:
        """(added, changed, removed); staged upserts count as added."""
        return (
            len(self.new) + sum(len(objs) for objs in self.upsert_groups.values()),
            sum(len(g.objs) for g in self.update_groups.values()),
            sum(len(objs) for objs, _ in self.delete_groups.values()),
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ChangeSet):
            return NotImplemented
        return (self.inserts, self.upserts, self.updates, self.deletes) == (
            other.inserts,
            other.upserts,
            other.updates,
            other.deletes,
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        added, changed, removed = self.counts()
        return f"<ChangeSet +{added} ~{changed} -{removed}>"


def _same(f: FieldInfo, old: Any, new: Any) -> bool:
    """Whether a field still holds its old value (references compare by key or identity)."""
    if old is new:
        return True
    if f.kind == "reference":
        return same_reference(f, old, new)
    if f.kind == "json":
        return bool(json_dumps_canonical(old) == json_dumps_canonical(new))
    return type(old) is type(new) and bool(old == new)


def current_value(obj: Any, f: FieldInfo) -> Any:
    """A field's value without lazy loading (an unloaded reference stays a key: ``Unloaded``
    or bare)."""
    if f.kind == "reference":
        return obj.__dict__.get(f.name, f.default)
    return _raw_value(obj, f)


def collect(session: Session, *, for_commit: bool = False) -> ChangeSet:
    """The session's pending change set; visits only touched objects.

    ``for_commit``: record which columns changed, not the old and new values (a commit needs
    no more); the change set's ``updates`` list is then not available.
    """
    removed = session._removed
    touched = session._touched
    changed = session._changed
    codec = session.database.codec
    groups: dict[tuple[EntityInfo, tuple[str, ...]], UpdateGroup] = {}
    rest: Any = changed.items()
    moved = session._moved
    if for_commit and moved:
        # Relation moves first (``EntityCodec.collect_moves``): objects whose only change
        # is a reference moved between loaded owners, rows made in the same pass. Over every
        # change when moves are most of them, else over the hinted objects' only.
        items: Any = changed.items()
        if 2 * len(moved) < len(changed):
            items = [(oid, changed[oid]) for oid in dict.fromkeys(map(id, moved)) if oid in changed]
        same: list[Any] = []
        taken = 0
        seen: set[type] = set()
        cls: type | None = type(moved[0])
        while cls is not None:
            seen.add(cls)
            entity = entity_info(cls)
            fn = codec(entity).collect_moves
            mixed = True  # (whether records of other classes were met)
            if fn is not None:
                made, mixed = fn(items, touched, removed, same)
                for name, group in made:
                    groups[(entity, (name,))] = group
                    taken += len(group.objs)
            cls = next((t for t in map(type, moved) if t not in seen), None) if mixed else None
        taken += len(same)
        if taken == len(changed):
            rest = ()
        elif taken:
            skip = set(map(id, same))
            for group in groups.values():
                skip.update(map(id, group.objs))
            rest = [(oid, ov) for oid, ov in changed.items() if oid not in skip]
    # One pass per entity among the changed objects (usually one): the first object not
    # staged for removal names the entity; objects of others are left for the next pass.
    while rest:
        info = next(
            (type(touched[oid]).__orm_entity__ for oid, _ in rest if oid not in removed), None
        )
        if info is None:
            break
        others: list[tuple[int, dict[str, Any]]] = []
        found: dict[tuple[str, ...], UpdateGroup] = {}
        if for_commit:
            c = codec(info)
            by_mask: dict[int, UpdateGroup] = {}
            c.collect_masks(rest, touched, removed, by_mask, others, _pk_before)
            found = {c.columns_of(mask): group for mask, group in by_mask.items()}
        else:
            codec(info).collect(rest, touched, removed, found, others, _pk_before)
        for cols, group in found.items():
            known = groups.get((info, cols))
            if known is None:
                groups[(info, cols)] = group
            else:  # (relation moves of the same column: one group, rows made by ``rows``)
                known.objs.extend(group.objs)
                known.pks.extend(group.pks)
                known.rows = None
        rest = others
    deletes = _collect_deletes(session)
    order = (list(changed), list(removed)) if groups or deletes else ([], [])
    specs = session._upserts
    if not specs:
        cs = ChangeSet(list(session._new.values()), groups, deletes, order)
        cs.lookup = session._identity.lookup
        return cs
    new: list[Any] = []
    upserts: dict[UpsertSpec, list[Any]] = {}
    for oid, obj in session._new.items():
        spec = specs.get(oid)
        if spec is None:
            new.append(obj)
        else:
            upserts.setdefault(spec, []).append(obj)
    cs = ChangeSet(new, groups, deletes, order, upserts)
    cs.lookup = session._identity.lookup
    return cs


def _collect_deletes(session: Session) -> dict[EntityInfo, tuple[list[Any], list[Any]]]:
    """Removed objects by entity, with their keys (as loaded: a changed key is not used)."""
    removed = session._removed
    changed = session._changed
    deletes: dict[EntityInfo, tuple[list[Any], list[Any]]] = {}
    if not removed:
        return deletes
    objs = list(removed.values())
    classes = set(map(type, objs))
    if len(classes) == 1 and changed.keys().isdisjoint(removed):
        # The common case (one entity, keys untouched): one pass reads every key.
        info: EntityInfo = objs[0].__orm_entity__
        if info.single_pk_name is not None:
            name = info.single_pk_name
            try:
                pks = [obj.__dict__[name] for obj in objs]
            except KeyError:
                pass
            else:
                deletes[info] = (objs, pks)
                return deletes
    for oid, obj in removed.items():
        info = type(obj).__orm_entity__
        entry = deletes.get(info)
        if entry is None:
            entry = deletes[info] = ([], [])
        entry[0].append(obj)
        pk_name = info.single_pk_name
        d = obj.__dict__
        if pk_name is not None and oid not in changed and pk_name in d:
            entry[1].append(d[pk_name])
        else:
            entry[1].append(session._key_of(obj))
    return deletes


def _pk_before(info: EntityInfo, obj: Any, old_values: dict[str, Any]) -> Any:
    pk = info.primary_key
    if len(pk) == 1 and pk[0].name not in old_values and pk[0].name in obj.__dict__:
        return obj.__dict__[pk[0].name]
    for f in info.primary_key:
        if f.name in old_values and not _same(f, old_values[f.name], current_value(obj, f)):
            raise SessionError(
                f"the primary key {f.name!r} of {info.cls.__name__} "
                f"{old_values[f.name]!r} was changed; remove the object and add a new one instead"
            )
    return info.pk_of(obj)


# -- the plan ------------------------------------------------------------------------------


class InsertStep(Struct):
    """One INSERT statement: ``objs`` in the order of their parameter rows."""

    __slots__ = ("columns", "entity", "match", "objs", "returning", "row_by_row")
    entity: EntityInfo
    objs: list[Any]
    columns: tuple[str, ...]
    #: Read the generated key back: RETURNING (pk, *match_columns) or one row at a time.
    returning: tuple[str, ...]
    #: Positions (in ``columns``) whose values identify a returned row.
    match: tuple[int, ...]
    #: No RETURNING available: insert row by row and read each generated id.
    row_by_row: bool

    def __init__(
        self,
        entity: EntityInfo,
        objs: list[Any],
        columns: tuple[str, ...],
        returning: tuple[str, ...] = (),
        match: tuple[int, ...] = (),
        row_by_row: bool = False,
    ) -> None:
        self.entity = entity
        self.objs = objs
        self.columns = columns
        self.returning = returning
        self.match = match
        self.row_by_row = row_by_row

    def uses_arrays(self, dialect: Dialect) -> bool:
        return dialect.array_batches and bool(self.columns) and not self.row_by_row

    def sql(self, dialect: Dialect) -> str:
        if self.uses_arrays(dialect):
            casts = tuple(dialect.cast_type(self.entity.field(n)) for n in self.columns)
            return insert_array_sql(dialect, self.entity.table, self.columns, casts, self.returning)
        rows = 1 if self.row_by_row else len(self.objs)
        return insert_sql(dialect, self.entity.table, self.columns, rows, self.returning)


class UpdateStep(Struct):
    """UPDATEs of the same columns on one entity, sent as one batch."""

    __slots__ = ("columns", "entity", "objs", "pks", "rows")
    _hidden = ("rows",)
    entity: EntityInfo
    columns: tuple[str, ...]
    objs: list[Any]
    pks: list[Any]
    #: The parameter rows when the change set made them (``UpdateGroup.rows``), else None.
    rows: list[tuple[Any, ...]] | None

    def __init__(
        self,
        entity: EntityInfo,
        columns: tuple[str, ...],
        objs: list[Any],
        pks: list[Any],
        rows: list[tuple[Any, ...]] | None = None,
    ) -> None:
        self.entity = entity
        self.columns = columns
        self.objs = objs
        self.pks = pks
        self.rows = rows

    def sql(self, dialect: Dialect) -> str:
        pk_cols = tuple(f.column for f in self.entity.primary_key)
        return update_sql(dialect, self.entity.table, self.columns, pk_cols)


class DeleteStep(Struct):
    """One DELETE of many keys: ``pk IN (...)``, arrays (PostgreSQL), or for a composite key
    row values (MySQL) or one parameter row per object sent with executemany (SQLite)."""

    __slots__ = ("entity", "pks")
    entity: EntityInfo
    pks: list[Any]

    def __init__(self, entity: EntityInfo, pks: list[Any]) -> None:
        self.entity = entity
        self.pks = pks

    def uses_arrays(self, dialect: Dialect) -> bool:
        return dialect.array_batches

    def one_statement(self, dialect: Dialect) -> bool:
        """Whether the step is one statement (else an executemany of one-row DELETEs)."""
        return (
            len(self.entity.primary_key) == 1
            or len(self.pks) == 1
            or self.uses_arrays(dialect)
            or dialect.row_value_deletes
        )

    def sql(self, dialect: Dialect) -> str:
        pk = self.entity.primary_key
        pk_cols = tuple(f.column for f in pk)
        if self.uses_arrays(dialect):
            casts = tuple(dialect.cast_type(f) for f in pk)
            return delete_array_sql(dialect, self.entity.table, pk_cols, casts)
        return delete_sql(dialect, self.entity.table, pk_cols, len(self.pks))


class VersionedStep(Struct):
    """UPDATEs (``columns``) or, with no columns, DELETEs of an entity with a ``Version`` field,
    sent as one executemany: each row says ``AND version = ?`` (the version loaded) and an
    UPDATE sets it one higher; fewer rows matched than sent is a conflict."""

    __slots__ = ("columns", "entity", "objs", "pks")
    entity: EntityInfo
    columns: tuple[str, ...]
    objs: list[Any]
    pks: list[Any]

    def __init__(
        self, entity: EntityInfo, columns: tuple[str, ...], objs: list[Any], pks: list[Any]
    ) -> None:
        self.entity = entity
        self.columns = columns
        self.objs = objs
        self.pks = pks

    def sql(self, dialect: Dialect) -> str:
        info = self.entity
        version = info.version_field
        assert version is not None
        where = (*(f.column for f in info.primary_key), version.column)
        if self.columns:
            return update_sql(dialect, info.table, (*self.columns, version.column), where)
        q, p = dialect.quote, dialect.placeholder
        return f"DELETE FROM {q(info.table)} WHERE " + " AND ".join(f"{q(c)} = {p}" for c in where)


class PostUpdateStep(Struct):
    """Sets one reference of new rows that were inserted with NULL there (a cycle among new
    rows): one UPDATE sent for all of them (an executemany), right after the inserts. With
    ``clear``, sets it to NULL instead, on rows about to be deleted (a cycle among removed
    rows of entities that reference each other), right before the deletes."""

    __slots__ = ("clear", "entity", "field", "objs")
    entity: EntityInfo
    field: FieldInfo
    objs: list[Any]
    clear: bool

    def __init__(
        self, entity: EntityInfo, field: FieldInfo, objs: list[Any], clear: bool = False
    ) -> None:
        self.entity = entity
        self.field = field
        self.objs = objs
        self.clear = clear

    def sql(self, dialect: Dialect) -> str:
        pk_cols = tuple(f.column for f in self.entity.primary_key)
        return update_sql(dialect, self.entity.table, (self.field.column,), pk_cols)


class UpsertStep(Struct):
    """One upsert statement for ``objs`` (one spec): their ``columns`` inserted, or on a
    conflict on ``spec.on`` the ``spec.update`` fields written and the version bumped; the
    ``read`` fields come back (``RETURNING``, or where there is none a ``SELECT`` of the same
    rows by their ``on`` values, in the same transaction) to be matched to the objects by
    their ``on`` values."""

    __slots__ = ("columns", "entity", "objs", "read", "spec")
    entity: EntityInfo
    spec: UpsertSpec
    objs: list[Any]
    columns: tuple[str, ...]
    read: tuple[str, ...]

    def __init__(
        self,
        entity: EntityInfo,
        spec: UpsertSpec,
        objs: list[Any],
        columns: tuple[str, ...],
        read: tuple[str, ...],
    ) -> None:
        self.entity = entity
        self.spec = spec
        self.objs = objs
        self.columns = columns
        self.read = read

    def uses_arrays(self, dialect: Dialect) -> bool:
        return dialect.array_batches

    def returns(self, dialect: Dialect) -> bool:
        """Whether the statement itself gives the rows back (else ``select_sql`` does)."""
        return dialect.supports_returning

    def sql(self, dialect: Dialect) -> str:
        info = self.entity
        casts = None
        if self.uses_arrays(dialect):
            casts = tuple(dialect.cast_type(info.field(n)) for n in self.columns)
        version = info.version_field
        return upsert_sql(
            dialect,
            info.table,
            tuple(info.field(n).column for n in self.columns),
            len(self.objs),
            casts,
            tuple(info.field(n).column for n in self.spec.on),
            tuple(info.field(n).column for n in self.spec.update),
            version.column if version is not None else None,
            self._read_columns() if self.returns(dialect) else (),
        )

    def select_sql(self, dialect: Dialect) -> str:
        info = self.entity
        on = tuple(info.field(n).column for n in self.spec.on)
        return upsert_select_sql(dialect, info.table, self._read_columns(), on, len(self.objs))

    def _read_columns(self) -> tuple[str, ...]:
        return tuple(self.entity.field(n).column for n in self.read)


Step = InsertStep | UpdateStep | DeleteStep | PostUpdateStep | VersionedStep | UpsertStep


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    size = max(1, size)
    for i in range(0, len(items), size):
        yield items[i : i + size]


# -- statement size (dialects whose driver puts the values into the statement's text) ----------

#: Room kept under the limit for the statement's own text (table, columns, RETURNING).
_TEXT_ROOM = 64 * 1024
#: Bytes around each value: separators, parentheses, ``WHEN ... THEN`` of a CASE.
_AROUND = 16
#: Most bytes of a number, date or time (digits, sign, quotes; a datetime has 26 characters).
_SCALAR = 80


def _value_bound(f: FieldInfo) -> int | None:
    """Most bytes one value of ``f`` takes in a statement's text; None: it depends on the value.

    Text is escaped (a quote becomes two characters) and UTF-8 encoded (up to 4 bytes a
    character), so a string of n characters takes at most 4n + 2 bytes.
    """
    if f.kind == "str":
        return None if f.max_length is None else 4 * f.max_length + 2
    if f.kind in ("bytes", "json", "decimal"):  # (a Decimal may carry any number of digits)
        return None
    if f.kind == "reference":
        assert f.target is not None
        return _value_bound(f.target.primary_key[0])
    if f.kind == "enum":
        assert f.enum_type is not None
        return 4 * max((len(str(m.value)) for m in f.enum_type), default=0) + 2
    return _SCALAR


def _reference_key(f: FieldInfo, value: Any) -> Any:
    """The key a reference field's value (an object, an ``Unloaded`` or already a key) stands
    for; 0 for a new object whose key the same commit generates (a number)."""
    key = unloaded_key(value)
    if key is not None:
        return key
    target = f.target
    assert target is not None
    if not isinstance(value, target.cls):
        return value
    return target.pk_of(value) if target.has_pk(value) else 0


def _value_bytes(f: FieldInfo, codec: EntityCodec, value: Any) -> int:
    """Most bytes this value of an unbounded text, binary, JSON or decimal field takes."""
    if value is None or value is MISSING:
        return 4
    if f.kind == "json":
        value = codec.value_to_db(f, value)
    elif f.kind == "reference":
        value = _reference_key(f, value)
    if isinstance(value, str):
        return 4 * len(value) + 2
    if isinstance(value, bytes | bytearray | memoryview):
        return 2 * len(value) + 10  # _binary'...', every byte possibly escaped
    return max(_SCALAR, len(str(value)))


def _exact_bytes(
    info: EntityInfo,
    obj: Any,
    fields: list[FieldInfo],
    dialect: Dialect,
    codec: EntityCodec,
    room: int,
) -> int:
    """The bytes ``obj``'s values take in a statement, written as the driver writes them; a
    ``ValidationError`` naming the largest field when they cannot fit in any statement."""
    sizes: dict[str, int] = {}
    for f in fields:
        v = _raw_value(obj, f)
        if v is MISSING:
            v = None
        elif v is not None:
            v = _reference_key(f, v) if f.kind == "reference" else codec.value_to_db(f, v)
        size = dialect.literal_bytes(v) + _AROUND
        sizes[f.name] = sizes.get(f.name, 0) + size
    total = sum(sizes.values())
    if total > room:
        largest = max(sizes, key=lambda name: sizes[name])
        raise ValidationError(
            f"{info.describe(obj)} does not fit in one statement: its "
            f"{info.cls.__name__}.{largest} takes {sizes[largest]:,} bytes and the server "
            f"accepts {dialect.max_statement_bytes:,} a statement; raise "
            f"{dialect.statement_size_setting or 'the limit'} on the server or store less"
        )
    return total


@lru_cache(maxsize=1024)
def _bounds(
    info: EntityInfo, names: tuple[str, ...], repeat_key: int
) -> tuple[list[FieldInfo], int, tuple[FieldInfo, ...]]:
    """For ``_sized_chunks`` (worked out once per entity and columns, not per commit): the
    fields whose values a row sends, the bytes their bounded values take at most (with what
    surrounds each value), and the fields without a bound (measured value by value)."""
    fields = [info.field(n) for n in names] + list(info.primary_key) * repeat_key
    bounds = [_value_bound(f) for f in fields]
    fixed = sum(b for b in bounds if b is not None) + _AROUND * len(fields)
    measured = tuple(f for f, b in zip(fields, bounds, strict=True) if b is None)
    return fields, fixed, measured


def _sized_chunks(
    info: EntityInfo,
    objs: list[Any],
    size: int,
    dialect: Dialect,
    codec: EntityCodec,
    names: tuple[str, ...],
    repeat_key: int = 0,
) -> list[list[Any]]:
    """``objs`` cut into chunks of at most ``size``, each of whose statement stays under
    ``dialect.max_statement_bytes`` with the values of fields ``names`` (plus the primary key
    ``repeat_key`` more times: a CASE-form UPDATE names it once per column and in ``IN``).

    Where every field's values have a bound (``MaxLength`` text, numbers, dates), the chunk
    size is worked out once; otherwise the unbounded values are measured object by object.
    """
    limit = dialect.max_statement_bytes
    if limit is None:
        return list(_chunks(objs, size))
    room = max(1, limit - _TEXT_ROOM)
    fields, fixed, measured = _bounds(info, names, repeat_key)
    if not measured:
        if len(objs) == 1:  # (a request's one changed object)
            return [objs]
        return list(_chunks(objs, min(size, max(1, room // max(1, fixed)))))
    out: list[list[Any]] = []
    chunk: list[Any] = []
    used = 0
    for obj in objs:
        d = obj.__dict__
        cost = fixed + sum(_value_bytes(f, codec, d.get(f.name)) for f in measured)
        if cost > room:  # the bound is loose (4 bytes a character): measure it exactly
            cost = _exact_bytes(info, obj, fields, dialect, codec, room)
        if chunk and (len(chunk) >= size or used + cost > room):
            out.append(chunk)
            chunk, used = [], 0
        chunk.append(obj)
        used += cost
    if chunk:
        out.append(chunk)
    return out


def plan(cs: ChangeSet, dialect: Dialect, codec: Callable[[EntityInfo], EntityCodec]) -> list[Step]:
    """Ordered, chunked statements for a change set."""
    if not cs.new and not cs.upsert_groups and not cs.delete_groups:
        # Only changed objects (a request's load, change, commit): no inserts, upserts or
        # deletes to order, so the update steps are the whole plan.
        return _all_update_steps(cs, dialect, codec)
    steps: list[Step] = []
    before = _upserts_needed_first(cs)
    if before:  # upserted rows whose keys new rows refer to go before the inserts
        steps.extend(_upsert_steps(cs, dialect, codec, only=before))
    for info, objs in cs.insert_batches():
        steps.extend(_insert_steps(info, objs, dialect, codec(info)))
    later: dict[tuple[EntityInfo, str], PostUpdateStep] = {}
    for obj, f in cs.post_updates():
        info = type(obj).__orm_entity__
        step = later.get((info, f.name))
        if step is None:
            step = later[(info, f.name)] = PostUpdateStep(info, f, [])
        step.objs.append(obj)
    steps.extend(later.values())
    if len(before) < len(cs.upsert_groups):
        steps.extend(_upsert_steps(cs, dialect, codec, skip=before))
    steps.extend(_all_update_steps(cs, dialect, codec))
    groups = cs.delete_groups
    clears, cleared = _delete_cycle_clears(groups) if len(groups) > 1 else ([], set())
    early = (
        _reused_by_new(cs) if groups and (cs.new or cs.update_groups or cs.upsert_groups) else {}
    )
    if early:  # removed rows whose key or unique value new work takes: deleted first
        first: dict[EntityInfo, tuple[list[Any], list[Any]]] = {
            info: ([], [pk for pk in groups[info][1] if pk in pks]) for info, pks in early.items()
        }
        rest: dict[EntityInfo, tuple[list[Any], list[Any]]] = {
            info: ([], [pk for pk in pks if pk not in early.get(info, ())])
            for info, (_objs, pks) in groups.items()
        }
        return (
            clears
            + _delete_steps(first, cs, dialect, cleared)
            + steps
            + _delete_steps(rest, cs, dialect, cleared)
        )
    return steps + clears + _delete_steps(groups, cs, dialect, cleared)


def _all_update_steps(
    cs: ChangeSet, dialect: Dialect, codec: Callable[[EntityInfo], EntityCodec]
) -> list[Step]:
    """The steps of the change set's update groups, in group order (a versioned entity's
    group is one ``VersionedStep``: ``AND version = ?`` and its rows-matched check)."""
    steps: list[Step] = []
    for (info, cols), group in cs.update_groups.items():
        version = info.version_field
        if version is not None:
            kept = tuple(c for c in cols if c != version.name)
            steps.append(VersionedStep(info, kept, group.objs, group.pks))
            continue
        steps.extend(_update_steps(info, cols, group, dialect, codec(info)))
    return steps


def _delete_cycle_clears(
    groups: dict[EntityInfo, tuple[list[Any], list[Any]]],
) -> tuple[list[Step], set[FieldInfo]]:
    """Where removed rows of entities that reference each other (a team and its captain) form
    a cycle, the cycle's nullable references among them are set to NULL first (one UPDATE per
    entity and field, SQLAlchemy's post-update on delete), so that the deletes can go children
    first; returns those steps and the fields they clear (left out of the delete order)."""
    present = set(groups)
    edges = {
        info: [f for f in info.references if f.target in present and f.target is not info]
        for info in groups
    }

    def reaches(start: EntityInfo, goal: EntityInfo) -> bool:
        seen, todo = {start}, [start]
        while todo:
            for f in edges[todo.pop()]:
                target = f.target
                assert target is not None
                if target is goal:
                    return True
                if target not in seen:
                    seen.add(target)
                    todo.append(target)
        return False

    steps: list[Step] = []
    cleared: set[FieldInfo] = set()
    for info in groups:
        for f in edges[info]:
            target = f.target
            assert target is not None
            if not f.nullable or not reaches(target, info):
                continue
            cleared.add(f)
            t_objs, t_pks = groups[target]
            ids, keys = {id(o) for o in t_objs}, set(t_pks)
            objs = [
                o for o in groups[info][0] if _refers_to(o.__dict__.get(f.name), target, ids, keys)
            ]
            if objs:
                steps.append(PostUpdateStep(info, f, objs, clear=True))
    return steps, cleared


def _refers_to(v: Any, target: EntityInfo, ids: set[int], keys: set[Any]) -> bool:
    """Whether a reference's value ``v`` is one of the objects ``ids`` or keys ``keys``."""
    if v is None:
        return False
    key = unloaded_key(v)
    if key is not None:
        return key in keys
    return id(v) in ids or (target.has_pk(v) and target.pk_of(v) in keys)


def _delete_steps(
    groups: dict[EntityInfo, tuple[list[Any], list[Any]]],
    cs: ChangeSet,
    dialect: Dialect,
    cleared: set[FieldInfo] = frozenset(),  # type: ignore[assignment]
) -> list[Step]:
    """DELETE steps for keys by entity, children first (references in ``cleared`` set to
    NULL before: not counted), chunked under the dialect's limits; where foreign keys are
    checked row by row (InnoDB), rows of a self-referencing entity go level by level, the
    rows that others among them refer to last."""
    steps: list[Step] = []
    for info in _children_first(list(groups), cleared):
        pks = groups[info][1]
        if not pks:
            continue
        if info.version_field is not None:
            by_key = dict(zip(cs.delete_groups[info][1], cs.delete_groups[info][0], strict=True))
            steps.append(VersionedStep(info, (), [by_key[pk] for pk in pks], list(pks)))
            continue
        size = _batch_rows(dialect, len(info.primary_key), delete=True)
        if dialect.max_statement_bytes is not None:
            key_bound = sum(_value_bound(f) or _SCALAR for f in info.primary_key) + _AROUND
            size = min(size, max(1, (dialect.max_statement_bytes - _TEXT_ROOM) // key_bound))
        levels = [pks]
        if dialect.checks_foreign_keys_per_row and any(f.target is info for f in info.references):
            levels = _self_reference_levels(info, pks, cs)
        for level in levels:
            steps.extend(DeleteStep(info, chunk) for chunk in _chunks(level, size))
    return steps


def _reused_by_new(cs: ChangeSet) -> dict[EntityInfo, set[Any]]:
    """Per entity, keys of removed rows whose primary key or unique field value a new object
    (or a changed one) of the same entity takes in this commit."""
    out: dict[EntityInfo, set[Any]] = {}
    for info, (objs, pks) in cs.delete_groups.items():
        uniques = [f for f in info.fields if f.unique and not f.primary_key]
        taken: set[tuple[str, str]] = set()
        for obj in [*cs.new, *(o for objs in cs.upsert_groups.values() for o in objs)]:
            if type(obj).__orm_entity__ is info:
                if info.has_pk(obj):
                    taken.add(("", repr(info.pk_of(obj))))
                taken.update((f.name, repr(current_value(obj, f))) for f in uniques)
        for (ginfo, cols), group in cs.update_groups.items():
            if ginfo is info:
                changed = [f for f in uniques if f.name in cols]
                for obj in group.objs:
                    taken.update((f.name, repr(current_value(obj, f))) for f in changed)
        if not taken:
            continue
        for obj, pk in zip(objs, pks, strict=True):
            values = [("", repr(pk))] + [(f.name, repr(current_value(obj, f))) for f in uniques]
            if any(v in taken for v in values):
                out.setdefault(info, set()).add(pk)
    return out


def _self_reference_levels(info: EntityInfo, pks: list[Any], cs: ChangeSet) -> list[list[Any]]:
    """Removed keys of a self-referencing entity in levels: each level holds the rows no
    remaining removed row refers to (children before their parents)."""
    all_objs, all_pks = cs.delete_groups[info]
    wanted = set(pks)
    objs = {pk: obj for pk, obj in zip(all_pks, all_objs, strict=True) if pk in wanted}
    fields = [f for f in info.references if f.target is info]
    parent_of: dict[Any, set[Any]] = {}
    for pk in pks:
        obj = objs[pk]
        parents = set()
        for f in fields:
            ref = obj.__dict__.get(f.name)
            if ref is not None:
                key = unloaded_key(ref)
                key = info.pk_of(ref) if key is None else key
                if key != pk and key in objs:
                    parents.add(key)
        parent_of[pk] = parents
    remaining = list(pks)
    levels: list[list[Any]] = []
    while remaining:
        referred = {p for pk in remaining for p in parent_of[pk]}
        level = [pk for pk in remaining if pk not in referred]
        if not level:  # a cycle: the database decides
            levels.append(remaining)
            break
        levels.append(level)
        chosen = set(level)
        remaining = [pk for pk in remaining if pk not in chosen]
    return levels


def _update_steps(
    info: EntityInfo, cols: tuple[str, ...], group: UpdateGroup, dialect: Dialect, c: EntityCodec
) -> list[UpdateStep]:
    """One step per group, or more where the group's values exceed the statement size."""
    rows = group.rows
    if dialect.max_statement_bytes is None:
        return [UpdateStep(info, cols, group.objs, group.pks, rows)]
    chunks = _sized_chunks(info, group.objs, len(group.objs), dialect, c, cols, len(cols) + 1)
    steps, start = [], 0
    for chunk in chunks:
        end = start + len(chunk)
        part = rows[start:end] if rows is not None else None
        steps.append(UpdateStep(info, cols, chunk, group.pks[start:end], part))
        start = end
    return steps


def _insert_steps(
    info: EntityInfo, objs: list[Any], dialect: Dialect, c: EntityCodec
) -> list[InsertStep]:
    auto = info.autoincrement
    with_key: list[Any] = []
    generated: list[Any] = []
    if auto is None:
        with_key = objs
    else:
        name = auto.name
        generated = [o for o in objs if o.__dict__.get(name) in (0, None)]
        if len(generated) != len(objs):
            with_key = [o for o in objs if o.__dict__.get(name) not in (0, None)]
    steps: list[InsertStep] = []
    all_cols = tuple(f.name for f in info.fields)
    if with_key:
        size = _batch_rows(dialect, len(all_cols))
        steps.extend(
            InsertStep(info, chunk, all_cols)
            for chunk in _sized_chunks(info, with_key, size, dialect, c, all_cols)
        )
    if generated:
        assert auto is not None
        cols = tuple(f.name for f in info.fields if f is not auto)
        match = _match_positions(info, cols, dialect)
        if dialect.supports_returning and (match or not cols):
            returning = (auto.name, *(cols[i] for i in match))
            if not cols:
                steps.extend(
                    InsertStep(info, [o], cols, (auto.name,), (), row_by_row=True)
                    for o in generated
                )
            else:
                size = _batch_rows(dialect, len(cols))
                steps.extend(
                    InsertStep(info, chunk, cols, returning, match)
                    for chunk in _sized_chunks(info, generated, size, dialect, c, cols)
                )
        else:
            # One INSERT a row, many to a round trip (``Connection.insert_ids``): a step's
            # rows stay under the statement size together, so any round trip of them does.
            returning = (auto.name,) if dialect.supports_returning else ()
            steps.extend(
                InsertStep(info, chunk, cols, returning, (), row_by_row=True)
                for chunk in _sized_chunks(info, generated, len(generated), dialect, c, cols)
            )
    return steps


def _upserts_needed_first(cs: ChangeSet) -> set[UpsertSpec]:
    """The upsert groups holding objects that staged new objects refer to: they are sent
    before the inserts (whose rows need their keys). Such a group's objects may not refer to
    new objects themselves (that order cannot be met): a ``SessionError`` says so."""
    if not cs.upsert_groups or not cs.new:
        return set()
    spec_of = {id(o): spec for spec, objs in cs.upsert_groups.items() for o in objs}
    needed: set[UpsertSpec] = set()
    for obj in cs.new:
        d = obj.__dict__
        for f in type(obj).__orm_entity__.references:
            spec = spec_of.get(id(d.get(f.name)))
            if spec is not None:
                needed.add(spec)
    new_ids = {id(o) for o in cs.new}
    for spec in needed:
        for obj in cs.upsert_groups[spec]:
            d = obj.__dict__
            for f in spec.entity.references:
                if id(d.get(f.name)) in new_ids:
                    raise SessionError(
                        f"cannot order this commit: staged new objects refer to upserted "
                        f"{spec.entity.cls.__name__} objects, which refer to staged new "
                        f"{f.target.cls.__name__ if f.target else ''} objects; commit one "
                        "side first"
                    )
    return needed


def _upsert_steps(
    cs: ChangeSet,
    dialect: Dialect,
    codec: Callable[[EntityInfo], EntityCodec],
    *,
    only: set[UpsertSpec] | None = None,
    skip: set[UpsertSpec] | None = None,
) -> list[UpsertStep]:
    """Upsert statements (of the groups ``only``, or all but ``skip``): groups of entities
    that others among them refer to first; in a group, objects whose generated key is not set
    apart from those carrying one (the key column is left out for them), each chunked like an
    INSERT. Two objects of a group with the same ``on`` values are a ``SessionError`` (one
    statement cannot write a row twice)."""
    infos = list(dict.fromkeys(spec.entity for spec in cs.upsert_groups))
    order = list(reversed(_children_first(infos)))
    steps: list[UpsertStep] = []
    for info in order:
        c = codec(info)
        for spec, objs in cs.upsert_groups.items():
            if spec.entity is not info:
                continue
            if (only is not None and spec not in only) or (skip and spec in skip):
                continue
            _check_distinct(spec, objs)
            auto = info.autoincrement
            keyed, generated = objs, []
            if auto is not None and auto.name not in spec.on:
                keyed = [o for o in objs if o.__dict__.get(auto.name) not in (0, None)]
                generated = [o for o in objs if o.__dict__.get(auto.name) in (0, None)]
            read = spec.read_back()
            for part, cols in (
                (keyed, tuple(f.name for f in info.fields)),
                (generated, tuple(f.name for f in info.fields if f is not auto)),
            ):
                if not part:
                    continue
                size = _batch_rows(dialect, len(cols))
                if not dialect.supports_returning:  # the SELECT back carries the on values
                    size = min(size, dialect.max_params // max(1, len(spec.on)))
                steps.extend(
                    UpsertStep(info, spec, chunk, cols, read)
                    for chunk in _sized_chunks(info, part, size, dialect, c, cols)
                )
    return steps


def _check_distinct(spec: UpsertSpec, objs: list[Any]) -> None:
    info = spec.entity
    fields = [info.field(n) for n in spec.on]
    if len(fields) == 1 and fields[0].kind != "reference":
        name = fields[0].name
        values = [o.__dict__.get(name) for o in objs]
        try:
            if len(set(values)) == len(values):
                return  # (the common case: no repeat; the loop below names one)
        except TypeError:
            pass
    seen: dict[str, Any] = {}
    for obj in objs:
        key = repr(
            tuple(
                _reference_key(f, current_value(obj, f))
                if f.kind == "reference"
                else current_value(obj, f)
                for f in fields
            )
        )
        other = seen.get(key)
        if other is not None:
            raise SessionError(
                f"cannot upsert {info.cls.__name__}: two staged upserts have "
                f"{', '.join(spec.on)} = {key[1:-1].rstrip(',')}; one statement cannot write "
                "a row twice: stage one of them"
            )
        seen[key] = obj


def _batch_rows(dialect: Dialect, width: int, *, delete: bool = False) -> int:
    """Rows one statement carries: under the parameter limit, unless values travel as arrays."""
    if dialect.array_batches:
        return dialect.array_delete_rows if delete else dialect.array_rows
    return min(dialect.max_rows_per_insert, dialect.max_params // max(1, width))


def _match_positions(info: EntityInfo, cols: tuple[str, ...], dialect: Dialect) -> tuple[int, ...]:
    """Columns whose returned values identify each inserted row (a unique one if there is)."""
    exact = dialect.returning_exact_kinds
    positions = []
    for i, name in enumerate(cols):
        f = info.field(name)
        kind = f.kind
        if kind == "reference":
            target = f.target
            assert target is not None
            kind = target.primary_key[0].kind
        if kind in exact:
            if f.unique and not f.nullable:
                return (i,)
            positions.append(i)
    return tuple(positions)


def order_inserts(
    new: list[Any],
) -> tuple[list[tuple[EntityInfo, list[Any]]], list[tuple[Any, FieldInfo]]]:
    """New objects in batches so that every referenced new object comes first, and the
    references to leave NULL at insert (``post_updates``) to break cycles.

    Each entity's objects go in one batch, in the order they were added (so generated ids
    follow add order), entities ordered parents first; an entity whose new objects reference
    each other (a tree) takes one batch per level. Only where entities' new objects reference
    each other both ways do batches follow object depth instead. A cycle among new objects
    is broken at its nullable references (inserted as NULL, then updated); one with none is
    a ``CycleError``.
    """
    if not new:
        return [], []
    classes = set(map(type, new))
    if len(classes) == 1:
        info = type(new[0]).__orm_entity__
        if not info.references:
            return [(info, new)], []
    by_entity: dict[EntityInfo, list[Any]] = {}
    for obj in new:
        info = type(obj).__orm_entity__
        objs = by_entity.get(info)
        if objs is None:
            by_entity[info] = [obj]
        else:
            objs.append(obj)
    if not any(info.references for info in by_entity):
        return list(by_entity.items()), []
    new_ids = {id(o) for o in new}
    deps: dict[int, list[tuple[FieldInfo, Any]]] = {}
    for obj in new:
        out = []
        d = obj.__dict__
        for f in type(obj).__orm_entity__.references:
            v = d.get(f.name)
            if v is not None and id(v) in new_ids and hasattr(v, "__dict__"):
                out.append((f, v))
        deps[id(obj)] = out
    post: list[tuple[Any, FieldInfo]] = []
    cycles = _cyclic_groups(new, deps)
    for group in cycles:
        ids = {id(o) for o in group}
        for o in group:
            kept = []
            for f, v in deps[id(o)]:
                if id(v) in ids and f.nullable:
                    post.append((o, f))
                else:
                    kept.append((f, v))
            deps[id(o)] = kept
    if cycles and _cyclic_groups(new, deps):
        names = sorted({type(n).__name__ for g in cycles for n in g})
        raise CycleError(
            "new objects reference each other in a cycle that no insert order can satisfy "
            f"({', '.join(names)}): none of its references is nullable; commit one side "
            "first, or make one reference nullable"
        )
    needs: dict[EntityInfo, set[EntityInfo]] = {info: set() for info in by_entity}
    for obj in new:
        info = type(obj).__orm_entity__
        for _, v in deps[id(obj)]:
            other = type(v).__orm_entity__
            if other is not info:
                needs[info].add(other)
    order = _topological(list(by_entity), needs)
    depth = _depths(new, deps, same_entity=order is not None)
    if order is None:
        return _group([(depth[id(o)], type(o).__orm_entity__, o) for o in new]), post
    batches: list[tuple[EntityInfo, list[Any]]] = []
    for info in order:
        objs = by_entity[info]
        levels: dict[int, list[Any]] = {}
        for o in objs:
            levels.setdefault(depth[id(o)], []).append(o)
        batches.extend((info, levels[level]) for level in sorted(levels))
    return batches, post


def _cyclic_groups(new: list[Any], deps: dict[int, list[tuple[FieldInfo, Any]]]) -> list[list[Any]]:
    """The groups of new objects that reference each other in a cycle (strongly connected
    components with more than one object, or an object referencing itself); Tarjan's
    algorithm, iteratively."""
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    on_stack: set[int] = set()
    stack: list[Any] = []
    groups: list[list[Any]] = []
    counter = 0
    for start in new:
        if id(start) in index:
            continue
        work: list[tuple[Any, int]] = [(start, 0)]
        while work:
            node, i = work.pop()
            nid = id(node)
            if i == 0:
                index[nid] = low[nid] = counter
                counter += 1
                stack.append(node)
                on_stack.add(nid)
            edges = deps[nid]
            if i < len(edges):
                work.append((node, i + 1))
                child = edges[i][1]
                cid = id(child)
                if cid not in index:
                    work.append((child, 0))
                elif cid in on_stack:
                    low[nid] = min(low[nid], index[cid])
                continue
            if low[nid] == index[nid]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(id(member))
                    group.append(member)
                    if member is node:
                        break
                if len(group) > 1 or any(v is node for _, v in edges):
                    groups.append(group)
            if work:
                parent = id(work[-1][0])
                low[parent] = min(low[parent], low[nid])
    return groups


def _topological(
    infos: list[EntityInfo], needs: dict[EntityInfo, set[EntityInfo]]
) -> list[EntityInfo] | None:
    """Entities with the ones they need first, else in the order given; None on a cycle."""
    out: list[EntityInfo] = []
    done: set[EntityInfo] = set()
    while len(out) < len(infos):
        ready = next((i for i in infos if i not in done and needs[i] <= done), None)
        if ready is None:
            return None
        out.append(ready)
        done.add(ready)
    return out


def _depths(
    new: list[Any], deps: dict[int, list[tuple[FieldInfo, Any]]], *, same_entity: bool
) -> dict[int, int]:
    """Each new object's depth: 1 + the deepest it references (``same_entity``: counting only
    references to objects of its own entity). ``deps`` has no cycles."""
    depth: dict[int, int] = {}
    for start in new:
        if id(start) in depth:
            continue
        stack: list[tuple[Any, int]] = [(start, 0)]
        while stack:
            node, i = stack[-1]
            edges = deps[id(node)]
            if i < len(edges):
                stack[-1] = (node, i + 1)
                child = edges[i][1]
                if id(child) not in depth and (not same_entity or type(child) is type(node)):
                    stack.append((child, 0))
                continue
            stack.pop()
            depth[id(node)] = 1 + max(
                (
                    depth[id(c)]
                    for _, c in edges
                    if id(c) in depth and (not same_entity or type(c) is type(node))
                ),
                default=-1,
            )
    return depth


def _group(items: list[tuple[int, EntityInfo, Any]]) -> list[tuple[EntityInfo, list[Any]]]:
    batches: dict[tuple[int, EntityInfo], list[Any]] = {}
    for level, info, obj in items:
        batches.setdefault((level, info), []).append(obj)
    order = sorted(batches, key=lambda k: k[0])
    return [(info, batches[(level, info)]) for level, info in order]


def _children_first(
    infos: list[EntityInfo],
    cleared: set[FieldInfo] = frozenset(),  # type: ignore[assignment]
) -> list[EntityInfo]:
    """Entities ordered so that one referencing another comes before it (cycles: as given;
    references in ``cleared`` do not count)."""
    present = set(infos)
    out: list[EntityInfo] = []
    done: set[EntityInfo] = set()
    active: set[EntityInfo] = set()

    def visit(info: EntityInfo) -> None:
        if info in done or info in active:
            return
        active.add(info)
        for other in infos:
            if (
                other is not info
                and other in present
                and any(f.target is info and f not in cleared for f in other.references)
            ):
                visit(other)
        active.discard(info)
        done.add(info)
        out.append(info)

    for info in infos:
        visit(info)
    return out
