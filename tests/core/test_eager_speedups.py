"""An eager load (``query.eager("posts.tags")``) gives the same objects and collections with the
C accelerator (``core._hydrate``: ``Hydrator.chunk_refs``, ``group``, ``install``, ``pending``,
``items_of``, ``by_key``, ``link_groups``) as on the pure path.

Each comparison loads the same rows twice on the backend under test: once through a database
whose codecs were made with the accelerator, once through one whose codecs were made without
it (``core.codec._hydrate`` set to None, as ``ORMCLI_NO_SPEEDUPS=1`` does at import), and
compares objects, references (the identity-mapped objects), collections (class, owner,
relation, items in order, links), change tracking after the load, edits, commit and rollback.
The tests of the C primitives themselves skip where the accelerator was not built.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from typing import Any

import pytest

import core.codec
from core import Database
from core.collection import TrackedList
from core.entity import SESSION_ATTR, Unloaded
from core.loaders import DATABASE_ATTR
from tests.core.hydrate_built import _hydrate, built
from tests.core.test_relation_loading import MODELS, Author, Post, Tag, seed


def _make(db_url: str) -> Database:
    db = Database(db_url, MODELS)
    for model in MODELS:  # (codecs are made on first use: made now, as the switch says)
        db.codec(model.__orm_entity__)  # type: ignore[attr-defined]
    return db


@pytest.fixture
def dbs(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Database, Database]]:
    """The same database twice: with the accelerator (where built) and on the pure path."""
    fast = _make(db_url)
    fast.migrate()
    seed(fast, authors=4, posts=3, tags_per_post=2)
    monkeypatch.setattr(core.codec, "_hydrate", None)
    pure = _make(db_url)
    monkeypatch.undo()
    assert pure.codec(Post.__orm_entity__).speedups is None  # type: ignore[attr-defined]
    yield fast, pure
    fast.close()
    pure.close()


def _values(obj: Any) -> list[tuple[str, Any]]:
    """An object's ``__dict__`` in order: plain values as they are, a referenced object by its
    class and key (a placeholder by its key), a collection by its class and its items' keys,
    session and database tokens as such."""
    out: list[tuple[str, Any]] = []
    for k, v in vars(obj).items():
        if k in (SESSION_ATTR, DATABASE_ATTR):
            out.append((k, "token"))  # (each database has its own)
        elif type(v) is Unloaded:
            out.append((k, ("Unloaded", v.pk)))
        elif isinstance(v, list | set):
            out.append((k, (type(v).__name__, [getattr(x, "id", None) for x in v])))
        elif hasattr(v, "__dict__"):
            out.append((k, (type(v).__name__, v.id)))
        else:
            out.append((k, (type(v), v)))
    return out


def _check_loaded(
    s: Any, authors: list[Any], mapped: bool = False, links: bool = True
) -> list[Any]:
    """Every collection of the load is a tracked collection of its owner, holding the
    session's objects; references point at the loaded owners. The snapshot of the load."""
    shot = []
    tags: dict[int, Any] = {}
    for a in authors:
        coll = a.__dict__["posts"]
        assert type(coll) is TrackedList and coll._owner is a
        assert coll._relation is Author.__orm_entity__.relation("posts")  # type: ignore[attr-defined]
        for p in coll:
            # (the owner itself; a post mapped before the load keeps its bare key)
            assert p.__dict__["author"] is a or (mapped and p.__dict__["author"] == a.id)
            assert s.get(Post, p.id) is p
            tc = p.__dict__["tags"]
            assert type(tc) is TrackedList and tc._owner is p
            for t in tc:
                assert tags.setdefault(t.id, t) is t and s.get(Tag, t.id) is t
            made = tc._linked is not None and links  # (links made yet: alike on both paths)
            shot.append(("post", _values(p), [_values(t) for t in tc], made))
        shot.append(("author", _values(a), links and coll._linked))
    return shot


def test_an_eager_load_gives_the_same_objects_and_collections_on_both_paths(
    dbs: tuple[Database, Database],
) -> None:
    """Authors with posts and tags (one author without posts), loaded fresh: the same
    objects, references as the identity-mapped owners, collections of the same class and
    items, nothing staged, and the next level's items once each."""
    shots = []
    for db in dbs:
        s = db.create_session()
        authors = s.query(Author).order_by("id").eager("posts.tags").find()
        assert [len(a.posts) for a in authors] == [4, 3, 3, 3, 0]
        shots.append(_check_loaded(s, authors))
        changes = s.changes()
        assert not changes.updates and not changes.inserts and not changes.deletes
        assert s.pending_sql() == []
    assert shots[0] == shots[1]


