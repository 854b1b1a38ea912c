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
:func:`Scenario.check` then reads the whole table back through the worker's own connection and
compares every field of every row with what the work must have left (S1: each row under the id
read back for it; S2: every object, field by field; changes: each row as seeded or edited,
exactly as many edited or gone as asked), and where ``tracks`` is set the implementation says
whether its objects are identity-mapped and tracked (``Impl.tracked``). A failed check fails
the run, so a library cannot win by doing less. Adding a scenario: one ``Scenario`` in
``SCENARIOS`` (and the ``Impl`` method it calls, with a default that raises ``NotImplementedError``
for libraries that do not have it yet). Leaves out: timing and process handling (``worker``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bench.backends import ALL_COLUMNS, DOC_TABLE, POST_TABLE, Admin
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


def _edited(row: tuple[str, str, int, datetime]) -> tuple[str, str, int, datetime]:
    """A row as ``bench.interface.change`` leaves it."""
    name, email, age, created = row
    return name + "*", email, age + 1, created


def _seeded(n: int) -> dict[int, tuple[str, str, int, datetime]]:
    """The table as seeded: ids 1..n."""
    return dict(enumerate(make_rows(n), start=1))


def _check_rows(admin: Admin, n: int, changed: int, removed: int = 0) -> dict[int, Any]:
    """Every seeded row still there is as seeded or edited once (both columns); exactly
    ``changed`` are edited and ``removed`` are gone. Returns the rows with ids above ``n``."""
    stored = admin.rows()
    seeded = _seeded(n)
    edits = gone = 0
    for key, row in seeded.items():
        found = stored.get(key)
        if found is None:
            gone += 1
        elif found != row:
            _expect(found, _edited(row), f"row {key}")
            edits += 1
    _expect(edits, changed, "changed rows")
    _expect(gone, removed, "removed rows")
    return {key: row for key, row in stored.items() if key > n}


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
    #: The objects returned must be identity-mapped and tracked (``Impl.tracked``).
    tracks: bool = False
    #: Rows of the other tables for base ``n`` (``bench.backends.EXTRA_DDL``), by table.
    extra: Callable[[int], dict[str, list[tuple[Any, ...]]]] | None = None

    def describe(self, n: int) -> str:
        return self.title.format(n=_k(n), n10=_k(n * 10), k=_k(max(1, n // 10)), p=_k(_parents(n)))


def _k(n: int) -> str:
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)


# -- runs and checks ---------------------------------------------------------------------------


def _insert(factor: int) -> Callable[[Impl, Timer, int], Any]:
    def run(impl: Impl, t: Timer, n: int) -> Any:
        return impl.insert(make_rows(n * factor), t)

    return run


def _check_insert(factor: int) -> Callable[[Admin, Any, int], None]:
    """The table holds exactly the rows given, each under the id read back for it."""

    def check(admin: Admin, ids: Any, n: int) -> None:
        rows = make_rows(n * factor)
        if ids is None:
            raise AssertionError("no ids read back")
        _expect(len(ids), len(rows), "ids read back")
        stored = admin.rows()
        _expect(len(stored), len(rows), "rows in the table")
        for key, row in zip(ids, rows, strict=True):
            if stored.get(key) != row:
                raise AssertionError(
                    f"id {key!r} read back for {row!r}; the table has {stored.get(key)!r}"
                )

    return check


def _check_fetch(factor: int) -> Callable[[Admin, Any, int], None]:
    """One object per row, every field as stored."""

    def check(admin: Admin, objs: Any, n: int) -> None:
        seeded = _seeded(n * factor)
        _expect(len(objs), len(seeded), "entities fetched")
        seen = set()
        for obj in objs:
            if isinstance(obj, tuple):  # raw rows: (id, name, email, age, created)
                key, *values = obj
            else:
                key, *values = (getattr(obj, c) for c in ALL_COLUMNS)
            _expect(tuple(values), seeded.get(key), f"entity {key!r}")
            seen.add(key)
        _expect(len(seen), len(seeded), "distinct ids fetched")
        _expect(admin.count(), len(seeded), "rows in the table")

    return check


def _check_change(step: int) -> Callable[[Admin, Any, int], None]:
    def check(admin: Admin, _: Any, n: int) -> None:
        _check_rows(admin, n, changed=len(range(0, n, step)))

    return check


def _check_removed_all(admin: Admin, _: Any, n: int) -> None:
    _expect(admin.count(), 0, "rows left")


def _check_mixed(admin: Admin, _: Any, n: int) -> None:
    k = max(1, n // 10)
    added = _check_rows(admin, n, changed=k, removed=k)
    _expect(sorted(added.values()), sorted(make_rows(k, start=n)), "new rows")


def _check_few(seed: Callable[[int], int]) -> Callable[[Admin, Any, int], None]:
    def check(admin: Admin, _: Any, n: int) -> None:
        _check_rows(admin, seed(n), changed=10)

    return check


def lookup_keys(n: int) -> list[int]:
    """S12's keys: 1,000 (at most) spread over ids 1..n."""
    return list(range(1, n + 1, max(1, n // 1000)))[:1000]


def _check_lookup(admin: Admin, objs: Any, n: int) -> None:
    """One object per key, every field as stored."""
    seeded = _seeded(n)
    keys = lookup_keys(n)
    _expect(len(objs), len(keys), "objects looked up")
    for key, obj in zip(keys, objs, strict=True):
        found = (
            tuple(obj) if isinstance(obj, tuple) else tuple(getattr(obj, c) for c in ALL_COLUMNS)
        )
        _expect(found, (key, *seeded[key]), f"object for key {key}")


def _authors(n: int) -> int:
    """S2r: authors for ``n`` posts."""
    return max(1, n // 10)


def make_posts(n: int) -> list[tuple[str, int]]:
    """S2r's posts ``(title, author id)``: post ``i`` by author ``1 + i % authors``."""
    authors = _authors(n)
    return [(f"post {i}", 1 + i % authors) for i in range(n)]


def make_docs(count: int) -> list[tuple[str, str]]:
    """S7j's documents ``(name, data as JSON text)``."""
    return [
        (f"doc {i}", json.dumps({"i": i, "tags": ["a", str(i % 7)], "meta": {"k": i % 11}}))
        for i in range(count)
    ]


def _parents(n: int) -> int:
    """S5p: users with posts, and as many without (ids above)."""
    return max(1, n // 20)


def make_parent_posts(count: int, parents: int) -> list[tuple[str, int]]:
    """``count`` posts spread over the users ``1..parents``."""
    return [(f"post {i}", 1 + i % parents) for i in range(count)]


def _check_childless_removed(posts: Callable[[int], int]) -> Callable[[Admin, Any, int], None]:
    def check(admin: Admin, _: Any, n: int) -> None:
        k = _parents(n)
        _check_rows(admin, 2 * k, changed=0, removed=k)
        _expect(admin.count(f"id <= {k}"), k, "users with posts left")
        _expect(admin.count(table=POST_TABLE), posts(n), "posts left")

    return check


def _check_posts(admin: Admin, found: Any, n: int) -> None:
    """One ``(id, title, author id)`` per post, as stored."""
    expected = [(i, title, author) for i, (title, author) in enumerate(make_posts(n), start=1)]
    _expect(sorted(found), expected, "posts fetched (id, title, author id)")


def _check_docs(admin: Admin, _: Any, n: int) -> None:
    """Exactly 10 documents renamed, each as it should be; the rest as seeded."""
    total = _s7(n)
    _expect(admin.count(table=DOC_TABLE), total, "documents")
    renamed = admin.select(f"SELECT id, name FROM {DOC_TABLE} WHERE name LIKE '%*'")
    _expect(sorted(renamed), sorted((i, f"doc {i - 1}*") for i, _ in renamed), "renamed")
    _expect(len(renamed), 10, "renamed documents")


def _s7(n: int) -> int:
    return n * 10


def _s7s(n: int) -> int:
    return max(10, n // 10)


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
            "fetch {n} through a session, get one by key",
            seed=lambda n: n,
            run=lambda impl, t, n: impl.fetch(t),
            check=_check_fetch(1),
            tracks=True,
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
            check=_check_removed_all,
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
            seed=_s7,
            run=lambda impl, t, n: impl.commit_few(10, t),
            check=_check_few(_s7),
            base="S7s",
        ),
        Scenario(
            "S7s",
            "{k} loaded, change 10: commit",
            seed=_s7s,
            run=lambda impl, t, n: impl.commit_few(10, t),
            check=_check_few(_s7s),
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
            "fetch {n10} through a session, get one by key",
            seed=lambda n: n * 10,
            run=lambda impl, t, n: impl.fetch(t),
            check=_check_fetch(10),
            base="S2",
            tracks=True,
        ),
        Scenario(
            "S2r",
            "fetch {n} posts, each with a reference (authors not loaded)",
            seed=_authors,
            run=lambda impl, t, n: impl.fetch_posts(False, t),
            check=_check_posts,
            extra=lambda n: {POST_TABLE: make_posts(n)},
        ),
        Scenario(
            "S2rl",
            "fetch {n} posts, each with a reference (authors loaded first)",
            seed=_authors,
            run=lambda impl, t, n: impl.fetch_posts(True, t),
            check=_check_posts,
            extra=lambda n: {POST_TABLE: make_posts(n)},
        ),
        Scenario(
            "S5ps",
            "{p} users without posts removed, {k} posts (of {p} others)",
            seed=lambda n: 2 * _parents(n),
            run=lambda impl, t, n: impl.remove_after(_parents(n), t),
            check=_check_childless_removed(_s7s),
            extra=lambda n: {POST_TABLE: make_parent_posts(_s7s(n), _parents(n))},
        ),
        Scenario(
            "S5p",
            "{p} users without posts removed, {n10} posts (of {p} others)",
            seed=lambda n: 2 * _parents(n),
            run=lambda impl, t, n: impl.remove_after(_parents(n), t),
            check=_check_childless_removed(_s7),
            base="S5ps",
            extra=lambda n: {POST_TABLE: make_parent_posts(_s7(n), _parents(n))},
        ),
        Scenario(
            "S7j",
            "{n10} with a JSON field loaded, change 10: commit",
            seed=lambda n: 0,
            run=lambda impl, t, n: impl.commit_docs(10, t),
            check=_check_docs,
            base="S7s",
            extra=lambda n: {DOC_TABLE: make_docs(_s7(n))},
        ),
        Scenario(
            "S12",
            "get 1,000 of {n} by key, then each again (identity-mapped)",
            seed=lambda n: n,
            run=lambda impl, t, n: impl.lookup(lookup_keys(n), t),
            check=_check_lookup,
        ),
    )
}

#: The memory measurement (run in its own process, see ``worker``).
MEMORY = "M"
#: Start-up time of the command app and of ``import core`` (``bench.startup``; no backend).
STARTUP = "T"
ALL_IDS = (*SCENARIOS, MEMORY, STARTUP)


def expand(selection: str) -> list[str]:
    """``--scenarios`` text to ids in canonical order; ``S7`` and ``S7j`` bring ``S7s``,
    ``S5p`` brings ``S5ps``."""
    wanted = {s.strip() for s in selection.split(",") if s.strip()} if selection else set(ALL_IDS)
    unknown = wanted - set(ALL_IDS)
    if unknown:
        raise ValueError(f"unknown scenario(s) {sorted(unknown)}; known: {', '.join(ALL_IDS)}")
    for sid in list(wanted):  # a scaling scenario brings its yardstick (S7, S7j: S7s)
        base = SCENARIOS[sid].base if sid in SCENARIOS else ""
        if base in ("S7s", "S5ps"):
            wanted.add(base)
    return [s for s in ALL_IDS if s in wanted]
