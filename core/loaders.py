"""Loading related objects: one loader class per strategy, chosen per query or on access.

- ``JoinedLoader`` (``query.join("author")``): many-to-one references read in the same SELECT,
  through LEFT JOINs, their columns after the root's; one statement whatever the row count.
- ``SelectInLoader`` (``query.eager("posts.tags")``): each level of a path of relations loaded
  for a whole result with one ``IN`` query (one per chunk of keys under the dialect's
  parameter limit; one array parameter where the dialect sends arrays): references by the
  keys the objects hold, one-to-many collections by the owners' keys, many-to-many
  collections by the owners' keys joined through the pivot table; items ordered by their key.
- ``LazyLoader``: the first read of a collection of an untracked object (``database.query``)
  loads it with one query from the same database. (A tracked object's collection loads
  through its session: ``Session._load_collection``.) Lazy references are ``core.entity``'s.

A loader never overwrites what a session holds: it fills only references still held as keys
(bare, or ``Unloaded`` placeholders: ``core.entity.unloaded_key``) and collections never
loaded. In a session the items (and pivot objects)
are the identity-mapped objects; with work staged, each collection is put together as a lazy
load does (``Session._install_collection``: memory wins over the stored rows).
``database.query`` loads untracked objects, one per row and load (shared by every object of
that load that refers to it). Where the C accelerator is built (``core._hydrate``, chosen
with the codecs: ``EntityCodec.speedups``) the per-row loops of an eager load run in C (the
same objects and collections); the Python loops here are the fallback. Callers:
``core.query``, ``core.collection``. What it leaves out: SQL text (``core.sql``), collection
editing and its tracking (``core.collection``).
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from core.codec import collector_paused
from core.collection import (
    SESSIONS,
    UNTRACKED,
    UNTRACKED_SOURCE,
    database_of_token,
    install_loaded,
    lazy_pivots,
)
from core.entity import SESSION_ATTR, EntityInfo, FieldInfo, entity_info, unloaded_key
from core.errors import SessionError, ValidationError
from core.paths import Step, resolve, resolve_relations, step_target
from core.relations import RelationInfo
from core.sql import Scope, pivot_select_sql, select_sql

if TYPE_CHECKING:
    from core.database import Database
    from core.session import Session

__all__ = [
    "DATABASE_ATTR",
    "JoinedLoader",
    "LazyLoader",
    "SelectInLoader",
    "Source",
    "load_collection",
    "reference_chain",
]

#: The key under which an untracked object with collections holds its database's token, so
#: that its collections can load lazily (``database.query``); tracked objects hold their
#: session's token (``SESSION_ATTR``) instead.
DATABASE_ATTR = UNTRACKED_SOURCE
_databases: weakref.WeakValueDictionary[int, Database] = weakref.WeakValueDictionary()
_database_tokens = itertools.count(1)


class Source:
    """Where a load reads and what it builds: the database, and the session that maps the
    objects (None: untracked objects)."""

    __slots__ = ("database", "io", "session")

    def __init__(self, database: Database, session: Session | None) -> None:
        self.database = database
        self.session = session
        #: What runs the statements: the session (inside its transaction, once one is open
        #: by a flush), else the database.
        self.io: Database | Session = session if session is not None else database

    def materialize(
        self,
        info: EntityInfo,
        chunks: Iterable[Sequence[Any]],
        known: dict[EntityInfo, dict[Any, Any]] | None = None,
    ) -> list[Any]:
        """Objects of ``info`` for rows of its columns (given as sequences of rows):
        identity-mapped in a session, else new and untracked. ``known``: per entity, key ->
        the session's object (a collection's owners, items just loaded), handed to the rows'
        references without an identity-map lookup each."""
        session = self.session
        if session is not None:
            resolve = None
            if known:
                fallback = session._resolve
                nothing: dict[Any, Any] = {}

                def resolve(target: EntityInfo, pk: Any) -> Any:
                    found = known.get(target, nothing).get(pk)
                    return found if found is not None else fallback(target, pk)

            return session._merge_rows(info, chunks, resolve)
        db = self.database
        hydrate = db.codec(info).hydrate
        resolve_key = db._resolve_untracked
        with collector_paused():
            # (``UNTRACKED``: they stand for stored rows, and belong to no session.)
            objs = [hydrate(row, UNTRACKED, resolve_key) for rows in chunks for row in rows]
        if info.relations:
            token = _database_token(db)
            for o in objs:
                o.__dict__[DATABASE_ATTR] = token
        return objs

    def _in_chunks(
        self, column: str, key: FieldInfo, keys: list[Any]
    ) -> Iterator[tuple[str, list[Any]]]:
        """``(column IN (...) or = ANY(array), params)`` per chunk of ``keys`` (Python values
        of the field ``key``): one array where the dialect sends arrays, else chunks under
        the parameter limit."""
        dialect = self.database.dialect
        # The keys were read from loaded objects, so they are valid: converted, not checked.
        to_db = dialect.to_db_kind(key)
        if to_db is not None:
            keys = [to_db(k) for k in keys]
        if key.kind == "int":
            # In ascending order (the order of the rows is the query's ORDER BY's whatever the
            # list's): a server builds its lookup of an IN list in one rightward pass, and the
            # chunks are ranges. (The owners of a level come grouped by their own owner: S8's
            # 10,000 posts on SQLite, 3M fewer instructions a load.)
            keys = sorted(keys)
        if dialect.array_batches:
            cast = dialect.cast_type(key)
            yield f"{column} = ANY({dialect.placeholder}::{cast}[])", [keys]
            return
        size = max(1, dialect.max_params - 10)
        for i in range(0, len(keys), size):
            chunk = keys[i : i + size]
            yield f"{column} IN ({dialect.placeholders(len(chunk))})", chunk

    def by_keys(self, info: EntityInfo, keys: list[Any]) -> list[Any]:
        """The objects of ``info`` with these primary keys, one statement per chunk."""
        db = self.database
        db._require_columns(info)
        pk = info.primary_key[0]
        head = select_sql(db.dialect, info.table, info.column_names) + " WHERE "
        context = f"cannot load {info.cls.__name__}"
        out: list[Any] = []
        for where, params in self._in_chunks(db.dialect.quote(pk.column), pk, keys):
            out += self.io._load(head + where, params, context, lambda c: self.materialize(info, c))
        return out

    def by_owner(self, relation: RelationInfo, owners: dict[Any, Any]) -> dict[Any, list[Any]]:
        """Owner key -> the stored items of a one-to-many collection (rows whose reference
        holds the key), ordered by the items' key; one statement per chunk of owners."""
        db = self.database
        target, ref = relation.target, relation.reference
        assert ref is not None
        db._require_columns(target)
        q = db.dialect.quote
        head = select_sql(db.dialect, target.table, target.column_names) + " WHERE "
        order = " ORDER BY " + ", ".join(q(f.column) for f in target.primary_key)
        at = ref.position
        from_db = db.codec(target).from_db[ref.name]
        handed = {relation.owner: owners}
        groups: dict[Any, list[Any]] = {}
        keys = list(owners)
        group = grouper(db, target)
        for where, params in self._in_chunks(q(ref.column), relation.owner.primary_key[0], keys):
            stored, objs = self._keyed_load(target, head + where + order, params, at, handed)
            if from_db is not None:
                stored = [from_db(k) for k in stored]
            group(groups, stored, objs)
        return groups

    def _keyed_load(
        self,
        info: EntityInfo,
        sql: str,
        params: list[Any],
        at: int,
        known: dict[EntityInfo, dict[Any, Any]],
    ) -> tuple[list[Any], list[Any]]:
        """The objects of one SELECT of ``info``'s columns, and the stored value of column
        ``at`` of each row (read as the rows stream past)."""
        stored: list[Any] = []
        column = itemgetter(at)

        def consume(chunks: Iterable[Sequence[Any]]) -> list[Any]:
            def tapped() -> Iterator[Sequence[Any]]:
                for rows in chunks:
                    stored.extend(map(column, rows))
                    yield rows

            return self.materialize(info, tapped(), known)

        objs = self.io._load(sql, params, f"cannot load {info.cls.__name__}", consume)
        return stored, objs

    def through_pivot(
        self, relation: RelationInfo, owners: dict[Any, Any], pivots: bool = True
    ) -> tuple[dict[Any, list[Any]], dict[Any, list[Any]] | None]:
        """Owner key -> items of a many-to-many collection, ordered by the items' key, and
        owner key -> the pivot object of each item (None: not built): one SELECT per chunk of
        owners joining the pivot table to the items' table. Pivot objects are built in a
        session only (they are what its edits stage), and only with ``pivots``: else the
        collections make them on first need (``core.collection.lazy_pivots``)."""
        db = self.database
        pivot, target = relation.pivot, relation.target
        own = relation.pivot_owner
        assert pivot is not None and own is not None
        db._require_columns(pivot)
        db._require_columns(target)
        tracked = self.session is not None and pivots
        head, column = pivot_select_sql(db.dialect, relation, whole_links=tracked)
        from_db = db.codec(pivot).from_db[own.name]
        width = len(pivot.column_names) if tracked else 1  # (else only the owner's column)
        pk_at = width + target.primary_key[0].position
        item_key, owner_key = itemgetter(pk_at), itemgetter(own.position if tracked else 0)
        context = f"cannot load {relation.label}"
        item_groups: dict[Any, list[Any]] = {}
        link_groups: dict[Any, list[Any]] | None = {} if tracked else None
        group = grouper(db, target)
        # Owners' keys as stored and no pivot objects: the rows grouped in C where the
        # accelerator is (``core._hydrate.by_key``, ``link_groups``: the same groups).
        speedups = db.codec(target).speedups if from_db is None and not tracked else None
        for where, params in self._in_chunks(column, relation.owner.primary_key[0], list(owners)):
            rows = self.io._fetch(
                f"{head} WHERE {where}{head_order(db, relation)}", params, context
            )
            if speedups is not None:
                by_raw = speedups.by_key(rows, pk_at)
                objs = self.materialize(target, ([row[width:] for row in by_raw.values()],))
                found = dict(zip(by_raw, objs, strict=True))
                speedups.link_groups(item_groups, rows, 0, pk_at, found)
                continue
            item_keys = list(map(item_key, rows))
            by_raw = dict(zip(item_keys, rows, strict=False))  # one row per item
            objs = self.materialize(target, ([row[width:] for row in by_raw.values()],))
            by_raw = dict(zip(by_raw, objs, strict=True))
            items = list(map(by_raw.__getitem__, item_keys))
            owner_keys = list(map(owner_key, rows))
            if from_db is not None:
                owner_keys = [from_db(k) for k in owner_keys]
            group(item_groups, owner_keys, items)
            if link_groups is not None:
                handed = {relation.owner: owners, target: {target.pk_of(o): o for o in objs}}
                links = self.materialize(pivot, ([row[:width] for row in rows],), handed)
                group(link_groups, owner_keys, links)
        return item_groups, link_groups


