"""Collections in memory: tracked lists and sets that keep both sides of a relation in step.

A collection field (``posts: Annotated[list["Post"], BackReference]``) is not a column. Its
value, once loaded or set, is a ``TrackedList`` (or ``TrackedSet``) in the owner's
``__dict__``; what it holds follows from the columns, and every edit is turned into a change
of columns that the unit of work already knows how to write:

- one-to-many (``Author.posts`` through ``Post.author``): ``author.posts.append(p)`` sets
  ``p.author = author``; taking ``p`` out sets ``p.author = None`` (or removes ``p`` when the
  reference says ``orphans="delete"``). Assigning ``p.author`` moves ``p`` between the
  loaded collections of the old and the new author (``reference_changed``).
- many-to-many (``Post.tags`` via ``PostTag``): each link is a pivot object; appending
  creates one (staged with the owner), taking out stages its removal; the mirror collection
  (``Tag.posts``), when loaded, follows.

A collection holds each item once (by identity). An item that enters a collection of an
object tracked by a session is added to that session when it is new; one that stands for a
stored row the session does not track is taken as that row (``Session._as_stored``). The
common move of a persistent child to another owner's collection is done without the
attribute machinery (``_plain_move``: the same change record and collection moves), and its
most common form (from one loaded owner into another's loaded collection, in one session)
in one place: ``TrackedList.append`` itself for a list, ``_quick_move`` for a set. Such a
move reaches the session's containers through ``STAGING`` (no session looked up) and leaves
the moved child as a hint in ``Session._moved``, for the commit's own pass over moves
(``core.codec.EntityCodec.collect_moves``). Edits are logged on the session
(``Session._log_collection``) so that ``rollback()`` puts collections back. Where the optional
C module ``core._moves`` is built (and ``ORMCLI_NO_SPEEDUPS`` is not set), ``TrackedList.append``
is its ``QuickAppend``: the same quick move, step for step on the same containers, in C; any
other case goes to the Python method (``use_speedups`` switches between the two).

Once loaded, a collection is found in its owner's ``__dict__`` by the attribute lookup itself
(``CollectionReader``, a class attribute without ``__set__``, on a class assigning through
the session's plain hook, which assigns collections; ``CollectionAttribute`` otherwise).

Callers: ``core.entity`` (``CollectionReader`` / ``CollectionAttribute`` on the class,
``reference_changed`` from the
reference descriptor and the generated ``__init__``), ``core.session`` (loading, staging,
after commit) and loaders (``install``). What it leaves out: SQL and which rows belong to a
collection (``core.session`` loads them), the model (``core.relations``).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from types import ModuleType
from typing import TYPE_CHECKING, Any, SupportsIndex

from core.errors import SessionError, ValidationError
from core.speedups import load as load_accelerator
from core.types import MISSING

if TYPE_CHECKING:
    from core.relations import RelationInfo

__all__ = [
    "MOVES",
    "SESSIONS",
    "STAGING",
    "TOKEN_BLOCK_BITS",
    "TOKEN_DATABASES",
    "UNTRACKED",
    "CollectionAttribute",
    "CollectionReader",
    "TrackedList",
    "TrackedSet",
    "database_of_token",
    "install",
    "install_item",
    "install_loaded",
    "lazy_pivots",
    "make_links",
    "reference_changed",
    "remove_item",
    "replace_item",
    "stands_for_row",
    "use_speedups",
]

#: The key of a tracked object's session token (the same as ``core.entity.SESSION_ATTR``).
SESSION_ATTR = "_orm_session"

#: The key under which an object loaded without a session holds a token of the database it
#: came from (``core.loaders.Source``): its collections load from there on first read.
UNTRACKED_SOURCE = "_orm_database"

#: The session token of an object that stands for a stored row but belongs to no session:
#: loaded untracked (``database.query``), or left by a session that was closed. No session
#: has it (session tokens start at 1), so such an object is detached everywhere.
UNTRACKED = 0

#: Session token -> the session (weakly): how a collection finds its owner's session.
SESSIONS: dict[int, weakref.ref[Any]] = {}

#: A session token is ``block << TOKEN_BLOCK_BITS | n``; every token of a block belongs to a
#: session of one database (``core.session``). Block -> that database (weakly): how an object
#: whose session was garbage collected still finds where its references' bare keys and its
#: collections load from (untracked, as a ``database.query`` object's do; a closed session's
#: objects hold ``UNTRACKED`` instead, and their references were pinned by the session). One
#: entry per 2**20 sessions of a database.
TOKEN_BLOCK_BITS = 20
TOKEN_DATABASES: dict[int, weakref.ref[Any]] = {}


def database_of_token(token: Any) -> Any:
    """The database whose session was given ``token`` (None: none, or it is gone)."""
    if type(token) is not int:
        return None
    ref = TOKEN_DATABASES.get(token >> TOKEN_BLOCK_BITS)
    return ref() if ref is not None else None


def stands_for_row(obj: Any) -> bool:
    """Whether ``obj``, which this session does not track, stands for a stored row: it was
    loaded untracked (``database.query``), or it belonged to a session that has since been
    closed or collected (its staged new objects excepted: they lose the token). Such an
    object assigned to a reference or put in a collection is a reference to that row, never
    a new one (``Session._as_stored``)."""
    token = obj.__dict__.get(SESSION_ATTR)
    return token is not None and token not in SESSIONS


#: Session token -> ``(changed, touched, new, log epoch, collection log, moved)``: the
#: session's own containers (``Session._changed``, ``_touched``, ``_new``, ``_coll_epoch``,
#: ``_coll_log``, ``_moved``), for the quick move of ``TrackedList.append`` (no session looked
#: up, no attribute read; a one-to-many collection is logged as ``_log_collection`` logs it,
#: with no links). Set and dropped with ``SESSIONS``, made anew with each log epoch; it holds
#: no reference to the session.
STAGING: dict[int, tuple[Any, ...]] = {}


def _session(obj: Any) -> Any:
    token = obj.__dict__.get(SESSION_ATTR)
    if token is None:
        return None
    ref = SESSIONS.get(token)
    return ref() if ref is not None else None


def _info(obj: Any) -> Any:
    return type(obj).__orm_entity__


# -- raw edits (no relation semantics) -----------------------------------------------------


def _has(coll: Any, item: Any) -> bool:
    """Whether ``item`` itself is in ``coll`` (by identity: entities may define ``__eq__``)."""
    if isinstance(coll, set):
        return set.__contains__(coll, item)
    for x in list.__iter__(coll):  # noqa: SIM110 (a plain loop: twice as fast as any())
        if x is item:
            return True
    return False


def _index(coll: Any, item: Any) -> int:
    """The position of ``item`` itself in a list collection; -1 when it is not there."""
    for i, x in enumerate(list.__iter__(coll)):
        if x is item:
            return i
    return -1


def _last_is(coll: Any, item: Any) -> bool:
    """Whether ``item`` is a list collection's last item (just appended: no scan needed)."""
    return not isinstance(coll, set) and bool(coll) and list.__getitem__(coll, -1) is item


