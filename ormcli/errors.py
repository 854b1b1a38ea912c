"""Errors raised by the CLI itself, and the exit code each one means.

Callers: every ormcli module raises these; ``app.py`` and ``script.py`` turn them into one
line on stderr and an exit code, ``repl.py`` into one line and a fresh prompt. Errors that
come from ``core`` are mapped to exit codes in :func:`exit_code_for`; this module does not
format messages (``render.py`` does).

Exit codes (DESIGN §4)::

    0  ok
    1  error (a command failed, a model file is broken, a commit was refused)
    2  usage (the command line is wrong: unknown option, bad URL, missing model path)
    3  the commit outcome is unknown (the connection broke during COMMIT)
    4  conflict (another writer changed the rows)
    141  stdout was closed early (``ormcli find ... | head -1``): the command stops quietly,
         as a tool killed by SIGPIPE does (128 + 13); see :func:`leave_on_broken_pipe`

Tree::

    CliError            exit 1
    ├── UsageError      exit 2
    │   └── ParseError  a line of the command language does not parse (the only error the
    │                   parser raises)
    └── ModelLoadError  exit 1, or 2 for a model path that does not exist
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn

import core

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_OUTCOME_UNKNOWN = 3
EXIT_CONFLICT = 4
EXIT_BROKEN_PIPE = 141


class CliError(Exception):
    """A failure the user caused or can fix; its message is one sentence."""

    exit_code: int = EXIT_ERROR


class UsageError(CliError):
    """The command line or a command is used wrongly."""

    exit_code = EXIT_USAGE


class ParseError(UsageError):
    """A line of the command language does not parse.

    ``column`` is the 0-based offset in the line where the problem is, when known.
    """

    def __init__(self, message: str, column: int | None = None) -> None:
        super().__init__(message)
        self.column = column


class ModelLoadError(CliError):
    """A model file or module cannot be loaded."""

    def __init__(self, message: str, exit_code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def exit_code_for(error: BaseException) -> int:
    """Map an error (ours or core's) to the documented exit code."""
    if isinstance(error, CliError):
        return error.exit_code
    if isinstance(error, core.CommitOutcomeUnknownError):
        return EXIT_OUTCOME_UNKNOWN
    if isinstance(error, core.ConflictError):
        return EXIT_CONFLICT
    if isinstance(error, core.ConfigurationError):
        return EXIT_USAGE
    return EXIT_ERROR


def message_for(error: BaseException) -> str:
    """The one line shown for ``error`` (no traceback; ``--debug`` adds that elsewhere)."""
    if isinstance(error, CliError | core.OrmError):
        text = str(error)
        if isinstance(error, core.DatabaseError) and not isinstance(error, core.IntegrityError):
            text = text or type(error).__name__
        return " ".join(text.split()) or type(error).__name__
    detail = " ".join(str(error).split())
    return (
        f"internal error: {type(error).__name__}: {detail} "
        "(rerun with --debug for the traceback, and please report it)"
    )


def is_broken_pipe(error: BaseException) -> bool:
    """Did writing our output fail because the reader went away (EPIPE)? Core's errors are
    left out: a database connection's broken socket is a database error, not our stdout."""
    return isinstance(error, BrokenPipeError) and not isinstance(error, core.OrmError)


def leave_on_broken_pipe() -> NoReturn:
    """Stop quietly after stdout's reader went away: no error line, no traceback, exit 141.

    stdout is pointed at ``os.devnull`` first, so nothing still buffered fails again when
    Python flushes it at shutdown ("Exception ignored ... BrokenPipeError"). What runs stops
    where it was, as when a shell tool is killed by SIGPIPE: a script commits nothing, the
    REPL's staged work is discarded, a migrate that had not started applying applies nothing.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no real stdout (captured): nothing left to flush into
        pass
    raise SystemExit(EXIT_BROKEN_PIPE)
