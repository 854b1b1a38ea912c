"""Optimistic locking: a ``Version`` field guards every UPDATE and DELETE of its entity."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

import pytest

from core import AutoIncrement, ConflictError, Database, PrimaryKey, Version, entity
from tests.conftest import StatementLog


@entity.name("doc")
class Doc:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    title: str = ""
    version: Annotated[int, Version] = 1


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url, [Doc])
    database.migrate()
    s = database.create_session()
    s.add(Doc(title="a"), Doc(title="b"), Doc(title="c"))
    s.commit()
    yield database
    database.close()


def _stored(db: Database) -> list[tuple[str, int]]:
    return [(d.title, d.version) for d in db.query(Doc).order_by("id").find()]


def test_updates_say_and_version_and_increment_it(db: Database, statements: StatementLog) -> None:
    s = db.create_session()
    docs = s.query(Doc).order_by("id").find()
    docs[0].title = "a2"
    docs[1].title = "b2"
    statements.clear()
    s.commit()
    updates = [q for q in statements.dml() if q.upper().startswith("UPDATE")]
    assert len(updates) == 1 and "version" in updates[0].split("WHERE")[1]
    assert [d.version for d in docs] == [2, 2, 1]
    assert _stored(db) == [("a2", 2), ("b2", 2), ("c", 1)]


def test_a_row_changed_elsewhere_fails_the_whole_commit_naming_entity_and_key(
    db: Database,
) -> None:
    """Nothing is written, the staged work is kept; refresh, re-apply, commit again."""
    mine = db.create_session()
    docs = mine.query(Doc).order_by("id").find()
    theirs = db.create_session()
    theirs.get(Doc, docs[1].id).title = "theirs"
    theirs.commit()
    docs[0].title = "mine-a"
    docs[1].title = "mine-b"
    with pytest.raises(ConflictError) as exc:
        mine.commit()
    assert str(exc.value) == (
        f"cannot update Doc {docs[1].id}: it was changed or removed by someone else since "
        "it was loaded (version 1); refresh it (session.refresh) and commit again"
    )
    assert _stored(db) == [("a", 1), ("theirs", 2), ("c", 1)]
    assert mine.counts() == (0, 2, 0) and docs[0].version == 1
    mine.refresh(docs[1])
    assert (docs[1].title, docs[1].version) == ("theirs", 2)
    docs[1].title = "mine-b"
    mine.commit()
    assert _stored(db) == [("mine-a", 2), ("mine-b", 3), ("c", 1)]


def test_a_removal_of_a_row_changed_elsewhere_fails(db: Database) -> None:
    mine = db.create_session()
    doc = mine.query(Doc).filter(title="c").find_one()
    theirs = db.create_session()
    theirs.get(Doc, doc.id).title = "c2"
    theirs.commit()
    mine.remove(doc)
    with pytest.raises(ConflictError, match=f"cannot remove Doc {doc.id}: it was changed"):
        mine.commit()
    assert mine.state_of(doc) == "removed" and db.query(Doc).count() == 3
    mine.refresh(doc)
    mine.remove(doc)
    mine.commit()
    assert db.query(Doc).count() == 2


def test_rollback_after_flush_puts_the_version_back(db: Database) -> None:
    s = db.create_session()
    doc = s.query(Doc).filter(title="a").find_one()
    doc.title = "x"
    s.flush()
    assert doc.version == 2
    s.rollback()
    assert (doc.title, doc.version) == ("a", 1)
    doc.title = "y"
    s.commit()
    assert _stored(db)[0] == ("y", 2)
