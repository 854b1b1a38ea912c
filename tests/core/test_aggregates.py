"""Aggregates, group_by, having, select and distinct: plain rows, on every backend."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core import Database, F, Row, UnknownFieldError, ValidationError
from tests.conftest import StatementLog
from tests.core.reporting import Post, Writer, seed


@pytest.fixture
def db(db_url: str) -> Database:
    return seed(db_url)


def test_aggregates_over_the_whole_table(db: Database) -> None:
    row = (
        db.query(Post)
        .select(
            n=F.count(),
            total=F.views.sum(),
            mean=F.views.avg(),
            low=F.views.min(),
            high=F.views.max(),
            writers=F.writer.count(distinct=True),
            with_writer=F.writer.count(),
        )
        .find_one()
    )
    assert (row.n, row.total, row.low, row.high) == (6, 46, 1, 20)
    assert row.mean == pytest.approx(46 / 6) and isinstance(row.mean, float)
    assert (row.writers, row.with_writer) == (3, 5)
    assert isinstance(row.total, int) and isinstance(row.n, int)


def test_decimal_aggregates_keep_decimals(db: Database) -> None:
    row = (
        db.query(Post).select(total=F.price.sum(), low=F.price.min(), high=F.price.max()).find_one()
    )
    assert row.total == Decimal("16.86") and isinstance(row.total, Decimal)
    assert (row.low, row.high) == (Decimal(0), Decimal("10.01"))


def test_group_by_with_named_aggregates_returns_rows_with_attribute_access(db: Database) -> None:
    rows = (
        db.query(Post)
        .group_by("category")
        .select("category", n=F.id.count(), views=F.views.sum())
        .order_by("category")
        .find()
    )
    assert [tuple(r) for r in rows] == [(1, 2, 30), (2, 2, 12), (3, 2, 4)]
    assert rows[0].category == 1 and rows[0].n == 2 and rows[0]["views"] == 30
    assert isinstance(rows[0], Row) and rows[0]._asdict() == {"category": 1, "n": 2, "views": 30}


def test_group_by_a_reference_groups_by_its_key(db: Database) -> None:
    """Posts per writer: the reference reads as the writer's key; no writer is a group too."""
    rows = (
        db.query(Post)
        .filter(F.writer.is_not_null())
        .group_by("writer")
        .select("writer", n=F.count())
        .order_by("writer")
        .find()
    )
    ids = {w.name: w.id for w in db.query(Writer).find()}
    assert [tuple(r) for r in rows] == [(ids["ann"], 2), (ids["bob"], 2), (ids["cid"], 1)]


def test_having_filters_groups_by_an_aggregate_or_a_selected_name(db: Database) -> None:
    q = db.query(Post).group_by("category").select("category", total=F.views.sum())
    assert [r.category for r in q.having(F.views.sum() > 10).order_by("category").find()] == [1, 2]
    assert [r.category for r in q.having(F.total >= 30).find()] == [1]
    assert [r.category for r in q.having(F.count() == 2, F.views.max() < 7).find()] == [3]
    assert q.having(F.total > 1000).find() == []


def test_order_by_a_selected_name_descending(db: Database) -> None:
    q = db.query(Post).group_by("category").select("category", total=F.views.sum())
    assert [r.category for r in q.order_by("-total").find()] == [1, 2, 3]


def test_select_fields_returns_plain_untracked_rows(db: Database) -> None:
    s = db.create_session()
    rows = s.query(Post).filter(F.views > 6).select("title", "views").order_by("-views").find()
    assert [tuple(r) for r in rows] == [("carl again", 20), ("Carl's day", 10), ("snake_case", 7)]
    assert rows[0].title == "carl again" and rows[0][1] == 20
    assert s.changes().empty if hasattr(s.changes(), "empty") else True
    with pytest.raises(AttributeError, match=r"this row has no column 'nope'; it has title, views"):
        rows[0].nope  # noqa: B018


def test_distinct_leaves_out_repeated_rows(db: Database) -> None:
    q = db.query(Post).select("category").distinct().order_by("category")
    assert [r.category for r in q.find()] == [1, 2, 3]
    assert len(db.query(Post).select("category").find()) == 6


