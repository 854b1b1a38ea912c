"""The worker: one implementation on one backend, in its own process.

``python -m bench.worker --impl NAME --url URL --rows N --repeat R --scenarios ... --out FILE``
is started by the harness, never by hand. A process per (backend, implementation) keeps Pony's
one-binding-per-process global state, import-time caches and memory measurement apart.

For each scenario: fresh table and seed (not timed), one warm-up run, ``R`` timed runs, each run
checked against the database afterwards. ``--memory`` measures M instead: a warm-up load, then
``tracemalloc`` around a second load that the session keeps. The JSON written to ``--out`` holds
the raw seconds of every run; medians and ratios are the harness's job.

A peer that is not installed (its import fails) is reported as ``skipped``; an exception in a
scenario is recorded for that scenario and the worker goes on with the next one.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import json
import sys
import time
import traceback
import tracemalloc
from typing import Any

from bench.backends import Admin, parse_backend
from bench.interface import Impl, Timer
from bench.scenarios import MEMORY, SCENARIOS, make_rows

#: ``--impls`` name -> "module:Class". ``raw`` on the command line means both raw variants.
IMPLS = {
    "raw-many": "bench.impl_raw:RawExecutemany",
    "raw-batch": "bench.impl_raw:RawBatched",
    "ormcli": "bench.impl_ormcli:OrmcliImpl",
    "sqlalchemy": "bench.impl_sqlalchemy:SQLAlchemyImpl",
    "peewee": "bench.impl_peewee:PeeweeImpl",
    "pony": "bench.impl_pony:PonyImpl",
}


def load_impl(name: str) -> type[Impl]:
    """Import an implementation class; ImportError means the peer is missing."""
    module, _, cls = IMPLS[name].partition(":")
    impl: type[Impl] = getattr(importlib.import_module(module), cls)
    return impl


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run_scenarios(impl: Impl, admin: Admin, ids: list[str], n: int, repeat: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    seeds: dict[int, list[Any]] = {}
    for sid in ids:
        scenario = SCENARIOS[sid]
        seed_count = scenario.seed(n)
        if seed_count not in seeds:
            seeds[seed_count] = make_rows(seed_count)
        times: list[float] = []
        warm = 0.0
        try:
            for i in range(1 + repeat):
                admin.reset(seeds[seed_count])
                gc.collect()
                gc.freeze()  # the harness's own objects (seed rows) are no garbage to scan
                t = Timer()
                result = scenario.run(impl, t, n)
                if t.entered == 0:
                    raise RuntimeError(f"{impl.name}.{sid} timed nothing")
                gc.unfreeze()
                scenario.check(admin, result, n)
                del result
                if i > 0:
                    times.append(t.elapsed)
                else:
                    warm = t.elapsed
            results[sid] = {"times": times, "warmup": warm}
            median = sorted(times)[len(times) // 2] if times else warm
            _log(f"  {impl.backend.label:<10} {impl.name:<10} {sid:<6} {median * 1000:10.1f} ms")
        except Exception as exc:
            results[sid] = {"times": times, "error": f"{type(exc).__name__}: {exc}"}
            _log(f"  {impl.backend.label:<10} {impl.name:<10} {sid:<6} ERROR {exc!r}")
            _log(traceback.format_exc(limit=6))
            _reopen(impl)
    return results


def _reopen(impl: Impl) -> None:
    """After a failed scenario, start the implementation afresh (best effort)."""
    with contextlib.suppress(Exception):
        impl.close()
    impl.open()


def measure_memory(impl: Impl, admin: Admin, n: int) -> dict[str, Any]:
    """M: peak and retained bytes (tracemalloc) of a session that holds ``10n`` loaded rows."""
    admin.reset(make_rows(n * 10))
    impl.release(impl.hold())  # warm-up: imports, statement caches, compiled queries
    gc.collect()
    tracemalloc.start()
    held = impl.hold()
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    count = len(held[1])
    impl.release(held)
    if count != n * 10:
        raise AssertionError(f"memory: expected {n * 10} entities held, found {count}")
    _log(f"  {impl.backend.label:<10} {impl.name:<10} M      peak {peak / 2**20:8.1f} MiB")
    return {"peak": peak, "current": current, "rows": count}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.worker")
    parser.add_argument("--impl", required=True, choices=sorted(IMPLS))
    parser.add_argument("--url", required=True)
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--repeat", type=int, required=True)
    parser.add_argument("--scenarios", default="")
    parser.add_argument("--memory", action="store_true")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)

    backend = parse_backend(args.url)
    out: dict[str, Any] = {"impl": args.impl, "backend": backend.label, "status": "ok"}
    try:
        cls = load_impl(args.impl)
    except ImportError as exc:
        out.update(status="skipped", reason=f"not installed: {exc}")
        _log(f"  {backend.label:<10} {args.impl:<10} skipped ({exc})")
        return _write(args.out, out)

    admin = Admin(backend)
    impl = cls(backend)
    try:
        admin.reset([])
        impl.open()
        out["versions"] = {**impl.versions(), "server": admin.server_version()}
        out["description"] = cls.description
        started = time.perf_counter()
        if args.memory:
            out["memory"] = measure_memory(impl, admin, args.rows)
        else:
            ids = [s for s in args.scenarios.split(",") if s and s != MEMORY]
            out["scenarios"] = run_scenarios(impl, admin, ids, args.rows, args.repeat)
        out["seconds"] = time.perf_counter() - started
        out["notes"] = sorted(set(impl.notes))
        impl.close()
    except ImportError as exc:  # a driver the peer needs on this backend
        out.update(status="skipped", reason=f"not installed: {exc}")
        _log(f"  {backend.label:<10} {args.impl:<10} skipped ({exc})")
    except Exception as exc:
        out.update(status="error", reason=f"{type(exc).__name__}: {exc}")
        _log(f"  {backend.label:<10} {args.impl:<10} ERROR {exc!r}")
        _log(traceback.format_exc(limit=8))
    finally:
        admin.close()
    return _write(args.out, out)


def _write(path: str, out: dict[str, Any]) -> int:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(out, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
