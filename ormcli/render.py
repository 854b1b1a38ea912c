"""Rich rendering of command results: the only module that imports Rich.

Callers: ``repl.py``, ``script.py`` and ``app.py`` call :func:`render` with a result from
``results.py`` and :func:`render_error` with a message. Layout: ``find`` rows as a table (one
row from ``show`` as a vertical record), the change set as ``+``/``~``/``-`` lines with
``old → new`` per changed field and a summary line, commit and migration summaries, help.
Meaning is carried by symbols and words, colour only decorates; Rich honours ``NO_COLOR``.
User data is always wrapped in ``Text`` (never parsed as markup). It decides nothing about
which stream to write to (callers pass the console).
"""

from __future__ import annotations

from typing import IO

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ormcli import results as r


def make_console(file: IO[str] | None = None, *, stderr: bool = False) -> Console:
    """A console for stdout (data) or stderr (messages); ``file`` overrides both (tests)."""
    return Console(file=file, stderr=stderr, highlight=False, soft_wrap=False)


def plural(count: int, word: str) -> str:
    """``1 insert``, ``2 inserts``."""
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def summary_line(view: r.ChangeSetView) -> str:
    """``2 to add, 1 to change, 1 to remove`` (or ``nothing to commit``)."""
    if view.empty:
        return "nothing to commit"
    return f"{len(view.added)} to add, {len(view.changed)} to change, {len(view.removed)} to remove"


def commit_line(done: r.Committed) -> str:
    """``committed 2 inserts, 1 update, 1 delete in 3 statements (4.1 ms)``."""
    parts = [
        plural(count, word)
        for count, word in (
            (done.inserts, "insert"),
            (done.updates, "update"),
            (done.deletes, "delete"),
        )
        if count
    ]
    if not parts:
        return "nothing to commit"
    return (
        f"committed {', '.join(parts)} in {plural(done.statements, 'statement')} "
        f"({done.elapsed_ms:.1f} ms)"
    )


def render_error(console: Console, message: str, *, prefix: str = "error: ") -> None:
    """One line: ``error: message`` (or ``file:line: message`` with that prefix)."""
    line = Text()
    line.append(prefix, style="bold red")
    line.append(message)
    console.print(line, soft_wrap=True)


def render(console: Console, result: r.Result) -> None:
    """Draw one command result."""
    if isinstance(result, r.Message):
        console.print(Text(result.text), soft_wrap=True)
    elif isinstance(result, r.Staged):
        _staged(console, result)
    elif isinstance(result, r.Modified):
        _modified(console, result)
    elif isinstance(result, r.RemovedItems):
        _removed(console, result)
    elif isinstance(result, r.Rows):
        _rows(console, result)
    elif isinstance(result, r.Counted):
        console.print(Text(str(result.count)))
    elif isinstance(result, r.ChangeSetView):
        render_change_set(console, result)
    elif isinstance(result, r.Committed):
        console.print(Text(commit_line(result), style="green"), soft_wrap=True)
    elif isinstance(result, r.ModelsView):
        _models(console, result)
    elif isinstance(result, r.MigrationView):
        _migration(console, result)
    else:
        _help(console, result)


def _fields_text(text: Text, fields: tuple[tuple[str, str], ...]) -> None:
    for name, value in fields:
        text.append("  ")
        text.append(name, style="bold")
        text.append("=")
        text.append(value)


def _staged(console: Console, staged: r.Staged) -> None:
    text = Text()
    text.append("+ ", style="green bold")
    text.append(f"{staged.handle} {staged.entity}", style="green")
    _fields_text(text, staged.fields)
    console.print(text, soft_wrap=True)


def _change_lines(changes: tuple[r.FieldChange, ...]) -> list[Text]:
    lines = []
    for change in changes:
        line = Text("    ")
        line.append(change.name, style="bold")
        line.append(": ")
        line.append(change.old, style="red")
        line.append(" → ")
        line.append(change.new, style="green")
        lines.append(line)
    return lines


def _modified(console: Console, modified: r.Modified) -> None:
    head = Text()
    head.append("~ ", style="yellow bold")
    head.append(f"{modified.entity} {modified.label}", style="yellow")
    console.print(head, soft_wrap=True)
    for line in _change_lines(modified.changes):
        console.print(line, soft_wrap=True)


def _removed(console: Console, removed: r.RemovedItems) -> None:
    for label in removed.labels:
        text = Text()
        text.append("- ", style="red bold")
        text.append(f"{removed.entity} {label}", style="red")
        console.print(text, soft_wrap=True)
    if removed.unstaged:
        console.print(
            Text(f"({plural(removed.unstaged, 'new entity')} unstaged, never written)"),
            soft_wrap=True,
        )


