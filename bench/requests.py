"""Scenario R: a request handler run by 1, 4 and 16 threads against one shared database.

The handler loads one row by key, changes a field and commits, as one transaction. Every
implementation has a pool of 16 connections shared by the threads (filled before the timer):

- ``ormcli``: ``with database.transaction() as session: session.get(Item, k).n += 1``;
- ``sqlalchemy``: ``with Session(engine) as s, s.begin(): s.get(Item, k).n += 1`` (its
  ``QueuePool``, defaults); ``sqlalchemy-fast``: the same as its documentation recommends for
  speed (``sessionmaker(engine, expire_on_commit=False)``; the pool's rollback of a returned
  connection stays, as the documentation strongly recommends for a ``QueuePool``);
- ``raw`` (the floor, the fastest of its variants per thread count): the driver with a
  ``queue.Queue`` of connections, one round trip per statement, no BEGIN of its own —
  PostgreSQL ``raw-pipelined`` (autocommit connection, BEGIN pipelined with the SELECT, then
  UPDATE, COMMIT) and ``raw-client`` (psycopg's client-side binding cursor, ``BEGIN; SELECT``
  in one query text, then UPDATE, COMMIT), and ``raw-default`` (psycopg's defaults: BEGIN in a
  round trip of its own); MariaDB ``raw-default`` (PyMySQL's defaults: the SELECT opens the
  transaction, then UPDATE, COMMIT);
- ``raw-autocommit``: SELECT, then UPDATE in autocommit: two round trips but no transaction
  around the read and the write, so not the same work — printed beside the others, never the
  floor.

Each thread works on its own keys (no row-lock waits), ``--requests`` per thread. Rounds are
repeated (``--rounds``): in each, every implementation in turn (the order rotated from round
to round) opens its pool, warms it and runs once per thread count, then closes it. Printed per
thread count: requests per second (median), client CPU time per request (this process: the
threads' Python and driver work, not the server's), ormcli's throughput over the faster
SQLAlchemy's and its time per request over the floor's — ratios paired by round (median, and
the range over rounds; the 95% interval from 6 rounds). Run it::

    python -m bench.requests postgresql://postgres@127.0.0.1:5432/test
    python -m bench.requests mysql://root@127.0.0.1:3306/test --requests 300 --rounds 6

It creates and drops its own table ``bench_r_item`` (nothing else in the database is touched),
and checks at the end that every row holds exactly the increments made. Callers: people, not
the test suite (``bench/`` measures speed; tests never time anything; the round trips of one
request are asserted by ``tests/core/test_request_round_trips.py``). What it leaves out:
SQLite (one writer at a time: throughput does not scale with threads by design).
"""

from __future__ import annotations

import argparse
import queue
import statistics
import threading
import time
from collections.abc import Callable
from typing import Annotated, Any

from bench.stats import median_interval
from core import Database, PrimaryKey, entity, parse_url

TABLE = "bench_r_item"
POOL = 16


@entity.name(TABLE)
class Item:
    id: Annotated[int, PrimaryKey]
    n: int = 0


Handler = Callable[[int], None]
Made = tuple[Handler, Callable[[], None]]


def _ormcli(url: str) -> Made:
    db = Database(url, [Item], pool_size=POOL)

    def handle(key: int) -> None:
        with db.transaction() as session:
            item = session.get(Item, key)
            assert item is not None
            item.n += 1

    return handle, db.close


def _sqlalchemy(url: str, *, fast: bool = False) -> Made:
    from sqlalchemy import Column, Integer, create_engine
    from sqlalchemy.orm import declarative_base, sessionmaker

    Base: Any = declarative_base()

    class SAItem(Base):  # type: ignore[misc,valid-type]
        __tablename__ = TABLE
        id = Column(Integer, primary_key=True)
        n = Column(Integer)

    scheme = "postgresql+psycopg" if url.startswith("postgres") else "mysql+pymysql"
    engine = create_engine(scheme + "://" + url.split("://", 1)[1], pool_size=POOL)
    make = sessionmaker(engine, expire_on_commit=not fast)

    def handle(key: int) -> None:
        with make() as s, s.begin():
            item = s.get(SAItem, key)
            assert item is not None
            item.n += 1

    return handle, engine.dispose


