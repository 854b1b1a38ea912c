"""The command parser: every command parses into its dataclass, and bad lines raise ParseError
with a message naming what was expected and what was found."""

from __future__ import annotations

import pytest

from ormcli.errors import ParseError
from ormcli.language import (
    Add,
    Assignment,
    Commit,
    Count,
    Find,
    Help,
    Key,
    Load,
    Migrate,
    Models,
    OrderBy,
    Quit,
    Remove,
    Rollback,
    Set,
    Show,
    Status,
    Undo,
    parse,
)
from ormcli.literals import Handle, Lit
from ormcli.where import Compare, IsNull


def test_blank_lines_and_comments_parse_to_nothing() -> None:
    """A blank line or a # comment is not a command."""
    assert parse("") is None
    assert parse("   ") is None
    assert parse("  # add User") is None


def test_add_reads_literals_of_every_kind() -> None:
    """add takes field=value pairs whose values are Python-style literals and handles."""
    command = parse(
        'add Post title="Hi" views=3 score=-2.5 draft=True note=None tags=["a", \'b\'] '
        'meta={"k": [1, 2]} author=@1'
    )
    assert command == Add(
        "Post",
        (
            Assignment("title", Lit("Hi", '"Hi"')),
            Assignment("views", Lit(3, "3")),
            Assignment("score", Lit(-2.5, "-2.5")),
            Assignment("draft", Lit(True, "True")),
            Assignment("note", Lit(None, "None")),
            Assignment("tags", Lit(["a", "b"], "[\"a\", 'b']")),
            Assignment("meta", Lit({"k": [1, 2]}, '{"k": [1, 2]}')),
            Assignment("author", Lit(Handle(1), "@1")),
        ),
    )


def test_string_escapes_are_decoded_by_hand() -> None:
    """Escapes in strings are decoded without eval."""
    command = parse(r'add User name="a\"b\n\u00e9\\"')
    assert isinstance(command, Add)
    assert command.assignments[0].value.value == 'a"b\né\\'


def test_set_takes_a_key_then_assignments() -> None:
    """set ENTITY PK field=value; the key may be a tuple or a handle."""
    assert parse('set User 3 name="x"') == Set(
        "User", Key((Lit(3, "3"),), "3"), (Assignment("name", Lit("x", '"x"')),)
    )
    composite = parse("set OrderItem (1, 2) quantity=5")
    assert isinstance(composite, Set)
    assert [lit.value for lit in composite.key.values] == [1, 2]
    handle = parse('set User @2 name="y"')
    assert isinstance(handle, Set)
    assert handle.key.handle == Handle(2)


def test_remove_takes_keys_or_a_where_clause() -> None:
    """remove ENTITY PK [PK ...] or remove ENTITY where EXPR."""
    command = parse("remove User 1 @2 (3, 4)")
    assert isinstance(command, Remove)
    assert [k.text for k in command.keys] == ["1", "@2", "(3, 4)"]
    assert parse("remove User where email is null") == Remove("User", where=IsNull("email"))


def test_a_handle_alone_names_its_entity() -> None:
    """set @N ..., show @N and remove @N @M: the entity is the handle's (entity "")."""
    command = parse('set @2 name="y"')
    assert isinstance(command, Set)
    assert (command.entity, command.key.handle) == ("", Handle(2))
    shown = parse("show @3")
    assert isinstance(shown, Show)
    assert (shown.entity, shown.key.handle) == ("", Handle(3))
    removed = parse("remove @1 @4")
    assert isinstance(removed, Remove)
    assert (removed.entity, [k.text for k in removed.keys]) == ("", ["@1", "@4"])
    with pytest.raises(ParseError, match="expected a handle such as @2, got '5'"):
        parse("remove @1 5")


def test_find_reads_where_order_by_and_limit() -> None:
    """find ENTITY [where EXPR] [order by FIELD [desc], ...] [limit N]."""
    command = parse("FIND User WHERE age >= 18 ORDER BY name, age DESC LIMIT 5")
    assert command == Find(
        "User",
        Compare("age", ">=", Lit(18, "18")),
        (OrderBy("name"), OrderBy("age", True)),
        5,
    )


def test_the_other_commands_parse() -> None:
    """Every command of DESIGN §4 has a parse."""
    assert parse("load sample_models/blog.py") == Load("sample_models/blog.py")
    assert parse('load "my models/x.py"') == Load("my models/x.py")
    assert parse("models") == Models()
    assert parse("models User") == Models("User")
    assert parse("show User 1") == Show("User", Key((Lit(1, "1"),), "1"))
    assert parse("count User where id > 1") == Count("User", Compare("id", ">", Lit(1, "1")))
    assert parse("status") == Status()
    assert parse("status --sql") == Status(sql=True)
    assert parse("undo") == Undo()
    assert parse("commit") == Commit()
    assert parse("rollback") == Rollback()
    assert parse("migrate --dry-run") == Migrate(dry_run=True)
    assert parse("help") == Help()
    assert parse("help find") == Help("find")
    assert parse("quit") == Quit()
    assert parse("exit") == Quit()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("frob", "unknown command 'frob' (try 'help')"),
        ("42", "expected a command, got '42' (try 'help')"),
        ("add", "expected an entity name after 'add', got end of line"),
        ("add User name=Ann", "expected a value after 'name=', got 'Ann' (quote text: \"Ann\")"),
        ("add User name", "expected '=' after field name 'name', got end of line"),
        ('add User name="x', "unterminated string starting at column 15"),
        ("add User a=1 a=2", "field 'a' is given twice"),
        ("set User name=1", "expected a primary key after 'set User', got 'name'"),
        ("set User 1", "expected field=value after the key, got end of line"),
        ("remove User", "expected a primary key after 'remove User', got end of line"),
        ("find User where", "expected a condition after 'where', got end of line"),
        ("find User limit x", "expected a whole number after 'limit', got 'x'"),
        (
            "find User limit 2 where a=1",
            "unexpected 'where' after the find command "
            "(usage: find ENTITY [select ITEM, ...] [distinct] [where EXPR] "
            "[group by FIELD, ...] [order by NAME [desc]] [limit N] [--all])",
        ),
        ("find User order name", "expected 'by' after 'order', got 'name'"),
        ("status --json", "unknown option '--json' for status (options: --sql, --all)"),
        ("commit now", "unexpected 'now' after the commit command (usage: commit)"),
        ("add User x=@", "a handle is @ followed by a number, at column 12"),
        ("add User x=$", "unexpected character '$' at column 12"),
        ("add User x=12ab", "bad number '12a' at column 12"),
        (
            'add User joined=2024-05-05 name="A"',
            'a date or time is written as quoted text: "2024-05-05" (column 17)',
        ),
        (
            "find User where joined > 2024-05-05T10:30",
            'a date or time is written as quoted text: "2024-05-05T10:30" (column 26)',
        ),
        ("add User x=[1, 2", "expected ']' to close the list, got end of line"),
        ("add User x={1: 2}", "expected a quoted key in a dict, got '1'"),
        ("load", "expected a path after 'load', got end of line"),
    ],
)
def test_bad_lines_raise_a_parse_error_naming_the_problem(line: str, message: str) -> None:
    """Each malformed line gets one sentence; nothing but ParseError escapes."""
    with pytest.raises(ParseError) as caught:
        parse(line)
    assert str(caught.value) == message


def test_parse_error_carries_the_column() -> None:
    """The error knows where in the line the problem starts."""
    with pytest.raises(ParseError) as caught:
        parse("add User name=Ann")
    assert caught.value.column == 14
