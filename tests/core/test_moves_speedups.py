"""The C accelerator of relation moves (``core._moves``) does what the pure path does.

The same scripted edits (quick moves between loaded collections, a move back, a second move
of a moved child, a move then a retitle, a new child, a child already there, a move into an
owner whose collection is not loaded) run once through ``core._moves`` and once through the
pure path (``core.collection.use_speedups(None)``); the session's state after them (the
collections, references, change records, the moves' hints, the rollback log), the SQL a
commit would send, the stored rows after the commit and the collections after a rollback
must be equal. Also: ``QuickAppend`` as a class attribute, its refusals, no reference leaked
by a move, and ``ORMCLI_NO_SPEEDUPS``.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import weakref
from typing import Annotated, Any

import pytest

import core.collection
from core import (
    AutoIncrement,
    BackReference,
    Database,
    F,
    PrimaryKey,
    Reference,
    ValidationError,
    entity,
)
from core.collection import TrackedList
from core.relations import RelationInfo
from tests.conftest import StatementLog
from tests.core.move_paths import BUILT, move_path  # noqa: F401 (a fixture)

needs_c = pytest.mark.skipif(
    BUILT is None, reason="core._moves is not built here, or ORMCLI_NO_SPEEDUPS is set"
)


@entity.name("ms_rack")
class Rack:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    name: str = ""
    items: Annotated[list[Item], BackReference]


@entity.name("ms_item")
class Item:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    title: str = ""
    rack: Annotated[Rack, Reference]


def _seed(db_url: str) -> Database:
    """A database (its codecs made now: for the path in use) holding four racks and twelve
    items (the rows of an earlier run deleted first)."""
    db = Database(db_url, [Rack, Item])
    db.migrate()
    s = db.create_session()
    s.query(Item).delete_many()
    s.query(Rack).delete_many()
    s.commit()
    racks = [Rack(name=n) for n in ("a", "b", "c", "d")]
    s.add(*racks)
    s.add(*(Item(title=f"i{k}", rack=racks[k % 3]) for k in range(12)))
    s.commit()
    return db


def _script(db: Database, statements: StatementLog) -> dict[str, Any]:
    """The edits, and what the session holds after them, the commit's SQL, the stored rows
    after the commit, and (a second round, rolled back) the collections after rollback."""
    s = db.create_session()
    loaded = s.query(Rack).filter(F.name.in_(["a", "b", "c"])).eager("items").find()
    racks = {r.name: r for r in loaded}
    items = {i.title: i for r in racks.values() for i in r.items}
    a, b, c = racks["a"], racks["b"], racks["c"]
    b.items.append(items["i0"])  # quick moves
    c.items.append(items["i3"])
    a.items.append(items["i1"])
    a.items.append(items["i0"])  # moved back
    c.items.append(items["i1"])  # moved again
    b.items.append(items["i2"])  # moved, then retitled
    items["i2"].title = "i2x"
    b.items.append(items["i4"])  # already there: nothing
    a.items.append(Item(title="new"))  # a new child
    (d,) = s.query(Rack).filter(name="d").find()
    a.items.append(items["i5"])
    d.items.append(items["i5"])  # into an owner whose collection was not loaded (loads it)

    def view() -> dict[str, Any]:
        return {
            "collections": {r.name: [i.title for i in r.items] for r in (*racks.values(), d)},
            "references": {t: i.rack.name for t, i in items.items()},
        }

    state = view()
    state["changes"] = sorted(
        (u.obj.title, sorted((f, _name(o), _name(n)) for f, (o, n) in u.changes.items()))
        for u in s.changes().updates
    )
    state["hints"] = [i.title for i in s._moved]
    state["log"] = [
        (getattr(coll._owner, "name", None), [i.title for i in old] if old is not None else None)
        for coll, old, _links in s._coll_log
    ]
    state["pending"] = [(st.sql, st.rows) for st in s.pending_sql()]
    statements.clear()
    s.commit()
    state["sent"] = statements.dml()
    state["stored"] = sorted((i.title, i.rack.name) for i in db.query(Item).find())
    state["after commit"] = view()
    for target, title in (("c", "i0"), ("a", "i3"), ("b", "i1")):
        racks[target].items.append(items[title])
    s.rollback()
    state["after rollback"] = view()
    return state


def _name(v: Any) -> Any:
    return v.name if isinstance(v, Rack) else v


@needs_c
def test_the_c_and_the_pure_path_leave_the_same_state(
    db_url: str, statements: StatementLog
) -> None:
    """The script through ``core._moves`` and through Python: equal in every respect (the
    statements by their text and rows; the keys differ between the two runs' rows)."""
    assert core.collection.MOVES is BUILT
    with_c = _script(_seed(db_url), statements)
    core.collection.use_speedups(None)
    try:
        assert type(TrackedList.__dict__["append"]).__name__ == "function"
        pure = _script(_seed(db_url), statements)
    finally:
        core.collection.use_speedups(BUILT)
    assert with_c == pure
    assert with_c["hints"] == ["i0", "i3", "i1", "i2x", "i5"]


@needs_c
def test_quick_append_is_the_class_attribute_and_refuses_what_it_cannot_read() -> None:
    """``TrackedList.append`` is the C descriptor (``__wrapped__``: the pure method); read
    from the class it is itself, from a collection a bound method; it is made of the member
    descriptors of ``TrackedList._owner``/``_relation`` and ``RelationInfo.quick`` only."""
    assert BUILT is not None
    append = TrackedList.__dict__["append"]
    assert type(append) is BUILT.QuickAppend
    assert TrackedList.append is append
    assert append.__wrapped__ is core.collection._pure_append
    slots = TrackedList.__dict__
    quick = RelationInfo.__dict__["quick"]
    args = (core.collection._pure_append, {}, "_orm_session")
    logged = slots["_logged"]
    with pytest.raises(TypeError, match="member descriptor"):
        BUILT.QuickAppend(*args, property(), slots["_relation"], quick, logged)
    with pytest.raises(TypeError, match="one class"):
        BUILT.QuickAppend(*args, slots["_owner"], quick, quick, logged)
    with pytest.raises(TypeError, match="list subclass"):
        BUILT.QuickAppend(*args, quick, quick, quick, quick)
    with pytest.raises(TypeError, match="not initialised"):
        BUILT.QuickAppend.__new__(BUILT.QuickAppend)(TrackedList(), 1)


@needs_c
def test_odd_calls_go_to_the_pure_method(db_url: str) -> None:
    """Anything but ``coll.append(item)`` on a loaded collection's quick move is the pure
    method's: a wrong count of arguments, an item of another class, a keyword argument."""
    s = _seed(db_url).create_session()
    racks = {r.name: r for r in s.query(Rack).eager("items").find()}
    with pytest.raises(TypeError):
        racks["a"].items.append()
    with pytest.raises(ValidationError, match="holds Item objects"):
        racks["a"].items.append(racks["b"])
    assert not s.is_dirty
    item = racks["b"].items[0]
    racks["a"].items.append(item=item)  # (by keyword: the pure method's move)
    assert item.rack is racks["a"] and item not in racks["b"].items
    assert s._moved == [item]


@needs_c
def test_a_move_leaks_no_reference(db_url: str) -> None:
    """Moves back and forth, committed and rolled back, 200 times: the reference counts of
    the moved item, its owners and their collections are where they started."""
    s = _seed(db_url).create_session()
    racks = {r.name: r for r in s.query(Rack).eager("items").find()}
    a, b = racks["a"], racks["b"]
    item = a.items[0]
    a_items, b_items = a.items, b.items

    def counts() -> list[int]:
        gc.collect()
        return [sys.getrefcount(x) for x in (item, a, b, a_items, b_items)]

    b_items.append(item)
    s.rollback()
    before = counts()
    for n in range(200):
        b_items.append(item)
        a_items.append(item)
        b_items.append(item)
        if n % 2:
            s.commit()
            a_items.append(item)
            s.commit()
        else:
            s.rollback()
    assert item.rack is a and item in a_items
    assert counts() == before


def test_no_speedups_in_the_environment_means_the_pure_append() -> None:
    """``ORMCLI_NO_SPEEDUPS=1`` at import: ``TrackedList.append`` is the Python method."""
    code = (
        "import core.collection as c; "
        "print(c.MOVES is None, type(c.TrackedList.__dict__['append']).__name__)"
    )
    env = {**os.environ, "ORMCLI_NO_SPEEDUPS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["True", "function"]


@pytest.mark.usefixtures("move_path")
def test_a_move_survives_its_session_collected_while_it_runs(db_url: str) -> None:
    """A session no longer referenced but from a reference cycle may be collected by the
    cyclic collector that an allocation of the move runs (threshold 1, free lists emptied:
    it is, during the call): the move completes on what it holds. (A build that did not hold
    the session's containers read freed memory here without crashing: this checks the
    outcome, not the references.)"""
    db = _seed(db_url)
    s = db.create_session()
    racks = {r.name: r for r in s.query(Rack).eager("items").find()}
    a, b = racks["a"], racks["b"]
    item = a.items[0]
    gone = weakref.ref(s)
    cycle: list[Any] = [s]
    cycle.append(cycle)  # (garbage the cyclic collector frees, the session with it)
    del s, cycle
    assert gone() is not None
    # (New dicts, lists and tuples come from free lists, which make no collection: emptied.)
    hold = [({}, [], (n,)) for n in range(500)]
    before = gc.get_threshold()
    gc.set_threshold(1)
    try:
        b.items.append(item)
    finally:
        gc.set_threshold(*before)
    del hold
    gc.collect()
    assert gone() is None
    assert item.rack is b and item in b.items and item not in a.items
