"""The unit of work, as pure planning: staged session state -> change set -> ordered batches.

Two stages, neither of which touches a database:

1. ``collect`` reads what a session staged (new objects, the old values its ``__setattr__``
   hook recorded, JSON snapshots, removals) and returns a ``ChangeSet`` of inserts, updates
   with ``{field: (old, new)}``, and deletes. Only objects that were touched are visited, plus
   the objects of entities with JSON fields (in-place mutation has no hook to announce it).
2. ``plan`` orders the change set and cuts it into statements: inserts parents-first (a cycle
   among new objects is a ``CycleError``), then updates grouped by the set of changed columns,
   then deletes children-first, each chunked under the dialect's parameter limit.

Callers: ``core.session`` (``changes``, ``pending_sql``, ``commit``) and ``core.persist``, which
runs a plan. What it leaves out: executing statements and changing objects after a commit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.codec import EntityCodec, same_reference
from core.dialects.base import Dialect, json_dumps_canonical
from core.entity import EntityInfo, FieldInfo, Unloaded, _raw_value
from core.errors import CycleError, SessionError
from core.sql import delete_array_sql, delete_sql, insert_array_sql, insert_sql, update_sql

if TYPE_CHECKING:
    from core.session import Session

__all__ = [
    "ChangeSet",
    "Delete",
    "DeleteStep",
    "Insert",
    "InsertStep",
    "Update",
    "UpdateStep",
    "collect",
    "plan",
]


# -- the change set ------------------------------------------------------------------------


@dataclass(eq=True, slots=True)
class Insert:
    """A new object to insert; ``values`` are read from it when asked for."""

    entity: EntityInfo
    obj: Any

    @property
    def values(self) -> dict[str, Any]:
        """The values it will be inserted with (references as objects)."""
        return {f.name: current_value(self.obj, f) for f in self.entity.fields}


@dataclass(eq=True, slots=True)
class Update:
    """A loaded object whose fields changed: ``{field: (old, new)}``."""

    entity: EntityInfo
    obj: Any
    pk: Any
    changes: dict[str, tuple[Any, Any]]


@dataclass(eq=True, slots=True)
class Delete:
    """A loaded object to delete."""

    entity: EntityInfo
    obj: Any
    pk: Any


@dataclass(eq=True)
class ChangeSet:
    """What a commit would do, as data."""

    inserts: list[Insert] = field(default_factory=list)
    updates: list[Update] = field(default_factory=list)
    deletes: list[Delete] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.inserts or self.updates or self.deletes)

    def counts(self) -> tuple[int, int, int]:
        return len(self.inserts), len(self.updates), len(self.deletes)


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
    """A field's value without lazy loading (an unloaded reference stays ``Unloaded``)."""
    if f.kind == "reference":
        return obj.__dict__.get(f.name, f.default)
    return _raw_value(obj, f)


def collect(session: Session) -> ChangeSet:
    """The session's pending change set; visits only touched objects and JSON entities."""
    cs = ChangeSet()
    cs.inserts = [Insert(type(obj).__orm_entity__, obj) for obj in session._new.values()]
    removed = session._removed
    seen: set[int] = set()
    updates = cs.updates
    codec = session.database.codec
    touched = session._touched
    for oid, old_values in session._changed.items():
        obj = touched[oid]
        if oid in removed:
            continue
        info = type(obj).__orm_entity__
        d = obj.__dict__
        diff = codec(info).diff(d, old_values)
        if info.has_json:
            seen.add(oid)
            _json_diff(session, obj, info, diff)
            if len(diff) > 1:
                diff = _in_field_order(info, diff)
        if diff:
            pk_name = info.primary_key[0].name
            if len(info.primary_key) == 1 and pk_name not in old_values and pk_name in d:
                pk = d[pk_name]
            else:
                pk = _pk_before(info, obj, old_values)
            updates.append(Update(info, obj, pk, diff))
    for oid, obj in session._json_tracked.items():
        if oid in seen or oid in removed:
            continue
        info = type(obj).__orm_entity__
        diff = {}
        _json_diff(session, obj, info, diff)
        if diff:
            cs.updates.append(Update(info, obj, info.pk_of(obj), diff))
    changed = session._changed
    for oid, obj in removed.items():
        info = type(obj).__orm_entity__
        pk = info.primary_key
        d = obj.__dict__
        if len(pk) == 1 and oid not in changed and pk[0].name in d:
            cs.deletes.append(Delete(info, obj, d[pk[0].name]))
        else:
            cs.deletes.append(Delete(info, obj, session._key_of(obj)))
    return cs


