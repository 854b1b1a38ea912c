"""S8 and S9: the relation scenarios of issue 12, against the raw floor and four peers.

The data: 1,000 authors, 10,000 posts (post ``i`` by author ``(i - 1) % 1000 + 1``), 100 tags and
20,000 post-tag links (post ``i`` tagged ``(7i) % 100 + 1`` and ``(7i + 1) % 100 + 1``), in the
tables ``rel_author``, ``rel_post`` (indexed on ``author``), ``rel_tag`` and ``rel_post_tag``
(primary key ``(post, tag)``), made once per database by this module.

- **S8** — load the 1,000 authors with their 10,000 posts and each post's tags (20,000 links)
  through a session, every collection filled: raw DB-API (the floor) sends the same three
  queries by hand (authors; posts ``WHERE author IN (...)`` — ``= ANY(array)`` on PostgreSQL —
  ordered by id; tags joined to the links ``WHERE post IN (...)``) and groups the rows into
  dicts; ormcli ``session.query(Author).eager("posts.tags").find()``; SQLAlchemy
  ``selectinload(Author.posts).selectinload(Post.tags)``; peewee ``prefetch`` (authors, posts,
  links, tags); Django ``Author.objects.prefetch_related("posts__tags")``. Targets: ormcli
  <= 1.5x the floor and >= 3x faster than SQLAlchemy.
- **S9** — move 1,000 posts (every tenth) each to the next author through the collections and
  commit; the collections are loaded before the timer starts. Raw: one batched UPDATE of
  ``author`` by id (``unnest`` arrays on PostgreSQL, ``CASE`` in 500-row statements on MariaDB,
  ``UPDATE ... FROM (VALUES ...)`` in 500-row statements on SQLite: the fastest of the forms
  in ``FLOOR_FORMS``, which ``--floors`` times; the ``(author, post)`` key pairs made before
  the timer, as every peer's ``(author, post)`` object pairs are); ormcli and SQLAlchemy
  ``new_author.posts.append(post)`` then commit; Django ``new_author.posts.add(post)`` in one
  transaction; peewee has no collections: ``post.author = new_author`` and ``bulk_update``.
  Target: ormcli <= 1.5x the floor.

  Foreign keys: ormcli turns SQLite's ``PRAGMA foreign_keys`` on for every connection (the
  schema's references are enforced: each moved post's new author is looked up), so the raw
  floor's SQLite connection turns it on too (``raw_connect``; the worker checks that both have
  it on). The same raw code with foreign keys off (SQLite's default) is reported as an extra
  row, ``raw-fk-off``, which is not the floor: it does less work than ormcli (no reference
  checked). On PostgreSQL and MariaDB (InnoDB) references are always enforced.

Each run is a fresh worker process of one implementation (so that no other library's objects
are alive in it: a full garbage collection would scan them too), runs are taken in turns (one
of each implementation per round, the first rotating), and a scenario reports the median and
the best of ``--repeat`` rounds. A worker runs each scenario once untimed first (connections
opened, mappers and caches made: the steady state is measured). S9 puts the posts back before
every run (not timed). Every run is
checked after its timer stopped (the timer covers the load, not the counting): S8 must have
loaded 10,000 posts and 20,000 tags into the collections, S9 must leave the 1,000 posts with
their new authors in the database. This module stands apart from the S1..S7
harness (``bench.harness``) and shares only ``bench.backends``' URL parsing.

Reports give the wall time (median, best) and the worker's CPU time (median), each also as a
multiple of the floor's. Run: ``python -m bench.relations --backends
sqlite,postgresql://...,mysql://... [--repeat 5]``; ``--floors`` times the raw forms instead.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Annotated, Any

from bench.backends import Backend, parse_backend
from bench.interface import gc_paused
from core import AutoIncrement, BackReference, Database, PrimaryKey, Reference, entity

AUTHORS, POSTS, TAGS = 1_000, 10_000, 100
MOVED = 1_000
IMPLS = ("raw", "ormcli", "sqlalchemy", "peewee", "django")

_INT = {"sqlite": "INTEGER", "postgresql": "BIGINT", "mysql": "BIGINT"}
_TEXT = {"sqlite": "TEXT", "postgresql": "TEXT", "mysql": "VARCHAR(200)"}


def ddl(kind: str) -> list[str]:
    i, t = _INT[kind], _TEXT[kind]
    tail = " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4" if kind == "mysql" else ""
    return [
        f"CREATE TABLE rel_author (id {i} PRIMARY KEY, name {t} NOT NULL){tail}",
        f"CREATE TABLE rel_tag (id {i} PRIMARY KEY, name {t} NOT NULL){tail}",
        f"CREATE TABLE rel_post (id {i} PRIMARY KEY, title {t} NOT NULL, author {i} NOT NULL "
        f"REFERENCES rel_author (id)){tail}",
        f"CREATE TABLE rel_post_tag (post {i} NOT NULL REFERENCES rel_post (id), tag {i} NOT NULL"
        f" REFERENCES rel_tag (id), PRIMARY KEY (post, tag)){tail}",
        "CREATE INDEX ix_rel_post_author ON rel_post (author)",
        "CREATE INDEX ix_rel_post_tag_tag ON rel_post_tag (tag)",
    ]


def home_of(post: int) -> int:
    """The author a post belongs to in the seeded data."""
    return (post - 1) % AUTHORS + 1


def moved_posts() -> list[int]:
    """S9's posts: every tenth."""
    return list(range(10, POSTS + 1, 10))


