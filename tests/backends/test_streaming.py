"""Loads arrive in chunks; a load that ends early, by an error or by its consumer, ends its query.

``Connection.stream`` yields a query's rows 1,000 at a time (on PostgreSQL with libpq >= 17 the
server's rows are not even buffered whole first). A load stops midway when a row does not fit
the model, when the server fails partway through the rows, or when the connection is lost:
each is one error naming what failed, and the next statement on the same database works (a
streamed query left open would hold the connection and the driver's lock).
"""

from __future__ import annotations

import pytest

from core import Database, DatabaseError, F, OrmConnectionError, ValidationError
from tests.core.models import ALL, Author, Role

ROWS = 3_000
BAD = 2_500  # in the third chunk of 1,000


@pytest.fixture
def db(db_url: str) -> Database:
    database = Database(db_url, ALL)
    database.migrate()
    s = database.create_session()
    s.add(*[Author(email=f"e{i}@x", name=f"n{i}", age=i) for i in range(ROWS)])
    s.commit()
    return database


def _store_bad_role(db: Database) -> int:
    """Store a role no ``Role`` member has on one row, behind the model's back."""
    bad = db.query(Author).filter(F.email == f"e{BAD}@x").find_one().id
    q = db.dialect.quote
    p = db.dialect.placeholder
    conn = db.connection()
    conn.begin()
    conn.execute(f"UPDATE {q('author')} SET {q('role')} = {p} WHERE {q('id')} = {p}", ("nope", bad))
    conn.commit()
    return bad


def test_a_load_of_several_chunks_returns_every_row_in_order(db: Database) -> None:
    """3,000 rows: three chunks, every row once, in the order asked."""
    chunks = list(db.connection().stream(f"SELECT {db.dialect.quote('age')} FROM author"))
    assert [len(c) for c in chunks] == [1_000, 1_000, 1_000]
    s = db.create_session()
    assert [a.age for a in s.query(Author).order_by("-age").find()] == list(range(ROWS))[::-1]


@pytest.mark.parametrize("tracked", [True, False], ids=["session", "database"])
def test_a_stored_value_the_model_cannot_read_names_entity_row_and_field(
    db: Database, tracked: bool
) -> None:
    """A row in the third chunk holds a role ``Role`` lacks: one ValidationError naming the
    entity, the row's key, the field and the value; the database answers the next query."""
    bad = _store_bad_role(db)
    source = db.create_session() if tracked else db
    with pytest.raises(ValidationError) as exc:
        source.query(Author).find()
    text = str(exc.value)
    assert text.startswith(f"cannot load Author (id={bad}): its stored role 'nope'"), text
    assert "correct the row or the model" in text
    assert db.query(Author).filter(F.id != bad).count() == ROWS - 1
    s = db.create_session()
    ok = s.query(Author).filter(F.id < bad).order_by(F.id).find()
    ok[0].name = "renamed"
    assert s.commit().updates == 1
    assert db.query(Author).filter(F.id == ok[0].id).find_one().role is Role.reader


def test_an_untracked_stream_names_the_row_it_cannot_read_and_frees_its_connection(
    db: Database,
) -> None:
    """``stream(track=False)`` builds objects as the rows come: 2,500 plain objects, then the
    same ValidationError as a load for the row in the third chunk; the stream's connection
    answers the next queries (and a stream stopped early frees it as well)."""
    bad = _store_bad_role(db)
    seen = []
    with pytest.raises(ValidationError) as exc:
        for author in db.query(Author).order_by("id").stream(batch=1000, track=False):
            seen.append(author.id)
    assert str(exc.value).startswith(f"cannot load Author (id={bad}): its stored role 'nope'")
    assert seen == sorted(seen) and len(seen) == BAD and seen[-1] < bad
    assert db.pool.in_use == 0
    for _ in range(2 * db.pool.size):
        stream = db.query(Author).filter(F.id != bad).stream(batch=10, track=False)
        first = next(stream)
        assert type(first) is Author and first.__dict__["_orm_session"] == 0
        stream.close()
    assert db.pool.in_use == 0
    assert db.query(Author).filter(F.id != bad).count() == ROWS - 1


def test_a_load_stopped_by_its_consumer_ends_its_query(db: Database) -> None:
    """Closing a stream after its first chunk ends the query: the same connection runs the
    next statement and a transaction after it."""
    conn = db.connection()
    chunks = conn.stream(f"SELECT {db.dialect.quote('id')} FROM author")
    assert len(next(chunks)) == 1_000
    chunks.close()
    assert [tuple(r) for r in conn.fetchall("SELECT 1")] == [(1,)]
    s = db.create_session()
    s.add(Author(email="after@x", name="after"))
    s.commit()
    assert db.query(Author).count() == ROWS + 1


def test_a_load_inside_a_transaction_sees_its_uncommitted_rows(db: Database) -> None:
    """Streamed with BEGIN still owed (PostgreSQL sends it with the first statement) and
    after it went out: the query runs in the transaction, which then rolls back."""
    conn = db.connection()
    q = db.dialect.quote
    p = db.dialect.placeholder
    conn.begin()
    first = [r for chunk in conn.stream(f"SELECT {q('id')} FROM author") for r in chunk]
    conn.execute(f"DELETE FROM author WHERE {q('age')} >= {p}", (1_000,))
    after = [r for chunk in conn.stream(f"SELECT {q('id')} FROM author") for r in chunk]
    conn.rollback()
    assert (len(first), len(after)) == (ROWS, 1_000)
    assert db.query(Author).count() == ROWS


def test_a_server_error_partway_through_the_rows_is_one_database_error(
    db: Database, backend: str
) -> None:
    """PostgreSQL computes rows as it sends them: a division by zero at row 2,500 fails the
    load after two chunks arrived; the error is a DatabaseError and the connection goes on.
    (SQLite and MariaDB answer a division by zero with NULL.)"""
    if backend != "postgresql":
        pytest.skip("only PostgreSQL fails a division by zero")
    conn = db.connection()
    with pytest.raises(DatabaseError) as exc:
        for _ in conn.stream("SELECT 1 / (age - %s) FROM author ORDER BY age", (BAD,)):
            pass
    assert "division by zero" in str(exc.value)
    assert not isinstance(exc.value, OrmConnectionError)
    assert [tuple(r) for r in conn.fetchall("SELECT 1")] == [(1,)]
    assert db.query(Author).count() == ROWS
