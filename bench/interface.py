"""The small interface every implementation fills in, the timer, and shared helpers.

An implementation (``bench/impl_*.py``) is one class derived from :class:`Impl`. The worker
creates it with a :class:`~bench.backends.Backend`, calls :meth:`Impl.open` once (the table
exists then, created by the harness with the canonical DDL), runs scenario methods, and calls
:meth:`Impl.close` at the end. Before every scenario call the worker has dropped, re-created and
seeded the table through its own connection, so a method always starts from a known state.

Each scenario method receives a :class:`Timer` and wraps exactly the work a user of that library
does in ``with t:`` — for an ORM: creating the objects, adding them, committing; for a fetch: the
query that returns entity objects. Set-up that is not part of the measured work (such as loading
100k rows before S7's commit) stays outside. Every method must leave no transaction open when it
returns (the worker drops the table next).

What the methods do to the data is fixed here, so that every implementation does the same work:
:func:`change` is the edit made to a changed entity, :func:`every` picks the entities to change or
remove. A session a method opens inside the timer may stay open for the checks
(:meth:`Impl.tracked`); :meth:`Impl.teardown` ends it after them, outside the timer, for every
library alike.
"""

from __future__ import annotations

import abc
import contextlib
import gc
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, ClassVar, TypeVar

from bench.backends import Backend

#: One row of source data: (name, email, age, created). The id comes from the database.
SourceRow = tuple[str, str, int, datetime]

T = TypeVar("T")


class Timer:
    """Accumulates the wall time (``perf_counter``) and this process's CPU time
    (``process_time``: a database server's own work is not in it) spent inside
    ``with timer:`` blocks."""

    def __init__(self) -> None:
        self.elapsed = 0.0
        self.cpu = 0.0
        self.entered = 0
        self._start = 0.0
        self._cpu_start = 0.0

    def __enter__(self) -> Timer:
        self.entered += 1
        self._cpu_start = time.process_time()
        self._start = time.perf_counter()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.elapsed += time.perf_counter() - self._start
        self.cpu += time.process_time() - self._cpu_start


@contextlib.contextmanager
def gc_paused(rows: int | None = None) -> Iterator[None]:
    """The cyclic garbage collector paused by the rule ormcli follows inside its loads and
    commits (``core.codec.collector_paused``, ``Session.commit``): for a load whatever its
    size (``rows`` None), for a write of at least 1,000 rows. The raw floors use it, so that
    the floor and ormcli live by one rule; the peers run as their libraries do (none pauses
    the collector)."""
    if (rows is not None and rows < 1_000) or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def change(obj: Any) -> None:
    """The edit every scenario makes to a changed entity: two columns, ``name`` and ``age``."""
    obj.name = obj.name + "*"
    obj.age = obj.age + 1


def every(items: Sequence[T], step: int, offset: int = 0, limit: int | None = None) -> list[T]:
    """Every ``step``-th item from ``offset``, at most ``limit`` of them (spread over the list)."""
    picked = list(items[offset::step])
    return picked if limit is None else picked[:limit]


def spread(items: Sequence[T], count: int) -> list[T]:
    """``count`` items spread evenly over ``items`` (S7's "change 10 of 100k")."""
    step = max(1, len(items) // max(1, count))
    return every(items, step, 0, count)


class NotApplicable(Exception):
    """Raised by ``Impl.open`` for a variant that has nothing of its own on this backend
    (e.g. ``raw-binary`` off PostgreSQL): the harness leaves it out of that table."""


class Impl(abc.ABC):
    """One implementation of the scenarios (see the module docstring for the contract)."""

    #: Name used by ``--impls`` and in the tables.
    name: ClassVar[str]
    #: One line for the report's legend: which API of the library the scenarios use.
    description: ClassVar[str]

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        #: Remarks worth a footnote in the report (e.g. "ids not returned on MySQL").
        self.notes: list[str] = []

    @abc.abstractmethod
    def versions(self) -> dict[str, str]:
        """Library and driver versions, for the report header."""

    @abc.abstractmethod
    def open(self) -> None:
        """Connect and map the entity onto the existing table ``bench_user``."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections."""

    @abc.abstractmethod
    def insert(self, rows: Sequence[SourceRow], t: Timer) -> list[int] | None:
        """S1: create one entity per row, add them all, commit; return the ids read back
        (``None`` only where the library cannot return them; say so in :attr:`notes`)."""

    @abc.abstractmethod
    def fetch(self, t: Timer) -> list[Any]:
        """S2: fetch every row as entity objects through a session, then get the last one by
        key from the session's identity map (a library that builds its map lazily pays for
        it here; raw and peewee have none); return them."""

    @abc.abstractmethod
    def load_change(self, step: int, t: Timer) -> None:
        """S3/S4: load all, :func:`change` ``every(objs, step)``, commit."""

    @abc.abstractmethod
    def load_remove_all(self, t: Timer) -> None:
        """S5: load all, remove every one, commit."""

    @abc.abstractmethod
    def mixed(self, new_rows: Sequence[SourceRow], t: Timer) -> None:
        """S6: load all; in one commit add ``len(new_rows)`` new entities, change
        ``every(objs, 10, 0, k)`` and remove ``every(objs, 10, 1, k)`` (k = ``len(new_rows)``)."""

    @abc.abstractmethod
    def commit_few(self, count: int, t: Timer) -> None:
        """S7: load all (not timed), :func:`change` ``spread(objs, count)``; time the commit."""

    def lookup(self, keys: Sequence[int], t: Timer) -> list[Any]:
        """S12: get each key by primary key, one at a time, then each again (now from the
        session's identity map, or whatever a user of the library keeps); return the objects
        of the first pass (rows for raw) in key order."""
        raise NotImplementedError

    def fetch_posts(self, preload: bool, t: Timer) -> list[tuple[int, str, int]]:
        """S2r: fetch every post (``bench_post``: id, title, a reference to its author in
        ``bench_user``) as entity objects through a session; with ``preload`` the authors are
        loaded into that session first, outside the timer. Return ``(id, title, author id)``
        per post, read after the timer without loading anything."""
        raise NotImplementedError

    def remove_after(self, key: int, t: Timer) -> None:
        """S5p: load the users whose id is above ``key`` (none of them has a post; the users
        up to ``key`` have many), remove them, commit."""
        raise NotImplementedError

    def commit_docs(self, count: int, t: Timer) -> None:
        """S7j: load every document (``bench_doc``: id, name, a JSON ``data``), not timed;
        append ``"*"`` to the name of ``spread(docs, count)``; time the commit."""
        raise NotImplementedError

    @abc.abstractmethod
    def hold(self) -> tuple[Any, list[Any]]:
        """M: load all rows into a session; return ``(session or None, entities)``."""

    def release(self, held: tuple[Any, list[Any]]) -> None:  # noqa: B027  optional hook
        """End what :meth:`hold` returned (default: nothing to end)."""

    def tracked(self, objs: Sequence[Any]) -> bool | None:
        """Whether every object a fetch returned is identity-mapped and change-tracked by the
        session that loaded it (None: the library has no such session, e.g. raw, peewee)."""
        return None

    def teardown(self) -> None:  # noqa: B027  optional hook
        """End the session a scenario left open for the checks; called after the timer and
        the checks, for every implementation alike (default: nothing to end)."""
