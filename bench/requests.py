"""Scenario R: a request handler run by 1, 4 and 16 threads against one shared database.

The handler loads one row by key, changes a field and commits. Three implementations, each with
a pool of 16 connections shared by the threads:

- ``ormcli``: ``with database.transaction() as session: session.get(Item, k).n += 1``;
- ``sqlalchemy``: ``with Session(engine) as s, s.begin(): s.get(Item, k).n += 1`` (QueuePool);
- ``raw``: the driver (psycopg / PyMySQL) with a ``queue.Queue`` of connections: SELECT by
  key, UPDATE, COMMIT — the floor.

Each thread works on its own keys (no row-lock waits), ``--requests`` per thread. Printed:
requests per second per implementation and thread count, ormcli's throughput against
SQLAlchemy's and its time per request against the raw floor's. Run it::

    python -m bench.requests postgresql://postgres@127.0.0.1:5432/test
    python -m bench.requests mysql://root@127.0.0.1:3306/test --requests 300

It creates and drops its own table ``bench_r_item`` (nothing else in the database is
touched). Callers: people, not the test suite (``bench/`` measures speed; tests never time
anything). What it leaves out: SQLite (one
writer at a time: throughput does not scale with threads by design) and statistics over
repeated runs (one run per cell; ``bench/harness.py`` does repeats for S1-S11).
"""

from __future__ import annotations

import argparse
import queue
import threading
import time
from collections.abc import Callable
from typing import Annotated, Any

from core import Database, PrimaryKey, entity, parse_url

TABLE = "bench_r_item"
POOL = 16


@entity.name(TABLE)
class Item:
    id: Annotated[int, PrimaryKey]
    n: int = 0


Handler = Callable[[int], None]


def _ormcli(url: str) -> tuple[Handler, Callable[[], None]]:
    db = Database(url, [Item], pool_size=POOL)

    def handle(key: int) -> None:
        with db.transaction() as session:
            item = session.get(Item, key)
            assert item is not None
            item.n += 1

    return handle, db.close


def _sqlalchemy(url: str) -> tuple[Handler, Callable[[], None]]:
    from sqlalchemy import Column, Integer, create_engine
    from sqlalchemy.orm import Session, declarative_base

    Base: Any = declarative_base()

    class SAItem(Base):  # type: ignore[misc,valid-type]
        __tablename__ = TABLE
        id = Column(Integer, primary_key=True)
        n = Column(Integer)

    scheme = "postgresql+psycopg" if url.startswith("postgres") else "mysql+pymysql"
    engine = create_engine(scheme + "://" + url.split("://", 1)[1], pool_size=POOL)

    def handle(key: int) -> None:
        with Session(engine) as s, s.begin():
            item = s.get(SAItem, key)
            assert item is not None
            item.n += 1

    return handle, engine.dispose


def _raw(url: str) -> tuple[Handler, Callable[[], None]]:
    parsed = parse_url(url)
    conns: queue.Queue[Any] = queue.Queue()
    if parsed.scheme == "postgresql":
        import psycopg

        for _ in range(POOL):
            conns.put(psycopg.connect(url))
        mark = "%s"
    else:
        import pymysql

        for _ in range(POOL):
            conns.put(
                pymysql.connect(
                    host=parsed.host or "127.0.0.1",
                    port=parsed.port or 3306,
                    user=parsed.user or "root",
                    password=parsed.password or "",
                    database=parsed.database,
                )
            )
        mark = "%s"
    select = f"SELECT id, n FROM {TABLE} WHERE id = {mark}"
    update = f"UPDATE {TABLE} SET n = {mark} WHERE id = {mark}"

    def handle(key: int) -> None:
        conn = conns.get()
        try:
            cur = conn.cursor()
            cur.execute(select, (key,))
            _, n = cur.fetchone()
            cur.execute(update, (n + 1, key))
            conn.commit()
        finally:
            conns.put(conn)

    def close() -> None:
        while not conns.empty():
            conns.get().close()

    return handle, close


IMPLS: dict[str, Callable[[str], tuple[Handler, Callable[[], None]]]] = {
    "ormcli": _ormcli,
    "sqlalchemy": _sqlalchemy,
    "raw": _raw,
}


def _run(handle: Handler, threads: int, per_thread: int) -> float:
    """Requests per second of ``threads`` threads doing ``per_thread`` requests each."""
    errors: list[BaseException] = []
    start = threading.Barrier(threads + 1)

    def worker(t: int) -> None:
        start.wait()
        try:
            for i in range(per_thread):
                handle(1 + t * per_thread + i)
        except BaseException as exc:
            errors.append(exc)

    pool = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for th in pool:
        th.start()
    start.wait()
    began = time.perf_counter()
    for th in pool:
        th.join()
    elapsed = time.perf_counter() - began
    if errors:
        raise errors[0]
    return threads * per_thread / elapsed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--requests", type=int, default=200, help="per thread")
    parser.add_argument("--threads", default="1,4,16")
    args = parser.parse_args(argv)
    counts = [int(t) for t in args.threads.split(",")]
    rows = max(counts) * args.requests
    db = Database(args.url, [Item])
    with db.pool.connection() as conn:  # (not migrate: the database may hold other tables)
        q = db.dialect.quote
        conn.execute(f"DROP TABLE IF EXISTS {q(TABLE)}")
        conn.execute(f"CREATE TABLE {q(TABLE)} ({q('id')} INTEGER PRIMARY KEY, {q('n')} INTEGER)")
    s = db.create_session()
    s.add(*(Item(id=i, n=0) for i in range(1, rows + 1)))
    s.commit()
    results: dict[tuple[str, int], float] = {}
    try:
        for name, make in IMPLS.items():
            handle, close = make(args.url)
            try:
                handle(1)  # connect and warm up
                for threads in counts:
                    results[(name, threads)] = _run(handle, threads, args.requests)
            finally:
                close()
    finally:
        with db.pool.connection() as conn:
            conn.execute(f"DROP TABLE {db.dialect.quote(TABLE)}")
        db.close()
    print(f"scenario R on {db.url_display}: requests/s ({args.requests} per thread)")
    head = ("threads", "ormcli", "sqlalchemy", "raw", "vs SA", "vs raw")
    print("{:>8} {:>10} {:>11} {:>10} {:>7} {:>8}".format(*head))
    for threads in counts:
        o, sa, raw = (results[(n, threads)] for n in ("ormcli", "sqlalchemy", "raw"))
        print(f"{threads:>8} {o:>10.0f} {sa:>11.0f} {raw:>10.0f} {o / sa:>6.2f}x {raw / o:>7.2f}x")
    print("vs SA: ormcli's throughput / SQLAlchemy's; vs raw: ormcli's time per request / raw's")


if __name__ == "__main__":
    main()