def new_home(post: int) -> int:
    return home_of(post) % AUTHORS + 1


def prepare(backend: Backend) -> None:
    """Make the four tables hold the data (kept when they already hold it)."""
    conn = backend.connect()
    cur = conn.cursor()
    try:
        cur.execute("SELECT COUNT(*) FROM rel_post_tag")
        if cur.fetchone()[0] == 2 * POSTS:
            conn.rollback()
            conn.close()
            return
    except Exception:
        pass
    conn.rollback()
    for table in ("rel_post_tag", "rel_post", "rel_tag", "rel_author"):
        try:
            cur.execute(f"DROP TABLE IF EXISTS {table}")
        except Exception:
            conn.rollback()
    for statement in ddl(backend.kind):
        cur.execute(statement)
    p = backend.placeholder
    rows = {
        "rel_author": [(a, f"author {a}") for a in range(1, AUTHORS + 1)],
        "rel_tag": [(t, f"tag {t}") for t in range(1, TAGS + 1)],
        "rel_post": [(i, f"post {i}", home_of(i)) for i in range(1, POSTS + 1)],
        "rel_post_tag": [
            (i, (7 * i + k) % TAGS + 1) for i in range(1, POSTS + 1) for k in range(2)
        ],
    }
    for table, values in rows.items():
        width = len(values[0])
        for start in range(0, len(values), 2000):
            chunk = values[start : start + 2000]
            marks = ", ".join(["(" + ", ".join([p] * width) + ")"] * len(chunk))
            cur.execute(f"INSERT INTO {table} VALUES {marks}", [v for r in chunk for v in r])
    conn.commit()
    if backend.kind == "postgresql":
        conn.autocommit = True
        conn.cursor().execute("VACUUM ANALYZE rel_author, rel_post, rel_tag, rel_post_tag")
    conn.close()


def reset(backend: Backend) -> None:
    """Put S9's posts back with their authors (before every S9 run, not timed)."""
    conn = backend.connect()
    cur = conn.cursor()
    cur.execute(f"UPDATE rel_post SET author = (id - 1) % {AUTHORS} + 1")  # (no parameters)
    conn.commit()
    conn.close()


def check_moved(backend: Backend) -> None:
    conn = backend.connect()
    cur = conn.cursor()
    cur.execute("SELECT id, author FROM rel_post WHERE id % 10 = 0")
    found = dict(cur.fetchall())
    conn.rollback()
    conn.close()
    wrong = [post for post in moved_posts() if found.get(post) != new_home(post)]
    if wrong:
        raise AssertionError(f"S9: {len(wrong)} posts did not move (first: post {wrong[0]})")


def check_loaded(posts: int, tags: int) -> None:
    if (posts, tags) != (POSTS, 2 * POSTS):
        raise AssertionError(f"S8: loaded {posts} posts and {tags} tags into the collections")


# -- raw ----------------------------------------------------------------------------------------


def raw_connect(backend: Backend, foreign_keys: bool = True) -> Any:
    """A raw DB-API connection; on SQLite with ``PRAGMA foreign_keys`` set as asked (on: as
    ormcli's adapter sets it; off: SQLite's default)."""
    conn = backend.connect()
    if backend.kind == "sqlite":
        conn.execute(f"PRAGMA foreign_keys = {'ON' if foreign_keys else 'OFF'}")
        if foreign_keys_on(conn) != foreign_keys:
            raise RuntimeError("SQLite did not take PRAGMA foreign_keys")
    return conn


