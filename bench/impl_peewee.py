"""peewee with its bulk API: ``bulk_create``, ``bulk_update``, ``delete().where(id.in_(...))``.

peewee has no session and no change tracking: the caller says which objects to write and which
fields. Everything runs inside ``db.atomic()`` (one transaction). Batch sizes: ``bulk_create``
1000 rows per INSERT (ids come back through RETURNING on SQLite >= 3.35 and PostgreSQL);
``bulk_update`` 100 rows per ``UPDATE ... SET c = CASE id WHEN ...`` (larger CASE batches get
slower, not faster); deletes 1000 ids per ``IN``. PostgreSQL through psycopg 3
(``prefer_psycopg3``), MySQL / MariaDB through PyMySQL, where ``bulk_create`` sets no ids: there
the same INSERTs go through ``insert_many``, whose result is each batch's first id (noted in the
report; the check matches every id to its row).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import peewee as pw

from bench.backends import POST_TABLE, TABLE
from bench.interface import Impl, SourceRow, Timer, change, every, spread

INSERT_BATCH = 1000
UPDATE_BATCH = 100
DELETE_BATCH = 1000

database_proxy = pw.DatabaseProxy()


class User(pw.Model):
    id = pw.AutoField()
    name = pw.CharField(max_length=100)
    email = pw.CharField(max_length=200)
    age = pw.IntegerField()
    created = pw.DateTimeField()

    class Meta:
        database = database_proxy
        table_name = TABLE


class Post(pw.Model):
    id = pw.AutoField()
    title = pw.CharField(max_length=200)
    author = pw.ForeignKeyField(User, column_name="author")

    class Meta:
        database = database_proxy
        table_name = POST_TABLE


class PeeweeImpl(Impl):
    name = "peewee"
    description = "peewee bulk API in db.atomic(): bulk_create / bulk_update / delete().where(in_)"

    db: Any = None

    def versions(self) -> dict[str, str]:
        return {"peewee": pw.__version__}

    def open(self) -> None:
        b = self.backend
        if b.kind == "sqlite":
            self.db = pw.SqliteDatabase(b.path, returning_clause=True)
        elif b.kind == "postgresql":
            self.db = pw.PostgresqlDatabase(
                b.database,
                host=b.host,
                port=b.port,
                user=b.user,
                password=b.password or None,
                prefer_psycopg3=True,
            )
        else:
            self.db = pw.MySQLDatabase(
                b.database, host=b.host, port=b.port, user=b.user, password=b.password
            )
            self.notes.append(
                "peewee on MySQL/MariaDB: bulk_create sets no ids; S1 and S6 insert with"
                " insert_many and take consecutive ids from each batch's first (checked)"
            )
        database_proxy.initialize(self.db)
        self.db.connect()

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None

    def _new(self, rows: Sequence[SourceRow]) -> list[User]:
        return [User(name=n, email=e, age=a, created=c) for n, e, a, c in rows]

    def _delete(self, users: Sequence[User]) -> None:
        ids = [u.id for u in users]
        for i in range(0, len(ids), DELETE_BATCH):
            User.delete().where(User.id.in_(ids[i : i + DELETE_BATCH])).execute()

    def _create(self, users: list[User]) -> None:
        """``bulk_create``; on MySQL / MariaDB, where it sets no ids, the same INSERTs through
        ``insert_many``, whose result is the batch's first id (consecutive ids after it, as
        InnoDB gives a multi-row INSERT; the check matches every id to its row)."""
        if self.backend.kind != "mysql":
            User.bulk_create(users, batch_size=INSERT_BATCH)
            return
        fields = [User.name, User.email, User.age, User.created]
        for i in range(0, len(users), INSERT_BATCH):
            batch = users[i : i + INSERT_BATCH]
            rows = [(u.name, u.email, u.age, u.created) for u in batch]
            first = User.insert_many(rows, fields=fields).execute()
            for offset, user in enumerate(batch):
                user.id = first + offset
                user._dirty.clear()

    def insert(self, rows: Sequence[SourceRow], t: Timer) -> list[int] | None:
        with t, self.db.atomic():
            users = self._new(rows)
            self._create(users)
        return [u.id for u in users]

    def fetch(self, t: Timer) -> list[Any]:
        with t:
            users = list(User.select())
        return users

    def load_change(self, step: int, t: Timer) -> None:
        with t, self.db.atomic():
            changed = every(list(User.select()), step)
            for user in changed:
                change(user)
            User.bulk_update(changed, fields=[User.name, User.age], batch_size=UPDATE_BATCH)

    def load_remove_all(self, t: Timer) -> None:
        with t, self.db.atomic():
            self._delete(list(User.select()))

    def mixed(self, new_rows: Sequence[SourceRow], t: Timer) -> None:
        k = len(new_rows)
        with t, self.db.atomic():
            users = list(User.select())
            self._create(self._new(new_rows))
            changed = every(users, 10, 0, k)
            for user in changed:
                change(user)
            User.bulk_update(changed, fields=[User.name, User.age], batch_size=UPDATE_BATCH)
            self._delete(every(users, 10, 1, k))

    def commit_few(self, count: int, t: Timer) -> None:
        changed = spread(list(User.select()), count)
        for user in changed:
            change(user)
        with t, self.db.atomic():
            User.bulk_update(changed, fields=[User.name, User.age], batch_size=UPDATE_BATCH)

    def remove_after(self, key: int, t: Timer) -> None:
        with t, self.db.atomic():
            self._delete(list(User.select().where(User.id > key)))

    def fetch_posts(self, preload: bool, t: Timer) -> list[tuple[int, str, int]]:
        # No session to preload into: peewee resolves a reference with a query of its own.
        with t:
            posts = list(Post.select())
        return [(p.id, p.title, p.author_id) for p in posts]

    def lookup(self, keys: Sequence[int], t: Timer) -> list[Any]:
        with t:  # no identity map: a user keeps what was fetched, as raw does
            kept = {key: User.get_by_id(key) for key in keys}
            again = [kept[key] for key in keys]
        return again

    def hold(self) -> tuple[Any, list[Any]]:
        return None, list(User.select())
