"""The worker: one implementation on one backend, in its own process.

``python -m bench.worker --impl NAME --url URL --rows N --serve`` (or ``--memory --out FILE``)
is started by the harness, never by hand. A process per (backend, implementation) keeps Pony's
one-binding-per-process global state, import-time caches and memory measurement apart.

``--serve``: the worker opens the implementation, says so in one JSON line on stdout (status,
versions), then runs one scenario run per command the harness sends on stdin — fresh table and
seed (not timed), the timed work, a check against the database afterwards — and answers with the
seconds it took. ``--memory`` measures M instead: a warm-up load, then ``tracemalloc`` around a
second load that the session keeps, written as JSON to ``--out``. Medians and ratios are the
harness's job.

A peer that is not installed (its import fails) is reported as ``skipped``; an exception in a
run is answered as that run's error and the worker goes on.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import json
import resource
import sys
import time
import traceback
import tracemalloc
from typing import Any

from bench.backends import Admin, parse_backend
from bench.interface import Impl, NotApplicable, Timer
from bench.scenarios import SCENARIOS, make_rows

#: ``--impls`` name -> "module:Class". ``raw`` on the command line means both raw variants.
IMPLS = {
    "raw-many": "bench.impl_raw:RawExecutemany",
    "raw-batch": "bench.impl_raw:RawBatched",
    "raw-tuned": "bench.impl_raw:RawTuned",
    "raw-binary": "bench.impl_raw:RawBinary",
    "ormcli": "bench.impl_ormcli:OrmcliImpl",
    "sqlalchemy": "bench.impl_sqlalchemy:SQLAlchemyImpl",
    "sqlalchemy-fast": "bench.impl_sqlalchemy:SQLAlchemyFast",
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


def run_once(
    impl: Impl, admin: Admin, sid: str, n: int, seeds: dict[int, list[Any]]
) -> dict[str, Any]:
    """One run of scenario ``sid`` on a fresh table, checked afterwards: ``{"elapsed": s}``
    or ``{"error": "..."}`` (the implementation is then opened afresh)."""
    scenario = SCENARIOS[sid]
    seed_count = scenario.seed(n)
    try:
        if seed_count not in seeds:
            seeds[seed_count] = make_rows(seed_count)
        extra = scenario.extra(n) if scenario.extra else None
        admin.reset(seeds[seed_count], extra)
        gc.collect()
        gc.freeze()  # the harness's own objects (seed rows) are no garbage to scan
        try:
            t = Timer()
            result = scenario.run(impl, t, n)
        finally:
            gc.unfreeze()
        if t.entered == 0:
            raise RuntimeError(f"{impl.name}.{sid} timed nothing")
        scenario.check(admin, result, n)
        if scenario.tracks and impl.tracked(result) is False:
            raise AssertionError("objects not identity-mapped and tracked by their session")
        del result
        impl.teardown()
        return {"elapsed": t.elapsed, "cpu": t.cpu}
    except NotImplementedError:
        return {"skipped": f"{impl.name} does not implement {sid}"}
    except Exception as exc:
        _log(f"  {impl.backend.label:<10} {impl.name:<10} {sid:<6} ERROR {exc!r}")
        _log(traceback.format_exc(limit=6))
        with contextlib.suppress(Exception):  # a failed reset must not poison the next run
            admin.conn.rollback()
        _reopen(impl)
        return {"error": f"{type(exc).__name__}: {exc}"}


def serve(impl: Impl, admin: Admin, n: int) -> None:
    """``--serve``: one JSON command per line on stdin, one JSON answer per line on stdout.

    ``{"op": "run", "scenario": "S1"}`` -> ``{"elapsed": seconds}`` or ``{"error": ...}``;
    ``{"op": "finish"}`` -> ``{"notes": [...], "seconds": ...}`` and the worker ends. The harness
    sends the runs of all implementations in turn, so that whatever else the machine does at
    that moment falls on all of them alike.
    """
    seeds: dict[int, list[Any]] = {}
    busy = 0.0
    for line in sys.stdin:
        command = json.loads(line)
        if command.get("op") == "run":
            started = time.perf_counter()
            reply = run_once(impl, admin, command["scenario"], n, seeds)
            busy += time.perf_counter() - started
        else:
            _answer({"notes": sorted(set(impl.notes)), "seconds": busy})
            return
        _answer(reply)


def _answer(reply: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(reply) + "\n")
    sys.stdout.flush()


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


def _rss() -> int:
    """This process's resident set size in bytes (Linux ``/proc``)."""
    with open("/proc/self/statm", encoding="ascii") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize()