def foreign_keys_on(conn: Any) -> bool:
    """Whether a SQLite DB-API connection enforces foreign keys."""
    return bool(conn.execute("PRAGMA foreign_keys").fetchone()[0])


class Raw:
    """The floor: the same statements by hand on the driver (with ``foreign_keys=False``, the
    extra ``raw-fk-off`` row on SQLite, not the floor)."""

    def __init__(self, backend: Backend, foreign_keys: bool = True) -> None:
        self.backend = backend
        self.conn = raw_connect(backend, foreign_keys)
        self.moves: list[tuple[int, int]] = []

    def _in(self, column: str, keys: list[int]) -> tuple[str, list[Any]]:
        if self.backend.kind == "postgresql":
            return f"{column} = ANY(%s::bigint[])", [keys]
        return f"{column} IN ({', '.join([self.backend.placeholder] * len(keys))})", keys

    def s8(self) -> Any:
        cur = self.conn.cursor()
        cur.execute("SELECT id, name FROM rel_author")
        authors = cur.fetchall()
        where, params = self._in("author", [a[0] for a in authors])
        cur.execute(f"SELECT id, title, author FROM rel_post WHERE {where} ORDER BY id", params)
        posts: dict[int, list[Any]] = {}
        post_ids = []
        for row in cur.fetchall():
            posts.setdefault(row[2], []).append(row)
            post_ids.append(row[0])
        where, params = self._in("l.post", post_ids)
        cur.execute(
            "SELECT l.post, t.id, t.name FROM rel_post_tag AS l JOIN rel_tag AS t ON t.id = l.tag"
            f" WHERE {where} ORDER BY t.id",
            params,
        )
        tags: dict[int, list[Any]] = {}
        for row in cur.fetchall():
            tags.setdefault(row[0], []).append(row)
        self.conn.rollback()
        return posts, tags

    @staticmethod
    def s8_count(loaded: Any) -> tuple[int, int]:
        posts, tags = loaded
        return sum(map(len, posts.values())), sum(map(len, tags.values()))

    def s9_load(self) -> None:
        # (Which post goes to which author is known before the timer, as ormcli's and the
        # other peers' ``(author, post)`` pairs are.)
        self.moves = [(new_home(post), post) for post in moved_posts()]

    def s9(self) -> None:
        form = next(iter(FLOOR_FORMS[self.backend.kind].values()))
        with gc_paused(len(self.moves)):  # (as ormcli's commit of as many staged objects)
            form(self.conn.cursor(), self.moves, self.backend.placeholder)
            self.conn.commit()

    def sqlite_foreign_keys(self) -> bool:
        return foreign_keys_on(self.conn)

    def close(self) -> None:
        self.conn.close()


# -- ormcli -------------------------------------------------------------------------------------


@entity.name("rel_tag")
class Tag:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    name: str = ""
    posts: Annotated[list[Post], BackReference(via="PostTag")]


@entity.name("rel_post_tag")
class PostTag:
    post: Annotated[Post, PrimaryKey, Reference]
    tag: Annotated[Tag, PrimaryKey, Reference]


@entity.name("rel_author")
class Author:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    name: str = ""
    posts: Annotated[list[Post], BackReference]


@entity.name("rel_post")
class Post:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    title: str = ""
    author: Annotated[Author, Reference]
    tags: Annotated[list[Tag], BackReference(via=PostTag)]


class Ormcli:
    def __init__(self, backend: Backend) -> None:
        self.db = Database(backend.url, [Author, Post, Tag, PostTag])
        self.session: Any = None
        self.moves: list[tuple[Any, Any]] = []

    def s8(self) -> Any:
        return self.db.create_session().query(Author).eager("posts.tags").find()

    @staticmethod
    def s8_count(authors: Any) -> tuple[int, int]:
        posts = [p for a in authors for p in a.__dict__["posts"]]
        return len(posts), sum(len(p.__dict__["tags"]) for p in posts)

    def s9_load(self) -> None:
        self.session = self.db.create_session()
        authors = self.session.query(Author).eager("posts").find()
        by_id = {a.id: a for a in authors}
        posts = {p.id: p for a in authors for p in a.posts}
        self.moves = [(by_id[new_home(i)], posts[i]) for i in moved_posts()]

    def s9(self) -> None:
        for target, post in self.moves:
            target.posts.append(post)
        self.session.commit()

    def sqlite_foreign_keys(self) -> bool:
        """Whether the connection S9 committed on (the pool's next) enforces foreign keys."""
        return foreign_keys_on(self.db.pool.peek().raw)

    def close(self) -> None:
        self.db.close()


