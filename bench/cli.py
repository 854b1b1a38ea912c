"""The command app measured beside litecli: rows to a pipe, a long script, startup to a prompt.

``python -m bench.cli [--rows 100000] [--lines 16000,32000] [--litecli PATH] [--repeat 3]``
makes a SQLite database of the blog sample in a temporary folder and reports, for each case,
the best of ``--repeat`` runs as wall time and CPU time (user + system of the child: the fairer
figure on a busy machine):

- ``find User --format csv|tsv|table`` of every row written to a pipe, beside litecli's
  ``--csv``, default (tab-separated) and ``-t`` batch output of ``SELECT * FROM user``;
- ``ormcli run`` of a script of N ``add`` lines (one unit of work), to show it stays linear;
- startup to the first prompt in a pseudo-terminal (pexpect), beside ``litecli DB``: the two
  taken in turns, ``--prompt-runs`` each (default 20; one warm-up each first, which writes the
  bytecode caches), median and minimum of wall and CPU time (a busy machine inflates wall
  time; CPU time is the steadier figure), load average before and after. ``--bytecode
  source`` runs ormcli from a fresh copy of its sources with ``PYTHONDONTWRITEBYTECODE=1``
  (an editable install where that variable is set: ``bench/startup.py``); litecli keeps the
  caches pip wrote. ``--only prompt`` skips the other cases.

litecli is looked up as ``--litecli``, ``$LITECLI`` or ``litecli`` on ``PATH`` (install it in a
scratch virtualenv, never into the project); without it only ormcli's figures are printed.
Callers: people, by hand. It asserts nothing (the test suite has no timed assertions).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bench.startup import source_env

ROOT = Path(__file__).resolve().parents[1]
BLOG = ROOT / "sample_models" / "blog.py"


def _ormcli() -> list[str]:
    found = shutil.which("ormcli", path=str(Path(sys.executable).parent))
    return [found] if found else [sys.executable, "-m", "ormcli"]


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(run: Callable[[], None], repeat: int) -> tuple[float, float]:
    """Best wall and best CPU seconds over ``repeat`` runs of ``run``."""
    walls, cpus = [], []
    for _ in range(repeat):
        cpu, wall = _child_cpu(), time.perf_counter()
        run()
        walls.append(time.perf_counter() - wall)
        cpus.append(_child_cpu() - cpu)
    return min(walls), min(cpus)


def _to_pipe(argv: Sequence[str]) -> Callable[[], None]:
    def run() -> None:
        with open(os.devnull, "w") as sink:
            subprocess.run(argv, stdout=sink, stderr=subprocess.DEVNULL, check=True)

    return run


def _prompt(
    argv: Sequence[str], prompt: str, env: dict[str, str], cwd: Path | None = None
) -> Callable[[], float]:
    """A run that starts ``argv`` in a pseudo-terminal and returns the wall seconds until
    ``prompt`` appears (pexpect's pauses when closing are not counted)."""
    import pexpect

    def run() -> float:
        started = time.perf_counter()
        child = pexpect.spawn(
            argv[0], list(argv[1:]), env=env, encoding="utf-8", timeout=60, cwd=cwd
        )
        child.expect(prompt)
        elapsed = time.perf_counter() - started
        child.terminate(force=True)
        child.close()
        return elapsed

    return run


def _in_turns(
    runs: dict[str, Callable[[], float]], repeat: int
) -> dict[str, tuple[list[float], list[float]]]:
    """Wall seconds (as each run returns them) and CPU seconds (of the whole child) of each
    run, ``repeat`` times, the runs taken in turns after one warm-up each (a busy moment of
    the machine falls on all of them alike)."""
    times: dict[str, tuple[list[float], list[float]]] = {label: ([], []) for label in runs}
    for rnd in range(repeat + 1):
        for label, run in runs.items():
            cpu = _child_cpu()
            wall = run()
            if rnd:
                times[label][0].append(wall)
                times[label][1].append(_child_cpu() - cpu)
    return times


def _medians(label: str, walls: list[float], cpus: list[float]) -> None:
    print(
        f"  {label:<44} {statistics.median(walls) * 1000:6.0f} ms wall (min "
        f"{min(walls) * 1000:.0f})  {statistics.median(cpus) * 1000:6.0f} ms cpu (min "
        f"{min(cpus) * 1000:.0f})",
        flush=True,
    )


def _database(folder: Path, rows: int) -> str:
    url = f"sqlite:///{folder / 'bench.db'}"
    subprocess.run(
        [*_ormcli(), "--db", url, "--models", str(BLOG), "migrate"], check=True, capture_output=True
    )
    with sqlite3.connect(folder / "bench.db") as conn:
        conn.executemany(
            'INSERT INTO "user" (email, name, joined, bio) VALUES (?, ?, ?, ?)',
            [
                (
                    f"user{i}@example.org",
                    f"User number {i}",
                    "2024-05-01",
                    None if i % 3 else f'bio, with "quotes" {i}',
                )
                for i in range(rows)
            ],
        )
    return url


def _line(label: str, wall: float, cpu: float) -> None:
    print(f"  {label:<44} {wall:7.2f} s wall  {cpu:7.2f} s cpu", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cli", description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--lines", default="16000,32000")
    parser.add_argument("--litecli", default=os.environ.get("LITECLI") or shutil.which("litecli"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--prompt-runs", type=int, default=20)
    parser.add_argument("--bytecode", choices=("cached", "source"), default="cached")
    parser.add_argument("--only", choices=("all", "prompt"), default="all")
    args = parser.parse_args(argv)
    ormcli = _ormcli()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        url = _database(folder, args.rows)
        base = [*ormcli, "--db", url, "--models", str(BLOG)]
        db_file = str(folder / "bench.db")
        if args.only == "all":
            print(f"{args.rows:,} rows to a pipe")
            for fmt, lite in (("csv", ["--csv"]), ("tsv", []), ("table", ["-t"])):
                wall, cpu = _timed(_to_pipe([*base, "find", "User", "--format", fmt]), args.repeat)
                _line(f"ormcli find User --format {fmt}", wall, cpu)
                if args.litecli:
                    command = [args.litecli, db_file, *lite, "-e", "SELECT * FROM user"]
                    wall, cpu = _timed(_to_pipe(command), args.repeat)
                    _line(f"litecli {' '.join(lite) or '(tab-separated)'}", wall, cpu)
            print("ormcli run: a script of add lines (one commit)")
            for count in (int(n) for n in args.lines.split(",") if n):
                script = folder / f"adds{count}.orm"
                script.write_text(
                    "".join(f'add Tag name="tag {i}"\n' for i in range(count)), encoding="utf-8"
                )

                def run(script: Path = script) -> None:
                    with sqlite3.connect(db_file) as conn:
                        conn.execute('DELETE FROM "tag"')
                    _to_pipe([*base, "run", str(script)])()

                wall, cpu = _timed(run, 1)
                _line(f"{count:,} lines", wall, cpu)
        print(
            f"startup to the first prompt (pseudo-terminal; median of {args.prompt_runs}, "
            f"in turns; bytecode: {args.bytecode}; load {os.getloadavg()[0]:.2f})"
        )
        env = {
            k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"
        }  # the warm-up writes the caches an install has
        env.update(
            NO_COLOR="1",
            PROMPT_TOOLKIT_NO_CPR="1",
            XDG_CONFIG_HOME=str(folder / "config"),
            HOME=str(folder),
        )
        ormcli_env, cwd = env, None
        if args.bytecode == "source":
            ormcli_env, cwd = source_env(folder / "source", env), folder / "source"
        runs = {"ormcli (REPL, blog models loaded)": _prompt(base, r"bench\.db>", ormcli_env, cwd)}
        if args.litecli:
            runs["litecli"] = _prompt([args.litecli, db_file], r"bench(\.db)?>", env)
        for label, (walls, cpus) in _in_turns(runs, args.prompt_runs).items():
            _medians(label, walls, cpus)
        print(f"  (load average after: {os.getloadavg()[0]:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
