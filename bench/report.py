"""The report: medians, ratios to the floor, the targets of issue 5, and the Markdown tables.

Input is the list of worker results (one dict per backend x implementation, see ``worker``);
output is one Markdown document: a header (date, command, machine, versions), a summary of where
ormcli misses its targets, one table per backend, the memory table, and the notes. Only ormcli's
rows carry a target and a PASS/FAIL verdict; the other rows are there to compare with.

The floor of a scenario is the raw variant with the faster median on that backend. Every ratio
is paired by round: the median, over the timed rounds, of one run divided by the other run of
the same round (runs of one round are seconds apart, runs of different rounds minutes; on a
shared VM whose speed swings 1.7x within seconds, pairing is what lets the noise cancel).
Targets (all from this one run):

- S1, S3-S6 <= 2.0x the floor on SQLite, <= 1.5x on PostgreSQL / MySQL; S2 <= 2.5x everywhere;
- on SQLite every scenario >= 3x faster than SQLAlchemy; everywhere faster than every peer;
- S7: the commit with 10n loaded <= 3x the same commit with n/10 loaded (S7s);
- S1x10 and S2x10 <= 11x their n-row time;
- M: ormcli's tracemalloc peak <= 0.6x SQLAlchemy's.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.scenarios import MEMORY, SCENARIOS

RAW = ("raw-many", "raw-batch")
PEERS = ("sqlalchemy", "peewee", "pony")
ORDER = (*RAW, "ormcli", *PEERS)
#: Run next to each other in every round (the harness): what the floor ratios compare.
CLOSE = (*RAW, "ormcli")

FLOOR_TARGET = {
    "sqlite": {"S1": 2.0, "S2": 2.5, "S3": 2.0, "S4": 2.0, "S5": 2.0, "S6": 2.0},
    "postgresql": {"S1": 1.5, "S2": 2.5, "S3": 1.5, "S4": 1.5, "S5": 1.5, "S6": 1.5},
}
FLOOR_TARGET["mysql"] = FLOOR_TARGET["postgresql"]
#: Backend kind -> how many times faster than SQLAlchemy ormcli must be.
SQLA_SPEEDUP = {"sqlite": 3.0}
#: Scenario -> largest allowed ratio to its base scenario (``Scenario.base``).
SCALING_TARGET = {"S7": 3.0, "S1x10": 11.0, "S2x10": 11.0}
MEMORY_TARGET = 0.6
#: Scenarios that are only a yardstick for another one: no verdict of their own.
YARDSTICKS = {"S7s"}


@dataclass
class Cell:
    """One implementation's result for one scenario on one backend."""

    impl: str
    times: list[float] = field(default_factory=list)
    error: str = ""

    @property
    def median(self) -> float | None:
        return statistics.median(self.times) if self.times and not self.error else None

    @property
    def best(self) -> float | None:
        return min(self.times) if self.times and not self.error else None


@dataclass
class Verdict:
    target: str
    failures: list[str]
    checked: bool

    @property
    def text(self) -> str:
        if not self.checked:
            return "n/a"
        return "PASS" if not self.failures else "FAIL: " + "; ".join(self.failures)


def _ms(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds * 1000:,.1f}"


def _x(ratio: float | None) -> str:
    return "—" if ratio is None else f"{ratio:.2f}×"


