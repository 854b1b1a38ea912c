"""Raw DB-API: the floor every other implementation is divided by.

Several variants, all with SQL text built once and reused (the drivers cache the prepared
form), reported side by side; the floor of a scenario is the fastest of them (``report``):

- ``raw-many``   one statement per row: ``executemany`` for UPDATE / DELETE; for INSERT, where
  ids must come back, psycopg's ``executemany(returning=True)`` (pipelined) on PostgreSQL and a
  loop of ``execute`` + ``lastrowid`` on SQLite and MySQL / MariaDB;
- ``raw-batch``  multi-row statements with the drivers' defaults: on PostgreSQL one statement
  per operation with one array per column (``INSERT ... SELECT * FROM unnest(...) RETURNING
  id``, ``UPDATE ... FROM unnest(...)``, ``DELETE ... WHERE id = ANY(...)``), text results,
  every statement in a transaction; elsewhere 1,000-row chunks under the parameter limit:
  ``INSERT ... VALUES (...), (...) RETURNING id`` (MariaDB has RETURNING too), ``UPDATE ...
  FROM (VALUES ...)`` (SQLite) or ``UPDATE ... SET c = CASE id WHEN ...`` (MySQL / MariaDB,
  500 rows), ``DELETE ... WHERE id IN (...)``;
- ``raw-tuned``  what a careful hand can add per backend: PostgreSQL reads in autocommit
  (no BEGIN / COMMIT round trips around a SELECT), binary results streamed 1,000 rows at a time,
  writes as BEGIN + statements + COMMIT in one pipeline, the statements in chunks (2,000 rows
  an INSERT or UPDATE, 500 keys a DELETE, as ormcli measured best: the server runs one chunk
  while the client builds the next); SQLite 500-row chunks (measured faster
  than 1,000); MariaDB ``UPDATE ... JOIN (WITH v(id, name, age) AS (VALUES ...) ...)``
  instead of CASE;
- ``raw-binary`` PostgreSQL only: ``raw-tuned`` with one buffered binary ``fetchall``
  instead of the stream.

The garbage collector: raw pauses the cyclic collector exactly where ormcli does
(``bench.interface.gc_paused``, the rule of ``core.codec.collector_paused``): around every
load, and around a write of 5,000 rows or more. Fetched rows stay the driver's tuples, with
SQLite's datetime text parsed (``fromisoformat``) so every backend returns the same Python
types; building entity objects is the first thing an ORM adds on top. Raw knows which rows it
changed; it has no change tracking to pay for — that is what the ratio to the floor measures.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from importlib.metadata import version
from typing import Any, ClassVar

from bench.backends import ALL_COLUMNS, DOC_TABLE, INSERT_COLUMNS, POST_TABLE, TABLE, to_db
from bench.interface import Impl, NotApplicable, SourceRow, Timer, every, gc_paused, spread

#: A fetched row: ``(id, name, email, age, created)`` with ``created`` a datetime.
RowTuple = tuple[int, str, str, int, datetime]


def _changed(rows: Sequence[RowTuple]) -> list[tuple[str, int, int]]:
    """UPDATE parameters ``(name, age, id)`` for rows edited as :func:`~bench.interface.change`
    edits an entity."""
    return [(r[1] + "*", r[3] + 1, r[0]) for r in rows]


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


#: Rows per multi-row statement (also bounded by the backend's parameter limit).
BATCH_ROWS = 1000
#: ``raw-tuned`` on SQLite: 500-row statements measured faster than 1,000 (as in ormcli).
TUNED_ROWS = 500
#: MySQL's CASE lookups grow with the chunk: 500 rows per statement measured best.
MYSQL_BATCH_ROWS = 500

#: PostgreSQL: one array per column (``raw-batch``: one statement whatever the row count, as
#: there is no parameter limit); measured faster than multi-row VALUES and than pipelined
#: executemany.
PG_INSERT = (
    f"INSERT INTO {TABLE} ({', '.join(INSERT_COLUMNS)}) SELECT * FROM"
    " unnest(%s::varchar[], %s::varchar[], %s::integer[], %s::timestamp[]) RETURNING id"
)
PG_UPDATE = (
    f"UPDATE {TABLE} AS t SET name = v.name, age = v.age"
    " FROM unnest(%s::integer[], %s::varchar[], %s::integer[]) AS v(id, name, age)"
    " WHERE t.id = v.id"
)
PG_DELETE = f"DELETE FROM {TABLE} WHERE id = ANY(%s::integer[])"
#: ``raw-tuned`` on PostgreSQL: rows of an INSERT / UPDATE and keys of a DELETE per statement,
#: all statements in one pipeline (ormcli's measured best, ``core.dialects.postgres``).
PG_CHUNK_ROWS = 2_000
PG_DELETE_KEYS = 500


class _Raw(Impl):
    """Shared by both variants: connection, loading, and the scenario skeletons."""

    batched: ClassVar[bool]
    #: Backend kinds the variant differs on (None: every backend); elsewhere it is skipped.
    kinds: ClassVar[frozenset[str] | None] = None
    #: Reads run outside any transaction (PostgreSQL ``raw-tuned``).
    autocommit = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.conn: Any = None
        b = self.backend
        self.p = b.placeholder
        self.select_sql = f"SELECT {', '.join(ALL_COLUMNS)} FROM {TABLE}"
        cols = ", ".join(INSERT_COLUMNS)
        self.row_marks = "(" + ", ".join([self.p] * len(INSERT_COLUMNS)) + ")"
        self.insert_sql = f"INSERT INTO {TABLE} ({cols}) VALUES {self.row_marks}"
        self.update_sql = f"UPDATE {TABLE} SET name = {self.p}, age = {self.p} WHERE id = {self.p}"
        self.delete_sql = f"DELETE FROM {TABLE} WHERE id = {self.p}"
        self.returning = True  # set in open() for MySQL (MariaDB has INSERT ... RETURNING)

    # -- set-up ------------------------------------------------------------------------------

    def versions(self) -> dict[str, str]:
        driver = {"sqlite": "", "postgresql": "psycopg", "mysql": "PyMySQL"}[self.backend.kind]
        return {driver: version(driver)} if driver else {}

    def open(self) -> None:
        if self.kinds is not None and self.backend.kind not in self.kinds:
            raise NotApplicable(f"{self.name} differs from raw-tuned on {sorted(self.kinds)} only")
        self.conn = self.backend.connect(autocommit=self.autocommit)
        if self.backend.kind == "mysql":
            cur = self.conn.cursor()
            cur.execute("SELECT version()")
            self.returning = "mariadb" in cur.fetchone()[0].lower()
            self.conn.commit()
            if not self.returning:
                self.notes.append("MySQL: ids from lastrowid + row count (no RETURNING)")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    # -- the primitives each variant implements ------------------------------------------------

    def _load(self) -> list[RowTuple]:
        with gc_paused():
            rows = self._rows()
            if self.backend.kind == "sqlite":
                parse = datetime.fromisoformat
                return [(i, n, e, a, parse(c)) for i, n, e, a, c in rows]
            return rows

    def _rows(self) -> list[RowTuple]:
        cur = self.conn.cursor()
        cur.execute(self.select_sql)
        rows: list[RowTuple] = cur.fetchall()
        return rows

    def _end_read(self) -> None:
        """End the transaction a read opened (none in autocommit)."""
        if not self.autocommit:
            self.conn.commit()

    @contextlib.contextmanager
    def _write(self, rows: int) -> Iterator[None]:
        """One transaction around the statements of the block, committed at its end."""
        with gc_paused(rows):
            yield
            self.conn.commit()

    def _insert(self, rows: Sequence[SourceRow]) -> list[int]:
        raise NotImplementedError

    def _update(self, params: Sequence[tuple[str, int, int]]) -> None:
        """UPDATE rows from ``(name, age, id)`` parameters."""
        raise NotImplementedError

    def _delete(self, rows: Sequence[RowTuple]) -> None:
        raise NotImplementedError

    # -- scenarios ----------------------------------------------------------------------------

    def insert(self, rows: Sequence[SourceRow], t: Timer) -> list[int]:
        with t, self._write(len(rows)):
            ids = self._insert(rows)
        return ids

    def fetch(self, t: Timer) -> list[Any]:
        with t:
            objs = self._load()
            self._end_read()
        return objs

    def load_change(self, step: int, t: Timer) -> None:
        with t:
            params = _changed(every(self._load(), step))
            with self._write(len(params)):
                self._update(params)

    def load_remove_all(self, t: Timer) -> None:
        with t:
            objs = self._load()
            with self._write(len(objs)):
                self._delete(objs)

    def mixed(self, new_rows: Sequence[SourceRow], t: Timer) -> None:
        k = len(new_rows)
        with t:
            objs = self._load()
            with self._write(3 * k):
                self._insert(new_rows)
                self._update(_changed(every(objs, 10, 0, k)))
                self._delete(every(objs, 10, 1, k))

    def commit_few(self, count: int, t: Timer) -> None:
        objs = self._load()
        self._end_read()
        params = _changed(spread(objs, count))
        with t, self._write(len(params)):
            self._update(params)

    def lookup(self, keys: Sequence[int], t: Timer) -> list[Any]:
        sql = f"{self.select_sql} WHERE id = {self.p}"
        sqlite = self.backend.kind == "sqlite"
        parse = datetime.fromisoformat
        with t:
            cur = self._cursor()
            kept: dict[int, RowTuple] = {}
            for key in keys:
                cur.execute(sql, (key,))
                i, n, e, a, c = cur.fetchone()
                kept[key] = (i, n, e, a, parse(c) if sqlite else c)
            again = [kept[key] for key in keys]
            self._end_read()
        return again

    def _cursor(self) -> Any:
        return self.conn.cursor()

    def _select(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """All rows of a query (as ``_rows`` reads ``bench_user``)."""
        cur = self._cursor()
        cur.execute(sql, params)
        return list(cur.fetchall())

    def remove_after(self, key: int, t: Timer) -> None:
        with t:
            with gc_paused():
                rows = self._select(f"{self.select_sql} WHERE id > {self.p}", (key,))
            with self._write(len(rows)):
                self._delete(rows)

    def fetch_posts(self, preload: bool, t: Timer) -> list[tuple[int, str, int]]:
        # Raw rows carry the author's key; there is nothing to preload.
        with t:
            with gc_paused():
                rows = self._select(f"SELECT id, title, author FROM {POST_TABLE}")
            self._end_read()
        return rows

    def commit_docs(self, count: int, t: Timer) -> None:
        with gc_paused():
            docs = self._select(f"SELECT id, name, data FROM {DOC_TABLE}")
            if self.backend.kind != "postgresql":  # JSON arrives as text
                docs = [(i, n, json.loads(d)) for i, n, d in docs]
        self._end_read()
        params = [(name + "*", i) for i, name, _ in spread(docs, count)]
        sql = f"UPDATE {DOC_TABLE} SET name = {self.p} WHERE id = {self.p}"
        with t, self._write(len(params)):
            self.conn.cursor().executemany(sql, params)

    def hold(self) -> tuple[Any, list[Any]]:
        objs = self._load()
        return None, objs

    def release(self, held: tuple[Any, list[Any]]) -> None:
        self._end_read()


class RawExecutemany(_Raw):
    """One statement per row, SQL cached: ``executemany`` (INSERT: per-row ids)."""

    name = "raw-many"
    description = "DB-API, one cached statement per row (executemany; INSERT reads ids per row)"
    batched = False

    def _insert(self, rows: Sequence[SourceRow]) -> list[int]:
        params = to_db(self.backend, rows)
        cur = self.conn.cursor()
        if self.backend.kind == "postgresql":
            cur.executemany(self.insert_sql + " RETURNING id", params, returning=True)
            ids = []
            while True:
                ids.append(cur.fetchone()[0])
                if not cur.nextset():
                    return ids
        ids = []
        execute, append = cur.execute, ids.append
        for row in params:
            execute(self.insert_sql, row)
            append(cur.lastrowid)
        return ids

    def _update(self, params: Sequence[tuple[str, int, int]]) -> None:
        if params:
            self.conn.cursor().executemany(self.update_sql, params)

    def _delete(self, rows: Sequence[RowTuple]) -> None:
        if rows:
            self.conn.cursor().executemany(self.delete_sql, [(r[0],) for r in rows])


class RawBatched(_Raw):
    """Multi-row statements: VALUES lists with RETURNING, UPDATE from VALUES / CASE, IN lists."""

    name = "raw-batch"
    description = (
        "DB-API, multi-row statements (VALUES ... RETURNING, UPDATE FROM VALUES / CASE, IN;"
        " PostgreSQL: unnest arrays)"
    )
    batched = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sql: dict[tuple[str, int], str] = {}  # (statement kind, rows) -> SQL text

    #: Rows per statement on SQLite (MySQL / MariaDB: ``MYSQL_BATCH_ROWS``).
    chunk_rows: ClassVar[int] = BATCH_ROWS
    #: MySQL / MariaDB UPDATE form: ``"case"`` or ``"join"`` (a JOIN to a VALUES list).
    mysql_update: ClassVar[str] = "case"

    def _rows_per(self, width: int) -> int:
        rows = MYSQL_BATCH_ROWS if self.backend.kind == "mysql" else self.chunk_rows
        return max(1, min(rows, self.backend.max_params // width))

    def _text(self, kind: str, n: int) -> str:
        """The SQL of a ``kind`` statement for ``n`` rows, built once."""
        sql = self._sql.get((kind, n))
        if sql is None:
            sql = self._sql[kind, n] = self._build(kind, n)
        return sql

    def _build(self, kind: str, n: int) -> str:
        p, backend = self.p, self.backend.kind
        marks = ", ".join([p] * n)
        if kind == "insert":
            values = ", ".join([self.row_marks] * n)
            sql = f"INSERT INTO {TABLE} ({', '.join(INSERT_COLUMNS)}) VALUES {values}"
            return sql + " RETURNING id" if self.returning else sql
        if kind == "delete":
            return f"DELETE FROM {TABLE} WHERE id IN ({marks})"
        if backend == "mysql" and self.mysql_update == "join":
            values = ", ".join([f"({p}, {p}, {p})"] * n)
            return (
                f"UPDATE {TABLE} JOIN (WITH v(id, name, age) AS (VALUES {values})"
                f" SELECT * FROM v) AS v ON {TABLE}.id = v.id"
                f" SET {TABLE}.name = v.name, {TABLE}.age = v.age"
            )
        if backend == "mysql":
            whens = " ".join([f"WHEN {p} THEN {p}"] * n)
            return (
                f"UPDATE {TABLE} SET name = CASE id {whens} END, age = CASE id {whens} END"
                f" WHERE id IN ({marks})"
            )
        values = ", ".join([f"({p}, {p}, {p})"] * n)
        return (
            f"UPDATE {TABLE} SET name = v.column2, age = v.column3 FROM (VALUES {values})"
            f" AS v WHERE {TABLE}.id = v.column1"
        )

    def _insert(self, rows: Sequence[SourceRow]) -> list[int]:
        cur = self.conn.cursor()
        if self.backend.kind == "postgresql":
            cur.execute(PG_INSERT, [list(column) for column in zip(*rows, strict=True)])
            return [r[0] for r in cur.fetchall()]
        params = to_db(self.backend, rows)
        ids: list[int] = []
        for chunk in _chunks(params, self._rows_per(len(INSERT_COLUMNS))):
            cur.execute(self._text("insert", len(chunk)), [v for row in chunk for v in row])
            if self.returning:
                ids.extend(r[0] for r in cur.fetchall())
            else:  # MySQL without RETURNING: consecutive ids from the first one
                ids.extend(range(cur.lastrowid, cur.lastrowid + len(chunk)))
        return ids

    def _update(self, params: Sequence[tuple[str, int, int]]) -> None:
        cur = self.conn.cursor()
        if self.backend.kind == "postgresql":
            names, ages, ids = (list(c) for c in zip(*params, strict=True))
            cur.execute(PG_UPDATE, [ids, names, ages])
            return
        for chunk in _chunks(params, self._rows_per(3)):
            if self.backend.kind == "mysql" and self.mysql_update == "case":
                # CASE id WHEN .. THEN ..: name, then age, then IN
                flat = [v for name, _, id_ in chunk for v in (id_, name)]
                flat += [v for _, age, id_ in chunk for v in (id_, age)]
                flat += [id_ for _, _, id_ in chunk]
            else:  # VALUES (id, name, age), ...
                flat = [v for name, age, id_ in chunk for v in (id_, name, age)]
            cur.execute(self._text("update", len(chunk)), flat)

    def _delete(self, rows: Sequence[RowTuple]) -> None:
        cur = self.conn.cursor()
        if self.backend.kind == "postgresql":
            cur.execute(PG_DELETE, [[r[0] for r in rows]])
            return
        for chunk in _chunks(rows, self._rows_per(1)):
            cur.execute(self._text("delete", len(chunk)), [r[0] for r in chunk])


class RawTuned(RawBatched):
    """``raw-batch`` with what each backend rewards (see the module docstring)."""

    name = "raw-tuned"
    description = (
        "DB-API tuned per backend: PostgreSQL autocommit reads, binary results streamed, writes"
        " pipelined; SQLite 500-row chunks; MariaDB UPDATE ... JOIN (VALUES ...)"
    )
    chunk_rows = TUNED_ROWS
    mysql_update = "join"
    #: PostgreSQL: read through ``cursor.stream`` (else one binary ``fetchall``).
    streamed = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.autocommit = self.backend.kind == "postgresql"

    def _cursor(self) -> Any:
        if self.backend.kind != "postgresql":
            return super()._cursor()
        return self.conn.cursor(binary=True)

    def _rows(self) -> list[RowTuple]:
        if self.backend.kind != "postgresql":
            return super()._rows()
        cur = self.conn.cursor(binary=True)
        if self.streamed:
            return list(cur.stream(self.select_sql, size=1000))
        rows: list[RowTuple] = cur.execute(self.select_sql).fetchall()
        return rows

    def _insert(self, rows: Sequence[SourceRow]) -> list[int]:
        if self.backend.kind != "postgresql":
            return super()._insert(rows)
        # Every chunk sent before the first result is read: one pipeline, no waits between.
        cursors = []
        for chunk in _chunks(rows, PG_CHUNK_ROWS):
            cur = self.conn.cursor()
            cur.execute(PG_INSERT, [list(column) for column in zip(*chunk, strict=True)])
            cursors.append(cur)
        return [r[0] for cur in cursors for r in cur.fetchall()]

    def _update(self, params: Sequence[tuple[str, int, int]]) -> None:
        if self.backend.kind != "postgresql":
            super()._update(params)
            return
        cur = self.conn.cursor()
        for chunk in _chunks(params, PG_CHUNK_ROWS):
            names, ages, ids = (list(c) for c in zip(*chunk, strict=True))
            cur.execute(PG_UPDATE, [ids, names, ages])

    def _delete(self, rows: Sequence[RowTuple]) -> None:
        if self.backend.kind != "postgresql":
            super()._delete(rows)
            return
        cur = self.conn.cursor()
        for chunk in _chunks(rows, PG_DELETE_KEYS):
            cur.execute(PG_DELETE, [[r[0] for r in chunk]])

    @contextlib.contextmanager
    def _write(self, rows: int) -> Iterator[None]:
        if self.backend.kind != "postgresql":
            with super()._write(rows):
                yield
            return
        with gc_paused(rows), self.conn.pipeline():
            self.conn.execute("BEGIN")
            yield
            self.conn.execute("COMMIT")


class RawBinary(RawTuned):
    """PostgreSQL: ``raw-tuned`` reading one buffered binary result instead of a stream."""

    name = "raw-binary"
    description = "PostgreSQL: raw-tuned with one binary fetchall instead of the stream"
    kinds = frozenset({"postgresql"})
    streamed = False
