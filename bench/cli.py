"""The command app measured beside litecli: rows to a pipe, a long script, startup to a prompt.

``python -m bench.cli [--rows 100000] [--lines 16000,32000] [--litecli PATH] [--repeat 3]``
makes a SQLite database of the blog sample in a temporary folder and reports, for each case,
the best of ``--repeat`` runs as wall time and CPU time (user + system of the child: the fairer
figure on a busy machine):

- ``find User --format csv|tsv|table`` of every row written to a pipe, beside litecli's
  ``--csv``, default (tab-separated) and ``-t`` batch output of ``SELECT * FROM user``;
- ``ormcli run`` of a script of N ``add`` lines (one unit of work), to show it stays linear;
- startup to the first prompt in a pseudo-terminal (pexpect), beside ``litecli DB``.

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
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BLOG = ROOT / "sample_models" / "blog.py"


def _ormcli() -> list[str]:
    found = shutil.which("ormcli", path=str(Path(sys.executable).parent))
    return [found] if found else [sys.executable, "-m", "ormcli.app"]


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


def _prompt(argv: Sequence[str], prompt: str, env: dict[str, str]) -> Callable[[], None]:
    import pexpect

    def run() -> None:
        child = pexpect.spawn(argv[0], list(argv[1:]), env=env, encoding="utf-8", timeout=60)
        child.expect(prompt)
        child.terminate(force=True)
        child.close()

    return run


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
    args = parser.parse_args(argv)
    ormcli = _ormcli()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        url = _database(folder, args.rows)
        base = [*ormcli, "--db", url, "--models", str(BLOG)]
        db_file = str(folder / "bench.db")
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
        print("startup to the first prompt (pseudo-terminal)")
        env = {
            **os.environ,
            "NO_COLOR": "1",
            "PROMPT_TOOLKIT_NO_CPR": "1",
            "XDG_CONFIG_HOME": str(folder / "config"),
            "HOME": str(folder),
        }
        wall, cpu = _timed(_prompt(base, r"bench\.db>", env), max(args.repeat, 5))
        _line("ormcli (REPL, blog models loaded)", wall, cpu)
        if args.litecli:
            wall, cpu = _timed(
                _prompt([args.litecli, db_file], r"bench(\.db)?>", env), max(args.repeat, 5)
            )
            _line("litecli", wall, cpu)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
