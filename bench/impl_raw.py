"""Raw DB-API: the floor every other implementation is divided by.

Two variants, both with SQL text built once and reused (the drivers cache the prepared form):

- ``raw-many``  one statement per row: ``executemany`` for UPDATE / DELETE; for INSERT, where
  ids must come back, psycopg's ``executemany(returning=True)`` (pipelined) on PostgreSQL and a
  loop of ``execute`` + ``lastrowid`` on SQLite and MySQL / MariaDB;
- ``raw-batch`` multi-row statements: on PostgreSQL one statement per operation with one array
  per column (``INSERT ... SELECT * FROM unnest(...) RETURNING id``, ``UPDATE ... FROM
  unnest(...)``, ``DELETE ... WHERE id = ANY(...)``); elsewhere chunked under the parameter
  limit: ``INSERT ... VALUES (...), (...) RETURNING id`` (MariaDB has RETURNING too),
  ``UPDATE ... FROM (VALUES ...)`` (SQLite) or ``UPDATE ... SET c = CASE id WHEN ...``
  (MySQL / MariaDB), ``DELETE ... WHERE id IN (...)``.

The floor of a scenario is the faster of the two. Fetched rows stay the driver's tuples, with
SQLite's datetime text parsed (``fromisoformat``) so every backend returns the same Python types;
building entity objects is the first thing an ORM adds on top (which is why S2's target allows
2.5x). Raw knows which rows it changed; it has no change tracking to pay for — that is what the
ratio to the floor measures.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from importlib.metadata import version
from typing import Any, ClassVar

from bench.backends import ALL_COLUMNS, INSERT_COLUMNS, TABLE, to_db
from bench.interface import Impl, SourceRow, Timer, every, spread

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
#: MySQL's CASE lookups grow with the chunk: 500 rows per statement measured best.
MYSQL_BATCH_ROWS = 500

#: PostgreSQL: one array per column, one statement whatever the row count (no parameter limit);
#: measured faster than multi-row VALUES and than pipelined executemany.
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


class _Raw(Impl):
    """Shared by both variants: connection, loading, and the scenario skeletons."""

    batched: ClassVar[bool]

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
        self.conn = self.backend.connect()
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
        cur = self.conn.cursor()
        cur.execute(self.select_sql)
        rows: list[RowTuple] = cur.fetchall()
        if self.backend.kind == "sqlite":
            parse = datetime.fromisoformat
            return [(i, n, e, a, parse(c)) for i, n, e, a, c in rows]
        return rows

    def _insert(self, rows: Sequence[SourceRow]) -> list[int]:
        raise NotImplementedError

    def _update(self, params: Sequence[tuple[str, int, int]]) -> None:
        """UPDATE rows from ``(name, age, id)`` parameters."""
        raise NotImplementedError

    def _delete(self, rows: Sequence[RowTuple]) -> None:
        raise NotImplementedError

    # -- scenarios ----------------------------------------------------------------------------

    def insert(self, rows: Sequence[SourceRow], t: Timer) -> list[int]:
        with t:
            ids = self._insert(rows)
            self.conn.commit()
        return ids

    def fetch(self, t: Timer) -> list[Any]:
        with t:
            objs = self._load()
            self.conn.commit()
        return objs

    def load_change(self, step: int, t: Timer) -> None:
        with t:
            self._update(_changed(every(self._load(), step)))
            self.conn.commit()

    def load_remove_all(self, t: Timer) -> None:
        with t:
            self._delete(self._load())
            self.conn.commit()

    def mixed(self, new_rows: Sequence[SourceRow], t: Timer) -> None:
        k = len(new_rows)
        with t:
            objs = self._load()
            self._insert(new_rows)
            self._update(_changed(every(objs, 10, 0, k)))
            self._delete(every(objs, 10, 1, k))
            self.conn.commit()

    def commit_few(self, count: int, t: Timer) -> None:
        objs = self._load()
        self.conn.commit()
        params = _changed(spread(objs, count))
        with t:
            self._update(params)
            self.conn.commit()

    def hold(self) -> tuple[Any, list[Any]]:
        objs = self._load()
        return None, objs

    def release(self, held: tuple[Any, list[Any]]) -> None:
        self.conn.commit()


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

    def _rows_per(self, width: int) -> int:
        rows = MYSQL_BATCH_ROWS if self.backend.kind == "mysql" else BATCH_ROWS
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
            if self.backend.kind == "mysql":  # CASE id WHEN .. THEN ..: name, then age, then IN
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
