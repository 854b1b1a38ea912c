"""What the session visits to answer ``changes()``, ``counts()``, ``is_dirty`` and ``get()``.

The speed itself is measured by ``bench/`` (S7j, S12); these tests pin the behaviour the fast
paths must keep: JSON fields are watched from their first read (not snapshotted at load), the
counts agree with the full change set, and ``get`` reuses one SELECT per entity.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core import Database, ValidationError
from tests.conftest import StatementLog
from tests.core.models import ALL, Article, Author, Node


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url, ALL)
    database.migrate()
    yield database
    database.close()


def _articles(db: Database, n: int) -> None:
    s = db.create_session()
    author = Author(email="w@x", name="w")
    s.add(*[Article(title=f"t{i}", author=author, tags=[str(i)], meta={"i": i}) for i in range(n)])
    s.commit()


def test_a_load_of_json_entities_records_nothing_until_a_json_field_is_read(
    db: Database,
) -> None:
    """Loading and reading scalar fields leave the session with nothing to compare; reading
    a JSON list marks just that object, and an unchanged one is no change."""
    _articles(db, 50)
    s = db.create_session()
    arts = s.query(Article).order_by("id").find()
    assert [a.title for a in arts][:2] == ["t0", "t1"]
    assert s._changed == {} and s.changes().empty
    assert arts[3].tags == ["3"]
    assert list(s._changed) == [id(arts[3])]
    assert s.changes().empty and not s.is_dirty and s.counts() == (0, 0, 0)


def test_in_place_edits_after_a_read_are_seen_rolled_back_and_committed(db: Database) -> None:
    """An edit of a nested value through a reference kept from an earlier read is seen; a
    rollback puts the value read back; after a commit the next edit is seen again."""
    _articles(db, 3)
    s = db.create_session()
    art = s.query(Article).order_by("id").find()[1]
    meta = art.meta
    meta["nested"] = {"list": [1]}
    assert s.changes().updates[0].changes == {"meta": ({"i": 1}, {"i": 1, "nested": {"list": [1]}})}
    s.rollback()
    assert art.meta == {"i": 1} and s.changes().empty
    art.meta["nested"] = {"list": [1]}
    s.commit()
    art.meta["nested"]["list"].append(2)
    assert s.counts() == (0, 1, 0) and s.is_dirty
    s.commit()
    fresh = db.query(Article).order_by("id").find()[1]
    assert fresh.meta == {"i": 1, "nested": {"list": [1, 2]}}


def test_an_added_object_is_watched_once_committed(db: Database) -> None:
    """A new object's JSON is inserted as it is at commit; after that an in-place edit of
    the now persistent object is an update."""
    s = db.create_session()
    art = Article(title="n", author=Author(email="n@x", name="n"), tags=["a"])
    s.add(art)
    art.tags.append("b")
    assert s.counts() == (2, 0, 0)
    s.commit()
    art.tags.append("c")
    assert [u.changes for u in s.changes().updates] == [{"tags": (["a", "b"], ["a", "b", "c"])}]


def test_counts_and_is_dirty_agree_with_the_change_set(db: Database) -> None:
    """Assignments back to the old value count as no change; adds and removals count at once."""
    s = db.create_session()
    s.add(*[Author(email=f"c{i}@x", name=f"c{i}") for i in range(4)])
    s.commit()
    a, b, c, d = s.query(Author).order_by("id").find()
    a.name = "changed"
    b.name = "other"
    b.name = "c1"
    assert s.counts() == s.changes().counts() == (0, 1, 0) and s.is_dirty
    a.name = "c0"
    assert s.counts() == (0, 0, 0) and not s.is_dirty
    s.remove(c)
    s.add(Author(email="new@x", name="new"))
    d.age = 40
    assert s.counts() == s.changes().counts() == (1, 1, 1) and s.is_dirty


def test_get_sends_one_select_per_key_not_in_the_map(
    db: Database, statements: StatementLog
) -> None:
    """The first get of a key loads it with one SELECT; asking again answers from the
    identity map; a key of the wrong type is refused naming the field, every time."""
    s0 = db.create_session()
    authors = [Author(email=f"g{i}@x", name=f"g{i}") for i in range(3)]
    s0.add(*authors)
    s0.commit()
    s = db.create_session()
    statements.clear()
    first = s.get(Author, authors[0].id)
    second = s.get(Author, authors[1].id)
    assert s.get(Author, authors[0].id) is first and s.get(Author, 10_000) is None
    selects = [x for x in statements.sql if x.startswith("SELECT")]
    assert len(selects) == 3 and len(set(selects)) == 1
    assert (first.name, second.name) == ("g0", "g1")
    for _ in range(2):
        with pytest.raises(ValidationError, match="Author"):
            s.get(Author, "not a key")


def test_rows_referring_to_one_unloaded_object_resolve_to_the_one_mapped_object(
    db: Database, statements: StatementLog
) -> None:
    """A load of many rows that refer to few objects not in the session keeps one placeholder
    per key: each resolves, on first access, to the identity-mapped object, with one SELECT
    per object; a reference to the loaded entity itself (a tree) finds rows of the same load."""
    s0 = db.create_session()
    authors = [Author(email=f"r{i}@x", name=f"r{i}") for i in range(2)]
    s0.add(*[Article(title=f"t{i}", author=authors[i % 2]) for i in range(6)])
    root = Node(label="root")
    s0.add(root, *[Node(label=f"n{i}", parent=root) for i in range(3)])
    s0.commit()
    s = db.create_session()
    arts = s.query(Article).order_by("id").find()
    statements.clear()
    assert arts[0].author is arts[2].author is arts[4].author is s.get(Author, authors[0].id)
    assert arts[1].author is arts[5].author and arts[1].author is not arts[0].author
    assert len([x for x in statements.sql if x.startswith("SELECT")]) == 2
    nodes = s.query(Node).order_by("id").find()
    statements.clear()
    assert all(n.parent is nodes[0] for n in nodes[1:]) and statements.sql == []
