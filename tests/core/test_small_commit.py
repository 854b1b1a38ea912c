"""A commit of changed objects only (a request's load, change, commit) takes a shorter path
through plan and persist; what it promises is the general path's: the row count of every
UPDATE checked, a failed commit leaving the staged work as it was, and the same statements."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core import ConflictError, Database
from tests.conftest import StatementLog
from tests.core.models import ALL, Author


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url, ALL)
    database.migrate()
    yield database
    database.close()


def _stored(db: Database, name: str) -> Author | None:
    s = db.create_session()
    return s.query(Author).filter(name=name).find_one_or_none()


@pytest.mark.parametrize("changed", [1, 2])
def test_an_update_of_rows_deleted_elsewhere_fails_and_keeps_the_staged_change(
    db: Database, changed: int
) -> None:
    """One changed object (one UPDATE) or two (a batch): a row gone since it was loaded is a
    ConflictError naming the entity; nothing is written and the change stays staged."""
    s = db.create_session()
    s.add(*(Author(email=f"{i}@x.org", name=f"a{i}") for i in range(changed + 1)))
    s.commit()
    authors = sorted(s.query(Author).find(), key=lambda a: a.name)
    other = db.create_session()
    other.remove(other.get(Author, authors[0].id))
    other.commit()
    for a in authors[:changed]:
        a.age = 7
    with pytest.raises(ConflictError, match=r"^cannot update Author: 1 of \d rows were deleted"):
        s.commit()
    assert s.counts() == (0, changed, 0)
    assert [s.state_of(a) for a in authors[:changed]] == ["persistent"] * changed
    assert authors[0].age == 7
    if changed == 2:
        stored = _stored(db, "a1")
        assert stored is not None and stored.age is None  # the batch wrote nothing


def test_a_small_commit_sends_one_update_of_the_changed_columns(
    db: Database, statements: StatementLog
) -> None:
    """Changing one field of one loaded object sends one UPDATE of that column, by key; the
    session then holds no pending change and the database agrees with memory."""
    s = db.create_session()
    s.add(Author(email="a@x.org", name="a"))
    s.commit()
    a = s.query(Author).find_one()
    a.name = "b"
    statements.clear()
    result = s.commit()
    assert result.updates == 1
    updates = [sql for sql in statements.sql if sql.startswith("UPDATE")]
    assert len(updates) == 1 and "name" in updates[0] and "email" not in updates[0]
    assert s.counts() == (0, 0, 0)
    stored = _stored(db, "b")
    assert stored is not None and stored.id == a.id
    a.name = "c"  # the same changed-column set again (its column names are kept per mask)
    s.commit()
    assert _stored(db, "c") is not None
