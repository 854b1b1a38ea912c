"""JSON paths F.attrs["a"]["b"] in filters, order_by and select, per backend alike."""

from __future__ import annotations

import pytest

from core import Database, F, UnknownFieldError, ValidationError
from tests.conftest import StatementLog
from tests.core.reporting import Post, seed


@pytest.fixture
def db(db_url: str) -> Database:
    return seed(db_url)


def titles(db: Database, expr: object) -> list[str]:
    return sorted(p.title for p in db.query(Post).filter(expr).find())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        (F.attrs["color"] == "red", ["100% sure", "Carl's day"]),
        (F.attrs["color"] != "red", ["carl again", "snake_case"]),
        (F.attrs["rank"] > 5, ["100% sure", "carl again"]),
        (F.attrs["rank"] <= 2, ["Carl's day", "snake_case"]),
        (F.attrs["size"]["w"] == 3, ["Carl's day"]),
        (F.attrs["size"]["w"] >= 2, ["Carl's day", "snake_case"]),
        (F.attrs["flag"] == True, ["100% sure"]),  # noqa: E712
        (F.attrs["color"].is_null(), ["back\\slash", "Émile ÉTÉ"]),
        (F.attrs["label"] == "x.y", ["back\\slash"]),
        (F.attrs["color"].in_(["green", "blue"]), ["carl again", "snake_case"]),
        (F.attrs["color"].like("r%"), ["100% sure", "Carl's day"]),
        (F.attrs["rank"] == 2.0, ["Carl's day"]),
    ],
)
def test_json_paths_in_filters(db: Database, expr: object, expected: list[str]) -> None:
    assert titles(db, expr) == expected


def test_order_by_a_json_path_sorts_numbers_by_value(db: Database) -> None:
    q = db.query(Post).filter(F.attrs["rank"].is_not_null())
    assert [p.attrs["rank"] for p in q.order_by(F.attrs["rank"]).find()] == [1, 2, 5, 9, 10]
    assert [p.attrs["rank"] for p in q.order_by(F.attrs["rank"].desc()).find()] == [10, 9, 5, 2, 1]
    colors = db.query(Post).filter(F.attrs["color"].is_not_null()).order_by(F.attrs["color"], "id")
    assert [p.attrs["color"] for p in colors.find()] == ["blue", "green", "red", "red"]


def test_select_a_json_path_gives_its_value(db: Database) -> None:
    rows = db.query(Post).filter(F.attrs["size"].is_not_null()).order_by("id")
    got = rows.select("title", F.attrs["size"], w=F.attrs["size"]["w"], c=F.attrs["color"]).find()
    assert got[0].attrs_size == {"w": 3} and got[0].w == 3 and got[0].c == "red"
    assert [r.w for r in got] == [3, 1, 2]


def test_json_keys_are_bound_never_written_into_the_sql(
    db: Database, statements: StatementLog
) -> None:
    """A hostile key is a value of the path parameter; it simply finds nothing."""
    evil = "x') OR 1=1 --"
    statements.clear()
    assert titles(db, F.attrs[evil] == "red") == []
    assert titles(db, F.attrs["color"][evil].is_not_null()) == []
    assert db.query(Post).order_by(F.attrs[evil]).count() == 6
    assert all(evil not in sql for sql in statements.sql)


def test_keys_that_no_backend_addresses_alike_are_refused(db: Database) -> None:
    with pytest.raises(
        ValidationError, match=r"the JSON key 'a\"b' in F.attrs\['a\"b'\] has a double quote"
    ):
        db.query(Post).filter(F.attrs['a"b'] == 1).find()


def test_a_path_on_a_field_that_is_not_json_is_refused(db: Database) -> None:
    with pytest.raises(ValidationError, match=r"Post.title is not a JSON field"):
        db.query(Post).filter(F.title["a"] == 1).find()
    with pytest.raises(UnknownFieldError):
        db.query(Post).filter(F.nope["a"] == 1).find()


def test_json_comparisons_take_scalars_only(db: Database) -> None:
    with pytest.raises(ValidationError, match=r"compares with text, numbers and booleans"):
        db.query(Post).filter(F.attrs["size"] == {"w": 3}).find()
