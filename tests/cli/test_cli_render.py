"""Rich rendering, asserted as plain text on a colourless console."""

from __future__ import annotations

from io import StringIO

import pytest
from rich.console import Console

from ormcli import results as r
from ormcli.render import OutputOptions, commit_line, render, render_error, summary_line


def draw(result: r.Result, width: int = 80) -> str:
    out = StringIO()
    render(Console(file=out, color_system=None, width=width), result)
    return out.getvalue()


CHANGES = r.ChangeSetView(
    added=(
        r.AddedEntry("User", "@1", (("email", '"ann@example.com"'), ("name", '"Ann"'))),
        r.AddedEntry("Post", "@2", (("author", "@1"), ("title", '"Hello"'))),
    ),
    changed=(r.ChangedEntry("User", "3", (r.FieldChange("name", '"Bob"', '"Robert"'),)),),
    removed=(r.RemovedEntry("Comment", "7", (("email", '"x@y"'),)),),
)


def test_status_shows_symbols_fields_old_to_new_and_a_summary() -> None:
    """+ new entities with fields, ~ changed with old → new, - removed, then the counts."""
    assert draw(CHANGES) == (
        "+ User @1\n"
        '    email = "ann@example.com"\n'
        '    name = "Ann"\n'
        "+ Post @2\n"
        "    author = @1\n"
        '    title = "Hello"\n'
        "~ User 3\n"
        '    name: "Bob" → "Robert"\n'
        '- Comment 7  email="x@y"\n'
        "2 to add, 1 to change, 1 to remove\n"
    )


def test_status_with_sql_lists_the_statements_after_the_summary() -> None:
    """status --sql appends the batched statements with their parameters."""
    view = r.ChangeSetView(
        added=CHANGES.added,
        sql=(
            r.SqlStatement('INSERT INTO "user" (email, name) VALUES (?, ?)', ('"a"', '"b"')),
            r.SqlStatement('DELETE FROM "comment" WHERE id IN (?, ?)', ("7", "8"), rows=2),
        ),
    )
    text = draw(view, width=120)
    assert text.endswith(
        "2 to add, 0 to change, 0 to remove\n"
        "-- SQL (2 statements):\n"
        'INSERT INTO "user" (email, name) VALUES (?, ?);  -- params: "a", "b"\n'
        'DELETE FROM "comment" WHERE id IN (?, ?);  -- 2 rows; params: 7, 8\n'
    )


def test_an_empty_change_set_says_nothing_to_commit() -> None:
    """No staged work reads as one line."""
    assert draw(r.ChangeSetView()) == "nothing to commit\n"
    assert summary_line(r.ChangeSetView()) == "nothing to commit"


def test_commit_summary_counts_in_words() -> None:
    """The commit line pluralises and shows the statement count and time."""
    assert commit_line(r.Committed(2, 1, 1, 3, 4.12)) == (
        "committed 2 inserts, 1 update, 1 delete in 3 statements (4.1 ms)"
    )
    assert commit_line(r.Committed(1, 0, 0, 1, 0.5)) == "committed 1 insert in 1 statement (0.5 ms)"
    assert draw(r.Committed(0, 2, 0, 1, 1.0)) == "committed 2 updates in 1 statement (1.0 ms)\n"


def test_rows_render_as_a_table_with_a_row_count() -> None:
    """On a terminal find results are a table; a null cell reads NULL."""
    rows = r.Rows("User", ("id", "name", "bio"), (("1", "Ann", None), ("2", "Bob", "hi")))
    out = StringIO()
    render(Console(file=out, color_system=None, width=80, force_terminal=True), rows)
    lines = [line.strip() for line in out.getvalue().splitlines() if line.strip()]
    assert lines == [
        "id   name   bio",
        "──────────────────",
        "1    Ann    NULL",
        "2    Bob    hi",
        "(2 rows)",
    ]


def test_rows_to_a_pipe_are_unpadded_and_never_wrapped() -> None:
    """Not a terminal: plain aligned columns with no trailing blanks and no wrapping, however
    long a value; the footer goes where the options say (stderr in the app)."""
    long = "x" * 500
    rows = r.Rows("User", ("id", "name", "bio"), (("1", "Ann", None), ("2", "Bob", long)))
    out, err = StringIO(), StringIO()
    footer = Console(file=err, color_system=None)
    render(Console(file=out, color_system=None, width=80), rows, OutputOptions(footer=footer))
    assert out.getvalue().splitlines() == [
        "id  name  bio",
        "--  ----  " + "-" * 500,
        "1   Ann   NULL",
        "2   Bob   " + long,
    ]
    assert err.getvalue() == "(2 rows)\n"


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("csv", 'id,name,bio\n1,"A, B",\n2,Bob,hi\n'),
        ("tsv", "id\tname\tbio\n1\tA, B\t\n2\tBob\thi\n"),
        (
            "jsonl",
            '{"id": 1, "name": "A, B", "bio": null}\n{"id": 2, "name": "Bob", "bio": "hi"}\n',
        ),
        (
            "json",
            '[{"id": 1, "name": "A, B", "bio": null}\n,{"id": 2, "name": "Bob", "bio": "hi"}\n]\n',
        ),
        (
            "vertical",
            "-[ RECORD 1 ]----\nid   | 1\nname | A, B\nbio  | NULL\n"
            "-[ RECORD 2 ]----\nid   | 2\nname | Bob\nbio  | hi\n",
        ),
    ],
)
def test_rows_in_each_output_format(fmt: str, expected: str) -> None:
    """csv quotes where needed and leaves nulls empty; tsv too; JSON keeps numbers and null."""
    rows = r.Rows(
        "User",
        ("id", "name", "bio"),
        (("1", "A, B", None), ("2", "Bob", "hi")),
        values=((1, "A, B", None), (2, "Bob", "hi")),
    )
    out, err = StringIO(), StringIO()
    options = OutputOptions(format=fmt, footer=Console(file=err, color_system=None))
    render(Console(file=out, color_system=None, width=80), rows, options)
    assert out.getvalue() == expected
    assert err.getvalue() == "(2 rows)\n"


