"""Relation moves at commit (bench S9's path), on every backend.

A child moved to another loaded owner through a collection (``owner.items.append(child)``)
is written by the commit's own pass for such moves (``EntityCodec.collect_moves``: no
generic diff, its UPDATE's rows made in the same pass). These tests hold that pass to what
the generic one did: a later field change of a moved child is one UPDATE of both columns, a
child moved back sends nothing, moves by reference and by collection share one batched
UPDATE, a failed commit leaves every move staged and both collections as they were. Every
test runs on both paths of the move (``core._moves`` in C, and Python: ``move_path``).
"""

from __future__ import annotations

from typing import Annotated, Any

import pytest

from core import (
    AutoIncrement,
    BackReference,
    Database,
    IntegrityError,
    PrimaryKey,
    Reference,
    entity,
)
from tests.conftest import StatementLog
from tests.core.move_paths import move_path  # noqa: F401 (the fixture, used below)

#: Every test here once through ``core._moves`` and once through the pure path.
pytestmark = pytest.mark.usefixtures("move_path")


@entity.name("mv_shelf")
class Shelf:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    name: str = ""
    books: Annotated[list[Book], BackReference]


@entity.name("mv_book")
class Book:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    title: str = ""
    shelf: Annotated[Shelf, Reference]


@pytest.fixture
def db(db_url: str) -> Database:
    database = Database(db_url, [Shelf, Book])
    database.migrate()
    s = database.create_session()
    top, low, spare = Shelf(name="top"), Shelf(name="low"), Shelf(name="spare")
    s.add(top, low, spare)
    s.add(*(Book(title=f"b{i}", shelf=top) for i in range(1, 5)))
    s.commit()
    return database


def _load(db: Database) -> tuple[Any, dict[str, Shelf], dict[str, Book]]:
    s = db.create_session()
    shelves = {sh.name: sh for sh in s.query(Shelf).eager("books").find()}
    books = {b.title: b for sh in shelves.values() for b in sh.books}
    return s, shelves, books


def _stored(db: Database) -> dict[str, str]:
    return {b.title: b.shelf.name for b in db.query(Book).find()}


def _dml(statements: StatementLog) -> list[str]:
    return [sql for sql in statements.sql if sql.split()[0] in ("INSERT", "UPDATE", "DELETE")]


def test_a_field_change_after_a_move_is_one_update_of_both_columns(
    db: Database, statements: StatementLog
) -> None:
    """Moved by ``append`` and then retitled: ``changes()`` shows both, and the commit sends
    one UPDATE setting both columns (the move's own pass leaves it to the generic diff)."""
    s, shelves, books = _load(db)
    shelves["low"].books.append(books["b1"])
    books["b1"].title = "b1x"
    (update,) = s.changes().updates
    assert set(update.changes) == {"shelf", "title"}
    s.commit()
    (sql,) = _dml(statements)
    assert sql.startswith("UPDATE") and '"shelf"' in sql.replace("`", '"')
    assert '"title"' in sql.replace("`", '"')
    assert _stored(db)["b1x"] == "low"


def test_a_child_moved_back_to_its_owner_sends_nothing(
    db: Database, statements: StatementLog
) -> None:
    s, shelves, books = _load(db)
    shelves["low"].books.append(books["b1"])
    shelves["top"].books.append(books["b1"])
    s.commit()
    assert _dml(statements) == []
    assert [b.title for b in shelves["top"].books] == ["b2", "b3", "b4", "b1"]
    assert _stored(db)["b1"] == "top"


def test_moves_by_collection_and_by_reference_share_one_batched_update(
    db: Database, statements: StatementLog
) -> None:
    """Two moves by ``append`` (the move's own pass) and one by assigning the reference (the
    generic diff) change the same column: one group, one statement, three rows."""
    s, shelves, books = _load(db)
    shelves["low"].books.append(books["b1"])
    books["b2"].shelf = shelves["low"]
    shelves["spare"].books.append(books["b3"])
    s.commit()
    (sql,) = _dml(statements)
    assert sql.startswith("UPDATE")
    assert _stored(db) == {"b1": "low", "b2": "low", "b3": "spare", "b4": "top"}
    assert [b.title for b in shelves["low"].books] == ["b1", "b2"]


def test_a_failed_commit_after_moves_changes_nothing_and_keeps_them_staged(
    db: Database,
) -> None:
    """The moves' UPDATE is sent, then a DELETE fails (another session put a book on the
    shelf being removed): nothing is stored, the collections and references are as before
    the commit, ``changes()`` is the same; with the removal unstaged the commit writes the
    moves."""
    s, shelves, books = _load(db)
    other = db.create_session()
    other.add(Book(title="late", shelf=other.query(Shelf).filter(name="spare").find_one()))
    other.commit()
    shelves["low"].books.append(books["b1"])
    shelves["low"].books.append(books["b2"])
    s.remove(shelves["spare"])
    before = [(u.obj, u.changes) for u in s.changes().updates]
    with pytest.raises(IntegrityError):
        s.commit()
    assert [(u.obj, u.changes) for u in s.changes().updates] == before
    assert [b.title for b in shelves["low"].books] == ["b1", "b2"]
    assert [b.title for b in shelves["top"].books] == ["b3", "b4"]
    assert books["b1"].shelf is shelves["low"]
    assert _stored(db) == {"b1": "top", "b2": "top", "b3": "top", "b4": "top", "late": "spare"}
    s.unstage(shelves["spare"])
    s.commit()
    assert _stored(db) == {"b1": "low", "b2": "low", "b3": "top", "b4": "top", "late": "spare"}


