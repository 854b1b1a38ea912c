"""Error lines are capped: a long token is cut to its start, ``…`` and its length.

A 1 MB line typed or piped in used to come back whole in its error (1,000,038 characters).
"""

from __future__ import annotations

import pytest

from core import ValidationError, shorten
from tests.cli.helpers import invoke


def test_a_long_token_is_cut_with_its_length() -> None:
    """Tokens over 200 characters keep 60; short messages are untouched."""
    assert shorten("short message") == "short message"
    cut = shorten("got '" + "x" * 999_995 + "' here")
    assert cut == "got '" + "x" * 59 + "… (999,997 characters) here"  # quotes counted
    many = shorten(" ".join(["word" * 40] * 100))
    assert len(many) < 2_100 and many.endswith("characters)")


def test_core_errors_are_capped_when_raised() -> None:
    """Every ``OrmError`` shortens its message."""
    error = ValidationError("User.name expects str, got " + repr("y" * 1_000_000))
    assert len(str(error)) < 200 and "(1,000,002 characters)" in str(error)


@pytest.mark.parametrize(
    ("line", "length"),
    [
        ('add User email="a@x.org" name="' + "x" * 1_000_000 + '"', "1,000,002"),
        ("add User " + "x" * 1_000_000, "1,000,003"),
        ("find User where name == " + "y" * 1_000_000, "1,000,002"),
    ],
)
def test_a_one_megabyte_line_gives_a_short_error(
    db_url: str, blog_models: str, line: str, length: str
) -> None:
    """``run -`` with a 1 MB line: one short error line naming the token's length."""
    invoke(["--db", db_url, "--models", blog_models, "migrate"])
    result = invoke(["--db", db_url, "--models", blog_models, "run", "-"], input=line + "\n")
    assert result.exit_code == 1
    first = result.stderr.splitlines()[0]
    assert len(result.stderr) < 600 and f"({length} characters)" in first