# -- SQLAlchemy ---------------------------------------------------------------------------------


def _sqlalchemy_url(backend: Backend) -> str:
    if backend.kind == "postgresql":
        return "postgresql+psycopg://" + backend.url.split("://", 1)[1]
    if backend.kind == "mysql":
        return "mysql+pymysql://" + backend.url.split("://", 1)[1]
    return backend.url


class SQLAlchemy:
    def __init__(self, backend: Backend) -> None:
        from sqlalchemy import create_engine

        self.models = _sqlalchemy_models()
        self.engine = create_engine(_sqlalchemy_url(backend))
        self.session: Any = None
        self.moves: list[tuple[Any, Any]] = []

    def s8(self) -> Any:
        from sqlalchemy import select
        from sqlalchemy.orm import Session, selectinload

        author, post = self.models["Author"], self.models["Post"]
        with Session(self.engine) as session:
            query = select(author).options(selectinload(author.posts).selectinload(post.tags))
            return session.scalars(query).all()

    @staticmethod
    def s8_count(authors: Any) -> tuple[int, int]:
        posts = [p for a in authors for p in a.posts]
        return len(posts), sum(len(p.tags) for p in posts)

    def s9_load(self) -> None:
        from sqlalchemy import select
        from sqlalchemy.orm import Session, selectinload

        author = self.models["Author"]
        self.session = Session(self.engine)
        authors = self.session.scalars(select(author).options(selectinload(author.posts))).all()
        by_id = {a.id: a for a in authors}
        posts = {p.id: p for a in authors for p in a.posts}
        self.moves = [(by_id[new_home(i)], posts[i]) for i in moved_posts()]

    def s9(self) -> None:
        for target, post in self.moves:
            target.posts.append(post)
        self.session.commit()
        self.session.close()

    def close(self) -> None:
        self.engine.dispose()


def _sqlalchemy_models() -> dict[str, Any]:
    from sqlalchemy import BigInteger, Column, ForeignKey, String, Table
    from sqlalchemy.orm import declarative_base, relationship

    base: Any = declarative_base()
    links = Table(
        "rel_post_tag",
        base.metadata,
        Column("post", BigInteger, ForeignKey("rel_post.id"), primary_key=True),
        Column("tag", BigInteger, ForeignKey("rel_tag.id"), primary_key=True),
    )

    class SAAuthor(base):  # type: ignore[misc,valid-type]
        __tablename__ = "rel_author"
        id = Column(BigInteger, primary_key=True)
        name = Column(String(200))
        posts = relationship("SAPost", back_populates="author", order_by="SAPost.id")

    class SATag(base):  # type: ignore[misc,valid-type]
        __tablename__ = "rel_tag"
        id = Column(BigInteger, primary_key=True)
        name = Column(String(200))

    class SAPost(base):  # type: ignore[misc,valid-type]
        __tablename__ = "rel_post"
        id = Column(BigInteger, primary_key=True)
        title = Column(String(200))
        author_id = Column("author", BigInteger, ForeignKey("rel_author.id"))
        author = relationship(SAAuthor, back_populates="posts")
        tags = relationship(SATag, secondary=links, order_by=SATag.id)

    return {"Author": SAAuthor, "Post": SAPost, "Tag": SATag}


# -- peewee -------------------------------------------------------------------------------------


