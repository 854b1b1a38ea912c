"""The REPL history file: private (mode 0600 in a 0700 directory) and free of secrets.

Callers: ``repl.py``. Lines that assign a password-like field (``password=``, ``secret=``,
``token=``, ``api_key=`` ...) or contain a URL with credentials are kept for the running session
(arrow-up works) but never written to the file. It does not encrypt or expire anything.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from prompt_toolkit.history import FileHistory

SENSITIVE = re.compile(
    r"(?ix) ( \b\w*(pass(word|wd|phrase)?|secret|token|api_?key|credential)\w*\s*=(?!=) )"
    r"| ( ://[^\s/@:]+:[^\s/@]+@ )"
)


def is_sensitive(line: str) -> bool:
    """Would writing ``line`` to the history file leak a secret?"""
    return SENSITIVE.search(line) is not None


def ensure_private_file(path: Path) -> None:
    """Create ``path`` (and its directory, 0700) with mode 0600; tighten an existing one."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)


class PrivateHistory(FileHistory):
    """A FileHistory whose file is private and which skips sensitive lines."""

    def __init__(self, path: Path) -> None:
        ensure_private_file(path)
        super().__init__(str(path))

    def store_string(self, string: str) -> None:
        if not is_sensitive(string):
            super().store_string(string)
