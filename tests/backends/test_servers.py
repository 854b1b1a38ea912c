"""Server-only behaviour: lost connections mid-commit, URLs, drivers, error classification.

The kill tests end the ORM's own connection from a second connection (``pg_terminate_backend``
/ ``KILL``) at an exact moment: when the ``core.sql`` log announces the statement, just before
it is sent. Killed before an INSERT: a typed ``OrmConnectionError``, nothing saved, the session
intact, and a retry on a new connection succeeds. Killed before COMMIT:
``CommitOutcomeUnknownError`` (nobody can know whether COMMIT landed).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from typing import Annotated, Any

import pytest

from core import (
    AutoIncrement,
    CommitOutcomeUnknownError,
    ConfigurationError,
    ConflictError,
    Database,
    MaxLength,
    OrmConnectionError,
    PrimaryKey,
    adapter_from_url,
    entity,
    mask_url,
)

PID_SQL = {"postgresql": "SELECT pg_backend_pid()", "mysql": "SELECT CONNECTION_ID()"}
KILL_SQL = {"postgresql": "SELECT pg_terminate_backend(%s)", "mysql": "KILL %s"}
ALIVE_SQL = {
    "postgresql": "SELECT count(*) FROM pg_stat_activity WHERE pid = %s",
    "mysql": "SELECT count(*) FROM information_schema.PROCESSLIST WHERE ID = %s",
}


@entity.name("victim")
class Victim:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    name: Annotated[str, MaxLength(40)]


@pytest.fixture
def server(backend: str) -> str:
    if backend not in PID_SQL:
        pytest.skip("a server backend only")
    return backend


class _KillOn(logging.Handler):
    """Kills connection ``pid`` the first time a statement starting with ``prefix`` is logged."""

    def __init__(self, admin: Database, backend: str, pid: int, prefix: str) -> None:
        super().__init__(logging.DEBUG)
        self.admin, self.backend, self.pid, self.prefix = admin, backend, pid, prefix
        self.fired = False

    def emit(self, record: logging.LogRecord) -> None:
        sql = getattr(record, "sql", "")
        if self.fired or not sql.startswith(self.prefix):
            return
        self.fired = True
        conn = self.admin.connection()
        conn.execute(KILL_SQL[self.backend], (self.pid,))
        for _ in range(100):  # the kill is asynchronous on the server
            if conn.fetchall(ALIVE_SQL[self.backend], (self.pid,))[0][0] == 0:
                break
            time.sleep(0.02)


@pytest.fixture
def kill_on(db_url: str, server: str) -> Iterator[Any]:
    handlers: list[logging.Handler] = []
    logger = logging.getLogger("core.sql")
    old = logger.level
    admin = Database(db_url, [])

    def arm(db: Database, prefix: str) -> _KillOn:
        pid = db.connection().fetchall(PID_SQL[server])[0][0]
        handler = _KillOn(admin, server, pid, prefix)
        logger.setLevel(logging.DEBUG)
        logger.addHandler(handler)
        handlers.append(handler)
        return handler

    yield arm
    for h in handlers:
        logger.removeHandler(h)
    logger.setLevel(old)
    admin.close()


def test_connection_killed_mid_commit_keeps_session_and_retry_succeeds(
    db_url: str, kill_on: Any
) -> None:
    """Killed before the INSERT: OrmConnectionError, nothing saved, session intact, retry works."""
    db = Database(db_url, [Victim])
    db.migrate()
    s = db.create_session()
    s.add(Victim(name="seed"))
    s.commit()
    seed = s.query(Victim).find_one()
    seed.name = "changed"
    new = [Victim(name=f"v{i}") for i in range(2000)]
    s.add(*new)
    before = s.changes()
    handler = kill_on(db, "INSERT")
    with pytest.raises(OrmConnectionError) as exc:
        s.commit()
    assert handler.fired
    assert "cannot insert Victim" in str(exc.value)
    handler.fired = True  # disarmed
    check = Database(db_url, [Victim])
    assert [v.name for v in check.query(Victim).find()] == ["seed"]
    check.close()
    assert s.changes() == before and all(v.id == 0 for v in new)
    result = s.commit()  # Database dropped the broken connection and opens a new one
    assert (result.inserts, result.updates) == (2000, 1)
    assert db.query(Victim).count() == 2001
    assert db.query(Victim).filter(id=new[-1].id).find_one().name == "v1999"
    db.close()


def test_connection_killed_before_commit_answer_is_outcome_unknown(
    db_url: str, kill_on: Any
) -> None:
    """Lost when COMMIT is sent: CommitOutcomeUnknownError, and the next use reconnects."""
    db = Database(db_url, [Victim])
    db.migrate()
    s = db.create_session()
    s.add(Victim(name="maybe"))
    kill_on(db, "COMMIT")
    with pytest.raises(CommitOutcomeUnknownError) as exc:
        s.commit()
    assert "unknown whether" in str(exc.value)
    assert db.query(Victim).count() in (0, 1)  # a new connection answers
    db.close()


def test_connection_killed_before_a_load_is_one_error_and_the_next_load_reconnects(
    db_url: str, kill_on: Any
) -> None:
    """Killed as a 2,500-row load is sent: OrmConnectionError naming the query, no objects
    mapped; the next query opens a new connection and returns every row."""
    db = Database(db_url, [Victim])
    db.migrate()
    s = db.create_session()
    s.add(*[Victim(name=f"v{i}") for i in range(2_500)])
    s.commit()
    handler = kill_on(db, "SELECT")
    with pytest.raises(OrmConnectionError) as exc:
        s.query(Victim).find()
    assert handler.fired
    assert str(exc.value).startswith("cannot query Victim")
    assert len(s.query(Victim).find()) == 2_500
    db.close()


def test_connection_lost_partway_through_a_load_is_one_error(db_url: str, server: str) -> None:
    """PostgreSQL streams a large result as the client reads it (``unbuffered``, as
    ``Query.stream`` reads): killed after the first chunk arrived, the rest fails as a lost
    connection, and the next statement reconnects."""
    if server != "postgresql":
        pytest.skip("PyMySQL reads a whole result before the first row is returned")
    db = Database(db_url, [])
    conn = db.connection()
    pid = conn.fetchall(PID_SQL[server])[0][0]
    chunks = conn.stream(
        "SELECT g, repeat('x', 50) FROM generate_series(1, 3000000) g", unbuffered=True
    )
    assert len(next(chunks)) == 1_000
    admin = Database(db_url, [])
    admin.connection().execute(KILL_SQL[server], (pid,))
    admin.close()
    with pytest.raises(OrmConnectionError):
        for _ in chunks:
            pass
    assert db.connection().fetchall("SELECT 1") == [(1,)]
    db.close()


def test_urls_mask_passwords_and_pass_query_parameters(server: str, db_url: str) -> None:
    """url_display hides the password; unknown schemes and bad URLs are one-line errors."""
    scheme = "postgresql" if server == "postgresql" else "mysql"
    url = f"{scheme}://alice:s3cr%40t@db.example:5433/app?connect_timeout=3"
    adapter = adapter_from_url(url)
    assert adapter.url_display == f"{scheme}://alice:***@db.example:5433/app?connect_timeout=3"
    assert "s3cr" not in repr(adapter) and mask_url(url) == adapter.url_display
    assert Database(url, []).url_display == adapter.url_display
    with pytest.raises(OrmConnectionError) as exc:
        Database(f"{scheme}://alice:s3cret@127.0.0.1:1/app?connect_timeout=2", []).connection()
    assert "s3cret" not in str(exc.value) and "alice:***@" in str(exc.value)
    # The test's own per-test database/schema reaches the server through the URL.
    db = Database(db_url, [Victim])
    db.migrate()
    assert db.migration_plan().empty
    db.close()


@pytest.mark.parametrize(
    ("url", "module", "extra"),
    [("postgresql://u@h/db", "psycopg", "postgres"), ("mariadb://u@h/db", "pymysql", "mysql")],
)
def test_missing_driver_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, url: str, module: str, extra: str
) -> None:
    """Without the driver: one line that says which extra to install."""
    for name in list(sys.modules):
        ours = name.startswith("core.adapters.") and name != "core.adapters.sqlite"
        if ours or name == module or name.startswith(module + "."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(ConfigurationError) as exc:
        adapter_from_url(url)
    message = str(exc.value)
    assert f'pip install "ormcli[{extra}]"' in message and "\n" not in message


def test_driver_errors_are_classified() -> None:
    """Deadlocks and serialization failures are conflicts; lost connections are typed."""
    import psycopg
    import pymysql

    from core.dialects.mysql import MySQLDialect
    from core.dialects.postgres import PostgresDialect

    pg, my = PostgresDialect(), MySQLDialect()
    for exc in (psycopg.errors.DeadlockDetected("x"), psycopg.errors.SerializationFailure("x")):
        assert isinstance(pg.translate_error(exc, {}, "cannot update User"), ConflictError)
    lost = psycopg.OperationalError("server closed the connection unexpectedly")
    assert isinstance(pg.translate_error(lost, {}, "c"), OrmConnectionError)
    assert isinstance(
        pg.translate_error(psycopg.errors.AdminShutdown("x"), {}, "c"), OrmConnectionError
    )
    for code in (1213, 1205):
        err = pymysql.err.OperationalError(code, "Deadlock found")
        assert isinstance(my.translate_error(err, {}, "cannot update User"), ConflictError)
    for code in (2006, 2013, 1927):
        err = pymysql.err.OperationalError(code, "Lost connection")
        assert isinstance(my.translate_error(err, {}, "c"), OrmConnectionError)
    dup = pymysql.err.IntegrityError(1062, "Duplicate entry 'a' for key 'uq_user_email'")
    ie = my.translate_error(dup, {"user": "User"}, "cannot insert User")
    assert (ie.entity, ie.field, ie.constraint) == ("User", "email", "uq_user_email")  # type: ignore[attr-defined]
