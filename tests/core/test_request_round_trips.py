"""What one request costs on the wire: pool checkouts, statements and round trips, counted by the
driver (not by ormcli's own counters).

A request handler (scenario R of ``bench/requests.py``) loads a row by key, changes a field and
commits in ``with database.transaction() as session:``. It must cost what the raw handler costs:
one checkout, then BEGIN, SELECT, UPDATE, COMMIT in one transaction, released at the end. Where
BEGIN can travel in the SELECT's query text (MariaDB) that is three round trips, and from the
third transaction in a row on a connection there is no BEGIN at all (the second turned
autocommit off, as PyMySQL's defaults have it, and the SELECT opens the transaction); PostgreSQL
sends BEGIN alone, as psycopg's defaults do (four: pipelining it with the SELECT costs more
client CPU than the round trip). A statement outside a transaction still leaves none open
(the driver's own transaction state is read). SQLite keeps a scoped session's reads outside its
transaction (``BEGIN IMMEDIATE`` would take the database's write lock from the first read), and its
statements are library calls, not round trips. Counts cannot flake on timing: each is an exact
number.

The driver's view: PostgreSQL's libpq trace (a round trip is a batch of messages sent before
the next answer is read; a statement is a Parse or simple Query message), PyMySQL's commands
(one per round trip; statements are the ``;``-separated parts of a query text), SQLite's trace
callback (each statement run by the library).
"""

from __future__ import annotations

import re
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any

import pytest

from core import (
    Database,
    DatabaseError,
    IntegrityError,
    MaxLength,
    PrimaryKey,
    Unique,
    entity,
)
from core.connection import Connection


@entity.name("rq_item")
class Item:
    id: Annotated[int, PrimaryKey]
    n: int = 0
    label: Annotated[str, Unique, MaxLength(50)] = ""


@dataclass
class Wire:
    """What a driver sent: statements (SQL text, one per statement) and round trips."""

    statements: list[str] = field(default_factory=list)
    round_trips: int = 0


@contextmanager
def _sqlite_trace(raw: sqlite3.Connection, wire: Wire) -> Iterator[None]:
    def seen(sql: str) -> None:
        wire.statements.append(sql)
        wire.round_trips += 1  # (in-process: a call into the library)

    raw.set_trace_callback(seen)
    try:
        yield
    finally:
        raw.set_trace_callback(None)


@contextmanager
def _libpq_trace(raw: Any, wire: Wire) -> Iterator[None]:
    import psycopg

    with tempfile.TemporaryFile("w+") as out:
        raw.pgconn.trace(out.fileno())
        raw.pgconn.set_trace_flags(
            psycopg.pq.Trace.SUPPRESS_TIMESTAMPS | psycopg.pq.Trace.REGRESS_MODE
        )
        try:
            yield
        finally:
            raw.pgconn.untrace()
        out.seek(0)
        sending = False
        for line in out.read().splitlines():
            direction, _, message = line.partition("\t")
            if direction == "F" and not sending:
                wire.round_trips += 1
            if direction in ("F", "B"):
                sending = direction == "F"
            if direction == "F":
                found = re.match(r'\d+\tParse\t "[^"]*" "(.*)" \d+', message) or re.match(
                    r'\d+\tQuery\t "(.*)"$', message
                )
                if found:
                    wire.statements.append(found.group(1))


@contextmanager
def _pymysql_trace(raw: Any, wire: Wire) -> Iterator[None]:
    send = raw._execute_command

    def counted(command: int, sql: Any) -> Any:
        wire.round_trips += 1
        text = sql.decode() if isinstance(sql, bytes) else str(sql)
        wire.statements.extend(part.strip() for part in text.split(";") if part.strip())
        return send(command, sql)

    raw._execute_command = counted
    try:
        yield
    finally:
        del raw._execute_command


@contextmanager
def on_the_wire(conn: Connection) -> Iterator[Wire]:
    """What ``conn``'s driver sends inside the block."""
    wire = Wire()
    raw = conn.raw
    if isinstance(raw, sqlite3.Connection):
        trace = _sqlite_trace(raw, wire)
    elif type(raw).__module__.startswith("psycopg"):
        trace = _libpq_trace(raw, wire)
    else:
        trace = _pymysql_trace(raw, wire)
    with trace:
        yield wire


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url, [Item])
    database.migrate()
    s = database.create_session()
    s.add(*(Item(id=i, n=0, label=f"item {i}") for i in range(1, 6)))
    s.commit()
    yield database
    database.close()


