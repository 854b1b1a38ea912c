"""The REPL history file: private (mode 0600 in a 0700 directory) and free of secrets.

Callers: ``repl.py`` (through ``app.py``, which passes the settable list of secret field
names from ``config.py``). A line is judged by its parsed command (``language.parse``), not by
a pattern over its text: it is kept out of the file when

- a field whose name looks secret (see :data:`DEFAULT_SECRET_FIELDS`) is given a value
  (``add``/``set``), compared in a filter or ``where`` (``==``, ``in (...)``, ``like`` ...;
  a path such as ``author.password`` counts by any of its parts), or is a key of a JSON value;
- any string in it (a value, a pattern, a path) holds a URL with a password
  (``core.parse_url``; an empty user name counts: ``postgresql://:secret@host/db``).

A line that does not parse cannot be judged that way, so it is kept out when any word in it
looks like a secret field name or it holds a URL with a password. Such lines stay in the
running session (arrow-up works); they are only never written. It does not encrypt or expire
anything, and it does not judge output (``status`` shows values: the terminal is the user's).
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterable, Iterator
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prompt_toolkit.history import FileHistory

from core import ConfigurationError, parse_url
from ormcli import lazy
from ormcli.errors import ParseError
from ormcli.literals import Lit

if TYPE_CHECKING:
    from ormcli import language as cmd
else:  # built at first use (start-up time: ormcli/lazy.py)
    cmd = lazy.module("ormcli.language")

#: Field names that look secret: shell-style patterns, matched case-insensitively against the
#: whole name, the name without ``_``/``-``, and each of its words (``private_key`` → ``private``,
#: ``key``; ``apiKey`` → ``api``, ``key``). Replace it with ``secret_fields = [...]`` under
#: ``[tool.ormcli]`` or ``ORMCLI_SECRET_FIELDS=a,b*`` (docs/cli.md).
DEFAULT_SECRET_FIELDS: tuple[str, ...] = (
    "*password*",
    "*passwd*",
    "*passphrase*",
    "*secret*",
    "*token*",
    "*credential*",
    "*apikey*",
    "*privatekey*",
    "pass",
    "pwd",
    "pin",
    "key",
    "otp",
    "cvv",
    "cvc",
    "ssn",
    "salt",
    "private",
    "auth",
)

_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
_URL_START = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_NAME = re.compile(r"[A-Za-z_][\w.-]*")
#: Attributes of a parsed command that carry a value given to its ``field``.
_VALUE_ATTRS = ("value", "values", "pattern")


def looks_secret(name: str, patterns: Iterable[str] = DEFAULT_SECRET_FIELDS) -> bool:
    """Whether a field name (or a dotted path of them) looks like it holds a secret."""
    for part in name.split("."):
        lowered = part.lower()
        candidates = {lowered, lowered.replace("_", "").replace("-", "")}
        candidates.update(word.lower() for word in _WORDS.findall(part))
        if any(fnmatchcase(c, p.lower()) for c in candidates for p in patterns):
            return True
    return False


def has_url_password(text: str) -> bool:
    """Whether ``text`` holds a URL with a password (or one too broken to tell)."""
    for match in _URL_START.finditer(text):
        rest = text[match.start() :]
        try:
            if parse_url(rest).password is not None:
                return True
        except ConfigurationError:
            if "@" in rest:
                return True
    return False


def _strings_and_keys(value: Any) -> Iterator[tuple[str, bool]]:
    """Every string in a literal value: ``(text, is_a_dict_key)``."""
    if isinstance(value, str):
        yield value, False
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str):
                yield key, True
            yield from _strings_and_keys(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings_and_keys(item)


def _command_is_sensitive(node: Any, patterns: tuple[str, ...]) -> bool:
    """Walk a parsed command (dataclasses, tuples, literals) for secret fields and URLs."""
    if isinstance(node, Lit):
        return any(
            has_url_password(text) or (is_key and looks_secret(text, patterns))
            for text, is_key in _strings_and_keys(node.value)
        ) or has_url_password(node.text)
    if isinstance(node, str):
        return has_url_password(node)
    if isinstance(node, list | tuple):
        return any(_command_is_sensitive(item, patterns) for item in node)
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        field = getattr(node, "field", None)
        carries_value = any(hasattr(node, attr) for attr in _VALUE_ATTRS)
        if isinstance(field, str) and carries_value and looks_secret(field, patterns):
            return True
        return any(
            _command_is_sensitive(getattr(node, f.name), patterns) for f in dataclasses.fields(node)
        )
    return False


def is_sensitive(line: str, patterns: Iterable[str] = DEFAULT_SECRET_FIELDS) -> bool:
    """Would writing ``line`` to the history file leak a secret?"""
    patterns = tuple(patterns)
    try:
        command = cmd.parse(line)
    except ParseError:
        words = _NAME.findall(line)
        return has_url_password(line) or any(looks_secret(w, patterns) for w in words)
    return command is not None and _command_is_sensitive(command, patterns)


def ensure_private_file(path: Path) -> None:
    """Create ``path`` (and its directory, 0700) with mode 0600; tighten an existing one."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)


class PrivateHistory(FileHistory):
    """A FileHistory whose file is private and which skips sensitive lines."""

    def __init__(self, path: Path, secret_fields: Iterable[str] = DEFAULT_SECRET_FIELDS) -> None:
        ensure_private_file(path)
        self.secret_fields = tuple(secret_fields)
        super().__init__(str(path))

    def store_string(self, string: str) -> None:
        if not is_sensitive(string, self.secret_fields):
            super().store_string(string)
