"""Completion by context: operators after a field, values after an operator (enum members,
booleans, None, handles, stored keys and natural keys of references), the next keywords after a
value, desc/asc/, after order by FIELD, stored keys after set/show/remove ENTITY. The same in a
real terminal: ``test_cli_tmux.py``."""

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
        lambda entity, field, typed: VALUES.get(field, []),
        lambda entity, typed: [("1", "ann"), ("2", "bob")] if entity == "Order" else [],
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


def test_keys_after_set_show_and_remove() -> None:
    """set/show/remove ENTITY <Tab> → the stored keys (remove also where); a handle needs none."""
    assert completions("set Order ") == ["1", "2"]
    assert completions("show Order 2") == ["2"]
    assert completions("remove Order ") == ["1", "2", "where"]
    assert completions("set @1 ") == []


def test_the_repl_offers_enum_members_handles_and_stored_keys(
    db_url: str, shop_models: str
) -> None:
    """On the shop models: Order.status values are its members; customer= offers the handle of
    the staged customer, then the stored customers' keys with their first text field (those
    staged for removal left out; a typed start filters in the query); a natural key completes
    from its text; a nullable field ends with None; a composite key offers no keys."""
    ws = workspace(db_url, shop_models)
    for line in (
        'add Customer email="a@x" name="A"',
        'add Customer email="b@x" name="B"',
        'add Product sku="TEA-1" name="Green tea" price=3',
        'add Product sku="TEA_2" name="Odd tea" price=3',
        'add Product sku="COF-1" name="Coffee" price=4',
        "commit",
        'add Customer email="c@x" name="C"',
        "remove Customer 2",
    ):
        command = cmd.parse(line)
        assert command is not None
        ws.execute(command)
    with create_pipe_input() as pipe:
        repl = Repl(ws, Console(file=StringIO()), input=pipe, output=DummyOutput())
        assert repl._values("Order", "status") == ['"open"', '"paid"', '"shipped"']
        assert repl._values("Order", "customer") == [("@6", "new Customer"), ("1", "a@x")]
        assert repl._values("Order", "customer", "@") == [("@6", "new Customer")]
        assert repl._values("Order", "customer", "2") == []  # staged for removal
        assert repl._values("Order", "customer", "x") == []
        assert repl._values("OrderItem", "product", '"TEA') == [
            ('"TEA-1"', "Green tea"),
            ('"TEA_2"', "Odd tea"),
        ]
        assert repl._values("OrderItem", "product", '"TEA_') == [('"TEA_2"', "Odd tea")]
        assert repl._values("Product", "sku", '"C') == [('"COF-1"', "Coffee")]
        assert repl._keys("Customer") == [("1", "a@x")]
        assert repl._keys("OrderItem") == []  # a composite key: named by handle
        assert repl._values("Nope", "x") == []
    ws.close()


def test_many_keys_are_capped_and_a_typed_number_filters_in_the_query(
    db_url: str, blog_models: str
) -> None:
    """With 130 users, author= offers the first 50 keys; author=1 offers 1, 10-19 and 100-130
    (the keys that start with it) — the query filters, not the screen."""
    ws = workspace(db_url, blog_models)
    for i in range(130):
        command = cmd.parse(f'add User email="u{i}@x" name="U{i}"')
        assert command is not None
        ws.execute(command)
    ws.execute(cmd.Commit())
    with create_pipe_input() as pipe:
        repl = Repl(ws, Console(file=StringIO()), input=pipe, output=DummyOutput())
        keys = [k for k, _ in repl._values("Post", "author")]
        assert keys == [str(n) for n in range(1, 51)]
        keys = [k for k, _ in repl._values("Post", "author", "1")]
        assert keys == ["1", *map(str, range(10, 20)), *map(str, range(100, 131))]
    ws.close()
