"""Start-up time: ``ormcli --help``, ``ormcli --version`` and ``import core``, beside
``python -c pass``.

Each command runs ``repeat`` times as a fresh process, the commands taken in turns (so a busy
moment of the machine falls on all of them alike); the table shows the median and minimum wall
time of each process, from spawn to exit, and the targets of issue 18: ``--help`` and
``--version`` <= 150 ms, ``import core`` <= 80 ms, each judged by the 95% interval of its median
(``bench.report.median_interval``). ``python -c pass`` is the interpreter's own start, the part
no package can remove. Callers: ``bench.harness``. Leaves out: import profiles (run
``python -X importtime -c "import core"`` for those).
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
    """Every command's wall times, ``repeat`` each, taken in turns (one warm-up first)."""
    times: dict[str, list[float]] = {label: [] for label, _, _ in COMMANDS}
    for rnd in range(repeat + 1):
        for label, args, _ in COMMANDS:
            started = time.perf_counter()
            subprocess.run(
                _argv(args), cwd=cwd, env=env, stdout=subprocess.DEVNULL, check=True,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
            if rnd:
                times[label].append(time.perf_counter() - started)
    return [
        {"command": label, "times": times[label], "target": target} for label, _, target in COMMANDS
    ]


def verdict(r: dict[str, Any]) -> tuple[str, str]:
    """``(state, text)`` of one command: ``pass``, ``fail``, ``noise`` or ``n/a``."""
    target = r["target"]
    if target is None:
        return "n/a", ""
    ci = median_interval(r["times"])
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
        "| command | median ms | min ms | 95% interval ms | target | result |",
        "|---|---:|---:|---:|---|---|",
    ]
    for r in results:
        xs = r["times"]
        ci = median_interval(xs)
        target = r["target"]
        shown = f"{ci[0] * 1000:.0f}–{ci[1] * 1000:.0f}" if ci else "—"
        lines.append(
            f"| {r['command']} | {statistics.median(xs) * 1000:.0f} | {min(xs) * 1000:.0f} "
            f"| {shown} | {'' if target is None else f'≤{target * 1000:.0f} ms'} "
            f"| {verdict(r)[1]} |"
        )
    return lines


if __name__ == "__main__":  # pragma: no cover - a manual check
    root = Path(__file__).resolve().parent.parent
    runs = int(sys.argv[1]) if sys.argv[1:] else 10
    print("\n".join(table(measure(runs, root, dict(os.environ)))))