def test_rollback_after_moves_puts_references_and_both_collections_back(db: Database) -> None:
    s, shelves, books = _load(db)
    for title in ("b1", "b3"):
        shelves["low"].books.append(books[title])
    shelves["spare"].books.append(books["b1"])
    s.rollback()
    assert [b.title for b in shelves["top"].books] == ["b1", "b2", "b3", "b4"]
    assert shelves["low"].books == [] and shelves["spare"].books == []
    assert all(b.shelf is shelves["top"] for b in books.values())
    assert not s.is_dirty
    shelves["low"].books.append(books["b4"])
    s.commit()
    assert _stored(db) == {"b1": "top", "b2": "top", "b3": "top", "b4": "low"}


def test_assigning_a_collection_replaces_its_items(db: Database) -> None:
    """A collection attribute is assigned through the entity's ``__setattr__`` hook (its
    class attribute has no ``__set__``): the collection then holds exactly those items."""
    s, shelves, books = _load(db)
    shelves["low"].books = [books["b1"], books["b2"]]
    assert [b.title for b in shelves["low"].books] == ["b1", "b2"]
    assert [b.title for b in shelves["top"].books] == ["b3", "b4"]
    assert books["b1"].shelf is shelves["low"]
    s.commit()
    assert _stored(db) == {"b1": "low", "b2": "low", "b3": "top", "b4": "top"}


@entity.name("mv_box")
class Box:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    name: str = ""
    toys: Annotated[set[Toy], BackReference]


@entity.name("mv_toy")
class Toy:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    label: str = ""
    box: Annotated[Box, Reference]


def test_a_move_between_loaded_set_collections_is_stored_and_rolled_back(db_url: str) -> None:
    """``other.toys.add(toy)`` between loaded set collections (the set's quick move): the
    toy leaves its old box's set, its reference follows, the commit stores it; a second move
    rolled back puts both sets and the reference back."""
    db = Database(db_url, [Box, Toy])
    db.migrate()
    s = db.create_session()
    red, blue = Box(name="red"), Box(name="blue")
    s.add(red, blue, *(Toy(label=f"t{i}", box=red) for i in range(3)))
    s.commit()
    s = db.create_session()
    boxes = {b.name: b for b in s.query(Box).eager("toys").find()}
    toy = next(t for t in boxes["red"].toys if t.label == "t0")
    boxes["blue"].toys.add(toy)
    assert toy.box is boxes["blue"] and toy not in boxes["red"].toys
    assert s.changes().updates[0].changes["box"][1] is boxes["blue"]
    s.commit()
    stored = {t.label: t.box.name for t in db.query(Toy).find()}
    assert stored == {"t0": "blue", "t1": "red", "t2": "red"}
    other = next(t for t in boxes["red"].toys if t.label == "t1")
    boxes["blue"].toys.add(other)
    s.rollback()
    assert other.box is boxes["red"] and other in boxes["red"].toys
    assert {t.label for t in boxes["blue"].toys} == {"t0"}
    db.close()


def test_each_commit_and_savepoint_logs_the_collections_again(db: Database) -> None:
    """The rollback log holds each collection once per commit or savepoint (its log epoch):
    moved, committed, moved again and rolled back, the collections are as committed; moved,
    then moved again in a savepoint left by an exception, they are as before the savepoint."""
    s, shelves, books = _load(db)
    top, low, spare = shelves["top"], shelves["low"], shelves["spare"]
    low.books.append(books["b1"])
    s.commit()
    spare.books.append(books["b1"])
    low.books.append(books["b2"])
    s.rollback()
    assert [b.title for b in low.books] == ["b1"] and spare.books == []
    assert [b.title for b in top.books] == ["b2", "b3", "b4"]
    spare.books.append(books["b3"])
    with pytest.raises(RuntimeError), s.savepoint():
        low.books.append(books["b3"])
        spare.books.append(books["b4"])
        raise RuntimeError("undo the block")
    assert [b.title for b in spare.books] == ["b3"] and [b.title for b in low.books] == ["b1"]
    assert [b.title for b in top.books] == ["b2", "b4"]
    assert books["b3"].shelf is spare and books["b4"].shelf is top
    s.rollback()
    assert [b.title for b in top.books] == ["b2", "b3", "b4"] and spare.books == []
    s.commit()
    assert _stored(db) == {"b1": "low", "b2": "top", "b3": "top", "b4": "top"}