def _raw_add(coll: Any, item: Any, link: Any = None) -> None:
    # (The links of the items already there are made first, if they are still to make: the
    # new item's is ``link``, never one made for a stored row.)
    links = coll._links if link is not None else None
    if isinstance(coll, set):
        set.add(coll, item)
    else:
        list.append(coll, item)
    if links is not None:
        links[id(item)] = link


def _raw_remove(coll: Any, item: Any) -> None:
    if isinstance(coll, set):
        set.discard(coll, item)
    else:
        i = _index(coll, item)
        if i >= 0:
            list.__delitem__(coll, i)
    if coll._links:
        coll._links.pop(id(item), None)


def _log(coll: Any) -> None:
    session = _session(coll._owner)
    if session is not None:
        session._log_collection(coll)


def _loaded(owner: Any, name: str) -> Any:
    """The owner's collection ``name`` if it is loaded (never loads it)."""
    return owner.__dict__.get(name) if owner is not None else None


# -- the semantics of an edit ----------------------------------------------------------------


def _refers(value: Any, obj: Any) -> bool:
    """Whether a reference's value stands for ``obj``: ``obj`` itself, or its key (bare, as a
    session's load stores it, or an ``Unloaded`` placeholder's)."""
    if value is obj:
        return True
    if value is None or hasattr(value, "__dict__"):
        return False
    info = _info(obj)
    return bool(info.has_pk(obj) and getattr(value, "pk", value) == info.pk_of(obj))


def _pivot_for(rel: RelationInfo, owner: Any, item: Any) -> Any:
    """A pivot object linking ``owner`` and ``item``: one staged for removal (taken back), else
    a new one with the pivot's defaults."""
    session = _session(owner)
    assert rel.pivot is not None and rel.pivot_owner is not None
    assert rel.pivot_target is not None
    own, tgt = rel.pivot_owner.name, rel.pivot_target.name
    if session is not None:
        for removed in session._removed.values():
            if (
                type(removed).__orm_entity__ is rel.pivot
                and _refers(removed.__dict__.get(own), owner)
                and _refers(removed.__dict__.get(tgt), item)
            ):
                return removed
    pivot: Any = object.__new__(rel.pivot.cls)
    d = pivot.__dict__
    for f in rel.pivot.fields:
        if f.name in (own, tgt):
            continue
        if not f.has_default:
            raise SessionError(
                f"{rel.label}: the pivot {rel.pivot.cls.__name__} needs a value for "
                f"{f.name!r}, which has no default; add the link yourself: "
                f"session.add({rel.pivot.cls.__name__}({own}=..., {tgt}=..., {f.name}=...))"
            )
        d[f.name] = f.default_value()
    d[own] = owner
    d[tgt] = item
    return pivot


