"""Bench of ``ormcli migrate`` against the same DDL typed by hand (issue 14, point 13).

On a table of ``--rows`` rows (1,000,000 by default) per backend: add a NOT NULL column with a
constant default, then an index. The floor runs the two statements by hand; ormcli runs
``Database.migrate()`` for the model that has both (schema read, data checks, lock, history row
included). Each side starts from the same table (the column and index dropped between runs);
the best of ``--repeat`` runs is kept. Alembic's generated migration is not measured here
(Alembic is not among the bench peers yet). Run: ``python -m bench.migrate_ddl [--rows N]
[--db URL]...``; prints one line per backend with both times and the ratio.
"""

from __future__ import annotations

import argparse
import time
from typing import Annotated

from core import AutoIncrement, Database, Index, MaxLength, PrimaryKey, entity

TABLE = "bench_migrate"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_MYSQL = "mysql://root@127.0.0.1:3306/test"


def _models() -> tuple[type, type]:
    @entity.name(TABLE)
    class Before:
        id: Annotated[int, PrimaryKey, AutoIncrement] = 0
        title: Annotated[str, MaxLength(40)] = ""

    @entity.name(TABLE)
    class After:
        id: Annotated[int, PrimaryKey, AutoIncrement] = 0
        title: Annotated[str, MaxLength(40), Index] = ""
        rating: int = 0

    return Before, After


def _fill(db: Database, rows: int) -> None:
    q, p = db.dialect.quote, db.dialect.placeholder
    sql = f"INSERT INTO {q(TABLE)} ({q('title')}) VALUES ({p})"
    with db.pool.connection() as conn:
        conn.begin()
        batch = 50_000
        for start in range(0, rows, batch):
            conn.executemany(
                sql, [(f"t{i % 9973}",) for i in range(start, min(rows, start + batch))]
            )
        conn.commit()


def _reset(db: Database) -> None:
    q = db.dialect.quote
    with db.pool.connection() as conn:
        names = {r[1] for r in conn.fetchall(db.dialect.catalog_indexes_sql)}
        if f"ix_{TABLE}_title" in names:
            conn.execute(
                db.dialect.drop_index_sql.format(index=q(f"ix_{TABLE}_title"), table=q(TABLE))
            )
        cols = {r[1] for r in conn.fetchall(db.dialect.catalog_columns_sql) if r[0] == TABLE}
        if "rating" in cols:
            conn.execute(f"ALTER TABLE {q(TABLE)} DROP COLUMN {q('rating')}")


def _by_hand(db: Database) -> float:
    q = db.dialect.quote
    started = time.perf_counter()
    with db.pool.connection() as conn:
        conn.execute(
            f"ALTER TABLE {q(TABLE)} ADD COLUMN {q('rating')} {db.dialect.sql_type('int')} "
            "NOT NULL DEFAULT 0"
        )
        conn.execute(f"CREATE INDEX {q(f'ix_{TABLE}_title')} ON {q(TABLE)} ({q('title')})")
    return time.perf_counter() - started


def _ormcli(db: Database) -> float:
    started = time.perf_counter()
    plan = db.migrate()
    elapsed = time.perf_counter() - started
    assert [op.kind for op in plan.ops] == ["add_column", "create_index"], plan.text()
    return elapsed


def _own_database(url: str) -> str:
    """A schema (PostgreSQL) or database (MariaDB) of the bench's own: migrate brings the
    whole database to the models, and a shared one holds other tables."""
    name = "ormcli_bench_migrate"
    if url.startswith("postgres"):
        Database(url, []).connection().execute(f'CREATE SCHEMA IF NOT EXISTS "{name}"')
        sep = "&" if "?" in url else "?"
        return f"{url}{sep}options=-csearch_path%3D{name}"
    if url.startswith(("mysql", "mariadb")):
        Database(url, []).connection().execute(f"CREATE DATABASE IF NOT EXISTS `{name}`")
        return url.rsplit("/", 1)[0] + "/" + name
    return url


def run(url: str, rows: int, repeat: int) -> str:
    url = _own_database(url)
    before, after = _models()
    base = Database(url, [before])
    base.migrate()
    with base.pool.connection() as conn:
        have = conn.fetchall(f"SELECT COUNT(*) FROM {base.dialect.quote(TABLE)}")[0][0]
    if have != rows:
        with base.pool.connection() as conn:
            conn.execute(f"DELETE FROM {base.dialect.quote(TABLE)}")
        _fill(base, rows)
    hand, orm = [], []
    db = Database(url, [after])
    for _ in range(repeat):
        _reset(base)
        hand.append(_by_hand(base))
        _reset(base)
        orm.append(_ormcli(db))
    with base.pool.connection() as conn:  # a bench database: leave nothing behind
        conn.execute(f"DROP TABLE {base.dialect.quote(TABLE)}")
        conn.execute(f"DROP TABLE {base.dialect.quote('ormcli_migrations')}")
    db.close()
    base.close()
    h, o = min(hand), min(orm)
    return (
        f"{base.dialect.name:10} rows={rows:,}  by hand {h * 1000:8.1f} ms  "
        f"ormcli {o * 1000:8.1f} ms  {o / h:5.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--db", action="append")
    args = parser.parse_args()
    urls = args.db or ["sqlite:///bench_migrate.db", DEFAULT_PG, DEFAULT_MYSQL]
    for url in urls:
        print(run(url, args.rows, args.repeat), flush=True)


if __name__ == "__main__":
    main()
