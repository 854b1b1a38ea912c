"""migrate creates what is missing, is idempotent, and refuses what could lose data."""

from __future__ import annotations

from typing import Annotated

import pytest

from core import Database, IntegrityError, PrimaryKey, entity
from tests.core.models import ALL, Article, Author


def test_migrate_creates_tables_and_is_idempotent(db_url: str) -> None:
    db = Database(db_url, ALL)
    first = db.migrate()
    assert sum(s.startswith("CREATE TABLE") for s in first.statements) == 5
    assert any(s.startswith("CREATE INDEX") for s in first.statements)
    again = db.migration_plan()
    assert again.statements == [] and again.refused == []
    assert db.migrate().empty


def test_unique_and_foreign_keys_are_enforced(db_url: str) -> None:
    db = Database(db_url, ALL)
    db.migrate()
    s = db.create_session()
    s.add(Author(email="same@x", name="1"), Author(email="same@x", name="2"))
    with pytest.raises(IntegrityError, match=r"Author\.email"):
        s.commit()
    conn = db.connection()
    p = db.dialect.placeholder
    q = db.dialect.quote
    with pytest.raises(IntegrityError):
        conn.execute(
            f"INSERT INTO {q('article')} ({q('title')}, {q('author')}, {q('tags')}, {q('meta')}) "
            f"VALUES ({p}, {p}, {p}, {p})",
            ["t", 12345, "[]", "{}"],
        )
    conn.rollback()


def _v1() -> type:
    @entity.name("gadget")
    class Gadget:
        id: Annotated[int, PrimaryKey] = 0
        name: str = ""
        legacy: str | None = None

    return Gadget


def _v2() -> type:
    @entity.name("gadget")
    class Gadget:
        id: Annotated[int, PrimaryKey] = 0
        name: int = 0
        colour: str | None = None
        weight: float = 0.0

    return Gadget


def test_safe_columns_are_added_and_risky_differences_refused(db_url: str) -> None:
    """A nullable column is added; a type change, a dropped and a NOT NULL column are refused."""
    Database(db_url, [_v1()]).migrate()
    db = Database(db_url, [_v2()])
    plan = db.migration_plan()
    assert len(plan.statements) == 1 and "ADD COLUMN" in plan.statements[0]
    assert "colour" in plan.statements[0]
    refused = "\n".join(plan.refused)
    assert "Gadget.name: the column is" in refused and "migrate does not change types" in refused
    assert "gadget.legacy: the column is in the database but not in the model" in refused
    assert "Gadget.weight: the column is missing and is not nullable" in refused
    db.migrate()
    assert db.migration_plan().statements == []


def test_migration_plan_runs_nothing(db_url: str) -> None:
    db = Database(db_url, [Author, Article])
    plan = db.migration_plan()
    assert plan.statements
    assert db.migration_plan().statements == plan.statements
