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
from typing import TYPE_CHECKING, Any

from prompt_toolkit import PromptSession
from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
from prompt_toolkit.history import History, InMemoryHistory
from prompt_toolkit.input import DummyInput, Input
from prompt_toolkit.output import DummyOutput, Output
from prompt_toolkit.utils import get_cwidth

import core
from ormcli import lazy
from ormcli.completion import CommandCompleter
from ormcli.config import short_db_label
from ormcli.errors import ParseError, is_broken_pipe, message_for
from ormcli.executor import Workspace
from ormcli.formats import FORMATS
from ormcli.highlight import CommandLexer
from ormcli.interrupt import CancelOnInterrupt
from ormcli.keys import key_bindings
from ormcli.render import OutputOptions, render, render_error, render_to_text
from ormcli.statements import is_complete, split_commands

if TYPE_CHECKING:
    from ormcli import language as cmd
else:  # built at the first command (start-up time: ormcli/lazy.py)
    cmd = lazy.module("ormcli.language")

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
        self.vi = False
        self.colour = True

    def apply(self, data: dict[str, Any]) -> list[str]:
        """Take the user settings file's values; a warning for each one that is wrong."""
        warnings = []
        for name, value in data.items():
            try:
                if name in ("timing", "colour"):
                    if not isinstance(value, bool):
                        raise ValueError(f"{name} takes true or false, got {value!r}")
                    setattr(self, name, value)
                elif name == "limit":
                    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                        raise ValueError(f"limit takes a number of rows (0: all), got {value!r}")
                    self.row_limit = value or None
                elif name == "key_bindings":
                    if value not in ("vi", "emacs"):
                        raise ValueError(f"key_bindings takes vi or emacs, got {value!r}")
                    self.vi = value == "vi"
                elif name in ("format", "pager"):
                    self.change(name, str(value))
            except ValueError as exc:
                warnings.append(f"settings file: {exc}")
        return warnings

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
        elif value in ("all", "0"):  # 0: every row, as in the settings file
            self.row_limit = None
        elif value.isdigit() and int(value) > 0:
            self.row_limit = int(value)
        else:
            raise ValueError(f"limit takes a number of rows, or all (or 0), got {value!r}")


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
        sandbox: bool = False,
        user_settings: dict[str, Any] | None = None,
    ) -> None:
        """``lines``, when given, replaces prompt-toolkit as the source of lines (stdin that is
        not a terminal); otherwise ``input``/``output`` default to the terminal."""
        self.workspace = workspace
        self.console = console
        #: Where row footers and timing go when the console is not a terminal.
        self.err = err if err is not None else console
        self.settings = ReplSettings()
        for warning in self.settings.apply(user_settings or {}):
            render_error(self.err, warning, prefix="warning: ")
        if not self.settings.colour:
            console.no_color = True
        workspace.row_limit = self.settings.row_limit
        self.interactive = interactive
        self.debug = debug
        self.sandbox = workspace.sandbox = sandbox
        self.label = short_db_label(workspace.url) + (" (sandbox)" if sandbox else "")
        #: Commands that failed (``ormcli repl < file`` then exits 1).
        self.failures = 0
        self._lines = lines
        if lines is not None:
            input, output = DummyInput(), DummyOutput()
        self.prompt_session: PromptSession[str] = PromptSession(
            history=history or InMemoryHistory(),
            completer=CommandCompleter(
                workspace.entity_names, self._fields, self._values, self._keys
            ),
            complete_while_typing=False,
            input=input,
            output=output,
            multiline=True,
            vi_mode=self.settings.vi,
            key_bindings=key_bindings(),
            prompt_continuation=lambda width, line, wrap: "." * (width - 1) + " ",
            lexer=CommandLexer(),
            auto_suggest=AutoSuggestFromHistory(),
            bottom_toolbar=self.toolbar if interactive else None,
        )
        #: The quit question's own prompt, made when first asked (start-up time).
        self._ask_io = (input, output)
        self._asker: PromptSession[str] | None = None

    def _ask_session(self) -> PromptSession[str]:
        if self._asker is None:
            self._asker = PromptSession(input=self._ask_io[0], output=self._ask_io[1])
        return self._asker

    def _fields(self, entity: str, writable: bool) -> list[str]:
        """Field and collection names of ``entity``, of the entity of a handle such as ``@1``,
        or of the entity a path reaches (``Post.author``: User's)."""
        name, *path = entity.split(".")
        try:
            if name.startswith("@"):
                obj = self.workspace.handles.get(int(name[1:]))
                info = core.entity_info(obj)
            else:
                info = self.workspace.entity(name)
            for step in path:
                if info.has_field(step):
                    target = info.field(step).target
                    if target is None:
                        return []
                    info = target
                else:
                    info = info.relations[step].target
        except Exception:
            return []
        names = [f.name for f in info.fields if not (writable and f.autoincrement)]
        return names + list(info.relations)

    def _values(self, entity: str, name: str, typed: str = "") -> list[str | tuple[str, str]]:
        """Literals worth offering for a field: enum members, booleans, None where nullable;
        for a reference, the handles of staged entities it may name, then the keys stored in
        the database that start with ``typed`` (with the row's first text field beside); for
        the entity's own key, its stored keys."""
        try:
            if entity.startswith("@"):
                info = core.entity_info(self.workspace.handles.get(int(entity[1:])))
            else:
                info = self.workspace.entity(entity)
            field = info.field(name)
        except Exception:
            return []
        found: list[str | tuple[str, str]] = []
        if field.kind == "enum" and field.enum_type is not None:
            found = [f'"{member.name}"' for member in field.enum_type]
        elif field.kind == "bool":
            found = ["True", "False"]
        elif field.primary_key and len(info.primary_key) == 1:  # where sku = <Tab>
            found = list(self.workspace.key_choices(info, typed))
        elif field.kind == "reference" and field.target is not None:
            if typed in ("", "@") or typed.startswith("@"):
                found = [
                    (f"@{number}", f"new {type(obj).__name__}")
                    for number, obj in self.workspace.handles.items()
                    if isinstance(obj, field.target.cls)
                    and self.workspace.session.state_of(obj) == "new"
                ]
            if not typed.startswith("@"):
                found += self.workspace.key_choices(field.target, typed)
        if field.nullable:
            found.append("None")
        return found

    def _keys(self, entity: str, typed: str = "") -> list[str | tuple[str, str]]:
        """Stored keys of ``entity`` (``set User <Tab>``), as for a reference value."""
        try:
            info = self.workspace.entity(entity)
        except Exception:
            return []
        return list(self.workspace.key_choices(info, typed))

    def _read(self, session: PromptSession[str], prompt: str) -> str:
        if self._lines is None:
            return session.prompt(prompt)
        line = next(self._lines, None)
        if line is None:
            raise EOFError
        text = line.rstrip("\r\n")
        while not is_complete(text):  # an open quote or bracket, or a trailing \\
            more = next(self._lines, None)
            if more is None:
                break
            text += "\n" + more.rstrip("\r\n")
        return text

    #: The key hints of the toolbar, longest first: the first that fits the terminal is shown.
    KEY_HINTS = (
        "Tab complete · → suggestion · Ctrl-C cancels · Ctrl-D quit",
        "Tab · → · Ctrl-C · Ctrl-D",
        "",
    )

    def toolbar(self) -> str:
        """The bottom line: database, staged counts, transaction state, key hints (shortened,
        then left out, when the terminal is too narrow for them)."""
        added, changed, removed = self.workspace.counts()
        state = "sandbox: rolled back at exit" if self.sandbox else "no transaction"
        if not self.sandbox and self.workspace.session.in_transaction:
            state = "transaction open"
        db = self.workspace.db
        if db.servers != db.url_display:  # several servers: where this session's reads go
            where = "replicas" if self.workspace.session.reads_from_replicas else "primary"
            state += f"  │  reads: {where}"
        head = f" {self.label} │ +{added} ~{changed} -{removed} │ {state}"
        try:
            width = self.prompt_session.app.output.get_size().columns
        except Exception:  # no terminal size to be had: the full line
            width = 1_000
        for hints in self.KEY_HINTS:
            line = f"{head} │ {hints}" if hints else head
            if get_cwidth(line) <= width:
                return line
        return line

    def prompt_text(self) -> str:
        """``blog.db> `` or, with staged work, ``blog.db [+2 ~1 -1]> `` (zero counts left out)."""
        added, changed, removed = self.workspace.counts()
        parts = [f"{sign}{n}" for sign, n in (("+", added), ("~", changed), ("-", removed)) if n]
        return f"{self.label} [{' '.join(parts)}]> " if parts else f"{self.label}> "

    def run(self) -> int:
        """Loop until the user leaves; return the exit code: 0, or 1 when input that is not
        a terminal had a failing command."""
        if self.console.is_terminal:
            welcome = WELCOME
            if self.sandbox:
                welcome += " — sandbox: commits run in one transaction, rolled back at exit"
            self.console.print(welcome, style="dim")
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
                    return self._exit_code()
                continue
            if self.handle(line):
                return self._exit_code()

    @property
    def _errors(self) -> Any:
        """Where error lines go: the screen on a terminal, else stderr (``self.err``)."""
        return self.console if self.console.is_terminal else self.err

    def _exit_code(self) -> int:
        if self.sandbox:
            self.workspace.session.rollback()
            render_error(
                self._errors, "sandbox: every commit of this session was rolled back", prefix=""
            )
        return 1 if self.failures and not self.interactive else 0

    def handle(self, text: str) -> bool:
        """Run the commands in ``text`` (``;`` and newlines separate them; a pasted block runs
        line by line); return True when the REPL should end."""
        return any(self.handle_one(line) for line in split_commands(text))

    def handle_one(self, line: str) -> bool:
        """Run one command; return True when the REPL should end."""
        try:
            command = cmd.parse(line)
        except ParseError as exc:
            self.failures += 1
            render_error(self._errors, str(exc))
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
                if is_broken_pipe(exc):  # stdout closed: the REPL ends quietly (app.py)
                    raise
                self.failures += 1
                if self.debug:
                    self.console.print(traceback.format_exc(), markup=False, highlight=False)
                if guard.interrupted:
                    note = INTERRUPTED
                    if isinstance(command, cmd.Commit):
                        note += ": nothing was written; the staged work is kept"
                    render_error(self._errors, note, prefix="")
                else:
                    render_error(self._errors, message_for(exc))
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
            render_error(self._errors, INTERRUPTED, prefix="")
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
            render_error(self._errors, f"pager {command!r} failed ({exc}); option pager off")
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
            render_error(self._errors, str(exc))
            return
        self.workspace.row_limit = settings.row_limit
        value = dict(settings.describe())[command.name]
        self.console.print(f"{command.name} = {value}", markup=False, highlight=False)

    def _leave(self, *, end_of_input: bool) -> bool:
        """May we leave? Asks (commit / discard / stay) when work is staged; Ctrl-D at the
        question asks once more, a second one there discards. A sandbox just leaves (its
        transaction is rolled back)."""
        if not self.workspace.dirty or self.sandbox:
            return True
        added, changed, removed = self.workspace.counts()
        staged = f"{added} to add, {changed} to change, {removed} to remove"
        if not self.interactive:
            self.workspace.session.rollback()
            render_error(
                self._errors, f"staged work discarded ({staged}); nothing was committed", prefix=""
            )
            return True
        asked_again = False
        while True:
            try:
                answer = self._ask_session().prompt(
                    f"staged: {staged}. [c]ommit, [d]iscard or [s]tay? ",
                    enable_history_search=False,
                )
            except KeyboardInterrupt:
                return False
            except EOFError:
                if not asked_again:
                    asked_again = True
                    self.console.print(
                        "Ctrl-D again discards the staged work; or answer c, d or s",
                        markup=False,
                        highlight=False,
                    )
                    continue
                self.workspace.session.rollback()
                render_error(
                    self._errors,
                    f"input ended: staged work discarded ({staged}); nothing was committed",
                    prefix="",
                )
                return True
            choice = answer.strip().lower()
            if choice in ("c", "commit"):
                try:
                    render(self.console, self.workspace.execute(cmd.Commit()))
                except Exception as exc:
                    render_error(self._errors, message_for(exc))
                    return False
                return True
            if choice in ("d", "discard"):
                self.workspace.session.rollback()
                self.console.print(f"discarded ({staged}); nothing was committed")
                return True
            if choice in ("s", "stay", ""):
                return False
            self.console.print("answer c (commit), d (discard) or s (stay)")