def measure_rss(impl: Impl, admin: Admin, n: int) -> dict[str, Any]:
    """M by RSS, in a process of its own without tracemalloc (which sees no C buffers): the
    peak resident size while a session loads and holds ``10n`` rows, over the size before."""
    admin.reset(make_rows(n * 10))
    gc.collect()
    before = _rss()
    held = impl.hold()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    count = len(held[1])
    impl.release(held)
    if count != n * 10:
        raise AssertionError(f"memory: expected {n * 10} entities held, found {count}")
    _log(
        f"  {impl.backend.label:<10} {impl.name:<10} M      RSS +{(peak - before) / 2**20:8.1f} MiB"
    )
    return {"rss_peak": max(0, peak - before)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.worker")
    parser.add_argument("--impl", required=True, choices=sorted(IMPLS))
    parser.add_argument("--url", required=True)
    parser.add_argument("--rows", type=int, required=True)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--serve", action="store_true", help="run scenarios as stdin asks")
    mode.add_argument("--memory", action="store_true", help="measure M, write JSON to --out")
    mode.add_argument("--rss", action="store_true", help="measure M by RSS, JSON to --out")
    parser.add_argument("--out", help="where --memory / --rss write their JSON")
    args = parser.parse_args(argv)
    if (args.memory or args.rss) and not args.out:
        parser.error("--memory and --rss need --out")

    backend = parse_backend(args.url)
    hello: dict[str, Any] = {"impl": args.impl, "backend": backend.label, "status": "ok"}
    admin: Admin | None = None
    try:
        cls = load_impl(args.impl)
        admin = Admin(backend)
        impl = cls(backend)
        admin.reset([])
        impl.open()
        hello["versions"] = {**impl.versions(), "server": admin.server_version()}
        hello["description"] = cls.description
    except NotApplicable as exc:  # a raw variant with nothing of its own here
        hello.update(status="n/a", reason=str(exc))
    except ImportError as exc:  # the peer, or a driver it needs on this backend
        hello.update(status="skipped", reason=f"not installed: {exc}")
        _log(f"  {backend.label:<10} {args.impl:<10} skipped ({exc})")
    except Exception as exc:
        hello.update(status="error", reason=f"{type(exc).__name__}: {exc}")
        _log(f"  {backend.label:<10} {args.impl:<10} ERROR {exc!r}")
        _log(traceback.format_exc(limit=8))
    try:
        if args.serve:
            _answer(hello)
            if hello["status"] == "ok":
                serve(impl, admin, args.rows)  # type: ignore[arg-type]
                impl.close()
            return 0
        out = dict(hello)
        if hello["status"] == "ok":
            try:
                measure = measure_rss if args.rss else measure_memory
                out["memory"] = measure(impl, admin, args.rows)  # type: ignore[arg-type]
                out["notes"] = sorted(set(impl.notes))
                impl.close()
            except Exception as exc:
                out.update(status="error", reason=f"{type(exc).__name__}: {exc}")
                _log(traceback.format_exc(limit=8))
        return _write(args.out, out)
    finally:
        if admin is not None:
            admin.close()


def _write(path: str, out: dict[str, Any]) -> int:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(out, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
