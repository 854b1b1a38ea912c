"""Pony ORM: ``db_session``, entity constructors, ``obj.delete()``, ``User.select()[:]``.

Pony keeps global state: a ``Database`` binds to one provider once per process and its entities
are defined against it. The harness runs each implementation in its own process, so this module
binds on :meth:`PonyImpl.open` and never re-binds. The table exists when the mapping is generated
(``create_tables=False``). Pony writes one statement per changed object at commit (its SQL is
cached, not batched). On PostgreSQL Pony needs psycopg2 (``psycopg2-binary``); without it the
implementation is reported as skipped there.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import pony
from pony import orm

from bench.backends import TABLE
from bench.interface import Impl, SourceRow, Timer, change, every, spread

db = orm.Database()


class User(db.Entity):  # type: ignore[name-defined]  # Pony builds the base at run time
    _table_ = TABLE
    id = orm.PrimaryKey(int, auto=True)
    name = orm.Required(str, 100)
    email = orm.Required(str, 200)
    age = orm.Required(int)
    created = orm.Required(datetime, precision=6)


class PonyImpl(Impl):
    name = "pony"
    description = "Pony db_session: User(...), obj.delete(), User.select()[:], commit at exit"

    def versions(self) -> dict[str, str]:
        found = {"pony": pony.__version__}
        if self.backend.kind == "postgresql":
            with contextlib.suppress(PackageNotFoundError):
                found["psycopg2 (Pony)"] = version("psycopg2-binary")
        return found

    def open(self) -> None:
        if db.provider is not None:  # bound already (a re-open after a failed scenario)
            return
        b = self.backend
        if b.kind == "sqlite":
            db.bind(provider="sqlite", filename=b.path)
        elif b.kind == "postgresql":
            try:
                import psycopg2  # noqa: F401  # Pony's only PostgreSQL driver
            except ImportError as exc:
                raise ImportError("Pony on PostgreSQL needs psycopg2 (psycopg2-binary)") from exc
            db.bind(
                provider="postgres",
                host=b.host,
                port=b.port,
                user=b.user,
                password=b.password or None,
                database=b.database,
            )
        else:
            db.bind(
                provider="mysql",
                host=b.host,
                port=b.port,
                user=b.user,
                passwd=b.password,
                db=b.database,
            )
        db.generate_mapping(create_tables=False)

    def close(self) -> None:
        """Nothing to do: Pony's connection pool belongs to the process."""

    def insert(self, rows: Sequence[SourceRow], t: Timer) -> list[int]:
        with t, orm.db_session:
            users = [User(name=n, email=e, age=a, created=c) for n, e, a, c in rows]
            orm.commit()
            ids = [u.id for u in users]
        return ids

    def fetch(self, t: Timer) -> list[Any]:
        with t:
            self._open()
            users = list(User.select()[:])
            User[users[-1].id]  # the identity map's first use
        return users

    def _open(self) -> None:
        """A db_session left open for the checks; ``teardown`` ends it (after the timer)."""
        self.teardown()
        self.session = orm.db_session()
        self.session.__enter__()

    def teardown(self) -> None:
        session, self.session = getattr(self, "session", None), None
        if session is not None:
            session.__exit__(None, None, None)

    def tracked(self, objs: Sequence[Any]) -> bool | None:
        return all(User[o.id] is o for o in objs)

    def lookup(self, keys: Sequence[int], t: Timer) -> list[Any]:
        with t:
            self._open()
            first = [User[key] for key in keys]
            again = [User[key] for key in keys]
        if any(a is not b for a, b in zip(first, again, strict=True)):
            raise AssertionError("a second User[key] gave another object")
        return first

    def load_change(self, step: int, t: Timer) -> None:
        with t, orm.db_session:
            for user in every(User.select()[:], step):
                change(user)

    def load_remove_all(self, t: Timer) -> None:
        with t, orm.db_session:
            for user in User.select()[:]:
                user.delete()

    def mixed(self, new_rows: Sequence[SourceRow], t: Timer) -> None:
        k = len(new_rows)
        with t, orm.db_session:
            users = User.select()[:]
            for n, e, a, c in new_rows:
                User(name=n, email=e, age=a, created=c)
            for user in every(users, 10, 0, k):
                change(user)
            for user in every(users, 10, 1, k):
                user.delete()

    def commit_few(self, count: int, t: Timer) -> None:
        with orm.db_session:
            for user in spread(User.select()[:], count):
                change(user)
            with t:
                orm.commit()

    def hold(self) -> tuple[Any, list[Any]]:
        session = orm.db_session()
        session.__enter__()
        return session, list(User.select()[:])

    def release(self, held: tuple[Any, list[Any]]) -> None:
        held[0].__exit__(None, None, None)
