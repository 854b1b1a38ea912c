"""Raw SQL: session.raw (identity-mapped), database.raw (untracked), database.raw_rows."""

from __future__ import annotations

import pytest

from core import Database, F, ValidationError
from tests.conftest import StatementLog
from tests.core.reporting import Post, Writer, seed

EVIL = "x'); DROP TABLE post; --"


@pytest.fixture
def db(db_url: str) -> Database:
    return seed(db_url)


def test_session_raw_returns_identity_mapped_tracked_entities(db: Database) -> None:
    s = db.create_session()
    ann = s.query(Writer).filter(name="ann").find_one()
    ann.name = "ann (unsaved)"
    got = s.raw(Writer, "SELECT * FROM writer WHERE name IN (?, ?) ORDER BY id", ["ann", "bob"])
    assert got[0] is ann and got[0].name == "ann (unsaved)"  # not overwritten
    got[1].name = "robert"
    s.commit()
    assert db.query(Writer).filter(name="robert").count() == 1


def test_named_parameters_and_percent_signs(db: Database) -> None:
    """:name values (used twice), a literal % in the text, and a :: cast left alone."""
    rows = db.raw_rows(
        "SELECT title FROM post WHERE title LIKE '100%' OR (views >= :v AND views >= :v)"
        " ORDER BY title",
        {"v": 20},
    )
    assert [r.title for r in rows] == ["100% sure", "carl again"]


def test_database_raw_returns_untracked_objects_with_columns_by_name(db: Database) -> None:
    posts = db.raw(Post, "SELECT * FROM post WHERE views > ? ORDER BY views DESC", [6])
    assert [p.title for p in posts] == ["carl again", "Carl's day", "snake_case"]
    assert posts[0].writer.name == "ann"  # references load lazily
    again = db.raw(Post, "SELECT * FROM post WHERE views > ? ORDER BY views DESC", [6])
    assert again[0] is not posts[0]


def test_raw_rows_read_by_name_and_position(db: Database) -> None:
    rows = db.raw_rows(
        "SELECT category, COUNT(*) AS n FROM post GROUP BY category ORDER BY category"
    )
    assert [(r.category, int(r.n)) for r in rows] == [(1, 2), (2, 2), (3, 2)]
    assert int(rows[0][1]) == 2 and int(rows[0]["n"]) == 2


def test_raw_parameters_are_bound_never_formatted(db: Database, statements: StatementLog) -> None:
    """An injection attempt through a raw parameter is a value: the table survives."""
    statements.clear()
    assert db.raw(Post, "SELECT * FROM post WHERE title = ?", [EVIL]) == []
    assert db.raw_rows("SELECT id FROM post WHERE title = :t", {"t": EVIL}) == []
    assert all(EVIL not in sql for sql in statements.sql)
    s = db.create_session()
    s.add(Post(title=EVIL))
    s.commit()
    assert [p.title for p in s.raw(Post, "SELECT * FROM post WHERE title = ?", [EVIL])] == [EVIL]
    assert db.query(Post).count() == 7


def test_a_question_mark_inside_a_string_is_text(db: Database) -> None:
    rows = db.raw_rows("SELECT 'why?' AS q, title FROM post WHERE title = ?", ["snake_case"])
    assert [tuple(r) for r in rows] == [("why?", "snake_case")]


def test_raw_entities_need_every_column(db: Database) -> None:
    with pytest.raises(ValidationError, match=r"must return every column of 'post'; missing: "):
        db.raw(Post, "SELECT id, title FROM post")


@pytest.mark.parametrize(
    ("sql", "params", "message"),
    [
        ("SELECT * FROM post WHERE id = ?", [], r"1 \? placeholder\(s\) but 0 value\(s\)"),
        ("SELECT * FROM post WHERE id = :id", {}, r"uses :id but no value named 'id'"),
        ("SELECT * FROM post", {"id": 1}, r"values given but not used in the SQL: id"),
        ("SELECT * FROM post WHERE title = 'x", None, r"unclosed ' quote"),
        ("SELECT * FROM post WHERE id = ?", "1", r"takes its values as a list"),
    ],
)
def test_placeholder_mistakes_are_one_clear_line(
    db: Database, sql: str, params: object, message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        db.raw(Post, sql, params)  # type: ignore[arg-type]


def test_raw_errors_from_the_database_are_typed(db: Database) -> None:
    from core import DatabaseError

    with pytest.raises(DatabaseError, match=r"^cannot run raw SQL: "):
        db.raw_rows("SELECT nope FROM post")
    assert db.query(Post).filter(F.views > 0).count() == 6


def test_session_raw_rows_repeating_a_key_give_one_object_per_row(db: Database) -> None:
    """Every writer twice (keys not ascending): one object per key, at both of its rows, and
    one object per row (the load read its one chunk again after mapping the repeats)."""
    s = db.create_session()
    n = db.query(Writer).count()
    got = s.raw(Writer, "SELECT * FROM writer UNION ALL SELECT * FROM writer")
    assert len(got) == 2 * n and len({id(w) for w in got}) == n
    by_id = {w.id: w for w in got}
    assert all(by_id[w.id] is w for w in got)
