"""Batches stay under the statement size where the driver puts values into the SQL text.

PyMySQL binds on the client: a multi-row INSERT or a CASE-form UPDATE is one packet holding
every value, and the server refuses a packet larger than its ``max_allowed_packet``. The plan
cuts batches by bytes as well as by parameter count (``Dialect.max_statement_bytes``). The
limit is lowered here so that every backend runs the same cutting; the last test sends a
commit larger than the real server limit where there is one.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core import Database, ValidationError
from tests.conftest import StatementLog
from tests.core.models import ALL, Author

_LIMIT = 64 * 1024 + 100_000  # 100 kB of room for values after the statement's own text


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url, ALL)
    database.migrate()  # connects first: a MySQL connection learns the server's limit
    yield database
    database.close()


def _big(i: int, size: int) -> str:
    return f"{i:04d}" + "é" * (size - 4)  # two UTF-8 bytes a character: escaping can't shrink it


def _returning(db: Database, backend: str, returning: bool) -> None:
    if not returning:
        if backend == "postgresql":
            pytest.skip("PostgreSQL always has RETURNING; there is no path without it")
        db.dialect.supports_returning = False  # type: ignore[misc]


@pytest.mark.parametrize("returning", [True, False], ids=["returning", "no-returning"])
def test_inserts_and_updates_of_large_text_are_cut_under_the_statement_size(
    db: Database, statements: StatementLog, backend: str, returning: bool
) -> None:
    """30 rows of 20,000-character text with a 100 kB limit: no statement carries more than
    the limit allows (a 20,000-character value may take 80,002 bytes, so one row a statement;
    without RETURNING, one row a round trip), every row is written, and an update of all of
    them is cut the same way."""
    _returning(db, backend, returning)
    db.dialect.max_statement_bytes = _LIMIT
    s = db.create_session()
    authors = [Author(email=f"big{i}@x", name=_big(i, 20_000)) for i in range(30)]
    s.add(*authors)
    statements.clear()
    trips = db.connection().round_trips
    s.commit()
    inserts = [q for q in statements.sql if q.startswith("INSERT")]
    assert len(inserts) == 30
    if not returning:  # one INSERT a row, sent many to a round trip where they fit
        assert db.connection().round_trips - trips >= 30
    stored = {a.email: a.name for a in db.query(Author).find()}
    assert stored == {a.email: a.name for a in authors}

    for a in authors:
        a.name = _big(a.id, 20_000).replace("é", "ü")
    statements.clear()
    s.commit()
    assert len([q for q in statements.sql if q.startswith("UPDATE")]) == 30
    assert {a.name for a in db.query(Author).find()} == {a.name for a in authors}


def test_bounded_values_need_no_measuring_and_cut_by_their_bound(
    db: Database, statements: StatementLog
) -> None:
    """Values with a bound (``MaxLength`` text, numbers) are not measured: the rows per
    statement follow from the bound, and small rows still travel many to a statement."""
    db.dialect.max_statement_bytes = _LIMIT
    s = db.create_session()
    s.add(*[Author(email=f"small{i}@x", name="n", age=i) for i in range(50)])
    statements.clear()
    s.commit()
    # name is unbounded text, so each row is measured: all 50 fit in one statement.
    assert len([q for q in statements.sql if q.startswith("INSERT")]) == 1
    authors = s.query(Author).find()
    for a in authors:
        a.email = a.email.upper()  # MaxLength(200): at most 802 bytes + the key, 3 times
    statements.clear()
    s.commit()
    updates = [q for q in statements.sql if q.startswith("UPDATE")]
    per_row = (4 * 200 + 2) + 80 * 2 + 16 * 3
    assert len(updates) == -(-50 // (100_000 // per_row))
    assert sorted(a.email for a in db.query(Author).find()) == sorted(
        f"SMALL{i}@X" for i in range(50)
    )


@pytest.mark.parametrize("returning", [True, False], ids=["returning", "no-returning"])
def test_a_commit_larger_than_the_servers_statement_size_is_sent_in_pieces(
    db: Database, backend: str, returning: bool
) -> None:
    """25 MiB of text in one commit where the server takes 16 MiB a statement (MariaDB's
    default ``max_allowed_packet``): the commit succeeds and every row is stored."""
    limit = db.dialect.max_statement_bytes
    if limit is None:
        pytest.skip("values are bound on the server here: there is no statement size")
    _returning(db, backend, returning)
    count = max(3, (limit * 3 // 2) // (1024 * 1024) + 1)
    s = db.create_session()
    s.add(*[Author(email=f"huge{i}@x", name=_big(i, 512 * 1024)) for i in range(count)])
    s.commit()
    names = [a.name for a in db.query(Author).order_by("email").find()]
    assert len(names) == count and all(len(n) == 512 * 1024 for n in names)


def test_a_row_too_large_for_any_statement_is_refused_before_anything_is_sent(
    db: Database, statements: StatementLog
) -> None:
    """One value larger than a statement may be: the commit names the object, the field and
    the server setting to raise, sends nothing, and keeps the staged work; a smaller value
    then commits."""
    db.dialect.max_statement_bytes = _LIMIT
    s = db.create_session()
    small = Author(email="ok@x", name="fine")
    huge = Author(email="huge@x", name="é" * 200_000)
    s.add(small, huge)
    statements.clear()
    with pytest.raises(ValidationError) as caught:
        s.commit()
    message = str(caught.value)
    assert message.startswith("new Author does not fit in one statement: its Author.name takes ")
    assert f"the server accepts {_LIMIT:,} a statement; raise " in message
    assert statements.sql == []
    assert s.counts() == (2, 0, 0) and db.query(Author).find() == []
    huge.name = "é" * 20_000
    s.commit()
    assert sorted(a.email for a in db.query(Author).find()) == ["huge@x", "ok@x"]


def test_an_update_too_large_for_any_statement_is_refused_and_kept(
    db: Database, statements: StatementLog
) -> None:
    """A change of one loaded row to a value larger than a statement may be: refused before
    anything is sent, naming the row and the field; the change stays staged and a smaller
    value commits."""
    db.dialect.max_statement_bytes = _LIMIT
    s = db.create_session()
    author = Author(email="one@x", name="small")
    s.add(author)
    s.commit()
    author.name = "é" * 200_000
    statements.clear()
    with pytest.raises(ValidationError) as caught:
        s.commit()
    assert str(caught.value).startswith(
        f"Author {author.id} does not fit in one statement: its Author.name takes "
    )
    assert statements.sql == []
    assert s.counts() == (0, 1, 0)
    assert db.query(Author).find_one().name == "small"
    author.name = "é" * 20_000
    s.commit()
    assert db.query(Author).find_one().name == "é" * 20_000
