"""Start-up time: ``ormcli --help``, ``ormcli --version`` and ``import core``, beside
``python -c pass``.

Each command runs ``repeat`` times as a fresh process, the commands taken in turns (so a busy
moment of the machine falls on all of them alike); the table shows the median and minimum wall
time of each process, from spawn to exit, its CPU time (user + system, from ``wait4``: on a
machine whose cores are busy with other work, the wall time is mostly waiting for a core), and
the targets of issue 18: ``--help`` and ``--version`` <= 150 ms, ``import core`` <= 80 ms, each
judged on wall and on CPU time by the 95% interval of its median (``bench.stats``).
``python -c pass`` is the interpreter's own start, the part no package can remove.
Callers: ``bench.harness``. Leaves out: import profiles (run ``python -X importtime -c
"import core"`` for those).
"""

from __future__ import annotations

import os
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
    return [sys.executable, "-c", "from ormcli.app import main; main()", *args[1:]]


def measure(repeat: int, cwd: Path, env: dict[str, str]) -> list[dict[str, Any]]:
    """Every command's wall and CPU times, ``repeat`` each, taken in turns (one warm-up
    first, which also writes the bytecode caches: ``PYTHONDONTWRITEBYTECODE`` is dropped from
    the environment, since an installed package has its ``.pyc`` files and a start without
    them compiles every module again)."""
    env = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
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
    root = Path(__file__).resolve().parent.parent
    runs = int(sys.argv[1]) if sys.argv[1:] else 10
    print("\n".join(table(measure(runs, root, dict(os.environ)))))
