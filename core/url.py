"""Database URLs: the one parser, and the one way to print a URL (the password as ``***``).

Every URL that enters ormcli goes through :func:`parse_url`: ``--db``, ``ORMCLI_DB``, the
``[tool.ormcli]`` settings, ``Database(url)``, ``adapter_from_url`` and the adapters' own
``from_url``. The result, :class:`DatabaseURL`, holds the decoded parts; its ``repr`` and
``display`` never hold the password, and an adapter connects from the parts (libpq never
sees the text, so it cannot echo it). :func:`mask_url` is the printable form of any text
given as a URL; :func:`scrub` removes a known password from a driver's message.

Reading rules, for URLs whose user or password holds characters that should have been
percent-encoded (``/ # ? @ :`` and space): the user information ends at the **last** ``@``
of the URL (so ``postgresql://u:Pw/x@host/db`` has the password ``Pw/x``), and the user ends
at the first ``:`` of it (a ``:`` inside a user name must be written ``%3A``). A ``%`` not
followed by two hex digits is kept as it is. An ``@`` in a database name or a query value
must be written ``%40``. Where the text cannot be read as a URL, messages show no part of it
beyond the scheme (``postgresql://***``), since any part might be the password.

Callers: ``core.adapters``, ``core.database``, ``ormcli.config`` and ``ormcli.app``. What it
leaves out: connecting (``core.adapters``), and which schemes exist (``adapter_from_url``).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, unquote

from core.errors import ConfigurationError
from core.records import Record, init_member

__all__ = ["DatabaseURL", "mask_url", "parse_url", "scrub"]

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
#: Query parameters whose values are hidden when a URL is printed (libpq's ``password``,
#: ``sslpassword``, and anything that looks like a secret or key).
_SECRET_PARAM = re.compile(r"(?i)pass|pwd|secret|token|key|credential")
_USAGE = "use sqlite:///file.db, postgresql://user@host/db or mysql://user@host/db"
#: A password shorter than this is not searched for in driver messages (it would blank out
#: ordinary letters); such a password is never put in a message by ormcli itself either.
_MIN_SCRUB = 3


class DatabaseURL(Record):
    """A parsed database URL; every text part is percent-decoded."""

    __slots__ = ("database", "driver", "hosts", "password", "query", "scheme", "user")
    #: ``sqlite``, ``postgresql``, ``mysql`` ... lower case, without a ``+driver`` suffix.
    scheme: str
    #: The ``+driver`` suffix, if any (kept only to print the URL as it was given).
    driver: str
    user: str | None
    #: None when the URL has no ``:`` in its user information; never printed.
    password: str | None
    #: ``(host, port)`` pairs in order: one, or several for libpq's multi-host URLs.
    hosts: tuple[tuple[str, int | None], ...]
    #: The path without its leading ``/``: a database name, or a SQLite file path.
    database: str
    query: tuple[tuple[str, str], ...]

    def __init__(
        self,
        scheme: str,
        driver: str = "",
        user: str | None = None,
        password: str | None = None,
        hosts: tuple[tuple[str, int | None], ...] = (),
        database: str = "",
        query: tuple[tuple[str, str], ...] = (),
    ) -> None:
        init_member(self, "scheme", scheme)
        init_member(self, "driver", driver)
        init_member(self, "user", user)
        init_member(self, "password", password)
        init_member(self, "hosts", hosts)
        init_member(self, "database", database)
        init_member(self, "query", query)

    @property
    def host(self) -> str | None:
        return self.hosts[0][0] if self.hosts else None

    @property
    def port(self) -> int | None:
        return self.hosts[0][1] if self.hosts else None

    @property
    def options(self) -> dict[str, str]:
        """The query parameters as a dict (the last value of a repeated name wins)."""
        return dict(self.query)

    @property
    def display(self) -> str:
        """The URL as it may be printed: the password (and secret-looking parameters) ``***``."""
        scheme = f"{self.scheme}+{self.driver}" if self.driver else self.scheme
        if self.scheme == "sqlite":
            return f"{scheme}:///{self.database}{self._query_display()}"
        auth = quote(self.user, safe="") if self.user else ""
        if self.password is not None:
            auth += ":***"
        if auth:
            auth += "@"
        hosts = ",".join(_host_text(host, port) for host, port in self.hosts)
        path = f"/{quote(self.database, safe='')}" if self.database else ""
        return f"{scheme}://{auth}{hosts}{path}{self._query_display()}"

    def _query_display(self) -> str:
        if not self.query:
            return ""
        pairs = [
            f"{quote(k, safe='')}={'***' if _SECRET_PARAM.search(k) else quote(v, safe='')}"
            for k, v in self.query
        ]
        return "?" + "&".join(pairs)

    def scrub(self, text: str) -> str:
        """``text`` (a driver's message) with this URL's password, raw or encoded, as ``***``."""
        return scrub(text, self.password)

    def __str__(self) -> str:
        return self.display

    def __repr__(self) -> str:
        return f"DatabaseURL({self.display!r})"


def _host_text(host: str, port: int | None) -> str:
    shown = f"[{host}]" if ":" in host else quote(host, safe=".-_~")
    return f"{shown}:{port}" if port is not None else shown


def scrub(text: str, password: str | None) -> str:
    """``text`` with every occurrence of ``password`` (and its percent-encoding) as ``***``."""
    if not password or len(password) < _MIN_SCRUB:
        return text
    for form in sorted({password, quote(password, safe=""), quote(password)}, key=len)[::-1]:
        text = text.replace(form, "***")
    return text


def _shown(text: str) -> str:
    """How a text that is not a URL is named in a message: quoted when it cannot hold a
    password (no ``@``, and no ``:`` but in ``scheme://``), else not at all."""
    scheme, sep, rest = text.partition("://")
    if "@" in text or ":" in (rest if sep and _SCHEME.fullmatch(scheme) else text):
        return "the database URL (not shown: it may hold a password)"
    return repr(text)


def mask_url(text: str) -> str:
    """The printable form of ``text`` given as a database URL: the password as ``***``;
    ``scheme://***`` (or ``***``) when it cannot be parsed, since any part might be secret."""
    try:
        return parse_url(text).display
    except ConfigurationError:
        scheme, sep, _ = str(text).partition("://")
        return f"{scheme}://***" if sep and _SCHEME.fullmatch(scheme) else "***"


def parse_url(text: str | DatabaseURL) -> DatabaseURL:
    """Parse a database URL, or raise a ``ConfigurationError`` that shows no password."""
    if isinstance(text, DatabaseURL):
        return text
    if not isinstance(text, str):
        raise ConfigurationError(
            f"a database URL must be a string, not {type(text).__name__}; {_USAGE}"
        )
    scheme_text, sep, rest = text.partition("://")
    if not sep or not _SCHEME.fullmatch(scheme_text):
        raise ConfigurationError(f"{_shown(text)} is not a database URL; {_USAGE}")
    scheme, _, driver = scheme_text.lower().partition("+")
    if scheme == "sqlite":
        return _parse_sqlite(text, scheme, driver, rest)
    at = rest.rfind("@")
    userinfo, hostpart = (rest[:at], rest[at + 1 :]) if at >= 0 else (None, rest)
    user: str | None = None
    password: str | None = None
    if userinfo is not None:
        user_text, colon, password_text = userinfo.partition(":")
        user = unquote(user_text) or None
        password = unquote(password_text) if colon else None
    netloc, path, query, fragment = _split_hostpart(hostpart)
    partial = DatabaseURL(scheme, driver, user, password)
    if fragment:
        raise ConfigurationError(
            f"{partial.display}... has a '#': a database URL has no fragment; "
            "write a '#' in a password as %23"
        )
    hosts = _parse_hosts(netloc, partial)
    return DatabaseURL(
        scheme,
        driver,
        user,
        password,
        hosts,
        unquote(path[1:]) if path else "",
        tuple(parse_qsl(query[1:], keep_blank_values=True)) if query else (),
    )


def _split_hostpart(text: str) -> tuple[str, str, str, str]:
    """``host:port`` / ``/path`` / ``?query`` / ``#fragment`` of what follows the user info."""
    match = re.fullmatch(r"([^/?#]*)(/[^?#]*)?(\?[^#]*)?(#.*)?", text, re.DOTALL)
    assert match is not None  # every group is optional: any text matches
    netloc, path, query, fragment = (g or "" for g in match.groups())
    return netloc, path, query, fragment


def _parse_hosts(netloc: str, partial: DatabaseURL) -> tuple[tuple[str, int | None], ...]:
    hosts: list[tuple[str, int | None]] = []
    for item in netloc.split(",") if netloc else []:
        if item.startswith("["):
            host, close, port_text = item[1:].partition("]")
            if not close or (port_text and not port_text.startswith(":")):
                raise ConfigurationError(
                    f"{partial.display}... has a bad IPv6 host; write it as [::1]:5432"
                )
            port_text = port_text[1:]
        else:
            host, _, port_text = item.partition(":")
        port: int | None = None
        if port_text:
            # Not echoed: in a URL whose '@' is missing, the "port" is the password.
            if not port_text.isascii() or not port_text.isdigit() or not 0 < int(port_text) < 65536:
                shown = DatabaseURL(partial.scheme, partial.driver, partial.user, partial.password)
                raise ConfigurationError(
                    f"the port in {shown.display}{_host_text(unquote(host), None)}:*** is not "
                    "a number from 1 to 65535 (a password needs an '@' after it)"
                )
            port = int(port_text)
        hosts.append((unquote(host), port))
    return tuple(hosts)


def _parse_sqlite(text: str, scheme: str, driver: str, rest: str) -> DatabaseURL:
    if not rest.startswith("/"):
        raise ConfigurationError(
            f"{_shown(text)} is not a SQLite URL; use sqlite:///relative.db, "
            "sqlite:////absolute/path.db or sqlite:///:memory:"
        )
    path, _, query = rest[1:].partition("?")
    if not path:
        raise ConfigurationError("the SQLite URL names no database file; use sqlite:///app.db")
    return DatabaseURL(
        scheme, driver, database=path, query=tuple(parse_qsl(query, keep_blank_values=True))
    )