def _add(coll: Any, item: Any, tried: bool = False) -> None:
    """``coll.append(item)`` / ``coll.add(item)`` with the relation's meaning (``tried``: the
    caller found that the quick move does not apply)."""
    rel: RelationInfo = coll._relation
    owner = coll._owner
    if not tried:
        quick = rel.quick
        if quick is False:
            quick = _quick(rel)
        if quick:
            if not quick[3]:  # (a list: its append tries the quick move, then comes back)
                TrackedList.append(coll, item)
                return
            if _quick_move(coll, quick, item):
                return
    if not isinstance(item, rel.target.cls):
        raise ValidationError(f"{rel.label} holds {rel.target.cls.__name__} objects, got {item!r}")
    session = _session(owner)
    if session is not None and item.__dict__.get(SESSION_ATTR) != session._token:
        # An object of a stored row that this session does not track: the session's object
        # for that row (attached if it has none); a new one is staged below.
        item = session._as_stored(item, load=True) or item
    if rel.pivot is None:
        assert rel.reference is not None
        current = item.__dict__.get(rel.reference.name)
        # (An item whose reference names another owner is not in this collection: no scan.)
        bare = current is not None and not hasattr(current, "__dict__")  # (an Unloaded key)
        if (current is owner or bare) and _has(coll, item):
            return
        if session is None or not _plain_move(session, item, rel.reference, current, owner):
            # Through the reference's descriptor: it takes the item out of its old owner's
            # loaded collection; a new item is staged with the owner (and joins this one).
            setattr(item, rel.reference.name, owner)
        if (
            session is not None
            and item.__dict__.get(SESSION_ATTR) != session._token
            and _session(item) is None
        ):
            session.add(item)
        if not _last_is(coll, item) and not _has(coll, item):
            _log(coll)
            _raw_add(coll, item)
        return
    if _has(coll, item):
        return
    pivot = _pivot_for(rel, owner, item)
    _log(coll)
    _raw_add(coll, item, pivot)
    mirror = rel.mirror
    if mirror is not None:
        back = _loaded(item, mirror.name)
        if back is not None and not _has(back, owner):
            _log(back)
            _raw_add(back, owner, pivot)
    if session is not None:
        session.add(pivot)


#: Entity class -> whether an assignment to it is the session's ``__setattr__`` hook over
#: ``object.__setattr__`` (no ``__setattr__`` of the class's own), for ``_plain_move``.
_PLAIN_SETATTR: dict[type, bool] = {}


def _plain(cls: type) -> bool:
    """Whether ``cls`` assigns through the session's hook over ``object.__setattr__``."""
    plain = _PLAIN_SETATTR.get(cls)
    if plain is None:
        hook = cls.__setattr__
        plain = _PLAIN_SETATTR[cls] = getattr(hook, "_orm_base", None) is object.__setattr__
    return plain


def _quick(rel: RelationInfo) -> tuple[Any, ...] | None:
    """Set and return ``rel.quick``, what the quick move (``_quick_move``, and
    ``TrackedList.append`` inlined) needs when it applies to ``rel``: ``(the item class, the
    reference's name, the collection's name, whether it is a set, the owner class, whether the
    item class keeps ``object.__eq__``)``, else None. It applies to a one-to-many relation
    that is the only one its reference feeds, the reference no key field, the item class
    assigning through the session's plain hook.
    (A relation resolved later for the same reference sets ``quick`` back to False on every
    relation the reference feeds, ``core.relations.link``: this is worked out again.)"""
    ref = rel.reference
    rels = ref.relations if ref is not None else ()
    ok = (
        ref is not None
        and rel.pivot is None
        and len(rels) == 1
        and rels[0] is rel
        and not ref.primary_key
        and _plain(rel.target.cls)
    )
    quick = None
    if ok and ref is not None:
        cls = rel.target.cls
        plain_eq = cls.__eq__ is object.__eq__  # type: ignore[comparison-overlap]
        quick = (cls, ref.name, rel.name, rel.collection_type is set, rel.owner.cls, plain_eq)
    rel.quick = quick
    return quick


#: ``list``'s own methods, for collections (whose ``list`` methods have the relation's meaning).
_list_index, _list_append = list.index, list.append
_list_pop, _list_insert = list.pop, list.insert  # (methods: cheaper calls than slot wrappers)


