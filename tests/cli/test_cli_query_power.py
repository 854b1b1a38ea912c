"""The command language's select lists, aggregates, group by, distinct and ``count ... by``,
their completion, and ``ormcli find --select / --group-by / --distinct / --format``."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

from ormcli.errors import ParseError
from ormcli.language import Count, Find, SelectItem, parse
from tests.cli.helpers import invoke
from tests.cli.test_cli_repl import completions

SCRIPT = """migrate
add User email="ann@example.com" name="Ann"
add User email="bob@example.com" name="Bob"
add Post author=@1 title="one" body="a"
add Post author=@1 title="two" body="a"
add Post author=@2 title="three" body="b"
"""


@pytest.fixture
def base(db_url: str, blog_models: str) -> list[str]:
    result = invoke(["--db", db_url, "--models", blog_models, "run", "-"], input=SCRIPT)
    assert result.exit_code == 0, result.stderr
    return ["--db", db_url, "--models", blog_models]


def test_parse_select_list_group_by_and_count_by() -> None:
    """Fields, paths, aggregates (named or not) and count() parse into SelectItems."""
    command = parse("find Post select author.name, n=count(), sum(id) group by author.name")
    assert command == Find(
        "Post",
        select=(
            SelectItem("author.name"),
            SelectItem(None, "count", "n"),
            SelectItem("id", "sum"),
        ),
        group_by=("author.name",),
    )
    assert [i.label for i in command.select] == ["author.name", "n", "sum_id"]  # type: ignore[attr-defined]
    assert parse("count Post by author") == Count("Post", None, ("author",))
    assert parse("find Post select body distinct") == Find(
        "Post", select=(SelectItem("body"),), distinct=True
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("find Post select median(id)", "unknown aggregate 'median'"),
        ("find Post select sum(id", "expected ')' after sum(id"),
        ("find Post where id > 1 select title", "unexpected 'select'"),
        ("find Post group title", "expected 'by' after 'group'"),
    ],
)
def test_select_mistakes_are_one_clear_line(line: str, message: str) -> None:
    with pytest.raises(ParseError, match=re.escape(message)):
        parse(line)


def test_completion_offers_select_words_fields_and_aggregates() -> None:
    assert completions("find Post ") == [
        "select",
        "distinct",
        "where",
        "group by",
        "order by",
        "limit",
    ]
    assert completions("find Post select ") == [
        "id",
        "author",
        "title",
        *[f"{f}(" for f in ("count", "sum", "avg", "min", "max")],
    ]
    assert completions("find Post select s") == ["sum("]
    assert completions("find Post group by ")[:3] == ["id", "author", "title"]
    assert completions("count Post ") == ["by", "where"]
    assert completions("count Post by ")[:3] == ["id", "author", "title"]


def test_count_by_prints_one_count_per_group(base: list[str]) -> None:
    result = invoke([*base, "run", "-"], input="count Post by body\n")
    assert result.exit_code == 0, result.stderr
    lines = [" ".join(line.split()) for line in result.stdout.splitlines()]
    assert "a 2" in lines and "b 1" in lines


def test_find_select_group_by_a_relation_path_as_json(base: list[str]) -> None:
    result = invoke(
        [
            *base,
            "find",
            "Post",
            "--select",
            "author.name, n=count(), last=max(id)",
            "--group-by",
            "author.name",
            "--order-by",
            "-n",
            "--format",
            "json",
        ]
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == [
        {"author.name": "Ann", "n": 2, "last": 2},
        {"author.name": "Bob", "n": 1, "last": 3},
    ]


@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl"])
def test_find_formats(base: list[str], fmt: str) -> None:
    """Entities and projections in csv, tsv (a header, then rows) and jsonl (object a line)."""
    result = invoke([*base, "find", "Post", "--order-by", "id", "--format", fmt])
    assert result.exit_code == 0, result.stderr
    if fmt == "jsonl":
        rows = [json.loads(line) for line in result.stdout.splitlines()]
        assert [(r["title"], r["author"], r["body"]) for r in rows] == [
            ("one", 1, "a"),
            ("two", 1, "a"),
            ("three", 2, "b"),
        ]
    else:
        reader = csv.reader(io.StringIO(result.stdout), delimiter="," if fmt == "csv" else "\t")
        header, *rows = list(reader)
        assert header[:3] == ["id", "author", "title"]
        assert [r[2] for r in rows] == ["one", "two", "three"]
        assert rows[0][header.index("published")] == ""  # None is an empty field
    distinct = invoke([*base, "find", "Post", "--select", "body", "--distinct", "-f", fmt])
    assert distinct.exit_code == 0, distinct.stderr
    lines = distinct.stdout.splitlines()
    if fmt == "jsonl":
        assert sorted(json.loads(line)["body"] for line in lines) == ["a", "b"]
    else:
        assert lines[0] == "body" and sorted(lines[1:]) == ["a", "b"]


def test_find_select_in_the_repl_language_prints_a_table(base: list[str]) -> None:
    result = invoke(
        [*base, "run", "-"],
        input="find Post select author.name, total=count() group by author.name order by total\n",
    )
    assert result.exit_code == 0, result.stderr
    lines = [" ".join(line.split()) for line in result.stdout.splitlines()]
    assert any(line.startswith("Bob 1") for line in lines)
    assert any(line.startswith("Ann 2") for line in lines)


def test_hostile_field_paths_and_formats_are_refused(base: list[str]) -> None:
    """A select item is a name checked against the model; nothing reaches the SQL."""
    bad = invoke([*base, "find", "Post", "--select", "title; DROP TABLE post"])
    assert bad.exit_code == 2 and "--select" in bad.stderr
    unknown = invoke([*base, "find", "Post", "--select", "author.nope"])
    assert unknown.exit_code != 0 and "nope" in unknown.stderr
    assert len(unknown.stderr.splitlines()) == 1
    fmt = invoke([*base, "find", "Post", "--format", "xml"])
    assert fmt.exit_code == 2
    still = invoke([*base, "find", "Post", "--format", "json"])
    assert len(json.loads(still.stdout)) == 3


def test_a_select_list_with_staged_work_on_the_entity_is_refused(base: list[str]) -> None:
    """Grouped answers come from the database: with staged rows they would be wrong, so the
    line fails (the staged work stays) instead."""
    script = 'add Post author=1 title="four" body="a"\ncount Post by body\n'
    result = invoke([*base, "run", "-"], input=script)
    assert result.exit_code == 1
    assert "a select list or count by reads the database" in result.stderr
    assert "commit or rollback first" in result.stderr
