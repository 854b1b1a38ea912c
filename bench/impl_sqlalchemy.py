"""SQLAlchemy 2.x ORM, twice: as its documentation shows first, and as it recommends for speed.

- ``sqlalchemy``: a declarative ``Mapped[...]`` class, ``Session(engine)``, ``add_all`` /
  ``delete`` / ``commit``, ``session.scalars(select(User)).all()`` to load; default settings
  (``expire_on_commit=True``, the "insertmanyvalues" batching with RETURNING). One deviation a
  careful user makes: S1 reads the ids after ``session.flush()`` and before ``commit()``, since
  reading them after the commit would reload each expired object with its own SELECT.
- ``sqlalchemy-fast``: what the ORM documentation offers for bulk work ("ORM-Enabled INSERT,
  UPDATE, and DELETE statements"): ``Session(engine, expire_on_commit=False)``; S1 and S6's
  inserts as one bulk ``insert(User).returning(User, sort_by_parameter_order=True)`` with a
  list of dicts (identity-mapped objects come back, ids in input order); S3/S4/S6's changes as
  bulk UPDATE by primary key (``session.execute(update(User), [dicts])``), removals as
  ``delete(User).where(User.id.in_(...))``; S7's ten changes through the unit of work (no bulk
  form is faster for ten); loads with ``yield_per`` (1,000 rows a batch). The bulk UPDATE does
  not touch the loaded objects: the values are computed from them, and they keep their old
  values in memory (the report notes it).

Both close their session after the timer, as every implementation ends its work outside it
(``Impl.teardown``). Drivers: sqlite3, psycopg 3 (``postgresql+psycopg``), PyMySQL
(``mysql+pymysql``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy
from sqlalchemy import JSON, URL, ForeignKey, String, create_engine, delete, insert, select, update
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

from bench.backends import DOC_TABLE, POST_TABLE, TABLE
from bench.interface import Impl, SourceRow, Timer, change, every, spread


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = TABLE

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(200))
    age: Mapped[int]
    created: Mapped[datetime]


class Post(Base):
    __tablename__ = POST_TABLE

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    author_id: Mapped[int] = mapped_column("author", ForeignKey(f"{TABLE}.id"))
    author: Mapped[User] = relationship()


class Doc(Base):
    __tablename__ = DOC_TABLE

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)


#: Keys per ``IN (...)`` of a bulk delete.
DELETE_CHUNK = 5000


class SQLAlchemyImpl(Impl):
    name = "sqlalchemy"
    description = "SQLAlchemy ORM Session, defaults: add_all / delete / commit, scalars(select)"

    engine: Any = None
    expire_on_commit = True

    def versions(self) -> dict[str, str]:
        return {"SQLAlchemy": sqlalchemy.__version__}

    def open(self) -> None:
        b = self.backend
        if b.kind == "sqlite":
            url = URL.create("sqlite", database=b.path)
        else:
            url = URL.create(
                "postgresql+psycopg" if b.kind == "postgresql" else "mysql+pymysql",
                username=b.user,
                password=b.password or None,
                host=b.host,
                port=b.port,
                database=b.database,
            )
        self.engine = create_engine(url)
        self.session: Session | None = None

    def close(self) -> None:
        self.teardown()
        if self.engine is not None:
            self.engine.dispose()
            self.engine = None

    def _session(self) -> Session:
        """A new session, kept for the checks and closed by ``teardown`` (after the timer)."""
        self.teardown()
        self.session = Session(self.engine, expire_on_commit=self.expire_on_commit)
        return self.session

    def teardown(self) -> None:
        if self.session is not None:
            self.session.close()
            self.session = None

    def tracked(self, objs: Sequence[Any]) -> bool | None:
        session = self.session
        if session is None:
            return False
        return all(o in session for o in objs)

    def _load(self, session: Session) -> Sequence[User]:
        return session.scalars(select(User)).all()

    def insert(self, rows: Sequence[SourceRow], t: Timer) -> list[int]:
        with t:
            session = self._session()
            users = [User(name=n, email=e, age=a, created=c) for n, e, a, c in rows]
            session.add_all(users)
            session.flush()
            ids = [u.id for u in users]
            session.commit()
        return ids

    def fetch(self, t: Timer) -> list[Any]:
        with t:
            session = self._session()
            users = list(self._load(session))
            session.get(User, users[-1].id)  # the identity map's first use
        return users

    def load_change(self, step: int, t: Timer) -> None:
        with t:
            session = self._session()
            for user in every(self._load(session), step):
                change(user)
            session.commit()

    def load_remove_all(self, t: Timer) -> None:
        with t:
            session = self._session()
            for user in self._load(session):
                session.delete(user)
            session.commit()

    def mixed(self, new_rows: Sequence[SourceRow], t: Timer) -> None:
        k = len(new_rows)
        with t:
            session = self._session()
            users = self._load(session)
            session.add_all([User(name=n, email=e, age=a, created=c) for n, e, a, c in new_rows])
            for user in every(users, 10, 0, k):
                change(user)
            for user in every(users, 10, 1, k):
                session.delete(user)
            session.commit()

    def commit_few(self, count: int, t: Timer) -> None:
        session = self._session()
        for user in spread(self._load(session), count):
            change(user)
        with t:
            session.commit()

    def fetch_posts(self, preload: bool, t: Timer) -> list[tuple[int, str, int]]:
        session = self._session()
        if preload:
            session.scalars(select(User)).all()
        with t:
            posts = session.scalars(select(Post)).all()
        return [(p.id, p.title, p.author_id) for p in posts]

    def remove_after(self, key: int, t: Timer) -> None:
        with t:
            session = self._session()
            for user in session.scalars(select(User).where(User.id > key)).all():
                session.delete(user)
            session.commit()

    def commit_docs(self, count: int, t: Timer) -> None:
        session = self._session()
        for doc in spread(session.scalars(select(Doc)).all(), count):
            doc.name += "*"
        with t:
            session.commit()

    def lookup(self, keys: Sequence[int], t: Timer) -> list[Any]:
        with t:
            session = self._session()
            get = session.get
            first = [get(User, key) for key in keys]
            again = [get(User, key) for key in keys]
        if any(a is not b for a, b in zip(first, again, strict=True)):
            raise AssertionError("a second get() gave another object")
        return first

    def hold(self) -> tuple[Any, list[Any]]:
        session = self._session()
        return session, list(self._load(session))

    def release(self, held: tuple[Any, list[Any]]) -> None:
        self.teardown()


def _changed(users: Sequence[User]) -> list[dict[str, Any]]:
    """Bulk UPDATE parameters for users edited as ``bench.interface.change`` edits one."""
    return [{"id": u.id, "name": u.name + "*", "age": u.age + 1} for u in users]


class SQLAlchemyFast(SQLAlchemyImpl):
    name = "sqlalchemy-fast"
    description = (
        "SQLAlchemy ORM as documented for speed: expire_on_commit=False, bulk INSERT ..."
        " RETURNING, bulk UPDATE by primary key, delete().where(in_), yield_per loads"
    )
    expire_on_commit = False

    def open(self) -> None:
        super().open()
        self.notes.append(
            "bulk UPDATE by primary key leaves the loaded objects with their"
            " old values (S3, S4, S6)"
        )

    def _load(self, session: Session) -> Sequence[User]:
        return session.scalars(select(User).execution_options(yield_per=1000)).all()

    def _insert(self, session: Session, rows: Sequence[SourceRow]) -> list[User]:
        stmt = insert(User).returning(User, sort_by_parameter_order=True)
        params = [{"name": n, "email": e, "age": a, "created": c} for n, e, a, c in rows]
        return list(session.scalars(stmt, params).all())

    def _delete(self, session: Session, users: Sequence[User]) -> None:
        ids = [u.id for u in users]
        for i in range(0, len(ids), DELETE_CHUNK):
            stmt = delete(User).where(User.id.in_(ids[i : i + DELETE_CHUNK]))
            session.execute(stmt.execution_options(synchronize_session=False))

    def insert(self, rows: Sequence[SourceRow], t: Timer) -> list[int]:
        with t:
            session = self._session()
            users = self._insert(session, rows)
            session.commit()
            ids = [u.id for u in users]
        return ids

    def load_change(self, step: int, t: Timer) -> None:
        with t:
            session = self._session()
            params = _changed(every(self._load(session), step))
            session.execute(update(User), params)
            session.commit()

    def load_remove_all(self, t: Timer) -> None:
        with t:
            session = self._session()
            self._delete(session, self._load(session))
            session.commit()

    def remove_after(self, key: int, t: Timer) -> None:
        with t:
            session = self._session()
            self._delete(session, session.scalars(select(User).where(User.id > key)).all())
            session.commit()

    def mixed(self, new_rows: Sequence[SourceRow], t: Timer) -> None:
        k = len(new_rows)
        with t:
            session = self._session()
            users = self._load(session)
            self._insert(session, new_rows)
            session.execute(update(User), _changed(every(users, 10, 0, k)))
            self._delete(session, every(users, 10, 1, k))
            session.commit()