def _connections(url: str, autocommit: bool) -> queue.Queue[Any]:
    """A queue of ``POOL`` driver connections (the raw handlers' pool)."""
    parsed = parse_url(url)
    conns: queue.Queue[Any] = queue.Queue()
    for _ in range(POOL):
        if parsed.scheme == "postgresql":
            import psycopg

            conns.put(psycopg.connect(url, autocommit=autocommit))
        else:
            import pymysql

            conns.put(
                pymysql.connect(
                    host=parsed.host or "127.0.0.1",
                    port=parsed.port or 3306,
                    user=parsed.user or "root",
                    password=parsed.password or "",
                    database=parsed.database,
                    autocommit=autocommit,
                )
            )
    return conns


SELECT = f"SELECT id, n FROM {TABLE} WHERE id = %s"
UPDATE = f"UPDATE {TABLE} SET n = %s WHERE id = %s"


def _raw(url: str, variant: str) -> Made:
    """The raw handler ``variant`` (see the module docstring)."""
    autocommit = variant != "raw-default"
    conns = _connections(url, autocommit)
    work: Callable[[Any, int], None]
    if variant == "raw-default":  # the driver opens the transaction (psycopg: its own trip)

        def work(conn: Any, key: int) -> None:
            cur = conn.cursor()
            cur.execute(SELECT, (key,))
            _, n = cur.fetchone()
            cur.execute(UPDATE, (n + 1, key))
            conn.commit()

    elif variant == "raw-pipelined":

        def work(conn: Any, key: int) -> None:
            cur = conn.cursor()
            with conn.pipeline():
                conn.execute("BEGIN")
                cur.execute(SELECT, (key,))
            _, n = cur.fetchone()
            cur.execute(UPDATE, (n + 1, key))
            cur.execute("COMMIT")

    elif variant == "raw-client":
        import psycopg

        def work(conn: Any, key: int) -> None:
            cur = psycopg.ClientCursor(conn)
            cur.execute("BEGIN; " + SELECT, (key,))
            cur.nextset()
            _, n = cur.fetchone()
            cur.execute(UPDATE, (n + 1, key))
            cur.execute("COMMIT")

    else:  # raw-autocommit: no transaction around the read and the write

        def work(conn: Any, key: int) -> None:
            cur = conn.cursor()
            cur.execute(SELECT, (key,))
            _, n = cur.fetchone()
            cur.execute(UPDATE, (n + 1, key))

    def handle(key: int) -> None:
        conn = conns.get()
        try:
            work(conn, key)
        finally:
            conns.put(conn)

    def close() -> None:
        while not conns.empty():
            conns.get().close()

    return handle, close


def implementations(url: str) -> dict[str, Callable[[str], Made]]:
    """The implementations measured on ``url``'s backend, by name."""
    pg = parse_url(url).scheme == "postgresql"
    raws = ["raw-pipelined", "raw-client", "raw-default"] if pg else ["raw-default"]
    impls: dict[str, Callable[[str], Made]] = {
        "ormcli": _ormcli,
        "sqlalchemy": _sqlalchemy,
        "sqlalchemy-fast": lambda u: _sqlalchemy(u, fast=True),
    }
    for name in [*raws, "raw-autocommit"]:
        impls[name] = lambda u, name=name: _raw(u, name)  # type: ignore[misc]
    return impls


#: Raw variants that are not the same work (no transaction): never the floor.
NOT_FLOOR = frozenset({"raw-autocommit"})


def _run(handle: Handler, threads: int, per_thread: int, first: int) -> tuple[float, float]:
    """Requests per second of ``threads`` threads doing ``per_thread`` requests each on keys
    from ``first`` on, and the CPU seconds this process spent per request meanwhile."""
    errors: list[BaseException] = []
    start = threading.Barrier(threads + 1)

    def worker(t: int) -> None:
        start.wait()
        try:
            base = first + t * per_thread
            for i in range(per_thread):
                handle(base + i)
        except BaseException as exc:
            errors.append(exc)

    pool = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for th in pool:
        th.start()
    start.wait()
    began, cpu = time.perf_counter(), time.process_time()
    for th in pool:
        th.join()
    elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu
    if errors:
        raise errors[0]
    return threads * per_thread / elapsed, cpu / (threads * per_thread)


