"""Rows as text in each output format, without Rich: what pipes, files and pagers receive.

Formats: ``table`` (aligned columns, two spaces apart, a dashed rule under the header, no
trailing blanks; what ``render.py`` uses when stdout is not a terminal), ``vertical`` (one
``name | value`` block per row, psql's ``\\x``), ``csv`` (RFC 4180 through the ``csv`` module),
``tsv`` (tabs, with ``\\t \\n \\r \\\\`` escaped inside values, as MySQL's batch mode),
``json`` (one array of objects) and ``jsonl`` (one object per line); ``record`` writes one row
as ``name  value`` lines (``show`` on a pipe).

Nulls: ``NULL`` in table and vertical, an empty field in csv and tsv, ``null`` in JSON. When rows
carry staged marks (``+ ~ -``), a first column ``staged`` holds them. Text cells are shown as they
are; JSON gets typed values (``Rows.values``) when the caller built them, else the cell text.

:func:`write_rows` writes rows of Python values (a projection's ``core.Row``: ``find ... select``)
in csv, tsv, json or jsonl, values made JSON-ready by ``values.plain``.

Callers: ``render.py`` (and ``app.py`` through it), ``app.py`` (``ormcli find --select
--format``). Pure functions from columns and rows to lines, written in chunks by :func:`write`;
nothing here knows a console, a database or the models.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from typing import IO, Any, TextIO

from ormcli.values import plain

FORMATS = ("table", "vertical", "csv", "tsv", "json", "jsonl")
NULL = "NULL"

Cells = Sequence[str | None]


def _with_marks(
    columns: Sequence[str], rows: Sequence[Sequence[Any]], marks: Sequence[str]
) -> tuple[Sequence[str], Iterable[Sequence[Any]]]:
    if not any(marks):
        return columns, rows
    return ("staged", *columns), ((mark, *row) for mark, row in zip(marks, rows, strict=True))


def table(
    columns: Sequence[str], rows: Sequence[Cells], marks: Sequence[str] = ()
) -> Iterator[str]:
    """Aligned plain text: header, a rule, the rows (no wrapping, no trailing blanks)."""
    cols, body = _with_marks(columns, rows, marks)
    texts = [[NULL if c is None else c.replace("\n", "\\n") for c in row] for row in body]
    widths = [len(name) for name in cols]
    for row in texts:
        for i, cell in enumerate(row):
            if len(cell) > widths[i]:
                widths[i] = len(cell)
    last = len(widths) - 1

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c if i == last else c.ljust(widths[i]) for i, c in enumerate(cells))

    yield line(cols).rstrip()
    yield "  ".join("-" * w for w in widths)
    for row in texts:
        yield line(row).rstrip()


def vertical(
    columns: Sequence[str], rows: Sequence[Cells], marks: Sequence[str] = ()
) -> Iterator[str]:
    """One block per row: ``-[ RECORD 1 ]-`` then ``name | value`` lines."""
    cols, body = _with_marks(columns, rows, marks)
    width = max((len(c) for c in cols), default=0)
    for number, row in enumerate(body, start=1):
        yield f"-[ RECORD {number} ]" + "-" * max(width - 4, 4)
        for name, cell in zip(cols, row, strict=True):
            yield f"{name.ljust(width)} | {NULL if cell is None else cell}"


def record(columns: Sequence[str], row: Cells) -> Iterator[str]:
    """One row as ``name  value`` lines (``show`` on a pipe)."""
    width = max((len(c) for c in columns), default=0)
    for name, cell in zip(columns, row, strict=True):
        yield f"{name.ljust(width)}  {NULL if cell is None else cell}".rstrip()


def delimited(
    columns: Sequence[str], rows: Sequence[Cells], marks: Sequence[str] = (), *, tsv: bool = False
) -> Iterator[str]:
    """CSV (quoted where needed) or TSV (escaped); a null is an empty field."""
    cols, body = _with_marks(columns, rows, marks)
    if tsv:
        yield "\t".join(_tsv(c) for c in cols)
        for row in body:
            yield "\t".join("" if c is None else _tsv(c) for c in row)
        return
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(cols)
    chunk: list[Sequence[Any]] = []
    for row in body:
        chunk.append(row)
        if len(chunk) == 1000:
            writer.writerows(chunk)
            chunk.clear()
            yield buffer.getvalue().removesuffix("\n")
            buffer.seek(0)
            buffer.truncate()
    writer.writerows(chunk)
    text = buffer.getvalue().removesuffix("\n")
    if text:
        yield text


def _tsv(text: str) -> str:
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        text = text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
        text = text.replace("\r", "\\r")
    return text


def json_rows(
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    marks: Sequence[str] = (),
    *,
    lines: bool = False,
) -> Iterator[str]:
    """A JSON array of objects (``lines``: one object per line, JSON Lines)."""
    cols, body = _with_marks(columns, rows, marks)
    dumps = json.JSONEncoder(ensure_ascii=False).encode
    if lines:
        for row in body:
            yield dumps(dict(zip(cols, row, strict=True)))
        return
    first = True
    for row in body:
        yield ("[" if first else ",") + dumps(dict(zip(cols, row, strict=True)))
        first = False
    yield "[]" if first else "]"


def lines_for(
    fmt: str,
    columns: Sequence[str],
    rows: Sequence[Cells],
    values: Sequence[Sequence[Any]] = (),
    marks: Sequence[str] = (),
) -> Iterator[str]:
    """The lines of ``rows`` in format ``fmt`` (``values``: typed rows for JSON, if built)."""
    if fmt == "table":
        return table(columns, rows, marks)
    if fmt == "vertical":
        return vertical(columns, rows, marks)
    if fmt in ("csv", "tsv"):
        return delimited(columns, rows, marks, tsv=fmt == "tsv")
    if fmt in ("json", "jsonl"):
        return json_rows(columns, values or rows, marks, lines=fmt == "jsonl")
    raise ValueError(f"unknown format {fmt!r} (formats: {', '.join(FORMATS)})")


def write(file: IO[str], lines: Iterable[str]) -> None:
    """Write ``lines`` to ``file`` a few thousand at a time."""
    chunk: list[str] = []
    for line in lines:
        chunk.append(line)
        if len(chunk) >= 2000:
            file.write("\n".join(chunk) + "\n")
            chunk.clear()
    if chunk:
        file.write("\n".join(chunk) + "\n")


def _text(value: Any) -> str:
    value = plain(value)
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def write_rows(
    columns: Sequence[str], rows: Iterable[Sequence[Any]], fmt: str, out: TextIO
) -> None:
    """Write ``rows`` (values in ``columns`` order) to ``out`` in ``fmt`` (one of FORMATS)."""
    if fmt in ("csv", "tsv"):
        writer = csv.writer(out, delimiter="," if fmt == "csv" else "\t", lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_text(v) for v in row])
        return
    if fmt == "jsonl":
        for row in rows:
            out.write(
                json.dumps(dict(zip(columns, map(plain, row), strict=True)), ensure_ascii=False)
            )
            out.write("\n")
        return
    if fmt == "json":
        items = [dict(zip(columns, map(plain, row), strict=True)) for row in rows]
        out.write(json.dumps(items, ensure_ascii=False, indent=2) + "\n")
        return
    raise ValueError(f"unknown format {fmt!r}; use csv, tsv, json or jsonl")
