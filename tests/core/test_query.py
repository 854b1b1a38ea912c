"""Queries: every operator, ordering and paging, terminal methods, bulk operations."""

from __future__ import annotations

import pytest

from core import Database, F, NotFoundError, UnknownFieldError, and_, not_, or_
from tests.conftest import StatementLog
from tests.core.models import ALL, Author, Role


@pytest.fixture
def db(db_url: str) -> Database:
    database = Database(db_url, ALL)
    database.migrate()
    s = database.create_session()
    people = [("ann", 31), ("bob", 25), ("cid", None), ("dee", 40), ("eve", 25)]
    s.add(
        *(
            Author(
                email=f"{n}@x.org", name=n, age=a, role=Role.writer if a and a > 30 else Role.reader
            )
            for n, a in people
        )
    )
    s.commit()
    return database


def names(objs: list[Author]) -> list[str]:
    return sorted(o.name for o in objs)


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        (F.age == 25, ["bob", "eve"]),
        (F.age != 25, ["ann", "dee"]),
        (F.age < 31, ["bob", "eve"]),
        (F.age <= 31, ["ann", "bob", "eve"]),
        (F.age > 31, ["dee"]),
        (F.age >= 31, ["ann", "dee"]),
        (F.name.in_(["ann", "cid", "zed"]), ["ann", "cid"]),
        (F.name.not_in(["ann", "cid"]), ["bob", "dee", "eve"]),
        (F.email.like("%e@x.org"), ["dee", "eve"]),
        (F.age.is_null(), ["cid"]),
        (F.age.is_not_null(), ["ann", "bob", "dee", "eve"]),
        (F.age == None, ["cid"]),  # noqa: E711 - IS NULL by design
        ((F.age == 25) & (F.name == "bob"), ["bob"]),
        ((F.age == 40) | (F.name == "bob"), ["bob", "dee"]),
        (~(F.age == 25), ["ann", "dee"]),
        (and_(F.age > 20, or_(F.name == "ann", F.name == "eve")), ["ann", "eve"]),
        (not_(F.name.in_([])), ["ann", "bob", "cid", "dee", "eve"]),
        (F.role == Role.writer, ["ann", "dee"]),
        (F.role == "writer", ["ann", "dee"]),
    ],
)
def test_filter_operators(db: Database, expr: object, expected: list[str]) -> None:
    assert names(db.query(Author).filter(expr).find()) == expected  # type: ignore[arg-type]


def test_keyword_filters_mean_equality(db: Database) -> None:
    assert names(db.query(Author).filter(age=25, name="eve").find()) == ["eve"]
    assert names(db.query(Author).filter(age=None).find()) == ["cid"]


def test_order_limit_offset(db: Database) -> None:
    q = db.query(Author).filter(F.age.is_not_null())
    assert [a.name for a in q.order_by("-age", "name").find()] == ["dee", "ann", "bob", "eve"]
    assert [a.name for a in q.order_by(F.age.desc()).limit(2).find()] == ["dee", "ann"]
    assert [a.name for a in q.order_by("name").offset(1).limit(2).find()] == ["bob", "dee"]
    assert [a.name for a in q.order_by("name").offset(3).find()] == ["eve"]


def test_terminal_methods(db: Database) -> None:
    q = db.query(Author)
    assert q.count() == 5 and q.filter(age=25).count() == 2
    assert q.filter(name="ann").has() and not q.filter(name="zed").has()
    assert q.filter(name="bob").find_one().age == 25
    assert q.filter(name="zed").find_one_or_none() is None
    with pytest.raises(NotFoundError, match="no Author matches"):
        q.filter(name="zed").find_one()


def test_unknown_field_is_named(db: Database) -> None:
    with pytest.raises(UnknownFieldError, match="Author has no field 'agee'"):
        db.query(Author).filter(F.agee == 1).find()


def test_values_are_bound_never_in_sql_text(db: Database, statements: StatementLog) -> None:
    """A value full of SQL is a parameter: it matches nothing and drops nothing."""
    evil = "x'); DROP TABLE author; --"
    assert db.query(Author).filter(F.name == evil).find() == []
    assert db.query(Author).filter(F.name.like(evil)).count() == 0
    assert all(evil not in s for s in statements.sql)
    assert db.query(Author).count() == 5


def test_session_query_delete_many_detaches_objects(db: Database) -> None:
    s = db.create_session()
    bob = s.query(Author).filter(name="bob").find_one()
    assert s.query(Author).filter(age=25).delete_many() == 2
    assert s.state_of(bob) == "detached"
    assert db.query(Author).count() == 5  # in the session's transaction until commit
    s.commit()
    assert db.query(Author).count() == 3


def test_patch_many_updates_rows_and_loaded_objects(db: Database) -> None:
    s = db.create_session()
    bob = s.query(Author).filter(name="bob").find_one()
    assert s.query(Author).filter(age=25).patch_many(age=26) == 2
    assert bob.age == 26 and s.changes().empty
    s.commit()
    assert db.query(Author).filter(age=26).count() == 2


def test_reference_filters_accept_the_referenced_key(db: Database) -> None:
    """F.author == 1 works like F.author == <Author 1>; text keys are coerced."""
    from tests.core.models import Article

    s = db.create_session()
    ann = s.query(Author).filter(name="ann").find_one()
    s.add(Article(title="t", author=ann))
    s.commit()
    assert db.query(Article).filter(F.author == ann.id).count() == 1
    assert db.query(Article).filter(F.author.in_([ann.id, 999])).count() == 1
    assert db.query(Article).filter(author=str(ann.id)).count() == 1
    assert db.query(Article).filter(F.author == 999).count() == 0


def test_get_finds_a_staged_object_by_its_natural_key(db: Database) -> None:
    from tests.core.models import Membership

    s = db.create_session()
    m = Membership(org="acme", member=1)
    s.add(m)
    assert s.get(Membership, ("acme", 1)) is m


def test_get_by_one_field_key_finds_staged_new_then_mapped_then_the_database(db: Database) -> None:
    s = db.create_session()
    ann = s.query(Author).filter(name="ann").find_one()
    new = Author(id=100, email="new@x.org", name="new")
    s.add(new)
    assert s.get(Author, 100) is new  # staged, not in the database
    assert s.get(Author, ann.id) is ann  # mapped
    bob_id = db.query(Author).filter(name="bob").find_one().id
    fresh = db.create_session()  # nothing staged: straight to the database
    bob = fresh.get(Author, bob_id)
    assert bob is not None and bob.name == "bob" and fresh.get(Author, bob_id) is bob
    assert fresh.get(Author, 999) is None


def test_a_lookup_frees_the_result_where_the_dialect_does(db: Database) -> None:
    from core.dialects.base import Dialect

    overrides = type(db.dialect).after_fetch is not Dialect.after_fetch
    with db.pool.connection() as conn:
        assert (conn._after_fetch is not None) == overrides
        conn.lookup("SELECT 1", ())
        if overrides:
            assert getattr(conn.raw, "_result", None) is None  # PyMySQL's last result let go
