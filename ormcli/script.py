"""Batch scripts: the command language read from a file or stdin, run as one unit of work.

Rules (also in docs/cli.md): ``#`` comments and blank lines are skipped; every line is parsed
before anything runs; the lines run in order against one session; the first failing line stops
the script with ``file:line: message`` (exit 1) and nothing of it is committed; at the end the
script commits once (it never commits part-way: ``commit``, ``rollback`` and ``quit`` lines are
refused). ``migrate`` lines run when reached (schema, not data). With ``dry_run`` the change set
and its SQL are printed and nothing is committed (``migrate`` lines only print their plan).

Callers: ``app.py`` (``ormcli run``). Output: what queries return (``find``, ``count``,
``show``, ``status``, ``models``) goes to ``out``; staging echoes are not printed; the commit
summary and errors go to ``err``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ormcli import language as cmd
from ormcli import results as r
from ormcli.errors import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_OUTCOME_UNKNOWN,
    CliError,
    ParseError,
    exit_code_for,
    is_broken_pipe,
    message_for,
)
from ormcli.executor import Workspace
from ormcli.render import OutputOptions, render, render_change_set, render_error

_REFUSED = (cmd.Commit, cmd.Rollback, cmd.Quit)
_ECHOES = (r.Staged, r.Modified, r.RemovedItems, r.Message)


def parse_script(lines: Iterable[str], name: str) -> list[tuple[int, cmd.Command]]:
    """Parse every line; raise CliError ``name:line: message`` at the first bad one."""
    parsed: list[tuple[int, cmd.Command]] = []
    for number, line in enumerate(lines, start=1):
        try:
            command = cmd.parse(line.rstrip("\r\n"))
        except ParseError as exc:
            raise CliError(f"{name}:{number}: {exc}") from None
        if command is None:
            continue
        if isinstance(command, _REFUSED):
            word = type(command).__name__.lower()
            raise CliError(
                f"{name}:{number}: {word} is not allowed in a script "
                "(a script commits once, at its end; use --dry-run to commit nothing)"
            )
        parsed.append((number, command))
    return parsed


def run_script(
    workspace: Workspace,
    lines: Iterable[str],
    name: str,
    *,
    out: Any,
    err: Any,
    dry_run: bool = False,
    debug: bool = False,
) -> int:
    """Run a script; return the exit code. ``out``/``err`` are Rich consoles."""
    try:
        commands = parse_script(lines, name)
    except CliError as exc:
        render_error(err, str(exc), prefix="")
        return EXIT_ERROR
    for number, command in commands:
        if dry_run and isinstance(command, cmd.Migrate):
            command = cmd.Migrate(dry_run=True)
        try:
            result = workspace.execute(command)
        except Exception as exc:
            if debug or is_broken_pipe(exc):  # a closed stdout ends the run (app.py)
                raise
            workspace.session.rollback()
            render_error(
                err, f"{name}:{number}: {message_for(exc)} (nothing was committed)", prefix=""
            )
            return EXIT_ERROR
        if isinstance(result, r.MigrationView):
            _migration_note(err, result, number, name)
        elif not isinstance(result, _ECHOES):
            render(out, result, OutputOptions(footer=None if out.is_terminal else err))
    if dry_run:
        render_change_set(out, workspace.change_set(with_sql=True))
        workspace.session.rollback()
        render_error(err, "dry run: nothing was committed", prefix="")
        return EXIT_OK
    if not workspace.dirty:
        render_error(err, f"{name}: nothing to commit", prefix="")
        return EXIT_OK
    try:
        result = workspace.execute(cmd.Commit())
    except Exception as exc:
        if debug:
            raise
        message = message_for(exc)
        if not message.startswith("commit "):  # (the workspace's own say "commit failed: ...")
            message = f"commit failed: {message}"
        code = exit_code_for(exc)
        if code != EXIT_OUTCOME_UNKNOWN and "nothing was written" not in message:
            message += " (nothing was committed)"
        render_error(err, f"{name}: {message}", prefix="")
        return code
    render(err, result)
    return EXIT_OK


def _migration_note(err: Any, view: r.MigrationView, number: int, name: str) -> None:
    """A ``migrate`` line in a script reports in one line (``ormcli migrate`` shows the SQL)."""
    for refused in view.refused:
        render_error(err, f"{name}:{number}: migrate refused: {refused}", prefix="")
    if view.applied:
        render_error(err, f"migrate: applied {len(view.statements)} statement(s)", prefix="")
    elif view.statements:
        render_error(
            err, f"migrate --dry-run: {len(view.statements)} statement(s) not run", prefix=""
        )
