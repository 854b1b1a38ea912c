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

import io
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from core import shorten
from ormcli import formats, lazy

if TYPE_CHECKING:
    from ormcli import results as r
else:  # built at first use (start-up time: ormcli/lazy.py)
    r = lazy.module("ormcli.results")

#: Echoed values (``+ @1 User name=...``, ``old → new``) longer than this are cut with ``…``.
ECHO_WIDTH = 80
#: ``status`` and ``remove`` list at most this many lines per kind; the rest are counted.
SUMMARY_LINES = 20


@dataclass(frozen=True)
class OutputOptions:
    """How rows are written: the format, where footers go, the timing to show."""

    format: str = "table"
    """One of ``formats.FORMATS``."""
    footer: Console | None = None
    """Where ``(N rows)`` goes (stderr when stdout is not a terminal); None: with the rows."""
    elapsed_ms: float | None = None
    """Shown in the footer: ``(12 rows in 3.1 ms)``."""


def cut(text: str, width: int = ECHO_WIDTH) -> str:
    """``text`` cut to ``width`` characters with ``…`` at the end."""
    return text if len(text) <= width else text[: width - 1] + "…"


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
    text = f"{len(view.added)} to add, {len(view.changed)} to change, {len(view.removed)} to remove"
    if view.upserted:
        text += f", {len(view.upserted)} to upsert"
    return text


