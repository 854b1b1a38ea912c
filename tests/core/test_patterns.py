"""like, ilike, like_escape and matches give the same answers on every backend."""

from __future__ import annotations

import pytest

from core import Database, F, ValidationError, like_escape
from tests.core.reporting import Post, seed


@pytest.fixture
def db(db_url: str) -> Database:
    return seed(db_url)


def titles(db: Database, expr: object) -> list[str]:
    return sorted(p.title for p in db.query(Post).filter(expr).find())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        (F.title.like("carl%"), ["carl again"]),
        (F.title.like("Carl%"), ["Carl's day"]),
        (
            F.title.not_like("carl%"),
            ["100% sure", "Carl's day", "back\\slash", "snake_case", "Émile ÉTÉ"],
        ),
        (F.title.like("_arl%"), ["Carl's day", "carl again"]),
        (F.title.like("%ÉTÉ"), ["Émile ÉTÉ"]),
        (F.title.like("%été"), []),
        (F.title.ilike("carl%"), ["Carl's day", "carl again"]),
        (F.title.ilike("CARL%"), ["Carl's day", "carl again"]),
        (F.title.ilike("%été"), ["Émile ÉTÉ"]),
        (F.title.not_ilike("carl%"), ["100% sure", "back\\slash", "snake_case", "Émile ÉTÉ"]),
    ],
)
def test_like_is_case_sensitive_and_ilike_is_not_on_every_backend(
    db: Database, expr: object, expected: list[str]
) -> None:
    """`like "carl%"` finds "carl again" but not "Carl's day" everywhere; ilike finds both,
    folding non-ASCII letters too."""
    assert titles(db, expr) == expected


def test_like_escape_makes_wildcards_and_backslash_literal(db: Database) -> None:
    """`%`, `_` and `\\` escaped by like_escape match only themselves."""
    assert titles(db, F.title.like(like_escape("100%") + "%")) == ["100% sure"]
    assert titles(db, F.title.like("%" + like_escape("_") + "%")) == ["snake_case"]
    assert titles(db, F.title.like("%" + like_escape("\\") + "%")) == ["back\\slash"]
    assert titles(db, F.title.ilike("%" + like_escape("KE_C") + "%")) == ["snake_case"]
    # unescaped, `_` matches any one character and `%` any text
    assert titles(db, F.title.like("1__% sure")) == ["100% sure"]
    assert like_escape("a%b_c\\d") == "a\\%b\\_c\\\\d"


def test_glob_characters_are_plain_text_in_like(db: Database) -> None:
    """`*`, `?` and `[` mean nothing special in a like pattern (SQLite's GLOB is hidden)."""
    s = db.create_session()
    s.add(Post(title="a*b?[c]"))
    s.commit()
    assert titles(db, F.title.like("a*b?[c]")) == ["a*b?[c]"]
    assert titles(db, F.title.like("a*%")) == ["a*b?[c]"]
    assert titles(db, F.title.like("ab%")) == []


def test_a_pattern_ending_in_a_lone_backslash_is_refused(db: Database) -> None:
    with pytest.raises(ValidationError, match=r"ends with an escaping backslash"):
        db.query(Post).filter(F.title.like("back\\")).find()
    assert titles(db, F.title.like("%\\\\")) == []


def test_matches_searches_a_regular_expression(db: Database) -> None:
    assert titles(db, F.title.matches("^[Cc]arl")) == ["Carl's day", "carl again"]
    assert titles(db, F.title.matches("again$")) == ["carl again"]
    assert titles(db, F.title.matches("^carl")) == ["carl again"]
    assert "carl again" not in titles(db, ~F.title.matches("carl"))
    assert titles(db, F.title.matches("[0-9]+%")) == ["100% sure"]


def test_a_bad_regular_expression_is_one_clear_error(db: Database) -> None:
    with pytest.raises(ValidationError, match=r"matches\(\) takes a regular expression; '\('"):
        db.query(Post).filter(F.title.matches("(")).find()


def test_patterns_are_bound_never_written_into_the_sql(db: Database) -> None:
    """An injection attempt through a pattern is only text to match."""
    evil = "x' OR '1'='1"
    assert titles(db, F.title.like(evil)) == []
    assert titles(db, F.title.ilike(evil)) == []
    assert titles(db, F.title.matches(evil)) == []
    assert db.query(Post).count() == 6
