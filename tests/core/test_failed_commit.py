"""A failed commit changes nothing: database and session stay as they were; fix and retry."""

from __future__ import annotations

import pytest

from core import Database, IntegrityError, Session, ValidationError
from tests import backends
from tests.core.dbstate import dump
from tests.core.models import ALL, Article, Author

TABLES = ["author", "article"]


def _seed(db: Database) -> None:
    s = db.create_session()
    s.add(*(Author(email=f"old{i}@x.org", name=f"old{i}", age=i) for i in range(20)))
    s.commit()


def _add_with_taken_email(
    s: Session, prefix: str, count: int, *, at: int, taken: str
) -> list[Author]:
    """Stage ``count`` new authors; the one at position ``at`` has an email already stored."""
    new = [Author(email=f"{prefix}{i}@x.org", name=f"{prefix}{i}") for i in range(count)]
    new[at].email = taken
    s.add(*new)
    return new


def _failed_commit(s: Session) -> IntegrityError:
    """The IntegrityError that committing ``s`` raises."""
    with pytest.raises(IntegrityError) as exc:
        s.commit()
    return exc.value


def test_unique_violation_at_row_137_of_500_changes_nothing_and_retry_succeeds(
    db_url: str,
) -> None:
    """Inserts, edits and removals staged; row 137 collides; all of it is kept for the retry."""
    db = Database(db_url, ALL)
    db.migrate()
    _seed(db)
    path = backends.sqlite_path(db_url)
    before_bytes = path.read_bytes() if path else None
    before_rows = dump(db_url, TABLES)

    s = db.create_session()
    loaded = s.query(Author).order_by("id").find()
    loaded[0].name = "edited"
    loaded[1].age = 999
    s.remove(loaded[2], loaded[3])
    new = _add_with_taken_email(s, "new", 500, at=137, taken="old5@x.org")
    changes_before = s.changes()

    err = _failed_commit(s)
    assert (err.entity, err.field) == ("Author", "email")
    assert "Author.email" in str(err) and "UNIQUE" in str(err).upper()
    assert str(err).endswith(": new Author, staged #138 has email='old5@x.org'")
    assert err.obj is new[137]

    if path:
        assert path.read_bytes() == before_bytes
    assert dump(db_url, TABLES) == before_rows
    assert s.changes() == changes_before
    assert all(a.id == 0 for a in new)
    assert (loaded[0].name, loaded[1].age) == ("edited", 999)

    new[137].email = "fixed137@x.org"
    result = s.commit()
    assert (result.inserts, result.updates, result.deletes) == (500, 2, 2)
    assert db.query(Author).count() == 20 - 2 + 500
    assert {a.id for a in new}.isdisjoint({0}) and len({a.id for a in new}) == 500
    assert db.query(Author).filter(email="fixed137@x.org").find_one().id == new[137].id
    assert s.changes().empty
    db.close()


def test_a_collision_in_a_later_statement_of_a_long_commit_changes_nothing(
    db_url: str,
) -> None:
    """5,000 inserts go out in several statements (PostgreSQL: in one pipeline, after BEGIN);
    row 4,321 collides, in a statement after others succeeded, with an edit and a removal
    staged behind it. The error names the statement, the field and the object; nothing is
    saved; the fixed session commits everything."""
    db = Database(db_url, ALL)
    db.migrate()
    _seed(db)
    before_rows = dump(db_url, TABLES)
    s = db.create_session()
    loaded = s.query(Author).order_by("id").find()
    loaded[0].name = "edited"
    s.remove(loaded[1])
    new = _add_with_taken_email(s, "n", 5000, at=4321, taken="old7@x.org")
    changes_before = s.changes()

    err = _failed_commit(s)
    assert str(err).startswith("cannot insert Author")
    assert (err.entity, err.field, err.obj) == ("Author", "email", new[4321])
    assert str(err).endswith(": new Author, staged #4322 has email='old7@x.org'")
    assert dump(db_url, TABLES) == before_rows
    assert s.changes() == changes_before
    assert all(a.id == 0 for a in new)

    new[4321].email = "fixed@x.org"
    result = s.commit()
    assert (result.inserts, result.updates, result.deletes) == (5000, 1, 1)
    assert db.query(Author).count() == 20 - 1 + 5000
    assert len({a.id for a in new} - {0}) == 5000
    assert db.query(Author).filter(email="fixed@x.org").find_one().id == new[4321].id
    db.close()


def test_invalid_value_is_named_before_anything_is_sent(db_url: str) -> None:
    """A value of the wrong type names entity, field and value; nothing is written."""
    db = Database(db_url, ALL)
    db.migrate()
    s = db.create_session()
    a = Author(email="v@x.org", name="v")
    a.age = "old"  # type: ignore[assignment]
    s.add(a)
    with pytest.raises(ValidationError) as exc:
        s.commit()
    assert str(exc.value) == "Author.age expects int | None, got 'old'"
    assert db.query(Author).count() == 0
    a.age = 40
    s.commit()
    assert db.query(Author).find_one().age == 40
    db.close()


def test_not_null_violation_names_the_field(db_url: str) -> None:
    db = Database(db_url, ALL)
    db.migrate()
    s = db.create_session()
    a = Author(email="nn@x.org", name="nn")
    a.name = None  # type: ignore[assignment]
    s.add(a)
    with pytest.raises(ValidationError, match=r"Author\.name is not nullable"):
        s.commit()
    db.close()


def test_foreign_key_violation_is_an_integrity_error(db_url: str) -> None:
    """Removing a parent that still has children fails; the session keeps the removal."""
    db = Database(db_url, ALL)
    db.migrate()
    s = db.create_session()
    parent = Author(email="fk@x.org", name="fk")
    s.add(Article(title="child", author=parent))
    s.commit()
    s.remove(parent)
    with pytest.raises(IntegrityError) as exc:
        s.commit()
    assert "FOREIGN KEY" in str(exc.value).upper() or "foreign key" in str(exc.value)
    assert s.state_of(parent) == "removed"
    assert db.query(Author).count() == 1
    db.close()


def test_removing_a_row_still_referred_to_names_the_referring_field(db_url: str) -> None:
    """Three authors removed, the third still written by an article: the error names the
    referring field on every backend (SQLite's own message names none: the session finds
    it) and, on SQLite, the removed object and the row that refers to it. Removing the
    article too then commits."""
    db = Database(db_url, ALL)
    db.migrate()
    s = db.create_session()
    authors = [Author(email=f"ref{i}@x.org", name=f"r{i}") for i in range(3)]
    article = Article(title="still here", author=authors[2])
    s.add(*authors, article)
    s.commit()
    s.remove(*authors)
    with pytest.raises(IntegrityError) as exc:
        s.commit()
    assert (exc.value.entity, exc.value.field) == ("Article", "author")
    if db.dialect.name == "sqlite":
        assert str(exc.value) == (
            "cannot delete Author: FOREIGN KEY constraint failed on Article.author: "
            f"Author {authors[2].id} is still referred to by Article {article.id}; "
            "remove or change that first"
        )
    assert db.query(Author).count() == 3 and s.counts() == (0, 0, 3)
    s.remove(article)
    s.commit()
    assert db.query(Author).count() == 0
    db.close()
