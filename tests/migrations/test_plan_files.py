"""``ormcli migrate plan NAME`` plans against the schema the migration files make, on every
backend: never past pending files, never taking a change made outside the files as done.

A team member's plan must hold only what is new: refused while someone's file is pending
here (it would repeat that file's changes); and a change made on this database by a bare
``migrate`` or by hand is still written into the file (the others' databases need it), with
a line saying to mark it applied here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from core import Database
from tests import backends
from tests.migrations.test_cli_migrate import V1, _models, _run

V2 = V1 + "    rating: int = 0\n"
V3 = V2 + "    pages: int = 0\n"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def teammate_url(backend_url: str, tmp_path: Path) -> Iterator[str]:
    """A second empty database on the same backend (another developer's, or production)."""
    (tmp_path / "teammate").mkdir()
    with backends.fresh_database(backend_url, tmp_path / "teammate") as url:
        yield url


def _files(project: Path) -> list[str]:
    return sorted(p.name for p in (project / "migrations").iterdir())


def test_plan_is_refused_while_a_file_is_pending(db_url: str, project: Path) -> None:
    """A teammate's 0002 (pulled, not applied here): planning 0003 is refused, nothing is
    written; after apply, the new file holds only what 0002 does not."""
    models = _models(project, V1)
    assert _run(db_url, models, "plan", "init").exit_code == 0
    assert _run(db_url, models, "apply").exit_code == 0
    models = _models(project, V2)
    assert _run(db_url, models, "plan", "add_rating").exit_code == 0  # the teammate's file
    models = _models(project, V3)
    refused = _run(db_url, models, "plan", "add_pages")
    assert refused.exit_code == 1
    assert refused.stderr == (
        "error: migration files are pending (0002_add_rating); apply them before planning "
        "the next one (a plan now would repeat their changes)\n"
    )
    assert _files(project) == ["0001_init.json", "0002_add_rating.json"]
    assert _run(db_url, models, "apply").exit_code == 0
    planned = _run(db_url, models, "plan", "add_pages")
    assert planned.exit_code == 0, planned.stderr
    assert planned.stdout.splitlines()[0].startswith("+ add column book.pages")
    assert "rating" not in planned.stdout
    data = json.loads((project / "migrations" / "0003_add_pages.json").read_text())
    assert [(op["op"], op["column"]["name"]) for op in data["up"]] == [("add_column", "pages")]


def test_a_change_a_bare_migrate_made_still_goes_into_the_file(
    db_url: str, teammate_url: str, project: Path
) -> None:
    """The rating column was added here by a bare migrate (no file): plan still writes it
    into 0002 and says to mark it applied here; once marked, check is in sync; a teammate's
    empty database gets both files from apply, and is in sync too."""
    models = _models(project, V1)
    assert _run(db_url, models, "plan", "init").exit_code == 0
    assert _run(db_url, models, "apply").exit_code == 0
    models = _models(project, V2)
    assert _run(db_url, models).exit_code == 0  # bare migrate: the column, but no file
    planned = _run(db_url, models, "plan", "add_rating")
    assert planned.exit_code == 0, planned.stderr
    assert planned.stdout.splitlines()[0].startswith("+ add column book.rating")
    assert planned.stderr.splitlines() == [
        "wrote migrations/0002_add_rating.json",
        "this database already has these changes (made outside the files): record them "
        "with 'ormcli migrate mark-applied 0002_add_rating'",
    ]
    assert _run(db_url, models, "check").exit_code == 1  # 0002 is pending until marked
    assert _run(db_url, models, "mark-applied", "0002_add_rating").exit_code == 0
    assert _run(db_url, models, "check").exit_code == 0
    assert _run(teammate_url, models, "apply").exit_code == 0
    assert _run(teammate_url, models, "check").exit_code == 0
    db = Database(teammate_url, [])
    with db.pool.connection() as conn:
        cols = {str(r[1]) for r in conn.fetchall(db.dialect.catalog_columns_sql)}
    db.close()
    assert "rating" in cols


def test_plan_is_refused_when_the_database_matches_neither_files_nor_models(
    db_url: str, project: Path
) -> None:
    """A column added by hand that no model has: the plan would not know what to hold, so it
    is refused naming the change; nothing is written."""
    models = _models(project, V1)
    assert _run(db_url, models, "plan", "init").exit_code == 0
    assert _run(db_url, models, "apply").exit_code == 0
    db = Database(db_url, [])
    q = db.dialect.quote
    with db.pool.connection() as conn:
        conn.execute(f"ALTER TABLE {q('book')} ADD COLUMN {q('note')} {db.dialect.sql_type('int')}")
    db.close()
    models = _models(project, V2)
    refused = _run(db_url, models, "plan", "add_rating")
    assert refused.exit_code == 1
    assert refused.stderr.startswith(
        "error: this database differs from the schema the migration files make (add column "
        "book.note"
    )
    assert refused.stderr.rstrip().endswith(
        "and from the models; bring it to the models (migrate) or back to the files, then plan"
    )
    assert _files(project) == ["0001_init.json"]