class Peewee:
    def __init__(self, backend: Backend) -> None:
        import peewee as pw

        if backend.kind == "postgresql":
            self.database: Any = pw.PostgresqlDatabase(
                backend.database,
                host=backend.host,
                port=backend.port,
                user=backend.user,
                password=backend.password,
            )
        elif backend.kind == "mysql":
            self.database = pw.MySQLDatabase(
                backend.database,
                host=backend.host,
                port=backend.port,
                user=backend.user,
                password=backend.password,
            )
        else:
            self.database = pw.SqliteDatabase(backend.path)
        self.models = _peewee_models(self.database)
        self.moves: list[Any] = []

    def s8(self) -> Any:
        from peewee import prefetch

        m = self.models
        return prefetch(
            m["Author"].select(),
            m["Post"].select().order_by(m["Post"].id),
            m["PostTag"].select(),
            m["Tag"].select(),
        )

    @staticmethod
    def s8_count(authors: Any) -> tuple[int, int]:
        posts = [p for a in authors for p in a.posts]
        return len(posts), sum(len(p.links) for p in posts)

    def s9_load(self) -> None:
        from peewee import prefetch

        m = self.models
        authors = prefetch(m["Author"].select(), m["Post"].select())
        by_id = {a.id: a for a in authors}
        posts = {p.id: p for a in authors for p in a.posts}
        self.moves = [(by_id[new_home(i)], posts[i]) for i in moved_posts()]

    def s9(self) -> None:
        with self.database.atomic():
            for target, post in self.moves:
                post.author = target
            self.models["Post"].bulk_update(
                [post for _, post in self.moves], fields=["author"], batch_size=500
            )

    def close(self) -> None:
        self.database.close()


def _peewee_models(database: Any) -> dict[str, Any]:
    import peewee as pw

    class Base(pw.Model):
        class Meta:
            pass

    Base._meta.database = database

    class PAuthor(Base):
        id = pw.BigIntegerField(primary_key=True)
        name = pw.CharField()

        class Meta:
            table_name = "rel_author"

    class PTag(Base):
        id = pw.BigIntegerField(primary_key=True)
        name = pw.CharField()

        class Meta:
            table_name = "rel_tag"

    class PPost(Base):
        id = pw.BigIntegerField(primary_key=True)
        title = pw.CharField()
        author = pw.ForeignKeyField(PAuthor, column_name="author", backref="posts")

        class Meta:
            table_name = "rel_post"

    class PPostTag(Base):
        post = pw.ForeignKeyField(PPost, column_name="post", backref="links")
        tag = pw.ForeignKeyField(PTag, column_name="tag")

        class Meta:
            table_name = "rel_post_tag"
            primary_key = pw.CompositeKey("post", "tag")

    return {"Author": PAuthor, "Post": PPost, "Tag": PTag, "PostTag": PPostTag}


# -- Django -------------------------------------------------------------------------------------

_DJANGO: dict[str, Any] = {}


def django_setup(backends: list[Backend]) -> None:
    """Configure the Django ORM standalone (no project): one database alias per backend."""
    import django
    from django.conf import settings

    databases: dict[str, dict[str, Any]] = {}
    for b in backends:
        if b.kind == "sqlite":
            databases[b.kind] = {"ENGINE": "django.db.backends.sqlite3", "NAME": b.path}
        else:
            engine = "postgresql" if b.kind == "postgresql" else "mysql"
            databases[b.kind] = {
                "ENGINE": f"django.db.backends.{engine}",
                "NAME": b.database,
                "HOST": b.host,
                "PORT": b.port,
                "USER": b.user,
                "PASSWORD": b.password,
            }
    if "mysql" in databases:
        import pymysql

        pymysql.install_as_MySQLdb()
    databases["default"] = dict(next(iter(databases.values())))
    settings.configure(DATABASES=databases, INSTALLED_APPS=["bench.relations"], USE_TZ=False)
    django.setup()
    _DJANGO.update(_django_models())


class Django:
    def __init__(self, backend: Backend) -> None:
        self.alias = backend.kind
        self.moves: list[Any] = []

    def s8(self) -> Any:
        author = _DJANGO["Author"]
        return list(author.objects.using(self.alias).prefetch_related("posts__tags"))

    @staticmethod
    def s8_count(authors: Any) -> tuple[int, int]:
        posts = [p for a in authors for p in a.posts.all()]
        return len(posts), sum(len(p.tags.all()) for p in posts)

    def s9_load(self) -> None:
        author = _DJANGO["Author"]
        authors = list(author.objects.using(self.alias).prefetch_related("posts"))
        by_id = {a.id: a for a in authors}
        posts = {p.id: p for a in authors for p in a.posts.all()}
        self.moves = [(by_id[new_home(i)], posts[i]) for i in moved_posts()]

    def s9(self) -> None:
        from django.db import transaction

        with transaction.atomic(using=self.alias):
            for target, post in self.moves:
                target.posts.add(post)

    def close(self) -> None:
        from django.db import connections

        connections[self.alias].close()


