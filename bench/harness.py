"""The command line: ``python -m bench [--quick] [--rows N] [--backends ...] [--scenarios ...]
[--repeat R] [--impls ...]``.

Runs every selected implementation on every backend, each in its own worker process
(``python -m bench.worker --serve``). The runs are taken in turns — scenario by scenario, one run
of every implementation per round, the first implementation of a round rotating — and never in
parallel, so that runs do not compete for the two cores and a busy moment of the machine falls on
every implementation alike (the ratios compare runs taken side by side). Then it prints the
Markdown report and saves it with the raw JSON under ``bench/results/``. SQLite (a fresh file
per worker in a temporary directory) is always included; PostgreSQL and MySQL / MariaDB when
their URLs are given. M (memory) runs in a second worker per implementation, so that
tracemalloc never slows the timed runs.

Exit status: 0, or 1 when a worker or a scenario failed with an error (a missing peer is skipped,
not an error), or — with ``--strict`` — when ormcli misses a target.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import select
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from bench import startup
from bench.backends import parse_backend
from bench.report import CLOSE, FAMILIES, ORDER, RAW, BackendReport, render
from bench.scenarios import ALL_IDS, MEMORY, SCENARIOS, STARTUP, expand
from bench.worker import IMPLS

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_IMPLS = "raw,ormcli,sqlalchemy,peewee,pony"
#: ``--impls`` names that stand for several variants.
GROUPS = {"raw": RAW, **FAMILIES}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="ormcli against raw DB-API, SQLAlchemy ORM, peewee and Pony.",
    )
    parser.add_argument("--rows", type=int, default=10_000, help="base row count n (10000)")
    parser.add_argument(
        "--backends",
        default="sqlite",
        help="comma-separated: sqlite, postgresql://user@host:port/db, mysql://user@host/db "
        "(SQLite is always included)",
    )
    parser.add_argument(
        "--scenarios", default="", help=f"comma-separated subset of {','.join(ALL_IDS)} (all)"
    )
    parser.add_argument(
        "--repeat", type=int, default=6, help="timed rounds after one warm-up, at least (6)"
    )
    parser.add_argument(
        "--max-repeat",
        type=int,
        default=14,
        help="rounds at most: more are run while a verdict is within noise (14)",
    )
    parser.add_argument(
        "--impls",
        default=DEFAULT_IMPLS,
        help=f"comma-separated subset of {DEFAULT_IMPLS} (raw = every raw variant, sqlalchemy ="
        " sqlalchemy + sqlalchemy-fast; or one variant by name)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke test: 1000 rows, 1 repeat, SQLite only"
    )
    parser.add_argument("--out-dir", type=Path, default=RESULTS, help="where to save the report")
    parser.add_argument("--no-save", action="store_true", help="print only, save nothing")
    parser.add_argument(
        "--timeout", type=float, default=600, help="seconds allowed per scenario run (600)"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when ormcli misses a target")
    parser.add_argument(
        "--skip-sqlite",
        action="store_true",
        help="run only the server backends given (to split a long run into parts)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.repeat, args.max_repeat, args.backends = 1000, 1, 1, "sqlite"
    args.max_repeat = max(args.max_repeat, args.repeat)
    if args.rows < 10 or args.repeat < 1:
        parser.error("--rows must be >= 10 and --repeat >= 1")
    return args


def expand_impls(text: str) -> list[str]:
    names: list[str] = []
    for raw_name in text.split(","):
        name = raw_name.strip().lower()
        chosen = list(GROUPS.get(name, (name,)))
        for impl in chosen:
            if impl not in IMPLS:
                raise SystemExit(f"unknown implementation {impl!r}; known: {DEFAULT_IMPLS}")
            if impl not in names:
                names.append(impl)
    return sorted(names, key=ORDER.index)


def backend_specs(text: str) -> list[str]:
    specs = [s.strip() for s in text.split(",") if s.strip()]
    specs = [s for s in specs if s != "sqlite" and not s.startswith("sqlite:")]
    return ["sqlite", *specs]


def _worker_cmd(impl: str, url: str, rows: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "bench.worker", f"--impl={impl}", f"--url={url}",
            f"--rows={rows}", *extra]  # fmt: skip


def _worker_env() -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }


class Worker:
    """One ``bench.worker --serve`` process: a JSON line out, a JSON line back."""

    def __init__(self, impl: str, url: str, rows: int, timeout: float) -> None:
        self.impl = impl
        self.timeout = timeout
        self.proc = subprocess.Popen(
            _worker_cmd(impl, url, rows, "--serve"),
            cwd=ROOT,
            env=_worker_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def read(self) -> dict[str, Any]:
        """The worker's next answer; an error record if it died or took over ``timeout``."""
        out = self.proc.stdout
        assert out is not None
        ready, _, _ = select.select([out], [], [], self.timeout)
        if not ready:
            self.kill()
            return {"status": "error", "error": f"timed out after {self.timeout:g} s"}
        line = out.readline()
        if not line:
            code = self.proc.wait()
            return {"status": "error", "error": f"worker exit {code}"}
        try:
            answer: dict[str, Any] = json.loads(line)
        except json.JSONDecodeError:
            return {"status": "error", "error": f"worker said {line.strip()[:200]!r}"}
        return answer

    def ask(self, command: dict[str, Any]) -> dict[str, Any]:
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write(json.dumps(command) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            return {"status": "error", "error": f"worker gone: {exc}"}
        return self.read()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def scaling_groups(scenarios: list[str]) -> list[list[str]]:
    """The scenarios in run order, a scaling scenario together with its yardstick.

    ``S1x10`` is compared with ``S1``, ``S2x10`` with ``S2`` and ``S7`` with ``S7s``; when
    both are selected they share rounds (yardstick first), so that the scaling ratio, like
    the ratio to the floor, is taken from runs made at the same moments.
    """
    groups: dict[str, list[str]] = {}
    for sid in scenarios:
        base = SCENARIOS[sid].base
        groups.setdefault(base if base in scenarios else sid, []).append(sid)
    return [sorted(group, key=lambda sid: SCENARIOS[sid].base != "") for group in groups.values()]


def round_order(live: list[str], group: list[str], rnd: int) -> list[tuple[str, str]]:
    """``(scenario, implementation)`` runs of round ``rnd`` for a group of scenarios, in order.

    The raw variants and ormcli come first, one after the other, each scenario of the group in
    turn (S1 for each, then S1x10 for each); then the peers the same way. So the runs a ratio
    compares (ormcli and the floor; ormcli's S1x10 and S1) are at most a few runs apart. Each
    part starts one implementation further on in every round.
    """

    def rotated(items: list[str]) -> list[str]:
        k = rnd % len(items) if items else 0
        return items[k:] + items[:k]

    order = []
    for part in ([i for i in live if i in CLOSE], [i for i in live if i not in CLOSE]):
        order += [(sid, impl) for sid in group for impl in rotated(part)]
    return order


def run_interleaved(
    urls: dict[str, str], args: argparse.Namespace, scenarios: list[str], label: str, kind: str
) -> dict[str, dict[str, Any]]:
    """Every implementation's runs of each scenario, taken in turns.

    One worker process per implementation stays open; for each group of scenarios (see
    ``scaling_groups``), round ``r`` (0 is the warm-up) asks every worker for one run of each,
    so that a busy moment of the machine falls on all of them alike; ``round_order`` keeps the
    runs that a ratio compares close together (``bench.report`` pairs ratios by round). After
    ``--repeat`` rounds, while one of ormcli's verdicts in the group is within noise, more
    rounds are run (up to ``--max-repeat``) of just the implementations that decide it.
    """
    workers: dict[str, Worker] = {}
    data: dict[str, dict[str, Any]] = {}
    live: list[str] = []
    for impl, url in urls.items():
        # One at a time: each worker resets the shared table while it starts.
        worker = workers[impl] = Worker(impl, url, args.rows, args.timeout)
        hello = worker.read()
        if "error" in hello:
            hello = {"status": "error", "reason": hello["error"]}
        data[impl] = {"impl": impl, **hello, "scenarios": {}}
        if hello.get("status") == "ok":
            live.append(impl)
        else:
            worker.kill()
    started = time.perf_counter()
    for group in scaling_groups(scenarios):
        runs: dict[tuple[str, str], dict[str, Any]] = {
            (sid, impl): {"times": [], "rounds": [], "cpu": []} for sid in group for impl in live
        }
        rnd = 0
        taking = list(live)
        while taking:
            for sid, impl in round_order(taking, group, rnd):
                run = runs[sid, impl]
                if "error" in run or "skipped" in run:
                    continue
                answer = workers[impl].ask({"op": "run", "scenario": sid})
                if "skipped" in answer:
                    run["skipped"] = answer["skipped"]
                elif "elapsed" not in answer:
                    run["error"] = answer.get("error", "no answer")
                elif rnd == 0:
                    run["warmup"] = answer["elapsed"]
                else:
                    run["times"].append(answer["elapsed"])
                    run["rounds"].append(rnd)
                    run["cpu"].append(answer.get("cpu", 0.0))
            rnd += 1
            if rnd > args.max_repeat:
                break
            if rnd > args.repeat:
                partial = [
                    {"impl": impl, "scenarios": {sid: runs[sid, impl] for sid in group}}
                    for impl in live
                ]
                taking = [
                    i for i in live if i in BackendReport(label, kind, partial).undecided(group)
                ]
        for sid in group:
            for impl in live:
                data[impl]["scenarios"][sid] = runs[sid, impl]
                times = sorted(runs[sid, impl]["times"])
                shown = f"{times[len(times) // 2] * 1000:10.1f} ms" if times else "         —"
                print(
                    f"  {impl:<15} {sid:<6} {shown} ({len(times)} runs)",
                    file=sys.stderr,
                    flush=True,
                )
    for impl in live:
        worker = workers[impl]
        final = worker.ask({"op": "finish"})
        data[impl]["notes"] = final.get("notes", [])
        data[impl]["seconds"] = time.perf_counter() - started
        if "error" in final:
            data[impl].update(status="error", reason=final["error"])
        worker.kill()
    return data


def run_memory(impl: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    """M for one implementation: tracemalloc in one worker process, RSS in another."""
    data = _run_memory(impl, url, args, "--memory")
    if "memory" in data:
        rss = _run_memory(impl, url, args, "--rss")
        data["memory"]["rss_peak"] = rss.get("memory", {}).get("rss_peak")
    return data


def _run_memory(impl: str, url: str, args: argparse.Namespace, mode: str) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
        out_path = fh.name
    cmd = _worker_cmd(impl, url, args.rows, mode, f"--out={out_path}")
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=_worker_env(), timeout=args.timeout, check=False)
        data: dict[str, Any] = json.loads(Path(out_path).read_text() or "{}")
        if not data:
            data = {"impl": impl, "status": "error", "reason": f"worker exit {proc.returncode}"}
    except subprocess.TimeoutExpired:
        data = {"impl": impl, "status": "error", "reason": f"timed out after {args.timeout:g} s"}
    except (OSError, json.JSONDecodeError) as exc:
        data = {"impl": impl, "status": "error", "reason": f"worker failed: {exc}"}
    finally:
        Path(out_path).unlink(missing_ok=True)
    return data


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 2**20:.1f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{platform.node()}: {platform.platform()}, {cpu}, {os.cpu_count()} cores{mem}"


def versions(results: list[dict[str, Any]]) -> str:
    found: dict[str, str] = {"Python": platform.python_version()}
    servers: dict[str, str] = {}
    for r in results:
        for key, value in (r.get("versions") or {}).items():
            if key == "server":
                servers[r["backend_label"]] = value
            else:
                found.setdefault(key, value)
    return " · ".join(
        [f"{k} {v}" for k, v in found.items()] + list(dict.fromkeys(servers.values()))
    )


def index_run(
    out_dir: Path,
    name: str,
    meta: dict[str, Any],
    results: list[dict[str, Any]],
    backends: list[tuple[str, str]],
    launches: list[dict[str, Any]],
) -> None:
    """Append the saved run to ``INDEX.md``: every saved run is listed, kept or not."""
    index = out_dir / "INDEX.md"
    if not index.exists():
        index.write_text(
            "# Every saved run\n\nWritten by `python -m bench` after each saved run (see "
            "README.md).\n\n| report | command | core | met | missed | within noise | took |\n"
            "|---|---|---|---:|---:|---:|---|\n",
            encoding="utf-8",
        )
    met = missed = noisy = 0
    for label, kind in backends:
        rep = BackendReport(label, kind, [r for r in results if r["backend_label"] == label])
        p, f, u = rep.counts()
        met, missed, noisy = met + p, missed + f, noisy + u
    for launch in launches:
        for key in ("times", "cpu"):
            state = startup.verdict(launch, key)[0]
            met, missed = met + (state == "pass"), missed + (state == "fail")
            noisy += state == "noise"
    core = next(
        (
            r["versions"].get("ormcli", "")
            for r in results
            if (r.get("versions") or {}).get("ormcli")
        ),
        "",
    )
    head = meta["header"]
    with index.open("a", encoding="utf-8") as fh:
        fh.write(
            f"| [`{name}`]({name}.md) | {head['command']} | {core} | {met} | {missed} | {noisy} "
            f"| {head['took']} |\n"
        )


def save(
    args: argparse.Namespace,
    argv: list[str] | None,
    first_start: datetime,
    started: float,
    results: list[dict[str, Any]],
    backends: list[tuple[str, str]],
    launches: list[dict[str, Any]],
    final: bool,
) -> tuple[str, Path | None]:
    """The report of what has run so far, written under ``--out-dir`` (unless ``--no-save``);
    the final save also lists the run in ``INDEX.md``. Returns the text and the file stem."""
    command = "python -m bench " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    meta = {
        "date": first_start.strftime("%Y-%m-%d %H:%M %Z"),
        "header": {
            "command": f"`{command.strip()}`",
            "rows": (
                f"n = {args.rows:,} (S7, S7j, S1x10, S2x10, S5p and M: {args.rows * 10:,}); "
                f"{args.repeat}-{args.max_repeat} timed rounds after 1 warm-up (more while a "
                "verdict is within noise); times in ms"
            ),
            "machine": machine(),
            "versions": versions(results),
            "took": f"{time.perf_counter() - started:.0f} s" + ("" if final else " (so far)"),
        },
    }
    text = render(results, meta, backends, args.rows, launches)
    if args.no_save:
        return text, None
    args.out_dir.mkdir(parents=True, exist_ok=True)
    tag = "quick" if args.quick else f"n{args.rows}"
    stem = args.out_dir / f"{first_start.strftime('%Y-%m-%d_%H%M%S')}_{tag}"
    stem.with_suffix(".md").write_text(text, encoding="utf-8")
    raw = {
        "meta": meta,
        "backends": backends,
        "rows": args.rows,
        "results": results,
        "startup": launches,
    }
    stem.with_suffix(".json").write_text(json.dumps(raw, indent=1), encoding="utf-8")
    if final:
        index_run(args.out_dir, stem.name, meta, results, backends, launches)
    return text, stem


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        ids = expand(args.scenarios)
        impls = expand_impls(args.impls)
    except ValueError as exc:
        print(f"python -m bench: {exc}", file=sys.stderr)
        return 2
    timed = [s for s in ids if s not in (MEMORY, STARTUP)]
    tmpdir = tempfile.mkdtemp(prefix="ormcli-bench-")
    started = time.perf_counter()
    first_start = datetime.now().astimezone()
    results: list[dict[str, Any]] = []
    backends: list[tuple[str, str]] = []
    launches: list[dict[str, Any]] = []
    if STARTUP in ids:
        print("== start-up", file=sys.stderr, flush=True)
        launches = startup.measure(3 if args.quick else 15, ROOT, _worker_env())
    try:
        specs = backend_specs(args.backends)
        for spec in specs[1:] if args.skip_sqlite and len(specs) > 1 else specs:
            first = parse_backend(spec, sqlite_path=os.path.join(tmpdir, "probe.db"))
            label = first.label
            if any(label == seen for seen, _ in backends):
                label = f"{label} ({first.host}:{first.port}/{first.database})"
            backends.append((label, first.kind))
            print(f"== {first.display}", file=sys.stderr, flush=True)
            urls = {}
            for impl in impls:
                url = first.url
                if first.kind == "sqlite":
                    url = "sqlite:///" + os.path.join(tmpdir, f"{impl}.db")
                urls[impl] = url
            timed_data = run_interleaved(urls, args, timed, label, first.kind) if timed else {}
            for impl in impls:
                data = timed_data.get(impl, {"impl": impl})
                if MEMORY in ids and data.get("status", "ok") == "ok":
                    mem = run_memory(impl, urls[impl], args)
                    data.setdefault("status", mem.get("status"))
                    data.setdefault("reason", mem.get("reason", ""))
                    data.setdefault("versions", mem.get("versions"))
                    data.setdefault("description", mem.get("description"))
                    if "memory" in mem:
                        data["memory"] = mem["memory"]
                    elif mem.get("status") == "error":
                        data["memory_error"] = mem.get("reason", "error")
                        data.setdefault("notes", []).append(f"M: {data['memory_error']}")
                data["backend_label"] = label
                results.append(data)
            # Each backend's part is saved as soon as it is done: a run stopped later keeps it.
            save(args, argv, first_start, started, results, backends, launches, final=False)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)

    text, stem = save(args, argv, first_start, started, results, backends, launches, final=True)
    print(text)
    if stem is not None:
        print(f"saved {stem}.md and .json, listed in INDEX.md", file=sys.stderr)

    errors = [r for r in results if r.get("status") == "error" or r.get("memory_error")] + [
        (r["impl"], sid)
        for r in results
        for sid, d in (r.get("scenarios") or {}).items()
        if d.get("error")
    ]
    if errors:
        return 1
    if args.strict:
        for label, kind in backends:
            rep = BackendReport(label, kind, [r for r in results if r["backend_label"] == label])
            if rep.counts()[1]:
                return 1
    return 0
