"""ormcli (package ``core``), written against ``docs/api.md`` as a user would.

``Database(url, [User])``, one ``db.create_session()`` per unit of work, ``session.add`` /
``session.remove`` / ``session.commit()``, ``session.query(User).find()`` to load; change
detection finds the edited objects itself. The harness creates the table with the canonical DDL
(``bench.backends.DDL``); :meth:`OrmcliImpl.open` asks ``db.migration_plan()`` whether ormcli
would change it and, if so, notes the statements in the report instead of applying them, so that
every implementation is measured on the same columns.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Sequence
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Annotated, Any

import core
from bench.backends import DOC_TABLE, POST_TABLE, TABLE
from bench.interface import Impl, SourceRow, Timer, change, every, spread
from core import AutoIncrement, Database, F, MaxLength, PrimaryKey, Reference, entity


@entity.name(TABLE)
class User:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    name: Annotated[str, MaxLength(100)]
    email: Annotated[str, MaxLength(200)]
    age: int
    created: datetime


@entity.name(POST_TABLE)
class Post:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    title: Annotated[str, MaxLength(200)]
    author: Annotated[User, Reference]


@entity.name(DOC_TABLE)
class Doc:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    name: Annotated[str, MaxLength(100)]
    data: dict[str, Any]


class OrmcliImpl(Impl):
    name = "ormcli"
    description = "ormcli Session: add / remove / commit, session.query(User).find()"

    db: Any = None
    session: Any = None

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
        self.db = Database(self.backend.url, [User, Post, Doc])
        plan = self.db.migration_plan()
        if not plan.empty:
            self.notes.append(
                "migrate would change the canonical table: "
                + "; ".join([*plan.statements, *plan.refused])
            )
        if self.backend.kind == "sqlite":
            self._check_reference_index()

    def _check_reference_index(self) -> None:
        """The harness indexes ``bench_post.author`` as ``migrate`` should by default: say so
        when ``migrate`` on an empty database would not (S5p would scan every post)."""
        with tempfile.TemporaryDirectory() as tmp:
            fresh = Database("sqlite:///" + os.path.join(tmp, "plan.db"), [User, Post, Doc])
            statements = fresh.migration_plan().statements
            fresh.close()
        if not any("INDEX" in sql.upper() and "author" in sql for sql in statements):
            self.notes.append(
                f"migrate makes no index on {POST_TABLE}.author: S5p runs on the harness's"
                " index; on a table made by migrate every removed user scans every post"
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
            self.session = self.db.create_session()
            users: list[Any] = self.session.query(User).find()
            self.session.get(User, users[-1].id)  # the identity map's first use
        return users

    def tracked(self, objs: Sequence[Any]) -> bool | None:
        session = self.session
        get = session.get
        return all(get(User, o.id) is o and session.state_of(o) == "persistent" for o in objs)

    def teardown(self) -> None:
        self.session = None

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

    def lookup(self, keys: Sequence[int], t: Timer) -> list[Any]:
        with t:
            session = self.db.create_session()
            get = session.get
            first = [get(User, key) for key in keys]
            again = [get(User, key) for key in keys]
        if any(a is not b for a, b in zip(first, again, strict=True)):
            raise AssertionError("a second get() gave another object")
        return first

    def fetch_posts(self, preload: bool, t: Timer) -> list[tuple[int, str, int]]:
        session = self.db.create_session()
        authors = {u.id: u for u in session.query(User).find()} if preload else {}
        with t:
            posts = session.query(Post).find()
        # The author's key without loading it: an unloaded reference keeps its key.
        found = [(p.id, p.title, _key(p.__dict__["author"])) for p in posts]
        # A preloaded author is the object a post's reference gives (from the identity map:
        # no query), read after the timer.
        if preload and any(
            p.author is not authors[k] for p, (_, _, k) in zip(posts, found, strict=True)
        ):
            raise AssertionError("a reference to a loaded author is not that object")
        return found

    def remove_after(self, key: int, t: Timer) -> None:
        with t:
            session = self.db.create_session()
            session.remove(*session.query(User).filter(F.id > key).find())
            session.commit()

    def commit_docs(self, count: int, t: Timer) -> None:
        session = self.db.create_session()
        for doc in spread(session.query(Doc).find(), count):
            doc.name += "*"
        with t:
            session.commit()

    def hold(self) -> tuple[Any, list[Any]]:
        session = self.db.create_session()
        return session, session.query(User).find()


def _key(ref: Any) -> Any:
    """The key of a reference as a post's ``__dict__`` holds it: the loaded object's id, or
    the bare key a session's load stores until the reference is first read."""
    return ref.id if isinstance(ref, User) else ref
