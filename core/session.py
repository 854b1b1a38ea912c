"""The Session: a unit of work with an identity map, change tracking, commit and rollback.

What a session holds (all keyed by ``id(obj)``; the session keeps strong references):

- ``_identity``: per entity, primary key -> the one object for that row in this session
  (``core.identity``: a first load's keys may enter it only when first needed);
- ``_new``: objects staged with ``add`` (insertion order is commit order within a batch);
- ``_removed``: persistent objects staged with ``remove``;
- ``_changed`` / ``_touched``: per touched persistent object, the value each field had before
  its first assignment since the last commit, and the object itself (both recorded by the
  entity's ``__setattr__`` hook; a read of a JSON field's list or dict records a copy too,
  since it may be edited in place).

An object the session tracks holds the session's token (an int) under ``SESSION_ATTR``, not
the session: ``core.entity.TRACKERS`` leads the hook from the token to the dicts above.

``commit`` = ``unitofwork.collect`` -> ``unitofwork.plan`` -> ``persist.run`` inside one
transaction -> only then ``_finalize`` changes objects (keys assigned, snapshots retaken). A
failed commit rolls the transaction back and leaves the session exactly as it was. Callers:
user code and ``ormcli``. What it leaves out: SQL (``core.sql``), statement execution
(``core.persist``), query building (``core.query``).
"""

from __future__ import annotations

import itertools
import time
import weakref
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from core import persist, unitofwork
from core.codec import collector_paused
from core.entity import SESSION_ATTR, TRACKERS, EntityInfo, Unloaded, entity_info, is_entity
from core.errors import (
    IntegrityError,
    NotFoundError,
    OrmConnectionError,
    OrmError,
    SessionError,
    ValidationError,
)
from core.expressions import FieldRef
from core.identity import IdentityMap
from core.types import MISSING
from core.unitofwork import ChangeSet

if TYPE_CHECKING:
    from core.database import Database
    from core.query import Query

__all__ = ["CommitResult", "Session", "Statement"]

T = TypeVar("T")

_tokens = itertools.count(1)


@dataclass(frozen=True)
class CommitResult:
    """What a commit sent: row counts, statements (an ``executemany`` is one), seconds."""

    inserts: int = 0
    updates: int = 0
    deletes: int = 0
    statements: int = 0
    elapsed: float = 0.0


@dataclass(frozen=True)
class Statement:
    """A statement a commit would send: its SQL, its parameters, the rows it covers."""

    sql: str
    params: list[Any]
    rows: int