def commit_line(done: r.Committed) -> str:
    """``committed 2 inserts, 1 update, 1 delete in 3 statements (4.1 ms)``."""
    parts = [
        plural(count, word)
        for count, word in (
            (done.inserts, "insert"),
            (done.upserts, "upsert"),
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


def render_to_text(like: Console, result: r.Result, options: OutputOptions | None = None) -> str:
    """What :func:`render` would draw on the terminal ``like``, as text (for a pager)."""
    buffer = io.StringIO()
    page = Console(
        file=buffer,
        force_terminal=True,
        color_system=like.color_system,  # type: ignore[arg-type]
        width=like.width,
        height=like.height,
        highlight=False,
        soft_wrap=False,
    )
    render(page, result, options)
    return buffer.getvalue()


def render_error(console: Console, message: str, *, prefix: str = "error: ") -> None:
    """One line: ``error: message`` (or ``file:line: message`` with that prefix); a long token
    in it (a 1 MB line echoed back) is cut to its start, ``…`` and its length."""
    line = Text()
    line.append(shorten(prefix), style="bold red")
    line.append(shorten(message))
    console.print(line, soft_wrap=True)


def render(console: Console, result: r.Result, options: OutputOptions | None = None) -> None:
    """Draw one command result."""
    options = options or OutputOptions()
    if isinstance(result, r.Message):
        console.print(Text(result.text), soft_wrap=True)
    elif isinstance(result, r.Staged):
        _staged(console, result)
    elif isinstance(result, r.Modified):
        _modified(console, result)
    elif isinstance(result, r.RemovedItems):
        _removed(console, result)
    elif isinstance(result, r.Rows):
        _rows(console, result, options)
    elif isinstance(result, r.Counted):
        console.print(Text(str(result.count)))
        if options.elapsed_ms is not None:
            _footer(console, options, f"(in {options.elapsed_ms:.1f} ms)")
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
        text.append(cut(value))


def _staged(console: Console, staged: r.Staged) -> None:
    text = Text()
    text.append("+~ " if staged.upsert else "+ ", style="green bold")
    text.append(f"{staged.handle} {staged.entity}", style="green")
    _fields_text(text, staged.fields)
    console.print(text, soft_wrap=True)


def _change_lines(changes: tuple[r.FieldChange, ...]) -> list[Text]:
    lines = []
    for change in changes:
        line = Text("    ")
        line.append(change.name, style="bold")
        line.append(": ")
        line.append(cut(change.old), style="red")
        line.append(" → ")
        line.append(cut(change.new), style="green")
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
    for label in removed.labels[:SUMMARY_LINES]:
        text = Text()
        text.append("- ", style="red bold")
        text.append(f"{removed.entity} {label}", style="red")
        console.print(text, soft_wrap=True)
    rest = len(removed.labels) - SUMMARY_LINES
    if rest > 0:
        console.print(
            Text(f"- … and {rest:,} more {removed.entity} (status --all lists every one)"),
            soft_wrap=True,
        )
    if removed.unstaged:
        console.print(
            Text(f"({plural(removed.unstaged, 'new entity')} unstaged, never written)"),
            soft_wrap=True,
        )


def _more(console: Console, sign: str, entries: tuple[object, ...], word: str) -> None:
    rest = len(entries) - SUMMARY_LINES
    if rest > 0:
        console.print(Text(f"{sign} … and {rest:,} more {word} (status --all lists every one)"))


def render_change_set(console: Console, view: r.ChangeSetView, *, show_all: bool = False) -> None:
    """``status``: ``+``/``~``/``-`` entries, the summary line, then the SQL if asked for.
    Beyond ``SUMMARY_LINES`` entries of a kind the rest are counted (``show_all``: listed)."""
    limit = None if show_all or view.show_all else SUMMARY_LINES
    edits = {(c.entity, c.label): c for c in view.collections}
    for added in view.added[:limit]:
        head = Text()
        head.append("+ ", style="green bold")
        head.append(f"{added.entity} {added.label}", style="green")
        console.print(head, soft_wrap=True)
        for name, value in added.fields:
            line = Text("    ")
            line.append(name, style="bold")
            line.append(" = ")
            line.append(cut(value))
            console.print(line, soft_wrap=True)
        _collection_lines(console, edits.pop((added.entity, added.label), None))
    if limit:
        _more(console, "+", view.added, "to add")
    for upserted in view.upserted[:limit]:
        head = Text()
        head.append("+~ ", style="yellow bold")
        head.append(f"{upserted.entity} {upserted.label}", style="yellow")
        head.append(f" (insert, or update the row with the same {', '.join(upserted.on)})")
        console.print(head, soft_wrap=True)
        for name, value in upserted.fields:
            line = Text("    ")
            line.append(name, style="bold")
            line.append(" = ")
            line.append(cut(value))
            console.print(line, soft_wrap=True)
    if limit:
        _more(console, "+~", view.upserted, "to upsert")
    for changed in view.changed[:limit]:
        _modified(console, r.Modified(changed.entity, changed.label, changed.changes))
        _collection_lines(console, edits.pop((changed.entity, changed.label), None))
    if limit:
        _more(console, "~", view.changed, "to change")
    for entry in edits.values():  # owners whose own fields did not change
        console.print(Text(f"  {entry.entity} {entry.label}"), soft_wrap=True)
        _collection_lines(console, entry)
    for removed in view.removed[:limit]:
        text = Text()
        text.append("- ", style="red bold")
        text.append(f"{removed.entity} {removed.label}", style="red")
        _fields_text(text, removed.fields)
        console.print(text, soft_wrap=True)
    if limit:
        _more(console, "-", view.removed, "to remove")
    console.print(Text(summary_line(view), style="bold"), soft_wrap=True)
    if view.sql is not None:
        render_sql(console, view.sql)


def _collection_lines(console: Console, entry: r.CollectionEntry | None) -> None:
    """An owner's collection edits under it: ``    + tags Tag 2``, ``    - posts Post 3``."""
    for mark, name, member in entry.lines if entry is not None else ():
        line = Text("    ")
        line.append(f"{mark} ", style="green bold" if mark == "+" else "red bold")
        line.append(name, style="bold")
        line.append(f" {member}")
        console.print(line, soft_wrap=True)


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


def _footer(console: Console, options: OutputOptions, text: str) -> None:
    (options.footer or console).print(Text(text, style="dim"), soft_wrap=True)


def rows_footer(rows: r.Rows, elapsed_ms: float | None = None) -> str:
    """``(3 rows; 1 staged add (not committed) in 2.1 ms)``, or ``(showing 200 of 32,000 rows
    — limit N or --all ...)`` when the default row limit cut the answer."""
    if rows.total is not None and rows.total > len(rows.rows):
        text = f"showing {len(rows.rows):,} of {rows.total:,} rows — limit N or --all"
    else:
        text = plural(len(rows.rows), "row")
    note = staged_note(rows.marks)
    if rows.hidden:
        hidden = f"{plural(rows.hidden, 'staged removal')} not shown"
        note = f"{note}; {hidden}" if note else hidden
    if note:
        text += f"; {note}"
    if elapsed_ms is not None:
        text += f" in {elapsed_ms:.1f} ms"
    return f"({text})"


def _rows(console: Console, rows: r.Rows, options: OutputOptions) -> None:
    fmt = options.format
    if rows.record and len(rows.rows) == 1 and fmt == "table":
        if console.is_terminal:
            _record(console, rows)
        else:
            console.print(Text(rows.entity), soft_wrap=True)
            formats.write(console.file, formats.record(rows.columns, rows.rows[0]))
        if rows.marks and rows.marks[0]:
            mark = rows.marks[0]
            console.print(Text(f"{mark} {_MARK_WORDS[mark]} (not committed)"), soft_wrap=True)
        _collections(console, rows.collections)
        return
    if fmt == "table" and console.is_terminal:
        if _natural_width(rows) > console.width:
            fmt = "vertical"  # a row wider than the screen reads better as a record
        else:
            _table(console, rows)
            _footer(console, options, rows_footer(rows, options.elapsed_ms))
            return
    console.file.flush()
    lines = formats.lines_for(fmt, rows.columns, rows.rows, rows.values, rows.marks)
    formats.write(console.file, lines)
    console.file.flush()
    footer = options.footer if options.footer is not None else console
    _footer(footer, options, rows_footer(rows, options.elapsed_ms))


def _natural_width(rows: r.Rows) -> int:
    """How wide the table would be with no cell cut: the widest cell per column plus gaps."""
    widths = [len(name) for name in rows.columns]
    for row in rows.rows[:1000]:
        for i, cell in enumerate(row):
            size = 4 if cell is None else len(cell)
            if size > widths[i]:
                widths[i] = size
    return sum(min(w, 40) for w in widths) + 2 * len(widths) + (2 if any(rows.marks) else 0)


def _collections(console: Console, collections: tuple[r.CollectionSummary, ...]) -> None:
    """``show``: one line per collection, ``posts: 3 Post — 1 "a", 2 "b", ...``."""
    for c in collections:
        line = Text()
        line.append(c.name, style="bold")
        line.append(f": {plural(c.count, c.entity)}")
        if c.first:
            line.append(" — " + ", ".join(c.first))
            if c.count > len(c.first):
                line.append(", …")
        console.print(line, soft_wrap=True)


def _record(console: Console, rows: r.Rows) -> None:
    grid = Table(box=box.SIMPLE_HEAD, show_header=False, title=rows.entity, title_justify="left")
    grid.add_column("field", style="bold", no_wrap=True)
    grid.add_column("value", overflow="fold")
    for name, cell in zip(rows.columns, rows.rows[0], strict=True):
        grid.add_row(Text(name), _cell(None if cell is None else cut(cell, 2000)))
    console.print(grid)


def _table(console: Console, rows: r.Rows) -> None:
    table = Table(box=box.SIMPLE_HEAD)
    marked = any(rows.marks)
    if marked:
        table.add_column("", no_wrap=True)
    for name in rows.columns:
        table.add_column(name, overflow="ellipsis", no_wrap=True)
    for i, row in enumerate(rows.rows):
        cells = [_cell(cell) for cell in row]
        if marked:
            cells.insert(0, Text(rows.marks[i]))
        table.add_row(*cells)
    console.print(table)


def _cell(cell: str | None) -> Text:
    return Text(formats.NULL, style="dim") if cell is None else Text(cut(cell, 1000))


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
