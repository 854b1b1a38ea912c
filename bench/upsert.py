"""Scenario U: upsert N rows on a unique email, half of them existing, in one commit.

Three implementations write the same rows and read every row's key back:

- ``ormcli``: ``session.upsert(*members, on="email"); session.commit()`` (objects get their
  keys and are identity-mapped);
- ``sqlalchemy``: the dialect's ``insert(...).on_conflict_do_update`` (SQLite, PostgreSQL) or
  ``.on_duplicate_key_update`` (MariaDB) executed through an ORM ``Session`` with
  ``RETURNING`` the mapped objects where the dialect returns rows from it, then ``commit``;
- ``raw``: the floor — the batched SQL ormcli sends, written by hand and run on the driver
  (``VALUES`` chunks of 500 rows on SQLite, ``unnest`` arrays of 2,000 on PostgreSQL, one
  ``VALUES`` statement on MariaDB), keys read back into a dict by email.

Before every timed run the table holds N/2 rows (emails 0 .. N/2-1, the other values old); the
run upserts emails 0 .. N-1 with new names and scores. Printed: the median milliseconds of
``--repeat`` runs per implementation, ormcli against the floor and against SQLAlchemy. Run::

    python -m bench.upsert sqlite --rows 10000
    python -m bench.upsert postgresql://postgres@127.0.0.1:5432/test --rows 2000
    python -m bench.upsert mysql://root@127.0.0.1:3306/test --rows 2000

It creates and drops its own table ``bench_u_member`` (a SQLite database in a temporary
directory for ``sqlite``). Callers: people, not the test suite. What it leaves out: peewee and
Django (no peer of ``upsert`` that reads keys back in batches), and statistics beyond a median.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from core import AutoIncrement, Database, MaxLength, PrimaryKey, Unique, entity, parse_url

TABLE = "bench_u_member"


@entity.name(TABLE)
class Member:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    email: Annotated[str, Unique, MaxLength(100)] = ""
    name: Annotated[str, MaxLength(100)] = ""
    score: int = 0


#: One timed run: upsert emails 0 .. n-1 (round ``r`` names them ``new{r}``); returns the
#: number of keys read back.
Run = Callable[[int, int], int]


def _ormcli(url: str) -> tuple[Run, Callable[[], None]]:
    db = Database(url, [Member])

    def run(n: int, r: int) -> int:
        s = db.create_session()
        members = [Member(email=f"e{i}", name=f"new{r}-{i}", score=i + r) for i in range(n)]
        s.upsert(*members, on="email")
        s.commit()
        return sum(1 for m in members if m.id)

    return run, db.close


def _sa_url(url: str) -> str:
    if url.startswith("sqlite"):
        return url
    scheme = "postgresql+psycopg" if url.startswith("postgres") else "mysql+pymysql"
    return scheme + "://" + url.split("://", 1)[1]


def _sqlalchemy(url: str) -> tuple[Run, Callable[[], None]]:
    from sqlalchemy import BigInteger, Column, String, create_engine, select
    from sqlalchemy.orm import Session, declarative_base

    Base: Any = declarative_base()

    class SAMember(Base):  # type: ignore[misc,valid-type]
        __tablename__ = TABLE
        id = Column(BigInteger, primary_key=True, autoincrement=True)
        email = Column(String(100), unique=True, nullable=False)
        name = Column(String(100), nullable=False)
        score = Column(BigInteger, nullable=False)

    engine = create_engine(_sa_url(url))
    name = engine.dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    else:
        from sqlalchemy.dialects.mysql import insert  # type: ignore[assignment]

    returning = bool(engine.dialect.insert_returning)

    def run(n: int, r: int) -> int:
        rows = [{"email": f"e{i}", "name": f"new{r}-{i}", "score": i + r} for i in range(n)]
        stmt: Any = insert(SAMember)
        if name == "mysql":
            stmt = stmt.on_duplicate_key_update(name=stmt.inserted.name, score=stmt.inserted.score)
        else:
            stmt = stmt.on_conflict_do_update(
                index_elements=["email"],
                set_={"name": stmt.excluded.name, "score": stmt.excluded.score},
            )
        with Session(engine) as s:
            if returning:
                got = s.scalars(stmt.returning(SAMember), rows).all()
                keys = sum(1 for m in got if m.id)
            else:  # (no RETURNING from this dialect: read the keys by email)
                s.execute(stmt, rows)
                keys = len(s.execute(select(SAMember.id)).all())
            s.commit()
        return keys

    return run, engine.dispose


def _raw(url: str) -> tuple[Run, Callable[[], None]]:
    parsed = parse_url(url)
    conn: Any
    if parsed.scheme == "sqlite":
        import sqlite3

        conn = sqlite3.connect(parsed.database or ":memory:", isolation_level=None)
        mark, chunk = "?", 500
    elif parsed.scheme == "postgresql":
        import psycopg

        conn = psycopg.connect(url)
        mark, chunk = "%s", 2000
    else:
        import pymysql

        conn = pymysql.connect(
            host=parsed.host or "127.0.0.1",
            port=parsed.port or 3306,
            user=parsed.user or "root",
            password=parsed.password or "",
            database=parsed.database,
        )
        mark, chunk = "%s", 0
    scheme = parsed.scheme
    cols = "(email, name, score)"
    if scheme == "mysql":
        tail = " ON DUPLICATE KEY UPDATE name = VALUES(name), score = VALUES(score)"
    else:
        tail = " ON CONFLICT (email) DO UPDATE SET name = excluded.name, score = excluded.score"
    tail += " RETURNING id, email"

    def run(n: int, r: int) -> int:
        rows = [(f"e{i}", f"new{r}-{i}", i + r) for i in range(n)]
        keys: dict[str, int] = {}
        cur = conn.cursor()
        if scheme == "sqlite":
            cur.execute("BEGIN IMMEDIATE")
        size = chunk or n
        for start in range(0, n, size):
            part = rows[start : start + size]
            if scheme == "postgresql":
                sql = (
                    f"INSERT INTO {TABLE} {cols} SELECT * FROM "
                    "unnest(%s::text[], %s::text[], %s::bigint[])" + tail
                )
                params: list[Any] = [list(c) for c in zip(*part, strict=True)]
            else:
                one = f"({mark}, {mark}, {mark})"
                sql = f"INSERT INTO {TABLE} {cols} VALUES " + ", ".join([one] * len(part)) + tail
                params = [v for row in part for v in row]
            cur.execute(sql, params)
            keys.update((email, key) for key, email in cur.fetchall())
        if scheme == "sqlite":
            cur.execute("COMMIT")
        else:
            conn.commit()
        return len(keys)

    return run, conn.close


IMPLS: dict[str, Callable[[str], tuple[Run, Callable[[], None]]]] = {
    "ormcli": _ormcli,
    "sqlalchemy": _sqlalchemy,
    "raw": _raw,
}


def _reset(db: Database, n: int) -> None:
    """The table as every run finds it: rows e0 .. e{n/2 - 1} with old values, nothing else."""
    q = db.dialect.quote
    with db.pool.connection() as conn:
        conn.begin()
        conn.execute(f"DELETE FROM {q(TABLE)}", [])
        conn.commit()
    s = db.create_session()
    s.add(*(Member(email=f"e{i}", name="old", score=0) for i in range(n // 2)))
    s.commit()


def check(db: Database, n: int, r: int) -> None:
    """After a run: exactly ``n`` rows, every one with round ``r``'s name and score, and the
    first half still under the keys they had (updated, not replaced)."""
    rows = db.raw_rows(f"SELECT {db.dialect.quote('id')}, email, name, score FROM {TABLE}")
    by_email = {email: (key, name, score) for key, email, name, score in rows}
    if len(rows) != n or len(by_email) != n:
        raise AssertionError(f"U: {len(rows)} rows after upserting {n}")
    for i in range(n):
        _, name, score = by_email[f"e{i}"]
        if (name, score) != (f"new{r}-{i}", i + r):
            raise AssertionError(f"U: e{i} holds {(name, score)!r} after round {r}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="a database URL, or 'sqlite' for a temporary file")
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    tmp = tempfile.TemporaryDirectory()
    url = args.url
    if url == "sqlite":
        url = f"sqlite:///{Path(tmp.name) / 'upsert.db'}"
    db = Database(url, [Member])
    q = db.dialect.quote
    with db.pool.connection() as conn:  # (not migrate: the database may hold other tables)
        conn.execute(f"DROP TABLE IF EXISTS {q(TABLE)}")
        conn.execute(
            f"CREATE TABLE {q(TABLE)} ({q('id')} {db.dialect.autoincrement_pk}, "
            f"{q('email')} VARCHAR(100) NOT NULL UNIQUE, {q('name')} VARCHAR(100) NOT NULL, "
            f"{q('score')} BIGINT NOT NULL){db.dialect.table_options}"
        )
    times: dict[str, float] = {}
    try:
        for name, make in IMPLS.items():
            run, close = make(url)
            try:
                runs = []
                for r in range(args.repeat):
                    _reset(db, args.rows)
                    began = time.perf_counter()
                    keys = run(args.rows, r)
                    runs.append(time.perf_counter() - began)
                    if keys != args.rows:
                        raise AssertionError(f"{name}: {keys} keys read back of {args.rows}")
                    check(db, args.rows, r)
                times[name] = statistics.median(runs) * 1000
            finally:
                close()
    finally:
        with db.pool.connection() as conn:
            conn.execute(f"DROP TABLE {q(TABLE)}")
        db.close()
        tmp.cleanup()
    o, sa, raw = times["ormcli"], times["sqlalchemy"], times["raw"]
    print(
        f"scenario U on {db.url_display}: upsert {args.rows:,} rows on email, half existing "
        f"(median of {args.repeat})"
    )
    print(f"{'ormcli':>10} {'sqlalchemy':>11} {'raw':>9} {'vs raw':>7} {'vs SA':>7}")
    print(f"{o:>8.1f}ms {sa:>9.1f}ms {raw:>7.1f}ms {o / raw:>6.2f}x {o / sa:>6.2f}x")
    print("vs raw: ormcli's time / the floor's; vs SA: ormcli's time / SQLAlchemy's")


if __name__ == "__main__":
    main()
