"""The test suite's backend switch: which databases to run on, and a fresh database per test.

``ORMCLI_TEST_DATABASES`` lists backends, comma-separated: ``sqlite`` and/or server URLs such
as ``postgresql://postgres@127.0.0.1:5432/test`` and ``mysql://root@127.0.0.1:3306/test``.
Unset, it is ``sqlite`` plus those two local servers, which are skipped (with the reason)
when they cannot be reached — unless ``CI=true``, where an unreachable server fails the run.
Each test gets its own database: a temporary SQLite file, a PostgreSQL schema (via
``search_path``), or a MariaDB database, dropped afterwards. Callers: ``tests/conftest.py``.

On PostgreSQL a test run first makes a database of its own (``run_database``) and puts its
per-test schemas there; dropping it at the end takes every catalog row the run's schemas left
dead with it. In the shared database those dead rows stayed: on a server with autovacuum off
``pg_attribute`` grew by about 23 MB a run (``pg_class`` 3 MB), every catalog read (migrate's
schema reader scans ``pg_class``) slowed with them, and the suite with it (docs/backends.md).
A database of its own also keeps ``CREATE INDEX CONCURRENTLY`` (which waits for every older
transaction of its database) from waiting for other suites' transactions. Where the role may
not create databases the run uses the given one, as before.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_MYSQL = "mysql://root@127.0.0.1:3306/test"


def configured() -> list[str]:
    raw = os.environ.get("ORMCLI_TEST_DATABASES")
    if raw is None:
        return ["sqlite", DEFAULT_PG, DEFAULT_MYSQL]
    return [item.strip() for item in raw.split(",") if item.strip()]


def backend_name(url: str) -> str:
    if url == "sqlite" or url.startswith("sqlite:"):
        return "sqlite"
    scheme = url.split("://", 1)[0].split("+", 1)[0]
    return {"postgres": "postgresql", "mariadb": "mysql"}.get(scheme, scheme)


def _unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def _with_path(url: str, path: str, query: str | None = None) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=path, query=query if query is not None else parts.query))


def check_reachable(url: str) -> str | None:
    """None when the server answers, else the reason it cannot be used."""
    name = backend_name(url)
    if name == "sqlite":
        return None
    try:
        from core import Database

        db = Database(url, [])
        db.connection().fetchall("SELECT 1")
        db.close()
    except Exception as exc:
        return f"{name} at {_masked(url)} is not reachable: {str(exc).splitlines()[0]}"
    return None


def _masked(url: str) -> str:
    from core import mask_url

    return mask_url(url)


def _admin(url: str) -> Any:
    from core import Database

    return Database(url, []).connection()


@contextmanager
def run_database(url: str) -> Iterator[str]:
    """The URL a test run makes its per-test databases under: on PostgreSQL a database made
    for this run and dropped after it (connections left open by tests included); the given
    URL itself on the other backends, or when the server refuses ``CREATE DATABASE``."""
    if backend_name(url) != "postgresql":
        yield url
        return
    from core import DatabaseError

    name = _unique("ormcli_run")
    admin = _admin(url)
    try:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    except DatabaseError:
        admin.close()
        yield url
        return
    try:
        yield _with_path(url, "/" + name)
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@contextmanager
def fresh_database(url: str, tmp_path: Path) -> Iterator[str]:
    """A URL to an empty database of this backend, removed after the test."""
    name = backend_name(url)
    if name == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    if name == "postgresql":
        schema = _unique("t")
        admin = _admin(url)
        admin.execute(f'CREATE SCHEMA "{schema}"')
        opts = quote(f"-csearch_path={schema}")
        parts = urlsplit(url)
        query = "&".join(q for q in [parts.query, f"options={opts}"] if q)
        try:
            yield _with_path(url, parts.path, query)
        finally:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
            admin.close()
        return
    if name == "mysql":
        dbname = _unique("t")
        admin = _admin(url)
        admin.execute(f"CREATE DATABASE `{dbname}`")
        try:
            yield _with_path(url, "/" + dbname)
        finally:
            admin.execute(f"DROP DATABASE IF EXISTS `{dbname}`")
            admin.close()
        return
    raise ValueError(f"unknown test backend {url!r}")


def sqlite_path(url: str) -> Path | None:
    m = re.match(r"sqlite:///(.+)", url)
    return Path(m.group(1)) if m else None
