"""Objects of stored rows that a session does not track, reached by cascade, on every backend.

An object loaded untracked (``database.query``) or left by a closed or collected session
stands for its row: assigned to a reference, put in a collection, or referenced by a new
object, it is a reference to that row (the session's own object for it, or itself attached),
never inserted again. A new object is still staged and inserted with what refers to it.
"""

from __future__ import annotations

import gc
import uuid

import pytest

from core import Database, SessionError
from tests.conftest import StatementLog
from tests.core.relation_models import ALL, Author, City, Country, Post, PostTag, Tag


@pytest.fixture
def db(db_url: str) -> Database:
    database = Database(db_url, ALL)
    database.migrate()
    s = database.create_session()
    ann, bob = Author(name="Ann"), Author(name="Bob")
    s.add(ann, bob, Post(title="p1", author=ann), Post(title="p2", author=ann), Tag(name="db"))
    s.add(Country(code="FR", name="France"))
    s.commit()
    return database


def _verbs(statements: StatementLog) -> list[str]:
    return [" ".join(sql.split()[:3]) for sql in statements.dml()]


def _owners(db: Database) -> dict[str, str | None]:
    return {p.title: p.author.name if p.author else None for p in db.query(Post).find()}


def test_an_untracked_object_assigned_as_a_reference_is_attached_not_inserted(
    db: Database, statements: StatementLog
) -> None:
    s = db.create_session()
    p1 = s.query(Post).filter(title="p1").find_one()
    bob = db.query(Author).filter(name="Bob").find_one()
    p1.author = bob
    assert p1.author is bob and s.state_of(bob) == "persistent"
    assert s.changes().counts() == (0, 1, 0)
    statements.clear()
    s.commit()
    assert [v.split()[0] for v in _verbs(statements)] == ["UPDATE"]
    assert _owners(db) == {"p1": "Bob", "p2": "Ann"} and db.query(Author).count() == 2
    assert s.get(Author, bob.id) is bob and bob.posts == [p1]


def test_an_object_of_a_closed_session_assigned_as_a_reference_is_not_inserted(
    db: Database,
) -> None:
    with db.transaction() as first:
        bob = first.query(Author).filter(name="Bob").find_one()
    s = db.create_session()
    p2 = s.query(Post).filter(title="p2").find_one()
    p2.author = bob
    assert s.state_of(bob) == "persistent"
    s.commit()
    assert _owners(db) == {"p1": "Ann", "p2": "Bob"} and db.query(Author).count() == 2


def test_an_object_of_a_collected_session_is_not_inserted_but_its_staged_new_one_is(
    db: Database,
) -> None:
    """The loaded Bob of a session that was garbage collected stands for his row; a new
    author that session had only staged stands for none and is inserted."""
    first = db.create_session()
    bob = first.query(Author).filter(name="Bob").find_one()
    carol = Author(name="Carol")
    first.add(carol)
    del first
    gc.collect()
    s = db.create_session()
    p1, p2 = s.query(Post).order_by("id").find()
    p1.author = bob
    p2.author = carol
    assert s.state_of(bob) == "persistent" and s.state_of(carol) == "new"
    s.commit()
    assert _owners(db) == {"p1": "Bob", "p2": "Carol"} and db.query(Author).count() == 3


def test_a_new_object_referring_to_an_untracked_one_inserts_only_itself(
    db: Database, statements: StatementLog
) -> None:
    bob = db.query(Author).filter(name="Bob").find_one()
    france = db.query(Country).find_one()
    s = db.create_session()
    post = Post(title="p3", author=bob)
    paris = City(id=uuid.uuid4(), name="Paris", country=france)
    s.add(post, paris)
    assert s.state_of(bob) == "persistent" and s.state_of(france) == "persistent"
    statements.clear()
    s.commit()
    inserted = [v for v in _verbs(statements) if v.startswith("INSERT")]
    assert len(inserted) == 2 and all("author" not in v and "country" not in v for v in inserted)
    assert _owners(db)["p3"] == "Bob" and db.query(Country).count() == 1
    assert db.query(City).find_one().country.code == "FR"


