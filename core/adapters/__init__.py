"""Adapters open connections for one backend; a URL picks the adapter.

``Adapter`` is what ``Database`` needs from a backend: a dialect, a way to open a DB-API
connection, and a printable URL with the password masked. ``adapter_from_url`` parses
``sqlite:///...``, ``postgresql://...``, ``mysql://...`` / ``mariadb://...`` through the one
URL parser (``core.url``) and imports the server adapters lazily, so a missing driver is a
one-line ``ConfigurationError`` naming the extra to install. Callers: ``core.database``,
``ormcli``. What it leaves out: SQL (dialects).
"""

from __future__ import annotations

import importlib
from typing import Any

from core.dialects.base import Dialect
from core.errors import ConfigurationError
from core.url import DatabaseURL, mask_url, parse_url

__all__ = ["Adapter", "adapter_from_url", "mask_url"]


class Adapter:
    """A backend: its dialect and how to open a connection."""

    dialect: Dialect
    #: The URL as it may be printed: the password replaced by ``***``.
    url_display: str = ""

    def connect(self) -> Any:
        """A new DB-API connection, in the state the dialect expects."""
        raise NotImplementedError

    def prepare(self, raw: Any) -> None:
        """Called once on each new connection (pragmas, session settings)."""

    @property
    def shared_connection(self) -> bool:
        """True when every user of the database must share one connection (``:memory:``)."""
        return False

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url_display!r})"


#: scheme -> "module:Class" (imported on first use) and the extra that installs its driver.
_SCHEMES: dict[str, tuple[str, str | None]] = {
    "sqlite": ("core.adapters.sqlite:SQLiteAdapter", None),
    "postgresql": ("core.adapters.postgres:PostgresAdapter", "postgres"),
    "postgres": ("core.adapters.postgres:PostgresAdapter", "postgres"),
    "mysql": ("core.adapters.mysql:MySQLAdapter", "mysql"),
    "mariadb": ("core.adapters.mysql:MySQLAdapter", "mysql"),
}


def adapter_from_url(url: str | DatabaseURL) -> Adapter:
    """The adapter for a database URL, or a ``ConfigurationError`` that says what is wrong
    (showing the URL only with its password as ``***``)."""
    parsed = parse_url(url)
    scheme = parsed.scheme
    if scheme not in _SCHEMES:
        known = ", ".join(sorted({s for s in _SCHEMES if s != "postgres"}))
        raise ConfigurationError(
            f"unknown database scheme {scheme!r} in {parsed.display!r}; use one of: {known}"
        )
    target, extra = _SCHEMES[scheme]
    module_name, _, cls_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        hint = f'; install it with: pip install "ormcli[{extra}]"' if extra else ""
        raise ConfigurationError(
            f"the driver for {scheme}:// is not installed ({exc.name or exc}){hint}"
        ) from None
    adapter: Adapter = getattr(module, cls_name).from_url(parsed)
    return adapter
