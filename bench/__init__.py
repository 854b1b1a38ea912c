"""Benchmark harness: ormcli's session against raw DB-API, SQLAlchemy ORM, peewee and Pony.

Run it with ``python -m bench`` (see ``docs/bench.md``). The package is laid out as:

- ``harness``   the command line: spawns one worker process per (backend, implementation),
                collects their timings and prints / saves the report;
- ``worker``    runs inside that process: fresh table, seed, warm-up, timed runs, verification;
- ``scenarios`` what S1..S7 and M are, row counts, the data, what the database must hold after;
- ``backends``  URLs, the canonical table, raw connections for reset / seed / verify;
- ``interface`` the small interface every implementation fills in, and the timer;
- ``report``    targets, PASS/FAIL, the Markdown tables and the run's metadata;
- ``impl_*``    one module per implementation (raw, ormcli, sqlalchemy, peewee, pony).

Nothing here is imported by ``core`` or ``ormcli``; the peers are the optional ``[bench]`` extra.
"""