def test_the_object_the_session_already_maps_for_the_row_is_used(db: Database) -> None:
    """Merge by key: with Bob loaded in the session, an untracked Bob assigned is replaced by
    the session's Bob (the untracked one stays untracked and unchanged)."""
    s = db.create_session()
    mine = s.query(Author).filter(name="Bob").find_one()
    assert mine.posts == []
    other = db.query(Author).filter(name="Bob").find_one()
    p1 = s.query(Post).filter(title="p1").find_one()
    p1.author = other
    assert p1.author is mine and mine.posts == [p1] and s.state_of(other) == "detached"
    s.commit()
    assert _owners(db)["p1"] == "Bob"


def test_an_untracked_child_appended_to_a_collection_is_moved_not_inserted(
    db: Database, statements: StatementLog
) -> None:
    s = db.create_session()
    bob = s.query(Author).filter(name="Bob").find_one()
    p1 = db.query(Post).filter(title="p1").find_one()
    bob.posts.append(p1)
    assert bob.posts == [p1] and p1.author is bob and s.state_of(p1) == "persistent"
    statements.clear()
    s.commit()
    assert [v.split()[0] for v in _verbs(statements)] == ["UPDATE"]
    assert _owners(db) == {"p1": "Bob", "p2": "Ann"} and db.query(Post).count() == 2


def test_an_untracked_tag_appended_to_a_many_to_many_collection_inserts_only_the_link(
    db: Database, statements: StatementLog
) -> None:
    s = db.create_session()
    p2 = s.query(Post).filter(title="p2").find_one()
    tag = db.query(Tag).find_one()
    p2.tags.append(tag)
    assert s.state_of(tag) == "persistent"
    statements.clear()
    s.commit()
    assert [v.split()[0] for v in _verbs(statements)] == ["INSERT"]
    assert db.query(Tag).count() == 1
    assert [(x.post.title, x.tag.name) for x in db.query(PostTag).find()] == [("p2", "db")]


def test_a_new_owner_made_with_stored_children_takes_them(db: Database) -> None:
    p1 = db.query(Post).filter(title="p1").find_one()
    s = db.create_session()
    carol = Author(name="Carol", posts=[p1])
    s.add(carol)
    assert s.state_of(p1) == "persistent" and carol.posts == [p1]
    s.commit()
    assert _owners(db) == {"p1": "Carol", "p2": "Ann"} and db.query(Post).count() == 2


def test_a_rollback_puts_an_attached_childs_stored_reference_back(db: Database) -> None:
    """p1 joined the new Carol while it belonged to no session: the session reads the author
    its row holds, so a rollback gives p1 back to Ann, as the database has it."""
    p1 = db.query(Post).filter(title="p1").find_one()
    s = db.create_session()
    s.add(Author(name="Carol", posts=[p1]))
    s.rollback()
    assert s.state_of(p1) == "persistent" and p1.author.name == "Ann"
    assert [p.title for p in p1.author.posts] == ["p1", "p2"]
    assert s.changes().counts() == (0, 0, 0) and _owners(db)["p1"] == "Ann"


def test_an_object_of_another_open_session_is_a_reference_by_key(db: Database) -> None:
    """It stays the other session's: this session's reference holds the row's key and
    reads as this session's object; a new object of another session is refused."""
    other = db.create_session()
    bob = other.query(Author).filter(name="Bob").find_one()
    s = db.create_session()
    p1 = s.query(Post).filter(title="p1").find_one()
    p1.author = bob
    assert other.state_of(bob) == "persistent" and s.state_of(bob) == "detached"
    mine = p1.author
    assert mine is not bob and mine.name == "Bob" and s.state_of(mine) == "persistent"
    s.commit()
    assert _owners(db)["p1"] == "Bob"
    dave = Author(name="Dave")
    other.add(dave)
    with pytest.raises(SessionError, match="is new in another session"):
        p1.author = dave


def test_objects_of_raw_sql_and_untracked_streams_stand_for_their_rows(db: Database) -> None:
    q = db.dialect.quote
    [bob] = db.raw(Author, f"SELECT * FROM {q('r_author')} WHERE {q('name')} = ?", ["Bob"])
    [tag] = list(db.query(Tag).stream(10, track=False))
    s = db.create_session()
    p1 = s.query(Post).filter(title="p1").find_one()
    p1.author = bob
    p1.tags.append(tag)
    assert s.state_of(bob) == "persistent" and s.state_of(tag) == "persistent"
    s.commit()
    assert _owners(db)["p1"] == "Bob" and db.query(Author).count() == 2
    assert db.query(Tag).count() == 1 and db.query(PostTag).count() == 1