def _django_models() -> dict[str, Any]:
    from django.db import models

    class DAuthor(models.Model):
        id = models.BigIntegerField(primary_key=True)
        name = models.CharField(max_length=200)

        class Meta:
            app_label = "relations"
            db_table = "rel_author"
            managed = False

    class DTag(models.Model):
        id = models.BigIntegerField(primary_key=True)
        name = models.CharField(max_length=200)

        class Meta:
            app_label = "relations"
            db_table = "rel_tag"
            managed = False
            ordering = ("id",)

    class DPost(models.Model):
        id = models.BigIntegerField(primary_key=True)
        title = models.CharField(max_length=200)
        author = models.ForeignKey(
            DAuthor, models.DO_NOTHING, db_column="author", related_name="posts"
        )
        tags = models.ManyToManyField(DTag, through="DPostTag", related_name="posts")

        class Meta:
            app_label = "relations"
            db_table = "rel_post"
            managed = False
            ordering = ("id",)

    class DPostTag(models.Model):
        pk = models.CompositePrimaryKey("post", "tag")
        post = models.ForeignKey(DPost, models.DO_NOTHING, db_column="post")
        tag = models.ForeignKey(DTag, models.DO_NOTHING, db_column="tag")

        class Meta:
            app_label = "relations"
            db_table = "rel_post_tag"
            managed = False

    return {"Author": DAuthor, "Post": DPost, "Tag": DTag}


# -- the S9 floor, checked -----------------------------------------------------------------------


def _case_update(chunk: int) -> Callable[[Any, list[tuple[int, int]], str], None]:
    def run(cur: Any, moves: list[tuple[int, int]], p: str) -> None:
        for start in range(0, len(moves), chunk):
            part = moves[start : start + chunk]
            cases = " ".join([f"WHEN {p} THEN {p}"] * len(part))
            cur.execute(
                f"UPDATE rel_post SET author = CASE id {cases} END WHERE id IN "
                f"({', '.join([p] * len(part))})",
                [v for a, i in part for v in (i, a)] + [i for _, i in part],
            )

    return run


def _executemany(cur: Any, moves: list[tuple[int, int]], p: str) -> None:
    cur.executemany(f"UPDATE rel_post SET author = {p} WHERE id = {p}", moves)


def _sqlite_update_from(cur: Any, moves: list[tuple[int, int]], p: str) -> None:
    values = ", ".join(["(?, ?)"] * len(moves))
    cur.execute(
        f"UPDATE rel_post SET author = v.column2 FROM (VALUES {values}) AS v"
        " WHERE rel_post.id = v.column1",
        [v for a, i in moves for v in (i, a)],
    )


def _sqlite_update_from_chunks(chunk: int) -> Callable[[Any, list[tuple[int, int]], str], None]:
    def run(cur: Any, moves: list[tuple[int, int]], p: str) -> None:
        for start in range(0, len(moves), chunk):
            _sqlite_update_from(cur, moves[start : start + chunk], p)

    return run


def _pg_unnest(cur: Any, moves: list[tuple[int, int]], p: str) -> None:
    cur.execute(
        "UPDATE rel_post AS p SET author = v.a FROM unnest(%s::bigint[], %s::bigint[])"
        " AS v(a, id) WHERE p.id = v.id",
        [[a for a, _ in moves], [i for _, i in moves]],
    )


def _mysql_join(cur: Any, moves: list[tuple[int, int]], p: str) -> None:
    for start in range(0, len(moves), 500):
        part = moves[start : start + 500]
        rows = " UNION ALL ".join(["SELECT %s AS id, %s AS a"] * len(part))
        cur.execute(
            f"UPDATE rel_post p JOIN ({rows}) v ON p.id = v.id SET p.author = v.a",
            [v for a, i in part for v in (i, a)],
        )


#: The raw forms of S9's batched UPDATE tried per backend; ``Raw.s9`` sends the first (the
#: fastest measured: ``--floors`` measures them all).
FLOOR_FORMS: dict[str, dict[str, Callable[[Any, list[tuple[int, int]], str], None]]] = {
    "sqlite": {
        "UPDATE FROM (VALUES ...), 500 rows a statement": _sqlite_update_from_chunks(500),
        "UPDATE FROM (VALUES ...)": _sqlite_update_from,
        "executemany": _executemany,
        "CASE, 500 rows a statement": _case_update(500),
    },
    "postgresql": {"unnest arrays": _pg_unnest, "executemany (pipelined)": _executemany},
    "mysql": {
        "CASE, 500 rows a statement": _case_update(500),
        "CASE, 1,000 rows": _case_update(1000),
        "JOIN (SELECT ... UNION ALL ...), 500 rows": _mysql_join,
        "executemany": _executemany,
    },
}