def head_order(db: Database, relation: RelationInfo) -> str:
    """``ORDER BY`` the items' key in ``pivot_select_sql``'s aliases."""
    q = db.dialect.quote
    return " ORDER BY " + ", ".join(f"{q('_t')}.{q(f.column)}" for f in relation.target.primary_key)


#: ``group(groups, keys, objs)``: see ``_group``.
Grouper = Callable[[dict[Any, list[Any]], list[Any], list[Any]], None]


def grouper(db: Database, info: EntityInfo) -> Grouper:
    """``_group``, in C where the codec of ``info`` runs with the accelerator
    (``core._hydrate.group``: the same groups)."""
    speedups = db.codec(info).speedups
    return _group if speedups is None else speedups.group


def _group(groups: dict[Any, list[Any]], keys: list[Any], objs: list[Any]) -> None:
    """Append each object to the group of its key (``keys`` and ``objs`` pair up)."""
    for key, obj in zip(keys, objs, strict=True):
        group = groups.get(key)
        if group is None:
            groups[key] = [obj]
        else:
            group.append(obj)


def _database_token(db: Database) -> int:
    token: int | None = getattr(db, "_loader_token", None)
    if token is None:
        token = next(_database_tokens)
        db._loader_token = token  # type: ignore[attr-defined]
        _databases[token] = db
    return token


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
        key = unloaded_key(o.__dict__.get(name))
        if key is not None:
            target = by_key.get(key)
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
            out.extend(f"{alias}.{q(c)}" for c in step_target(chain[-1]).column_names)
        return out

    def load(self, rows: Sequence[Sequence[Any]], roots: list[Any], source: Source) -> None:
        """Build the joined objects of ``rows`` and set them on ``roots`` (one per row)."""
        offset = len(self.root.column_names)
        loaded: dict[tuple[FieldInfo, ...], list[Any]] = {(): roots}
        for chain in self.chains:
            target = step_target(chain[-1])
            width = len(target.column_names)
            pk_at = offset + target.primary_key[0].position
            seen: dict[Any, Sequence[Any]] = {}
            for row in rows:
                key = row[pk_at]
                if key is not None and key not in seen:
                    seen[key] = row[offset : offset + width]
            objs = source.materialize(target, (list(seen.values()),))
            loaded[chain] = objs
            _fill(loaded[chain[:-1]], chain[-1], {target.pk_of(o): o for o in objs})
            offset += width


