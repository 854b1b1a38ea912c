"""Machine-readable output of rows: ``csv``, ``tsv``, ``json`` (one array) and ``jsonl`` (one
object per line), written to a text stream.

``write_rows(columns, rows, fmt, out)`` takes column names and rows of Python values (entity
fields, or a projection's ``core.Row``); values become JSON-ready through ``values.plain``
(ISO dates, Decimal and UUID as text, enums by name, bytes as hex), and in CSV/TSV ``None`` is
an empty field, lists and dicts their JSON text. Callers: ``app.py`` (``ormcli find
--format``), and the REPL's output modes may share it. What it leaves out: the Rich table
(``render.py``) and choosing columns.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

from ormcli.values import plain

__all__ = ["FORMATS", "write_rows"]

FORMATS = ("csv", "tsv", "json", "jsonl")


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
    raise ValueError(f"unknown format {fmt!r}; use {', '.join(FORMATS)}")
