"""Start-up time: ``ormcli --help``, ``ormcli --version`` and ``import core``, beside
``python -c pass``.

Each command runs ``repeat`` times as a fresh process, the commands taken in turns (so a busy
moment of the machine falls on all of them alike); the table shows the median and minimum wall
time of each process, from spawn to exit, its CPU time (user + system, from ``wait4``: on a
machine whose cores are busy with other work, the wall time is mostly waiting for a core), and
the targets of issue 18: ``--help`` and ``--version`` <= 150 ms, ``import core`` <= 80 ms, each
judged on wall and on CPU time by the 95% interval of its median (``bench.stats``).
``python -c pass`` is the interpreter's own start, the part no package can remove.

Two ways a user runs it: ``cached`` (the default; what any ``pip install`` gives: bytecode
caches written once, ``PYTHONDONTWRITEBYTECODE`` dropped for the warm-up) and ``source``
(``--bytecode source``): a fresh copy of ``core`` and ``ormcli`` with no ``__pycache__``, run
with ``PYTHONDONTWRITEBYTECODE=1`` — what an editable install does on every start in an
environment that sets that variable (this machine does): every module of the project is
compiled again each time; the standard library and site-packages keep their caches.
Callers: ``bench.harness``, ``bench.cli``, people (``python -m bench.startup [N] [--bytecode
source]``). Leaves out: import profiles (run ``python -X importtime -c "import core"``).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.stats import median_interval

#: (label, argv after the interpreter or the ``ormcli`` script, target seconds or None)
COMMANDS: tuple[tuple[str, tuple[str, ...], float | None], ...] = (
    ("python -c pass", ("-c", "pass"), None),
    ("import core", ("-c", "import core"), 0.080),
    ("ormcli --version", ("ORMCLI", "--version"), 0.150),
    ("ormcli --help", ("ORMCLI", "--help"), 0.150),
)


def _argv(args: tuple[str, ...]) -> list[str]:
    if args[0] != "ORMCLI":
        return [sys.executable, *args]
    script = Path(sys.executable).with_name("ormcli")
    if script.exists():
        return [str(script), *args[1:]]
    return [sys.executable, "-c", "from ormcli.__main__ import main; main()", *args[1:]]


def source_env(folder: Path, env: dict[str, str]) -> dict[str, str]:
    """``env`` for running a fresh copy of the project's sources (no bytecode caches, none
    written) from ``folder``: ``PYTHONPATH`` puts the copy first."""
    root = Path(__file__).resolve().parent.parent
    for package in ("core", "ormcli"):
        target = folder / package
        if not target.exists():
            shutil.copytree(
                root / package, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
            )
    return {**env, "PYTHONPATH": str(folder), "PYTHONDONTWRITEBYTECODE": "1"}


def measure(
    repeat: int, cwd: Path, env: dict[str, str], *, source: Path | None = None
) -> list[dict[str, Any]]:
    """Every command's wall and CPU times, ``repeat`` each, taken in turns (one warm-up
    first, which also writes the bytecode caches: ``PYTHONDONTWRITEBYTECODE`` is dropped from
    the environment, since an installed package has its ``.pyc`` files and a start without
    them compiles every module again). With ``source`` (a scratch folder): the ``source``
    way of :func:`source_env` instead, nothing cached for the project."""
    env = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    if source is not None:  # run from there: ``python -c`` puts the current folder first
        env, cwd = source_env(source, env), source
    times: dict[str, list[float]] = {label: [] for label, _, _ in COMMANDS}
    cpu: dict[str, list[float]] = {label: [] for label, _, _ in COMMANDS}
    for rnd in range(repeat + 1):
        for label, args, _ in COMMANDS:
            started = time.perf_counter()
            proc = subprocess.Popen(
                _argv(args), cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
            _, status, usage = os.wait4(proc.pid, 0)
            elapsed = time.perf_counter() - started
            proc.returncode = os.waitstatus_to_exitcode(status)
            if proc.returncode:
                raise RuntimeError(f"{label!r} exited with {proc.returncode}")
            if rnd:
                times[label].append(elapsed)
                cpu[label].append(usage.ru_utime + usage.ru_stime)
    return [
        {"command": label, "times": times[label], "cpu": cpu[label], "target": target}
        for label, _, target in COMMANDS
    ]


def verdict(r: dict[str, Any], key: str = "times") -> tuple[str, str]:
    """``(state, text)`` of one command's wall (or ``key="cpu"``: CPU) times: ``pass``,
    ``fail``, ``noise`` or ``n/a``."""
    target = r["target"]
    if target is None or not r.get(key):
        return "n/a", ""
    ci = median_interval(r[key])
    if ci is None:
        return "noise", "within noise (too few runs)"
    if ci[1] <= target:
        return "pass", "PASS"
    if ci[0] > target:
        return "fail", "**FAIL**"
    return "noise", "within noise"


def table(results: list[dict[str, Any]]) -> list[str]:
    """The Markdown table, with a verdict per command that has a target."""
    lines = [
        "| command | wall median ms (95%) | min ms | CPU median ms (95%) | target "
        "| wall result | CPU result |",
        "|---|---:|---:|---:|---|---|---|",
    ]
    for r in results:
        target = r["target"]
        cpu = r.get("cpu") or []
        lines.append(
            f"| {r['command']} | {_median_text(r['times'])} | {min(r['times']) * 1000:.0f} "
            f"| {_median_text(cpu) if cpu else '—'} "
            f"| {'' if target is None else f'≤{target * 1000:.0f} ms'} "
            f"| {verdict(r)[1]} | {verdict(r, 'cpu')[1]} |"
        )
    return lines


def _median_text(xs: list[float]) -> str:
    ci = median_interval(xs)
    shown = f" ({ci[0] * 1000:.0f}–{ci[1] * 1000:.0f})" if ci else ""
    return f"{statistics.median(xs) * 1000:.0f}{shown}"


if __name__ == "__main__":  # pragma: no cover - a manual check
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(prog="python -m bench.startup")
    parser.add_argument("runs", nargs="?", type=int, default=20)
    parser.add_argument("--bytecode", choices=("cached", "source"), default="cached")
    cli = parser.parse_args()
    root = Path(__file__).resolve().parent.parent
    print(f"load average before: {os.getloadavg()[0]:.2f}; bytecode: {cli.bytecode}")
    with tempfile.TemporaryDirectory() as scratch:
        source = Path(scratch) if cli.bytecode == "source" else None
        results = measure(cli.runs, root, dict(os.environ), source=source)
    print("\n".join(table(results)))
    print(f"load average after: {os.getloadavg()[0]:.2f}; {cli.runs} runs each, in turns")
