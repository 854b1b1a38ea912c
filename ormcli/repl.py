"""The interactive loop: read a line, dispatch it, render the result, repeat.

The prompt shows the database and the pending counts (``blog.db [+2 ~1 -1]> ``). Ctrl-C clears
the line and keeps the session; Ctrl-C while a command runs cancels its statement
(``interrupt.py``) and prints ``interrupted``; a failing command prints one line and the loop
goes on with nothing lost; ``quit``, Ctrl-D or end of input with staged work asks commit /
discard / stay (when interactive) and never commits by itself. Callers: ``app.py`` (``ormcli
repl``) and the tests, which pass prompt-toolkit pipe input and ``DummyOutput``. Parsing,
completion, history and rendering live in their own modules; this one only wires them.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from typing import Any

from prompt_toolkit import PromptSession
from prompt_toolkit.history import History, InMemoryHistory
from prompt_toolkit.input import DummyInput, Input
from prompt_toolkit.output import DummyOutput, Output

import core
from ormcli import language as cmd
from ormcli.completion import CommandCompleter
from ormcli.config import short_db_label
from ormcli.errors import ParseError, message_for
from ormcli.executor import Workspace
from ormcli.interrupt import CancelOnInterrupt
from ormcli.render import render, render_error

WELCOME = "ormcli — type help for commands, quit to leave"
INTERRUPTED = "interrupted"


class Repl:
    """One interactive session over a :class:`Workspace`."""

    def __init__(
        self,
        workspace: Workspace,
        console: Any,
        *,
        input: Input | None = None,
        output: Output | None = None,
        history: History | None = None,
        interactive: bool = True,
        debug: bool = False,
        lines: Iterator[str] | None = None,
    ) -> None:
        """``lines``, when given, replaces prompt-toolkit as the source of lines (stdin that is
        not a terminal); otherwise ``input``/``output`` default to the terminal."""
        self.workspace = workspace
        self.console = console
        self.interactive = interactive
        self.debug = debug
        self.label = short_db_label(workspace.url)
        self._lines = lines
        if lines is not None:
            input, output = DummyInput(), DummyOutput()
        self.prompt_session: PromptSession[str] = PromptSession(
            history=history or InMemoryHistory(),
            completer=CommandCompleter(workspace.entity_names, self._fields),
            complete_while_typing=False,
            input=input,
            output=output,
        )
        self._ask_session: PromptSession[str] = PromptSession(input=input, output=output)

    def _fields(self, entity: str, writable: bool) -> list[str]:
        """Field names of ``entity``, or of the entity of a handle such as ``@1``."""
        try:
            if entity.startswith("@"):
                obj = self.workspace.handles.get(int(entity[1:]))
                info = core.entity_info(obj)
            else:
                info = self.workspace.entity(entity)
        except Exception:
            return []
        return [f.name for f in info.fields if not (writable and f.autoincrement)]

    def _read(self, session: PromptSession[str], prompt: str) -> str:
        if self._lines is None:
            return session.prompt(prompt)
        line = next(self._lines, None)
        if line is None:
            raise EOFError
        return line.rstrip("\r\n")

    def prompt_text(self) -> str:
        """``blog.db> `` or, with staged work, ``blog.db [+2 ~1 -1]> `` (zero counts left out)."""
        added, changed, removed = self.workspace.counts()
        parts = [f"{sign}{n}" for sign, n in (("+", added), ("~", changed), ("-", removed)) if n]
        return f"{self.label} [{' '.join(parts)}]> " if parts else f"{self.label}> "

    def run(self) -> int:
        """Loop until the user leaves; return the exit code (0)."""
        self.console.print(WELCOME, style="dim")
        while True:
            try:
                line = self._read(self.prompt_session, self.prompt_text())
            except KeyboardInterrupt:
                continue
            except EOFError:
                if self._leave(end_of_input=True):
                    return 0
                continue
            if self.handle(line):
                return 0

    def handle(self, line: str) -> bool:
        """Run one line; return True when the REPL should end."""
        try:
            command = cmd.parse(line)
        except ParseError as exc:
            render_error(self.console, str(exc))
            return False
        if command is None:
            return False
        if isinstance(command, cmd.Quit):
            return self._leave(end_of_input=False)
        with CancelOnInterrupt(self.workspace.db.cancel) as guard:
            try:
                result = self.workspace.execute(command)
            except Exception as exc:
                if self.debug:
                    self.console.print(traceback.format_exc(), markup=False, highlight=False)
                if guard.interrupted:
                    note = INTERRUPTED
                    if isinstance(command, cmd.Commit):
                        note += ": nothing was written; the staged work is kept"
                    render_error(self.console, note, prefix="")
                else:
                    render_error(self.console, message_for(exc))
                return False
        try:
            render(self.console, result)
        except KeyboardInterrupt:
            render_error(self.console, INTERRUPTED, prefix="")
        return False

    def _leave(self, *, end_of_input: bool) -> bool:
        """May we leave? Asks (commit / discard / stay) when work is staged."""
        if not self.workspace.dirty:
            return True
        added, changed, removed = self.workspace.counts()
        staged = f"{added} to add, {changed} to change, {removed} to remove"
        if not self.interactive:
            self.workspace.session.rollback()
            render_error(
                self.console, f"staged work discarded ({staged}); nothing was committed", prefix=""
            )
            return True
        while True:
            try:
                answer = self._ask_session.prompt(
                    f"staged: {staged}. [c]ommit, [d]iscard or [s]tay? ",
                    enable_history_search=False,
                )
            except KeyboardInterrupt:
                return False
            except EOFError:
                self.workspace.session.rollback()
                render_error(
                    self.console,
                    f"input ended: staged work discarded ({staged}); nothing was committed",
                    prefix="",
                )
                return True
            choice = answer.strip().lower()
            if choice in ("c", "commit"):
                try:
                    render(self.console, self.workspace.execute(cmd.Commit()))
                except Exception as exc:
                    render_error(self.console, message_for(exc))
                    return False
                return True
            if choice in ("d", "discard"):
                self.workspace.session.rollback()
                self.console.print(f"discarded ({staged}); nothing was committed")
                return True
            if choice in ("s", "stay", ""):
                return False
            self.console.print("answer c (commit), d (discard) or s (stay)")
