"""One set of migration files for a team that tests on SQLite and deploys elsewhere: files
planned on SQLite apply on every backend and leave it in sync with the models (the files hold
neutral operations, rendered for the backend that runs them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core import Database
from tests.migrations.test_cli_migrate import _models, _run

A = """
from typing import Annotated
from core import AutoIncrement, Check, Index, MaxLength, PrimaryKey, Reference, Unique, entity

@entity.name("writer")
class Writer:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    email: Annotated[str, Unique, MaxLength(120)] = ""

@entity.name("book")
class Book:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    title: Annotated[str, Index, MaxLength(80)] = ""
    rating: Annotated[int, Check("rating >= 0")] = 0
    writer: Annotated[Writer, Reference(on_delete="cascade")] | None = None
"""

B = (
    A.replace("from core import ", "from core import RenamedFrom, ")
    .replace(
        '    title: Annotated[str, Index, MaxLength(80)] = ""',
        '    headline: Annotated[str, Index, MaxLength(200), RenamedFrom("title")] = ""',
    )
    .replace(
        "    rating: Annotated",
        "    pages: int = 0\n    note: str | None = None\n    rating: Annotated",
    )
)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_files_planned_on_sqlite_apply_on_every_backend(db_url: str, project: Path) -> None:
    """0001 (two tables, a unique, an index, a check, a foreign key with ON DELETE) and 0002
    (a rename, a wider column, two new columns) planned on SQLite; applied here, check is in
    sync, the rows survive 0002, and undoing 0002 converges back to the first models."""
    sqlite = f"sqlite:///{project / 'dev.db'}"
    a = _models(project, A)
    assert _run(sqlite, a, "plan", "init").exit_code == 0
    assert _run(sqlite, a, "apply").exit_code == 0
    b = _models(project, B)
    planned = _run(sqlite, b, "plan", "grow")
    assert planned.exit_code == 0, planned.stderr
    assert "rename column book.title to headline" in planned.stdout

    applied = _run(db_url, b, "apply")  # both files pending here: applied in order
    assert applied.exit_code == 0, applied.stderr
    assert applied.stderr == "applied 2 file(s)\n"
    status = _run(db_url, b, "status")
    assert status.stdout.splitlines()[:2] == ["applied  0001_init", "applied  0002_grow"]
    check = _run(db_url, b, "check")
    assert check.exit_code == 0, check.stdout + check.stderr

    db = Database(db_url, [])
    q, p = db.dialect.quote, db.dialect.placeholder
    with db.pool.connection() as conn:
        conn.execute(f"INSERT INTO {q('writer')} ({q('email')}) VALUES ({p})", ["w@x"])
        conn.execute(
            f"INSERT INTO {q('book')} ({q('headline')}, {q('writer')}) VALUES ({p}, {p})",
            ["Dune", 1],
        )
    db.close()
    undone = _run(db_url, b, "undo", "--allow-data-loss")
    assert undone.exit_code == 0, undone.stderr
    assert _run(db_url, a, "--dry-run").stderr == "the schema is up to date\n"
    db = Database(db_url, [])
    with db.pool.connection() as conn:
        rows = conn.fetchall(f"SELECT {q('title')}, {q('writer')} FROM {q('book')}")
    db.close()
    assert [tuple(r) for r in rows] == [("Dune", 1)]