class SelectInLoader:
    """Each level of a path of relations, for a whole result, by ``IN`` queries
    (``query.eager("author")``, ``eager("posts")``, ``eager("posts.tags")``)."""

    def __init__(self, root: EntityInfo, path: str) -> None:
        self.root = root
        self.path = path
        self.steps: list[Step] = resolve_relations(root, path, "eager")

    def load(self, objs: Sequence[Any], source: Source) -> None:
        level: Sequence[Any] = objs
        last = len(self.steps) - 1
        for i, step in enumerate(self.steps):
            if not level:
                return
            if isinstance(step, RelationInfo):
                level = load_collections(level, step, source, i < last)
            else:
                level = _load_references(level, step, source)


def _load_references(objs: Sequence[Any], f: FieldInfo, source: Source) -> list[Any]:
    """Load ``f`` for every object holding a bare key; the referenced objects (all of them,
    loaded before or now, once each) are the next level."""
    target = step_target(f)
    name = f.name
    wanted = {k for o in objs if (k := unloaded_key(o.__dict__.get(name))) is not None}
    if wanted:
        found = source.by_keys(target, list(wanted))
        _fill(objs, f, {target.pk_of(o): o for o in found})
    out: dict[int, Any] = {}
    for o in objs:
        v = o.__dict__.get(name)
        if v is not None and hasattr(v, "__dict__"):
            out[id(v)] = v
    return list(out.values())


