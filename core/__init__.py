"""core: a session / unit-of-work ORM for SQLite, PostgreSQL and MariaDB/MySQL.

The public names are all here; every submodule is an implementation detail. ``core`` is a
generic top-level name: nothing else in this distribution may use it.

>>> from core import Database, SQLiteAdapter, entity, PrimaryKey, AutoIncrement
"""

from typing import TYPE_CHECKING, Any

from core.adapters import Adapter, adapter_from_url
from core.adapters.sqlite import SQLiteAdapter
from core.database import Database
from core.entity import EntityInfo, FieldInfo, entity, entity_info, is_entity
from core.errors import (
    CommitOutcomeUnknownError,
    ConfigurationError,
    ConflictError,
    CycleError,
    DatabaseError,
    IntegrityError,
    MigrationError,
    MigrationLockTimeoutError,
    ModelError,
    NotFoundError,
    OrmConnectionError,
    OrmError,
    PoolTimeoutError,
    SessionError,
    UnknownEntityError,
    UnknownFieldError,
    ValidationError,
    shorten,
)
from core.expressions import F, and_, like_escape, not_, or_, outer
from core.pool import Pool
from core.query import Query
from core.relations import RelationInfo
from core.select import Row, SelectQuery
from core.session import CommitResult, Session, Statement
from core.types import (
    AutoIncrement,
    Aware,
    BackReference,
    Check,
    Index,
    MaxLength,
    NoIndex,
    PrimaryKey,
    Reference,
    RenamedFrom,
    Unique,
    Version,
    field,
)
from core.unitofwork import ChangeSet, Delete, Insert, Update, Upsert
from core.url import DatabaseURL, mask_url, parse_url

if TYPE_CHECKING:
    from core.migrations import MigrateOptions, MigrationPlan, Questioner

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """The migration names, imported when first used (``import core`` stays free of the
    migration pipeline: start-up time, issue 18 point 6)."""
    if name in ("MigrateOptions", "MigrationPlan", "Questioner"):
        import core.migrations

        value = getattr(core.migrations, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'core' has no attribute {name!r}")


__all__ = [
    "Adapter",
    "AutoIncrement",
    "Aware",
    "BackReference",
    "ChangeSet",
    "Check",
    "CommitOutcomeUnknownError",
    "CommitResult",
    "ConfigurationError",
    "ConflictError",
    "CycleError",
    "Database",
    "DatabaseError",
    "DatabaseURL",
    "Delete",
    "EntityInfo",
    "F",
    "FieldInfo",
    "Index",
    "Insert",
    "IntegrityError",
    "MaxLength",
    "MigrateOptions",
    "MigrationError",
    "MigrationLockTimeoutError",
    "MigrationPlan",
    "ModelError",
    "NoIndex",
    "NotFoundError",
    "OrmConnectionError",
    "OrmError",
    "Pool",
    "PoolTimeoutError",
    "PrimaryKey",
    "Query",
    "Questioner",
    "Reference",
    "RelationInfo",
    "RenamedFrom",
    "Row",
    "SQLiteAdapter",
    "SelectQuery",
    "Session",
    "SessionError",
    "Statement",
    "Unique",
    "UnknownEntityError",
    "UnknownFieldError",
    "Update",
    "Upsert",
    "ValidationError",
    "Version",
    "__version__",
    "adapter_from_url",
    "and_",
    "entity",
    "entity_info",
    "field",
    "is_entity",
    "like_escape",
    "mask_url",
    "not_",
    "or_",
    "outer",
    "parse_url",
    "shorten",
]
