"""The history table ``ormcli_migrations``: one row per migrate run, file applied or undone.

Each row records the name (a file's, or ``auto`` for a bare ``migrate``), kind, checksum,
schema fingerprints before and after, statements total and applied, when it started and
finished, and for a failure the error and the failing statement; ``statements`` keeps the SQL
and ``schema_after`` the schema as it was left (drift is named against it). The table is
made by the same renderer as any other. Callers: ``core.migrations.runner`` and ``files``.
What it leaves out: deciding what to run.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from core.connection import Connection
from core.migrations.reader import HISTORY_TABLE
from core.migrations.render import Statement, create_table_sql
from core.migrations.schema import Column, Table

__all__ = ["HISTORY_TABLE", "History", "HistoryRow"]

_CTX = "cannot record the migration history"


def _table() -> Table:
    t = Table(HISTORY_TABLE)
    specs = [
        ("id", "int", False),
        ("name", "str(255)", False),
        ("kind", "str(16)", False),
        ("checksum", "str(64)", True),
        ("fingerprint_before", "str(32)", True),
        ("fingerprint_after", "str(32)", True),
        ("statements_total", "int", False),
        ("statements_applied", "int", False),
        ("started_at", "str(32)", False),
        ("finished_at", "str(32)", True),
        ("error", "str", True),
        ("failing_statement", "str", True),
        ("statements", "str", True),
        ("schema_after", "str", True),
    ]
    for name, spec, nullable in specs:
        t.columns[name] = Column(name, spec, nullable, autoincrement=name == "id")
    t.primary_key = ("id",)
    return t


_COLUMNS = tuple(c for c in _table().columns if c != "id")


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


@dataclass
class HistoryRow:
    id: int
    name: str
    kind: str
    checksum: str | None
    fingerprint_before: str | None
    fingerprint_after: str | None
    statements_total: int
    statements_applied: int
    started_at: str
    finished_at: str | None
    error: str | None
    failing_statement: str | None
    statements: str | None
    schema_after: str | None

    @property
    def complete(self) -> bool:
        return self.finished_at is not None and self.error is None

    def sql(self) -> list[Statement]:
        """The statements the run was made of (with what a resumed run needs to know)."""
        out = []
        for item in json.loads(self.statements or "[]"):
            sql, params, *flags = item
            out.append(Statement(sql, tuple(params), **(flags[0] if flags else {})))
        return out


class History:
    """Reads and writes ``ormcli_migrations`` on one connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.d = conn.dialect

    def exists(self) -> bool:
        rows = self.conn.fetchall(self.d.catalog_columns_sql, (), _CTX)
        return any(str(r[0]).lower() == HISTORY_TABLE for r in rows)

    def create_sql(self) -> str:
        return create_table_sql(self.d, _table(), with_fks=False)

    def ensure(self) -> None:
        if not self.exists():
            self.conn.execute(self.create_sql(), (), _CTX)

    def rows(self) -> list[HistoryRow]:
        if not self.exists():
            return []
        q = self.d.quote
        cols = ", ".join(q(c) for c in ("id", *_COLUMNS))
        found = self.conn.fetchall(
            f"SELECT {cols} FROM {q(HISTORY_TABLE)} ORDER BY {q('id')}", (), _CTX
        )
        return [HistoryRow(*r) for r in found]

    def start(
        self,
        name: str,
        kind: str,
        *,
        checksum: str | None,
        fingerprint_before: str,
        statements: list[list[Any]],
        **done: Any,
    ) -> int:
        """A new row (``done`` fills the finished columns of a run recorded in one go)."""
        q, p = self.d.quote, self.d.placeholder
        values: dict[str, Any] = {
            "name": name,
            "kind": kind,
            "checksum": checksum,
            "fingerprint_before": fingerprint_before,
            "statements_total": len(statements),
            "statements_applied": 0,
            "started_at": _now(),
            "statements": json.dumps(statements, default=str),
            **done,
        }
        if "finished_at" in done:
            values["finished_at"] = values["started_at"]
        cols = ", ".join(q(c) for c in values)
        sql = f"INSERT INTO {q(HISTORY_TABLE)} ({cols}) VALUES ({', '.join([p] * len(values))})"
        self.conn.execute(sql, list(values.values()), _CTX)
        rows = self.conn.fetchall(f"SELECT MAX({q('id')}) FROM {q(HISTORY_TABLE)}", (), _CTX)
        return int(rows[0][0])

    def update(self, row_id: int, **values: Any) -> None:
        q, p = self.d.quote, self.d.placeholder
        sets = ", ".join(f"{q(c)} = {p}" for c in values)
        self.conn.execute(
            f"UPDATE {q(HISTORY_TABLE)} SET {sets} WHERE {q('id')} = {p}",
            [*values.values(), row_id],
            _CTX,
        )

    def finish(
        self, row_id: int, *, applied: int, fingerprint_after: str, schema_after: str
    ) -> None:
        self.update(
            row_id,
            statements_applied=applied,
            finished_at=_now(),
            fingerprint_after=fingerprint_after,
            schema_after=schema_after,
            error=None,
            failing_statement=None,
        )

    def fail(self, row_id: int, *, applied: int, error: str, statement: str) -> None:
        self.update(row_id, statements_applied=applied, error=error, failing_statement=statement)

    def delete(self, row_id: int) -> None:
        q, p = self.d.quote, self.d.placeholder
        self.conn.execute(f"DELETE FROM {q(HISTORY_TABLE)} WHERE {q('id')} = {p}", [row_id], _CTX)
