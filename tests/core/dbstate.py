"""Read a database's whole content through a separate raw connection (for 'unchanged' checks)."""

from __future__ import annotations

from typing import Any

from core import Database


def dump(url: str, tables: list[str]) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, sorted, read through a new connection of its own."""
    db = Database(url, [])
    try:
        conn = db.connection()
        q = db.dialect.quote
        out = {}
        for t in tables:
            rows = conn.fetchall(f"SELECT * FROM {q(t)}")
            out[t] = sorted((tuple(r) for r in rows), key=repr)
        return out
    finally:
        db.close()