def _quick_move(coll: Any, quick: tuple[Any, ...], item: Any) -> bool:
    """``coll.add(item)`` for the most common edit of a set collection, in one place (a list's
    is inlined in ``TrackedList.append``): ``item``, persistent and tracked by the owner's
    session, moves from a loaded owner in the same session into ``coll``, the owner's loaded
    collection of a relation that ``_quick`` allows (``quick``: what it found). Exactly what
    ``_plain_move``, ``_move`` and ``_add`` do in that case (the old value recorded as the
    session's ``__setattr__`` hook records it, the reference set, ``item`` out of the old
    owner's loaded collection and into ``coll``, each collection logged for rollback before
    its first edit), without their general cases. False, with nothing done, when the case is
    another."""
    cls, name, cname, _, _, _ = quick
    if type(item) is not cls:
        return False
    owner = coll._owner
    owner_d = owner.__dict__
    token = owner_d.get(SESSION_ATTR)
    d = item.__dict__
    if token is None or d.get(SESSION_ATTR) != token:
        return False
    weak = SESSIONS.get(token)
    session = weak() if weak is not None else None
    if session is None:
        return False
    old = d.get(name)
    old_d = getattr(old, "__dict__", None)  # (None for None and a bare key)
    oid = id(item)
    if (
        old_d is None
        or old is owner
        or old_d.get(SESSION_ATTR) != token
        or oid in session._new
        or owner_d.get(cname) is not coll
    ):
        return False
    changed = session._changed
    record = changed.get(oid)
    if record is None:
        changed[oid] = {name: old}
        session._touched[oid] = item
    elif name not in record:
        record[name] = old
    d[name] = owner
    epoch = session._coll_epoch
    was = old_d.get(cname)
    if was is not None and set.__contains__(was, item):
        if getattr(was, "_logged", None) is not epoch:
            session._log_collection(was)
        set.discard(was, item)
    if not set.__contains__(coll, item):
        if getattr(coll, "_logged", None) is not epoch:
            session._log_collection(coll)
        set.add(coll, item)
    return True


def _plain_move(session: Any, item: Any, ref: Any, old: Any, owner: Any) -> bool:
    """``item.<ref> = owner`` for a persistent ``item`` of ``owner``'s session, done here
    without the attribute machinery (the common move through a collection): the old value
    recorded as the session's ``__setattr__`` hook records it, the value stored, the item
    moved between the loaded collections as ``reference_changed`` moves it. False (nothing
    done) where that does not apply: a new item, a key field, a class with its own
    ``__setattr__``."""
    d = item.__dict__
    oid = id(item)
    token = session._token
    if (
        not _plain(type(item))
        or ref.primary_key
        or d.get(SESSION_ATTR) != token
        or oid in session._new
    ):
        return False
    name = ref.name
    changed = session._changed
    record = changed.get(oid)
    if record is None:
        changed[oid] = {name: d.get(name, MISSING)}
        session._touched[oid] = item
    elif name not in record:
        record[name] = d.get(name, MISSING)
    d[name] = owner
    _move(session, token, item, ref, old, owner, True)
    return True


def _discard(coll: Any, item: Any) -> None:
    """Take ``item`` (a member) out of ``coll`` with the relation's meaning."""
    rel: RelationInfo = coll._relation
    owner = coll._owner
    session = _session(owner)
    if rel.pivot is None:
        ref = rel.reference
        assert ref is not None
        if ref.orphans == "delete":
            _log(coll)
            _raw_remove(coll, item)
            if session is not None and _session(item) is session:
                session.remove(item)
            return
        setattr(item, ref.name, None)  # (the descriptor takes it out of this collection)
        if _has(coll, item):
            _log(coll)
            _raw_remove(coll, item)
        if session is not None and not ref.nullable:
            session._orphans[id(item)] = (item, rel, owner)
        return
    pivot = coll._links.get(id(item))
    _log(coll)
    _raw_remove(coll, item)
    mirror = rel.mirror
    if mirror is not None:
        back = _loaded(item, mirror.name)
        if back is not None and _has(back, owner):
            _log(back)
            _raw_remove(back, owner)
    if session is not None and pivot is not None and _session(pivot) is session:
        session.remove(pivot)


def reference_changed(obj: Any, f: Any, old: Any, new: Any) -> None:
    """``obj.<f> = new`` (it was ``old``): move ``obj`` between the loaded collections that
    ``f`` feeds (one-to-many) when ``obj`` and ``new`` belong to the same session (or to none);
    on an object a session tracks, a new object assigned is staged. Called by the reference
    descriptor and the generated ``__init__``."""
    session = _session(obj)
    token = session._token if session is not None else None
    new_d = getattr(new, "__dict__", None)  # (None for None and a bare key)
    if session is not None and new_d is not None and new_d.get(SESSION_ATTR) != token:
        # A stored row's object this session does not track is a reference to that row (the
        # session's object for it); a new object is staged with ``obj``.
        stored = session._as_stored(new)
        if stored is None:
            session.add(new)
        elif stored is not new:
            obj.__dict__[f.name] = new = stored
            new_d = getattr(new, "__dict__", None)
    same = new_d is not None and (
        new_d.get(SESSION_ATTR) == token if token is not None else _session(new) is None
    )
    _move(session, token, obj, f, old, new, same)