def render_change_set(console: Console, view: r.ChangeSetView) -> None:
    """``status``: ``+``/``~``/``-`` entries, the summary line, then the SQL if asked for."""
    for added in view.added:
        head = Text()
        head.append("+ ", style="green bold")
        head.append(f"{added.entity} {added.label}", style="green")
        console.print(head, soft_wrap=True)
        for name, value in added.fields:
            line = Text("    ")
            line.append(name, style="bold")
            line.append(" = ")
            line.append(value)
            console.print(line, soft_wrap=True)
    for changed in view.changed:
        _modified(console, r.Modified(changed.entity, changed.label, changed.changes))
    for removed in view.removed:
        text = Text()
        text.append("- ", style="red bold")
        text.append(f"{removed.entity} {removed.label}", style="red")
        _fields_text(text, removed.fields)
        console.print(text, soft_wrap=True)
    console.print(Text(summary_line(view), style="bold"), soft_wrap=True)
    if view.sql is not None:
        render_sql(console, view.sql)


def render_sql(console: Console, statements: tuple[r.SqlStatement, ...]) -> None:
    """The statements a commit will send, one per line, parameters in a comment."""
    if not statements:
        return
    console.print(Text(f"-- SQL ({plural(len(statements), 'statement')}):", style="dim"))
    for statement in statements:
        line = Text(statement.sql.rstrip(";") + ";", style="cyan")
        notes = []
        if statement.rows != 1:
            notes.append(plural(statement.rows, "row"))
        if statement.params:
            notes.append("params: " + ", ".join(statement.params))
        if notes:
            line.append("  -- " + "; ".join(notes), style="dim")
        console.print(line, soft_wrap=True)


_MARK_WORDS = {"+": "staged add", "~": "staged change", "-": "staged removal"}


def staged_note(marks: tuple[str, ...]) -> str:
    """``1 staged add, 2 staged changes (not committed)`` for the marked rows, or ``""``."""
    parts = []
    for mark, word in _MARK_WORDS.items():
        count = marks.count(mark)
        if count:
            parts.append(plural(count, word))
    return f"{', '.join(parts)} (not committed)" if parts else ""


def _rows(console: Console, rows: r.Rows) -> None:
    if rows.record and len(rows.rows) == 1:
        grid = Table(
            box=box.SIMPLE_HEAD, show_header=False, title=rows.entity, title_justify="left"
        )
        grid.add_column("field", style="bold")
        grid.add_column("value", overflow="fold")
        for name, cell in zip(rows.columns, rows.rows[0], strict=True):
            grid.add_row(Text(name), _cell(cell))
        console.print(grid)
        if rows.marks and rows.marks[0]:
            mark = rows.marks[0]
            console.print(Text(f"{mark} {_MARK_WORDS[mark]} (not committed)"), soft_wrap=True)
        return
    table = Table(box=box.SIMPLE_HEAD)
    marked = any(rows.marks)
    if marked:
        table.add_column("", no_wrap=True)
    for name in rows.columns:
        table.add_column(name, overflow="fold")
    for i, row in enumerate(rows.rows):
        cells = [_cell(cell) for cell in row]
        if marked:
            cells.insert(0, Text(rows.marks[i]))
        table.add_row(*cells)
    console.print(table)
    footer = plural(len(rows.rows), "row")
    note = staged_note(rows.marks)
    if note:
        footer += f"; {note}"
    console.print(Text(f"({footer})", style="dim"))


def _cell(cell: str | None) -> Text:
    return Text("None", style="dim") if cell is None else Text(cell)


def _models(console: Console, view: r.ModelsView) -> None:
    if not view.entities:
        console.print(Text("no models loaded (use --models PATH or: load PATH)"))
        return
    if not view.detailed:
        table = Table(box=box.SIMPLE_HEAD)
        table.add_column("entity")
        table.add_column("table")
        table.add_column("fields")
        for ent in view.entities:
            table.add_row(
                Text(ent.name), Text(ent.table), Text(", ".join(f.name for f in ent.fields))
            )
        console.print(table)
        return
    for ent in view.entities:
        table = Table(
            box=box.SIMPLE_HEAD, title=f"{ent.name} (table {ent.table})", title_justify="left"
        )
        table.add_column("field")
        table.add_column("type")
        table.add_column("keys")
        for f in ent.fields:
            table.add_row(Text(f.name), Text(f.type), Text(", ".join(f.notes)))
        console.print(table)


def _migration(console: Console, view: r.MigrationView) -> None:
    for statement in view.statements:
        console.print(Text(statement.rstrip(";") + ";"), soft_wrap=True)
    for refused in view.refused:
        render_error(console, refused, prefix="refused: ")
    if not view.statements and not view.refused:
        console.print(Text("the schema is up to date"))
    elif view.applied:
        console.print(Text(f"applied {plural(len(view.statements), 'statement')}", style="green"))
    elif view.statements:
        console.print(
            Text(f"dry run: {plural(len(view.statements), 'statement')} not run", style="dim")
        )


def _help(console: Console, view: r.HelpView) -> None:
    if view.detailed:
        for entry in view.entries:
            console.print(Text(entry.usage, style="bold"), soft_wrap=True)
            console.print(Text("    " + entry.summary), soft_wrap=True)
            if entry.details:
                console.print(Text("    " + entry.details), soft_wrap=True)
    else:
        width = max(len(e.usage) for e in view.entries)
        for entry in view.entries:
            line = Text(entry.usage.ljust(width + 2), style="bold")
            line.append(entry.summary)
            console.print(line, soft_wrap=True)
    for footer in view.footer:
        console.print(Text(footer, style="dim"), soft_wrap=True)
