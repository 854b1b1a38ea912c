"""``ormcli migrate`` and its subcommands, driven through the command app on every backend."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.helpers import invoke

V1 = """
from typing import Annotated
from core import AutoIncrement, PrimaryKey, entity

@entity.name("book")
class Book:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    title: str = ""
"""

V2 = V1 + "    rating: int = 0\n"
V3 = V1.replace('    title: str = ""\n', "    pages: int = 0\n")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _models(project: Path, text: str) -> str:
    """A model file of its own per version (the loader keeps a file it loaded once)."""
    path = project / f"models_{len(list(project.glob('models_*.py')))}.py"
    path.write_text(text, encoding="utf-8")
    return str(path)


def _run(db_url: str, models: str, *args: str, input: str | None = None) -> object:
    return invoke(["--db", db_url, "--models", models, "migrate", *args], input=input)


def test_migrate_prints_the_plan_applies_it_and_converges(db_url: str, project: Path) -> None:
    """+ lines with lock levels on stdout, a summary on stderr; a second run is up to date."""
    models = _models(project, V1)
    first = _run(db_url, models)
    assert first.exit_code == 0, first.stderr
    assert first.stdout.startswith("+ create table book (id ")
    again = _run(db_url, models)
    assert (again.exit_code, again.stdout, again.stderr) == (0, "", "the schema is up to date\n")
    models = _models(project, V2)
    added = _run(db_url, models)
    assert added.exit_code == 0
    assert "+ add column book.rating" in added.stdout and "NOT NULL DEFAULT 0" in added.stdout
    assert "lock: " in added.stdout


def test_dropping_a_column_with_data_needs_allow_data_loss(db_url: str, project: Path) -> None:
    """Without --allow-data-loss nothing is applied and the exit code is 1; with it, applied."""
    models = _models(project, V1)
    assert _run(db_url, models).exit_code == 0
    script = 'add Book title="Dune"\n'
    assert invoke(["--db", db_url, "--models", models, "run", "-"], input=script).exit_code == 0
    models = _models(project, V3)
    refused = _run(db_url, models)
    assert refused.exit_code == 1
    assert "- drop column book.title (DATA LOSS)" in refused.stdout
    assert refused.stderr == (
        "error: nothing was applied: 1 rows of book hold a value in title that will be lost; "
        "rerun with --allow-data-loss to accept\n"
    )
    dry = _run(db_url, models, "--dry-run")
    assert "ALTER TABLE" in dry.stdout or "CREATE TABLE" in dry.stdout
    assert _run(db_url, models, "--allow-data-loss").exit_code == 0
    assert _run(db_url, models).stderr == "the schema is up to date\n"


def test_files_plan_apply_status_undo_and_check(db_url: str, project: Path) -> None:
    """plan writes a numbered file (nothing applied); check exits 1 while it is pending;
    apply runs it; status lists it; undo reverts it; mark-applied records without running."""
    models = _models(project, V1)
    planned = _run(db_url, models, "plan", "init")
    assert planned.exit_code == 0, planned.stderr
    assert planned.stderr == "wrote migrations/0001_init.json\n"
    data = json.loads((project / "migrations" / "0001_init.json").read_text())
    assert [op["op"] for op in data["up"]] == ["create_table"]
    assert [op["op"] for op in data["down"]] == ["drop_table"]
    check = _run(db_url, models, "check", "--json")
    assert check.exit_code == 1
    assert json.loads(check.stdout)["pending"] == ["0001_init"]
    bare = _run(db_url, models)
    assert bare.exit_code == 1 and "migration files are pending (0001_init)" in bare.stderr
    assert _run(db_url, models, "apply").exit_code == 0
    assert _run(db_url, models, "check").exit_code == 0
    models = _models(project, V2)
    assert _run(db_url, models, "check").exit_code == 1
    assert _run(db_url, models, "plan", "add_rating").exit_code == 0
    assert _run(db_url, models, "apply").exit_code == 0
    status = _run(db_url, models, "status")
    assert status.stdout.splitlines() == ["applied  0001_init", "applied  0002_add_rating"]
    undone = _run(db_url, models, "undo")
    assert undone.exit_code == 0, undone.stderr
    assert "- drop column book.rating" in undone.stdout
    assert _run(db_url, models, "status").stdout.splitlines()[-1] == "pending  0002_add_rating"
    assert _run(db_url, models, "apply").exit_code == 0
    squashed = _run(db_url, models, "squash")
    assert squashed.exit_code == 0, squashed.stderr
    assert [p.name for p in (project / "migrations").iterdir()] == ["0003_baseline.json"]
    assert _run(db_url, models, "check").exit_code == 0


def test_an_edited_applied_file_and_an_outside_change_are_drift(db_url: str, project: Path) -> None:
    """check names the file edited after it was applied and the change made by hand."""
    models = _models(project, V1)
    assert _run(db_url, models, "plan", "init").exit_code == 0
    assert _run(db_url, models, "apply").exit_code == 0
    path = project / "migrations" / "0001_init.json"
    data = json.loads(path.read_text())
    data["up"][0]["definition"]["columns"][1]["default"] = "'x'"
    path.write_text(json.dumps(data))
    check = _run(db_url, models, "check", "--json")
    assert check.exit_code == 1
    assert "0001_init was edited after it was applied" in json.loads(check.stdout)["drift"]


def test_a_change_made_outside_migrate_is_drift_named_by_check(db_url: str, project: Path) -> None:
    """A column added by hand after the last migrate: check exits 1 and names it; nothing is
    reset or changed."""
    from core import Database

    models = _models(project, V1)
    assert _run(db_url, models).exit_code == 0
    db = Database(db_url, [])
    q = db.dialect.quote
    with db.pool.connection() as conn:
        conn.execute(f"ALTER TABLE {q('book')} ADD COLUMN {q('note')} {db.dialect.sql_type('int')}")
    db.close()
    check = _run(db_url, models, "check", "--json")
    assert check.exit_code == 1
    result = json.loads(check.stdout)
    assert len(result["drift"]) == 1
    assert result["drift"][0].startswith(
        "the schema was changed outside migrate: add column book.note "
    )
    assert "- drop column book.note" in "\n".join(result["unapplied_changes"])