def _ratio_text(values: list[float]) -> str:
    """Median of paired per-round ratios with the 95% interval (6+ rounds) or the range."""
    mid = statistics.median(values)
    interval = median_interval(values)
    low, high = interval if interval is not None else (min(values), max(values))
    return f"{mid:.2f}x ({low:.2f}-{high:.2f})"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--requests", type=int, default=200, help="per thread and run")
    parser.add_argument("--threads", default="1,4,16")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--impls", default="", help="comma-separated names (default: all)")
    args = parser.parse_args(argv)
    counts = [int(t) for t in args.threads.split(",")]
    impls = implementations(args.url)
    if args.impls:
        impls = {n: impls[n] for n in args.impls.split(",")}
    runs = len(impls) * len(counts) * args.rounds
    rows = max(counts) * args.requests
    db = Database(args.url, [Item])
    with db.pool.connection() as conn:  # (not migrate: the database may hold other tables)
        q = db.dialect.quote
        conn.execute(f"DROP TABLE IF EXISTS {q(TABLE)}")
        conn.execute(f"CREATE TABLE {q(TABLE)} ({q('id')} INTEGER PRIMARY KEY, {q('n')} INTEGER)")
    s = db.create_session()
    s.add(*(Item(id=i, n=0) for i in range(1, rows + 1)))
    s.commit()
    #: (impl, threads) -> per round (requests/s, CPU s per request)
    results: dict[tuple[str, int], list[tuple[float, float]]] = {}
    expected = [0] * (rows + 1)
    names = list(impls)
    try:
        for r in range(args.rounds):
            # One implementation's pool open at a time (16 connections each; a server allows
            # ~100), filled and warmed before its runs.
            for name in names[r % len(names) :] + names[: r % len(names)]:
                handle, close = impls[name](args.url)
                try:
                    _run(handle, POOL, 5, 1)
                    for k in range(1, 1 + POOL * 5):
                        expected[k] += 1
                    for threads in counts:
                        result = _run(handle, threads, args.requests, 1)
                        results.setdefault((name, threads), []).append(result)
                        for k in range(1, 1 + threads * args.requests):
                            expected[k] += 1
                finally:
                    close()
        with db.pool.connection() as conn:
            stored = dict(conn.fetchall(f"SELECT {q('id')}, {q('n')} FROM {q(TABLE)}"))
        wrong = [k for k in range(1, rows + 1) if stored.get(k) != expected[k]]
        if wrong:
            raise SystemExit(
                f"check failed: {len(wrong)} rows hold another count (first: key {wrong[0]})"
            )
    finally:
        with db.pool.connection() as conn:
            conn.execute(f"DROP TABLE {db.dialect.quote(TABLE)}")
        db.close()
    print(
        f"scenario R on {db.url_display}: {args.requests} requests per thread and run, "
        f"{args.rounds} rounds ({runs} runs); every row checked"
    )
    for threads in counts:
        floor = min(
            (n for n in impls if n.startswith("raw") and n not in NOT_FLOOR),
            key=lambda n: -statistics.median(x[0] for x in results[(n, threads)]),
            default=None,
        )
        print(f"\n{threads} thread(s)\n")
        print("| impl | req/s | CPU µs/req | ratio |")
        print("|---|---:|---:|---|")
        for name in impls:
            series = results[(name, threads)]
            rps = statistics.median(x[0] for x in series)
            cpu = statistics.median(x[1] for x in series) * 1e6
            note = " (floor)" if name == floor else ""
            ratio = ""
            if name == "ormcli":
                sas = [n for n in impls if n.startswith("sqlalchemy")]
                if sas:
                    best = max(
                        sas, key=lambda n: statistics.median(x[0] for x in results[(n, threads)])
                    )
                    vs = [
                        o[0] / b[0] for o, b in zip(series, results[(best, threads)], strict=True)
                    ]
                    ratio += f"throughput vs {best}: {_ratio_text(vs)}"
                if floor is not None:
                    vs = [
                        f[0] / o[0] for o, f in zip(series, results[(floor, threads)], strict=True)
                    ]
                    ratio += f"; time vs floor: {_ratio_text(vs)}"
            print(f"| {name}{note} | {rps:.0f} | {cpu:.0f} | {ratio} |")
    print(
        "\nreq/s: median over rounds; CPU: this process's CPU time per request (client side: "
        "Python and driver, every thread; not the server's); ratios paired by round (median, "
        "95% interval from 6 rounds, else the range). Targets (issue 13): throughput >= 2x "
        "the faster SQLAlchemy at 16 threads, time per request <= 1.3x the floor."
    )


if __name__ == "__main__":
    main()
