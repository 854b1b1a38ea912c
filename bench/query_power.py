"""S10 and S11: the query-power scenarios of issue 15, against the raw floor and SQLAlchemy.

- **S10** — ``SUM`` and ``COUNT`` of ``n`` rows (1,000,000 by default) grouped by a field with
  100 values: raw DB-API (the floor) ``SELECT grp, SUM(v), COUNT(*) ... GROUP BY grp``;
  ormcli ``query(Event).group_by("grp").select("grp", total=F.v.sum(), n=F.count())``;
  SQLAlchemy ``select(Event.grp, func.sum(Event.v), func.count()).group_by(Event.grp)``.
  Target: ormcli <= 1.2x the floor.
- **S11** — stream the ``n`` rows through a session: raw, the driver's streaming cursor
  (SQLite's cursor, PostgreSQL ``cursor.stream`` with binary results, PyMySQL ``SSCursor``) in
  1,000-row ``fetchmany`` (no Python frame of ours between driver and loop); ormcli
  ``session.query(Event).stream(batch=1000, track=False)`` (and with
  ``--tracked`` also ``track=True``, which holds every object in the identity map);
  SQLAlchemy ``session.scalars(select(Event).execution_options(yield_per=1000))``.
  Target: ormcli untracked <= 1.5x the floor, peak memory <= 50 MiB.

Every measurement runs in a fresh subprocess (``--worker``). The memory run of S11 is separate
from its timed runs: it samples the resident memory (``/proc/self/statm``: whatever allocated
it — Python objects, driver buffers, libpq) every 10,000 rows and reports its peak growth over
the process's state just before streaming (connected, imports done), then streams again under
``tracemalloc`` for the peak of Python allocations.
Times are the median of ``--repeat`` runs. The table ``bench_event`` is made and filled once per
database (kept when it already holds ``n`` rows). This module stands apart from the S1..S7
harness (``bench.harness``) and shares only ``bench.backends``' URL parsing.

Run: ``python -m bench.query_power --backends sqlite,postgresql://...,mysql://... [--rows N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from functools import partial
from itertools import chain, takewhile
from pathlib import Path
from typing import Annotated, Any

from sqlalchemy import BigInteger, String, create_engine, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from bench.backends import Backend, parse_backend
from core import Database, F, Index, PrimaryKey, entity

TABLE = "bench_event"
GROUPS = 100
DDL = {
    "sqlite": f"CREATE TABLE {TABLE} (id INTEGER PRIMARY KEY, grp INTEGER NOT NULL,"
    " v INTEGER NOT NULL, name TEXT NOT NULL)",
    "postgresql": f"CREATE TABLE {TABLE} (id BIGINT PRIMARY KEY, grp BIGINT NOT NULL,"
    " v BIGINT NOT NULL, name TEXT NOT NULL)",
    "mysql": f"CREATE TABLE {TABLE} (id BIGINT PRIMARY KEY, grp BIGINT NOT NULL,"
    " v BIGINT NOT NULL, name LONGTEXT NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
    " COLLATE=utf8mb4_bin",
}
GROUP_SQL = f"SELECT grp, SUM(v), COUNT(*) FROM {TABLE} GROUP BY grp"
STREAM_SQL = f"SELECT id, grp, v, name FROM {TABLE}"
BATCH = 1000


def _placeholder(backend: Backend) -> str:
    return "?" if backend.kind == "sqlite" else "%s"


def prepare(backend: Backend, rows: int) -> None:
    """Make ``bench_event`` hold ``rows`` rows (ids 1..rows, grp = id % 100, v = id % 1000)."""
    conn = backend.connect()
    cur = conn.cursor()
    try:
        cur.execute(f"SELECT COUNT(*) FROM {TABLE}")
        if cur.fetchone()[0] == rows:
            return
    except Exception:
        conn.rollback()
    else:
        conn.commit()
    cur = conn.cursor()
    cur.execute(f"DROP TABLE IF EXISTS {TABLE}")
    cur.execute(DDL[backend.kind])
    p = _placeholder(backend)
    chunk = 5000 if backend.kind != "sqlite" else 50_000
    for start in range(1, rows + 1, chunk):
        batch = [
            (i, i % GROUPS, i % 1000, f"event {i}")
            for i in range(start, min(rows, start + chunk - 1) + 1)
        ]
        if backend.kind == "sqlite":
            cur.executemany(f"INSERT INTO {TABLE} VALUES ({p}, {p}, {p}, {p})", batch)
        else:
            values = ", ".join([f"({p}, {p}, {p}, {p})"] * len(batch))
            cur.execute(f"INSERT INTO {TABLE} VALUES {values}", [v for r in batch for v in r])
    cur.execute(f"CREATE INDEX ix_{TABLE}_grp ON {TABLE} (grp)")
    conn.commit()
    if backend.kind == "postgresql":
        conn.autocommit = True
        conn.cursor().execute(f"VACUUM ANALYZE {TABLE}")
    conn.close()


# -- implementations -------------------------------------------------------------------------


@entity.name(TABLE)
class Event:
    """The ormcli entity."""

    id: Annotated[int, PrimaryKey]
    grp: Annotated[int, Index]
    v: int
    name: str


class _Base(DeclarativeBase):
    pass


class SAEvent(_Base):
    """The SQLAlchemy model."""

    __tablename__ = TABLE
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    grp: Mapped[int] = mapped_column(BigInteger)
    v: Mapped[int] = mapped_column(BigInteger)
    name: Mapped[str] = mapped_column(String)


def _ormcli(backend: Backend) -> tuple[Database, type[Event]]:
    return Database(backend.url, [Event]), Event


def _sqlalchemy(backend: Backend) -> tuple[Any, type[SAEvent]]:
    url = backend.url
    if backend.kind == "postgresql":
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    elif backend.kind == "mysql":
        url = "mysql+pymysql://" + url.split("://", 1)[1]
    return create_engine(url), SAEvent


def s10(impl: str, backend: Backend) -> Callable[[], Any]:
    """A function running S10 once (connections opened beforehand, outside the timing)."""
    if impl == "raw":
        conn = backend.connect()

        def run_raw() -> Any:
            cur = conn.cursor()
            cur.execute(GROUP_SQL)
            rows = cur.fetchall()
            conn.commit()
            return rows

        return run_raw
    if impl == "ormcli":
        db, event = _ormcli(backend)
        q = db.query(event).group_by("grp").select("grp", total=F.v.sum(), n=F.count())
        q.limit(1).find()  # connect and read the schema before timing
        return q.find
    engine, event = _sqlalchemy(backend)
    stmt = select(event.grp, func.sum(event.v), func.count()).group_by(event.grp)
    with engine.connect():
        pass

    def run_sa() -> Any:
        with Session(engine) as session:
            return session.execute(stmt).all()

    return run_sa


def _raw_stream(backend: Backend) -> Callable[[], Iterator[Any]]:
    """The floor: the driver's streaming cursor, its rows handed to the consuming loop with no
    Python frame of ours between (a generator of ours around it cost the floor ~230 client
    instructions a row on PostgreSQL, ~220 on SQLite: valgrind, 1,000,000 / 200,000 rows)."""
    conn = backend.connect()
    if backend.kind == "postgresql":
        conn.autocommit = True

    def rows() -> Iterator[Any]:
        if backend.kind == "postgresql":
            # Binary results: no text to parse (200,000 rows: 39 ms of CPU instead of 49).
            stream: Iterator[Any] = conn.cursor(binary=True).stream(STREAM_SQL, size=BATCH)
            return stream
        conn.commit()  # (ends the previous run's read transaction, if any)
        if backend.kind == "mysql":
            import pymysql.cursors

            cur = conn.cursor(pymysql.cursors.SSCursor)
        else:
            cur = conn.cursor()
        cur.execute(STREAM_SQL)
        # 1,000-row fetchmany until an empty one ([] or (): drivers differ), chained in C.
        return chain.from_iterable(takewhile(bool, iter(partial(cur.fetchmany, BATCH), None)))

    return rows


def s11(impl: str, backend: Backend) -> Callable[[], Iterator[Any]]:
    """A function returning the iterator of S11 (objects or rows), connections opened first.
    The loop iterates what the library gives, as an application's loop would."""
    if impl == "raw":
        return _raw_stream(backend)
    if impl in ("ormcli", "ormcli-tracked"):
        db, event = _ormcli(backend)
        db.query(event).limit(1).find()
        track = impl == "ormcli-tracked"

        def objects() -> Iterator[Any]:
            session = db.create_session()
            return session.query(event).stream(batch=BATCH, track=track)

        return objects
    engine, event = _sqlalchemy(backend)
    with engine.connect():
        pass

    def sa_objects() -> Iterator[Any]:
        with Session(engine) as session:
            yield from session.scalars(select(event).execution_options(yield_per=BATCH))

    return sa_objects


