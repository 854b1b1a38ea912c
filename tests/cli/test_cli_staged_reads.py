"""Reads answer as the commit would leave the data: ``find``, ``count`` and ``show`` see staged
adds, changes and removals, and mark such rows ``+``, ``~``, ``-``."""

from __future__ import annotations

from typing import Any

from ormcli import language as cmd
from ormcli import results as r
from ormcli.executor import Workspace
from tests.cli.helpers import drive, workspace

PEOPLE = [("ada", "Ada Lovelace", 36), ("grace", "Grace Hopper", 85), ("alan", "Alan Turing", 41)]


def _run(ws: Workspace, line: str) -> Any:
    command = cmd.parse(line)
    assert command is not None
    return ws.execute(command)


def _blog(db_url: str, blog_models: str) -> Workspace:
    ws = workspace(db_url, blog_models)
    for handle, name, _ in PEOPLE:
        _run(ws, f'add User email="{handle}@example.org" name="{name}"')
    _run(ws, "commit")
    ws.reset_handles()
    return ws


def _names(rows: r.Rows) -> list[tuple[str, str | None]]:
    at = rows.columns.index("name")
    marks = rows.marks or ("",) * len(rows.rows)
    return [(mark, row[at]) for mark, row in zip(marks, rows.rows, strict=True)]


def test_a_staged_change_applies_to_values_and_to_filtering(db_url: str, blog_models: str) -> None:
    """After set User 2 name=..., the old name finds nothing and the new one finds the row,
    marked ~; count agrees."""
    ws = _blog(db_url, blog_models)
    _run(ws, 'set User 2 name="Changed Name"')
    assert _run(ws, 'find User where name = "Grace Hopper"').rows == ()
    assert _names(_run(ws, 'find User where name = "Changed Name"')) == [("~", "Changed Name")]
    assert _run(ws, 'count User where name = "Grace Hopper"').count == 0
    assert _run(ws, 'count User where name = "Changed Name"').count == 1
    assert _run(ws, "count User").count == 3
    ws.close()


def test_staged_adds_are_found_and_counted_and_removals_are_not(
    db_url: str, blog_models: str
) -> None:
    """A staged add that matches is found (marked +, its key shown as new) and counted; a row
    staged for removal is neither found nor counted."""
    ws = _blog(db_url, blog_models)
    _run(ws, 'add User email="cy@example.org" name="Alan Kay"')
    _run(ws, "remove User 3")
    rows = _run(ws, 'find User where name like "Al%" order by name')
    assert _names(rows) == [("+", "Alan Kay")]
    assert rows.rows[0][rows.columns.index("id")] == "@1 (new)"
    assert _run(ws, 'count User where name like "Al%"').count == 1
    assert _run(ws, "count User").count == 3
    assert [n for _, n in _names(_run(ws, "find User order by name desc"))] == [
        "Grace Hopper",
        "Alan Kay",
        "Ada Lovelace",
    ]
    ws.close()


def test_a_limit_counts_after_the_staged_work(db_url: str, blog_models: str) -> None:
    """limit N gives N rows as the commit would leave them: a removed row makes room for the
    next stored one, a changed row moves to where its new value sorts."""
    ws = _blog(db_url, blog_models)
    _run(ws, "remove User 1")
    _run(ws, 'set User 3 name="Zed"')
    assert [n for _, n in _names(_run(ws, "find User order by name limit 2"))] == [
        "Grace Hopper",
        "Zed",
    ]
    assert _names(_run(ws, "find User order by name desc limit 1")) == [("~", "Zed")]
    ws.close()


def test_a_change_that_makes_a_row_match_brings_it_in(db_url: str, blog_models: str) -> None:
    """A row the database would not return for the where is found once its staged value
    matches, and counted."""
    ws = _blog(db_url, blog_models)
    _run(ws, 'set User 1 bio="likes engines"')
    assert _names(_run(ws, "find User where bio is not null")) == [("~", "Ada Lovelace")]
    assert _run(ws, "count User where bio is not null").count == 1
    assert _run(ws, "count User where bio is null").count == 2
    ws.close()


