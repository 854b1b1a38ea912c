"""The SQLite adapter: stdlib ``sqlite3``, foreign keys on, transactions managed by the ORM.

Connections are opened in autocommit mode (``isolation_level=None``) so that the ORM sends its
own ``BEGIN IMMEDIATE`` / ``COMMIT``; ``PRAGMA foreign_keys = ON`` is set on each, and two
functions are registered: ``ormcli_lower`` (``str.lower``, for ``ilike``) and ``regexp``
(``re.search``, for ``matches``). A ``:memory:``
database lives in its one connection, so the adapter asks the database to share it. A writer
that finds the file locked by another connection's transaction waits up to ``timeout`` seconds
(``sqlite:///app.db?timeout=2``; 5 by default), then the statement fails with a
``ConflictError`` saying the database is locked. Callers:
``core.adapters.adapter_from_url``, user code. What it leaves out: SQL (``core.dialects.sqlite``).
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

from core.adapters import Adapter
from core.dialects.sqlite import SQLiteDialect
from core.errors import ConfigurationError, OrmConnectionError
from core.url import DatabaseURL, parse_url

__all__ = ["SQLiteAdapter"]


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _regexp(pattern: Any, value: Any) -> bool | None:
    if pattern is None or value is None:
        return None
    return re.search(pattern, value if isinstance(value, str) else str(value)) is not None


class SQLiteAdapter(Adapter):
    """``SQLiteAdapter("app.db")`` or ``SQLiteAdapter(":memory:")``."""

    def __init__(self, path: str | Path = ":memory:", *, timeout: float = 5.0) -> None:
        self.path = str(path)
        self.timeout = timeout
        self.dialect = SQLiteDialect()
        self.url_display = f"sqlite:///{self.path}"

    @classmethod
    def from_url(cls, url: str | DatabaseURL) -> SQLiteAdapter:
        parsed = parse_url(url)
        if parsed.scheme != "sqlite":
            raise ConfigurationError(
                f"{parsed.display!r} is not a SQLite URL; use sqlite:///relative.db, "
                "sqlite:////absolute/path.db or sqlite:///:memory:"
            )
        timeout = parsed.options.get("timeout", "5")
        try:
            seconds = float(timeout)
        except ValueError:
            raise ConfigurationError(
                f"timeout in {parsed.display!r} must be seconds, got {timeout!r}"
            ) from None
        return cls(parsed.database, timeout=seconds)

    @property
    def shared_connection(self) -> bool:
        return self.path == ":memory:" or self.path.startswith("file::memory:")

    def connect(self) -> Any:
        try:
            raw = sqlite3.connect(
                self.path,
                isolation_level=None,
                check_same_thread=False,
                timeout=self.timeout,
                uri=self.path.startswith("file:"),
            )
        except sqlite3.Error as exc:
            raise OrmConnectionError(
                f"cannot open the SQLite database {self.path!r}: {exc}", exc
            ) from None
        raw.execute("PRAGMA foreign_keys = ON")
        # ``ilike`` and ``matches`` (see SQLiteDialect.ilike_sql / regex_sql).
        raw.create_function("ormcli_lower", 1, _lower, deterministic=True)
        raw.create_function("regexp", 2, _regexp, deterministic=True)
        return raw