def _consume_rows(items: Iterator[Any]) -> tuple[int, int]:
    """Touch every row (its ``v``, by position), keeping none: ``(count, checksum)``."""
    count = total = 0
    for row in items:
        total += row[2]
        count += 1
    return count, total


def _consume_objects(items: Iterator[Any]) -> tuple[int, int]:
    """Touch every object (its ``v``, by attribute), keeping none: ``(count, checksum)``.

    Each kind has its own loop, as its user would write it: one loop for both, choosing per
    item with ``isinstance(item, tuple)``, charged objects ~185 instructions an item (the
    check's slow path: a subclass walk) and tuples almost nothing (their exact type)."""
    count = total = 0
    for obj in items:
        total += obj.v
        count += 1
    return count, total


def _consumer(impl: str) -> Callable[[Iterator[Any]], tuple[int, int]]:
    return _consume_rows if impl == "raw" else _consume_objects


def _rss_mib() -> float:
    """The process's resident memory now (``/proc/self/statm``; else its peak so far)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * resource.getpagesize() / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _consume_sampling(items: Iterator[Any], every: int = 10_000) -> tuple[int, int, float]:
    """A consumer that also samples resident memory every ``every`` items: its peak."""
    count = total = 0
    peak = _rss_mib()
    for item in items:  # (the memory run: its time is not reported)
        total += item[2] if isinstance(item, tuple) else item.v
        count += 1
        if count % every == 0:
            peak = max(peak, _rss_mib())
    return count, total, max(peak, _rss_mib())


def worker(impl: str, scenario: str, spec: str, repeat: int, memory: bool) -> dict[str, Any]:
    backend = parse_backend(spec)
    out: dict[str, Any] = {"impl": impl, "scenario": scenario}
    if scenario == "S10":
        run = s10(impl, backend)
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            rows = run()
            times.append(time.perf_counter() - start)
        out["groups"] = len(rows)
        out["seconds"] = times
        return out
    make = s11(impl, backend)
    consume = _consumer(impl)
    if memory:
        before = _rss_mib()
        count, total, rss_peak = _consume_sampling(make())
        out["rss_before_mib"] = before
        out["rss_growth_mib"] = rss_peak - before
        tracemalloc.start()  # a second pass: tracemalloc slows the loop and holds memory too
        consume(make())
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        out["tracemalloc_peak_mib"] = peak / 2**20
        out["rows"], out["checksum"] = count, total
        return out
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        count, total = consume(make())
        times.append(time.perf_counter() - start)
    out["rows"], out["checksum"], out["seconds"] = count, total, times
    return out


def _run_worker(*args: str) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "bench.query_power", "--worker", *args]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"worker {args} failed:\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.query_power", description=__doc__)
    parser.add_argument("--backends", default="sqlite")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scenarios", default="S10,S11", help="S10, S11 or both")
    parser.add_argument(
        "--tracked", action="store_true", help="S11 also with track=True (n objects held)"
    )
    parser.add_argument("--worker", nargs=4, metavar=("IMPL", "SCENARIO", "URL", "MEMORY"))
    args = parser.parse_args(argv)
    if args.worker:
        impl, scenario, url, memory = args.worker
        print(json.dumps(worker(impl, scenario, url, args.repeat, memory == "1")))
        return 0
    tmp = tempfile.mkdtemp(prefix="bench_qp_")
    lines = [f"# S10 / S11, n = {args.rows:,}, median of {args.repeat}", ""]
    for spec in args.backends.split(","):
        backend = parse_backend(spec, os.path.join(tmp, "bench.db"))
        prepare(backend, args.rows)
        lines += [f"## {backend.label}", "", "| scenario | impl | median s | x floor | memory |"]
        lines.append("|---|---|---|---|---|")
        for scenario, impls in (
            ("S10", ("raw", "ormcli", "sqlalchemy")),
            (
                "S11",
                ("raw", "ormcli", *(("ormcli-tracked",) if args.tracked else ()), "sqlalchemy"),
            ),
        ):
            floor = None
            for impl in impls:
                if scenario not in args.scenarios.split(","):
                    continue
                r = _run_worker(impl, scenario, backend.url, "0")
                med = statistics.median(r["seconds"])
                floor = floor or med
                mem = ""
                if scenario == "S11":
                    m = _run_worker(impl, scenario, backend.url, "1")
                    mem = (
                        f"RSS {m['rss_before_mib']:.0f} -> +{m['rss_growth_mib']:.1f} MiB, "
                        f"tracemalloc peak {m['tracemalloc_peak_mib']:.1f} MiB"
                    )
                lines.append(f"| {scenario} | {impl} | {med:.3f} | {med / floor:.2f}x | {mem} |")
                print(lines[-1], flush=True)
        lines.append("")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
