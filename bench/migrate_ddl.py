"""Bench of ``ormcli migrate`` against the same DDL typed by hand and against Alembic
(issue 14, point 13).

On a table of ``--rows`` rows (1,000,000 by default) per backend: add a NOT NULL column with a
constant default, then an index. Three ways, each from the same table (the column and index
dropped between runs), best of ``--repeat``:

- **by hand** (the floor): the two statements, nothing else;
- **ormcli**: ``Database.migrate()`` for the model that has both (schema read, data checks,
  lock, history row included);
- **Alembic**: the migration its autogenerate writes for that change (checked once per
  backend with ``produce_migrations``: exactly an ``add_column`` with ``server_default`` and
  a ``create_index``), run as ``alembic upgrade`` runs it: in a transaction where the backend
  has one, with the ``alembic_version`` row updated, and on SQLite in batch mode
  (``batch_alter_table``, as ``render_as_batch=True`` writes it).

On PostgreSQL the bench also checks that adding the column with a constant default is
metadata only: the table's ``relfilenode`` is the same after it (no rewrite) and the step's
time is reported. Run: ``python -m bench.migrate_ddl [--rows N] [--repeat R] [--db URL]...``;
prints one line per backend. Needs the ``bench`` extra (SQLAlchemy, Alembic).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Annotated, Any

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


#: Seconds the by-hand ADD COLUMN took (the last run), for the metadata-only check.
ADD_COLUMN_SECONDS: list[float] = []


def _by_hand(db: Database) -> float:
    q = db.dialect.quote
    started = time.perf_counter()
    with db.pool.connection() as conn:
        conn.execute(
            f"ALTER TABLE {q(TABLE)} ADD COLUMN {q('rating')} {db.dialect.sql_type('int')} "
            "NOT NULL DEFAULT 0"
        )
        ADD_COLUMN_SECONDS.append(time.perf_counter() - started)
        conn.execute(f"CREATE INDEX {q(f'ix_{TABLE}_title')} ON {q(TABLE)} ({q('title')})")
    return time.perf_counter() - started


def _sqlalchemy_url(url: str) -> str:
    if url.startswith("postgres"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    if url.startswith(("mysql", "mariadb")):
        return "mysql+pymysql://" + url.split("://", 1)[1]
    return url


class Alembic:
    """Alembic's generated migration for the change, run as ``alembic upgrade`` would."""

    def __init__(self, url: str) -> None:
        import sqlalchemy as sa

        self.sa = sa
        self.engine = sa.create_engine(_sqlalchemy_url(url), poolclass=sa.pool.QueuePool)
        self.batch = self.engine.dialect.name == "sqlite"
        with self.engine.begin() as conn:  # left by a run that was stopped
            conn.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))

    def prepare(self) -> None:
        """Untimed: the version table as a project using Alembic has it (ormcli's runs see no
        such table: migrate would offer to drop it)."""
        sa = self.sa
        with self.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)"
                )
            )
            conn.execute(sa.text("INSERT INTO alembic_version (version_num) VALUES ('base')"))

    def finish(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(self.sa.text("DROP TABLE alembic_version"))

    def autogenerate(self) -> str:
        """What autogenerate writes for the models (the live table plus the two changes);
        checks it is the two operations ``upgrade`` runs, and returns it as Python."""
        from alembic.autogenerate import produce_migrations, render_python_code
        from alembic.migration import MigrationContext

        sa = self.sa
        with self.engine.connect() as conn:
            md = sa.MetaData()
            table = sa.Table(TABLE, md, autoload_with=conn)
            table.append_column(
                sa.Column("rating", sa.BigInteger(), nullable=False, server_default="0")
            )
            sa.Index(f"ix_{TABLE}_title", table.c.title)
            ctx = MigrationContext.configure(
                conn,
                opts={
                    "include_name": lambda name, type_, parent: type_ != "table" or name == TABLE,
                    "render_as_batch": self.batch,
                },
            )
            script = produce_migrations(ctx, md)
        ops = script.upgrade_ops
        assert ops is not None
        kinds = [type(o).__name__ for t in ops.ops for o in getattr(t, "ops", [t])]
        assert sorted(kinds) == ["AddColumnOp", "CreateIndexOp"], kinds
        return render_python_code(ops, render_as_batch=self.batch)

    def upgrade(self) -> float:
        from alembic.migration import MigrationContext
        from alembic.operations import Operations

        sa = self.sa
        started = time.perf_counter()
        with self.engine.connect() as conn:
            ctx = MigrationContext.configure(conn)
            op = Operations(ctx)
            with ctx.begin_transaction():
                rating = sa.Column("rating", sa.BigInteger(), server_default="0", nullable=False)
                if self.batch:
                    with op.batch_alter_table(TABLE, schema=None) as batch:
                        batch.add_column(rating)
                        batch.create_index(f"ix_{TABLE}_title", ["title"], unique=False)
                else:
                    op.add_column(TABLE, rating)
                    op.create_index(f"ix_{TABLE}_title", TABLE, ["title"], unique=False)
                conn.execute(sa.text("UPDATE alembic_version SET version_num = 'head'"))
        return time.perf_counter() - started

    def close(self) -> None:
        self.engine.dispose()


def _relfilenode(db: Database) -> Any:
    with db.pool.connection() as conn:
        return conn.fetchall(
            "SELECT relfilenode FROM pg_class WHERE relname = %s "
            "AND relnamespace = current_schema()::regnamespace",
            (TABLE,),
        )[0][0]


def _metadata_only(db: Database, add: Callable[[], Any]) -> bool:
    """PostgreSQL: ``add`` left the table's storage as it was (no rewrite)."""
    before = _relfilenode(db)
    add()
    return bool(_relfilenode(db) == before)


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


def run(
    url: str, rows: int, repeat: int, show_script: bool = False, *, own_database: bool = True
) -> str:
    """One backend's line. ``own_database=False``: ``url`` is already a database of the
    bench's own (tests pass a fresh one)."""
    if own_database:
        url = _own_database(url)
    alembic = Alembic(url)
    before, after = _models()
    base = Database(url, [before])
    base.migrate()
    with base.pool.connection() as conn:
        have = conn.fetchall(f"SELECT COUNT(*) FROM {base.dialect.quote(TABLE)}")[0][0]
    if have != rows:
        with base.pool.connection() as conn:
            conn.execute(f"DELETE FROM {base.dialect.quote(TABLE)}")
        _fill(base, rows)
    _reset(base)
    script = alembic.autogenerate()
    if show_script:
        print(script)
    hand, orm, alem = [], [], []
    db = Database(url, [after])
    pg = base.dialect.name == "postgresql"
    metadata_only = True
    for _ in range(repeat):
        _reset(base)
        hand.append(_by_hand(base))
        _reset(base)
        if pg:
            metadata_only = _metadata_only(base, lambda: orm.append(_ormcli(db)))
        else:
            orm.append(_ormcli(db))
        _reset(base)
        alembic.prepare()
        alem.append(alembic.upgrade())
        alembic.finish()
    _reset(base)
    alembic.close()
    with base.pool.connection() as conn:  # a bench database: leave nothing behind
        conn.execute(f"DROP TABLE {base.dialect.quote(TABLE)}")
        conn.execute(f"DROP TABLE {base.dialect.quote('ormcli_migrations')}")
    db.close()
    base.close()
    h, o, a = min(hand), min(orm), min(alem)
    line = (
        f"{base.dialect.name:10} rows={rows:,}  by hand {h * 1000:8.1f} ms  "
        f"ormcli {o * 1000:8.1f} ms ({o / h:4.2f}x)  alembic {a * 1000:8.1f} ms ({a / h:4.2f}x)"
    )
    if pg:
        add = min(ADD_COLUMN_SECONDS[-repeat:])
        line += (
            f"  add column by hand {add * 1000:.1f} ms, "
            f"metadata only (no rewrite): {'yes' if metadata_only else 'NO'}"
        )
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--db", action="append")
    parser.add_argument(
        "--show-alembic", action="store_true", help="Print the migration Alembic generates."
    )
    args = parser.parse_args()
    urls = args.db or ["sqlite:///bench_migrate.db", DEFAULT_PG, DEFAULT_MYSQL]
    for url in urls:
        print(run(url, args.rows, args.repeat, args.show_alembic), flush=True)


if __name__ == "__main__":
    main()
