"""The suite's own set-up on PostgreSQL: a run's per-test schemas live in a database of its own.

``tests/backends.run_database`` makes that database when the run starts and drops it when the
run ends, so the catalog rows the dropped schemas leave dead (never vacuumed on a server with
autovacuum off) go with it instead of slowing every later run in the shared database. The
other backends use the configured URL as it is.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from core import Database
from tests import backends


def _current_database(url: str) -> str:
    db = Database(url, [])
    try:
        name: str = db.connection().fetchall("SELECT current_database()")[0][0]
        return name
    finally:
        db.close()


def _configured_postgres() -> str:
    return next(u for u in backends.configured() if backends.backend_name(u) == "postgresql")


def test_a_tests_schema_is_in_the_runs_own_database(db_url: str, backend: str) -> None:
    """db_url on PostgreSQL points into ``ormcli_run_<hex>``, not the configured database."""
    if backend != "postgresql":
        pytest.skip("the run's own database is PostgreSQL's (its catalogs keep dead rows)")
    name = _current_database(db_url)
    assert name.startswith("ormcli_run_")
    assert name != urlsplit(_configured_postgres()).path.lstrip("/")


def test_the_runs_database_is_dropped_with_a_connection_still_open(backend: str) -> None:
    """run_database drops what it made when it ends, also while a connection a test left
    open is still in it; on SQLite and MariaDB it hands back the URL unchanged."""
    if backend != "postgresql":
        url = "sqlite" if backend == "sqlite" else backends.DEFAULT_MYSQL
        with backends.run_database(url) as same:
            assert same == url
        return
    configured = _configured_postgres()
    with backends.run_database(configured) as url:
        name = _current_database(url)
        left_open = Database(url, [])
        left_open.connection().fetchall("SELECT 1")
    left_open.close()  # after the drop: its connection was ended by the server
    admin = Database(configured, [])
    try:
        rows = admin.connection().fetchall(
            "SELECT count(*) FROM pg_database WHERE datname = %s", (name,)
        )
    finally:
        admin.close()
    assert rows[0][0] == 0
