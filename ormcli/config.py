"""Where the database URL and the model paths come from.

Order (first found wins): the command-line flag, the environment (``ORMCLI_DB``,
``ORMCLI_MODELS`` as an ``os.pathsep``-separated list), a ``[tool.ormcli]`` table in
``./pyproject.toml`` (``db = "..."``, ``models = ["..."]`` or one string; relative model paths
are taken relative to that file), then the default ``sqlite:///ormcli.db`` and no models. The
secret field names kept out of the history file: ``ORMCLI_SECRET_FIELDS`` (comma-separated),
else ``secret_fields = [...]`` in that table, else ``history.DEFAULT_SECRET_FIELDS``.

Callers: ``app.py`` once per invocation. It reads files and the environment but connects to
nothing and imports no model; it never prints a URL (``core.mask_url``, the printable form of
the one URL parser, hides a password for the few messages that must name one).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core import ConfigurationError, mask_url, parse_url
from ormcli.errors import UsageError
from ormcli.suggest import did_you_mean

__all__ = [
    "DEFAULT_DB",
    "Settings",
    "check_urls",
    "history_path",
    "mask_url",
    "resolve",
    "short_db_label",
]

DEFAULT_DB = "sqlite:///ormcli.db"
DB_ENV = "ORMCLI_DB"
MODELS_ENV = "ORMCLI_MODELS"
SECRET_FIELDS_ENV = "ORMCLI_SECRET_FIELDS"


@dataclass(frozen=True)
class Settings:
    """The resolved database URL and model specs, each with where it came from."""

    db_url: str
    db_source: str
    models: tuple[str, ...]
    models_source: str
    #: Field-name patterns whose lines the history file never keeps (``history.py``).
    secret_fields: tuple[str, ...] | None = None
    #: Unknown keys met in ``[tool.ormcli]`` (``app.py`` prints them on stderr).
    warnings: tuple[str, ...] = ()


#: The keys ``[tool.ormcli]`` understands (others get a warning with a suggestion).
PYPROJECT_KEYS = ("db", "models", "secret_fields")


def _pyproject_table(cwd: Path) -> tuple[dict[str, Any], Path] | None:
    """The ``[tool.ormcli]`` table of the nearest ``pyproject.toml`` that has one, looking in
    ``cwd`` and then each folder above it."""
    for folder in (cwd, *cwd.parents):
        path = folder / "pyproject.toml"
        if not path.is_file():
            continue
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise UsageError(f"{path}: cannot read it as TOML: {exc}") from None
        table = data.get("tool", {}).get("ormcli")
        if table is None:
            continue
        if not isinstance(table, dict):
            raise UsageError(f"{path}: [tool.ormcli] must be a table")
        return table, path
    return None


def unknown_key_warnings(table: Mapping[str, Any], known: Sequence[str], where: str) -> list[str]:
    """``where: unknown key 'modles' — did you mean 'models'? (keys: ...)`` per unknown key."""
    return [
        f"{where}: unknown key {key!r}{did_you_mean(key, known)} (keys: {', '.join(known)})"
        for key in table
        if key not in known
    ]


def _sqlite_relative_to(url: str, base: Path) -> str:
    """A SQLite URL from pyproject.toml with a relative file path, made relative to ``base``."""
    try:
        parsed = parse_url(url)
    except ConfigurationError:
        return url
    path = parsed.database
    if parsed.scheme != "sqlite" or not path or path == ":memory:" or Path(path).is_absolute():
        return url
    _, _, query = url.partition("?")
    return f"sqlite:///{base / path}" + (f"?{query}" if query else "")


def resolve(
    db_flag: str | None,
    models_flag: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Settings:
    """Resolve the settings from the flags, ``env`` (default ``os.environ``) and ``cwd``."""
    env = os.environ if env is None else env
    cwd = Path.cwd() if cwd is None else cwd
    found = _pyproject_table(cwd)
    table, pyproject = found if found else ({}, cwd / "pyproject.toml")
    warnings = unknown_key_warnings(table, PYPROJECT_KEYS, f"{pyproject} [tool.ormcli]")

    if db_flag:
        db_url, db_source = db_flag, "--db"
    elif env.get(DB_ENV):
        db_url, db_source = env[DB_ENV], DB_ENV
    elif "db" in table:
        if not isinstance(table["db"], str) or not table["db"]:
            raise UsageError(f"{pyproject}: [tool.ormcli] db must be a URL string")
        db_url, db_source = _sqlite_relative_to(table["db"], pyproject.parent), "pyproject.toml"
    else:
        db_url, db_source = DEFAULT_DB, "default"

    try:
        parse_url(db_url)
    except ConfigurationError as exc:
        raise UsageError(f"{db_source}: {exc}") from None

    models: tuple[str, ...]
    if models_flag:
        models, models_source = tuple(models_flag), "--models"
    elif env.get(MODELS_ENV):
        parts = env[MODELS_ENV].split(os.pathsep)
        models, models_source = tuple(p for p in parts if p), MODELS_ENV
    elif "models" in table:
        raw = table["models"]
        items = [raw] if isinstance(raw, str) else raw
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise UsageError(f"{pyproject}: [tool.ormcli] models must be a string or a list")
        models = tuple(_relative_to(item, pyproject.parent) for item in items)
        models_source = "pyproject.toml"
    else:
        models, models_source = (), "default"
    return Settings(
        db_url,
        db_source,
        models,
        models_source,
        _secret_fields(env, table, pyproject),
        tuple(warnings),
    )


def check_urls(urls: Sequence[str]) -> None:
    """Refuse a malformed URL among the extra servers (``--db`` repeated, ``--replica``) with
    a usage error that never shows its password."""
    for url in urls:
        try:
            parse_url(url)
        except ConfigurationError as exc:
            raise UsageError(f"--db/--replica: {exc}") from None


def _secret_fields(
    env: Mapping[str, str], table: dict[str, Any], pyproject: Path
) -> tuple[str, ...] | None:
    """``ORMCLI_SECRET_FIELDS`` (comma-separated) or ``[tool.ormcli] secret_fields``; None
    keeps the default list."""
    if env.get(SECRET_FIELDS_ENV):
        return tuple(p.strip() for p in env[SECRET_FIELDS_ENV].split(",") if p.strip())
    if "secret_fields" in table:
        raw = table["secret_fields"]
        if not isinstance(raw, list) or not all(isinstance(i, str) for i in raw):
            raise UsageError(f"{pyproject}: [tool.ormcli] secret_fields must be a list of strings")
        return tuple(raw)
    return None


def _relative_to(spec: str, base: Path) -> str:
    """A model path from pyproject.toml, made relative to its directory (dotted names kept)."""
    if spec.endswith(".py") or "/" in spec or os.sep in spec:
        path = Path(spec)
        return str(path if path.is_absolute() else base / path)
    return spec


USER_SETTINGS = """\
# ormcli REPL settings. Written with the defaults on first use; uncomment a line to change it.
# format = "table"         # table, vertical, csv, tsv, json or jsonl
# timing = true            # the footer says "(12 rows in 3.1 ms)"
# pager = "auto"           # "auto" ($PAGER, else less -SRXF), "off", or a command
# limit = 200              # rows find shows without limit N or --all; 0 shows every row
# key_bindings = "emacs"   # or "vi"
# colour = true            # false: no colour (NO_COLOR=1 does the same)
"""
USER_KEYS = ("format", "timing", "pager", "limit", "key_bindings", "colour")


def user_settings_path(env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CONFIG_HOME/ormcli/config.toml`` (``~/.config`` by default)."""
    env = os.environ if env is None else env
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "ormcli" / "config.toml"


def user_settings(env: Mapping[str, str] | None = None) -> tuple[dict[str, Any], list[str]]:
    """The REPL's user settings and warnings about them; the file is written with commented
    defaults when it does not exist yet (nothing is written when that fails)."""
    path = user_settings_path(env)
    if not path.is_file():
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            path.write_text(USER_SETTINGS, encoding="utf-8")
        except OSError:
            pass
        return {}, []
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
        return {}, [f"{path}: cannot read it as TOML ({exc}); using the defaults"]
    return data, unknown_key_warnings(data, USER_KEYS, str(path))


def history_path(env: Mapping[str, str] | None = None) -> Path:
    """The REPL history file: ``$XDG_CONFIG_HOME/ormcli/history`` (``~/.config`` default)."""
    env = os.environ if env is None else env
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "ormcli" / "history"


def short_db_label(url: str) -> str:
    """What the prompt shows for a database: the file name of a SQLite URL, else the database
    name or the host (never a user or password; ``db`` for a URL that does not parse)."""
    try:
        parsed = parse_url(url)
    except ConfigurationError:
        return "db"
    if parsed.scheme == "sqlite":
        return Path(parsed.database).name or parsed.database
    return parsed.database or parsed.host or parsed.scheme
