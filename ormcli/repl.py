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

import os
import shlex
import subprocess
import time
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
from ormcli.formats import FORMATS
from ormcli.interrupt import CancelOnInterrupt
from ormcli.render import OutputOptions, render, render_error, render_to_text

WELCOME = "ormcli — type help for commands, quit to leave"
INTERRUPTED = "interrupted"


class ReplSettings:
    """What ``option`` changes: output format, timing, pager, default row limit."""

    NAMES = ("format", "timing", "pager", "limit")

    def __init__(self) -> None:
        self.format = "table"
        self.timing = True
        #: "auto" ($PAGER, else less -SRXF), a command, or "" (off).
        self.pager = "auto"
        self.row_limit: int | None = 200

    def describe(self) -> list[tuple[str, str]]:
        """(name, value as typed) of every setting."""
        return [
            ("format", self.format),
            ("timing", "on" if self.timing else "off"),
            ("pager", self.pager or "off"),
            ("limit", "all" if self.row_limit is None else str(self.row_limit)),
        ]

    def change(self, name: str, value: str | None) -> None:
        """Set ``name`` to ``value``; ValueError with the allowed values."""
        if name not in self.NAMES:
            raise ValueError(f"no option {name!r} (options: {', '.join(self.NAMES)})")
        if value is None:
            raise ValueError(f"option {name} needs a value (now: {dict(self.describe())[name]})")
        if name == "format":
            if value not in FORMATS:
                raise ValueError(f"format {value!r} is not one of {', '.join(FORMATS)}")
            self.format = value
        elif name == "timing":
            self.timing = _switch(name, value)
        elif name == "pager":
            self.pager = "" if value == "off" else "auto" if value == "on" else value
        elif value == "all":
            self.row_limit = None
        elif value.isdigit() and int(value) > 0:
            self.row_limit = int(value)
        else:
            raise ValueError(f"limit takes a number of rows or all, got {value!r}")


def _switch(name: str, value: str) -> bool:
    if value in ("on", "off"):
        return value == "on"
    raise ValueError(f"{name} takes on or off, got {value!r}")


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
        err: Any = None,
    ) -> None:
        """``lines``, when given, replaces prompt-toolkit as the source of lines (stdin that is
        not a terminal); otherwise ``input``/``output`` default to the terminal."""
        self.workspace = workspace
        self.console = console
        #: Where row footers and timing go when the console is not a terminal.
        self.err = err if err is not None else console
        self.settings = ReplSettings()
        workspace.row_limit = self.settings.row_limit
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
        if self.console.is_terminal:
            self.console.print(WELCOME, style="dim")
            db = self.workspace.db
            if db.servers != db.url_display:  # several servers: say where writes and reads go
                self.console.print(db.servers, style="dim", markup=False, highlight=False)
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
        if isinstance(command, cmd.Option):
            self._option(command)
            return False
        started = time.perf_counter()
        with CancelOnInterrupt(self.workspace.db.cancel) as guard:
            try:
                self.workspace.json_values = self.settings.format in ("json", "jsonl")
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
        elapsed = (time.perf_counter() - started) * 1000.0
        terminal = self.console.is_terminal
        options = OutputOptions(
            format=self.settings.format,
            footer=None if terminal else self.err,
            elapsed_ms=elapsed if self.settings.timing and terminal else None,
        )
        try:
            self._show(result, options)
        except KeyboardInterrupt:
            render_error(self.console, INTERRUPTED, prefix="")
        return False

    def _show(self, result: Any, options: OutputOptions) -> None:
        """Render; through the pager when the output is taller than the terminal."""
        pager = self.settings.pager
        if not (pager and self.interactive and self.console.is_terminal):
            render(self.console, result, options)
            return
        text = render_to_text(self.console, result, options)
        if text.count("\n") < self.console.height - 1:
            self.console.file.write(text)
            self.console.file.flush()
            return
        command = pager if pager != "auto" else os.environ.get("PAGER") or "less -SRXF"
        try:
            subprocess.run(shlex.split(command), input=text, text=True, check=False)
        except OSError as exc:
            render_error(self.console, f"pager {command!r} failed ({exc}); option pager off")
            self.console.file.write(text)

    def _option(self, command: cmd.Option) -> None:
        """``option [NAME [VALUE]]``: show or change a REPL setting."""
        settings = self.settings
        if command.name is None:
            for name, value in settings.describe():
                self.console.print(f"{name} = {value}", markup=False, highlight=False)
            return
        try:
            settings.change(command.name, command.value)
        except ValueError as exc:
            render_error(self.console, str(exc))
            return
        self.workspace.row_limit = settings.row_limit
        value = dict(settings.describe())[command.name]
        self.console.print(f"{command.name} = {value}", markup=False, highlight=False)

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