@pytest.mark.parametrize("edited", [False, True], ids=["clean", "edited"])
def test_an_eager_load_over_mapped_objects_gives_the_same_on_both_paths(
    dbs: tuple[Database, Database], edited: bool
) -> None:
    """Some posts and a tag already in the session (with ``edited``, one post changed and not
    saved: the collections are put together as a lazy load does): the eager load hands back
    those objects as they are and makes the rest."""
    shots = []
    for db in dbs:
        s = db.create_session()
        some = s.query(Post).order_by("id").limit(3).find()
        if edited:
            some[1].title = "edited"
        tag = s.query(Tag).order_by("id").limit(1).find_one()
        authors = s.query(Author).order_by("id").eager("posts.tags").find()
        loaded = {p.id: p for a in authors for p in a.posts}
        assert all(loaded[p.id] is p for p in some)
        assert loaded[some[1].id].title == ("edited" if edited else "a0-p1")
        assert any(t is tag for p in loaded.values() for t in p.tags)
        shot = _check_loaded(s, authors, mapped=True)
        shots.append((shot, [str(u) for u in s.changes().updates]))
    assert shots[0] == shots[1]


def test_edits_after_an_eager_load_are_tracked_alike_and_rollback_puts_them_back(
    dbs: tuple[Database, Database],
) -> None:
    """A move between loaded collections and a tag taken off: the same pending SQL on both
    paths; a rollback puts the collections back; the commit stores the same."""
    results = []
    for db in dbs:
        s = db.create_session()
        authors = s.query(Author).order_by("id").eager("posts.tags").find()
        before = _check_loaded(s, authors, links=False)
        post = authors[0].posts[1]
        authors[1].posts.append(post)
        tag = post.tags[0]
        post.tags.remove(tag)
        pending = s.pending_sql()
        assert pending
        s.rollback()
        assert _check_loaded(s, authors, mapped=True, links=False) == before
        authors[1].posts.append(post)
        post.tags.remove(tag)
        assert s.pending_sql() == pending
        s.commit()
        s2 = db.create_session()
        stored = s2.query(Author).order_by("id").eager("posts.tags").find()
        results.append((pending, _check_loaded(s2, stored)))
        # (back as seeded, for the other database's turn)
        post.tags.append(tag)
        authors[0].posts.append(post)
        s.commit()
    assert [str(p) for p in results[0][0]] == [str(p) for p in results[1][0]]
    assert results[0][1] == results[1][1]


def test_an_untracked_eager_load_gives_the_same_on_both_paths(
    dbs: tuple[Database, Database],
) -> None:
    """``database.query(...).eager(...)``: plain objects, collections alike on both paths."""
    shots = []
    for db in dbs:
        authors = db.query(Author).order_by("id").eager("posts.tags").find()
        shots.append(
            [
                (_values(a), [(_values(p), [_values(t) for t in p.tags]) for p in a.posts])
                for a in authors
            ]
        )
        assert all(p.author.id == a.id for a in authors for p in a.posts)
    assert shots[0] == shots[1]


