"""Queries through references: path filters, ordering by paths, joined loading.

Every test runs on each configured backend. Statement counts come from the ``statements``
fixture; the SQL texts are checked for the form they promise (JOIN in a SELECT's conjunction,
EXISTS elsewhere), and the results for agreeing across find, count, has and the bulk methods.
"""

from __future__ import annotations

from typing import Annotated

import pytest

from core import (
    AutoIncrement,
    Database,
    F,
    PrimaryKey,
    Reference,
    UnknownFieldError,
    ValidationError,
    entity,
)
from core.dialects.mysql import MySQLDialect
from core.dialects.postgres import PostgresDialect
from core.dialects.sqlite import SQLiteDialect
from core.sql import Scope, compile_where, order_sql
from tests.conftest import StatementLog


@entity.name("rq_org")
class Org:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    name: str = ""


@entity.name("rq_writer")
class Writer:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    name: str = ""
    org: Annotated[Org, Reference] | None = None


@entity.name("rq_post")
class Post:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    title: str = ""
    author: Annotated[Writer, Reference]
    editor: Annotated[Writer, Reference] | None = None


@entity.name("rq_node")
class Node:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    label: str = ""
    parent: Annotated[Node, Reference] | None = None


MODELS = [Org, Writer, Post, Node]


@pytest.fixture
def db(db_url: str) -> Database:
    """Two orgs; Ann (Acme) with posts a1, a2; Bo (Zeta) with b1 edited by Ann; Cy (no org)
    with c1 edited by Bo; a tree root > mid > leaf."""
    database = Database(db_url, MODELS)
    database.migrate()
    s = database.create_session()
    acme, zeta = Org(name="Acme"), Org(name="Zeta")
    ann, bo, cy = Writer(name="Ann", org=acme), Writer(name="Bo", org=zeta), Writer(name="Cy")
    s.add(
        Post(title="a1", author=ann),
        Post(title="a2", author=ann),
        Post(title="b1", author=bo, editor=ann),
        Post(title="c1", author=cy, editor=bo),
    )
    root = Node(label="root")
    mid = Node(label="mid", parent=root)
    s.add(root, mid, Node(label="leaf", parent=mid))
    s.commit()
    return database


def titles(posts: list[Post]) -> list[str]:
    return sorted(p.title for p in posts)


def selects(statements: StatementLog) -> list[str]:
    return [x for x in statements.dml() if x.startswith("SELECT")]


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        (F.author.name == "Ann", ["a1", "a2"]),
        (F.author.name != "Ann", ["b1", "c1"]),
        (F.author.name.in_(["Bo", "Cy"]), ["b1", "c1"]),
        (F.author.name.like("C%"), ["c1"]),
        (F.author.org.name == "Zeta", ["b1"]),
        (F.editor.name == "Ann", ["b1"]),
        (F.editor.org.name == "Acme", ["b1"]),
        ((F.author.name == "Ann") & (F.title == "a2"), ["a2"]),
        ((F.author.name == "Bo") | (F.editor.name == "Bo"), ["b1", "c1"]),
        (~(F.editor.name == "Ann"), ["a1", "a2", "c1"]),
        (F.editor.name != "Ann", ["c1"]),
        (F.author.org.name == None, []),  # noqa: E711 - no org has a NULL name
        (F.author.org.name.is_not_null(), ["a1", "a2", "b1"]),
        (F.author.org == None, ["c1"]),  # noqa: E711 - the reference itself
    ],
)
def test_filters_through_references_agree_in_find_count_and_has(
    db: Database, expr: object, expected: list[str]
) -> None:
    """A condition through a reference holds for rows whose referenced row exists and meets
    it (so ``~(editor.name == "Ann")`` keeps the posts without an editor, and ``editor.name
    != "Ann"`` does not); ``find``, ``count`` and ``has`` agree, tracked and untracked."""
    s = db.create_session()
    assert titles(s.query(Post).filter(expr).find()) == expected  # type: ignore[arg-type]
    assert titles(db.query(Post).filter(expr).find()) == expected  # type: ignore[arg-type]
    assert db.query(Post).filter(expr).count() == len(expected)  # type: ignore[arg-type]
    assert db.query(Post).filter(expr).has() == bool(expected)  # type: ignore[arg-type]


def test_path_filter_is_one_select_joined_in_a_conjunction(
    db: Database, statements: StatementLog
) -> None:
    """``F.author.org.name == ...`` is one SELECT with a LEFT JOIN per reference walked."""
    statements.clear()
    posts = db.create_session().query(Post).filter(F.author.org.name == "Acme").find()
    assert titles(posts) == ["a1", "a2"]
    [sql] = selects(statements)
    assert sql.count("LEFT JOIN") == 2 and "EXISTS" not in sql


def test_path_filter_under_or_and_not_is_exists(db: Database, statements: StatementLog) -> None:
    statements.clear()
    db.query(Post).filter((F.author.name == "Bo") | ~(F.editor.name == "Ann")).find()
    [sql] = selects(statements)
    assert sql.count("EXISTS") == 2 and "JOIN" not in sql