def _send(
    conn: Any, form: Callable[[Any, list[tuple[int, int]], str], None], moves: Any, p: str
) -> None:
    form(conn.cursor(), moves, p)
    conn.commit()


def floors(backend: Backend, repeat: int) -> str:
    """Median wall and CPU milliseconds of each raw form of S9's UPDATE (committed; the
    posts put back before each run), to check the floor is the fastest honest one."""
    prepare(backend)
    moves = [(new_home(post), post) for post in moved_posts()]
    conns = {"": raw_connect(backend)}
    if backend.kind == "sqlite":  # (the extra rows: foreign keys off, not a floor)
        conns[", foreign keys off (not a floor)"] = raw_connect(backend, foreign_keys=False)
    lines = [f"### S9 floor forms: {backend.display}", "", "| form | wall ms | CPU ms |"]
    lines.append("|---|---:|---:|")
    try:
        for tail, conn in conns.items():
            for label, form in FLOOR_FORMS[backend.kind].items():
                walls, cpus = [], []
                for run in range(repeat + 1):
                    reset(backend)
                    wall, cpu, _ = timed(partial(_send, conn, form, moves, backend.placeholder))
                    check_moved(backend)
                    if run:  # (the first one a warm-up)
                        walls.append(wall)
                        cpus.append(cpu)
                lines.append(
                    f"| {label}{tail} | {statistics.median(walls) * 1000:.2f} | "
                    f"{statistics.median(cpus) * 1000:.2f} |"
                )
    finally:
        reset(backend)
        for conn in conns.values():
            conn.close()
    return "\n".join(lines)


# -- running ------------------------------------------------------------------------------------

FACTORIES: dict[str, Callable[[Backend], Any]] = {
    "raw": Raw,
    "raw-fk-off": partial(Raw, foreign_keys=False),
    "ormcli": Ormcli,
    "sqlalchemy": SQLAlchemy,
    "peewee": Peewee,
    "django": Django,
}


#: What SQLite's ``PRAGMA foreign_keys`` must be in each implementation's S9 (checked).
FOREIGN_KEYS = {"raw": True, "raw-fk-off": False, "ormcli": True}


def timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """Wall seconds, CPU seconds of this process (what the library itself spent, apart from
    waiting for the server and for other processes on a loaded machine), and the result."""
    gc.collect()
    cpu, start = time.process_time(), time.perf_counter()
    out = fn()
    return time.perf_counter() - start, time.process_time() - cpu, out


def worker(name: str, backend: Backend) -> dict[str, Any]:
    """One run of S8 and S9 by one implementation, in a process of its own (so that no other
    library's objects are alive in it: a full collection would scan them too): wall seconds
    per scenario, and under ``"cpu"`` the CPU seconds."""
    if name == "django":
        django_setup([backend])
    impl = FACTORIES[name](backend)
    try:
        impl.s8()  # a warm-up run: connections opened, mappers and statement caches made
        s8, s8_cpu, loaded = timed(impl.s8)
        check_loaded(*impl.s8_count(loaded))  # (the check is not timed)
        for _ in range(2):  # (the first one a warm-up)
            reset(backend)
            impl.s9_load()
            s9, s9_cpu, _ = timed(impl.s9)
            check_moved(backend)
        if backend.kind == "sqlite" and name in FOREIGN_KEYS:
            on = impl.sqlite_foreign_keys()
            if on != FOREIGN_KEYS[name]:
                raise AssertionError(
                    f"S9: {name} ran with SQLite foreign keys {'on' if on else 'off'}"
                )
    finally:
        reset(backend)
        impl.close()
    return {"S8": s8, "S9": s9, "cpu": {"S8": s8_cpu, "S9": s9_cpu}}