@built
def test_the_eager_load_takes_the_accelerator_where_it_is_built(
    dbs: tuple[Database, Database], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fast database's eager load calls the C loops (counted through a proxy); the
    pure one's none."""
    fast, pure = dbs
    calls: list[str] = []

    class Counting:
        def __getattr__(self, name: str) -> Any:
            fn = getattr(_hydrate, name)

            def counted(*args: Any) -> Any:
                calls.append(name)
                return fn(*args)

            return counted

    for model in (Post, Tag):
        monkeypatch.setattr(fast.codec(model.__orm_entity__), "speedups", Counting())  # type: ignore[attr-defined]
    fast.create_session().query(Author).eager("posts.tags").find()
    assert {"pending", "group", "install", "items_of", "by_key", "link_groups"} <= set(calls)
    assert fast.codec(Post.__orm_entity__)._merge_c is not None  # type: ignore[attr-defined]
    calls.clear()
    pure.create_session().query(Author).eager("posts.tags").find()
    assert calls == []


# -- the C primitives -------------------------------------------------------------------------


class Item:
    """A plain object with a ``__dict__``."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)


def _py_group(groups: dict[Any, list[Any]], keys: list[Any], objs: list[Any]) -> None:
    from core.loaders import _group

    _group(groups, keys, objs)


@built
def test_group_and_link_groups_group_as_the_python_loops_do() -> None:
    keys = [3, 1, 3, 2, 1, 3]
    objs = [object() for _ in keys]
    a: dict[Any, list[Any]] = {1: [objs[0]]}
    b: dict[Any, list[Any]] = {1: [objs[0]]}
    _hydrate.group(a, keys, objs)
    _py_group(b, keys, objs)
    assert list(a) == list(b) and all(a[k] == b[k] for k in a)
    with pytest.raises(ValueError):
        _hydrate.group({}, [1, 2], [object()])
    rows = [(10, 1, "x"), (20, 2, "y"), (10, 2, "y"), (30, 1, "x")]
    by = _hydrate.by_key(rows, 1)
    assert by == dict(zip([r[1] for r in rows], rows, strict=True)) and list(by) == [1, 2]
    found = {1: "one", 2: "two"}
    groups: dict[Any, list[Any]] = {}
    _hydrate.link_groups(groups, rows, 0, 1, found)
    assert groups == {10: ["one", "two"], 20: ["two"], 30: ["one"]}
    with pytest.raises(KeyError):
        _hydrate.link_groups({}, [(1, 99)], 0, 1, found)
    with pytest.raises(IndexError):
        _hydrate.by_key([(1,)], 3)


@built
def test_pending_and_items_of_give_what_the_comprehensions_give() -> None:
    shared = Item(id=9)
    owners = [
        Item(id=1, posts=[shared]),  # loaded already: not pending
        Item(id=2),
        Item(id=None),  # no key
        Item(id=0),  # an unsaved autoincrement key
        Item(id=3),
    ]
    assert _hydrate.pending(owners, "posts", "id", True) == {2: owners[1], 3: owners[4]}
    assert _hydrate.pending(owners, "posts", "id", False) == {
        2: owners[1],
        0: owners[3],
        3: owners[4],
    }
    many = [Item(id=i) for i in range(300)]
    owners[1].posts = [many[5], shared, many[7]]
    owners[4].posts = [*many, many[5]]
    expected = {id(x): x for o in owners for x in o.__dict__.get("posts", ())}
    got = _hydrate.items_of(owners, "posts")
    assert len(got) == len(expected) and all(
        x is y for x, y in zip(got, expected.values(), strict=True)
    )
    with pytest.raises(TypeError):
        _hydrate.items_of([Item(posts=None)], "posts")


@built
def test_install_makes_the_collections_install_loaded_makes() -> None:
    from core.collection import install_loaded

    rel = Author.__orm_entity__.relation("posts")  # type: ignore[attr-defined]
    items = [Item(id=i) for i in range(6)]
    sides = []
    for speedups in (_hydrate, None):
        owners = {1: Item(id=1), 2: Item(id=2), 3: Item(id=3)}
        shared = [items[4]]
        groups = {1: [items[0], items[1]], 3: [items[2], items[3]], 4: shared}
        held = groups[3]  # (held elsewhere too: copied, not taken)
        install_loaded(rel, owners, groups, None, False, speedups)
        for o in owners.values():
            coll = o.__dict__["posts"]
            assert type(coll) is TrackedList and coll._owner is o
            assert coll._relation is rel and coll._linked is None
        assert held == [items[2], items[3]]
        sides.append({k: list(o.__dict__["posts"]) for k, o in owners.items()})
    assert sides[0] == sides[1] == {1: items[:2], 2: [], 3: items[2:4]}


@built
def test_the_c_eager_loops_leak_nothing() -> None:
    """Reference counts of the objects passed through every primitive are back where they
    were once the results are dropped (a leak moves them by the row count)."""
    rel = Author.__orm_entity__.relation("posts")  # type: ignore[attr-defined]
    objs = [Item(id=i) for i in range(200)]
    key = 123456789
    rows = [(key, i) for i in range(200)]
    gc.collect()
    before = [sys.getrefcount(o) for o in objs], sys.getrefcount(key), sys.getrefcount(rel)
    for _ in range(3):
        groups: dict[Any, list[Any]] = {}
        _hydrate.group(groups, [key] * 200, objs)
        owners = {key: Item(id=key)}
        _hydrate.install(TrackedList, rel, "posts", owners, groups)
        assert len(owners[key].posts) == 200
        assert _hydrate.items_of(list(owners.values()), "posts") == objs
        assert _hydrate.pending(objs, "posts", "id", True)
        found = {i: objs[i] for i in range(200)}
        _hydrate.link_groups({}, rows, 0, 1, found)
        _hydrate.by_key(rows, 1)
        del groups, owners, found
    gc.collect()
    after = [sys.getrefcount(o) for o in objs], sys.getrefcount(key), sys.getrefcount(rel)
    assert after == before