class BackendReport:
    """The numbers of one backend, and the verdicts for ormcli."""

    def __init__(self, label: str, kind: str, results: Sequence[dict[str, Any]]) -> None:
        self.label = label
        self.kind = kind
        self.results = {r["impl"]: r for r in results}
        self.cells: dict[str, dict[str, Cell]] = {}  # scenario -> impl -> cell
        for r in results:
            for sid, data in (r.get("scenarios") or {}).items():
                cell = Cell(r["impl"], list(data.get("times", [])), data.get("error", ""))
                self.cells.setdefault(sid, {})[r["impl"]] = cell

    def median(self, sid: str, impl: str) -> float | None:
        cell = self.cells.get(sid, {}).get(impl)
        return cell.median if cell else None

    def floor(self, sid: str) -> float | None:
        medians = [m for m in (self.median(sid, raw) for raw in RAW) if m is not None]
        return min(medians) if medians else None

    def floor_impl(self, sid: str) -> str | None:
        """The raw variant whose median is the floor."""
        floor = self.floor(sid)
        found = [raw for raw in RAW if floor is not None and self.median(sid, raw) == floor]
        return found[0] if found else None

    def paired(self, sid: str, impl: str, other_sid: str, other: str) -> float | None:
        """``impl``'s runs of ``sid`` over ``other``'s runs of ``other_sid``: the median of the
        per-round ratios (the ratio of medians when either side lacks a round)."""
        a = self.cells.get(sid, {}).get(impl)
        b = self.cells.get(other_sid, {}).get(other)
        if a is None or b is None or a.median is None or b.median is None or not b.median:
            return None
        if len(a.times) == len(b.times) and all(b.times):
            return statistics.median(x / y for x, y in zip(a.times, b.times, strict=True))
        return a.median / b.median

    def to_floor(self, sid: str, impl: str) -> float | None:
        floor = self.floor_impl(sid)
        return self.paired(sid, impl, sid, floor) if floor else None

    def scaling(self, sid: str, impl: str) -> float | None:
        base = SCENARIOS[sid].base if sid in SCENARIOS else ""
        return self.paired(sid, impl, base, impl) if base else None

    def verdict(self, sid: str) -> Verdict:
        """ormcli against the targets for scenario ``sid`` on this backend."""
        mine = self.median(sid, "ormcli")
        if sid in YARDSTICKS:
            return Verdict(f"yardstick for {sid[:-1]}", [], False)
        parts: list[str] = []
        failures: list[str] = []
        limit = FLOOR_TARGET.get(self.kind, {}).get(sid)
        to_floor = self.to_floor(sid, "ormcli")
        if limit is not None:
            parts.append(f"≤{limit:g}× floor")
            if to_floor is not None and to_floor > limit:
                failures.append(f"{to_floor:.2f}× floor > {limit:g}")
        if sid in SCALING_TARGET:
            base = SCENARIOS[sid].base
            parts.append(f"≤{SCALING_TARGET[sid]:g}× {base}")
            ratio = self.scaling(sid, "ormcli")
            if ratio is not None and ratio > SCALING_TARGET[sid]:
                failures.append(f"{ratio:.2f}× {base} > {SCALING_TARGET[sid]:g}")
        speedup = SQLA_SPEEDUP.get(self.kind)
        sqla = self.paired(sid, "sqlalchemy", sid, "ormcli")
        if speedup is not None:
            parts.append(f"≥{speedup:g}× faster than SQLA")
            if sqla is not None and sqla < speedup:
                failures.append(f"only {sqla:.2f}× faster than SQLA")
        parts.append("< peers")
        for peer in PEERS:
            theirs = self.paired(sid, "ormcli", sid, peer)
            if theirs is not None and theirs >= 1:
                failures.append(f"slower than {peer} ({theirs:.2f}×)")
        return Verdict(", ".join(parts), failures, mine is not None)

    def memory(self, impl: str) -> dict[str, Any] | None:
        r = self.results.get(impl)
        return r.get("memory") if r else None

    def memory_verdict(self) -> Verdict:
        mine, sqla = self.memory("ormcli"), self.memory("sqlalchemy")
        target = f"peak ≤{MEMORY_TARGET:g}× SQLA"
        if not mine or not sqla:
            return Verdict(target, [], False)
        ratio = mine["peak"] / sqla["peak"]
        failures = [f"{ratio:.2f}× SQLA peak > {MEMORY_TARGET:g}"] if ratio > MEMORY_TARGET else []
        return Verdict(target, failures, True)

    # -- rendering ----------------------------------------------------------------------------

    def table(self, n: int) -> list[str]:
        lines = [
            "| scenario | impl | median ms | min ms | × floor | scaling | target | result |",
            "|---|---|---:|---:|---:|---:|---|---|",
        ]
        for sid, scenario in SCENARIOS.items():
            cells = self.cells.get(sid)
            if not cells:
                continue
            floor = self.floor(sid)
            first = True
            for impl in ORDER:
                cell = cells.get(impl)
                if cell is None:
                    continue
                label = f"{sid} {scenario.describe(n)}" if first else sid
                first = False
                if cell.error:
                    lines.append(f"| {label} | {impl} | error | | | | | {cell.error[:120]} |")
                    continue
                median = cell.median
                ratio = self.to_floor(sid, impl)
                scaling = _x(self.scaling(sid, impl)) if SCENARIOS[sid].base else ""
                if impl == "ormcli":
                    v = self.verdict(sid)
                    target, result = v.target, v.text
                    name = "**ormcli**"
                    result = f"**{result}**" if result.startswith("FAIL") else result
                else:
                    target = result = ""
                    name = impl + (" (floor)" if median is not None and median == floor else "")
                lines.append(
                    f"| {label} | {name} | {_ms(median)} | {_ms(cell.best)} | {_x(ratio)} "
                    f"| {scaling} | {target} | {result} |"
                )
        return lines

    def memory_table(self) -> list[str]:
        rows = [(impl, self.memory(impl)) for impl in ORDER]
        rows = [(impl, m) for impl, m in rows if m]
        if not rows:
            return []
        sqla = self.memory("sqlalchemy")
        v = self.memory_verdict()
        lines = [
            "| impl | entities | peak MiB | retained MiB | × SQLA peak | target | result |",
            "|---|---:|---:|---:|---:|---|---|",
        ]
        for impl, m in rows:
            ratio = _x(m["peak"] / sqla["peak"]) if sqla else "—"
            mine = impl == "ormcli"
            lines.append(
                f"| {'**ormcli**' if mine else impl} | {m['rows']:,} | {m['peak'] / 2**20:,.1f} "
                f"| {m['current'] / 2**20:,.1f} | {ratio} | {v.target if mine else ''} "
                f"| {v.text if mine else ''} |"
            )
        return lines

    def misses(self) -> list[str]:
        out = []
        for sid in self.cells:
            if "ormcli" in self.cells[sid]:
                v = self.verdict(sid)
                if v.checked and v.failures:
                    out.append(f"{self.label} {sid}: " + "; ".join(v.failures))
        mv = self.memory_verdict()
        if mv.checked and mv.failures:
            out.append(f"{self.label} {MEMORY}: " + "; ".join(mv.failures))
        return out

    def counts(self) -> tuple[int, int]:
        verdicts = [self.verdict(sid) for sid in self.cells if "ormcli" in self.cells[sid]]
        verdicts.append(self.memory_verdict())
        checked = [v for v in verdicts if v.checked]
        return sum(not v.failures for v in checked), sum(bool(v.failures) for v in checked)


