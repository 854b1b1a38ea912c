"""Bulk operations and loaded collections (issue 13.6 with issue 12.2), on every backend.

``patch_many`` of a reference and ``delete_many`` change rows without the session's per-object
edits; the loaded collections of the session must still agree with the database afterwards
(moved children, deleted children and pivot rows, the database's ON DELETE rules), and a
rollback must put memory back to what the database holds again.
"""

from __future__ import annotations

import pytest

from core import Database, F
from tests.core.relation_models import ALL, Author, Note, Post, Tag


@pytest.fixture
def db(db_url: str) -> Database:
    database = Database(db_url, ALL)
    database.migrate()
    s = database.create_session()
    ann, bob = Author(name="Ann"), Author(name="Bob")
    db_tag, py_tag = Tag(name="db"), Tag(name="py")
    p1 = Post(title="p1", author=ann, tags=[db_tag, py_tag])
    p2 = Post(title="p2", author=ann, tags=[db_tag])
    p3 = Post(title="p3", author=bob)
    s.add(ann, bob, p1, p2, p3, Note(text="n1", post=p1), Note(text="n3", post=p3))
    s.commit()
    return database


def _titles(coll: list[Post]) -> list[str]:
    return sorted(p.title for p in coll)


def _stored(db: Database) -> dict[str, list[str]]:
    """Each author's post titles as a fresh untracked read of the database gives them."""
    return {a.name: _titles(a.posts) for a in db.query(Author).eager("posts").find()}


def test_patch_many_of_a_reference_moves_children_between_loaded_collections(
    db: Database,
) -> None:
    """Ann's p1 and p2 given to Bob by one UPDATE: both loaded collections follow, and
    another read after commit agrees."""
    s = db.create_session()
    ann, bob = (s.query(Author).filter(name=n).find_one() for n in ("Ann", "Bob"))
    assert _titles(ann.posts) == ["p1", "p2"] and _titles(bob.posts) == ["p3"]
    assert s.query(Post).filter(F.author == ann).patch_many(author=bob) == 2
    assert _titles(ann.posts) == [] and _titles(bob.posts) == ["p1", "p2", "p3"]
    assert all(p.author is bob for p in bob.posts)
    assert s.changes().empty
    s.commit()
    assert _stored(db) == {"Ann": [], "Bob": ["p1", "p2", "p3"]}
    assert _titles(ann.posts) == [] and _titles(bob.posts) == ["p1", "p2", "p3"]


def test_patch_many_of_a_reference_by_key_and_rollback_put_collections_back(
    db: Database,
) -> None:
    """A key as the new value moves the children too; rollback restores both collections
    and the children's references, with no pending change left."""
    s = db.create_session()
    ann, bob = (s.query(Author).filter(name=n).find_one() for n in ("Ann", "Bob"))
    p1 = next(p for p in ann.posts if p.title == "p1")
    assert _titles(bob.posts) == ["p3"]
    s.query(Post).filter(title="p1").patch_many(author=bob.id)
    assert p1.author is bob
    assert _titles(ann.posts) == ["p2"] and _titles(bob.posts) == ["p1", "p3"]
    s.rollback()
    assert p1.author is ann
    assert _titles(ann.posts) == ["p1", "p2"] and _titles(bob.posts) == ["p3"]
    assert s.changes().empty
    assert _stored(db) == {"Ann": ["p1", "p2"], "Bob": ["p3"]}


def test_patch_many_to_none_takes_children_out_of_their_collection(db: Database) -> None:
    s = db.create_session()
    bob = s.query(Author).filter(name="Bob").find_one()
    assert _titles(bob.posts) == ["p3"]
    s.query(Post).filter(title="p3").patch_many(author=None)
    assert bob.posts == []
    s.commit()
    assert _stored(db)["Bob"] == []


def test_delete_many_takes_deleted_children_out_of_loaded_collections(db: Database) -> None:
    """Deleted posts leave their author's collection and every tag's; their notes' reference
    is cleared as the database's SET NULL did; rollback puts all of it back."""
    s = db.create_session()
    ann = s.query(Author).filter(name="Ann").find_one()
    tag = s.query(Tag).filter(name="db").find_one()
    note = s.query(Note).filter(text="n1").find_one()
    p1 = note.post
    assert p1 is not None and p1.title == "p1"
    assert _titles(ann.posts) == ["p1", "p2"] and _titles(tag.posts) == ["p1", "p2"]
    assert s.query(Post).filter(title="p1").delete_many() == 1
    assert _titles(ann.posts) == ["p2"] and _titles(tag.posts) == ["p2"]
    assert note.post is None
    assert s.changes().empty
    s.rollback()
    assert _titles(ann.posts) == ["p1", "p2"] and _titles(tag.posts) == ["p1", "p2"]
    assert note.post is p1
    assert s.changes().empty
    s.query(Post).filter(title="p1").delete_many()
    s.commit()
    assert _stored(db)["Ann"] == ["p2"]
    assert db.query(Note).filter(text="n1").find_one().post is None
    assert _titles(ann.posts) == ["p2"] and note.post is None


def test_delete_many_of_owners_cascades_to_loaded_children(db: Database) -> None:
    """Deleting Bob by a bulk statement: the database cascades to p3, so the loaded p3 leaves
    the session (its note's reference cleared, as the database did); rollback maps it again."""
    s = db.create_session()
    p3 = s.query(Post).filter(title="p3").find_one()
    n3 = s.query(Note).filter(text="n3").find_one()
    assert n3.post is p3
    assert s.query(Author).filter(name="Bob").delete_many() == 1
    assert s.query(Post).filter(title="p3").find_one_or_none() is None
    assert n3.post is None
    assert s.changes().empty
    s.rollback()
    assert s.query(Post).filter(title="p3").find_one() is p3
    assert n3.post is p3
    assert s.changes().empty
