"""The one exception tree of the ORM.

Every error the engine raises is an ``OrmError``; each message is one sentence that names the
culprit (entity, field, constraint, URL) and, where known, the fix. Callers: every ``core``
module raises these; ``ormcli`` maps them to one-line messages and exit codes. Driver errors
are wrapped (never leaked) and kept on ``.orig``. What it leaves out: formatting for a terminal.

::

    OrmError
    ├── ModelError                  a class that cannot be mapped (names entity and field)
    ├── UnknownEntityError          (also LookupError)
    ├── UnknownFieldError           (also LookupError)
    ├── ValidationError             (also ValueError) a value that does not fit its field
    ├── ConfigurationError          a bad URL, a missing driver extra
    ├── NotFoundError               (also LookupError) find_one() found nothing
    ├── SessionError                misuse of a session
    │   └── CycleError              new objects whose references cannot be ordered
    ├── MigrationError              a schema change that would risk data
    └── DatabaseError               a driver error, wrapped; ``.orig`` keeps it
        ├── IntegrityError          a constraint failed: ``.entity``, ``.field``, ``.constraint``
        ├── ConflictError           a concurrent change (deadlock, serialization failure)
        ├── OrmConnectionError      the connection could not be made or was lost
        │   └── PoolTimeoutError    no pooled connection became free in time
        └── CommitOutcomeUnknownError  COMMIT was sent, its answer never came
"""

from __future__ import annotations

import re

__all__ = [
    "CommitOutcomeUnknownError",
    "ConfigurationError",
    "ConflictError",
    "CycleError",
    "DatabaseError",
    "IntegrityError",
    "MigrationError",
    "MigrationLockTimeoutError",
    "ModelError",
    "NotFoundError",
    "OrmConnectionError",
    "OrmError",
    "PoolTimeoutError",
    "SessionError",
    "UnknownEntityError",
    "UnknownFieldError",
    "ValidationError",
    "shorten",
]

#: A token (a run without spaces) longer than this is cut in a message...
TOKEN_LIMIT = 200
#: ...keeping this many characters of it; a whole message is cut at ``LINE_LIMIT``.
TOKEN_KEEP = 60
LINE_LIMIT = 2000
_LONG_TOKEN = re.compile(r"\S{" + str(TOKEN_LIMIT + 1) + ",}")


def _cut(match: re.Match[str]) -> str:
    token = match.group(0)
    return f"{token[:TOKEN_KEEP]}… ({len(token):,} characters)"


def shorten(text: str) -> str:
    """``text`` fit for one error line: every token longer than ``TOKEN_LIMIT`` characters
    cut to its start, ``…`` and its length; the whole cut at ``LINE_LIMIT`` the same way."""
    if len(text) <= TOKEN_LIMIT:
        return text
    text = _LONG_TOKEN.sub(_cut, text)
    if len(text) > LINE_LIMIT:
        text = f"{text[:LINE_LIMIT]}… ({len(text):,} characters)"
    return text


class OrmError(Exception):
    """Base of every error raised by ``core``; its message is kept to one readable line
    (``shorten``: a 1 MB value in it is cut to its start and its length)."""

    def __init__(self, message: object = "", *args: object) -> None:
        super().__init__(shorten(message) if isinstance(message, str) else message, *args)


class ModelError(OrmError, TypeError):
    """An entity class that cannot be mapped; raised when the class is decorated or registered."""


class UnknownEntityError(OrmError, LookupError):
    """An entity name that no registered entity has."""


class UnknownFieldError(OrmError, LookupError):
    """A field name that the entity does not have."""


class ValidationError(OrmError, ValueError):
    """A value that does not fit its field's type."""


class ConfigurationError(OrmError):
    """A bad database URL or a missing driver."""


class NotFoundError(OrmError, LookupError):
    """``find_one()`` matched no row."""


class SessionError(OrmError):
    """A session was used in a way it does not support."""


class CycleError(SessionError):
    """New objects reference each other in a cycle that no insert order can satisfy."""


class MigrationError(OrmError):
    """A schema difference that migrate refuses to apply because it could lose data."""


class DatabaseError(OrmError):
    """A driver error, wrapped; the driver's own exception is kept on ``orig``."""

    def __init__(self, message: str, orig: BaseException | None = None) -> None:
        super().__init__(message)
        self.orig = orig


class IntegrityError(DatabaseError):
    """A constraint (unique, not null, foreign key, check) rejected the commit."""

    def __init__(
        self,
        message: str,
        orig: BaseException | None = None,
        *,
        entity: str | None = None,
        field: str | None = None,
        constraint: str | None = None,
        kind: str | None = None,
    ) -> None:
        super().__init__(message, orig)
        #: UNIQUE, NOT NULL, FOREIGN KEY, CHECK (or None when the driver did not say).
        self.kind = kind
        self.entity = entity
        self.field = field
        self.constraint = constraint
        #: The staged object that caused it, when the session could tell.
        self.obj: object | None = None


class ConflictError(DatabaseError):
    """A concurrent transaction conflicted with this one (deadlock, serialization failure,
    a Galera certification failure, a stale ``Version``).

    ``retryable`` is True when the server rolled the transaction back for a transient reason
    (the same work may succeed if sent again: ``session.commit(retries=N)`` does so), False
    when retrying the same work cannot succeed (a row changed or removed by someone else:
    refresh first)."""

    def __init__(
        self, message: str, orig: BaseException | None = None, *, retryable: bool = False
    ) -> None:
        super().__init__(message, orig)
        self.retryable = retryable


class MigrationLockTimeoutError(MigrationError, ConflictError):
    """A migrate statement waited ``lock_timeout`` for a lock another transaction held (an
    ``ALTER`` behind a long reader): what was applied is named; run it again."""


class OrmConnectionError(DatabaseError):
    """The connection could not be opened, or was lost before the transaction finished."""


class PoolTimeoutError(OrmConnectionError):
    """Every pooled connection stayed in use for longer than the pool's timeout."""


class CommitOutcomeUnknownError(DatabaseError):
    """COMMIT was sent but no answer came back: the changes may or may not be saved."""
