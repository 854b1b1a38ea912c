"""A Database shared by threads: a pool of connections, a session per request.

A session holds a pooled connection only while its transaction is open; pool size and
timeout come from the constructor or the URL; a pool that stays full is a one-line error; on a
single-writer database (SQLite) readers go on while a writer holds its transaction, and a
second writer waits and then fails with "database is locked".
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest

from core import ConflictError, Database, PoolTimeoutError
from tests.core.models import ALL, Author


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url, ALL)
    database.migrate()
    yield database
    database.close()


def _with_query(url: str, query: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}{query}"


def _in_threads(work: Callable[[int], None], keys: list[int]) -> list[BaseException]:
    """``work(key)`` in a thread per key, all at once; what they raised."""
    errors: list[BaseException] = []

    def run(key: int) -> None:
        try:
            work(key)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(key,)) for key in keys]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_a_session_holds_a_connection_only_while_its_transaction_is_open(db: Database) -> None:
    pool = db.pool
    s = db.create_session()
    s.add(Author(email="a@x.org", name="a"))
    s.commit()
    s.query(Author).find()
    assert pool.in_use == 0
    s.query(Author).find_one().age = 3
    s.flush()
    assert s.in_transaction and (pool.in_use == 1 or pool.shared)
    s.commit()
    assert pool.in_use == 0 and not s.in_transaction


def test_pool_size_and_timeout_come_from_the_url_or_the_constructor(db_url: str) -> None:
    """URL parameters are taken off before the driver sees them; the constructor wins."""
    from_url = Database(_with_query(db_url, "pool_size=2&pool_timeout=0.2"), ALL)
    from_url.migrate()  # the driver accepted what was left of the URL
    assert (from_url.pool.size, from_url.pool.timeout) == (2, 0.2)
    assert from_url.query(Author).count() == 0
    from_url.close()
    given = Database(_with_query(db_url, "pool_size=2"), ALL, pool_size=3, pool_timeout=1.5)
    assert (given.pool.size, given.pool.timeout) == (3, 1.5)
    given.close()


def test_a_full_pool_waits_then_fails_with_one_clear_line(db_url: str) -> None:
    db = Database(_with_query(db_url, "pool_size=2&pool_timeout=0.1"), ALL)
    db.migrate()
    if db.pool.shared:
        pytest.skip("a single shared connection is re-entrant for its thread")
    held = [db.pool.acquire(), db.pool.acquire()]
    with pytest.raises(PoolTimeoutError) as exc:
        db.query(Author).count()
    assert str(exc.value) == (
        f"no connection to {db.url_display} became free within 0.1 s (pool_size=2, all in "
        "use); raise pool_size or pool_timeout, or end sessions' transactions sooner"
    )
    db.pool.release(held.pop())
    assert db.query(Author).count() == 0
    db.pool.release(held.pop())
    assert db.pool.opened == 2 and db.pool.idle == 2
    db.close()


def test_sessions_in_16_threads_each_commit_their_own_work(db_url: str) -> None:
    """A session per request: load one row by key, change it, commit; 16 threads at once
    through a pool of 4; every change lands and no more than 4 connections are opened."""
    db = Database(db_url, ALL, pool_size=4)
    db.migrate()
    s = db.create_session()
    s.add(*(Author(email=f"t{i}@x.org", name=f"t{i}", age=0) for i in range(16)))
    s.commit()
    ids = [a.id for a in s.query(Author).order_by("id").find()]

    def request(pk: int) -> None:
        for _ in range(5):
            with db.transaction() as session:
                author = session.get(Author, pk)
                assert author is not None
                author.age = (author.age or 0) + 1

    assert _in_threads(request, ids) == []
    assert [a.age for a in db.query(Author).order_by("id").find()] == [5] * 16
    assert db.pool.opened <= 4
    db.close()


def test_readers_go_on_while_a_writer_holds_its_transaction(db: Database) -> None:
    writer = db.create_session()
    writer.add(Author(email="w@x.org", name="w"))
    writer.flush()
    reader = db.create_session()
    if db.pool.shared:
        pytest.skip("one shared connection: a reader sees the open transaction")
    assert reader.query(Author).count() == 0
    writer.commit()
    assert reader.query(Author).count() == 1


def test_a_second_writer_waits_then_gets_database_is_locked(db_url: str) -> None:
    """On a single-writer database a writer waits for the lock up to the timeout, then fails
    with a ConflictError; the session keeps its work and commits once the lock is free."""
    if not Database(db_url, ALL).dialect.single_writer:
        pytest.skip("writers of different rows do not wait for each other here")
    db = Database(_with_query(db_url, "timeout=0.2"), ALL)
    db.migrate()
    first = db.create_session()
    first.add(Author(email="1@x.org", name="1"))
    first.flush()
    second = db.create_session()
    late = Author(email="2@x.org", name="2")
    second.add(late)
    with pytest.raises(ConflictError, match="database is locked"):
        second.commit()
    assert second.state_of(late) == "new"
    first.commit()
    second.commit()
    assert db.query(Author).count() == 2
    db.close()


def test_gets_outside_a_transaction_give_their_connection_back_whatever_happens(
    db_url: str,
) -> None:
    """``Session.get`` outside a transaction checks a connection out and back: none stays lent
    after a get that found a row, one that found none, gets from 8 threads through a pool of
    2, or a get while the pool is full (it waits, then fails with the pool's one line)."""
    db = Database(_with_query(db_url, "pool_size=2&pool_timeout=0.2"), ALL)
    db.migrate()
    s = db.create_session()
    s.add(*(Author(email=f"g{i}@x.org", name=f"g{i}") for i in range(8)))
    s.commit()
    ids = [a.id for a in db.query(Author).find()]
    pool = db.pool
    reader = db.create_session()
    assert reader.get(Author, ids[0]) is not None and reader.get(Author, -5) is None
    assert pool.in_use == 0

    def request(pk: int) -> None:
        for _ in range(20):
            assert db.create_session().get(Author, pk) is not None

    assert _in_threads(request, ids) == [] and pool.in_use == 0 and pool.opened <= 2
    if not pool.shared:
        held = [pool.acquire(), pool.acquire()]
        with pytest.raises(PoolTimeoutError, match="pool_size=2"):
            db.create_session().get(Author, ids[1])
        for conn in held:
            pool.release(conn)
        assert db.create_session().get(Author, ids[1]) is not None and pool.in_use == 0
    db.close()