def _in_field_order(info: EntityInfo, diff: dict[str, Any]) -> dict[str, Any]:
    """The diff with its fields in declaration order (updates are grouped by column tuple)."""
    names = tuple(diff)
    ordered = info.in_field_order(names)
    if ordered == names:
        return diff
    return {n: diff[n] for n in ordered}


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


def _json_diff(session: Session, obj: Any, info: EntityInfo, diff: dict[str, Any]) -> None:
    snapshot = session._snapshots.get(id(obj))
    if snapshot is None:
        return
    import json

    for f, old_text in zip(info.json_fields, snapshot, strict=True):
        new = obj.__dict__.get(f.name)
        if json_dumps_canonical(new) != old_text:
            diff[f.name] = (json.loads(old_text), new)


# -- the plan ------------------------------------------------------------------------------


@dataclass
class InsertStep:
    """One INSERT statement: ``objs`` in the order of their parameter rows."""

    entity: EntityInfo
    objs: list[Any]
    columns: tuple[str, ...]
    #: Read the generated key back: RETURNING (pk, *match_columns) or one row at a time.
    returning: tuple[str, ...] = ()
    #: Positions (in ``columns``) whose values identify a returned row.
    match: tuple[int, ...] = ()
    #: No RETURNING available: insert row by row and read each generated id.
    row_by_row: bool = False

    def uses_arrays(self, dialect: Dialect) -> bool:
        return dialect.array_batches and bool(self.columns) and not self.row_by_row

    def sql(self, dialect: Dialect) -> str:
        if self.uses_arrays(dialect):
            casts = tuple(dialect.cast_type(self.entity.field(n)) for n in self.columns)
            return insert_array_sql(dialect, self.entity.table, self.columns, casts, self.returning)
        rows = 1 if self.row_by_row else len(self.objs)
        return insert_sql(dialect, self.entity.table, self.columns, rows, self.returning)


@dataclass
class UpdateStep:
    """UPDATEs of the same columns on one entity, sent as one batch."""

    entity: EntityInfo
    columns: tuple[str, ...]
    objs: list[Any]
    pks: list[Any]

    def sql(self, dialect: Dialect) -> str:
        pk_cols = tuple(f.column for f in self.entity.primary_key)
        return update_sql(dialect, self.entity.table, self.columns, pk_cols)


@dataclass
class DeleteStep:
    """One DELETE ... WHERE pk IN (...) (composite keys: one parameter row per object)."""

    entity: EntityInfo
    pks: list[Any]

    def uses_arrays(self, dialect: Dialect) -> bool:
        return dialect.array_batches and len(self.entity.primary_key) == 1

    def sql(self, dialect: Dialect) -> str:
        pk_cols = tuple(f.column for f in self.entity.primary_key)
        if self.uses_arrays(dialect):
            cast = dialect.cast_type(self.entity.primary_key[0])
            return delete_array_sql(dialect, self.entity.table, pk_cols[0], cast)
        return delete_sql(dialect, self.entity.table, pk_cols, len(self.pks))


Step = InsertStep | UpdateStep | DeleteStep


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    size = max(1, size)
    for i in range(0, len(items), size):
        yield items[i : i + size]


def plan(cs: ChangeSet, dialect: Dialect, codec: Callable[[EntityInfo], EntityCodec]) -> list[Step]:
    """Ordered, chunked statements for a change set."""
    steps: list[Step] = []
    for info, objs in order_inserts(cs.inserts):
        steps.extend(_insert_steps(info, objs, dialect))
    groups: dict[tuple[EntityInfo, tuple[str, ...]], UpdateStep] = {}
    for u in cs.updates:
        cols = tuple(u.changes)
        step = groups.get((u.entity, cols))
        if step is None:
            step = groups[(u.entity, cols)] = UpdateStep(u.entity, cols, [], [])
        step.objs.append(u.obj)
        step.pks.append(u.pk)
    steps.extend(groups.values())
    by_entity: dict[EntityInfo, list[Any]] = {}
    for d in cs.deletes:
        by_entity.setdefault(d.entity, []).append(d.pk)
    for info in _children_first(list(by_entity)):
        pks = by_entity[info]
        size = _batch_rows(dialect, len(info.primary_key), single_key=len(info.primary_key) == 1)
        steps.extend(DeleteStep(info, chunk) for chunk in _chunks(pks, size))
    return steps