def run_backend(backend: Backend, impls: list[str], repeat: int) -> dict[str, dict[str, Any]]:
    """``{scenario: {impl: [seconds, ...]}}`` for one backend (wall; ``"S8 cpu"``, ``"S9 cpu"``:
    CPU): ``repeat`` rounds, each running every implementation once (the first rotating),
    each run in a fresh worker process."""
    prepare(backend)
    if backend.kind == "sqlite" and "raw" in impls and "raw-fk-off" not in impls:
        impls = [*impls, "raw-fk-off"]  # (the extra row: the floor's code, foreign keys off)
    times: dict[str, dict[str, list[float]]] = {"S8": {}, "S9": {}, "S8 cpu": {}, "S9 cpu": {}}
    for round_no in range(repeat):
        order = impls[round_no % len(impls) :] + impls[: round_no % len(impls)]
        for name in order:
            url = backend.url
            done = subprocess.run(
                [sys.executable, "-m", "bench.relations", "--worker", name, "--backends", url],
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                raise RuntimeError(f"{name} on {backend.label} failed:\n{done.stderr}")
            found = json.loads(done.stdout.splitlines()[-1])
            for scenario in ("S8", "S9"):
                times[scenario].setdefault(name, []).append(found[scenario])
                times[f"{scenario} cpu"].setdefault(name, []).append(found["cpu"][scenario])
    return times


#: Rows that are not implementations compared with the floor, as the report names them.
EXTRA_LABELS = {"raw-fk-off": "raw-fk-off (foreign keys off: less work, not the floor)"}


def report(label: str, times: dict[str, dict[str, list[float]]]) -> str:
    """A table per backend: per scenario and implementation the median and best wall time,
    the median CPU time of the worker process, and both medians as multiples of the floor's."""
    lines = [
        f"### {label}",
        "",
        "| scenario | impl | median ms | best ms | CPU ms | x floor (median) | x floor (CPU) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for scenario in ("S8", "S9"):
        by_impl = times[scenario]
        cpu = times.get(f"{scenario} cpu", {})
        floor = statistics.median(by_impl["raw"]) if "raw" in by_impl else None
        cpu_floor = statistics.median(cpu["raw"]) if "raw" in cpu else None
        for name, values in by_impl.items():
            if name == "raw-fk-off" and scenario == "S8":
                continue  # (reads: the same as the floor's)
            median = statistics.median(values)
            ratio = f"{median / floor:.2f}x" if floor else "-"
            cpu_ms = statistics.median(cpu[name]) if name in cpu else None
            cpu_text = f"{cpu_ms * 1000:.1f}" if cpu_ms is not None else "-"
            cpu_ratio = f"{cpu_ms / cpu_floor:.2f}x" if cpu_ms is not None and cpu_floor else "-"
            label = EXTRA_LABELS.get(name, name)
            lines.append(
                f"| {scenario} | {label} | {median * 1000:.1f} | {min(values) * 1000:.1f} | "
                f"{cpu_text} | {ratio} | {cpu_ratio} |"
            )
        if "ormcli" in by_impl and "sqlalchemy" in by_impl:
            speedup = statistics.median(by_impl["sqlalchemy"]) / statistics.median(
                by_impl["ormcli"]
            )
            lines.append(f"| {scenario} | ormcli vs SQLAlchemy | | | | {speedup:.2f}x faster | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.relations", description=__doc__)
    parser.add_argument("--backends", default="sqlite", help="sqlite,postgresql://...,mysql://...")
    parser.add_argument("--repeat", type=int, default=5, help="rounds (5)")
    parser.add_argument("--impls", default=",".join(IMPLS), help=",".join(IMPLS))
    parser.add_argument("--out", default="", help="also write the report to this file")
    parser.add_argument("--worker", default="", help=argparse.SUPPRESS)
    parser.add_argument(
        "--floors", action="store_true", help="time each raw form of S9's UPDATE, then stop"
    )
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, parse_backend(args.backends))))
        return 0
    if args.floors:
        with tempfile.TemporaryDirectory() as tmp:
            path = str(Path(tmp) / "relations.db")
            for spec in (s for s in args.backends.split(",") if s.strip()):
                print(floors(parse_backend(spec, path), args.repeat), flush=True)
        return 0
    impls = [name.strip() for name in args.impls.split(",") if name.strip()]
    unknown = set(impls) - set(FACTORIES)
    if unknown:
        parser.error(f"unknown implementations {sorted(unknown)}; known: {', '.join(FACTORIES)}")
    with tempfile.TemporaryDirectory() as tmp:
        sqlite_path = str(Path(tmp) / "relations.db")
        backends = [parse_backend(s, sqlite_path) for s in args.backends.split(",") if s.strip()]
        parts = [f"# Relations bench: S8, S9 ({args.repeat} rounds, a process per run)"]
        for backend in backends:
            times = run_backend(backend, impls, args.repeat)
            parts.append(report(backend.display, times))
            print(parts[-1], flush=True)
    if args.out:
        Path(args.out).write_text("\n\n".join(parts) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
