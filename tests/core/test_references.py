"""References: insert order, delete order, cycles, lazy and eager loading."""

from __future__ import annotations

import pytest

from core import Database, F
from tests.conftest import StatementLog
from tests.core.models import ALL, Article, Author, Node


@pytest.fixture
def db(db_url: str) -> Database:
    database = Database(db_url, ALL)
    database.migrate()
    return database


def test_new_parent_and_child_commit_together(db: Database, statements: StatementLog) -> None:
    """The child's foreign key gets the parent's new id; the parent is inserted first."""
    s = db.create_session()
    author = Author(email="p@x", name="p")
    art = Article(title="t", author=author)
    s.add(art)  # the new author is added with it
    s.commit()
    inserts = [x for x in statements.dml() if x.startswith("INSERT")]
    assert [x.split()[2] for x in inserts] == [
        db.dialect.quote("author"),
        db.dialect.quote("article"),
    ]
    assert author.id > 0 and art.id > 0
    fresh = db.query(Article).find_one()
    assert fresh.author.id == author.id


def test_self_reference_chain_is_ordered(db: Database) -> None:
    s = db.create_session()
    root = Node(label="root")
    mid = Node(label="mid", parent=root)
    leaf = Node(label="leaf", parent=mid)
    s.add(leaf, mid, root)
    s.commit()
    assert leaf.parent is mid and mid.parent is root
    s2 = db.create_session()
    loaded_leaf = s2.query(Node).filter(label="leaf").find_one()
    assert loaded_leaf.parent.parent.label == "root"


def test_delete_order_is_children_first(db: Database, statements: StatementLog) -> None:
    s = db.create_session()
    author = Author(email="d@x", name="d")
    s.add(Article(title="a", author=author), Article(title="b", author=author))
    s.commit()
    s2 = db.create_session()
    arts = s2.query(Article).find()
    s2.remove(s2.query(Author).find_one(), *arts)
    statements.clear()
    s2.commit()
    deletes = [x for x in statements.dml() if x.startswith("DELETE")]
    assert [x.split()[2] for x in deletes] == [
        db.dialect.quote("article"),
        db.dialect.quote("author"),
    ]
    assert db.query(Author).count() == 0


def test_cycle_among_new_objects_through_a_nullable_reference_is_broken(
    db: Database, statements: StatementLog
) -> None:
    """Two new nodes that are each other's parent: inserted with NULL (in add order), then
    one UPDATE sets both parents (a post-update); memory and database agree."""
    s = db.create_session()
    a = Node(label="a")
    b = Node(label="b", parent=a)
    a.parent = b
    s.add(a, b)
    statements.clear()
    s.commit()
    dml = statements.dml()
    assert [x.split()[0] for x in dml] == ["INSERT", "UPDATE"]
    assert a.id < b.id
    rows = {n.label: n.parent.label for n in db.query(Node).find()}  # type: ignore[union-attr]
    assert rows == {"a": "b", "b": "a"}


def test_loaded_reference_is_the_identity_mapped_object(db: Database) -> None:
    """Lazy loading resolves to the same object the session already holds."""
    s = db.create_session()
    author = Author(email="l@x", name="l")
    s.add(Article(title="1", author=author), Article(title="2", author=author))
    s.commit()
    s2 = db.create_session()
    a1, a2 = s2.query(Article).order_by("title").find()
    assert a1.author is a2.author
    assert a1.author is s2.query(Author).find_one()


def test_eager_loads_references_in_one_query(db: Database, statements: StatementLog) -> None:
    s = db.create_session()
    for i in range(5):
        s.add(Article(title=str(i), author=Author(email=f"e{i}@x", name=str(i))))
    s.commit()
    s2 = db.create_session()
    statements.clear()
    arts = s2.query(Article).eager("author").find()
    assert len(statements.sql) == 2
    assert sorted(a.author.name for a in arts) == ["0", "1", "2", "3", "4"]
    assert len(statements.sql) == 2


def test_reference_can_be_reassigned_and_filtered(db: Database) -> None:
    s = db.create_session()
    x, y = Author(email="x@x", name="x"), Author(email="y@x", name="y")
    art = Article(title="t", author=x)
    s.add(art, y)
    s.commit()
    art.author = y
    assert s.changes().updates[0].changes == {"author": (x, y)}
    s.commit()
    assert db.query(Article).filter(F.author == y).count() == 1
    assert db.query(Article).filter(author=x).count() == 0
