"""The Session: a unit of work with an identity map, change tracking, commit and rollback.

What a session holds (all keyed by ``id(obj)``; the session keeps strong references):

- ``_identity``: per entity, primary key -> the one object for that row in this session
  (``core.identity``: a first load's keys may enter it only when first needed);
- ``_new``: objects staged with ``add`` (insertion order is commit order within a batch);
- ``_removed``: persistent objects staged with ``remove``;
- ``_upserts``: the objects of ``_new`` staged with ``upsert`` instead, and their
  ``core.upsert.UpsertSpec`` (they sit in ``_new`` so that the ``__setattr__`` hook, unstaging
  and rollback treat them as staged new objects);
- ``_changed`` / ``_touched``: per touched persistent object, the value each field had before
  its first assignment since the last commit, and the object itself (both recorded by the
  entity's ``__setattr__`` hook; a read of a JSON field's list or dict records a copy too,
  since it may be edited in place);
- ``_coll_log``: each loaded collection's items and pivot links before its first edit since
  the last commit (or savepoint), for ``rollback`` to put back; ``_orphans``: children taken
  out of a collection whose reference cannot be None (checked at commit).

An object of a stored row that the session does not track, reached by cascade (assigned to
a reference, put in a collection, referred to by a new object), is a reference to that row,
never inserted: ``_as_stored`` gives the session's object for it (attaching it when the
session maps none).

Collections (``core.collection``) turn their edits into reference changes and pivot objects
staged here; after a commit, removed objects leave the loaded collections, and the rows the
database deleted or cleared through ``ON DELETE CASCADE`` / ``SET NULL`` are deleted or cleared
in memory too (``_apply_on_delete``).

An object the session tracks holds the session's token (an int) under ``SESSION_ATTR``, not
the session: ``core.entity.TRACKERS`` leads the hook from the token to the dicts above. A
loaded object's references hold bare keys until first read, resolved through that token
(``core.entity``): while the session lives, through it; once it is garbage collected,
untracked from its database (``_new_token``). An object that leaves a living session
(removed, forgotten, the session closed) has them pinned to ``Unloaded`` placeholders that
load through the session, as every reference did before (``_pin_keys``).

``commit`` = ``unitofwork.collect`` -> ``unitofwork.plan`` -> ``persist.run`` inside one
transaction -> only then ``_finalize`` changes objects (keys assigned, snapshots retaken). A
failed commit rolls the transaction back and leaves the session exactly as it was. Callers:
user code and ``ormcli``. What it leaves out: SQL (``core.sql``), statement execution
(``core.persist``), query building (``core.query``).
"""

from __future__ import annotations

import itertools
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from core import collection_load, persist, unitofwork
from core.codec import Resolver, collector_paused, same_reference
from core.collection import (
    SESSIONS,
    STAGING,
    TOKEN_BLOCK_BITS,
    TOKEN_DATABASES,
    UNTRACKED,
    UNTRACKED_SOURCE,
    install,
    install_item,
    make_links,
    remove_item,
    replace_item,
    restore,
    stands_for_row,
)
from core.entity import (
    SESSION_ATTR,
    TRACKERS,
    EntityInfo,
    FieldInfo,
    Unloaded,
    entity_info,
    is_entity,
    unloaded_key,
)
from core.errors import (
    ConflictError,
    IntegrityError,
    NotFoundError,
    OrmError,
    SessionError,
    ValidationError,
)
from core.events import Events, entity_hooks
from core.expressions import FieldRef
from core.identity import IdentityMap
from core.raw import column_order
from core.records import Record, Struct, init_member
from core.types import MISSING
from core.unitofwork import ChangeSet
from core.upsert import UpsertSpec, check_object, spec_for

if TYPE_CHECKING:
    from core.connection import Connection
    from core.database import Database
    from core.query import Query

__all__ = ["CommitResult", "Session", "Statement"]

T = TypeVar("T")


def _forget_token(token: int, new: dict[int, Any], _ref: object = None) -> None:
    """A session is gone (one weak reference's callback, not three finalizers): its staged new
    objects lose its token, so they stand for no row (``core.collection.stands_for_row``), and
    the token leads nowhere but to the session's database (``core.collection.database_of_token``:
    the references and collections of its loaded objects load untracked from there)."""
    for obj in new.values():
        obj.__dict__.pop(SESSION_ATTR, None)
    SESSIONS.pop(token, None)
    STAGING.pop(token, None)
    TRACKERS.pop(token, None)


_token_blocks = itertools.count(1)
_token_lock = threading.Lock()
#: Per database, its current block of session tokens and the counter within it.
_token_counters: weakref.WeakKeyDictionary[Database, tuple[int, Iterator[int]]] = (
    weakref.WeakKeyDictionary()
)
_BLOCK_SIZE = 1 << TOKEN_BLOCK_BITS


def _block_dropper(block: int) -> Callable[[weakref.ref[Any]], None]:
    def drop(_: weakref.ref[Any]) -> None:
        TOKEN_DATABASES.pop(block, None)

    return drop


def _new_token(database: Database) -> int:
    """A session token never given before, in a block of the database's own
    (``core.entity.TOKEN_DATABASES``)."""
    while True:
        current = _token_counters.get(database)
        if current is not None:
            block, counter = current
            n = next(counter)  # (atomic: sessions are made on many threads)
            if n < _BLOCK_SIZE:
                return block << TOKEN_BLOCK_BITS | n
        with _token_lock:
            if _token_counters.get(database) is current:
                block = next(_token_blocks)
                TOKEN_DATABASES[block] = weakref.ref(database, _block_dropper(block))
                _token_counters[database] = (block, itertools.count(1))


def _pin_keys(objs: Iterable[Any], loader: Callable[[EntityInfo, Any], Any]) -> None:
    """Objects leaving their session while it lives (removed, forgotten, the session closed:
    they lose its token): each bare key their references hold (as a session's load stores
    them, resolved through the object's session) becomes an ``Unloaded`` placeholder that
    loads through ``loader`` (one per key, shared: it is immutable)."""
    if not isinstance(objs, list | tuple):
        objs = list(objs)
    refs_of = {c: entity_info(c).references for c in set(map(type, objs))}
    if not any(refs_of.values()):
        return  # (no class of these objects has a reference: the common case)
    made: dict[tuple[EntityInfo, Any], Unloaded] = {}
    for obj in objs:
        refs = refs_of[type(obj)]
        if not refs:
            continue
        d = obj.__dict__
        for f in refs:
            v = d.get(f.name)
            if v is not None and type(v) is not Unloaded and not hasattr(v, "__dict__"):
                target = f.target
                assert target is not None
                u = made.get((target, v))
                if u is None:
                    u = made[target, v] = Unloaded(target, v, loader)
                d[f.name] = u


class CommitResult(Record):
    """What a commit sent: row counts, statements (an ``executemany`` is one), seconds;
    ``upserts``: rows sent as upserts (each inserted or updated; the database does not say
    which). Immutable; compared and hashed by value (a ``Record`` whose members live in its
    ``__dict__``)."""

    _fields = ("inserts", "updates", "deletes", "statements", "elapsed", "upserts")
    inserts: int
    updates: int
    deletes: int
    statements: int
    elapsed: float
    upserts: int

    def __init__(
        self,
        inserts: int = 0,
        updates: int = 0,
        deletes: int = 0,
        statements: int = 0,
        elapsed: float = 0.0,
        upserts: int = 0,
    ) -> None:
        # One dict update instead of six ``object.__setattr__`` calls (every commit makes one:
        # 2.0 -> 0.9 us a construction, timeit on a loaded machine).
        self.__dict__.update(
            inserts=inserts,
            updates=updates,
            deletes=deletes,
            statements=statements,
            elapsed=elapsed,
            upserts=upserts,
        )


class _Flushed(Struct):
    """One entry of a session's journal: what a flush did to memory, to stage it again.

    ``insert``: objects of ``info`` and their key values before keys were assigned (``data``,
    None when they carried their keys); ``update``: objects and their old values (JSON fields
    included: a read of one records a copy, see ``core.entity``); ``delete``: objects of
    ``info`` and their keys. ``bulk_update`` / ``bulk_delete`` (``patch_many`` /
    ``delete_many``): the same, but undone by putting memory back, never staged again.
    """

    __slots__ = ("data", "info", "kind", "objs")
    kind: str
    info: EntityInfo | None
    objs: list[Any]
    data: list[Any] | None

    def __init__(
        self, kind: str, info: EntityInfo | None, objs: list[Any], data: list[Any] | None
    ) -> None:
        self.kind = kind
        self.info = info
        self.objs = objs
        self.data = data


class Statement(Record):
    """A statement a commit would send: its SQL, its parameters, the rows it covers."""

    __slots__ = ("params", "rows", "sql")
    sql: str
    params: list[Any]
    rows: int

    def __init__(self, sql: str, params: list[Any], rows: int) -> None:
        init_member(self, "sql", sql)
        init_member(self, "params", params)
        init_member(self, "rows", rows)