def _insert_steps(info: EntityInfo, objs: list[Any], dialect: Dialect) -> list[InsertStep]:
    auto = info.autoincrement
    with_key: list[Any] = []
    generated: list[Any] = []
    if auto is None:
        with_key = objs
    else:
        name = auto.name
        for obj in objs:
            value = obj.__dict__.get(name, 0)
            (generated if value == 0 or value is None else with_key).append(obj)
    steps: list[InsertStep] = []
    all_cols = tuple(f.name for f in info.fields)
    if with_key:
        size = _batch_rows(dialect, len(all_cols))
        steps.extend(InsertStep(info, chunk, all_cols) for chunk in _chunks(with_key, size))
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
                    for chunk in _chunks(generated, size)
                )
        else:
            returning = (auto.name,) if dialect.supports_returning else ()
            steps.append(InsertStep(info, generated, cols, returning, (), row_by_row=True))
    return steps


def _batch_rows(dialect: Dialect, width: int, *, single_key: bool = True) -> int:
    """Rows one statement carries: under the parameter limit, unless values travel as arrays."""
    if dialect.array_batches and single_key:
        return dialect.max_rows_per_insert
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


def order_inserts(inserts: list[Insert]) -> list[tuple[EntityInfo, list[Any]]]:
    """New objects grouped into batches so that every referenced new object comes first."""
    if not inserts:
        return []
    if not any(i.entity.references for i in inserts):
        by_entity: dict[EntityInfo, list[Any]] = {}
        for i in inserts:
            objs = by_entity.get(i.entity)
            if objs is None:
                by_entity[i.entity] = [i.obj]
            else:
                objs.append(i.obj)
        return list(by_entity.items())
    new_ids = {id(i.obj) for i in inserts}
    depth: dict[int, int] = {}
    by_id = {id(i.obj): i for i in inserts}

    def deps(ins: Insert) -> list[Insert]:
        out = []
        for f in ins.entity.references:
            v = ins.obj.__dict__.get(f.name)
            if v is not None and id(v) in new_ids and type(v) is not Unloaded:
                out.append(by_id[id(v)])
        return out

    for ins in inserts:
        if id(ins.obj) in depth:
            continue
        # Iterative depth-first search; 'visiting' marks the current path to find cycles.
        visiting: dict[int, Insert] = {}
        stack: list[tuple[Insert, list[Insert]]] = [(ins, deps(ins))]
        visiting[id(ins.obj)] = ins
        while stack:
            node, pending = stack[-1]
            if pending:
                child = pending.pop()
                cid = id(child.obj)
                if cid in depth:
                    continue
                if cid in visiting:
                    names = sorted({n.entity.cls.__name__ for n in visiting.values()})
                    raise CycleError(
                        "new objects reference each other in a cycle that no insert order "
                        f"can satisfy ({', '.join(names)}); commit one side first, or make "
                        "one reference nullable and set it after the first commit"
                    )
                visiting[cid] = child
                stack.append((child, deps(child)))
                continue
            stack.pop()
            del visiting[id(node.obj)]
            depth[id(node.obj)] = 1 + max((depth[id(c.obj)] for c in deps(node)), default=-1)
    return _group([(depth[id(i.obj)], i.entity, i.obj) for i in inserts])


def _group(items: list[tuple[int, EntityInfo, Any]]) -> list[tuple[EntityInfo, list[Any]]]:
    batches: dict[tuple[int, EntityInfo], list[Any]] = {}
    for level, info, obj in items:
        batches.setdefault((level, info), []).append(obj)
    order = sorted(batches, key=lambda k: k[0])
    return [(info, batches[(level, info)]) for level, info in order]


def _children_first(infos: list[EntityInfo]) -> list[EntityInfo]:
    """Entities ordered so that one referencing another comes before it (cycles: as given)."""
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
                and any(f.target is info for f in other.references)
            ):
                visit(other)
        active.discard(info)
        done.add(info)
        out.append(info)

    for info in infos:
        visit(info)
    return out