def _move(session: Any, token: Any, obj: Any, f: Any, old: Any, new: Any, same: bool) -> None:
    """``obj`` leaves ``old``'s loaded collections fed by ``f`` and, with ``same`` (``new``
    belongs to ``obj``'s session, or both to none), joins ``new``'s."""
    new_d = getattr(new, "__dict__", None)
    for rel in f.relations:
        if rel.pivot is not None:
            continue
        name = rel.name
        old_owner = old
        if old is not None and not hasattr(old, "__dict__"):  # a key (bare, or Unloaded)
            key = getattr(old, "pk", old)  # (core.entity.unloaded_key: no import cycle)
            old_owner = session._identity.lookup(f.target, key) if session else None
        coll = _loaded(old_owner, name)
        if coll is not None:
            is_set = isinstance(coll, set)
            i = -1 if is_set else _index(coll, obj)
            if i >= 0 or (is_set and set.__contains__(coll, obj)):
                if session is not None and old_owner.__dict__.get(SESSION_ATTR) == token:
                    session._log_collection(coll)
                else:
                    _log(coll)
                if is_set:
                    set.discard(coll, obj)
                else:
                    list.__delitem__(coll, i)
        if not same:
            # An object no session has, given a tracked owner: it joins the owner's loaded
            # collection when it is added to that session (``Session.add``), not before.
            continue
        assert new_d is not None
        coll = new_d.get(name)
        if coll is None and token is None:
            # A new owner: every item it has is in memory, so its collection starts here.
            coll = new_d[name] = _empty(new, rel)
        if coll is not None and not _has(coll, obj):
            if session is not None:
                session._log_collection(coll)
            _raw_add(coll, obj)


# -- pivot objects made on first need ---------------------------------------------------------


def lazy_pivots(rel: RelationInfo) -> bool:
    """Whether the pivot objects of ``rel``'s loaded collections can be made on first need:
    the pivot holds nothing but its two references, which are its primary key, so each link
    follows from its owner and its item (a pivot with more columns is built from its row)."""
    pivot, own, tgt = rel.pivot, rel.pivot_owner, rel.pivot_target
    if pivot is None or own is None or tgt is None:
        return False
    return bool(
        len(pivot.fields) == 2
        and len(pivot.primary_key) == 2
        and own.primary_key
        and tgt.primary_key
        and len(rel.owner.primary_key) == 1
        and len(rel.target.primary_key) == 1
    )


def _links_of(coll: Any) -> dict[int, Any]:
    """A collection's ``_links`` (``id(item)`` -> its pivot object): a collection loaded by
    ``query.eager`` in a session gets them only when something first needs them (an edit,
    a rollback log, a delete that cascades through the pivot), through the session's identity
    map: the pivot object of a row that is mapped already is that object, any other is made
    and mapped then. Loading 20,000 links so builds no 20,000 pivot objects nobody reads."""
    links: dict[int, Any] | None = coll._linked
    if links is None:
        links = make_links(coll, _session(coll._owner))
    return links


def make_links(coll: Any, session: Any) -> dict[int, Any]:
    """Make and set the links of a collection whose pivot objects are still to make, through
    ``session`` (None: a detached owner, whose links are detached too)."""
    rel: RelationInfo = coll._relation
    links: dict[int, Any] = {}
    if rel.pivot is not None:
        items = list(set.__iter__(coll) if isinstance(coll, set) else list.__iter__(coll))
        owner = coll._owner
        if session is not None:
            pivots = session._pivots_for(rel, owner, items)
        else:
            pivots = [_pivot_object(rel, owner, item) for item in items]
        links = dict(zip(map(id, items), pivots, strict=True))
    coll._linked = links
    return links


def _set_links(coll: Any, links: dict[int, Any]) -> None:
    coll._linked = links


def _pivot_object(rel: RelationInfo, owner: Any, item: Any) -> Any:
    """The pivot object of a stored link of ``owner`` to ``item`` (``lazy_pivots``), as a load
    builds it: its two references hold the objects; attached to no session (standing for its
    row, ``UNTRACKED``, when the owner does)."""
    assert rel.pivot is not None and rel.pivot_owner is not None
    assert rel.pivot_target is not None
    pivot: Any = object.__new__(rel.pivot.cls)
    d = pivot.__dict__
    for f in rel.pivot.fields:
        d[f.name] = owner if f is rel.pivot_owner else item
    if SESSION_ATTR in owner.__dict__:  # (the owner left a closed session: its row stands)
        d[SESSION_ATTR] = UNTRACKED
    return pivot


