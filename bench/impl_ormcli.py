"""ormcli (package ``core``), written against ``docs/api.md`` as a user would.

``Database(url, [User])``, one ``db.create_session()`` per unit of work, ``session.add`` /
``session.remove`` / ``session.commit()``, ``session.query(User).find()`` to load; change
detection finds the edited objects itself. The harness creates the table with the canonical DDL
(``bench.backends.DDL``); :meth:`OrmcliImpl.open` asks ``db.migration_plan()`` whether ormcli
would change it and, if so, notes the statements in the report instead of applying them, so that
every implementation is measured on the same columns.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Annotated, Any

import core
from bench.backends import TABLE
from bench.interface import Impl, SourceRow, Timer, change, every, spread
from core import AutoIncrement, Database, MaxLength, PrimaryKey, entity


@entity.name(TABLE)
class User:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    name: Annotated[str, MaxLength(100)]
    email: Annotated[str, MaxLength(200)]
    age: int
    created: datetime


class OrmcliImpl(Impl):
    name = "ormcli"
    description = "ormcli Session: add / remove / commit, session.query(User).find()"

    db: Any = None

    def versions(self) -> dict[str, str]:
        """The package version plus the commit of the tree measured (``+dirty`` when ``core/``
        has uncommitted edits: the worker imports the working tree as it is)."""
        try:
            found = version("ormcli")
        except PackageNotFoundError:
            found = "source tree"
        root = Path(core.__file__).resolve().parent.parent
        git = ["git", "-C", str(root)]
        try:
            head = subprocess.run(
                [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
            ).stdout.strip()
            dirty = subprocess.run(
                [*git, "status", "--porcelain", "--", "core"], capture_output=True, text=True
            ).stdout.strip()
            found += f" (core at {head}{'+dirty' if dirty else ''})"
        except (OSError, subprocess.CalledProcessError):
            pass
        return {"ormcli": found}

    def open(self) -> None:
        self.db = Database(self.backend.url, [User])
        plan = self.db.migration_plan()
        if not plan.empty:
            self.notes.append(
                "migrate would change the canonical table: "
                + "; ".join([*plan.statements, *plan.refused])
            )

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None

    def insert(self, rows: Sequence[SourceRow], t: Timer) -> list[int]:
        with t:
            session = self.db.create_session()
            users = [User(name=n, email=e, age=a, created=c) for n, e, a, c in rows]
            session.add(*users)
            session.commit()
            ids = [u.id for u in users]
        return ids

    def fetch(self, t: Timer) -> list[Any]:
        with t:
            users: list[Any] = self.db.create_session().query(User).find()
        return users

    def load_change(self, step: int, t: Timer) -> None:
        with t:
            session = self.db.create_session()
            for user in every(session.query(User).find(), step):
                change(user)
            session.commit()

    def load_remove_all(self, t: Timer) -> None:
        with t:
            session = self.db.create_session()
            session.remove(*session.query(User).find())
            session.commit()

    def mixed(self, new_rows: Sequence[SourceRow], t: Timer) -> None:
        k = len(new_rows)
        with t:
            session = self.db.create_session()
            users = session.query(User).find()
            session.add(*[User(name=n, email=e, age=a, created=c) for n, e, a, c in new_rows])
            for user in every(users, 10, 0, k):
                change(user)
            session.remove(*every(users, 10, 1, k))
            session.commit()

    def commit_few(self, count: int, t: Timer) -> None:
        session = self.db.create_session()
        for user in spread(session.query(User).find(), count):
            change(user)
        with t:
            session.commit()

    def hold(self) -> tuple[Any, list[Any]]:
        session = self.db.create_session()
        return session, session.query(User).find()
