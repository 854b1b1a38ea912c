"""``lock_timeout`` bounds the DDL's own lock waits, not only the wait for another migrator.

A second connection holds an open transaction that read the table (PostgreSQL: ACCESS SHARE,
which an ``ALTER`` must wait for; MariaDB: the metadata lock; SQLite: a SHARED lock, which the
COMMIT must wait for). migrate then stops after about ``lock_timeout`` seconds with one line
naming the statement or table that waited and that nothing was applied; the error is a
``ConflictError`` (exit 4 from the CLI: run again), the connection's own lock-wait settings
are given back, and once the reader is gone the same migrate runs and converges, rows kept.
On every backend.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import pytest

from core import (
    AutoIncrement,
    ConflictError,
    Database,
    Index,
    MaxLength,
    MigrationError,
    MigrationLockTimeoutError,
    PrimaryKey,
)
from core.migrations.files import Directory, apply, plan_file
from core.migrations.history import History
from core.migrations.runner import MigrateOptions
from tests.cli.helpers import invoke
from tests.migrations.models import model

ID = (Annotated[int, PrimaryKey, AutoIncrement], 0)
TIMEOUT = 1.0
#: How long a bounded wait may take in all (the server's own granularity, a loaded machine).
BOUND = 15.0


def _v1() -> type:
    return model({"id": ID, "title": (str, "")})


def _v2() -> type:
    return model({"id": ID, "title": (Annotated[str, Index], ""), "rating": (int, 0)})


def _setup(db_url: str, target: type | None = None) -> Database:
    db = Database(db_url, [_v1()])
    db.migrate()
    with db.pool.connection() as conn:
        conn.begin()
        conn.executemany(
            "INSERT INTO item (title) VALUES (%s)".replace("%s", db.dialect.placeholder),
            [("a",), ("b",)],
        )
        conn.commit()
    db.close()
    return Database(db_url, [target or _v2()])


@contextlib.contextmanager
def _reader(db: Database, db_url: str) -> Iterator[None]:
    """An open transaction on another connection that has read ``item``."""
    if db.dialect.name == "sqlite":
        raw = sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None)
        raw.execute("BEGIN")
        raw.execute("SELECT * FROM item").fetchall()
        try:
            yield
        finally:
            raw.execute("ROLLBACK")
            raw.close()
        return
    holder = Database(db_url, [])
    with holder.pool.connection() as conn:
        conn.begin()
        conn.fetchall("SELECT * FROM item")
        try:
            yield
        finally:
            conn.rollback()
    holder.close()


def _lock_waits(db: Database) -> Any:
    with db.pool.connection() as conn:
        return db.dialect.get_lock_waits(conn)


def _assert_nothing_applied(db: Database) -> None:
    plan = db.migration_plan()
    assert {op.kind for op in plan.ops} == {"add_column", "create_index"}


def test_an_alter_behind_an_open_reader_stops_at_the_lock_timeout(db_url: str) -> None:
    """The reader's transaction stays open; migrate gives up after ~lock_timeout with one
    line naming the table (or the COMMIT, on SQLite) and 'nothing was applied'; afterwards
    the same migrate runs, converges, and the rows are there."""
    db = _setup(db_url)
    before = _lock_waits(db)
    with _reader(db, db_url):
        started = time.monotonic()
        with pytest.raises(MigrationLockTimeoutError) as caught:
            db.migrate(lock_timeout=TIMEOUT)
        waited = time.monotonic() - started
    message = str(caught.value)
    assert isinstance(caught.value, ConflictError) and isinstance(caught.value, MigrationError)
    assert TIMEOUT * 0.5 <= waited < BOUND
    assert "\n" not in message
    assert f"waited {TIMEOUT:g} s" in message and "--lock-timeout" in message
    if db.dialect.name == "sqlite":
        assert "could not commit" in message
    else:
        assert "table item" in message
    assert "no statement of it is applied" in message or "nothing was applied" in message
    assert _lock_waits(db) == before  # the connection's settings are given back
    if db.dialect.transactional_ddl:
        _assert_nothing_applied(db)
    plan = db.migrate(lock_timeout=TIMEOUT)
    assert plan.applied > 0
    assert db.migration_plan().empty
    with db.pool.connection() as conn:
        rows = conn.fetchall("SELECT title, rating FROM item ORDER BY id")
        assert [tuple(r) for r in rows] == [("a", 0), ("b", 0)]
        history = History(conn).rows()
    assert history[-1].complete
    db.close()


def test_the_cli_says_one_line_and_exits_4_then_resumes(db_url: str, tmp_path: Any) -> None:
    """`ormcli migrate --lock-timeout 1` behind a reader: one `error:` line naming what
    waited, exit 4 (a concurrent transaction got in the way: run again); the next run
    applies the plan."""
    db = _setup(db_url)
    models = tmp_path / "m.py"
    models.write_text(
        "from typing import Annotated\n"
        "from core import AutoIncrement, Index, PrimaryKey, entity\n"
        "@entity.name('item')\n"
        "class Item:\n"
        "    id: Annotated[int, PrimaryKey, AutoIncrement] = 0\n"
        "    title: Annotated[str, Index] = ''\n"
        "    rating: int = 0\n"
    )
    base = ["--db", db_url, "--models", str(models), "migrate"]
    with _reader(db, db_url):
        result = invoke([*base, "--lock-timeout", "1"])
    assert result.exit_code == 4, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "--lock-timeout" in lines[0] and "Traceback" not in result.output
    again = invoke(base)
    assert again.exit_code == 0, again.output
    assert db.migration_plan().empty
    db.close()


def test_an_online_index_waiting_for_old_transactions_is_bounded(db_url: str, backend: str) -> None:
    """PostgreSQL: CREATE INDEX CONCURRENTLY waits for every older transaction to end; with
    --online behind an open reader it stops at the lock timeout too, says which statements
    stay applied, and a run after the reader ends finishes the plan."""
    if backend != "postgresql":
        pytest.skip("CREATE INDEX CONCURRENTLY is PostgreSQL's")
    db = _setup(db_url, model({"id": ID, "title": (Annotated[str, Index], "")}))
    with _reader(db, db_url):
        started = time.monotonic()
        with pytest.raises(MigrationLockTimeoutError) as caught:
            db.migrate(online=True, lock_timeout=TIMEOUT)
        waited = time.monotonic() - started
    assert waited < BOUND
    message = str(caught.value)
    assert "CONCURRENTLY" in message and "table item" in message
    assert "no statement of it is applied and recorded in ormcli_migrations" in message
    assert _lock_waits(db) == "0"
    # CONCURRENTLY waits for every older transaction of the (shared) database: no hurry.
    db.migrate(online=True, lock_timeout=600)
    assert db.migration_plan().empty
    db.close()


def test_a_file_stopped_by_a_lock_wait_resumes_with_apply(db_url: str, tmp_path: Path) -> None:
    """A versioned file whose first statement (a new table) goes through and whose second
    (the ALTER of the read table) waits: SQLite and PostgreSQL roll all of it back; MariaDB
    keeps statement 1, records it, and says where it continues. Once the reader is gone,
    `apply` finishes the file (MariaDB: from statement 2) and the plan converges."""
    title = Annotated[str, MaxLength(40)]
    other = model({"id": ID, "name": (title, "")}, name="other", cls_name="Other")
    db = Database(db_url, [model({"id": ID, "title": (title, "")})])
    db.migrate()
    db.close()
    item = model(
        {"id": ID, "title": (Annotated[str, MaxLength(40), Index], ""), "rating": (int, 0)}
    )
    db = Database(db_url, [item, other])
    directory = Directory(tmp_path)
    assert plan_file(db, directory, "widen", {}).path is not None
    with _reader(db, db_url), pytest.raises(MigrationLockTimeoutError) as caught:
        apply(db, directory, MigrateOptions(lock_timeout=TIMEOUT))
    with db.pool.connection() as conn:
        rows = [r for r in History(conn).rows() if r.kind == "file"]
    if db.dialect.transactional_ddl:
        assert rows == [] and "nothing was applied" in str(caught.value)
    else:
        assert [(r.statements_applied, r.complete) for r in rows] == [(1, False)]
        assert "statements 1-1 of" in str(caught.value)
        assert "it continues from statement 2" in str(caught.value)
    plans = apply(db, directory, MigrateOptions(lock_timeout=TIMEOUT))
    assert [p.applied == len(p.sql) for p in plans] == [True]
    with db.pool.connection() as conn:
        rows = [r for r in History(conn).rows() if r.kind == "file"]
    assert [(r.name, r.complete) for r in rows] == [("0001_widen", True)]
    assert db.migration_plan().empty
    db.close()
