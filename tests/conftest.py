"""Fixtures shared by every suite: the backend switch and a fresh database per test.

Every test that takes ``db_url`` runs once per configured backend (see ``tests/backends.py``):
``ORMCLI_TEST_DATABASES=sqlite,postgresql://...,mysql://...``. Unreachable servers are skipped
with the reason, or fail the run when ``CI=true``. ``requires(capability)`` skips by what a
backend can do, never by its name.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import backends

_REACHABLE: dict[str, str | None] = {}


def _reason(url: str) -> str | None:
    if url not in _REACHABLE:
        _REACHABLE[url] = backends.check_reachable(url)
    return _REACHABLE[url]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend_url" in metafunc.fixturenames:
        urls = backends.configured()
        metafunc.parametrize(
            "backend_url",
            urls,
            ids=[backends.backend_name(u) for u in urls],
            scope="session",
            indirect=True,
        )


@pytest.fixture(scope="session")
def backend_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The backend's URL for this run: on PostgreSQL a database of the run's own, dropped at
    the end (``backends.run_database``: the catalog rows its schemas leave go with it)."""
    url: str = request.param
    reason = _reason(url)
    if reason is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and the server suite cannot run: {reason}", pytrace=False)
        pytest.skip(reason)
    with backends.run_database(url) as run_url:
        yield run_url


@pytest.fixture
def backend(backend_url: str) -> str:
    """The backend's name: sqlite, postgresql or mysql."""
    return backends.backend_name(backend_url)


@pytest.fixture
def db_url(backend_url: str, tmp_path: Path) -> Iterator[str]:
    """A URL to an empty database on the backend under test."""
    with backends.fresh_database(backend_url, tmp_path) as url:
        yield url


class StatementLog(logging.Handler):
    """Collects the statements sent on ``core.sql`` (``assertQueryCount`` in peewee's words)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if hasattr(record, "sql"):
            self.records.append(record)

    @property
    def sql(self) -> list[str]:
        return [r.sql for r in self.records]  # type: ignore[attr-defined]

    def dml(self) -> list[str]:
        """Statements other than BEGIN / COMMIT / ROLLBACK."""
        skip = ("BEGIN", "COMMIT", "ROLLBACK", "START TRANSACTION", "SET ", "SAVEPOINT", "RELEASE")
        return [s for s in self.sql if not s.upper().startswith(skip)]

    def clear(self) -> None:
        self.records.clear()


@pytest.fixture
def statements() -> Iterator[StatementLog]:
    """Every statement sent while the test runs (the ``core.sql`` logger at DEBUG)."""
    handler = StatementLog()
    logger = logging.getLogger("core.sql")
    old = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)


def requires(capability: str) -> Any:
    """Skip a test on dialects without ``capability`` (an attribute of the dialect)."""
    return pytest.mark.requires(capability)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "requires(capability): skip unless the dialect has it")
