"""SQLAlchemy 2.x ORM, written as its documentation shows.

A declarative ``Mapped[...]`` class, ``Session(engine)`` as a context manager, ``add_all`` /
``delete`` / ``commit``, ``session.scalars(select(User)).all()`` to load. Defaults everywhere
(``expire_on_commit=True``, the default "insertmanyvalues" batching with RETURNING). One
deviation a careful user makes: S1 reads the ids after ``session.flush()`` and before
``commit()``, since reading them after the commit would reload each expired object with its own
SELECT. Drivers: sqlite3, psycopg 3 (``postgresql+psycopg``), PyMySQL (``mysql+pymysql``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy
from sqlalchemy import URL, String, create_engine, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from bench.backends import TABLE
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


class SQLAlchemyImpl(Impl):
    name = "sqlalchemy"
    description = "SQLAlchemy ORM Session: add_all / delete / commit, scalars(select(User))"

    engine: Any = None

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

    def close(self) -> None:
        if self.engine is not None:
            self.engine.dispose()
            self.engine = None

    def insert(self, rows: Sequence[SourceRow], t: Timer) -> list[int]:
        with t, Session(self.engine) as session:
            users = [User(name=n, email=e, age=a, created=c) for n, e, a, c in rows]
            session.add_all(users)
            session.flush()
            ids = [u.id for u in users]
            session.commit()
        return ids

    def fetch(self, t: Timer) -> list[Any]:
        with t, Session(self.engine) as session:
            users = list(session.scalars(select(User)).all())
        return users

    def load_change(self, step: int, t: Timer) -> None:
        with t, Session(self.engine) as session:
            users = session.scalars(select(User)).all()
            for user in every(users, step):
                change(user)
            session.commit()

    def load_remove_all(self, t: Timer) -> None:
        with t, Session(self.engine) as session:
            for user in session.scalars(select(User)).all():
                session.delete(user)
            session.commit()

    def mixed(self, new_rows: Sequence[SourceRow], t: Timer) -> None:
        k = len(new_rows)
        with t, Session(self.engine) as session:
            users = session.scalars(select(User)).all()
            session.add_all([User(name=n, email=e, age=a, created=c) for n, e, a, c in new_rows])
            for user in every(users, 10, 0, k):
                change(user)
            for user in every(users, 10, 1, k):
                session.delete(user)
            session.commit()

    def commit_few(self, count: int, t: Timer) -> None:
        with Session(self.engine) as session:
            users = session.scalars(select(User)).all()
            for user in spread(users, count):
                change(user)
            with t:
                session.commit()

    def hold(self) -> tuple[Any, list[Any]]:
        session = Session(self.engine)
        return session, list(session.scalars(select(User)).all())

    def release(self, held: tuple[Any, list[Any]]) -> None:
        held[0].close()