def test_filter_on_the_referenced_key_compares_the_foreign_key(
    db: Database, statements: StatementLog
) -> None:
    """``F.author.id == 3`` needs no join: the foreign key holds the id."""
    ann = db.query(Writer).filter(name="Ann").find_one()
    statements.clear()
    assert titles(db.query(Post).filter(F.author.id == ann.id).find()) == ["a1", "a2"]
    assert titles(db.query(Post).filter(F.author.id.in_([ann.id])).find()) == ["a1", "a2"]
    assert not any("JOIN" in x or "EXISTS" in x for x in selects(statements))


def test_self_reference_paths_at_any_depth(db: Database) -> None:
    assert [n.label for n in db.query(Node).filter(F.parent.label == "root").find()] == ["mid"]
    assert [n.label for n in db.query(Node).filter(F.parent.parent.label == "root").find()] == [
        "leaf"
    ]
    assert db.query(Node).filter(F.parent.parent.parent.label == "root").count() == 0


def test_delete_many_through_a_reference_deletes_what_find_finds(db: Database) -> None:
    """Bulk delete with a path filter (an EXISTS subquery, also on the same table)."""
    s = db.create_session()
    doomed = s.query(Post).filter(F.author.org.name == "Acme").find()
    assert s.query(Post).filter(F.author.org.name == "Acme").delete_many() == 2
    s.commit()  # a session's bulk operation belongs to its transaction
    assert titles(db.query(Post).find()) == ["b1", "c1"]
    assert all(s.state_of(p) == "detached" for p in doomed)
    assert db.query(Node).filter(F.parent.label == "mid").delete_many() == 1
    assert sorted(n.label for n in db.query(Node).find()) == ["mid", "root"]


def test_patch_many_through_a_reference_updates_rows_and_loaded_objects(db: Database) -> None:
    s = db.create_session()
    loaded = s.query(Post).filter(title="b1").find_one()
    n = (
        s.query(Post)
        .filter((F.editor.name == "Ann") | (F.author.name == "Cy"))
        .patch_many(title="edited")
    )
    assert n == 2
    assert loaded.title == "edited"
    s.commit()  # a session's bulk operation belongs to its transaction
    assert titles(db.query(Post).find()) == ["a1", "a2", "edited", "edited"]
    assert db.query(Node).filter(F.parent.parent.label == "root").patch_many(label="x") == 1
    assert db.query(Node).filter(label="x").find_one().parent.label == "mid"


def test_order_by_a_path(db: Database, statements: StatementLog) -> None:
    """``order_by("author.name")`` sorts by the joined column; ``-`` descends."""
    q = db.query(Post).filter(F.author.name != "Cy")
    assert [p.title for p in q.order_by("-author.name", "title").find()] == ["b1", "a1", "a2"]
    statements.clear()
    got = q.order_by("author.org.name", "-title").find()
    assert [p.title for p in got] == ["a2", "a1", "b1"]
    [sql] = selects(statements)
    assert sql.count("LEFT JOIN") == 2  # author joined once, for the filter and the order


def test_order_by_a_path_with_limit_and_offset(db: Database) -> None:
    q = db.create_session().query(Post).order_by("author.name", "title")
    assert [p.title for p in q.offset(1).limit(2).find()] == ["a2", "b1"]
    assert q.find_one().title == "a1"


def test_join_loads_references_in_the_same_select(db: Database, statements: StatementLog) -> None:
    """``join("author")`` reads authors with the posts: reading them later sends nothing, and
    they are the session's identity-mapped objects."""
    s = db.create_session()
    statements.clear()
    posts = s.query(Post).join("author").order_by("title").find()
    assert len(statements.dml()) == 1
    assert [p.author.name for p in posts] == ["Ann", "Ann", "Bo", "Cy"]
    assert len(statements.dml()) == 1
    assert posts[0].author is posts[1].author
    assert s.get(Writer, posts[0].author.id) is posts[0].author
    assert s.query(Writer).filter(name="Ann").find_one() is posts[0].author


def test_join_a_chain_and_a_nullable_reference(db: Database, statements: StatementLog) -> None:
    """``join("author.org", "editor")``: every level in one SELECT; no editor stays None."""
    s = db.create_session()
    statements.clear()
    posts = s.query(Post).join("author.org", "editor").order_by("title").find()
    orgs = [p.author.org.name if p.author.org else None for p in posts]
    assert orgs == ["Acme", "Acme", "Zeta", None]
    assert [p.editor.name if p.editor else None for p in posts] == [None, None, "Ann", "Bo"]
    assert posts[2].editor is posts[0].author
    assert len(statements.dml()) == 1


