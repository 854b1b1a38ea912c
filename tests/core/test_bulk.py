"""Bulk operations inside the unit of work: patch_many / delete_many on a session query run in
the session's transaction, accept expressions, and keep the identity map true."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core import Database, F
from tests.core.dbstate import dump
from tests.core.models import ALL, Article, Author


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url, ALL)
    database.migrate()
    s = database.create_session()
    s.add(*(Author(email=f"a{i}@x.org", name=f"a{i}", age=i) for i in range(4)))
    s.commit()
    yield database
    database.close()


def _ages(db_url: str) -> list[int]:
    return sorted(row[3] for row in dump(db_url, ["author"])["author"])


def test_patch_many_runs_in_the_session_transaction_and_rolls_back_with_it(
    db: Database, db_url: str
) -> None:
    """Another connection sees nothing until commit; rollback puts database and objects back;
    the patched objects show no pending change."""
    s = db.create_session()
    authors = s.query(Author).order_by("id").find()
    assert s.query(Author).filter(F.age >= 2).patch_many(age=F.age + 10) == 2
    assert [a.age for a in authors] == [0, 1, 12, 13]
    assert s.changes().empty and s.in_transaction
    assert _ages(db_url) == [0, 1, 2, 3]
    s.rollback()
    assert [a.age for a in authors] == [0, 1, 2, 3]
    assert _ages(db_url) == [0, 1, 2, 3]
    s.query(Author).filter(F.age >= 2).patch_many(age=F.age * 2, name="big")
    s.commit()
    assert _ages(db_url) == [0, 1, 4, 6]
    assert [(a.name, a.age) for a in authors[2:]] == [("big", 4), ("big", 6)]


def test_patch_many_of_a_json_field_leaves_no_false_pending_change(db: Database) -> None:
    s = db.create_session()
    author = s.query(Author).filter(name="a0").find_one()
    s.add(Article(title="t", author=author, tags=["old"]))
    s.commit()
    article = s.query(Article).find_one()
    assert article.tags == ["old"]  # read: watched for in-place edits from here
    s.query(Article).patch_many(tags=["x", "y"])
    assert article.tags == ["x", "y"] and s.changes().empty
    s.commit()
    assert db.query(Article).find_one().tags == ["x", "y"]


def test_staged_work_is_flushed_before_a_bulk_operation(db: Database) -> None:
    """The WHERE sees what the session staged, and local edits are not overwritten."""
    s = db.create_session()
    a0 = s.query(Author).filter(name="a0").find_one()
    a0.age = 50
    s.query(Author).filter(F.age >= 50).patch_many(name="old")
    assert (a0.name, a0.age) == ("old", 50) and s.changes().empty
    s.commit()
    assert [a.name for a in db.query(Author).filter(F.age >= 50).find()] == ["old"]


def test_delete_many_detaches_and_rollback_maps_again(db: Database, db_url: str) -> None:
    s = db.create_session()
    authors = s.query(Author).order_by("id").find()
    assert s.query(Author).filter(F.age < 2).delete_many() == 2
    assert [s.state_of(a) for a in authors] == ["detached"] * 2 + ["persistent"] * 2
    assert s.get(Author, authors[2].id) is authors[2]
    assert s.query(Author).count() == 2 and len(_ages(db_url)) == 4
    s.rollback()
    assert [s.state_of(a) for a in authors] == ["persistent"] * 4
    assert s.get(Author, authors[0].id) is authors[0]
    s.query(Author).filter(F.age < 2).delete_many()
    s.commit()
    assert _ages(db_url) == [2, 3]


def test_bulk_operations_on_database_query_commit_at_once(db: Database, db_url: str) -> None:
    assert db.query(Author).filter(F.age == 3).patch_many(age=F.age + 1) == 1
    assert _ages(db_url) == [0, 1, 2, 4]
    assert db.query(Author).filter(F.age == 4).delete_many() == 1
    assert _ages(db_url) == [0, 1, 2]
