"""The where-expression parser: precedence, every operator, and its error messages."""

from __future__ import annotations

import pytest

from ormcli.errors import ParseError
from ormcli.literals import Lit
from ormcli.tokens import TokenStream
from ormcli.where import And, Compare, In, IsNull, Like, Not, Or, fields_of, parse_where


def where(text: str) -> object:
    stream = TokenStream(text)
    expr = parse_where(stream)
    stream.expect_end("after the condition")
    return expr


def test_and_binds_tighter_than_or_and_not_tighter_than_and() -> None:
    """a or b and not c == a or (b and (not c))."""
    assert where("a = 1 or b = 2 and not c = 3") == Or(
        (
            Compare("a", "==", Lit(1, "1")),
            And((Compare("b", "==", Lit(2, "2")), Not(Compare("c", "==", Lit(3, "3"))))),
        )
    )


def test_parentheses_group() -> None:
    """Parentheses override precedence."""
    assert where("(a = 1 or b = 2) and c != 3") == And(
        (
            Or((Compare("a", "==", Lit(1, "1")), Compare("b", "==", Lit(2, "2")))),
            Compare("c", "!=", Lit(3, "3")),
        )
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a == 1", Compare("a", "==", Lit(1, "1"))),
        ("a <> 1", Compare("a", "!=", Lit(1, "1"))),
        ("a < 1", Compare("a", "<", Lit(1, "1"))),
        ("a <= 1", Compare("a", "<=", Lit(1, "1"))),
        ("a > 1", Compare("a", ">", Lit(1, "1"))),
        ('a >= "x"', Compare("a", ">=", Lit("x", '"x"'))),
        ("a in (1, 2)", In("a", (Lit(1, "1"), Lit(2, "2")))),
        ("a not in (1)", In("a", (Lit(1, "1"),), negated=True)),
        ('a like "A%"', Like("a", "A%")),
        ('a NOT LIKE "A%"', Like("a", "A%", negated=True)),
        ("a is null", IsNull("a")),
        ("a is not null", IsNull("a", negated=True)),
    ],
)
def test_every_operator_parses(text: str, expected: object) -> None:
    """Comparisons, in, like and is null, each optionally negated."""
    assert where(text) == expected


def test_fields_of_lists_every_field_mentioned() -> None:
    """fields_of walks the whole tree."""
    expr = where("a = 1 and (b is null or not c in (1))")
    assert fields_of(expr) == ["a", "b", "c"]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "expected a condition after 'where', got end of line"),
        (
            "a",
            "expected an operator (= != < <= > >= in like is any none) after 'a', got end of line",
        ),
        ("a = ", "expected a value after 'a =', got end of line"),
        ("a like 3", "expected a quoted pattern after 'a like', got '3'"),
        ("a is 3", "expected 'null' after 'is', got '3'"),
        ("a in 1", "expected '(' after 'a in', got '1'"),
        ("(a = 1", "expected ')' to close '(', got end of line"),
        ("a = 1 and", "expected a field name in the condition, got end of line"),
        ("= 1", "expected a field name in the condition, got '='"),
    ],
)
def test_bad_expressions_raise_parse_errors(text: str, message: str) -> None:
    """A malformed condition names what was expected."""
    with pytest.raises(ParseError) as caught:
        where(text)
    assert str(caught.value) == message
