"""CPU and wall ratios to the floor of read-only scenarios, back to back in one process.

``python -m bench.backtoback URL S2r,S2rl,S12 [ROUNDS]``: seeds each scenario once (through
``bench.backends.Admin``), opens every raw variant and ormcli in this process, and runs the
scenario ``ROUNDS`` times (after 2 warm-ups) for each in turn, alternating the order, with the
cyclic collector frozen around each run as the worker does. Prints per implementation the median
CPU (``time.process_time``) and wall time and their ratio to the fastest raw variant's median.
Only for scenarios that leave the data as they found it (S2, S2r, S2rl, S12): nothing is
reseeded between runs. A quicker, steadier look than the harness on a busy machine (one process,
no reseeding); the harness (``python -m bench``) stays the reference. SQLite needs a file path
(``sqlite:////tmp/x.db``).
"""

from __future__ import annotations

import gc
import os
import statistics
import sys
from typing import Any

from bench.backends import Admin, parse_backend
from bench.interface import Timer
from bench.scenarios import SCENARIOS, make_rows
from bench.worker import load_impl

IMPLS = ("raw-many", "raw-batch", "raw-tuned", "raw-binary", "ormcli")
READ_ONLY = frozenset({"S2", "S2r", "S2rl", "S12"})


def run(url: str, sids: list[str], rounds: int, n: int = 2000) -> list[str]:
    backend = parse_backend(url)
    admin = Admin(backend)
    lines = []
    try:
        for sid in sids:
            if sid not in READ_ONLY:
                raise SystemExit(f"{sid} changes its data; choose among {sorted(READ_ONLY)}")
            scenario = SCENARIOS[sid]
            admin.reset(make_rows(scenario.seed(n)), scenario.extra(n) if scenario.extra else None)
            impls: list[Any] = []
            for name in IMPLS:
                try:
                    impl = load_impl(name)(backend)
                    impl.open()
                except Exception:  # (a raw variant for another backend: not applicable)
                    continue
                impls.append(impl)
            cpu: dict[str, list[float]] = {i.name: [] for i in impls}
            wall: dict[str, list[float]] = {i.name: [] for i in impls}
            for r in range(rounds + 2):
                for impl in impls if r % 2 else impls[::-1]:
                    gc.collect()
                    gc.freeze()
                    t = Timer()
                    result = scenario.run(impl, t, n)
                    gc.unfreeze()
                    if r == 2:
                        scenario.check(admin, result, n)
                    if r >= 2:
                        cpu[impl.name].append(t.cpu)
                        wall[impl.name].append(t.elapsed)
                    del result
                    impl.teardown()
            med = {k: statistics.median(v) for k, v in cpu.items()}
            wmed = {k: statistics.median(v) for k, v in wall.items()}
            floor = min(v for k, v in med.items() if k.startswith("raw"))
            wfloor = min(v for k, v in wmed.items() if k.startswith("raw"))
            parts = [
                f"{k} {v * 1e3:.2f} ms CPU {v / floor:.2f}x, wall {wmed[k] / wfloor:.2f}x"
                for k, v in med.items()
            ]
            lines.append(
                f"{backend.kind} {sid} (load {os.getloadavg()[0]:.1f}): " + "; ".join(parts)
            )
            for impl in impls:
                impl.close()
    finally:
        admin.close()
    return lines


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 2:
        print("usage: python -m bench.backtoback URL SCENARIOS [ROUNDS]", file=sys.stderr)
        return 2
    for line in run(args[0], args[1].split(","), int(args[2]) if len(args) > 2 else 20):
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
