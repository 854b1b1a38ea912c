"""The Database: entities registered on an adapter, a pool of connections, sessions and queries.

``Database(adapter_or_url, entities, pool_size=5, pool_timeout=30)`` checks the entities (and
pulls in the ones they reference), keeps a ``core.pool.Pool`` of connections opened lazily (a
lost connection is dropped and the next use opens a new one; ``pool_size`` / ``pool_timeout``
may also be given in the URL's query string), and hands out sessions, scoped transactions
(``transaction()``) and untracked queries. It is safe to share between threads: every
statement runs on a connection checked out of the pool for that statement, or held by a
session while its transaction is open. Callers: user code
and ``ormcli``. What it leaves out: the unit of work (``core.session``) and schema diffing
(``core.migrations``).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from core.adapters import Adapter, adapter_from_url
from core.cluster import Router, Server
from core.codec import EntityCodec
from core.collection import UNTRACKED
from core.connection import Connection
from core.entity import EntityInfo, Unloaded, entity_info, entity_infos
from core.errors import (
    ConfigurationError,
    DatabaseError,
    ModelError,
    NotFoundError,
    UnknownEntityError,
)
from core.events import Events, has_entity_methods
from core.migrations.names import check_names
from core.pool import Pool
from core.query import Query
from core.raw import bind, column_order
from core.select import Row, row_class
from core.session import Session
from core.sql import select_sql
from core.url import DatabaseURL, parse_url

if TYPE_CHECKING:  # imported by migrate() when it runs: opening a database needs none of it
    from core.migrations import MigrationPlan, Questioner

__all__ = ["Database"]

T = TypeVar("T")


def _pool_settings(url: str | DatabaseURL) -> tuple[DatabaseURL, dict[str, Any]]:
    """The URL without ``pool_size`` / ``pool_timeout`` query parameters, and their values."""
    parsed = parse_url(url)
    kept, found = [], {}
    for key, value in parsed.query:
        if key in ("pool_size", "pool_timeout"):
            try:
                found[key] = int(value) if key == "pool_size" else float(value)
            except ValueError:
                raise ConfigurationError(
                    f"{key} in {parsed.display!r} must be a number, got {value!r}"
                ) from None
        else:
            kept.append((key, value))
    return parsed._replace(query=tuple(kept)), found


def _consume(
    conn: Connection,
    sql: str,
    params: Sequence[Any],
    context: str,
    consume: Callable[[Iterable[Sequence[Any]]], T],
) -> T:
    chunks = conn.stream(sql, params, context)
    try:
        return consume(chunks)
    finally:
        chunks.close()  # a consumer that failed midway: the query ends here


class _Scope:
    """What ``Database.transaction`` returns: commit at the end of the block, close either
    way (a class, not a generator: a request pays for its context manager)."""

    __slots__ = ("session",)

    def __init__(self, session: Session) -> None:
        self.session = session

    def __enter__(self) -> Session:
        return self.session

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        try:
            if exc_type is None:
                self.session.commit()
        finally:
            self.session.close()


class Database:
    """Entities on a backend. ``Database("sqlite:///app.db", [User, Post])``.

    Several servers (``core.cluster``): ``Database(primary_url, entities, replicas=[url, ...])``
    for a primary with read replicas (a replica that is promoted takes the writes when the
    primary is gone), and ``Database([node_url, ...], entities)`` for equal nodes (a Galera
    cluster). ``replica_reads=True`` lets sessions that have not written read from replicas
    (or any node); ``causal_reads`` sets Galera's ``wsrep_sync_wait`` on every connection
    (default 1 for a node list); ``balance`` is ``"first"`` (one writer at a time, failing over
    down the list) or ``"round-robin"``; ``max_replica_lag`` and ``retry_after`` are seconds.
    """

    def __init__(
        self,
        adapter: Adapter | str | DatabaseURL | Sequence[str | DatabaseURL],
        entities: Iterable[type] = (),
        *,
        log_values: bool = False,
        pool_size: int | None = None,
        pool_timeout: float | None = None,
        replicas: Sequence[str | DatabaseURL] = (),
        replica_reads: bool = False,
        causal_reads: int | None = None,
        balance: str = "first",
        max_replica_lag: float = 5.0,
        retry_after: float = 2.0,
    ) -> None:
        nodes: list[str | DatabaseURL] = []
        if isinstance(adapter, list | tuple):
            nodes = list(adapter)
            if not nodes:
                raise ConfigurationError("Database() was given an empty list of server URLs")
            if replicas:
                raise ConfigurationError(
                    "Database() takes either a list of equal nodes or a primary with "
                    "replicas=[...], not both"
                )
            adapter = nodes[0]
            if causal_reads is None:
                causal_reads = 1
        url_pool: dict[str, Any] = {}
        if isinstance(adapter, str | DatabaseURL):
            adapter, url_pool = _pool_settings(adapter)
            adapter = adapter_from_url(adapter)
        if not isinstance(adapter, Adapter):
            raise ConfigurationError(f"Database() takes an adapter or a URL, got {adapter!r}")
        self.adapter = adapter
        self.dialect = adapter.dialect
        self.log_values = log_values
        self.replica_reads = replica_reads
        self.causal_reads = causal_reads
        infos = entity_infos(entities)
        names: dict[str, EntityInfo] = {}
        for info in infos:
            if info.name in names and names[info.name].cls is not info.cls:
                raise ModelError(
                    f"two entities are named {info.name!r} ({names[info.name].cls.__qualname__} "
                    f"and {info.cls.__qualname__}); give one another name with @entity.name"
                )
            names[info.name] = info
        check_names(infos, self.dialect.max_identifier_bytes, self.dialect.reserved_prefixes)
        self.entities: tuple[EntityInfo, ...] = tuple(infos)
        self._by_name = names
        self._codecs: dict[EntityInfo, EntityCodec] = {}
        #: Per entity, mapped columns its existing table lacks, where the database would not
        #: refuse them itself (``Dialect.missing_columns``): read on connecting and after
        #: ``migrate``.
        self._missing: dict[EntityInfo, list[str]] = {}
        self._missing_read = False
        #: Per entity with a one-field key: ``Session.get``'s SELECT by key and its error
        #: context (made on first use; forgotten when the columns are read again).
        self._by_key: dict[EntityInfo, tuple[str, str]] = {}
        #: Hooks for every session (``on``); whether an entity has hook methods (cached).
        self.events = Events()
        self._hooks_cache: bool | None = None
        #: The connections (see ``core.pool``): ``pool_size`` / ``pool_timeout`` from the
        #: arguments, else from the URL's query string, else 5 and 30 seconds. With several
        #: servers, one pool each behind a ``core.cluster.Router`` (the same interface).
        size = pool_size if pool_size is not None else url_pool.get("pool_size", 5)
        timeout = pool_timeout if pool_timeout is not None else url_pool.get("pool_timeout", 30.0)
        self.pool: Pool | Router
        if not nodes and not replicas:
            self.pool = Pool(
                self._open,
                size=size,
                timeout=timeout,
                shared=adapter.shared_connection,
                name=adapter.url_display,
            )
            return
        adapters = [adapter] + [
            adapter_from_url(_pool_settings(u)[0]) for u in (nodes[1:] or replicas)
        ]
        for other in adapters[1:]:
            if type(other.dialect) is not type(self.dialect):
                raise ConfigurationError(
                    f"every server of one Database must be of one kind: {other.url_display!r} "
                    f"is not a {self.dialect.name} URL like {adapter.url_display!r}"
                )
        servers = [
            Server(
                a.url_display,
                Pool(partial(self._open, a), size=size, timeout=timeout, name=a.url_display),
            )
            for a in adapters
        ]
        self.pool = Router(
            servers,
            servers if nodes else servers[1:],
            balance=balance,
            retry_after=retry_after,
            max_replica_lag=max_replica_lag,
        )

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

    def _open(self, adapter: Adapter | None = None) -> Connection:
        """A new connection, for the pool (the first one reads which columns tables lack);
        ``adapter``: which server of a list (default: the one server)."""
        adapter = adapter or self.adapter
        raw = adapter.connect()
        adapter.prepare(raw)
        conn = Connection(
            raw,
            self.dialect,
            {i.table: i.cls.__name__ for i in self.entities},
            log_values=self.log_values,
        )
        if self.causal_reads is not None:
            causal = self.dialect.causal_reads_sql(self.causal_reads)
            if causal:
                conn.execute(causal, (), "make reads causal")
        if not self._missing_read:
            self._read_missing(conn)
        return conn

    def connection(self) -> Connection:
        """A pooled connection, left in the pool (``Pool.peek``): for tools and tests that run
        single statements on it and read its counters. Sessions acquire their own."""
        return self.pool.peek()

    def _require_columns(self, info: EntityInfo) -> None:
        """Before querying ``info``'s table: every mapped column must be there."""
        if not self._missing_read:
            self.pool.peek()
        missing = self._missing.get(info)
        if missing:
            by_column = {f.column: f.name for f in info.fields}
            name = info.cls.__name__
            raise DatabaseError(
                f"cannot query {name}: the table {info.table!r} has no column "
                f"{missing[0]!r} ({name}.{by_column[missing[0]]}); run migrate"
            )

    def _read_missing(self, conn: Connection) -> None:
        missing = {}
        for info in self.entities:
            columns = self.dialect.missing_columns(conn, info.table, info.column_names)
            if columns:
                missing[info] = columns
        self._missing = missing
        self._missing_read = True
        self._by_key.clear()

    def _select_by_key(self, info: EntityInfo) -> tuple[str, str]:
        """``SELECT <every column> FROM t WHERE key = ?`` of an entity with a one-field key,
        and its error context (``Session.get``; ``DatabaseError`` if the table lacks a mapped
        column)."""
        found = self._by_key.get(info)
        if found is None:
            self._require_columns(info)
            q = self.dialect.quote
            where = f" WHERE {q(info.primary_key[0].column)} = {self.dialect.placeholder}"
            sql = select_sql(self.dialect, info.table, info.column_names) + where
            found = self._by_key[info] = (sql, f"cannot query {info.cls.__name__}")
        return found

    @property
    def servers(self) -> str:
        """Where writes and reads go, one line with passwords masked (the URL for one server)."""
        if isinstance(self.pool, Router):
            return self.pool.describe()
        return self.url_display

    def _reading(self, replica: bool) -> AbstractContextManager[Connection]:
        """A connection for a read outside any transaction: a replica's when ``replica`` and
        the database has replicas (``core.cluster``), else the writer's."""
        if replica and isinstance(self.pool, Router):
            return self.pool.read_connection()
        return self.pool.connection()

    def _fetch(
        self, sql: str, params: Sequence[Any], context: str, replica: bool | None = None
    ) -> list[Any]:
        """Rows of one query on a pooled connection; ``replica`` (default: the database's
        ``replica_reads``, for untracked queries) lets a replica answer."""
        with self._reading(self.replica_reads if replica is None else replica) as conn:
            return conn.fetchall(sql, params, context)

    def _lookup(self, sql: str, params: Sequence[Any], context: str, replica: bool) -> list[Any]:
        """``_fetch`` of a small query (a row by key, ``Session.get``): ``Connection.lookup``
        on a pooled connection, checked out and back without a context manager."""
        pool = self.pool
        if replica and isinstance(pool, Router):
            with pool.read_connection() as conn:
                return conn.lookup(sql, params, context)
        conn = pool.acquire()
        try:
            return conn.lookup(sql, params, context)
        finally:
            pool.release(conn)

    def _load(
        self,
        sql: str,
        params: Sequence[Any],
        context: str,
        consume: Callable[[Iterable[Sequence[Any]]], T],
        replica: bool | None = None,
    ) -> T:
        """``consume(chunks)`` over the rows of one query, streamed a chunk of rows at a time
        (see ``Connection.stream``); ``replica`` as for ``_fetch``."""
        with self._reading(self.replica_reads if replica is None else replica) as conn:
            return _consume(conn, sql, params, context, consume)

    def _stream(
        self, sql: str, params: Sequence[Any], context: str, batch: int
    ) -> Generator[Sequence[Any], None, None]:
        """The rows of one query in chunks of ``batch``, read while the caller's loop runs
        (``Query.stream``). Where the dialect wants it (servers), the stream holds a pooled
        connection of its own to the end, read unbuffered (``Dialect.stream_unbuffered``), and
        other statements of the loop use other connections; a stream stopped early closes its
        connection rather than reuse one with a result left unread. SQLite releases the
        connection once the query runs: its cursor steps on while the same connection serves
        the loop's statements (writes included)."""
        own = self.dialect.stream_on_own_connection
        conn = self.pool.acquire()
        held, finished = True, False
        chunks = conn.stream(sql, params, context, batch, unbuffered=own)
        try:
            chunk = next(chunks, None)  # the query runs
            if not own:
                held = False
                self.pool.release(conn)
            while chunk is not None:
                yield chunk
                chunk = next(chunks, None)
            finished = True
        finally:
            chunks.close()  # stopped early: the query ends (unread rows stay unread)
            if held:
                if not finished:
                    conn.broken = True  # the pool closes it
                self.pool.release(conn)

    def _explain(self, sql: str, params: Sequence[Any], context: str) -> list[str]:
        names, rows = self._fetch_described(self.dialect.explain_sql + sql, params, context)
        if len(names) == 1:
            return [str(row[0]) for row in rows]
        return [
            ", ".join(f"{n}={v}" for n, v in zip(names, row, strict=True) if v is not None)
            for row in rows
        ]

    def settle(self) -> None:
        """Wait until the server has applied every write its cluster certified
        (``Dialect.settle_sql``; nothing where there is nothing to wait for). Called by
        ``Session.commit`` before it retries after a conflict: on Galera the retry would
        otherwise race the applier of the very commit it lost to (an immediate retry on a
        loaded node is certified against it again)."""
        sql = self.dialect.settle_sql
        if sql:
            with self.pool.connection() as conn:
                conn.fetchall(sql, (), "wait for the cluster's certified writes")

    def _fetch_described(
        self, sql: str, params: Sequence[Any], context: str
    ) -> tuple[list[str], list[Any]]:
        with self.pool.connection() as conn:
            return conn.fetch_described(sql, params, context)

    def raw(
        self, cls: type[T], sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None
    ) -> list[T]:
        """Untracked objects of ``cls`` from your own SELECT (every column of its table, by
        name). Mark values with ``?`` (a list) or ``:name`` (a dict): they are bound, never
        written into the SQL."""
        info = self.entity(cls)
        names, rows = self._run_raw(sql, params, f"cannot run raw SQL for {info.cls.__name__}")
        order = column_order(info, names)
        hydrate = self.codec(info).hydrate
        resolve = self._resolve_untracked
        return [hydrate([row[i] for i in order], UNTRACKED, resolve) for row in rows]

    def raw_rows(
        self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None
    ) -> list[Row]:
        """Plain rows of your own SQL, reading by column name or position, values as the
        driver gives them; parameters as for ``raw``."""
        names, rows = self._run_raw(sql, params, "cannot run raw SQL")
        cls = row_class(names)
        return [tuple.__new__(cls, row) for row in rows]

    def _run_raw(
        self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None, context: str
    ) -> tuple[list[str], list[Any]]:
        text, values = bind(self.dialect, sql, params)
        return self._fetch_described(text, values, context)

    def _write(self, sql: str, params: Sequence[Any], context: str) -> int:
        """One statement in its own transaction (bulk delete_many / patch_many)."""
        with self.pool.connection() as conn:
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
        when no connection is checked out. Every connection checked out of the pool is asked
        (one that is idle inside a session's transaction ignores it)."""
        for conn in self.pool.busy():
            if not conn.broken:
                try:
                    self.dialect.cancel(conn.raw)
                except Exception as exc:  # the driver's own error, into the error tree
                    context = "cannot cancel the running statement"
                    raise self.dialect.translate_error(exc, {}, context) from None

    def close(self) -> None:
        """Close the pool's idle connections (the database stays usable: a later statement
        opens a new one)."""
        self.pool.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- sessions, queries, schema -----------------------------------------------------------

    def on(self, target: str | type, event: Any = None, fn: Any = None) -> Any:
        """Register a hook for every session of this database (``core.events``):
        ``database.on("after_commit", fn)``, ``database.on(Post, "before_update", fn)``, or
        as a decorator without ``fn``."""
        self._hooks_cache = None
        return self.events.on(target, event, fn)

    def _has_hooks(self) -> bool:
        """Whether any hook is registered here or any entity has a hook method."""
        if self._hooks_cache is None:
            self._hooks_cache = any(has_entity_methods(i) for i in self.entities)
        return self._hooks_cache or bool(self.events)

    def create_session(self, *, replica_reads: bool | None = None) -> Session:
        """A new unit of work. ``replica_reads`` (default: the database's setting) lets its
        reads go to a replica until it first writes (see ``docs/scale-out.md``)."""
        session = Session(self)
        if replica_reads is not None:
            session.replica_reads = replica_reads
        return session

    def transaction(self) -> AbstractContextManager[Session]:
        """``with database.transaction() as session:`` a session whose work is committed when
        the block ends, and rolled back if it ends by an exception (or the commit fails); the
        session is closed either way."""
        session = Session(self)
        # The block is one transaction: its first statement opens it (and checks out the
        # connection it holds to the end), reads included where the dialect allows
        # (``Dialect.scoped_reads_in_transaction``).
        session._scoped = self.dialect.scoped_reads_in_transaction
        return _Scope(session)

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

    def migration_plan(self, *, backfill: dict[str, Any] | None = None) -> MigrationPlan:
        """What ``migrate()`` would do, with the data checked; nothing is written."""
        from core.migrations.runner import MigrateOptions
        from core.migrations.runner import migrate as run_migrate

        with self.pool.connection() as conn:
            options = MigrateOptions(dry_run=True, allow_data_loss=True, backfill=backfill or {})
            return run_migrate(conn, self.entities, options)

    def migrate(
        self,
        *,
        allow_data_loss: bool = False,
        dry_run: bool = False,
        backfill: dict[str, Any] | None = None,
        online: bool = False,
        lock_timeout: float = 10.0,
        questioner: Questioner | None = None,
    ) -> MigrationPlan:
        """Bring the schema to the models, all or nothing; idempotent.

        Safe steps apply without asking. Steps that would lose data need
        ``allow_data_loss=True`` (or a ``questioner`` that confirms); steps the data blocks
        (NOT NULL over NULLs without ``backfill``, a unique over duplicates, ...) and
        suggested renames raise ``MigrationError`` with the counts, and nothing is applied.
        """
        from core.migrations.runner import MigrateOptions
        from core.migrations.runner import migrate as run_migrate

        options = MigrateOptions(
            allow_data_loss=allow_data_loss,
            dry_run=dry_run,
            backfill=backfill or {},
            online=online,
            lock_timeout=lock_timeout,
        )
        if questioner is not None:
            options.questioner = questioner
        with self.pool.connection() as conn:
            plan = run_migrate(conn, self.entities, options)
            if plan.applied:
                self._read_missing(conn)
            return plan
