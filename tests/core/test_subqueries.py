"""Subqueries: F.x.in_(query) and F.exists(query) run inside the one statement."""

from __future__ import annotations

import pytest

from core import Database, F, ValidationError, outer
from tests.conftest import StatementLog
from tests.core.reporting import Post, Writer, seed


@pytest.fixture
def db(db_url: str) -> Database:
    return seed(db_url)


def test_in_a_query_is_one_statement(db: Database, statements: StatementLog) -> None:
    """Writers of posts with more than 6 views: the inner query is compiled, not run first."""
    busy = db.query(Post).filter(F.views > 6).select("writer")
    statements.clear()
    names = sorted(w.name for w in db.query(Writer).filter(F.id.in_(busy)).find())
    assert names == ["ann", "bob"]
    assert len(statements.dml()) == 1 and " IN (SELECT " in statements.dml()[0]


def test_a_reference_in_an_entity_query_compares_with_its_key(db: Database) -> None:
    """An entity query used as a subquery selects its key."""
    named_b = db.query(Writer).filter(F.name.like("b%"))
    assert sorted(p.title for p in db.query(Post).filter(F.writer.in_(named_b)).find()) == [
        "100% sure",
        "snake_case",
    ]
    others = db.query(Post).filter(F.writer.not_in(named_b), F.writer.is_not_null()).find()
    assert sorted(p.title for p in others) == ["Carl's day", "carl again", "Émile ÉTÉ"]


def test_exists_correlated_with_outer(db: Database) -> None:
    """Writers with a post of category 3: the subquery names the outer row with outer()."""
    has_cat3 = db.query(Post).filter(F.writer == outer("id"), F.category == 3)
    assert [w.name for w in db.query(Writer).filter(F.exists(has_cat3)).find()] == ["cid"]
    without = db.query(Writer).filter(~F.exists(has_cat3)).order_by("name").find()
    assert [w.name for w in without] == ["ann", "bob"]


def test_a_subquery_of_the_same_entity_is_told_apart(db: Database) -> None:
    """Posts with more views than every other post in their category (self-correlated)."""
    better = db.query(Post).filter(F.category == outer("category"), F.views > outer("views"))
    top = db.query(Post).filter(~F.exists(better)).order_by("category").find()
    assert [p.title for p in top] == ["carl again", "snake_case", "Émile ÉTÉ"]


def test_subquery_values_are_bound_in_order(db: Database) -> None:
    """Values of the outer and inner filters keep their places (positional placeholders)."""
    inner = db.query(Post).filter(F.title == "x' OR 1=1 --").select("writer")
    q = db.query(Writer).filter(F.name != "zed", F.id.in_(inner), F.name != "y")
    assert q.find() == []
    inner = db.query(Post).filter(F.views >= 20).select("writer")
    assert [w.name for w in db.query(Writer).filter(F.name != "zed", F.id.in_(inner)).find()] == [
        "ann"
    ]


def test_a_subquery_selects_one_column(db: Database) -> None:
    with pytest.raises(ValidationError, match=r"a subquery selects one column"):
        db.query(Writer).filter(F.id.in_(db.query(Post).select("writer", "id"))).find()


def test_outer_outside_a_subquery_is_a_clear_error(db: Database) -> None:
    with pytest.raises(ValidationError, match=r"outer\('id'\) is only meaningful inside"):
        db.query(Writer).filter(F.id == outer("id")).find()


def test_in_with_a_grouped_subquery(db: Database) -> None:
    """Categories whose views sum above 10, as a grouped subquery with HAVING."""
    big = db.query(Post).group_by("category").having(F.views.sum() > 10).select("category")
    titles = sorted(p.title for p in db.query(Post).filter(F.category.in_(big)).find())
    assert titles == ["100% sure", "Carl's day", "carl again", "snake_case"]