class Checkouts:
    """Counts ``pool.acquire`` calls (the pool's own behaviour is unchanged)."""

    def __init__(self, db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        acquire = db.pool.acquire

        def counted(timeout: float | None = None) -> Connection:
            self.count += 1
            return acquire(timeout)

        monkeypatch.setattr(db.pool, "acquire", counted)


def _folds_begin(db: Database) -> bool:
    """BEGIN travels in the query text of the transaction's first statement."""
    return bool(db.dialect.begin_joins)


def _verb(sql: str) -> str:
    return sql.split()[0].upper()


def test_a_get_change_commit_request_costs_what_the_raw_handler_costs(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One checkout, BEGIN + SELECT by key + UPDATE + COMMIT, three round trips where BEGIN
    travels in the SELECT's text, else four; the connection is back in the pool afterwards.
    SQLite reads outside the transaction: two checkouts, four library calls."""
    conn = db.connection()  # the connection the request will get (the pool's last used)
    checkouts = Checkouts(db, monkeypatch)
    with on_the_wire(conn) as wire, db.transaction() as session:
        item = session.get(Item, 3)
        assert item is not None
        item.n += 1
    verbs = [_verb(s) for s in wire.statements]
    assert verbs.count("SELECT") == 1 and verbs.count("UPDATE") == 1
    assert verbs.count("COMMIT") == 1 and len(verbs) == 4  # the fourth: BEGIN
    assert verbs[-1] == "COMMIT" and verbs[-2] == "UPDATE"
    if db.dialect.scoped_reads_in_transaction:
        assert verbs[1] == "SELECT"  # the read inside the transaction
        assert checkouts.count == 1
        assert wire.round_trips == (3 if _folds_begin(db) else 4)
    else:
        assert verbs[0] == "SELECT"
        assert checkouts.count == 2
        assert wire.round_trips == 4
    assert db.pool.in_use == 0
    assert db.query(Item).by_pk(3).find_one().n == 1


def _driver_in_transaction(raw: Any) -> bool:
    """Whether the driver connection has a transaction open, as the driver reports it."""
    if isinstance(raw, sqlite3.Connection):
        return raw.in_transaction
    if type(raw).__module__.startswith("psycopg"):
        import psycopg

        return bool(raw.info.transaction_status != psycopg.pq.TransactionStatus.IDLE)
    return bool(raw.server_status & 1)  # PyMySQL: SERVER_STATUS_IN_TRANS of the last reply


def _request(db: Database, key: int) -> None:
    with db.transaction() as session:
        item = session.get(Item, key)
        assert item is not None
        item.n += 1


def test_requests_in_a_row_on_one_connection_send_no_begin_where_autocommit_goes_off(
    db: Database,
) -> None:
    """From the third transaction in a row on a connection (the fixture's commit was the
    first), MariaDB sends SELECT, UPDATE, COMMIT only: three statements, three round trips;
    elsewhere every request sends what the first one does."""
    conn = db.connection()
    _request(db, 1)
    for key in (2, 3):
        with on_the_wire(conn) as wire:
            _request(db, key)
        verbs = [_verb(s) for s in wire.statements]
        if db.dialect.autocommit_off_sql is not None:
            assert verbs == ["SELECT", "UPDATE", "COMMIT"] and wire.round_trips == 3
        elif db.dialect.scoped_reads_in_transaction:
            assert verbs == ["BEGIN", "SELECT", "UPDATE", "COMMIT"] and wire.round_trips == 4
        else:
            assert verbs == ["SELECT", "BEGIN", "UPDATE", "COMMIT"]
        assert not _driver_in_transaction(conn.raw) and db.pool.in_use == 0
    assert [db.query(Item).by_pk(k).find_one().n for k in (1, 2, 3)] == [1, 1, 1]


def test_statements_outside_a_transaction_after_requests_leave_none_open(
    db: Database, db_url: str
) -> None:
    """On the connection requests ran on (autocommit off on MariaDB), an untracked query, a
    session's get by key, a raw query and a statement run alone each leave no transaction
    open, and each sees what another connection committed since the one before (no snapshot
    kept); requests between them still run as one transaction each."""
    conn = db.connection()
    other = Database(db_url, [Item])
    q = db.dialect.quote
    reads = [
        lambda: db.query(Item).by_pk(4).find_one().n,
        lambda: db.create_session().get(Item, 4).n,  # type: ignore[union-attr]
        lambda: db.raw_rows(f"SELECT {q('n')} FROM {q('rq_item')} WHERE {q('id')} = 4")[0][0],
    ]
    try:
        for read in reads * 2:
            _request(db, 5)
            _request(db, 5)
            before = read()
            assert not _driver_in_transaction(conn.raw)
            _request(other, 4)
            assert read() == before + 1
            assert not _driver_in_transaction(conn.raw) and db.pool.in_use == 0
        _request(db, 5)
        with db.pool.connection() as same:
            assert same is conn
            same.execute(f"UPDATE {q('rq_item')} SET {q('n')} = 0 WHERE {q('id')} = 1")
        assert not _driver_in_transaction(conn.raw)
        assert other.query(Item).by_pk(1).find_one().n == 0
    finally:
        other.close()
    assert db.query(Item).by_pk(5).find_one().n == 13


@entity.name("rq_gone")
class Gone:
    id: Annotated[int, PrimaryKey]


def test_a_request_whose_first_statement_fails_leaves_its_connection_clean(db_url: str) -> None:
    """A transaction whose first statement fails on the server (its table was dropped) — the
    one that turns autocommit off on MariaDB, and one on a connection already running without
    it — is rolled back: nothing left open, the connection kept, and what runs next on it
    behaves as ever (a statement outside a transaction autocommits, a request commits)."""
    database = Database(db_url, [Item, Gone])
    database.migrate()
    q = database.dialect.quote
    try:
        conn = database.connection()
        conn.execute(f"DROP TABLE {q('rq_gone')}")
        _request_or_add(database)
        for _ in range(2):
            with pytest.raises(DatabaseError), database.transaction() as session:
                session.get(Gone, 1)
            assert database.connection() is conn and not conn.broken
            assert not conn.in_transaction and not _driver_in_transaction(conn.raw)
            conn.execute(f"UPDATE {q('rq_item')} SET {q('n')} = 5 WHERE {q('id')} = 1")
            assert not _driver_in_transaction(conn.raw)
            with Database(db_url, [Item]) as other:
                assert other.query(Item).by_pk(1).find_one().n == 5  # (it autocommitted)
            _request(database, 1)
            _request(database, 1)
        assert database.query(Item).by_pk(1).find_one().n == 7
    finally:
        database.close()


def _request_or_add(database: Database) -> None:
    """The fixture's row 1 for a database of its own (one committed transaction)."""
    session = database.create_session()
    session.add(Item(id=1, n=0, label="item 1"))
    session.commit()


def test_a_get_by_key_outside_a_transaction_is_one_statement_and_none_when_mapped(
    db: Database,
) -> None:
    """``session.get`` of a row not yet loaded: one SELECT in one round trip, no BEGIN and no
    ROLLBACK around it; of the same key again: nothing sent (the identity map answers)."""
    session = db.create_session()
    conn = db.connection()
    with on_the_wire(conn) as first:
        item = session.get(Item, 2)
    with on_the_wire(conn) as again:
        assert session.get(Item, 2) is item
    assert [_verb(s) for s in first.statements] == ["SELECT"]
    assert first.round_trips == 1
    assert again.statements == [] and again.round_trips == 0
    assert item is not None and (item.id, item.n, item.label) == (2, 0, "item 2")
    assert session.get(Item, 99) is None
    assert not session.in_transaction and db.pool.in_use == 0


def test_a_scoped_session_holds_its_connection_only_while_its_transaction_is_open(
    db: Database,
) -> None:
    """Inside ``transaction()`` the first read opens the transaction where the dialect reads
    inside it (one connection held to the end); after the block nothing is held."""
    with db.transaction() as session:
        session.get(Item, 1)
        held = session.in_transaction
        assert db.pool.in_use == (1 if held else 0)
        assert held == db.dialect.scoped_reads_in_transaction
    assert not session.in_transaction and db.pool.in_use == 0


def test_a_failed_commit_of_a_scoped_request_rolls_back_and_releases_the_connection(
    db: Database,
) -> None:
    """A commit that breaks a unique constraint fails as a whole: nothing written, the
    connection rolled back and returned, the error names the entity and field; the block's
    session kept the staged change until it closed."""
    with pytest.raises(IntegrityError) as info, db.transaction() as session:
        item = session.get(Item, 1)
        assert item is not None
        item.n = 7
        item.label = "item 2"  # taken by row 2
        try:
            session.commit()
        except IntegrityError:
            assert session.changes().updates  # staged work kept
            raise
    assert "Item" in str(info.value) and "label" in str(info.value)
    assert db.pool.in_use == 0
    conn = db.connection()
    assert not conn.in_transaction and not _driver_in_transaction(conn.raw)
    stored = db.query(Item).by_pk(1).find_one()
    assert (stored.n, stored.label) == (0, "item 1")
    with db.transaction() as session:  # the pooled connection serves the next request
        again = session.get(Item, 1)
        assert again is not None
        again.n += 1
    assert db.query(Item).by_pk(1).find_one().n == 1
