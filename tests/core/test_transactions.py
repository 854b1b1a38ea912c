"""Transactions across flushes: flush, commit, rollback of flushed work, savepoints, scopes.

Memory and database are compared after every step: what the session's objects say and what a
separate connection reads (``dump``) must agree with what was committed.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core import Database, IntegrityError, OrmConnectionError, SessionError
from tests.conftest import StatementLog
from tests.core.dbstate import dump
from tests.core.models import ALL, Article, Author

TABLES = ["author", "article"]


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url, ALL)
    database.migrate()
    yield database
    database.close()


def _seed(db: Database, n: int = 3) -> None:
    s = db.create_session()
    s.add(*(Author(email=f"a{i}@x.org", name=f"a{i}", age=i) for i in range(n)))
    s.commit()


def _names(db_url: str) -> list[str]:
    return sorted(row[2] for row in dump(db_url, ["author"])["author"])


def test_flush_sends_staged_work_that_only_this_session_sees_until_commit(
    db: Database, db_url: str
) -> None:
    """After flush() the session's queries see the rows and keys are assigned; another
    connection sees nothing until commit()."""
    s = db.create_session()
    a = Author(email="new@x.org", name="new")
    s.add(a)
    s.flush()
    assert a.id != 0 and s.in_transaction and s.changes().empty
    assert s.query(Author).filter(name="new").find_one() is a
    assert s.query(Author).count() == 1
    assert _names(db_url) == []
    a.age = 40
    s.commit()
    assert not s.in_transaction
    assert _names(db_url) == ["new"]
    assert db.query(Author).find_one().age == 40


def test_commit_after_flush_sends_the_rest_in_the_same_transaction(
    db: Database, statements: StatementLog
) -> None:
    """One BEGIN (or START TRANSACTION) and one COMMIT around two flushes."""
    s = db.create_session()
    s.add(Author(email="a@x.org", name="a"))
    statements.clear()
    s.flush()
    s.add(Author(email="b@x.org", name="b"))
    s.commit()
    begins = [q for q in statements.sql if q.upper().startswith(("BEGIN", "START TRANSACTION"))]
    commits = [q for q in statements.sql if q.upper() == "COMMIT"]
    assert len(begins) == 1 and len(commits) == 1


def test_rollback_undoes_flushed_work_in_database_and_memory(db: Database, db_url: str) -> None:
    """Inserted objects are detached with their keys taken back, changed attributes restored,
    removed objects mapped again; the database holds what it held before."""
    _seed(db)
    before = dump(db_url, TABLES)
    s = db.create_session()
    a0, a1, a2 = s.query(Author).order_by("id").find()
    new = Author(email="new@x.org", name="new")
    s.add(new)
    a0.name = "changed"
    s.remove(a1)
    s.flush()
    assert new.id != 0
    a2.age = 99  # staged, not flushed
    s.rollback()
    assert not s.in_transaction
    assert dump(db_url, TABLES) == before
    assert new.id == 0 and s.state_of(new) == "detached"
    assert a0.name == "a0" and a2.age == 2
    assert s.state_of(a1) == "persistent"
    assert s.get(Author, a1.id) is a1
    assert s.changes().empty
    assert [x.name for x in s.query(Author).order_by("id").find()] == ["a0", "a1", "a2"]
    s.add(new)
    s.commit()
    assert _names(db_url) == ["a0", "a1", "a2", "new"]


def test_rollback_restores_a_field_changed_in_two_flushes_to_its_first_value(
    db: Database,
) -> None:
    _seed(db, 1)
    s = db.create_session()
    a = s.query(Author).find_one()
    a.name = "one"
    s.flush()
    a.name = "two"
    s.flush()
    s.rollback()
    assert a.name == "a0"
    assert db.query(Author).find_one().name == "a0"


def test_savepoint_left_by_an_exception_restores_database_and_memory(
    db: Database, db_url: str
) -> None:
    """Work before the savepoint stays (flushed); work inside it is undone everywhere."""
    _seed(db)
    s = db.create_session()
    a0, a1, a2 = s.query(Author).order_by("id").find()
    a0.name = "outer"
    kept = Author(email="kept@x.org", name="kept")
    s.add(kept)
    inner = Author(email="inner@x.org", name="inner")
    with pytest.raises(RuntimeError, match="boom"), s.savepoint():
        a1.name = "inner-change"
        s.add(inner)
        s.remove(a2)
        s.flush()
        a0.age = 500  # staged inside, not flushed
        raise RuntimeError("boom")
    assert s.in_transaction
    assert a0.name == "outer" and a0.age == 0
    assert a1.name == "a1" and s.state_of(a2) == "persistent"
    assert inner.id == 0 and s.state_of(inner) == "detached"
    assert kept.id != 0 and s.state_of(kept) == "persistent"
    assert s.changes().empty
    assert sorted(x.name for x in s.query(Author).find()) == ["a1", "a2", "kept", "outer"]
    s.commit()
    assert _names(db_url) == ["a1", "a2", "kept", "outer"]


def test_savepoints_nest_and_an_inner_failure_keeps_the_outer_block(
    db: Database, db_url: str
) -> None:
    s = db.create_session()
    with s.savepoint():
        s.add(Author(email="outer@x.org", name="outer"))
        with pytest.raises(ValueError), s.savepoint():
            s.add(Author(email="inner@x.org", name="inner"))
            s.flush()
            raise ValueError("inner fails")
        s.add(Author(email="after@x.org", name="after"))
    assert _names(db_url) == []
    s.commit()
    assert _names(db_url) == ["after", "outer"]


def test_outer_rollback_undoes_a_released_savepoint(db: Database, db_url: str) -> None:
    s = db.create_session()
    a = Author(email="a@x.org", name="a")
    with s.savepoint():
        s.add(a)
    assert a.id != 0
    s.rollback()
    assert a.id == 0 and s.state_of(a) == "detached"
    assert _names(db_url) == []


def test_failed_flush_after_an_earlier_flush_keeps_both_and_names_the_culprit(
    db: Database, db_url: str
) -> None:
    """The failing flush is undone alone (the transaction keeps the earlier flush); its
    staged work is kept, and fixing it lets the commit go through."""
    _seed(db, 1)
    s = db.create_session()
    first = Author(email="first@x.org", name="first")
    s.add(first)
    s.flush()
    bad = Author(email="a0@x.org", name="bad")
    s.add(bad)
    with pytest.raises(IntegrityError) as exc:
        s.flush()
    assert (exc.value.entity, exc.value.field) == ("Author", "email")
    assert exc.value.obj is bad
    assert s.in_transaction and first.id != 0 and bad.id == 0
    assert s.state_of(bad) == "new"
    assert s.query(Author).filter(name="first").find_one() is first
    bad.email = "fixed@x.org"
    s.commit()
    assert _names(db_url) == ["a0", "bad", "first"]


def test_failed_first_commit_keeps_todays_contract(db: Database, db_url: str) -> None:
    """No transaction open: the commit is rolled back whole and the staged work kept."""
    _seed(db, 1)
    before = dump(db_url, TABLES)
    s = db.create_session()
    bad = Author(email="a0@x.org", name="bad")
    s.add(bad)
    with pytest.raises(IntegrityError):
        s.commit()
    assert not s.in_transaction and dump(db_url, TABLES) == before
    assert s.state_of(bad) == "new" and bad.id == 0


def test_a_lost_commit_stages_the_flushed_work_again(
    db: Database, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """COMMIT fails after two flushes: the database rolled back, so everything they sent is
    staged again (keys taken back), and a retry commits all of it."""
    _seed(db, 1)
    s = db.create_session()
    a0 = s.query(Author).find_one()
    a0.name = "renamed"
    new = Author(email="new@x.org", name="new")
    s.add(new)
    s.flush()
    conn = s._conn
    assert conn is not None

    def lost() -> None:  # what Connection.commit does when the connection drops
        conn.in_transaction = False
        conn.broken = True
        raise OrmConnectionError("commit: the connection was lost")

    monkeypatch.setattr(conn, "commit", lost)
    with pytest.raises(OrmConnectionError):
        s.commit()
    monkeypatch.undo()
    assert not s.in_transaction
    assert new.id == 0 and s.state_of(new) == "new"
    changes = s.changes()
    assert [i.obj for i in changes.inserts] == [new]
    assert [u.changes for u in changes.updates] == [{"name": ("a0", "renamed")}]
    s.commit()
    assert _names(db_url) == ["new", "renamed"]


def test_database_transaction_commits_at_the_end_and_rolls_back_on_error(
    db: Database, db_url: str
) -> None:
    with db.transaction() as s:
        s.add(Author(email="a@x.org", name="a"))
        s.flush()
        s.add(Author(email="b@x.org", name="b"))
    assert _names(db_url) == ["a", "b"]
    with pytest.raises(KeyError), db.transaction() as s:
        s.add(Author(email="c@x.org", name="c"))
        s.flush()
        raise KeyError("stop")
    assert _names(db_url) == ["a", "b"]


def test_session_block_with_uncommitted_work_says_so_and_commits_nothing(
    db: Database, db_url: str
) -> None:
    """``with db.create_session() as s:`` never commits; staged work left at its end is an
    error (rolled back), not a silent loss."""
    with pytest.raises(SessionError) as exc, db.create_session() as s:
        s.add(Author(email="a@x.org", name="a"))
    assert str(exc.value) == (
        "the session ended with staged work (+1 ~0 -0) that was not committed and is now "
        "rolled back; call session.commit() (or session.rollback()) before the block ends"
    )
    flushed = pytest.raises(SessionError, match="flushed work in an open transaction")
    with flushed, db.create_session() as s:
        s.add(Author(email="b@x.org", name="b"))
        s.flush()
    assert _names(db_url) == []
    with db.create_session() as s:
        s.add(Author(email="c@x.org", name="c"))
        s.commit()
    assert _names(db_url) == ["c"]


def test_references_flushed_then_rolled_back(db: Database, db_url: str) -> None:
    """A parent flushed first and a child flushed later both go on rollback."""
    s = db.create_session()
    author = Author(email="p@x.org", name="p")
    s.add(author)
    s.flush()
    article = Article(title="t", author=author)
    s.add(article)
    s.flush()
    assert article.id != 0
    s.rollback()
    assert (author.id, article.id) == (0, 0)
    assert dump(db_url, TABLES) == {"author": [], "article": []}
    s.add(article)
    s.commit()
    assert db.query(Article).find_one().author.name == "p"