def test_grouped_query_without_select_is_a_clear_error(db: Database) -> None:
    with pytest.raises(ValidationError, match=r"a grouped query returns rows: add select"):
        db.query(Post).group_by("category").find()


def test_unknown_fields_are_refused_before_any_sql(db: Database, statements: StatementLog) -> None:
    """Field paths are names checked against the model; nothing reaches the database."""
    statements.clear()
    for build in (
        lambda: db.query(Post).select("title; DROP TABLE post"),
        lambda: db.query(Post).group_by('category" FROM post; --'),
        lambda: db.query(Post).select(n=F("views) FROM post; --").sum()),
        lambda: db.query(Post).select("title").order_by("-nope"),
    ):
        with pytest.raises(UnknownFieldError):
            build()
    assert statements.sql == []
    assert db.query(Post).count() == 6


def test_select_names_are_quoted_identifiers(db: Database) -> None:
    """A hostile keyword name is only a column alias."""
    rows = db.query(Post).select(**{'x" FROM post; --': F.count()}).find()
    assert rows[0]['x" FROM post; --'] == 6


def test_an_aggregate_needs_a_name(db: Database) -> None:
    with pytest.raises(ValidationError, match=r"select\(\) names an aggregate by keyword"):
        db.query(Post).select(F.views.sum())  # type: ignore[arg-type]


def test_explain_of_a_grouped_query_shows_the_index(db: Database) -> None:
    """The plan of a filtered, grouped query uses the index on ``category``."""
    s = db.create_session()
    s.add(*(Post(title=f"p{i}", category=i % 500, views=i) for i in range(3000)))
    s.commit()
    plan = (
        db.query(Post)
        .filter(F.category == 7)
        .group_by("category")
        .select("category", n=F.count(), total=F.views.sum())
        .explain()
    )
    assert any("ix_post_category" in line for line in plan), plan
    rows = (
        db.query(Post)
        .filter(F.category == 7)
        .group_by("category")
        .select("category", n=F.count())
        .find()
    )
    assert [tuple(r) for r in rows] == [(7, 6)]


def test_group_by_a_relation_path(db: Database) -> None:
    """Posts per writer name through the reference (one LEFT JOIN, shared by every clause);
    posts without a writer form the None group."""
    rows = (
        db.create_session()
        .query(Post)
        .group_by("writer.name")
        .select("writer.name", n=F.id.count(), views=F.views.sum())
        .order_by("writer.name")
        .find()
    )
    got = {r["writer.name"]: (r.n, r.views) for r in rows}
    assert got == {"ann": (2, 30), "bob": (2, 12), "cid": (1, 3), None: (1, 1)}
    assert rows[-1].writer_name in ("ann", "bob", "cid", None)


def test_select_relation_paths_and_filter_through_them(db: Database) -> None:
    rows = (
        db.query(Post)
        .filter(F.writer.name != "ann")
        .select("title", "writer.name", "views")
        .order_by("title")
        .find()
    )
    assert [(r.title, r.writer_name) for r in rows] == [
        ("100% sure", "bob"),
        ("snake_case", "bob"),
        ("Émile ÉTÉ", "cid"),
    ]
    top = (
        db.query(Post)
        .group_by(F.writer.name)
        .having(F.views.sum() > 10)
        .select(F.writer.name, total=F.views.sum())
        .order_by("-total")
        .find()
    )
    assert [(r.writer_name, r.total) for r in top] == [("ann", 30), ("bob", 12)]


def test_relation_paths_in_select_refuse_unknown_names(db: Database) -> None:
    with pytest.raises(UnknownFieldError, match=r"in the path 'writer.name; DROP TABLE post'"):
        db.query(Post).select("writer.name; DROP TABLE post")
    with pytest.raises(UnknownFieldError):
        db.query(Post).group_by('writer."name"')
    with pytest.raises(ValidationError, match=r"Post.title is not a reference"):
        db.query(Post).select("title.name")
