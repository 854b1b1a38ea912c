"""The scenarios: what S1..S7 and M do, on how many rows, and what the table must hold after.

Given the base row count ``n`` (``--rows``, 10,000 by default):

======  ==========  ===============================================================
id      table has   the timed work
======  ==========  ===============================================================
S1      empty       create ``n`` entities, add, commit, ids read back
S2      ``n`` rows  fetch all as entity objects through a session
S3      ``n`` rows  load all, change 10% (name and age), commit
S4      ``n`` rows  load all, change all, commit
S5      ``n`` rows  load all, remove all, commit
S6      ``n`` rows  load all; add ``n/10``, change ``n/10``, remove ``n/10``; one commit
S7      ``10n``     load all (not timed), change 10; the commit alone is timed
S7s     ``n/10``    the same commit with ``n/10`` loaded (S7's yardstick: ratio S7 / S7s)
S1x10   empty       S1 with ``10n`` entities (growth: S1x10 / S1)
S2x10   ``10n``     S2 with ``10n`` rows (growth: S2x10 / S2)
M       ``10n``     tracemalloc peak and retained bytes of a session holding every row
======  ==========  ===============================================================

Every run of a scenario starts on a fresh table (dropped, re-created, seeded with ids 1..rows);
:func:`Scenario.check` then asserts through the worker's own connection that the work was done,
so a library cannot win by doing less. Leaves out: timing and process handling (``worker``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bench.backends import ALL_COLUMNS, Admin
from bench.interface import Impl, SourceRow, Timer

_EPOCH = datetime(2024, 1, 1, 8, 0, 0)


def make_rows(count: int, start: int = 0) -> list[SourceRow]:
    """Deterministic source rows ``start .. start+count-1`` (microseconds never zero, so every
    backend stores the same text form)."""
    return [
        (
            f"user {i}",
            f"user{i}@example.com",
            18 + i % 60,
            _EPOCH + timedelta(seconds=i, microseconds=1 + i % 999_999),
        )
        for i in range(start, start + count)
    ]


def _expect(actual: Any, expected: Any, what: str) -> None:
    if actual != expected:
        raise AssertionError(f"{what}: expected {expected!r}, found {actual!r}")


def _changed(admin: Admin) -> int:
    return admin.count("name LIKE '%*'")


@dataclass(frozen=True)
class Scenario:
    """One scenario: rows to seed for base ``n``, the call on the implementation, the check."""

    id: str
    title: str
    seed: Callable[[int], int]
    run: Callable[[Impl, Timer, int], Any]
    check: Callable[[Admin, Any, int], None]
    #: For ``S7`` / ``S1x10`` / ``S2x10``: the scenario whose time this one is compared with.
    base: str = ""

    def describe(self, n: int) -> str:
        return self.title.format(n=_k(n), n10=_k(n * 10), k=_k(max(1, n // 10)))


def _k(n: int) -> str:
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)


# -- runs -------------------------------------------------------------------------------------


def _insert(factor: int) -> Callable[[Impl, Timer, int], Any]:
    def run(impl: Impl, t: Timer, n: int) -> Any:
        return impl.insert(make_rows(n * factor), t)

    return run


def _check_insert(factor: int) -> Callable[[Admin, Any, int], None]:
    def check(admin: Admin, ids: Any, n: int) -> None:
        total = n * factor
        _expect(admin.count(), total, "rows in the table")
        if ids is None:  # the implementation cannot read ids back (reported in its notes)
            return
        _expect(len(ids), total, "ids read back")
        _expect(len({i for i in ids if isinstance(i, int) and i > 0}), total, "distinct ids")

    return check


def _check_fetch(factor: int) -> Callable[[Admin, Any, int], None]:
    def check(admin: Admin, objs: Any, n: int) -> None:
        _expect(len(objs), n * factor, "entities fetched")
        sample = objs[len(objs) // 2]
        if isinstance(sample, tuple):  # raw rows: (id, name, email, age, created)
            sample = dict(zip(ALL_COLUMNS, sample, strict=True))
        else:
            sample = {c: getattr(sample, c) for c in ALL_COLUMNS}
        _expect(isinstance(sample["created"], datetime), True, "created is a datetime")
        _expect(sample["email"].endswith("@example.com"), True, "email loaded")

    return check


def _check_change(step: int) -> Callable[[Admin, Any, int], None]:
    def check(admin: Admin, _: Any, n: int) -> None:
        _expect(_changed(admin), len(range(0, n, step)), "changed rows")

    return check


def _check_mixed(admin: Admin, _: Any, n: int) -> None:
    k = max(1, n // 10)
    _expect(admin.count(), n, "rows after +k -k")
    _expect(admin.count(f"id > {n}"), k, "new rows")
    _expect(_changed(admin), k, "changed rows")


def _check_few(admin: Admin, _: Any, n: int) -> None:
    _expect(_changed(admin), 10, "changed rows")


SCENARIOS: dict[str, Scenario] = {
    s.id: s
    for s in (
        Scenario(
            "S1",
            "insert {n} new + commit, ids read back",
            seed=lambda n: 0,
            run=_insert(1),
            check=_check_insert(1),
        ),
        Scenario(
            "S2",
            "fetch {n} through a session",
            seed=lambda n: n,
            run=lambda impl, t, n: impl.fetch(t),
            check=_check_fetch(1),
        ),
        Scenario(
            "S3",
            "load {n}, change 10%, commit",
            seed=lambda n: n,
            run=lambda impl, t, n: impl.load_change(10, t),
            check=_check_change(10),
        ),
        Scenario(
            "S4",
            "load {n}, change all, commit",
            seed=lambda n: n,
            run=lambda impl, t, n: impl.load_change(1, t),
            check=_check_change(1),
        ),
        Scenario(
            "S5",
            "load {n}, remove all, commit",
            seed=lambda n: n,
            run=lambda impl, t, n: impl.load_remove_all(t),
            check=lambda admin, _, n: _expect(admin.count(), 0, "rows left"),
        ),
        Scenario(
            "S6",
            "load {n}; +{k} ~{k} -{k} in one commit",
            seed=lambda n: n,
            run=lambda impl, t, n: impl.mixed(make_rows(max(1, n // 10), start=n), t),
            check=_check_mixed,
        ),
        Scenario(
            "S7",
            "{n10} loaded, change 10: commit",
            seed=lambda n: n * 10,
            run=lambda impl, t, n: impl.commit_few(10, t),
            check=_check_few,
            base="S7s",
        ),
        Scenario(
            "S7s",
            "{k} loaded, change 10: commit",
            seed=lambda n: max(10, n // 10),
            run=lambda impl, t, n: impl.commit_few(10, t),
            check=_check_few,
        ),
        Scenario(
            "S1x10",
            "insert {n10} new + commit, ids read back",
            seed=lambda n: 0,
            run=_insert(10),
            check=_check_insert(10),
            base="S1",
        ),
        Scenario(
            "S2x10",
            "fetch {n10} through a session",
            seed=lambda n: n * 10,
            run=lambda impl, t, n: impl.fetch(t),
            check=_check_fetch(10),
            base="S2",
        ),
    )
}

#: The memory measurement (run in its own process, see ``worker``).
MEMORY = "M"
ALL_IDS = (*SCENARIOS, MEMORY)


def expand(selection: str) -> list[str]:
    """``--scenarios`` text to ids in canonical order; ``S7`` brings ``S7s`` along."""
    wanted = {s.strip() for s in selection.split(",") if s.strip()} if selection else set(ALL_IDS)
    unknown = wanted - set(ALL_IDS)
    if unknown:
        raise ValueError(f"unknown scenario(s) {sorted(unknown)}; known: {', '.join(ALL_IDS)}")
    if "S7" in wanted:
        wanted.add("S7s")
    return [s for s in ALL_IDS if s in wanted]