def load_collections(
    owners: Sequence[Any], relation: RelationInfo, source: Source, items: bool = True
) -> list[Any]:
    """Load ``relation`` on every owner that has not loaded it (one query per chunk); the
    items of every owner's collection (once each) are the next level (with ``items``).

    With work staged in the session, each collection is put together as a lazy load does
    (``Session._install_collection``: memory wins over the stored rows); else it holds the
    stored rows as they are."""
    name = relation.name
    pk = relation.owner.primary_key[0]
    pk_name, auto = pk.name, pk.autoincrement
    # (the accelerator's loops where the items' codec has it: the same dict and list)
    speedups = source.database.codec(relation.target).speedups
    todo: dict[Any, Any]
    if speedups is not None:
        todo = speedups.pending(owners, name, pk_name, auto)
    else:
        todo = {
            key: o
            for o in owners
            if name not in (d := o.__dict__)
            and (key := d.get(pk_name)) is not None
            and not (auto and key == 0)
        }
    if todo:
        session = source.session
        staged = session is not None and bool(
            session._new or session._touched or session._removed or session._conn is not None
        )
        none: list[Any] = []
        # Pivot objects made on first need (``core.collection``): in a session, with nothing
        # staged that a collection must take into account.
        lazy = session is not None and not staged and lazy_pivots(relation)
        links: dict[Any, list[Any]] | None = None
        if relation.pivot is None:
            groups = source.by_owner(relation, todo)
        else:
            groups, links = source.through_pivot(relation, todo, pivots=not lazy)
        if staged:
            assert session is not None
            for key, owner in todo.items():
                found = groups.get(key, none)
                pivots = links.get(key, none) if links is not None else none
                session._install_collection(owner, relation, found, pivots)
        else:
            install_loaded(relation, todo, groups, links, lazy, speedups)
    if not items:
        return []
    if speedups is not None:
        level: list[Any] = speedups.items_of(owners, name)
        return level
    out = {id(item): item for o in owners for item in o.__dict__.get(name, ())}
    return list(out.values())


class LazyLoader:
    """One collection of one object, loaded on first read with one query."""

    @staticmethod
    def load(obj: Any, relation: RelationInfo) -> None:
        source = _source_of(obj, relation)
        load_collections([obj], relation, source)


def _source_of(obj: Any, relation: RelationInfo) -> Source:
    """The session that tracks ``obj``, or the database it was loaded from untracked."""
    d = obj.__dict__
    token = d.get(SESSION_ATTR)
    if token is not None:
        ref = SESSIONS.get(token)
        session = ref() if ref is not None else None
        if session is not None:
            return Source(session.database, session)
    db_token = d.get(DATABASE_ATTR)
    if db_token is not None:
        db = _databases.get(db_token)
        if db is not None:
            return Source(db, None)
    db = database_of_token(token)  # (its session was collected: untracked from its database)
    if db is not None:
        return Source(db, None)
    info = entity_info(obj)
    raise SessionError(
        f"{info.describe(obj)}: the collection {relation.name!r} is not loaded and the object "
        "belongs to no session; load it through a session or database.query"
    )


def load_collection(obj: Any, name: str) -> None:
    """Load the collection ``name`` of ``obj`` (a persistent object) with one query."""
    LazyLoader.load(obj, entity_info(obj).relation(name))
