"""The Database: entities registered on an adapter, a shared connection, sessions and queries.

``Database(adapter_or_url, entities)`` checks the entities (and pulls in the ones they
reference), opens one connection lazily and reuses it (a lost connection is dropped and the
next use opens a new one), and hands out sessions and untracked queries. Callers: user code
and ``ormcli``. What it leaves out: the unit of work (``core.session``) and schema diffing
(``core.migrate``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from core.adapters import Adapter, adapter_from_url
from core.codec import EntityCodec
from core.connection import Connection
from core.entity import EntityInfo, Unloaded, entity_info, entity_infos
from core.errors import (
    ConfigurationError,
    DatabaseError,
    ModelError,
    NotFoundError,
    UnknownEntityError,
)
from core.migrate import MigrationPlan, migration_plan
from core.query import Query
from core.session import Session
from core.url import DatabaseURL

__all__ = ["Database"]

T = TypeVar("T")


class Database:
    """Entities on a backend. ``Database("sqlite:///app.db", [User, Post])``."""

    def __init__(
        self,
        adapter: Adapter | str | DatabaseURL,
        entities: Iterable[type] = (),
        *,
        log_values: bool = False,
    ) -> None:
        if isinstance(adapter, str | DatabaseURL):
            adapter = adapter_from_url(adapter)
        if not isinstance(adapter, Adapter):
            raise ConfigurationError(f"Database() takes an adapter or a URL, got {adapter!r}")
        self.adapter = adapter
        self.dialect = adapter.dialect
        self.log_values = log_values
        infos = entity_infos(entities)
        names: dict[str, EntityInfo] = {}
        for info in infos:
            if info.name in names and names[info.name].cls is not info.cls:
                raise ModelError(
                    f"two entities are named {info.name!r} ({names[info.name].cls.__qualname__} "
                    f"and {info.cls.__qualname__}); give one another name with @entity.name"
                )
            names[info.name] = info
        self.entities: tuple[EntityInfo, ...] = tuple(infos)
        self._by_name = names
        self._codecs: dict[EntityInfo, EntityCodec] = {}
        self._conn: Connection | None = None
        #: Per entity, mapped columns its existing table lacks, where the database would not
        #: refuse them itself (``Dialect.missing_columns``): read on connecting and after
        #: ``migrate``.
        self._missing: dict[EntityInfo, list[str]] = {}
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"<Database {self.url_display} ({len(self.entities)} entities)>"

    @property
    def url_display(self) -> str:
        """The database URL with any password masked."""
        return self.adapter.url_display

    def entity(self, name_or_cls: str | type) -> EntityInfo:
        """A registered entity by entity name, class name (any case) or class."""
        if isinstance(name_or_cls, type):
            info = entity_info(name_or_cls)
            if info not in self.entities:
                raise UnknownEntityError(
                    f"{name_or_cls.__name__} is not registered with this database"
                )
            return info
        if name_or_cls in self._by_name:
            return self._by_name[name_or_cls]
        lowered = name_or_cls.lower()
        for info in self.entities:
            if info.cls.__name__.lower() == lowered or info.name.lower() == lowered:
                return info
        known = ", ".join(i.cls.__name__ for i in self.entities) or "none"
        raise UnknownEntityError(f"no entity named {name_or_cls!r}; known entities: {known}")

    def codec(self, info: EntityInfo) -> EntityCodec:
        codec = self._codecs.get(info)
        if codec is None:
            codec = self._codecs[info] = EntityCodec(info, self.dialect)
        return codec

    # -- connections -------------------------------------------------------------------------

    def _connection(self) -> Connection:
        conn = self._conn
        if conn is not None and conn.broken:
            conn.close()
            conn = self._conn = None
        if conn is None:
            raw = self.adapter.connect()
            self.adapter.prepare(raw)
            conn = self._conn = Connection(
                raw,
                self.dialect,
                {i.table: i.cls.__name__ for i in self.entities},
                log_values=self.log_values,
            )
            self._read_missing(conn)
        return conn

    def connection(self) -> Connection:
        """The shared connection (opened on first use); for tools and tests."""
        with self._lock:
            return self._connection()

    def _require_columns(self, info: EntityInfo) -> None:
        """Before querying ``info``'s table: every mapped column must be there."""
        with self._lock:
            self._connection()
            missing = self._missing.get(info)
        if missing:
            by_column = {f.column: f.name for f in info.fields}
            name = info.cls.__name__
            raise DatabaseError(
                f"cannot query {name}: the table {info.table!r} has no column "
                f"{missing[0]!r} ({name}.{by_column[missing[0]]}); run migrate"
            )

    def _read_missing(self, conn: Connection) -> None:
        self._missing = {}
        for info in self.entities:
            missing = self.dialect.missing_columns(conn, info.table, info.column_names)
            if missing:
                self._missing[info] = missing

    def _fetch(self, sql: str, params: Sequence[Any], context: str) -> list[Any]:
        with self._lock:
            conn = self._connection()
            return conn.fetchall(sql, params, context)

    def _load(
        self,
        sql: str,
        params: Sequence[Any],
        context: str,
        consume: Callable[[Iterable[Sequence[Any]]], T],
    ) -> T:
        """``consume(chunks)`` over the rows of one query, streamed a chunk of rows at a time
        (see ``Connection.stream``)."""
        with self._lock:
            chunks = self._connection().stream(sql, params, context)
            try:
                return consume(chunks)
            finally:
                chunks.close()  # a consumer that failed midway: the query ends here

    def _write(self, sql: str, params: Sequence[Any], context: str) -> int:
        """One statement in its own transaction (bulk delete_many / patch_many)."""
        with self._lock:
            conn = self._connection()
            try:
                conn.begin()
                count: int = conn.execute(sql, params, context).rowcount
            except BaseException:
                conn.rollback()
                raise
            conn.commit()
            return count

    def cancel(self) -> None:
        """Cancel the statement this database is running, from another thread (a REPL's Ctrl-C).

        The call that was waiting fails with a ``DatabaseError``; whatever it belonged to reacts
        as to any failure (a failed commit rolls back and keeps the staged work). Does nothing
        when no connection is open. It takes no lock: the running call holds it."""
        conn = self._conn
        if conn is not None and not conn.broken:
            self.dialect.cancel(conn.raw)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- sessions, queries, schema -----------------------------------------------------------

    def create_session(self) -> Session:
        """A new unit of work."""
        return Session(self)

    def query(self, cls: type[T]) -> Query[T]:
        """An untracked query: fresh objects each time, no identity map."""
        return Query(self, self.entity(cls), None)

    def _resolve_untracked(self, target: EntityInfo, pk: Any) -> Any:
        return Unloaded(target, pk, self._load_untracked)

    def _load_untracked(self, target: EntityInfo, pk: Any) -> Any:
        obj = Query(self, target, None).by_pk(pk).find_one_or_none()
        if obj is None:
            raise NotFoundError(f"{target.cls.__name__} {pk!r} (a reference) does not exist")
        return obj

    def migration_plan(self) -> MigrationPlan:
        """What ``migrate()`` would do (and what it refuses to do); nothing is run."""
        with self._lock:
            return migration_plan(self._connection(), self.entities)

    def migrate(self) -> MigrationPlan:
        """Create missing tables, columns that can be added safely, indexes and constraints.

        Idempotent. Differences that could lose data are not applied; they are listed on the
        returned plan's ``refused``.
        """
        with self._lock:
            conn = self._connection()
            plan = migration_plan(conn, self.entities)
            if plan.statements:
                try:
                    conn.begin()
                    conn.executescript(plan.statements, "cannot migrate")
                except BaseException:
                    conn.rollback()
                    raise
                conn.commit()
                self._read_missing(conn)
            return plan