# -- the collection types ------------------------------------------------------------------


class TrackedList(list[Any]):
    """A list-typed collection: edits go through the relation; each item at most once."""

    __slots__ = ("_linked", "_logged", "_owner", "_relation")

    _owner: Any
    _relation: RelationInfo
    _linked: dict[int, Any] | None
    #: The log epoch of the session that last logged it for rollback (``Session._coll_epoch``;
    #: unset until then): logged since the session's last commit, rollback or savepoint when
    #: it is the session's current one.
    _logged: object
    _links = property(_links_of, _set_links)

    def __reduce__(self) -> Any:  # a copy or a pickle is a plain list
        return (list, (list(self),))

    def append(self, item: Any) -> None:
        # The quick move (``_quick_move``'s case and steps, inlined for a list: bench S9):
        # ``item``, persistent and tracked by the owner's session, moves from a loaded owner
        # of that session into this, the owner's loaded collection. Anything else: ``_add``.
        quick = self._relation.quick
        if quick and type(item) is quick[0]:
            _, name, cname, _, owner_cls, plain_eq = quick
            owner = self._owner
            d = item.__dict__
            try:  # (subscripts, not ``get``: a missing key is the general case, below)
                old = d[name]
                token = d[SESSION_ATTR]
                owner_d = owner.__dict__
                # (An old owner of exactly the owner class: loaded, not None nor a bare key.)
                quick_move = (
                    type(old) is owner_cls
                    and old is not owner
                    and owner_d[SESSION_ATTR] == token
                    and owner_d[cname] is self
                    and (old_d := old.__dict__)[SESSION_ATTR] == token
                )
                state = STAGING[token]
            except KeyError:
                quick_move = False
            if quick_move:
                changed, touched, new, epoch, log, moved = state
                oid = id(item)
                if not new or oid not in new:
                    if oid not in changed:
                        changed[oid] = {name: old}
                        touched[oid] = item
                        moved.append(item)  # (a hint for the commit: Session._moved)
                    else:
                        record = changed[oid]
                        if name not in record:
                            record[name] = old
                    d[name] = owner
                    was = old_d.get(cname)
                    left = False  # (taken out of its old owner's loaded collection)
                    if was is not None:
                        if plain_eq:  # (the scan in C: ``list.index``)
                            try:
                                i = _list_index(was, item)
                            except ValueError:
                                i = -1
                        else:  # (an ``__eq__`` of the model's: by identity)
                            i = _index(was, item)
                        if i >= 0:
                            if getattr(was, "_logged", None) is not epoch:  # (as
                                was._logged = epoch  # ``Session._log_collection`` logs it)
                                log.append((was, list(was), {}))
                            taken = _list_pop(was, i)
                            left = taken is item
                            if not left:  # (an item of a subclass's ``__eq__`` matched it)
                                _list_insert(was, i, taken)
                                i = _index(was, item)
                                if i >= 0:
                                    _list_pop(was, i)
                                    left = True
                    # (Taken out of its old owner's collection, it is not in this one.)
                    if left or not _has(self, item):
                        if getattr(self, "_logged", None) is not epoch:
                            self._logged = epoch
                            log.append((self, list(self), {}))
                        _list_append(self, item)
                    return
        _add(self, item, bool(quick))

    def extend(self, items: Iterable[Any]) -> None:
        for item in list(items):
            _add(self, item)

    def __iadd__(self, items: Iterable[Any]) -> TrackedList:  # type: ignore[misc]
        self.extend(items)
        return self

    def insert(self, index: SupportsIndex, item: Any) -> None:
        if _has(self, item):
            return
        _add(self, item)
        if _has(self, item) and list.__getitem__(self, -1) is item:
            list.pop(self, -1)
            list.insert(self, index, item)

    def remove(self, item: Any) -> None:
        if not _has(self, item):
            raise ValueError(f"{self._relation.label}: {item!r} is not in the collection")
        _discard(self, item)

    def pop(self, index: SupportsIndex = -1) -> Any:
        item = list.__getitem__(self, index)
        _discard(self, item)
        return item

    def clear(self) -> None:
        for item in list(self):
            _discard(self, item)

    def __delitem__(self, index: Any) -> None:
        items = list.__getitem__(self, index)
        for item in items if isinstance(index, slice) else [items]:
            _discard(self, item)

    def __setitem__(self, index: Any, value: Any) -> None:
        content = list(self)
        content[index] = value
        _replace(self, content)

    def __imul__(self, n: Any) -> TrackedList:  # type: ignore[misc]
        raise TypeError(f"{self._relation.label} holds each item once; it cannot be repeated")


#: The pure ``TrackedList.append`` (what the C one falls back to where the quick move does
#: not apply).
_pure_append = TrackedList.append

