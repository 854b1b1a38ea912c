"""Completion by context: operators after a field, values after an operator (enum members,
booleans, None, handles), the next keywords after a value, desc/asc/, after order by FIELD."""

from __future__ import annotations

from io import StringIO

from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput
from rich.console import Console

from ormcli import language as cmd
from ormcli.completion import OPERATORS, CommandCompleter
from ormcli.repl import Repl
from tests.cli.helpers import workspace

FIELDS = {"Order": ["id", "customer", "status", "note"]}
VALUES = {"status": ['"open"', '"paid"', '"shipped"'], "customer": ["@1"], "note": ["None"]}


def completions(text: str) -> list[str]:
    completer = CommandCompleter(
        lambda: ["Order"],
        lambda entity, writable: [
            f for f in FIELDS.get(entity, []) if not (writable and f == "id")
        ],
        lambda entity, field: VALUES.get(field, []),
    )
    found = completer.get_completions(Document(text), CompleteEvent(completion_requested=True))
    return [c.text for c in found]


def test_operators_follow_a_field_and_values_follow_an_operator() -> None:
    """where status → operators (never field names); where status = → the enum's members."""
    assert completions("find Order where status ") == [*OPERATORS, "any", "none"]
    assert completions("find Order where status = ") == ['"open"', '"paid"', '"shipped"']
    assert completions('find Order where status = "p') == ['"paid"']
    assert completions("find Order where customer = ") == ["@1"]
    assert completions("find Order where id > 3 and note ")[: len(OPERATORS)] == list(OPERATORS)


def test_after_a_value_come_the_next_keywords() -> None:
    """where status = "open" → and, or, order by, limit."""
    assert completions('find Order where status = "open" ') == ["and", "or", "order by", "limit"]


def test_order_by_a_field_offers_desc_and_a_comma() -> None:
    """order by status → desc, asc, a comma, limit (never where)."""
    assert completions("find Order order by status ") == ["desc", "asc", ",", "limit"]


def test_field_equals_value_in_add_and_set() -> None:
    """add Order status= → status="open" ...; set Order 3 note= → note=None."""
    assert completions("add Order status=") == [
        'status="open"',
        'status="paid"',
        'status="shipped"',
    ]
    assert completions("set Order 3 note=") == ["note=None"]


def test_the_repl_offers_enum_members_and_handles(db_url: str, shop_models: str) -> None:
    """On the shop models: Order.status values are its members; customer= offers the handle of
    the staged customer; a nullable field ends with None."""
    ws = workspace(db_url, shop_models)
    command = cmd.parse('add Customer email="c@x" name="C"')
    assert command is not None
    ws.execute(command)
    with create_pipe_input() as pipe:
        repl = Repl(ws, Console(file=StringIO()), input=pipe, output=DummyOutput())
        assert repl._values("Order", "status") == ['"open"', '"paid"', '"shipped"']
        assert repl._values("Order", "customer") == ["@1"]
        assert repl._values("Nope", "x") == []
    ws.close()
