"""Round trips of a commit follow the number of chunks, not the number of rows.

``Connection.round_trips`` counts what goes over the wire (an ``executemany`` counts as its
dialect says). 10,000 inserts, 1,000 updates and 10,000 removes each cost BEGIN + COMMIT plus
one round trip per chunk that the dialect's limits allow; the bound is computed from the
dialect's own numbers, and must stay far below the row count. Where BEGIN travels with the
first statement, a commit costs one round trip fewer: MariaDB/MySQL send it in the first
statement's query text, PostgreSQL in the pipeline of a commit of two statements or more (a
single statement is not pipelined, which costs more client CPU than the round trip it saves).
"""

from __future__ import annotations

from typing import Annotated

import pytest

from core import AutoIncrement, Database, MaxLength, PrimaryKey, entity
from core.dialects.base import Dialect
from tests.conftest import StatementLog


@entity.name("counted")
class Counted:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    name: Annotated[str, MaxLength(40)]
    n: int = 0


def _chunks(rows: int, size: int) -> int:
    return -(-rows // max(1, size))


def _trips(db: Database) -> int:
    return db.connection().round_trips


def _overhead(dialect: Dialect, statements: int, executemany: bool = False) -> int:
    """BEGIN and COMMIT, or COMMIT alone where BEGIN goes out with the first statement (in its
    query text: not with an ``executemany``, which the driver sends as it likes)."""
    joins = (dialect.begin_joins and not executemany) or (dialect.pipelines and statements > 1)
    return 1 if joins else 2


@pytest.mark.parametrize("returning", [True, False], ids=["returning", "no-returning"])
def test_round_trips_of_10000_inserts_1000_updates_10000_removes(
    db_url: str, backend: str, returning: bool, statements: StatementLog
) -> None:
    """Each commit costs BEGIN + COMMIT + its chunks; 25 round trips at most on any backend."""
    db = Database(db_url, [Counted])
    db.migrate()
    dialect = db.dialect
    if not returning:
        if backend == "postgresql":
            pytest.skip("PostgreSQL always has RETURNING; there is no path without it")
        dialect.supports_returning = False  # type: ignore[misc]
    s = db.create_session()
    objs = [Counted(name=f"n{i}", n=i) for i in range(10_000)]
    s.add(*objs)
    before = _trips(db)
    s.commit()
    inserts = _trips(db) - before
    if dialect.supports_returning:
        per = min(dialect.max_rows_per_insert, dialect.max_params // 2)
        expected = _chunks(10_000, per)
    else:
        expected = _chunks(10_000, dialect.insert_ids_per_round_trip)
    many = not dialect.supports_returning
    assert inserts <= expected + _overhead(dialect, expected, executemany=many)

    for obj in objs[:1000]:
        obj.n += 1
    before = _trips(db)
    s.commit()
    updates = _trips(db) - before
    if dialect.update_form == "executemany":
        expected = _chunks(1000, dialect.executemany_rows_per_round_trip or 1000)
    elif dialect.update_form == "unnest":
        expected = 1
    else:
        expected = _chunks(1000, min(dialect.update_batch_rows, dialect.max_params // 3))
    assert updates <= expected + _overhead(dialect, expected)

    s.remove(*objs)
    before = _trips(db)
    s.commit()
    removes = _trips(db) - before
    per = dialect.max_params
    if not dialect.array_batches:
        per = min(dialect.max_rows_per_insert, per)
    expected = _chunks(10_000, per)
    assert removes <= expected + _overhead(dialect, expected)

    if backend != "sqlite":  # in-process SQLite without RETURNING: one call per row, no wire
        assert max(inserts, updates, removes) <= 25, (inserts, updates, removes)
    assert db.query(Counted).count() == 0
    print(f"round trips: insert 10k={inserts} update 1k={updates} remove 10k={removes}")
    db.close()


@entity.name("pair")
class Pair:
    org: Annotated[str, PrimaryKey, MaxLength(20)]
    member: Annotated[int, PrimaryKey]
    level: int = 0


def test_removing_3000_rows_with_a_composite_key_takes_a_few_round_trips(
    db_url: str, statements: StatementLog
) -> None:
    """Composite keys go as one statement per chunk — row values ``(org, member) IN ((?, ?),
    ...)`` on MariaDB, one array per key column on PostgreSQL — or, on in-process SQLite, as
    one executemany per chunk: a handful of round trips for 3,000 removals, not one per row.
    Only the removed rows go; the rest (same org, other members; other org, same members)
    stay."""
    db = Database(db_url, [Pair])
    db.migrate()
    dialect = db.dialect
    s = db.create_session()
    s.add(*[Pair(org=org, member=i) for org in ("acme", "bolt") for i in range(3_000)])
    s.commit()
    doomed = s.query(Pair).filter(org="acme").find()
    s.remove(*doomed[:2_999])
    statements.clear()
    before = _trips(db)
    assert s.commit().deletes == 2_999
    trips = _trips(db) - before
    deletes = [x for x in statements.dml() if x.startswith("DELETE")]
    if dialect.array_batches:
        per = dialect.array_delete_rows
    else:
        per = min(dialect.max_rows_per_insert, dialect.max_params // 2)
    chunks = _chunks(2_999, per)
    assert chunks <= 10
    if dialect.array_batches or dialect.row_value_deletes:
        assert len(deletes) == chunks, deletes
    else:  # one-row DELETE text, sent with executemany once per chunk
        assert len(deletes) == chunks and all(" AND " in d and " IN " not in d for d in deletes)
    # BEGIN and COMMIT around them (PostgreSQL: BEGIN and two chunks or more in one pipeline).
    pipelined = dialect.pipelines and chunks > 1
    assert trips <= (2 if pipelined else chunks + _overhead(dialect, chunks)), trips
    assert sorted((p.org, p.member) for p in db.query(Pair).find()) == [("acme", 2_999)] + [
        ("bolt", i) for i in range(3_000)
    ]
    db.close()


def test_a_one_statement_commit_is_begin_statement_commit_in_order(
    db_url: str, statements: StatementLog
) -> None:
    """The log shows BEGIN, the UPDATE, COMMIT in that order on every backend; where BEGIN
    travels in the statement's query text (MariaDB/MySQL) the commit takes 2 round trips,
    elsewhere 3 (PostgreSQL does not pipeline a lone statement)."""
    db = Database(db_url, [Counted])
    db.migrate()
    s = db.create_session()
    s.add(*[Counted(name=f"n{i}") for i in range(10)])
    s.commit()
    for obj in s.query(Counted).find()[::3]:
        obj.n = 7
    statements.clear()
    before = _trips(db)
    result = s.commit()
    assert result.statements == 1
    kinds = [sql.split()[0].upper() for sql in statements.sql]
    assert kinds in (["BEGIN", "UPDATE", "COMMIT"], ["START", "UPDATE", "COMMIT"])
    assert _trips(db) - before == _overhead(db.dialect, 1) + 1
    assert db.query(Counted).filter(n=7).count() == 4
    db.close()


def test_a_mixed_commit_is_one_round_trip_plus_commit_where_statements_pipeline(
    db_url: str, statements: StatementLog
) -> None:
    """5,000 inserts, 1,000 updates and 1,000 removes in one commit: BEGIN first, the INSERTs,
    the UPDATE, the DELETE, COMMIT last; where the dialect pipelines (PostgreSQL) all of it
    but COMMIT is one round trip, and every row ends up as staged."""
    db = Database(db_url, [Counted])
    db.migrate()
    s = db.create_session()
    s.add(*[Counted(name=f"old{i}") for i in range(2000)])
    s.commit()
    loaded = s.query(Counted).order_by("id").find()
    for obj in loaded[:1000]:
        obj.n = 5
    s.remove(*loaded[1000:])
    new = [Counted(name=f"new{i}") for i in range(5000)]
    s.add(*new)
    statements.clear()
    before = _trips(db)
    result = s.commit()
    assert (result.inserts, result.updates, result.deletes) == (5000, 1000, 1000)
    kinds = [sql.split()[0].upper() for sql in statements.sql]
    assert kinds[0] in ("BEGIN", "START") and kinds[-1] == "COMMIT"
    body = kinds[1:-1]
    assert body == sorted(body, key=["INSERT", "UPDATE", "DELETE"].index)
    if db.dialect.pipelines:
        assert _trips(db) - before == 2
    assert db.query(Counted).count() == 6000
    assert db.query(Counted).filter(n=5).count() == 1000
    assert len({o.id for o in new}) == 5000 and all(o.id > 0 for o in new)
    stored = {o.id: o.name for o in db.query(Counted).find()}
    assert all(stored[o.id] == o.name for o in new)
    db.close()