#: The accelerator of the move's hot path in use (``use_speedups``), or None: the pure path.
MOVES: ModuleType | None = None


def use_speedups(module: ModuleType | None) -> None:
    """Run the relation move's hot path with ``module`` (``core._moves``), or in Python given
    None: ``TrackedList.append`` from now on, and the commit's pass over moves
    (``core.codec.EntityCodec.collect_moves``) of the codecs made from now on. Chosen once at
    import (tests switch it)."""
    global MOVES
    MOVES = module
    append: Any = _pure_append
    if module is not None:
        from core.relations import RelationInfo

        slots = TrackedList.__dict__
        append = module.QuickAppend(
            _pure_append,
            STAGING,
            SESSION_ATTR,
            slots["_owner"],
            slots["_relation"],
            RelationInfo.__dict__["quick"],
            slots["_logged"],
        )
    TrackedList.append = append  # type: ignore[method-assign] # (the one switch of the class)


use_speedups(load_accelerator("_moves"))


class TrackedSet(set[Any]):
    """A set-typed collection: edits go through the relation."""

    __slots__ = ("_linked", "_logged", "_owner", "_relation")

    _owner: Any
    _relation: RelationInfo
    _linked: dict[int, Any] | None
    #: The log epoch of the session that last logged it for rollback (``Session._coll_epoch``;
    #: unset until then): logged since the session's last commit, rollback or savepoint when
    #: it is the session's current one.
    _logged: object
    _links = property(_links_of, _set_links)

    def __reduce__(self) -> Any:
        return (set, (set(self),))

    def add(self, item: Any) -> None:
        _add(self, item)

    def update(self, *others: Iterable[Any]) -> None:
        for items in others:
            for item in list(items):
                _add(self, item)

    def __ior__(self, items: Any) -> TrackedSet:  # type: ignore[misc]
        self.update(items)
        return self

    def discard(self, item: Any) -> None:
        if set.__contains__(self, item):
            _discard(self, item)

    def remove(self, item: Any) -> None:
        if not set.__contains__(self, item):
            raise KeyError(item)
        _discard(self, item)

    def pop(self) -> Any:
        for item in set.__iter__(self):
            _discard(self, item)
            return item
        raise KeyError("pop from an empty collection")

    def clear(self) -> None:
        for item in list(self):
            _discard(self, item)

    def difference_update(self, *others: Iterable[Any]) -> None:
        for items in others:
            for item in list(items):
                self.discard(item)

    def __isub__(self, items: Any) -> TrackedSet:  # type: ignore[misc]
        self.difference_update(items)
        return self

    def intersection_update(self, *others: Iterable[Any]) -> None:
        keep = set(self)
        for items in others:
            keep &= set(items)
        for item in list(self):
            if item not in keep:
                _discard(self, item)

    def __iand__(self, items: Any) -> TrackedSet:  # type: ignore[misc]
        self.intersection_update(items)
        return self

    def symmetric_difference_update(self, items: Iterable[Any]) -> None:
        for item in list(items):
            if set.__contains__(self, item):
                _discard(self, item)
            else:
                _add(self, item)

    def __ixor__(self, items: Any) -> TrackedSet:  # type: ignore[misc]
        self.symmetric_difference_update(items)
        return self


def _empty(owner: Any, rel: RelationInfo) -> Any:
    coll: Any = TrackedSet() if rel.collection_type is set else TrackedList()
    coll._owner = owner
    coll._relation = rel
    coll._linked = {}
    return coll


def install_loaded(
    rel: RelationInfo,
    owners: dict[Any, Any],
    groups: dict[Any, list[Any]],
    links: dict[Any, list[Any]] | None,
    lazy: bool = False,
    speedups: Any = None,
) -> None:
    """Put loaded collections on their owners (for ``query.eager``): per owner (by key), its
    items in order (``groups``; rows of one load, each once), and for many-to-many the pivot
    object of each (``links``; None when the owners are untracked, or with ``lazy``: made on
    first need, see ``_links_of``; a one-to-many collection's empty links are made so too).
    One call for thousands of owners: nothing is looked for. ``speedups``: the accelerator
    (``core._hydrate``), whose ``install`` runs the loop without pivot objects in C (the
    same collections; a group list nothing else holds gives its items to the collection and
    is left empty), or None."""
    kind = TrackedSet if rel.collection_type is set else TrackedList
    name = rel.name
    none: list[Any] = []
    get = groups.get
    if rel.pivot is None or lazy:
        if speedups is not None:
            speedups.install(kind, rel, name, owners, groups)
            return
        for key, owner in owners.items():
            coll = kind(get(key, none))
            coll._owner = owner
            coll._relation = rel
            coll._linked = None
            owner.__dict__[name] = coll
        return
    for key, owner in owners.items():
        items = get(key, none)
        coll = kind(items)
        coll._owner = owner
        coll._relation = rel
        found = links.get(key) if links is not None else None
        coll._linked = dict(zip(map(id, items), found, strict=True)) if found else {}
        owner.__dict__[name] = coll