def test_join_with_find_one_and_filters_on_the_same_path(
    db: Database, statements: StatementLog
) -> None:
    s = db.create_session()
    statements.clear()
    post = s.query(Post).join("author").filter(F.author.name == "Bo").find_one()
    assert post.author.name == "Bo"
    [sql] = selects(statements)
    assert sql.count("LEFT JOIN") == 1


def test_join_keeps_unsaved_changes_of_loaded_objects(db: Database) -> None:
    """A re-query with ``join`` never overwrites a reference the session changed."""
    s = db.create_session()
    post = s.query(Post).filter(title="a1").find_one()
    bo = s.query(Writer).filter(name="Bo").find_one()
    post.author = bo
    again = s.query(Post).join("author").filter(title="a1").find_one()
    assert again is post and post.author is bo
    assert s.changes().updates[0].changes["author"][1] is bo


def test_untracked_query_loads_references_without_a_session(
    db: Database, statements: StatementLog
) -> None:
    """``database.query(...).join(...)`` and ``.eager(...)``: fresh untracked objects, one
    object per referenced row in a result, no statement when they are read."""
    statements.clear()
    posts = db.query(Post).join("author.org").order_by("title").find()
    assert [p.author.org.name if p.author.org else None for p in posts] == [
        "Acme",
        "Acme",
        "Zeta",
        None,
    ]
    assert posts[0].author is posts[1].author
    assert len(statements.dml()) == 1
    eager = db.query(Post).eager("editor").order_by("title").find()
    assert [p.editor.name if p.editor else None for p in eager] == [None, None, "Ann", "Bo"]
    assert len(statements.dml()) == 3
    other = db.query(Post).join("author").order_by("title").find()
    assert other[0].author is not posts[0].author  # untracked: fresh objects per query
    s = db.create_session()
    assert s.state_of(posts[0]) == "detached" and s.state_of(posts[0].author) == "detached"


def test_paths_name_their_mistakes(db: Database) -> None:
    with pytest.raises(UnknownFieldError, match=r"in the path 'author\.nme' .*'nme'"):
        db.query(Post).filter(F.author.nme == "x").find()
    with pytest.raises(ValidationError, match=r"Post\.title is not a reference"):
        db.query(Post).filter(F.title.x == "x").find()
    with pytest.raises(UnknownFieldError, match="'nope'"):
        db.query(Post).order_by("author.nope")
    with pytest.raises(ValidationError, match=r"join\('title'\).*not a reference"):
        db.query(Post).join("title")
    with pytest.raises(ValidationError, match=r"Writer\.name expects"):
        db.query(Post).filter(F.author.name == 3).find()


def test_path_values_are_bound_parameters(db: Database, statements: StatementLog) -> None:
    evil = "x' OR '1'='1"
    statements.clear()
    assert db.query(Post).filter(F.author.org.name == evil).find() == []
    assert db.query(Post).filter(~(F.author.name == evil)).count() == 4
    assert all(evil not in sql for sql in statements.sql)


@pytest.mark.parametrize("dialect", [SQLiteDialect(), PostgresDialect(), MySQLDialect()])
def test_compiled_path_sql_per_dialect(dialect: object) -> None:
    """The SQL of a path filter, without a database: joins in a SELECT, EXISTS in DML."""
    from core.codec import EntityCodec
    from core.entity import entity_info

    d = dialect  # type: ignore[assignment]
    codec = EntityCodec(entity_info(Post), d)  # type: ignore[arg-type]
    codecs = {codec.info: codec}

    def codec_of(info: object) -> EntityCodec:
        return codecs.setdefault(info, EntityCodec(info, d))  # type: ignore[arg-type]

    q, p = d.quote, d.placeholder  # type: ignore[attr-defined]
    select = Scope(d, codec.info, codec_of, joins=True)  # type: ignore[arg-type]
    params: list[object] = []
    where = compile_where(F.author.org.name == "Acme", codec, params, select)
    order = order_sql([F.author.name.desc()], codec, select)  # type: ignore[list-item]
    assert where == f"{q('_j2')}.{q('name')} = {p}"
    assert select.from_sql() == (
        f"{q('rq_post')} LEFT JOIN {q('rq_writer')} AS {q('_j1')} ON "
        f"{q('_j1')}.{q('id')} = {q('rq_post')}.{q('author')} LEFT JOIN {q('rq_org')} AS "
        f"{q('_j2')} ON {q('_j2')}.{q('id')} = {q('_j1')}.{q('org')}"
    )
    assert order == f" ORDER BY {q('_j1')}.{q('name')} DESC"
    assert params == ["Acme"]
    dml: list[object] = []
    text = compile_where(F.author.name == "Ann", codec, dml, Scope(d, codec.info, codec_of))  # type: ignore[arg-type]
    assert text == (
        f"EXISTS (SELECT 1 FROM {q('rq_writer')} AS {q('_e1')} WHERE {q('_e1')}.{q('id')} = "
        f"{q('rq_post')}.{q('author')} AND {q('_e1')}.{q('name')} = {p})"
    )
    assert dml == ["Ann"]
