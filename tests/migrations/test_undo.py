"""``ormcli migrate undo [NAME]`` through the command app, on every backend.

Undo of a named file reverts it and every file applied after it, newest first: the files are
listed first, and more than one needs a yes (``--yes`` in scripts). Down steps that lose data
still need ``--allow-data-loss``. Files that cannot be reverted as they ran (missing, edited,
squashed, not applied) are refused with the reason, and nothing is undone.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core import Database
from tests.cli.helpers import invoke
from tests.migrations.test_cli_migrate import V1, _models, _run

V2 = V1 + "    rating: int = 0\n"
V3 = V2 + "    pages: int = 0\n"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _three_files(db_url: str, project: Path) -> str:
    """0001_init, 0002_add_rating, 0003_add_pages planned and applied; one book stored."""
    for text, name in ((V1, "init"), (V2, "add_rating"), (V3, "add_pages")):
        models = _models(project, text)
        planned = _run(db_url, models, "plan", name)
        assert planned.exit_code == 0, planned.stderr
        assert _run(db_url, models, "apply").exit_code == 0
    script = 'add Book title="Dune" rating=4\n'
    assert invoke(["--db", db_url, "--models", models, "run", "-"], input=script).exit_code == 0
    return models


def _states(db_url: str, models: str) -> list[str]:
    return _run(db_url, models, "status").stdout.splitlines()


def _columns(db_url: str) -> list[str]:
    db = Database(db_url, [])
    with db.pool.connection() as conn:
        rows = conn.fetchall(db.dialect.catalog_columns_sql)
    db.close()
    return sorted(str(r[1]) for r in rows if str(r[0]) == "book")


def test_undo_of_a_named_file_reverts_it_and_every_later_file_after_a_yes(
    db_url: str, project: Path
) -> None:
    """Without --yes (no terminal): the two files are listed, nothing is undone, exit 1.
    With --yes: 0003 then 0002 are undone (newest first), both pending again, the rows kept;
    apply brings them back and the database converges."""
    models = _three_files(db_url, project)
    refused = _run(db_url, models, "undo", "0002_add_rating")
    assert refused.exit_code == 1
    assert refused.stderr.splitlines() == [
        "undo reverts 2 files, newest first:",
        "  0003_add_pages: drop column book.pages",
        "  0002_add_rating: drop column book.rating",
        "error: nothing was undone: undoing 0002_add_rating also undoes 0003_add_pages, "
        "applied after it; rerun with --yes to undo them all",
    ]
    assert _states(db_url, models) == [
        "applied  0001_init",
        "applied  0002_add_rating",
        "applied  0003_add_pages",
    ]
    undone = _run(db_url, models, "undo", "0002_add_rating", "--yes", "--allow-data-loss")
    assert undone.exit_code == 0, undone.stderr
    lines = undone.stdout.splitlines()
    assert lines[0] == "# 0003_add_pages" and lines[1].startswith("- drop column book.pages")
    assert lines[2] == "# 0002_add_rating" and lines[3].startswith("- drop column book.rating")
    assert undone.stderr.splitlines()[-1].startswith("undone: 0003_add_pages, 0002_add_rating (")
    assert _states(db_url, models)[:3] == [
        "applied  0001_init",
        "pending  0002_add_rating",
        "pending  0003_add_pages",
    ]
    assert _columns(db_url) == ["id", "title"]
    older = _models(project, V1)
    found = invoke(["--db", db_url, "--models", older, "find", "Book", "--json"])
    assert [row["title"] for row in json.loads(found.stdout)] == ["Dune"], found.stderr
    assert _run(db_url, models, "apply").exit_code == 0
    assert _run(db_url, models, "check").exit_code == 0


def test_undo_whose_down_drops_data_needs_allow_data_loss(db_url: str, project: Path) -> None:
    """Dropping the rating that rows hold is data loss: with --yes alone nothing is undone
    (exit 1, the count named); the last file alone is undone without asking when its column
    holds no data."""
    models = _three_files(db_url, project)
    refused = _run(db_url, models, "undo", "0002_add_rating", "--yes")
    assert refused.exit_code == 1
    assert "nothing was applied" in refused.stderr and "--allow-data-loss" in refused.stderr
    assert _columns(db_url) == ["id", "pages", "rating", "title"]
    last = _run(db_url, models, "undo")
    assert last.exit_code == 1  # pages holds 0 for the stored book: a value that would go
    assert _columns(db_url) == ["id", "pages", "rating", "title"]
    assert _run(db_url, models, "undo", "--allow-data-loss").exit_code == 0
    assert _columns(db_url) == ["id", "rating", "title"]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("0009_nope", "no migration file named '0009_nope'"),
        ("0004_pending", "0004_pending is not applied; nothing to undo"),
        ("0002_add_rating", "0003_add_pages was edited after it was applied"),
    ],
    ids=["unknown", "pending", "edited later file"],
)
def test_undo_refuses_what_it_cannot_revert_and_undoes_nothing(
    db_url: str, project: Path, name: str, message: str
) -> None:
    models = _three_files(db_url, project)
    (project / "migrations" / "0004_pending.json").write_text(
        (project / "migrations" / "0003_add_pages.json")
        .read_text()
        .replace("0003_add_pages", "0004_pending")
    )
    path = project / "migrations" / "0003_add_pages.json"
    data = json.loads(path.read_text())
    data["down"] = []
    path.write_text(json.dumps(data))
    result = _run(db_url, models, "undo", name, "--yes", "--allow-data-loss")
    assert result.exit_code == 1
    assert message in result.stderr, result.stderr
    assert _columns(db_url) == ["id", "pages", "rating", "title"]


def test_a_squashed_file_is_undone_through_its_baseline(db_url: str, project: Path) -> None:
    models = _three_files(db_url, project)
    assert _run(db_url, models, "squash").exit_code == 0
    result = _run(db_url, models, "undo", "0002_add_rating", "--yes")
    assert result.exit_code == 1
    assert "0002_add_rating was squashed into 0004_baseline" in result.stderr


V3_INDEX = V2.replace("from core import ", "from core import Index, MaxLength, ").replace(
    '    title: str = ""\n', '    title: Annotated[str, Index, MaxLength(50)] = ""\n'
)


def test_undo_stops_at_the_first_file_that_needs_a_yes_and_says_what_was_undone(
    db_url: str, project: Path
) -> None:
    """0003 (an index) reverts safely; 0002's down drops a column holding data: undo 0002
    --yes reverts 0003, then stops with nothing of 0002 applied, naming both; with
    --allow-data-loss the rest follows."""
    for text, name in ((V1, "init"), (V2, "add_rating"), (V3_INDEX, "index_title")):
        models = _models(project, text)
        assert _run(db_url, models, "plan", name).exit_code == 0
        assert _run(db_url, models, "apply").exit_code == 0
    script = 'add Book title="Dune" rating=4\n'
    assert invoke(["--db", db_url, "--models", models, "run", "-"], input=script).exit_code == 0
    result = _run(db_url, models, "undo", "0002_add_rating", "--yes")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == (
        "error: undone: 0003_index_title; stopped at 0002_add_rating: nothing was applied: "
        "1 rows of book hold a value in rating that will be lost; rerun with "
        "--allow-data-loss to accept"
    )
    assert _states(db_url, models)[:3] == [
        "applied  0001_init",
        "applied  0002_add_rating",
        "pending  0003_index_title",
    ]
    assert _run(db_url, models, "undo", "0002_add_rating", "--allow-data-loss").exit_code == 0
    assert _columns(db_url) == ["id", "title"]


def test_on_a_terminal_undo_asks_before_reverting_several_files(db_url: str, project: Path) -> None:
    """In a real terminal: the files are listed and a no undoes nothing (exit 1); a yes,
    then a yes to each down step that drops data, undoes both (exit 0)."""
    import os
    import shutil
    import sys

    pexpect = pytest.importorskip("pexpect")
    ormcli = shutil.which("ormcli", path=str(Path(sys.executable).parent))
    if ormcli is None:
        pytest.skip("the ormcli console script is not installed")
    models = _three_files(db_url, project)
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("ORMCLI_DB", None)
    args = ["--db", db_url, "--models", models, "migrate", "undo", "0002_add_rating"]

    child = pexpect.spawn(ormcli, args, env=env, cwd=str(project), encoding="utf-8", timeout=30)
    child.expect("undo reverts 2 files, newest first:")
    child.expect(r"Undo these 2 files\? \[y/N\]: ")
    child.sendline("n")
    child.expect("nothing was undone")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1
    assert _columns(db_url) == ["id", "pages", "rating", "title"]

    child = pexpect.spawn(ormcli, args, env=env, cwd=str(project), encoding="utf-8", timeout=30)
    child.expect(r"Undo these 2 files\? \[y/N\]: ")
    child.sendline("y")
    for column in ("pages", "rating"):
        child.expect(f"1 rows of book hold a value in {column} that will be lost")
        child.expect(r"Apply these steps, which lose data\? \[y/N\]: ")
        child.sendline("y")
    child.expect("undone: 0003_add_pages, 0002_add_rating")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert _columns(db_url) == ["id", "title"]