class Session:
    """A unit of work on one database. Create it with ``database.create_session()``."""

    def __init__(self, database: Database) -> None:
        self.database = database
        #: Reads outside a transaction may go to a replica (``core.cluster``) until the session
        #: first flushes or commits; from then on they go to the primary (read-your-writes).
        self.replica_reads = database.replica_reads
        self._wrote = False
        #: Hooks of this session only (``on``), and whether a commit already ran the
        #: before-hooks for the flush it makes.
        self.events = Events()
        self._hooks_done = False
        self._identity = IdentityMap()
        self._new: dict[int, Any] = {}
        self._removed: dict[int, Any] = {}
        self._upserts: dict[int, UpsertSpec] = {}
        self._changed: dict[int, dict[str, Any]] = {}
        self._touched: dict[int, Any] = {}
        #: Hints for the commit: objects whose change record a relation move made
        #: (``core.collection``'s quick move); checked at commit, so stale ones are harmless
        #: (``EntityCodec.collect_moves``). Emptied with ``_changed``.
        self._moved: list[Any] = []
        #: The connection this session holds while its transaction is open, what the
        #: transaction's flushes did to memory (undone by ``rollback``), and the names of the
        #: savepoints set, innermost last.
        self._conn: Connection | None = None
        self._journal: list[_Flushed] = []
        self._savepoints: list[str] = []
        self._tx_work = False  # whether the open transaction has sent any work
        #: A scoped session (``Database.transaction``): reads open the transaction too.
        self._scoped = False
        #: Loaded collections before their first edit since the last commit or savepoint:
        #: ``(collection, items, links)``, oldest first; ``_coll_epoch``: the mark a collection
        #: logged since holds (its ``_logged``; a new one after each commit, rollback and
        #: savepoint entry); ``_orphans``: ``id(child) -> (child, relation, owner)`` for children
        #: taken out of a collection whose reference is not nullable.
        #: An entry ``(collection, None, None)``: a collection loaded while the session had
        #: uncommitted work (which its items reflect), unloaded by a rollback past it.
        self._coll_log: list[tuple[Any, list[Any] | None, dict[int, Any] | None]] = []
        self._coll_epoch = object()
        self._orphans: dict[int, tuple[Any, Any, Any]] = {}
        # What objects hold instead of the session (see core.entity.TRACKERS).
        self._token = _new_token(database)
        TRACKERS[self._token] = (self._changed, self._touched, self._new)
        self._stage()
        # (A weak reference with a callback: a third of what ``weakref.finalize`` costs a
        # request; SESSIONS keeps it alive until the callback runs.)
        SESSIONS[self._token] = weakref.ref(self, partial(_forget_token, self._token, self._new))

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
                if (
                    auto is None
                    or info.references  # type: ignore[union-attr]
                    or info._relation_specs  # type: ignore[union-attr]
                    or not hasattr(obj, "__dict__")
                ):
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
            if existing is not None and existing is not obj and id(existing) not in self._removed:
                raise SessionError(
                    f"{info.describe(obj)} is already loaded in this session as another object; "
                    "change that object instead"
                )
        self._new[id(obj)] = obj
        obj.__dict__[SESSION_ATTR] = self._token
        self._cascade_add(info, obj)

    def _cascade_add(self, info: EntityInfo, obj: Any) -> None:
        """Stage what comes with a new object: the objects it references that no session
        has (new ones, with a key or without; one already loaded here under that key is
        left alone), and the items and pivot links of its collections; then it joins the
        loaded collections of its owners (as a child, or as a pivot row its target)."""
        d = obj.__dict__
        token = self._token
        self._stage_references(info, obj)
        if info._relation_specs:
            for name in info._relation_specs:
                coll = d.get(name)
                if coll is None:
                    continue
                rel = info.relations[name]
                for item in list(coll):
                    if item.__dict__.get(SESSION_ATTR) == token:
                        continue
                    stored = self._as_stored(item, load=True)
                    if stored is None:
                        self._add_one(item)
                    else:
                        replace_item(coll, item, stored)
                        if rel.pivot is None:
                            self._join_new_owner(rel, obj, item, stored)
                for pivot in list(coll._links.values()):
                    if pivot.__dict__.get(SESSION_ATTR) != token:
                        self._add_one(pivot)
        for f in info.references:
            for rel in f.relations:
                owner = d.get(f.name)
                coll = owner.__dict__.get(rel.name) if hasattr(owner, "__dict__") else None
                if coll is None:
                    continue
                target_field = rel.pivot_target
                member = obj if target_field is None else d.get(target_field.name)
                key = unloaded_key(member)
                if key is not None:
                    assert target_field is not None and target_field.target is not None
                    member = self._load_reference(target_field.target, key)
                if member is not None and not any(x is member for x in coll):
                    self._log_collection(coll)
                    install_item(coll, member, obj if rel.pivot is not None else None)

    def _join_new_owner(self, rel: Any, owner: Any, item: Any, stored: Any) -> None:
        """``stored`` (the session's object for ``item``'s row) belongs to the new ``owner``'s
        collection: its reference to the owner is a change to write."""
        name = rel.reference.name
        if stored is not item:
            setattr(stored, name, owner)  # (recorded, and moved between loaded collections)
            return
        # ``item`` itself was attached: it joined the collection while it belonged to no
        # session, so the value its row holds is read (one query), for a rollback to put back.
        from core.query import Query

        info: EntityInfo = rel.target
        rows = (
            Query(self.database, info, None, via=self)
            .by_pk(info.pk_of(stored))
            ._rows(limit_one=True)
        )
        old = None
        if rows:
            old = self.database.codec(info).hydrate(rows[0], None, self._resolve).__dict__[name]
        stored.__dict__[name] = owner
        self._changed.setdefault(id(stored), {}).setdefault(name, old)
        self._touched[id(stored)] = stored

    def upsert(
        self,
        *objs: Any,
        on: str | Sequence[str] | None = None,
        update: str | Sequence[str] | None = None,
    ) -> None:
        """Stage objects to be inserted, or written into the row they conflict with.

        ``on``: the field(s) that find an object's row — the primary key (the default), a
        ``Unique`` field, or the fields of an ``@entity.index(..., unique=True)``; every object
        must hold a value there. ``update``: the fields the update branch writes (default:
        every field but the key, the ``on`` fields and the ``Version``). At commit each group
        is sent as batched ``INSERT ... ON CONFLICT (on) DO UPDATE`` (``ON DUPLICATE KEY
        UPDATE`` on MariaDB/MySQL); afterwards every object holds its row's key and stored
        values and is tracked — unless the session already holds that row as another object:
        then that object takes the written values and the one given stays detached.

        Upserting an object staged with ``upsert`` again replaces its ``on`` / ``update``;
        ``remove`` unstages it. An object loaded in (or added to) this session is refused.
        """
        # Every object is checked before any is staged: a bad one stages nothing.
        spec: UpsertSpec | None = None
        info: EntityInfo | None = None
        seen: type | None = None
        token = self._token
        checked: list[tuple[Any, UpsertSpec, EntityInfo]] = []
        for obj in objs:
            cls = type(obj)
            if cls is not seen:
                if isinstance(obj, type) or not is_entity(obj):
                    raise SessionError(f"session.upsert() takes entity objects, got {obj!r}")
                info = entity_info(obj)
                if spec is None or spec.entity is not info:
                    spec = spec_for(
                        info,
                        tuple(on) if on is not None and not isinstance(on, str) else on,
                        tuple(update)
                        if update is not None and not isinstance(update, str)
                        else update,
                        self.database.dialect,
                    )
                seen = cls
            assert spec is not None and info is not None
            d = obj.__dict__
            owner = d.get(SESSION_ATTR)
            if owner is not None:
                oid = id(obj)
                if owner == token and oid not in self._upserts:
                    how = "added to" if oid in self._new else "loaded in"
                    raise SessionError(
                        f"cannot upsert {info.describe(obj)}: it is {how} this session "
                        "already; change its fields (or stage a new object) instead"
                    )
                if owner != token and owner in TRACKERS:
                    raise SessionError(
                        f"{info.describe(obj)} belongs to another session; upsert it in one "
                        "session only"
                    )
            for name in spec.on:
                if d.get(name) in (None, 0):  # (0: no value for a generated key only)
                    check_object(spec, obj)
            for name in info._relation_specs:
                if d.get(name):
                    raise SessionError(
                        f"cannot upsert {info.describe(obj)} with items in its collection "
                        f"{name!r}: an upsert writes columns only; stage the items with "
                        "session.add() once its row exists"
                    )
            checked.append((obj, spec, info))
        new, upserts = self._new, self._upserts
        for obj, spec, info in checked:
            oid = id(obj)
            new[oid] = obj
            upserts[oid] = spec
            obj.__dict__[SESSION_ATTR] = token
            if info.references:
                self._stage_references(info, obj)

    def _stage_references(self, info: EntityInfo, obj: Any) -> None:
        """Stage (add) the new objects ``obj`` references that no session has; a reference to
        an object of a stored row, or to a new object with the key of a row the session
        holds, is pointed at the session's object of that row instead."""
        d = obj.__dict__
        token = self._token
        for f in info.references:
            ref = d.get(f.name)
            if ref is None or not hasattr(ref, "__dict__"):  # (None, or a key)
                continue
            if ref.__dict__.get(SESSION_ATTR) == token:
                continue
            stored = self._as_stored(ref)
            if stored is None:
                target = f.target
                assert target is not None
                mapped = (
                    self._identity.lookup(target, target.pk_of(ref)) if target.has_pk(ref) else None
                )
                if mapped is None or id(mapped) in self._removed:
                    self._add_one(ref)
                    continue
                stored = mapped  # a new object with the key of a row the session holds
            d[f.name] = stored

    def remove(self, *objs: Any) -> None:
        """Stage objects for deletion; removing a staged new object just unstages it."""
        removed = self._removed
        token = self._token
        new = self._new
        for obj in objs:
            # Fast path: a persistent object of this session.
            try:
                d = obj.__dict__
            except AttributeError:
                d = None
            oid = id(obj)
            if d is not None and d.get(SESSION_ATTR) == token and oid not in new:
                removed[oid] = obj
                continue
            if isinstance(obj, type) or not is_entity(obj):
                raise SessionError(f"session.remove() takes entity objects, got {obj!r}")
            info = entity_info(obj)
            if oid in self._new:
                self._unstage_new(obj)
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
            self._unstage_new(obj)
        self._removed.pop(oid, None)

    def _unstage_new(self, obj: Any) -> None:
        """Forget a staged new object: it leaves the loaded collections it is in, and staged
        new rows that cannot exist without it (a pivot row, whose key refers to it) go too."""
        del self._new[id(obj)]
        obj.__dict__.pop(SESSION_ATTR, None)
        if self._upserts.pop(id(obj), None) is not None:
            return  # (an upsert joined no collection)
        self._drop_from_collections([obj])
        for other in list(self._new.values()):
            info: EntityInfo = type(other).__orm_entity__
            d = other.__dict__
            if any(f.kind == "reference" and d.get(f.name) is obj for f in info.primary_key):
                self._unstage_new(other)

    def _attach(self, info: EntityInfo, key: Any, obj: Any) -> None:
        self._identity.mapping(info)[key] = obj
        obj.__dict__[SESSION_ATTR] = self._token

    def _as_stored(self, obj: Any, *, load: bool = False) -> Any:
        """For an object this session does not track, reached by cascade (assigned to a
        reference, put in a collection, referenced by a new object): if it stands for a stored
        row, the object this session uses for that row; None when it is new (to be staged).

        - loaded untracked (``database.query``) or left by a closed (or collected) session:
          the object the session already maps under its key, else the object itself, attached
          (``_adopt``: persistent here, never inserted);
        - tracked by another open session: the session's own object for the row (mapped, or
          a key loaded on first read; with ``load``, loaded now); not the other session's.
        """
        d = obj.__dict__
        token = d.get(SESSION_ATTR)
        if token == self._token:
            return obj
        info: EntityInfo = type(obj).__orm_entity__
        tracker = TRACKERS.get(token) if token is not None else None
        if tracker is not None:  # another open session's object
            if id(obj) in tracker[2] or not info.has_pk(obj):
                raise SessionError(
                    f"{info.describe(obj)} is new in another session; commit it there first, "
                    "or add it to one session only"
                )
        elif not stands_for_row(obj) or not info.has_pk(obj):
            return None
        key = info.pk_of(obj)
        mapped = self._identity.lookup(info, key)
        if mapped is not None:
            return mapped
        if tracker is not None:
            return self._load_reference(info, key) if load else self._resolve(info, key)
        self._adopt(info, key, obj)
        return obj

    def _adopt(self, info: EntityInfo, key: Any, obj: Any) -> None:
        """Attach ``obj`` (an object of a stored row that belongs to no session) under ``key``:
        it is persistent here from now on, its fields as it holds them taken for the stored
        ones. Its references are rebound to this session (bare keys load through it, objects
        of stored rows are taken as in ``_as_stored``, new ones staged) and its collections,
        loaded elsewhere, are unloaded: their next read loads them through this session."""
        d = obj.__dict__
        d.pop(UNTRACKED_SOURCE, None)
        self._attach(info, key, obj)
        for f in info.references:
            ref = d.get(f.name)
            if ref is None:
                continue
            if type(ref) is Unloaded:
                if ref.loader != self._load_reference:
                    d[f.name] = self._resolve(ref.target, ref.pk)
            elif not hasattr(ref, "__dict__"):
                continue  # a bare key: it resolves through the object's session, now this one
            elif ref.__dict__.get(SESSION_ATTR) != self._token:
                stored = self._as_stored(ref)
                if stored is None:
                    self._add_one(ref)
                else:
                    d[f.name] = stored
        for name in info._relation_specs:
            d.pop(name, None)

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

    # -- collections ---------------------------------------------------------------------------

    def _stage(self) -> None:
        """Put the session's containers in ``core.collection.STAGING`` (the quick move's)."""
        STAGING[self._token] = (
            self._changed,
            self._touched,
            self._new,
            self._coll_epoch,
            self._coll_log,
            self._moved,
        )

    def _new_log_epoch(self) -> None:
        """No collection is logged any more (after a commit, a rollback, a savepoint's entry):
        a new mark, which none holds."""
        self._coll_epoch = object()
        if self._token in STAGING:  # (not for a session that is gone)
            self._stage()

    def _log_collection(self, coll: Any) -> None:
        """Before an edit of a loaded collection: remember its items (once per commit or
        savepoint), for ``rollback``."""
        epoch = self._coll_epoch
        if getattr(coll, "_logged", None) is epoch:
            return
        coll._logged = epoch
        # (A one-to-many collection has no links: none to copy, nor to make first.)
        linked = coll._linked
        links = {} if not linked and coll._relation.pivot is None else dict(coll._links)
        self._coll_log.append((coll, list(coll), links))

    def _restore_collections(self, mark: int) -> None:
        """Put the collections logged after position ``mark`` back, newest edit first."""
        for coll, items, links in reversed(self._coll_log[mark:]):
            if items is None or links is None:
                d = coll._owner.__dict__
                if d.get(coll._relation.name) is coll:
                    del d[coll._relation.name]  # (the next read loads it again)
            else:
                restore(coll, items, links)
        del self._coll_log[mark:]
        self._new_log_epoch()

    def _forget_collection_log(self) -> None:
        self._coll_log.clear()
        self._new_log_epoch()
        self._orphans.clear()

    def _pivots_for(self, rel: Any, owner: Any, items: list[Any]) -> list[Any]:
        """The pivot objects of the stored links of ``owner`` to ``items`` in a collection
        whose pivots are made on first need (``core.collection.lazy_pivots``): the object
        this session maps under the link's key where there is one, else a new one, mapped
        and attached as a load would have made it."""
        pivot: EntityInfo = rel.pivot
        mapping = self._identity.mapping(pivot)
        own = rel.pivot_owner
        own_first = pivot.primary_key[0] is own
        owner_key = self._key_of(owner)
        target_pk = rel.target.primary_key[0].name
        cls, token = pivot.cls, self._token
        names = [f.name for f in pivot.fields]
        out = []
        for item in items:
            item_key = item.__dict__[target_pk]
            key = (owner_key, item_key) if own_first else (item_key, owner_key)
            obj = mapping.get(key)
            if obj is None:
                obj = object.__new__(cls)
                d: dict[str, Any] = obj.__dict__
                for name in names:
                    d[name] = owner if name == own.name else item
                d[SESSION_ATTR] = token
                mapping[key] = obj
            out.append(obj)
        return out

    def _pivots_needed(self, pivot: EntityInfo, deleted: EntityInfo, objs: list[Any]) -> None:
        """Before the ``ON DELETE`` of deleted ``objs`` (of ``deleted``) is applied to the
        pivot objects this session maps: make the pivot objects (``_pivots_for``) of the
        loaded collections through ``pivot`` that the rule reaches and that have not made
        them yet — the deleted objects' own collections, and those holding a deleted item."""
        ids = {id(o) for o in objs}
        for info in self.database.entities:
            for rel in info.relations.values():
                if rel.pivot is not pivot:
                    continue
                owners: Iterable[Any] = ()
                if info is deleted:
                    owners = objs
                if rel.target is deleted:
                    mapping = self._identity.get(info)
                    owners = itertools.chain(owners, list(mapping.values()) if mapping else ())
                for owner in owners:
                    coll = owner.__dict__.get(rel.name)
                    if (
                        coll is not None
                        and coll._linked is None
                        and (id(owner) in ids or any(id(x) in ids for x in coll))
                    ):
                        make_links(coll, self)  # (a deleted owner is detached already)

    def _load_collection(self, owner: Any, rel: Any) -> Any:
        """``owner``'s collection ``rel``, put on it: the stored items (one query, for an
        object that has its row) as memory has them now, then staged objects that joined it."""
        stored: list[Any] = []
        pivots: list[Any] = []
        if id(owner) not in self._new:
            stored, pivots = collection_load.load(self, owner, rel)
        return self._install_collection(owner, rel, stored, pivots)

    def _install_collection(
        self, owner: Any, rel: Any, stored: list[Any], pivots: list[Any]
    ) -> Any:
        """Put on ``owner`` its collection ``rel`` from the ``stored`` items (and for
        many-to-many their pivot objects) as memory has them now, with the staged objects that
        joined it (also for ``query.eager``: ``core.loaders``)."""
        new = self._new
        items: list[Any] = []
        links: list[Any] = []
        if rel.pivot is None:
            name = rel.reference.name
            key = self._key_of(owner) if id(owner) not in new else MISSING

            def belongs(item: Any) -> bool:
                v = item.__dict__.get(name)
                return v is owner or unloaded_key(v) == key

            items = [item for item in stored if belongs(item)]
            seen = {id(x) for x in items}
            for obj in itertools.chain(new.values(), self._touched.values()):
                if (
                    id(obj) not in seen
                    and id(obj) not in self._upserts
                    and type(obj).__orm_entity__ is rel.target
                    and obj.__dict__.get(name) is owner
                ):
                    items.append(obj)
                    seen.add(id(obj))
        else:
            own, tgt = rel.pivot_owner.name, rel.pivot_target.name
            for item, pivot in zip(stored, pivots, strict=True):
                if id(pivot) not in self._removed:
                    items.append(item)
                    links.append(pivot)
            for obj in new.values():
                if (
                    type(obj).__orm_entity__ is rel.pivot
                    and obj.__dict__.get(own) is owner
                    and id(obj) not in self._upserts
                ):
                    target = obj.__dict__.get(tgt)
                    key = unloaded_key(target)
                    if key is not None:
                        target = self._load_reference(rel.target, key)
                    items.append(target)
                    links.append(obj)
        coll = install(owner, rel, items, links)
        if new or self._touched or self._removed or self._conn is not None:
            # Its items reflect uncommitted work: a rollback unloads it.
            self._coll_log.append((coll, None, None))
        return coll

    def _check_orphans(self) -> None:
        """Before a flush: a child taken out of a collection whose reference cannot be None
        must have gone to another owner or been removed."""
        for child, rel, owner in self._orphans.values():
            ref = rel.reference
            if (
                child.__dict__.get(ref.name) is None
                and id(child) not in self._removed
                and child.__dict__.get(SESSION_ATTR) == self._token
            ):
                info = rel.target
                owner_label = rel.owner.describe(owner)
                raise SessionError(
                    f"{info.describe(child)} was taken out of {owner_label}'s {rel.name} and "
                    f"{info.cls.__name__}.{ref.name} cannot be None; put it in another "
                    f"{rel.owner.cls.__name__}'s {rel.name}, remove it with session.remove(), "
                    f"or declare Reference(orphans='delete')"
                )

    def _drop_from_collections(
        self, objs: Iterable[Any], fields: Sequence[FieldInfo] | None = None
    ) -> None:
        """Deleted objects leave the loaded collections they are in (a child its owner's, a
        pivot's target its owner's); with ``fields``, only the collections those reference
        fields feed (the objects' references are about to change)."""
        if not isinstance(objs, list | tuple):
            objs = list(objs)
        # Per class, the fields that feed collections; none at all is the common removal.
        feeding_of = {
            c: [f for f in (entity_info(c).references if fields is None else fields) if f.relations]
            for c in set(map(type, objs))
        }
        if not any(feeding_of.values()):
            return
        for obj in objs:
            feeding = feeding_of[type(obj)]
            if not feeding:
                continue
            d = obj.__dict__
            for f in feeding:
                for rel in f.relations:
                    owner = self._mapped_target(d.get(f.name), f)
                    coll = owner.__dict__.get(rel.name) if owner is not None else None
                    if coll is None:
                        continue
                    if rel.pivot is None:
                        member = obj
                    else:
                        member = next((x for x in coll if coll._links.get(id(x)) is obj), None)
                    if member is not None and any(x is member for x in coll):
                        self._log_collection(coll)
                        if isinstance(coll, set):
                            set.discard(coll, member)
                        else:
                            list.remove(coll, member)
                        coll._links.pop(id(member), None)

    def _mapped_target(self, value: Any, f: FieldInfo) -> Any:
        """The object reference ``f`` holding ``value`` points at in this session: the value
        itself when it is an object (or None), the identity-mapped object of a stored key
        (None when this session maps none)."""
        key = unloaded_key(value)
        if key is None:
            return value
        assert f.target is not None
        return self._identity.lookup(f.target, key)

    def _join_collections(self, objs: Iterable[Any], fields: Sequence[FieldInfo]) -> None:
        """Objects whose reference ``fields`` were just set by a bulk statement join the loaded
        collections of their new owners (a one-to-many child its owner's; for a pivot object,
        the owner's many-to-many collection is unloaded: the next read loads it again)."""
        for obj in objs:
            d = obj.__dict__
            for f in fields:
                owner = self._mapped_target(d.get(f.name), f)
                if owner is None:
                    continue
                for rel in f.relations:
                    coll = owner.__dict__.get(rel.name)
                    if coll is None:
                        continue
                    self._log_collection(coll)
                    if rel.pivot is not None:
                        del owner.__dict__[rel.name]
                    elif not any(x is obj for x in coll):
                        install_item(coll, obj)

    def _apply_on_delete(
        self, deleted: list[tuple[EntityInfo, list[Any], list[Any]]], bulk: bool = False
    ) -> None:
        """After rows were deleted: what ``ON DELETE CASCADE`` / ``SET NULL`` did to the rows
        that referred to them, done to the loaded objects of those rows (cascaded ones leave
        the session as deleted, cleared ones get None), transitively. ``bulk``: the rows went
        by a bulk statement, so a rollback maps and restores these objects without staging
        anything (after a commit's flush, it stages the removals and changes again)."""
        identity = self._identity
        journal = self._conn is not None  # inside a transaction: rollback must undo this
        update_kind, delete_kind = ("bulk_update", "bulk_delete") if bulk else ("update", "delete")
        work = list(deleted)
        while work:
            info, objs, keys = work.pop()
            ids: set[int] | None = None  # (made once a loaded referrer needs them)
            keyset: set[Any] = set()
            for referrer in self.database.entities:
                for f in referrer.references:
                    if f.target is not info or f.on_delete == "restrict":
                        continue
                    self._pivots_needed(referrer, info, objs)
                    mapping = identity.get(referrer)
                    if not mapping:
                        continue
                    name = f.name
                    hits = []
                    if ids is None:
                        ids, keyset = {id(o) for o in objs}, set(keys)
                    for o in list(mapping.values()):
                        v = o.__dict__.get(name)
                        if v is None:
                            continue
                        if id(v) in ids or unloaded_key(v) in keyset:
                            hits.append(o)
                    if not hits:
                        continue
                    if f.on_delete == "set null":
                        if journal:
                            olds = [{name: o.__dict__[name]} for o in hits]
                            self._journal.append(_Flushed(update_kind, referrer, hits, olds))
                        for o in hits:
                            self._drop_from_collections([o])
                            o.__dict__[name] = None
                            old = self._changed.get(id(o))
                            if old is not None:
                                old.pop(name, None)
                        continue
                    pks = [referrer.pk_of(o) for o in hits]
                    self._drop_from_collections(hits)
                    _pin_keys(hits, self._load_reference)
                    for o, pk in zip(hits, pks, strict=True):
                        mapping.pop(pk, None)
                        oid = id(o)
                        self._changed.pop(oid, None)
                        self._touched.pop(oid, None)
                        self._removed.pop(oid, None)
                        o.__dict__.pop(SESSION_ATTR, None)
                    if journal:
                        self._journal.append(_Flushed(delete_kind, referrer, hits, pks))
                    work.append((referrer, hits, pks))

    # -- reading -----------------------------------------------------------------------------

    def query(self, cls: type[T]) -> Query[T]:
        """A query whose results are tracked and identity-mapped in this session."""
        from core.query import Query

        return Query(self.database, entity_info(cls), self)

    def get(self, cls: type[T], pk: Any) -> T | None:
        """The object with primary key ``pk``: from the identity map, a staged new object with
        that key, else from the database."""
        info = getattr(cls, "__orm_entity__", None)
        if type(info) is not EntityInfo:
            info = entity_info(cls)
        identity = self._identity
        mapping = identity.get(info)
        if mapping is not None:
            obj = mapping.get(pk)
            if obj is not None:
                return obj  # type: ignore[no-any-return]
        if self._new:
            for new in self._new.values():
                if type(new).__orm_entity__ is info and info.has_pk(new) and info.pk_of(new) == pk:
                    return new  # type: ignore[no-any-return]
        db = self.database
        codec = db._codecs.get(info) or db.codec(info)
        key_to_db = codec.key_to_db
        if key_to_db is not None and pk is not None:
            # The one SELECT by key, its text made once per database; one row at most.
            try:
                key = key_to_db(pk)
            except ValidationError:
                key_to_db = None  # the query below names the key and the field
        if key_to_db is None or pk is None:
            from core.query import Query

            query: Query[T] = Query(db, info, self).by_pk(pk)
            found = query._objects((query._rows(limit_one=True),))
            return found[0] if found else None
        sql, context = db._by_key.get(info) or db._select_by_key(info)
        conn = self._conn
        if conn is None and not self._scoped:
            replica = self.replica_reads and not self._wrote  # (``_replica_ok``, inlined)
            rows = db._lookup(sql, (key,), context, replica)
        else:
            rows = (conn or self._begin()).lookup(sql, (key,), context)
        if not rows:
            return None
        if mapping is None:
            mapping = identity.mapping(info)
        return codec.merge_one(rows[0], self._token, mapping, self._resolve)  # type: ignore[no-any-return]

    def _load_reference(self, target: EntityInfo, pk: Any) -> Any:
        obj = self.get(target.cls, pk)
        if obj is None:
            raise NotFoundError(f"{target.cls.__name__} {pk!r} (a reference) does not exist")
        return obj

    def _resolve(self, target: EntityInfo, pk: Any) -> Any:
        obj = self._identity.lookup(target, pk)
        return obj if obj is not None else Unloaded(target, pk, self._load_reference)

    def refresh(self, obj: Any) -> None:
        """Reload ``obj`` from the database, dropping its unsaved changes; if its row is gone,
        detach it (out of the identity map) and raise ``NotFoundError``."""
        info = entity_info(obj)
        if obj.__dict__.get(SESSION_ATTR) != self._token or id(obj) in self._new:
            raise SessionError(f"cannot refresh {info.describe(obj)}: it is not loaded here")
        from core.query import Query

        key = self._key_of(obj)
        row = Query(self.database, info, None, via=self).by_pk(key)._rows(limit_one=True)
        if not row:
            self._forget(info, [key])
            raise NotFoundError(
                f"cannot refresh {info.describe(obj)}: its row no longer exists; the object "
                "is detached from the session"
            )
        fresh = self.database.codec(info).hydrate(row[0], None, self._resolve)
        self._changed.pop(id(obj), None)
        self._touched.pop(id(obj), None)
        d = obj.__dict__
        moved = [
            (f, d.get(f.name), fresh.__dict__.get(f.name))
            for f in info.references
            if f.relations and not same_reference(f, d.get(f.name), fresh.__dict__.get(f.name))
        ]
        d.update(fresh.__dict__)
        for f, old, new in moved:
            self._move_loaded(obj, f, old, new)
        for name in info._relation_specs:
            d.pop(name, None)  # unloaded: the next read loads it from the database

    def _move_loaded(self, obj: Any, f: Any, old: Any, new: Any) -> None:
        """``refresh`` changed ``obj``'s reference ``f`` from ``old`` to ``new``: ``obj`` leaves
        the old owner's loaded one-to-many collections and joins the new owner's, as the rows
        now are (and so do their logged states, which a rollback puts back)."""
        identity = self._identity
        owners = []
        for value in (old, new):
            key = unloaded_key(value)
            if key is not None:
                value = identity.lookup(f.target, key)
            owners.append(value)
        for rel in f.relations:
            if rel.pivot is not None:
                continue
            for owner, joins in zip(owners, (False, True), strict=True):
                coll = owner.__dict__.get(rel.name) if owner is not None else None
                if coll is None:
                    continue
                logged = [e[1] for e in self._coll_log if e[0] is coll and e[1] is not None]
                present = any(x is obj for x in coll)
                if joins and not present:
                    install_item(coll, obj)
                elif not joins and present:
                    remove_item(coll, obj)
                for items in logged:
                    there = any(x is obj for x in items)
                    if joins and not there:
                        items.append(obj)
                    elif not joins and there:
                        items[:] = [x for x in items if x is not obj]

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

    # -- transactions ------------------------------------------------------------------------

    @property
    def in_transaction(self) -> bool:
        """Whether this session holds a connection with a transaction open (after ``flush``,
        inside ``savepoint``, or after a bulk operation, until ``commit`` or ``rollback``)."""
        return self._conn is not None

    def _begin(self) -> Connection:
        """The session's connection, with its transaction open (acquired from the pool and
        begun on first use)."""
        conn = self._conn
        if conn is None:
            conn = self.database.pool.acquire()
            if conn.in_transaction:  # a single shared connection that another session holds
                self.database.pool.release(conn)
                raise SessionError(
                    f"another session has a transaction open on {self.database.url_display}, "
                    "which has a single connection; commit or roll that one back first"
                )
            try:
                conn.begin()
            except BaseException:
                self.database.pool.release(conn)
                raise
            self._conn = conn
        return conn

    def _end(self, commit: bool) -> None:
        """COMMIT or ROLLBACK the open transaction and give the connection back."""
        conn = self._conn
        assert conn is not None
        self._conn = None
        self._savepoints.clear()
        try:
            if commit:
                conn.commit()
            else:
                conn.rollback()
        finally:
            if conn.in_transaction:
                conn.rollback()
            self.database.pool.release(conn)
        self._journal.clear()  # (kept when COMMIT failed: the caller stages it again)
        self._tx_work = False

    def flush(self) -> CommitResult:
        """Send the staged work inside the session's transaction (opened if needed), without
        committing: later queries of this session see it, ``commit()`` makes it permanent,
        ``rollback()`` undoes it, in the database and in memory.

        A failed flush changes nothing: the database is back where it was before the call (a
        transaction that had earlier work keeps it), and the session holds its staged work.
        """
        self._wrote = True
        if not self._hooks_done and self._hooked():
            self._before_hooks(commit=False)
        staged = len(self._new) + len(self._changed) + len(self._removed)
        with collector_paused(staged):
            return self._flush()

    # -- events ------------------------------------------------------------------------------

    def on(self, target: str | type, event: Any = None, fn: Any = None) -> Any:
        """Register a hook for this session only (see ``core.events``; ``database.on`` for
        every session): ``session.on("after_commit", fn)``,
        ``session.on(Post, "before_update", fn)``."""
        return self.events.on(target, event, fn)

    def _hooked(self) -> bool:
        events = self.events
        return bool(events.by_name or events.by_entity) or self.database._has_hooks()

    def _fire(self, name: str) -> None:
        for registry in (self.database.events, self.events):
            for fn in registry.by_name.get(name, ()):
                fn(self)

    def _before_hooks(self, commit: bool) -> None:
        """``before_commit`` (for a commit), then the entity before-hooks of every staged
        object, again for objects the hooks staged, until none is left. A hook that raises
        leaves the session exactly as it was before (objects' fields included)."""
        saved = self._save_staged()
        try:
            if commit:
                self._fire("before_commit")
            done: set[tuple[int, str]] = set()
            registries = (self.database.events, self.events)
            while True:
                upserts = self._upserts
                work = [(o, "before_insert") for o in self._new.values() if id(o) not in upserts]
                work += [
                    (o, "before_update")
                    for oid, o in self._touched.items()
                    if oid not in self._removed and oid not in self._new
                ]
                work += [(o, "before_delete") for o in self._removed.values()]
                work = [(o, e) for o, e in work if (id(o), e) not in done]
                if not work:
                    break
                for obj, event in work:
                    done.add((id(obj), event))
                    for fn in entity_hooks(type(obj).__orm_entity__, event, *registries):
                        fn(obj, self)
        except BaseException:
            self._restore_staged(saved)
            raise

    def _save_staged(self) -> tuple[Any, ...]:
        objs = {**self._new, **self._touched, **self._removed}
        return (
            dict(self._new),
            {oid: dict(old) for oid, old in self._changed.items()},
            dict(self._touched),
            dict(self._removed),
            {oid: (obj, dict(obj.__dict__)) for oid, obj in objs.items()},
            dict(self._upserts),
        )

    def _restore_staged(self, saved: tuple[Any, ...]) -> None:
        new, changed, touched, removed, fields, upserts = saved
        for oid, obj in self._new.items():
            if oid not in new:
                obj.__dict__.pop(SESSION_ATTR, None)
        for oid, old in self._changed.items():
            if oid not in changed and oid in self._touched:
                d = self._touched[oid].__dict__
                for name, value in old.items():
                    if value is MISSING:
                        d.pop(name, None)
                    else:
                        d[name] = value
        for obj, d in fields.values():
            obj.__dict__.clear()
            obj.__dict__.update(d)
        for mine, theirs in (
            (self._new, new),
            (self._changed, changed),
            (self._touched, touched),
            (self._removed, removed),
            (self._upserts, upserts),
        ):
            mine.clear()
            mine.update(theirs)

    def _flush(self) -> CommitResult:
        started = time.perf_counter()
        self._check_orphans()
        cs = unitofwork.collect(self, for_commit=True)
        if cs.empty:
            self._changed.clear()
            self._moved.clear()
            self._touched.clear()
            return CommitResult(elapsed=time.perf_counter() - started)
        db = self.database
        steps = unitofwork.plan(cs, db.dialect, db.codec)
        # A transaction with earlier work guards this flush with a savepoint, so that a
        # failure undoes this flush only; a fresh one is rolled back whole.
        guard = self._conn is not None and (self._tx_work or bool(self._savepoints))
        conn = self._begin()
        name = f"orm_flush_{len(self._savepoints) + 1}"
        try:
            if guard:
                conn.savepoint(name)
            result = persist.run(steps, conn, db.codec)
        except BaseException as exc:
            self._undo_failed_flush(conn, guard, name)
            if isinstance(exc, IntegrityError):
                self._name_culprit(cs, exc)
                self._name_referrer(cs, exc)
            if isinstance(exc, persist.VersionConflict):
                self._name_version_conflict(exc)
            raise
        if guard:
            conn.release(name)
        self._tx_work = True
        self._journal_flush(cs, result)
        self._finalize(cs, result)
        return CommitResult(
            result.inserts,
            result.updates,
            result.deletes,
            result.statements,
            time.perf_counter() - started,
            result.upserts,
        )

    def _undo_failed_flush(self, conn: Connection, guard: bool, name: str) -> None:
        if guard and not conn.broken:
            try:
                conn.rollback_to(name)
                return
            except OrmError:
                pass
        # No guard, or it could not be used: the whole transaction goes, and what it had
        # flushed is staged again (memory keeps agreeing with the database).
        self._unflush(0)
        self._end(commit=False)

    def _bulk_statement(
        self, sql: str, params: Sequence[Any], context: str, keys_of: Callable[[], list[Any]]
    ) -> tuple[int, list[Any]]:
        """Run a bulk statement in the session's transaction: the keys of the rows it will
        touch (read first, in the transaction), and its row count. A failure changes nothing
        (a savepoint guards it when the transaction has earlier work)."""
        guard = self._conn is not None and (self._tx_work or bool(self._savepoints))
        conn = self._begin()
        name = f"orm_bulk_{len(self._savepoints) + 1}"
        try:
            if guard:
                conn.savepoint(name)
            keys = keys_of()
            count: int = conn.execute(sql, params, context).rowcount
        except BaseException:
            self._undo_failed_flush(conn, guard, name)
            raise
        if guard:
            conn.release(name)
        self._tx_work = True
        return count, keys

    def _bulk_delete(
        self,
        info: EntityInfo,
        sql: str,
        params: Sequence[Any],
        context: str,
        keys_of: Callable[[], list[Any]],
    ) -> int:
        """``delete_many`` on a session query: the objects of the deleted rows are detached
        (a rollback maps them again)."""
        count, keys = self._bulk_statement(sql, params, context, keys_of)
        mapping = self._identity.get(info) or {}
        gone = [(key, mapping[key]) for key in keys if key in mapping]
        objs = [obj for _, obj in gone]
        if gone:
            self._drop_from_collections(objs)
            self._journal.append(_Flushed("bulk_delete", info, objs, [key for key, _ in gone]))
            self._forget(info, [key for key, _ in gone])
        if keys:
            # What the database's ON DELETE rules did to the rows referring to these.
            self._apply_on_delete([(info, objs, keys)], bulk=True)
        return count

    def _bulk_patch(
        self,
        info: EntityInfo,
        sql: str,
        params: Sequence[Any],
        context: str,
        keys_of: Callable[[], list[Any]],
        values: dict[str, Any],
        computed: list[Any],
    ) -> int:
        """``patch_many`` on a session query: the objects of the changed rows get the new
        values (computed ones read back) with no pending change; a rollback restores them."""
        count, keys = self._bulk_statement(sql, params, context, keys_of)
        mapping = self._identity.get(info) or {}
        objs = [mapping[key] for key in keys if key in mapping]
        if not objs:
            return count
        names = [*values, *(f.name for f in computed)]
        olds = [{n: obj.__dict__.get(n, MISSING) for n in names} for obj in objs]
        self._journal.append(_Flushed("bulk_update", info, objs, olds))
        moved = [f for f in map(info.field, values) if f.kind == "reference" and f.relations]
        if moved:  # out of the old owners' loaded collections, into the new owners'
            self._drop_from_collections(objs, moved)
        for obj in objs:
            obj.__dict__.update(values)
        if moved:
            self._join_collections(objs, moved)
        if computed:
            from core.query import Query

            fresh: Query[Any] = Query(self.database, info, None, via=self)
            by_key: dict[Any, Any] = {}
            mapped = [info.pk_of(o) for o in objs]
            if len(info.primary_key) == 1:
                pk = FieldRef(info.primary_key[0].name)
                for start in range(0, len(mapped), 500):
                    rows = fresh.filter(pk.in_(mapped[start : start + 500])).find()
                    by_key.update((info.pk_of(r), r) for r in rows)
            else:
                for key in mapped:
                    row = fresh.by_pk(key).find_one_or_none()
                    if row is not None:
                        by_key[key] = row
            for obj in objs:
                row = by_key.get(info.pk_of(obj))
                if row is not None:
                    for f in computed:
                        obj.__dict__[f.name] = row.__dict__[f.name]
        for obj in objs:  # no pending change: what they hold now is what the row holds
            self._changed.pop(id(obj), None)
            self._touched.pop(id(obj), None)
        return count

    @contextmanager
    def savepoint(self) -> Iterator[Session]:
        """``with session.savepoint():`` a nested transaction.

        On entry the staged work is flushed and a savepoint set; leaving normally flushes what
        the block staged and keeps it (the outer transaction still decides); leaving by an
        exception rolls the database back to the savepoint, puts memory back to where it was
        on entry (changes, additions and removals made in the block undone, flushed or not),
        and re-raises. Savepoints nest.
        """
        self.flush()
        conn = self._begin()
        name = f"orm_sp_{len(self._savepoints) + 1}"
        conn.savepoint(name)
        mark = len(self._journal)
        coll_mark = len(self._coll_log)
        self._new_log_epoch()  # (edits in the block are logged from their state here)
        self._savepoints.append(name)
        try:
            yield self
            self.flush()
        except BaseException:
            if self._conn is conn and name in self._savepoints:
                del self._savepoints[self._savepoints.index(name) :]
                self._unflush(mark)
                self._discard_staged()
                self._restore_collections(coll_mark)
                try:
                    conn.rollback_to(name)
                except OrmError:
                    # The savepoint is gone with its transaction: undo all of it in memory.
                    self._unflush(0)
                    self._discard_staged()
                    self._restore_collections(0)
                    self._end(commit=False)
            raise
        if self._conn is conn and name in self._savepoints:
            del self._savepoints[self._savepoints.index(name) :]
            conn.release(name)

    # -- commit and rollback -----------------------------------------------------------------

    def commit(self, *, retries: int = 0) -> CommitResult:
        """Flush the staged work and COMMIT the session's transaction; on failure nothing
        changes (the session keeps its staged work, and work flushed earlier in the
        transaction is staged again if the transaction is lost).

        ``retries=N`` sends the work again, up to N more times, after a ``ConflictError`` that
        the server resolved by rolling the transaction back (deadlock, serialization failure,
        Galera certification failure: ``ConflictError.retryable``), when no transaction is left
        open. Nothing else is retried: a stale ``Version`` needs a refresh, and a commit whose
        outcome is unknown must be checked first."""
        self._wrote = True
        hooked = self._hooked()
        if hooked:
            self._before_hooks(commit=True)
        self._hooks_done = hooked
        try:
            for attempt in itertools.count():
                try:
                    result = self._commit_once()
                    break
                except ConflictError as exc:
                    if attempt >= retries or not exc.retryable or self._conn is not None:
                        raise
                    self.database.settle()
        finally:
            self._hooks_done = False
        if hooked:
            self._fire("after_commit")
        return result

    def _commit_once(self) -> CommitResult:
        if self._conn is None or not (self._tx_work or self._savepoints or self._journal):
            # No work sent in the transaction yet (none open, or a scoped session's reads):
            # one pass from the statements to COMMIT, memory changed only once it succeeded.
            staged = len(self._new) + len(self._changed) + len(self._removed)
            if staged < 1_000:  # (too few to pause the collector for)
                return self._commit()
            # A commit builds short-lived, acyclic containers only: no need for the cyclic
            # collector to scan the whole identity map several times while it runs.
            with collector_paused(None):
                return self._commit()
        flushed = self.flush()
        try:
            self._end(commit=True)
        except BaseException:
            self._unflush(0)
            raise
        self._forget_collection_log()
        return flushed

    def _commit(self) -> CommitResult:
        """A commit with no work sent in its transaction yet (none open, or one a scoped
        session's reads opened): one transaction from BEGIN to COMMIT, objects changed only
        after COMMIT succeeded; a failure rolls the transaction back and releases it."""
        started = time.perf_counter()
        self._check_orphans()
        cs = unitofwork.collect(self, for_commit=True)
        if cs.empty:
            self._changed.clear()
            self._moved.clear()
            self._touched.clear()
            self._forget_collection_log()
            if self._conn is not None:
                self._end(commit=True)
            return CommitResult(elapsed=time.perf_counter() - started)
        db = self.database
        steps = unitofwork.plan(cs, db.dialect, db.codec)
        conn = self._begin()
        self._conn = None  # held for this call only
        try:
            result = persist.run(steps, conn, db.codec)
            conn.commit()
        except BaseException as exc:
            if conn.in_transaction:
                conn.rollback()
            db.pool.release(conn)
            if isinstance(exc, IntegrityError):
                self._name_culprit(cs, exc)
                self._name_referrer(cs, exc)
            if isinstance(exc, persist.VersionConflict):
                self._name_version_conflict(exc)
            raise
        db.pool.release(conn)
        self._finalize(cs, result)
        self._forget_collection_log()
        return CommitResult(
            result.inserts,
            result.updates,
            result.deletes,
            result.statements,
            time.perf_counter() - started,
            result.upserts,
        )

    def _stored_with(
        self, info: EntityInfo, name: str, values: list[Any], limit: int | None = None
    ) -> Iterator[tuple[int, list[Any]]]:
        """For naming a culprit after a failed commit: ``(start, rows)`` per 500 of ``values``
        (at most 20,000), the stored rows of ``info`` whose ``name`` is among them (``limit``
        rows at most); stops quietly if a query fails."""
        from core.query import Query

        for start in range(0, min(len(values), 20_000), 500):
            query: Query[Any] = Query(self.database, info, None, via=self)
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
        staged = [(i.entity, i.obj) for i in cs.inserts]
        staged += [(u.entity, u.obj) for u in cs.upserts]
        staged += [
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
        if id(culprit) in self._new and id(culprit) not in self._upserts:
            position = f", staged #{list(self._new).index(id(culprit)) + 1}"
        err.obj = culprit
        err.args = (f"{err.args[0]}: {info.describe(culprit)}{position} has {f.name}={value!r}",)

    def _name_version_conflict(self, err: persist.VersionConflict) -> None:
        """Name the first object of a failed versioned batch whose stored row has another
        version than the one loaded, or is gone (read through a connection of the pool, which
        sees what other transactions committed)."""
        from core.query import Query

        info = err.info
        version = info.version_field
        assert version is not None
        at = info.column_names.index(version.column)
        for obj, pk in zip(err.objs, err.pks, strict=True):
            loaded = obj.__dict__.get(version.name)
            try:
                rows = Query(self.database, info, None).by_pk(pk)._rows(limit_one=True)
            except OrmError:
                return
            if not rows or rows[0][at] != loaded:
                err.args = (
                    f"cannot {err.verb} {info.cls.__name__} {pk!r}: it was changed or removed "
                    f"by someone else since it was loaded (version {loaded!r}); refresh it "
                    "(session.refresh) and commit again",
                )
                return

    def _name_referrer(self, cs: ChangeSet, err: IntegrityError) -> None:
        """Add to a foreign-key error that names no field (SQLite's) which removed object a
        stored row still refers to, and through which field."""
        if err.field or err.kind != "FOREIGN KEY" or not cs.delete_groups:
            return
        groups = list(cs.delete_groups.items())
        # The failed DELETE's entity (the error says "cannot delete Player"), when known.
        failed = [
            g for g in groups if str(err.args[0]).startswith(f"cannot delete {g[0].cls.__name__}:")
        ]
        for info, (objs, pks) in failed or groups:
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
                    bare = unloaded_key(key)
                    key = info.pk_of(key) if bare is None else bare
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
        if result.upserted:
            self._finalize_upserts(cs, result)
        for (info, _cols), group in cs.update_groups.items():
            version = info.version_field
            if version is not None:
                name = version.name
                for obj in group.objs:
                    obj.__dict__[name] = obj.__dict__[name] + 1
        self._new.clear()
        self._upserts.clear()
        self._changed.clear()
        self._moved.clear()
        self._touched.clear()
        self._orphans.clear()
        if not cs.delete_groups:  # (a commit of inserts and updates only)
            self._removed.clear()
            return
        deleted = [(info, objs, pks) for info, (objs, pks) in cs.delete_groups.items()]
        if deleted:
            self._drop_from_collections(
                list(itertools.chain.from_iterable(objs for _, objs, _ in deleted))
            )
        inserted = {info for info, _objs, _keys in result.inserted}
        for info, (objs, pks) in cs.delete_groups.items():
            if len(pks) == identity.count(info) and info not in inserted:
                identity.drop(info)  # every loaded one (removed ones are mapped)
            else:
                # (a new object may have taken a removed one's key in this commit)
                mapping = identity.mapping(info)
                for pk, obj in zip(pks, objs, strict=True):
                    if mapping.get(pk) is obj:
                        del mapping[pk]
            _pin_keys(objs, self._load_reference)
            for obj in objs:
                obj.__dict__.pop(SESSION_ATTR, None)
        self._removed.clear()
        if deleted:
            self._apply_on_delete(deleted)

    def _finalize_upserts(self, cs: ChangeSet, result: persist.PersistResult) -> None:
        """After an upsert was sent (and committed, or flushed): each object takes the stored
        values read back (key, version, fields the update branch kept) and is identity-mapped
        as persistent. If the session already holds that row as another object (not staged for
        removal), that object takes the values written instead — except the columns its own
        UPDATE wrote later in the same flush — and the object given
        stays detached. Loaded collections the upserted references feed are dropped (reloaded
        on their next read). Inside a transaction, all of it is journaled for ``rollback``."""
        identity = self._identity
        journal = self._conn is not None
        fed: set[Any] = set()
        #: Per object with an UPDATE in this flush: the columns it wrote (after the upserts).
        updating: dict[int, tuple[str, ...]] = {}
        for (_info, cols), group in cs.update_groups.items():
            updating.update((id(o), cols) for o in group.objs)
        for step, rows in result.upserted:
            info = step.entity
            spec = step.spec
            mapping = identity.mapping(info)
            refs = {f.name: f.target for f in info.references}
            olds: list[tuple[UpsertSpec, dict[str, Any]]] = []
            others: list[Any] = []
            other_olds: list[dict[str, Any]] = []
            ref_names = [(n, t) for n, t in refs.items() if n in step.read]
            pk_name = info.single_pk_name
            if pk_name is not None and info.primary_key[0].kind == "reference":
                pk_name = None  # (pk_of reads the referenced object's key)
            token = self._token
            for obj, got in zip(step.objs, rows, strict=True):
                d = obj.__dict__
                for name, target in ref_names:
                    v = got.get(name)
                    if target is not None and v is not None:
                        got[name] = self._resolve(target, v)
                if journal:
                    olds.append((spec, {n: d.get(n, MISSING) for n in got}))
                d.update(got)
                d[SESSION_ATTR] = token
                key = d[pk_name] if pk_name is not None else info.pk_of(obj)
                mapped = mapping.get(key)
                if mapped is None or mapped is obj or id(mapped) in self._removed:
                    mapping[key] = obj
                    continue
                # The row is already this session's ``mapped``: it takes what was written.
                later = updating.get(id(mapped), ())
                written = [n for n in (*spec.update, *got) if n not in later]
                md = mapped.__dict__
                others.append(mapped)
                other_olds.append({n: md.get(n, MISSING) for n in written})
                for n in written:
                    md[n] = d[n]
                d.pop(SESSION_ATTR, None)
            if journal:
                self._journal.append(_Flushed("upsert", info, list(step.objs), olds))
                if others:
                    self._journal.append(_Flushed("bulk_update", info, others, other_olds))
            for f in info.references:
                fed.update(f.relations)
        for rel in fed:  # what a collection holds may have changed: reload it when read
            for owner in list((identity.get(rel.owner) or {}).values()):
                if rel.name in owner.__dict__:
                    del owner.__dict__[rel.name]

    def _journal_flush(self, cs: ChangeSet, result: persist.PersistResult) -> None:
        """Before ``_finalize`` of a flush: record what it changes in memory, so that a
        rollback (of the transaction or to a savepoint) can stage it again (``_unflush``)."""
        journal = self._journal
        for info, objs, keys in result.inserted:
            auto = info.autoincrement
            olds = None
            if keys is not None and auto is not None:
                olds = [obj.__dict__.get(auto.name, MISSING) for obj in objs]
            journal.append(_Flushed("insert", info, objs, olds))
        if self._changed:  # (removed objects too: a rollback puts their fields back)
            olds = [(self._touched[oid], dict(old)) for oid, old in self._changed.items()]
            journal.append(_Flushed("update", None, [o for o, _ in olds], [d for _, d in olds]))
        for (info, _cols), group in cs.update_groups.items():
            version = info.version_field
            if version is not None:  # bumped by _finalize; put back directly on rollback
                olds = [{version.name: o.__dict__[version.name]} for o in group.objs]
                journal.append(_Flushed("bulk_update", info, list(group.objs), olds))
        for info, (objs, pks) in cs.delete_groups.items():
            journal.append(_Flushed("delete", info, list(objs), list(pks)))

    def _unflush(self, mark: int) -> None:
        """Stage again what the flushes recorded after position ``mark`` of the journal sent:
        their inserts become staged additions (generated keys taken back), their updates
        staged changes (the values from before the flush as the old values), their deletes
        staged removals (the objects mapped again). The database must have undone them."""
        entries = self._journal[mark:]
        del self._journal[mark:]
        identity = self._identity
        inserted: list[list[Any]] = []
        for entry in reversed(entries):
            kind, info, objs = entry.kind, entry.info, entry.objs
            if kind in ("delete", "bulk_delete"):
                # Mapped again; a flushed delete is staged again, while a bulk operation is
                # not staged work: memory goes back to before it.
                assert info is not None
                mapping = identity.mapping(info)
                staged = kind == "delete"
                for obj, pk in zip(objs, entry.data or (), strict=True):
                    mapping[pk] = obj
                    obj.__dict__[SESSION_ATTR] = self._token
                    if staged:
                        self._removed[id(obj)] = obj
            elif kind == "bulk_update":
                for obj, old in zip(objs, entry.data or (), strict=True):
                    for name, value in old.items():
                        if value is MISSING:
                            obj.__dict__.pop(name, None)
                        else:
                            obj.__dict__[name] = value
                    self._changed.pop(id(obj), None)
                    self._touched.pop(id(obj), None)
            elif kind == "upsert":
                assert info is not None
                mapping = identity.mapping(info)
                for obj, (spec, old) in zip(objs, entry.data or (), strict=True):
                    key = info.pk_of(obj)
                    if mapping.get(key) is obj:
                        del mapping[key]
                    d = obj.__dict__
                    for name, value in old.items():
                        if value is MISSING:
                            d.pop(name, None)
                        else:
                            d[name] = value
                    d[SESSION_ATTR] = self._token
                    self._changed.pop(id(obj), None)
                    self._touched.pop(id(obj), None)
                    self._upserts[id(obj)] = spec
                inserted.append(objs)
            elif kind == "update":
                for obj, old in zip(objs, entry.data or (), strict=True):
                    oid = id(obj)
                    mine = self._changed.get(oid)
                    if mine is None:
                        self._changed[oid] = dict(old)
                    else:
                        mine.update(old)  # the older value wins
                    self._touched[oid] = obj
            else:
                assert info is not None
                mapping = identity.mapping(info)
                auto = info.autoincrement
                for i, obj in enumerate(objs):
                    key = info.pk_of(obj)
                    if mapping.get(key) is obj:
                        del mapping[key]
                    if entry.data is not None and auto is not None:
                        old = entry.data[i]
                        if old is MISSING:
                            obj.__dict__.pop(auto.name, None)
                        else:
                            obj.__dict__[auto.name] = old
                    oid = id(obj)
                    self._changed.pop(oid, None)
                    self._touched.pop(oid, None)
                    self._removed.pop(oid, None)
                inserted.append(objs)
        if inserted:
            later = list(self._new.items())
            self._new.clear()
            for objs in reversed(inserted):
                self._new.update((id(obj), obj) for obj in objs)
            self._new.update(later)

    def _discard_staged(self) -> None:
        """Drop staged adds, cancel staged removes, put changed attributes back."""
        touched = self._touched
        for oid, old_values in self._changed.items():
            d = touched[oid].__dict__
            for name, old in old_values.items():
                if old is MISSING:
                    d.pop(name, None)
                else:
                    d[name] = old
        self._changed.clear()
        self._moved.clear()
        touched.clear()
        for obj in self._new.values():
            obj.__dict__.pop(SESSION_ATTR, None)
        self._new.clear()
        self._upserts.clear()
        self._removed.clear()

    def rollback(self) -> None:
        """ROLLBACK the open transaction, if any, and put memory back to where it began:
        staged adds dropped, staged removes cancelled, changed attributes restored, and the
        same for everything flushed since (inserted objects detached with their generated
        keys taken back, deleted ones mapped again)."""
        self._unflush(0)
        self._discard_staged()
        self._restore_collections(0)
        self._orphans.clear()
        if self._conn is not None:
            self._end(commit=False)
        if self._hooked():
            self._fire("after_rollback")

    def close(self) -> None:
        """Forget everything (staged work and an open transaction are rolled back, objects
        are detached). A session with nothing to roll back (the end of a committed
        ``transaction()`` block) rolls nothing back and fires no ``after_rollback``."""
        if (
            self._conn is not None
            or self._journal
            or self._new
            or self._changed
            or self._removed
            or self._coll_log
            or self._orphans
        ):
            self.rollback()
        _pin_keys(self._identity.objects(), self._load_reference)
        for obj in self._identity.objects():
            # (It still stands for its row: see core.collection.stands_for_row.)
            obj.__dict__[SESSION_ATTR] = UNTRACKED
        self._identity.clear()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        """Leaving ``with db.create_session() as s:``: nothing commits unless asked. Left by
        an exception, the session is rolled back and closed. Left normally with staged or
        flushed work that was not committed, it is rolled back and closed too, and a
        ``SessionError`` says so (work is never dropped silently)."""
        pending = None if exc_type is not None else self._pending_description()
        self.close()
        if pending:
            raise SessionError(
                f"the session ended with {pending} that was not committed and is now rolled "
                "back; call session.commit() (or session.rollback()) before the block ends"
            )

    def _pending_description(self) -> str | None:
        parts = []
        if self._journal or self._conn is not None:
            parts.append("flushed work in an open transaction")
        added, changed, removed = self.counts()
        if added or changed or removed:
            parts.append(f"staged work (+{added} ~{changed} -{removed})")
        return " and ".join(parts) or None

    # -- statements through the session's transaction ----------------------------------------

    def _fetch(self, sql: str, params: Sequence[Any], context: str) -> list[Any]:
        """Rows of one query: inside the session's transaction when one is open (or, for a
        scoped session, opened by it)."""
        conn = self._conn
        if conn is None:
            if not self._scoped:
                return self.database._fetch(sql, params, context, self._replica_ok)
            conn = self._begin()
        return conn.fetchall(sql, params, context)

    @property
    def _replica_ok(self) -> bool:
        return self.replica_reads and not self._wrote

    @property
    def reads_from_replicas(self) -> bool:
        """Whether this session's next read outside a transaction may go to a replica (it
        allows it and has not flushed or committed yet; ``docs/scale-out.md``)."""
        return self._replica_ok

    def _load(
        self,
        sql: str,
        params: Sequence[Any],
        context: str,
        consume: Callable[[Iterable[Sequence[Any]]], T],
    ) -> T:
        conn = self._conn
        if conn is None:
            if not self._scoped:
                return self.database._load(sql, params, context, consume, self._replica_ok)
            conn = self._begin()
        chunks = conn.stream(sql, params, context)
        try:
            return consume(chunks)
        finally:
            chunks.close()

    # -- used by core.query --------------------------------------------------------------------

    def raw(
        self, cls: type[T], sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None
    ) -> list[T]:
        """Objects of ``cls`` from your own SELECT (every column of its table, by name),
        identity-mapped and tracked like a query's. Mark values with ``?`` (a list) or
        ``:name`` (a dict): they are bound, never written into the SQL."""
        info = self.database.entity(cls)
        names, rows = self.database._run_raw(
            sql, params, f"cannot run raw SQL for {info.cls.__name__}"
        )
        order = column_order(info, names)
        objs: list[T] = self._merge_rows(info, ([[row[i] for i in order] for row in rows],))
        return objs

    def _merge_rows(
        self,
        info: EntityInfo,
        chunks: Iterable[Sequence[Any]],
        resolve: Resolver | None = None,
    ) -> list[Any]:
        """Objects for rows, given as sequences of rows: the identity-mapped one where it
        exists (left as it is). A reference holds its bare key, stored without a lookup per
        row (``EntityCodec.merge``) and resolved through the session on first read
        (``core.entity``: the identity-mapped object, else one SELECT). ``resolve``: what a
        loader knowing the referenced objects passes instead (``core.loaders``)."""
        identity = self._identity
        mapping = identity.mapping(info)  # (a load deferred earlier enters it now)

        def defer(keys: list[Any], objs: list[Any]) -> None:
            identity.defer(info, keys, objs)

        codec = self.database.codec(info)
        with collector_paused():
            if resolve is None:
                return codec.merge(chunks, self._token, mapping, self._resolve, defer)
            return codec.merge_resolving(chunks, self._token, mapping, resolve, defer)

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
                _pin_keys((obj,), self._load_reference)
                obj.__dict__.pop(SESSION_ATTR, None)
