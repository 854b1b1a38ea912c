"""The MariaDB/MySQL adapter: PyMySQL connections, autocommit on to start, matched-row counts.

``MySQLAdapter("mysql://user:pass@host:3306/db?connect_timeout=5")`` (or ``mariadb://``): user,
password, host, port and database come from the URL; every query parameter passes through to
``pymysql.connect`` as a keyword (numbers and booleans converted), e.g. ``unix_socket``,
``ssl_ca``, ``read_timeout``. Fixed settings: utf8mb4; ``CLIENT.FOUND_ROWS`` so an UPDATE reports
the rows it matched (the session reads fewer than sent as a conflict); ``MULTI_STATEMENTS`` for
the no-RETURNING insert path; ``binary_prefix`` so bytes are never read as text; autocommit on,
with the ORM's own ``START TRANSACTION`` ... ``COMMIT`` around a commit (a connection used for
transaction after transaction turns it off, then on again before a statement outside a
transaction: ``core.connection``); strict SQL mode.

Whether the server has ``INSERT ... RETURNING`` (MariaDB >= 10.5) is read from the first
connection's handshake; if a commit is planned before any connection was made, the dialect asks
the adapter to connect once (that connection is then the first one handed out).
``returning=False`` forces the path without RETURNING. Callers:
``core.adapters.adapter_from_url``, user code. What it leaves out: SQL (``core.dialects.mysql``).
"""

from __future__ import annotations

from typing import Any

import pymysql
from pymysql.constants import CLIENT

from core.adapters import Adapter
from core.dialects.base import _first_line
from core.dialects.mysql import MySQLDialect
from core.errors import ConfigurationError, OrmConnectionError
from core.url import DatabaseURL, parse_url, scrub

__all__ = ["MySQLAdapter"]

_INT_PARAMS = frozenset(
    {"port", "connect_timeout", "read_timeout", "write_timeout", "max_allowed_packet"}
)
_BOOL_PARAMS = frozenset({"ssl_verify_cert", "ssl_verify_identity", "local_infile"})
#: Settings the ORM depends on; a URL may not override them.
_FIXED = frozenset({"autocommit", "client_flag", "charset", "binary_prefix", "cursorclass"})


def _message(exc: BaseException) -> str:
    """The server's text of a PyMySQL error (its args are ``(code, text)``)."""
    return str(exc.args[-1]) if exc.args else _first_line(exc)


def _value(key: str, text: str) -> Any:
    if key in _INT_PARAMS:
        return int(text)
    if key in _BOOL_PARAMS:
        return text.lower() in ("1", "true", "yes", "on")
    return text


class MySQLAdapter(Adapter):
    """``MySQLAdapter(host=..., user=..., password=..., database=...)``; or ``from_url``."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 3306,
        user: str = "root",
        password: str = "",
        database: str | None = None,
        returning: bool | None = None,
        url_display: str | None = None,
        **options: Any,
    ) -> None:
        bad = _FIXED & set(options)
        if bad:
            raise ConfigurationError(
                f"the MySQL option(s) {', '.join(sorted(bad))} are set by ormcli; remove them"
            )
        self.params: dict[str, Any] = {
            "host": host,
            "port": port,
            "user": user,
            "password": password,
            "database": database,
            "connect_timeout": 10,
            **options,
        }
        self.mysql_dialect = MySQLDialect(returning)
        self.mysql_dialect.probe = self._probe
        self.dialect = self.mysql_dialect
        self._spare: Any = None
        if url_display is None:
            auth = f"{user}:***@" if password else f"{user}@"
            url_display = f"mysql://{auth}{host}:{port}/{database or ''}"
        self.url_display = url_display

    @classmethod
    def from_url(cls, url: str | DatabaseURL, *, returning: bool | None = None) -> MySQLAdapter:
        parsed = parse_url(url)
        if parsed.scheme not in ("mysql", "mariadb"):
            raise ConfigurationError(
                f"{parsed.display!r} is not a MySQL URL; use mysql://user:password@host:3306/db"
            )
        if len(parsed.hosts) > 1:
            raise ConfigurationError(
                f"{parsed.display!r} names several hosts; a MySQL URL takes one"
            )
        options: dict[str, Any] = {}
        for key, text in parsed.query:
            try:
                options[key] = _value(key, text)
            except ValueError:
                raise ConfigurationError(
                    f"the query parameter {key!r} in {parsed.display!r} must be a number"
                ) from None
        return cls(
            host=parsed.host or "127.0.0.1",
            port=parsed.port or 3306,
            user=parsed.user or "root",
            password=parsed.password or "",
            database=parsed.database or None,
            returning=returning,
            url_display=parsed.display,
            **options,
        )

    def _message(self, exc: BaseException) -> str:
        return scrub(_message(exc), self.params["password"])

    def connect(self) -> Any:
        spare, self._spare = self._spare, None
        if spare is not None:
            return spare
        try:
            raw: Any = pymysql.connect(
                **self.params,
                charset="utf8mb4",
                autocommit=True,
                binary_prefix=True,
                client_flag=CLIENT.FOUND_ROWS | CLIENT.MULTI_STATEMENTS,
            )
        except pymysql.err.MySQLError as exc:
            raise OrmConnectionError(
                f"cannot connect to {self.url_display}: {self._message(exc)}", exc
            ) from None
        except TypeError as exc:  # an option PyMySQL does not know, from the query string
            raise ConfigurationError(
                f"{self.url_display!r} has an option PyMySQL does not take: {exc}"
            ) from None
        self.mysql_dialect.learn_server(str(raw.server_version))
        return raw

    def prepare(self, raw: Any) -> None:
        try:
            with raw.cursor() as cur:
                cur.execute(
                    "SET SESSION sql_mode = CONCAT_WS(',', NULLIF(@@sql_mode, ''),"
                    " 'STRICT_ALL_TABLES')"
                )
                # Statements carry their values as text (PyMySQL binds on the client); the
                # server refuses one larger than this, so batches are cut to stay under it.
                cur.execute("SELECT @@max_allowed_packet")
                self.mysql_dialect.max_statement_bytes = int(cur.fetchone()[0])
        except pymysql.err.MySQLError as exc:
            raise OrmConnectionError(
                f"cannot set up the connection to {self.url_display}: {self._message(exc)}", exc
            ) from None

    def _probe(self) -> None:
        """Connect once to learn the server version; keep the connection for ``connect``."""
        if self._spare is None:
            self._spare = self.connect()