def render(
    results: Sequence[dict[str, Any]],
    meta: dict[str, Any],
    backends: Sequence[tuple[str, str]],
    n: int,
) -> str:
    """The whole Markdown document. ``backends`` is ``[(label, kind), ...]`` in run order."""
    reports = [
        BackendReport(label, kind, [r for r in results if r["backend_label"] == label])
        for label, kind in backends
    ]
    out = [f"# ormcli benchmark — {meta['date']}", ""]
    out += [f"- {k}: {v}" for k, v in meta["header"].items()]
    out += ["", "## Where ormcli stands", ""]
    passed = failed = 0
    misses: list[str] = []
    for rep in reports:
        p, f = rep.counts()
        passed, failed = passed + p, failed + f
        misses += rep.misses()
    if passed + failed == 0:
        out.append("ormcli was not measured (see the notes below).")
    else:
        out.append(f"ormcli: {passed} targets met, {failed} missed.")
        out += [""] + [f"- {m}" for m in misses]
    out += ["", "## Scenarios", ""]
    for sid, scenario in SCENARIOS.items():
        out.append(f"- **{sid}** {scenario.describe(n)}")
    out.append(f"- **{MEMORY}** tracemalloc peak of a session holding {n * 10:,} loaded entities")
    for rep in reports:
        out += ["", f"## {rep.label}", ""]
        out += rep.table(n)
        mem = rep.memory_table()
        if mem:
            out += ["", f"Memory ({MEMORY}):", "", *mem]
        notes = []
        for impl in ORDER:
            r = rep.results.get(impl)
            if r is None:
                continue
            if r["status"] != "ok":
                notes.append(f"{impl}: {r['status']} — {r.get('reason', '')}")
            notes += [f"{impl}: {note}" for note in r.get("notes", [])]
        if notes:
            out += [""] + [f"- {note}" for note in notes]
    out += ["", "## Implementations", ""]
    described: dict[str, str] = {}
    for r in results:
        if r.get("description"):
            described.setdefault(r["impl"], r["description"])
    out += [f"- **{impl}**: {described[impl]}" for impl in ORDER if impl in described]
    out += [
        "",
        "Times cover the user's work only (see docs/bench.md). Ratios are paired by round: × "
        "floor is the median over the rounds of a run divided by the same round's run of the "
        "floor (the raw variant with the faster median); scaling is S7 / S7s, S1x10 / S1, "
        "S2x10 / S2, per round likewise; the peer comparisons too.",
        "",
    ]
    return "\n".join(out)