class Session:
    """A unit of work on one database. Create it with ``database.create_session()``."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._identity = IdentityMap()
        self._new: dict[int, Any] = {}
        self._removed: dict[int, Any] = {}
        #: Per entity with a one-field key: ``get``'s SELECT by key (its SQL, parameters and
        #: error context; the key's parameter comes first).
        self._pk_selects: dict[EntityInfo, tuple[str, list[Any], str]] = {}
        self._changed: dict[int, dict[str, Any]] = {}
        self._touched: dict[int, Any] = {}
        # What objects hold instead of the session (see core.entity.TRACKERS).
        self._token = next(_tokens)
        TRACKERS[self._token] = (self._changed, self._touched, self._new)
        weakref.finalize(self, TRACKERS.pop, self._token, None)

    def __repr__(self) -> str:
        added, changed, removed = self.counts()
        return f"<Session {self.database.url_display} +{added} ~{changed} -{removed}>"

    # -- staging -----------------------------------------------------------------------------

    def add(self, *objs: Any) -> None:
        """Stage new objects for insertion (and new objects they reference).

        Adding an object twice is a no-op; adding an object staged for removal cancels the
        removal.
        """
        new = self._new
        token = self._token
        fast_type: type | None = None  # the last class seen that qualifies for the fast path
        auto_name = ""
        for obj in objs:
            # Fast path: a fresh object of an entity without references whose key the
            # database generates; everything else takes the checks in _add_one.
            cls = type(obj)
            if cls is not fast_type:
                info = getattr(cls, "__orm_entity__", None)
                auto = info.autoincrement if type(info) is EntityInfo else None
                if auto is None or info.references or not hasattr(obj, "__dict__"):  # type: ignore[union-attr]
                    self._add_one(obj)
                    continue
                fast_type, auto_name = cls, auto.name
            d = obj.__dict__
            if SESSION_ATTR not in d and d.get(auto_name) in (0, None):
                new[id(obj)] = obj
                d[SESSION_ATTR] = token
            else:
                self._add_one(obj)

    def _add_one(self, obj: Any) -> None:
        if isinstance(obj, type) or not is_entity(obj):
            raise SessionError(f"session.add() takes entity objects, got {obj!r}")
        info = entity_info(obj)
        owner = obj.__dict__.get(SESSION_ATTR)
        if owner == self._token:
            self._removed.pop(id(obj), None)
            return
        if owner is not None and owner in TRACKERS:
            raise SessionError(
                f"{info.describe(obj)} belongs to another session; add it to one session only"
            )
        if info.has_pk(obj):
            existing = self._identity.lookup(info, info.pk_of(obj))
            if existing is not None and existing is not obj:
                raise SessionError(
                    f"{info.describe(obj)} is already loaded in this session as another object; "
                    "change that object instead"
                )
        self._new[id(obj)] = obj
        obj.__dict__[SESSION_ATTR] = self._token
        for f in info.references:
            ref = obj.__dict__.get(f.name)
            if ref is not None and type(ref) is not Unloaded and SESSION_ATTR not in ref.__dict__:
                target = f.target
                assert target is not None
                if not target.has_pk(ref):
                    self._add_one(ref)

    def remove(self, *objs: Any) -> None:
        """Stage objects for deletion; removing a staged new object just unstages it."""
        removed = self._removed
        token = self._token
        new = self._new
        for obj in objs:
            # Fast path: a persistent object of this session.
            d = getattr(obj, "__dict__", None)
            if d is not None and d.get(SESSION_ATTR) == token and id(obj) not in new:
                removed[id(obj)] = obj
                continue
            if isinstance(obj, type) or not is_entity(obj):
                raise SessionError(f"session.remove() takes entity objects, got {obj!r}")
            info = entity_info(obj)
            oid = id(obj)
            if oid in self._new:
                del self._new[oid]
                obj.__dict__.pop(SESSION_ATTR, None)
                continue
            owner = obj.__dict__.get(SESSION_ATTR)
            if owner == token:
                self._removed[oid] = obj
                continue
            if owner is not None and owner in TRACKERS:
                raise SessionError(f"{info.describe(obj)} belongs to another session")
            if not info.has_pk(obj):
                raise SessionError(
                    f"cannot remove {info.describe(obj)}: it was never added or committed"
                )
            key = info.pk_of(obj)
            mapped = self._identity.lookup(info, key)
            if mapped is None:
                mapped = obj
                self._attach(info, key, obj)
            self._removed[id(mapped)] = mapped

    def unstage(self, obj: Any) -> None:
        """Forget a staged add or cancel a staged removal of ``obj`` (used by undo)."""
        oid = id(obj)
        if oid in self._new:
            del self._new[oid]
            obj.__dict__.pop(SESSION_ATTR, None)
        self._removed.pop(oid, None)

    def _attach(self, info: EntityInfo, key: Any, obj: Any) -> None:
        self._identity.mapping(info)[key] = obj
        obj.__dict__[SESSION_ATTR] = self._token

    def _key_of(self, obj: Any) -> Any:
        info: EntityInfo = type(obj).__orm_entity__
        old = self._changed.get(id(obj))
        if old is None and len(info.primary_key) == 1:
            name = info.primary_key[0].name
            if name in obj.__dict__:
                return obj.__dict__[name]
        if old is not None:
            keys = [old.get(f.name, MISSING) for f in info.primary_key]
            if all(k is not MISSING for k in keys):
                return keys[0] if len(keys) == 1 else tuple(keys)
        return info.pk_of(obj)

    # -- reading -----------------------------------------------------------------------------

    def query(self, cls: type[T]) -> Query[T]:
        """A query whose results are tracked and identity-mapped in this session."""
        from core.query import Query

        return Query(self.database, entity_info(cls), self)

    def get(self, cls: type[T], pk: Any) -> T | None:
        """The object with primary key ``pk``: from the identity map, a staged new object with
        that key, else from the database."""
        info = entity_info(cls)
        obj = self._identity.lookup(info, pk)
        if obj is not None:
            return obj  # type: ignore[no-any-return]
        for new in self._new.values():
            if type(new).__orm_entity__ is info and info.has_pk(new) and info.pk_of(new) == pk:
                return new  # type: ignore[no-any-return]
        select = self._pk_selects.get(info)
        if select is not None and pk is not None:
            f = info.primary_key[0]
            try:
                key = self.database.codec(info).value_to_db(f, f.coerce(pk))
            except ValidationError:
                select = None  # the query below names the key and the field
        if select is None or pk is None:
            from core.query import Query

            query: Query[T] = Query(self.database, info, self).by_pk(pk)
            sql, params, context = query._select(limit_one=True)
            if info.single_pk_name is not None and pk is not None:
                # The same text for every key, whose parameter comes first.
                self._pk_selects[info] = (sql, params, context)
            found = query._objects((self.database._fetch(sql, params, context),))
            return found[0] if found else None
        sql, params, context = select
        objs = self._merge_rows(info, (self.database._fetch(sql, [key, *params[1:]], context),))
        return objs[0] if objs else None

    def _load_reference(self, target: EntityInfo, pk: Any) -> Any:
        obj = self.get(target.cls, pk)
        if obj is None:
            raise NotFoundError(f"{target.cls.__name__} {pk!r} (a reference) does not exist")
        return obj

    def _resolve(self, target: EntityInfo, pk: Any) -> Any:
        obj = self._identity.lookup(target, pk)
        return obj if obj is not None else Unloaded(target, pk, self._load_reference)

    def refresh(self, obj: Any) -> None:
        """Reload ``obj`` from the database, dropping its unsaved changes."""
        info = entity_info(obj)
        if obj.__dict__.get(SESSION_ATTR) != self._token or id(obj) in self._new:
            raise SessionError(f"cannot refresh {info.describe(obj)}: it is not loaded here")
        from core.query import Query

        key = self._key_of(obj)
        row = Query(self.database, info, None).by_pk(key)._rows(limit_one=True)
        if not row:
            raise NotFoundError(f"cannot refresh {info.describe(obj)}: its row no longer exists")
        fresh = self.database.codec(info).hydrate(row[0], None, self._resolve)
        self._changed.pop(id(obj), None)
        self._touched.pop(id(obj), None)
        obj.__dict__.update(fresh.__dict__)

    def state_of(self, obj: Any) -> str:
        """``"new"``, ``"persistent"``, ``"removed"`` or ``"detached"``."""
        oid = id(obj)
        if oid in self._new:
            return "new"
        if oid in self._removed:
            return "removed"
        if obj.__dict__.get(SESSION_ATTR) == self._token:
            return "persistent"
        return "detached"

    def __contains__(self, obj: Any) -> bool:
        return self.state_of(obj) != "detached"

    # -- the change set ----------------------------------------------------------------------

    def changes(self) -> ChangeSet:
        """The pending change set: inserts, updates (``{field: (old, new)}``), deletes."""
        return unitofwork.collect(self)

    def counts(self) -> tuple[int, int, int]:
        """(to add, to change, to remove); visits the touched objects only, and builds no
        ``{field: (old, new)}`` records (the REPL's prompt asks after every line)."""
        if not self._changed:
            return len(self._new), 0, len(self._removed)
        with collector_paused(len(self._changed)):
            return unitofwork.collect(self, for_commit=True).counts()

    @property
    def is_dirty(self) -> bool:
        """Whether a commit would write anything (staged adds or removals answer at once)."""
        return bool(self._new or self._removed) or any(self.counts())

    def pending_sql(self) -> list[Statement]:
        """The statements ``commit()`` would send, after batching; nothing is run."""
        db = self.database
        steps = unitofwork.plan(self.changes(), db.dialect, db.codec)
        return [
            Statement(sql, params, rows)
            for sql, params, rows in persist.preview(steps, db.dialect, db.codec)
        ]

    # -- commit and rollback -----------------------------------------------------------------

    def commit(self) -> CommitResult:
        """Write every staged change in one transaction; on failure nothing changes."""
        staged = len(self._new) + len(self._changed) + len(self._removed)
        # A commit builds short-lived, acyclic containers only: no need for the cyclic
        # collector to scan the whole identity map several times while it runs.
        with collector_paused(staged):
            return self._commit()

    def _commit(self) -> CommitResult:
        started = time.perf_counter()
        cs = unitofwork.collect(self, for_commit=True)
        if cs.empty:
            self._changed.clear()
            self._touched.clear()
            return CommitResult(elapsed=time.perf_counter() - started)
        db = self.database
        steps = unitofwork.plan(cs, db.dialect, db.codec)
        with db._lock:
            conn = db._connection()
            try:
                conn.begin()
                result = persist.run(steps, conn, db.codec)
            except IntegrityError as exc:
                conn.rollback()
                self._name_culprit(cs, exc)
                self._name_referrer(cs, exc)
                raise
            except BaseException:
                conn.rollback()
                raise
            try:
                conn.commit()
            except OrmConnectionError:
                conn.rollback()
                raise
        self._finalize(cs, result)
        return CommitResult(
            result.inserts,
            result.updates,
            result.deletes,
            result.statements,
            time.perf_counter() - started,
        )

    def _stored_with(
        self, info: EntityInfo, name: str, values: list[Any], limit: int | None = None
    ) -> Iterator[tuple[int, list[Any]]]:
        """For naming a culprit after a failed commit: ``(start, rows)`` per 500 of ``values``
        (at most 20,000), the stored rows of ``info`` whose ``name`` is among them (``limit``
        rows at most); stops quietly if a query fails."""
        for start in range(0, min(len(values), 20_000), 500):
            query: Query[Any] = self.database.query(info.cls)
            query = query.filter(FieldRef(name).in_(values[start : start + 500]))
            try:
                yield start, (query.limit(limit) if limit else query).find()
            except OrmError:
                return

    def _taken_value(
        self, info: EntityInfo, name: str, staged: list[tuple[EntityInfo, Any]], values: list[Any]
    ) -> Any:
        """The first staged object whose ``name`` value a stored row already has; None when
        none is found."""
        for start, found in self._stored_with(info, name, values):
            taken = {repr(getattr(o, name)) for o in found}
            chunk = values[start : start + 500]
            for (_, obj), v in zip(staged[start : start + 500], chunk, strict=True):
                if repr(v) in taken:
                    return obj
        return None

    def _name_culprit(self, cs: ChangeSet, err: IntegrityError) -> None:
        """Add to a unique / not-null error which staged object and value caused it."""
        if not err.entity or not err.field:
            return
        staged = [(i.entity, i.obj) for i in cs.inserts] + [
            (info, obj)
            for (info, cols), group in cs.update_groups.items()
            if err.field in cols
            for obj in group.objs
        ]
        staged = [(i, o) for i, o in staged if i.cls.__name__ == err.entity]
        if not staged or not staged[0][0].has_field(err.field):
            return
        info = staged[0][0]
        f = info.field(err.field)
        values = [unitofwork.current_value(o, f) for _, o in staged]
        culprit: Any = None
        if any(v is None for v in values):
            culprit = staged[values.index(None)][1]
        else:
            seen: dict[Any, int] = {}
            for pos, v in enumerate(values):
                key = repr(v)
                if key in seen:
                    culprit = staged[pos][1]
                    break
                seen[key] = pos
            if culprit is None and f.unique and f.kind != "reference":
                culprit = self._taken_value(info, f.name, staged, values)
        if culprit is None:
            return
        value = unitofwork.current_value(culprit, f)
        position = ""
        if id(culprit) in self._new:
            position = f", staged #{list(self._new).index(id(culprit)) + 1}"
        err.obj = culprit
        err.args = (f"{err.args[0]}: {info.describe(culprit)}{position} has {f.name}={value!r}",)

    def _name_referrer(self, cs: ChangeSet, err: IntegrityError) -> None:
        """Add to a foreign-key error that names no field (SQLite's) which removed object a
        stored row still refers to, and through which field."""
        if err.field or err.kind != "FOREIGN KEY" or not cs.delete_groups:
            return
        for info, (objs, pks) in cs.delete_groups.items():
            if len(info.primary_key) != 1:
                continue
            removed = dict(zip(pks, objs, strict=True))
            for referrer in self.database.entities:
                for f in referrer.references:
                    if f.target is not info:
                        continue
                    rows = (
                        r for _, found in self._stored_with(referrer, f.name, pks, 1) for r in found
                    )
                    row = next(rows, None)
                    if row is None:
                        continue
                    key = row.__dict__.get(f.name)
                    key = key.pk if type(key) is Unloaded else info.pk_of(key)
                    name = referrer.cls.__name__
                    err.entity, err.field = name, f.name
                    err.args = (
                        f"{err.args[0]} on {name}.{f.name}: {info.describe(removed[key])} is "
                        f"still referred to by {referrer.describe(row)}; remove or change "
                        "that first",
                    )
                    return

    def _finalize(self, cs: ChangeSet, result: persist.PersistResult) -> None:
        """After COMMIT succeeded: assign keys, map new objects, forget removed ones."""
        identity = self._identity
        for info, objs, keys in result.inserted:
            mapping = identity.mapping(info)
            if keys is not None:
                auto = info.autoincrement
                assert auto is not None
                name = auto.name
                for obj, key in zip(objs, keys, strict=True):
                    if key is not None:  # (a driver that could not tell keeps the object's)
                        obj.__dict__[name] = key
            if keys is None or None in keys:
                for obj in objs:
                    mapping[info.pk_of(obj)] = obj
            else:
                mapping.update(zip(keys, objs, strict=True))
        self._new.clear()
        self._changed.clear()
        self._touched.clear()
        for info, (objs, pks) in cs.delete_groups.items():
            if len(pks) == identity.count(info):  # every loaded one (removed ones are mapped)
                identity.drop(info)
            else:
                pop = identity.mapping(info).pop
                for pk in pks:
                    pop(pk, None)
            for obj in objs:
                obj.__dict__.pop(SESSION_ATTR, None)
        self._removed.clear()

    def rollback(self) -> None:
        """Discard staged work: drop adds, cancel removes, restore changed attributes."""
        touched = self._touched
        for oid, old_values in self._changed.items():
            d = touched[oid].__dict__
            for name, old in old_values.items():
                if old is MISSING:
                    d.pop(name, None)
                else:
                    d[name] = old
        self._changed.clear()
        touched.clear()
        for obj in self._new.values():
            obj.__dict__.pop(SESSION_ATTR, None)
        self._new.clear()
        self._removed.clear()

    def close(self) -> None:
        """Forget everything (staged work is discarded, objects are detached)."""
        self.rollback()
        for obj in self._identity.objects():
            obj.__dict__.pop(SESSION_ATTR, None)
        self._identity.clear()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- used by core.query --------------------------------------------------------------------

    def _merge_rows(self, info: EntityInfo, chunks: Iterable[Sequence[Any]]) -> list[Any]:
        """Objects for rows, given as sequences of rows: the identity-mapped one where it
        exists (left as it is)."""
        identity = self._identity
        mapping = identity.mapping(info)  # (a load deferred earlier enters it now)

        def defer(keys: list[Any], objs: list[Any]) -> None:
            identity.defer(info, keys, objs)

        codec = self.database.codec(info)
        with collector_paused():
            return codec.merge(chunks, self._token, mapping, self._resolve, defer)

    def _forget(self, info: EntityInfo, keys: Iterable[Any]) -> None:
        """Rows deleted by a bulk ``delete_many``: detach their objects."""
        mapping = self._identity.get(info) or {}
        for key in keys:
            obj = mapping.pop(key, None)
            if obj is not None:
                oid = id(obj)
                self._changed.pop(oid, None)
                self._touched.pop(oid, None)
                self._removed.pop(oid, None)
                obj.__dict__.pop(SESSION_ATTR, None)