def test_show_marks_a_staged_row_and_a_new_key(db_url: str, blog_models: str) -> None:
    """show @N of a new row says (new) for its key and marks the record +; show of a changed
    row marks it ~; a removed row -."""
    ws = _blog(db_url, blog_models)
    _run(ws, 'add User email="cy@example.org" name="Cy"')
    _run(ws, 'set User 1 name="A"')
    _run(ws, "remove User 2")
    screen, _ = drive(ws, "show @1\nshow User 1\nshow User 2\nfind User\nquit\nd\n")
    assert "+ staged add (not committed)" in screen
    assert "@1 (new)" in screen
    assert "~ staged change (not committed)" in screen
    assert "- staged removal (not committed)" in screen
    assert (
        "(3 rows; 1 staged add, 1 staged change (not committed); 1 staged removal not shown)"
        in screen
    )
    ws.close()


def test_nothing_staged_shows_no_mark_column(db_url: str, blog_models: str) -> None:
    """Without staged work for the entity the rows carry no marks."""
    ws = _blog(db_url, blog_models)
    _run(ws, 'add Tag name="t"')
    rows = _run(ws, "find User")
    assert rows.marks == ()
    assert len(rows.rows) == 3
    ws.close()


def test_a_composite_key_holding_a_reference_is_labelled_by_keys(
    db_url: str, shop_models: str
) -> None:
    """~ OrderItem (1, 2): the reference part of the key prints as its key, not the object."""
    ws = workspace(db_url, shop_models)
    for line in (
        'add Customer email="c@x" name="C"',
        'add Product sku="TEA-1" name="Tea" price="2.50"',
        "add Order customer=@1",
        'add OrderItem order=@3 line=2 product="TEA-1"',
        "commit",
    ):
        _run(ws, line)
    changed = _run(ws, "set OrderItem (1, 2) quantity=5")
    assert changed.label == "(1, 2)"
    status = _run(ws, "status")
    assert [c.label for c in status.changed] == ["(1, 2)"]
    ws.close()


def test_find_says_how_many_stored_rows_a_staged_removal_leaves_out(
    db_url: str, blog_models: str
) -> None:
    """A row staged for removal is not shown, and the footer says so: ``(2 rows; 1 staged
    removal not shown)``; with nothing else matching, ``(0 rows; ...)``."""
    ws = _blog(db_url, blog_models)
    _run(ws, "remove User 2")
    rows = _run(ws, "find User")
    assert rows.hidden == 1
    assert len(rows.rows) == 2
    screen, _ = drive(ws, 'find User\nfind User where name = "Grace Hopper"\nquit\nd\n')
    assert "(2 rows; 1 staged removal not shown)" in screen
    assert "(0 rows; 1 staged removal not shown)" in screen
    ws.close()


def test_table_cells_show_enum_members_and_natural_keys_as_plain_text(
    db_url: str, shop_models: str
) -> None:
    """An enum member shows as its name and a reference by natural key as the key, unquoted
    like any other text in a cell (the literal syntax with quotes is for echoes and status)."""
    ws = workspace(db_url, shop_models)
    for line in (
        'add Customer email="c@x" name="C"',
        'add Product sku="TEA-1" name="Tea" price="2.50"',
        "add Order customer=@1",
        'add OrderItem order=@3 line=1 product="TEA-1"',
        "commit",
    ):
        _run(ws, line)
    orders = _run(ws, "find Order")
    assert orders.rows[0][orders.columns.index("status")] == "open"
    items = _run(ws, "find OrderItem")
    assert items.rows[0][items.columns.index("product")] == "TEA-1"
    assert items.rows[0][items.columns.index("order")] == "1"
    ws.close()
