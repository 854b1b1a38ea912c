"""Shared helpers of the CLI tests: run the Typer app, drive the REPL through a pipe."""

from __future__ import annotations

from collections.abc import Sequence
from io import StringIO

from prompt_toolkit.history import History
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput
from rich.console import Console
from typer.testing import CliRunner, Result

from ormcli.app import app
from ormcli.executor import Workspace
from ormcli.loader import load_models
from ormcli.repl import Repl


def invoke(args: Sequence[str], input: str | None = None) -> Result:
    """Run ``ormcli ARGS`` in-process; stdout and stderr are kept apart."""
    return CliRunner().invoke(app, list(args), input=input)


def workspace(db_url: str, models: str) -> Workspace:
    """A workspace on ``db_url`` with ``models`` loaded and migrated."""
    ws = Workspace(db_url, load_models([models]))
    ws.db.migrate()
    return ws


def drive(
    ws: Workspace, keys: str, *, interactive: bool = True, history: History | None = None
) -> tuple[str, int]:
    """Type ``keys`` into a REPL on ``ws``; return (screen text, exit code)."""
    out = StringIO()
    with create_pipe_input() as pipe:
        pipe.send_text(keys)
        pipe.close()
        repl = Repl(
            ws,
            Console(file=out, color_system=None, width=100),
            input=pipe,
            output=DummyOutput(),
            interactive=interactive,
            history=history,
        )
        code = repl.run()
    return out.getvalue(), code
