"""Fuzzing: random and mutated lines at the parser and the REPL. Only ParseError may escape the
parser, and a bad line never changes the pending change set."""

from __future__ import annotations

from io import StringIO

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console

from ormcli.errors import ParseError
from ormcli.language import parse
from ormcli.repl import Repl
from tests.cli.helpers import workspace

VALID = [
    'add User email="a@b.c" name="A"',
    'set User 1 name="B" bio=None',
    "remove Post 1 2 (3, 4) @1",
    'find Post where author = 1 and (title like "A%" or not id in (1, 2)) order by id desc limit 3',
    "count Comment where post is not null",
    "status --sql",
    "show User @1",
    'add Post author=@1 title="x" tags=["a", "b"] meta={"k": "v"}',
    "migrate --dry-run",
    "help find",
]
ALPHABET = st.sampled_from(list(" \t\"'=@#()[]{},:<>!-+.0123456789abcxyzUSERwhnot\\é\x00\n"))


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """A valid line with characters deleted, replaced or inserted."""
    line = list(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(1, 4))):
        if not line:
            break
        at = draw(st.integers(0, len(line) - 1))
        action = draw(st.sampled_from(["delete", "replace", "insert", "truncate"]))
        if action == "delete":
            del line[at]
        elif action == "replace":
            line[at] = draw(ALPHABET)
        elif action == "insert":
            line.insert(at, draw(ALPHABET))
        else:
            del line[at:]
    return "".join(line)


LINES = st.one_of(st.text(max_size=60), st.text(ALPHABET, max_size=60), mutated())


@settings(max_examples=400, deadline=None)
@given(LINES)
def test_the_parser_raises_nothing_but_parse_error(line: str) -> None:
    """Any text either parses or raises ParseError with a one-line message."""
    try:
        parse(line)
    except ParseError as exc:
        assert str(exc)
        assert "\n" not in str(exc).replace("\\n", "")


@pytest.fixture
def fuzz_repl(db_url: str, blog_models: str) -> Repl:
    ws = workspace(db_url, blog_models)
    repl = Repl(ws, Console(file=StringIO(), color_system=None, width=100))
    for line in ['add User email="a@b.c" name="A"', "commit", 'add User email="x@y" name="X"']:
        repl.handle(line)
    repl.handle('set User 1 name="Changed"')
    return repl


BAD_STAGING = st.one_of(
    mutated(),
    st.sampled_from(
        [
            'add User email="a@b.c"',
            "add User name=3",
            'set User 99 name="x"',
            "remove User 99",
            'add Post author=@9 title="t"',
            'set User @2 joined="never"',
            "set User 1 id=5",
            "add Nope x=1",
        ]
    ),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(line=BAD_STAGING)
def test_a_bad_line_leaves_the_change_set_identical(fuzz_repl: Repl, line: str) -> None:
    """Whatever a bad line does, the staged work afterwards is what it was before."""
    ws = fuzz_repl.workspace
    if line.split()[:1] in (["commit"], ["rollback"], ["undo"], ["quit"], ["exit"], ["load"]):
        return
    before = ws.change_set()
    out = StringIO()
    fuzz_repl.console = Console(file=out, color_system=None, width=100)
    assert fuzz_repl.handle(line) in (False, True)
    printed = out.getvalue()
    if printed.startswith("error: "):
        assert ws.change_set() == before
        assert len(printed.strip().splitlines()) == 1
    elif ws.change_set() != before:
        fuzz_repl.handle("undo")  # the mutated line was still valid: it staged one operation
        assert ws.change_set() == before
