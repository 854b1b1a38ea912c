"""``Database.cancel`` stops the statement another thread is waiting for (the REPL's Ctrl-C).

The running call fails with a ``DatabaseError`` and the same connection answers the next
statement; a failed commit keeps the session's staged work (the session contract). The slow
statement counts a billion-row cross join, which every backend would take minutes over.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from core import Database, DatabaseError
from tests.core.models import ALL, Author

SLOW = (
    "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 1000) "
    "SELECT COUNT(*) FROM c a, c b, c d"
)


def _keep_cancelling(db: Database) -> tuple[threading.Event, threading.Thread]:
    """Call ``db.cancel()`` every 0.2 s until the event is set (the first call may come before
    the statement started)."""
    done = threading.Event()

    def loop() -> None:
        while not done.wait(0.2):
            db.cancel()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return done, thread


def _cancelled(db: Database, call: Callable[[], Any]) -> BaseException | None:
    done, thread = _keep_cancelling(db)
    try:
        call()
    except DatabaseError as exc:
        return exc
    finally:
        done.set()
        thread.join()
    return None


@pytest.fixture
def db(db_url: str) -> Database:
    database = Database(db_url, ALL)
    database.migrate()
    return database


def test_cancel_stops_a_running_query_and_the_connection_answers_the_next(db: Database) -> None:
    """A statement that would run for minutes fails with a DatabaseError once cancelled; the
    same connection then runs the next statement."""
    with db.pool.connection() as conn:
        assert _cancelled(db, lambda: conn.fetchall(SLOW)) is not None
        assert conn.fetchall("SELECT 1")[0][0] == 1
    assert db.connection() is conn


def test_cancel_without_a_running_statement_does_nothing(db_url: str, db: Database) -> None:
    """Cancelling an idle database (or one never connected) changes nothing."""
    Database(db_url, ALL).cancel()
    db.connection()
    db.cancel()
    s = db.create_session()
    s.add(Author(email="a@x", name="a", age=1))
    s.commit()
    assert db.query(Author).count() == 1


def test_a_cancelled_commit_keeps_the_staged_work(db_url: str, db: Database) -> None:
    """A commit waiting on a row another transaction locked is cancelled: it fails, nothing is
    written, the session holds its staged change, and a later commit writes it."""
    if not db.dialect.cancels_lock_waits:
        pytest.skip("the dialect cannot cancel a statement waiting on a lock")
    s = db.create_session()
    s.add(Author(email="a@x", name="before", age=1))
    s.commit()
    holder = Database(db_url, ALL)
    q, p = holder.dialect.quote, holder.dialect.placeholder
    hconn = holder.connection()
    hconn.begin()
    hconn.execute(f"UPDATE {q('author')} SET {q('age')} = {p}", (2,))
    try:
        author = s.query(Author).find_one()
        author.name = "after"
        assert _cancelled(db, s.commit) is not None
        assert s.counts() == (0, 1, 0)
        assert author.name == "after"
    finally:
        hconn.rollback()
        holder.close()
    s.commit()
    assert [a.name for a in db.query(Author).find()] == ["after"]