def install(owner: Any, rel: RelationInfo, items: Iterable[Any], links: Iterable[Any] = ()) -> Any:
    """Put a loaded collection on ``owner`` (for loaders): ``items`` in order, and for a
    many-to-many relation the pivot object of each item in ``links``. Returns it."""
    coll = _empty(owner, rel)
    links = list(links)
    for i, item in enumerate(items):
        if not _has(coll, item):
            _raw_add(coll, item, links[i] if links else None)
    owner.__dict__[rel.name] = coll
    return coll


def replace_item(coll: Any, old: Any, new: Any) -> None:
    """Put ``new`` where ``old`` is, with its pivot object (no relation semantics: for the
    session, which takes a stored row's object for another one standing for the same row)."""
    if old is new:
        return
    link = coll._links.pop(id(old), None)
    if isinstance(coll, set):
        set.discard(coll, old)
        set.add(coll, new)
    else:
        for i, x in enumerate(list.__iter__(coll)):
            if x is old:
                if _has(coll, new):
                    list.__delitem__(coll, i)
                else:
                    list.__setitem__(coll, i, new)
                break
    if link is not None:
        coll._links[id(new)] = link


def remove_item(coll: Any, item: Any) -> None:
    """Take ``item`` (with its pivot object) out of a loaded collection, as the stored state
    has it (no relation semantics: for the session)."""
    _raw_remove(coll, item)


def install_item(coll: Any, item: Any, link: Any = None) -> None:
    """Put ``item`` (with its pivot object ``link``) at the end of a loaded collection, as
    the stored state has it (no relation semantics: for the session and loaders)."""
    _raw_add(coll, item, link)


def _replace(coll: Any, content: list[Any]) -> None:
    """Make ``coll`` hold ``content`` (in that order): items not kept are taken out, new ones
    added, then the order set."""
    keep = {id(x) for x in content}
    for item in list(coll):
        if id(item) not in keep:
            _discard(coll, item)
    for item in content:
        _add(coll, item)
    if isinstance(coll, list):
        order = {id(x): i for i, x in enumerate(content)}
        items = sorted(list.__iter__(coll), key=lambda x: order.get(id(x), len(order)))
        list.__delitem__(coll, slice(None))
        list.extend(coll, items)


def restore(coll: Any, items: list[Any], links: dict[int, Any]) -> None:
    """Put a logged collection back (rollback): exactly ``items`` and ``links``."""
    if isinstance(coll, set):
        set.clear(coll)
        set.update(coll, items)
    else:
        list.__delitem__(coll, slice(None))
        list.extend(coll, items)
    coll._links = dict(links)


class CollectionReader:
    """Class attribute of a collection field, on a class that assigns through the session's
    plain ``__setattr__`` hook: reading gives the tracked collection (as
    ``CollectionAttribute``); the hook makes an assignment ``CollectionAttribute.__set__``.

    It has no ``__set__`` (a non-data descriptor): once loaded, the collection in the
    object's ``__dict__`` is found by the attribute lookup itself, with no call
    (``author.posts.append(post)``, bench S9).
    """

    __slots__ = ("collection_type", "name")

    def __init__(self, name: str, collection_type: type) -> None:
        self.name = name
        self.collection_type = collection_type

    def _relation(self, obj: Any) -> RelationInfo:
        rel: RelationInfo = _info(obj).relations[self.name]
        return rel

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        d = obj.__dict__
        value = d.get(self.name)
        if value is not None:
            return value
        rel = self._relation(obj)
        session = _session(obj)
        if session is not None:
            return session._load_collection(obj, rel)
        if UNTRACKED_SOURCE in d or database_of_token(d.get(SESSION_ATTR)) is not None:
            # Loaded by database.query, or by a session that was garbage collected: it loads
            # from that database, untracked.
            from core.loaders import load_collection

            load_collection(obj, self.name)
            return d[self.name]
        info = _info(obj)
        if info.autoincrement is not None and info.has_pk(obj):
            raise SessionError(
                f"{info.describe(obj)} was loaded without a session: its collection "
                f"{self.name!r} is not loaded; query it through a session"
            )
        value = d[self.name] = _empty(obj, rel)
        return value


class CollectionAttribute(CollectionReader):
    """Class attribute of a collection field.

    Reading it gives the tracked collection: loaded on first access with one query for an
    object a session tracks (``Session._load_collection``), empty for a new object. Assigning
    an iterable makes the collection hold exactly those items (edits as above).
    """

    __slots__ = ()

    def __set__(self, obj: Any, value: Any) -> None:
        if value is self.__get__(obj):
            return
        _replace(self.__get__(obj), list(value))
