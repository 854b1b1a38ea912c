"""Scenario C: a request handler run by 16 threads against several servers (issue 19).

Each request opens a session, loads one row by key, and in ``--write-share`` of the requests
(default 20%) changes a field and commits; the others only read. Measured for ``--seconds``
seconds per configuration, with every server started from nothing on loopback
(``tests/cluster/servers.py``):

- **PostgreSQL pair**: everything on the primary (``Database(primary)``) versus reads of
  sessions that have not written on the hot standby (``replicas=[standby],
  replica_reads=True``).
- **Galera, 3 nodes**: every request through one node (``Database([n1])``) versus
  transactions spread over the three (``Database([n1, n2, n3], balance="round-robin")``).

The Galera pair of runs is repeated on ``--hot-rows`` rows (default 20) to provoke conflicts.
Reported per configuration: requests per second, writes per second, conflicts (``ConflictError``
at commit: Galera certification failures between nodes) and their rate, other errors. Every
conflict leaves the row as the winner wrote it; nothing is retried (``commit(retries=0)``), so
the rate is the raw one. On this 2-core machine all servers share the client's CPUs: the figures
compare routing costs, not the capacity that more machines would add.

Run (as root): ``python -m bench.cluster [--threads 16] [--seconds 5] [--rows 10000]``.
"""

from __future__ import annotations

import argparse
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from core import AutoIncrement, ConflictError, Database, OrmError, PrimaryKey, entity
from tests.cluster.servers import GaleraCluster, PostgresPair


@entity.name("bench_account")
class Account:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    name: str = ""
    visits: int = 0


@dataclass
class Outcome:
    requests: int = 0
    writes: int = 0
    conflicts: int = 0
    errors: int = 0


def _seed(db: Database, rows: int) -> list[int]:
    """The table filled with ``rows`` accounts; their keys (read back: on Galera they step by
    the node count, so they are not 1..rows)."""
    db.migrate()
    session = db.create_session()
    if session.query(Account).count() < rows:
        session.add(*(Account(name=f"a{i}") for i in range(rows)))
        session.commit()
    keys = [a.id for a in session.query(Account).order_by("id").limit(rows).find()]
    db.close()
    return keys


def _handler(
    db: Database, keys: list[int], write_share: float, rng: random.Random, out: Outcome
) -> None:
    session = db.create_session()
    account = session.get(Account, rng.choice(keys))
    assert account is not None
    if rng.random() < write_share:
        account.visits += 1
        try:
            session.commit()
            out.writes += 1
        except ConflictError:
            out.conflicts += 1
        except OrmError:
            out.errors += 1
    session.close()
    out.requests += 1


def run(
    db: Database, keys: list[int], *, threads: int, seconds: float, write_share: float
) -> Outcome:
    """Run the handler in ``threads`` threads for ``seconds``; the summed outcome."""
    stop = threading.Event()
    outs = [Outcome() for _ in range(threads)]

    def loop(k: int) -> None:
        rng = random.Random(k)
        while not stop.is_set():
            _handler(db, keys, write_share, rng, outs[k])

    workers = [threading.Thread(target=loop, args=(k,)) for k in range(threads)]
    for w in workers:
        w.start()
    time.sleep(seconds)
    stop.set()
    for w in workers:
        w.join()
    total = Outcome()
    for o in outs:
        total.requests += o.requests
        total.writes += o.writes
        total.conflicts += o.conflicts
        total.errors += o.errors
    return total


def _line(name: str, out: Outcome, seconds: float) -> str:
    rate = out.conflicts / max(1, out.writes + out.conflicts)
    return (
        f"{name:<44} {out.requests / seconds:>9.0f} req/s {out.writes / seconds:>8.0f} writes/s "
        f"{out.conflicts:>6} conflicts ({rate:6.2%}) {out.errors:>4} errors"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cluster", description=__doc__)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--write-share", type=float, default=0.2)
    parser.add_argument("--hot-rows", type=int, default=20, help="rows of the contended run")
    args = parser.parse_args(argv)
    opts = {"threads": args.threads, "seconds": args.seconds, "write_share": args.write_share}
    results: list[str] = []
    size = {"pool_size": args.threads}

    def measure(name: str, keys: list[int], make: Callable[[], Database]) -> None:
        db = make()
        try:
            out = run(db, keys, **opts)  # type: ignore[arg-type]
            results.append(_line(name, out, args.seconds))
            print(results[-1], flush=True)
        finally:
            db.close()

    pair = PostgresPair(port=5472).start()
    try:
        primary, standby = pair.primary_url, pair.standby_url
        keys = _seed(Database(primary, [Account]), args.rows)
        time.sleep(1)  # the standby replays the seed
        measure(
            "postgresql: everything on the primary",
            keys,
            lambda: Database(primary, [Account], **size),
        )
        measure(
            "postgresql: reads on the standby",
            keys,
            lambda: Database(primary, [Account], replicas=[standby], replica_reads=True, **size),
        )
    finally:
        pair.stop()
    cluster = GaleraCluster(first_port=3331, first_gcomm=4721).start()
    try:
        nodes = cluster.urls
        keys = _seed(Database([nodes[0]], [Account]), args.rows)
        hot = keys[: args.hot_rows]
        for label, chosen in (("", keys), (f", {len(hot)} hot rows", hot)):
            measure(
                f"galera: through one node{label}",
                chosen,
                lambda: Database([nodes[0]], [Account], **size),
            )
            measure(
                f"galera: spread over 3 nodes{label}",
                chosen,
                lambda: Database(nodes, [Account], balance="round-robin", **size),
            )
    finally:
        cluster.stop()
    print(
        f"\nscenario C: {args.threads} threads, {args.seconds:g} s each, {args.rows} rows, "
        f"{args.write_share:.0%} of requests write"
    )
    for line in results:
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