def test_a_long_value_is_cut_in_a_terminal_table_and_in_echoes() -> None:
    """A 50,000-character value: the table cell ends in … within the screen, the add echo
    shows 80 characters."""
    long = "y" * 50_000
    out = StringIO()
    console = Console(file=out, color_system=None, width=80, force_terminal=True)
    render(console, r.Rows("Post", ("id", "body"), (("1", long),)))
    assert all(len(line) <= 80 for line in out.getvalue().splitlines())
    assert "…" in out.getvalue()
    echo = draw(r.Staged("@1", "Post", (("body", '"' + long + '"'),)))
    assert len(echo.strip()) < 120
    assert echo.rstrip().endswith("…")


def test_a_large_change_set_is_summarised_and_all_lists_it() -> None:
    """Past 20 entries of a kind status counts the rest; show_all (status --all) lists them."""
    removed = tuple(r.RemovedEntry("Tag", str(i), ()) for i in range(32_000))
    text = draw(r.ChangeSetView(removed=removed))
    assert text.count("- Tag ") == 20
    assert "- … and 31,980 more to remove (status --all lists every one)" in text
    assert text.rstrip().endswith("0 to add, 0 to change, 32000 to remove")
    full = draw(r.ChangeSetView(removed=removed[:30], show_all=True))
    assert full.count("- Tag ") == 30


def test_removing_many_rows_echoes_a_summary() -> None:
    """remove ... where matching 32,000 rows prints 20 lines and a count."""
    text = draw(r.RemovedItems("Tag", tuple(str(i) for i in range(32_000))))
    assert len(text.splitlines()) == 21
    assert "- … and 31,980 more Tag (status --all lists every one)" in text


def test_one_row_from_show_renders_as_a_vertical_record() -> None:
    """show prints field / value pairs under the entity name."""
    rows = r.Rows("User", ("id", "name"), (("1", "Ann"),), record=True)
    lines = [line.rstrip() for line in draw(rows).splitlines()]
    assert "User" in lines[0]
    assert any(line.split() == ["id", "1"] for line in lines)
    assert any(line.split() == ["name", "Ann"] for line in lines)


def test_user_text_is_never_read_as_markup() -> None:
    """Brackets in data are printed as they are."""
    assert draw(r.Message("[bold]x[/bold]")) == "[bold]x[/bold]\n"
    staged = r.Staged("@1", "User", (("name", '"[red]Ann"'),))
    assert draw(staged) == '+ @1 User  name="[red]Ann"\n'


def test_staging_echoes_read_without_colour() -> None:
    """add, set and remove echo with + ~ - symbols."""
    assert draw(r.Modified("User", "3", (r.FieldChange("age", "1", "2"),))) == (
        "~ User 3\n    age: 1 → 2\n"
    )
    assert draw(r.RemovedItems("User", ("3", "@4"), unstaged=1)) == (
        "- User 3\n- User @4\n(1 new entity unstaged, never written)\n"
    )
    assert draw(r.Counted("User", 7)) == "7\n"


def test_errors_are_one_line_with_a_prefix() -> None:
    """render_error writes 'error: message' (or a given prefix such as file:line)."""
    out = StringIO()
    console = Console(file=out, color_system=None, width=40)
    render_error(console, "a long message that is wider than the forty columns of this console")
    render_error(console, "boom", prefix="seed.orm:3: ")
    assert out.getvalue() == (
        "error: a long message that is wider than the forty columns of this console\n"
        "seed.orm:3: boom\n"
    )


def test_migration_and_help_render() -> None:
    """migrate lists statements then what happened; help aligns usages."""
    view = r.MigrationView(('CREATE TABLE "user" (id INTEGER)',), ("drop column x",), applied=False)
    assert draw(view) == (
        'CREATE TABLE "user" (id INTEGER);\nrefused: drop column x\ndry run: 1 statement not run\n'
    )
    assert draw(r.MigrationView((), (), applied=False)) == "the schema is up to date\n"
    help_view = r.HelpView((r.HelpEntry("undo", "unstage"), r.HelpEntry("commit", "write")))
    assert draw(help_view) == "undo    unstage\ncommit  write\n"
