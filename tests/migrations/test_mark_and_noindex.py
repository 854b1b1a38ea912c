"""``migrate mark-applied`` and the ``NoIndex`` marker, on every backend.

mark-applied records a file without running it: afterwards the file counts as applied, the
models are compared with what the database really holds (a change the user did not make is
still reported), and it refuses unknown or already applied files. ``NoIndex`` opts a
reference column out of the index migrate gives every reference by default; switching it
on or off is an index added or dropped, and the plan converges either way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import pytest

from core import AutoIncrement, Database, NoIndex, PrimaryKey, Reference
from core.migrations.history import History
from tests.migrations.models import model
from tests.migrations.test_cli_migrate import V1, _models, _run

V2 = V1 + "    rating: int = 0\n"
ID = (Annotated[int, PrimaryKey, AutoIncrement], 0)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _history(db_url: str) -> list[tuple[str, str, int]]:
    db = Database(db_url, [])
    with db.pool.connection() as conn:
        rows = [(r.name, r.kind, r.statements_total) for r in History(conn).rows()]
    db.close()
    return rows


def test_mark_applied_records_a_change_made_by_hand_without_running_it(
    db_url: str, project: Path
) -> None:
    """The column was added by hand: mark-applied records the file (no statement run),
    status lists it applied, check exits 0; apply then has nothing to run."""
    models = _models(project, V1)
    assert _run(db_url, models, "plan", "init").exit_code == 0
    assert _run(db_url, models, "apply").exit_code == 0
    models = _models(project, V2)
    assert _run(db_url, models, "plan", "add_rating").exit_code == 0
    db = Database(db_url, [])
    q = db.dialect.quote
    with db.pool.connection() as conn:
        conn.execute(
            f"ALTER TABLE {q('book')} ADD COLUMN {q('rating')} {db.dialect.sql_type('int')} "
            "NOT NULL DEFAULT 0"
        )
    db.close()
    marked = _run(db_url, models, "mark-applied", "0002_add_rating")
    assert (marked.exit_code, marked.stderr) == (0, "marked applied: 0002_add_rating\n")
    assert _history(db_url)[-1] == ("0002_add_rating", "mark", 0)
    status = _run(db_url, models, "status")
    assert status.stdout.splitlines() == ["applied  0001_init", "applied  0002_add_rating"]
    assert _run(db_url, models, "check").exit_code == 0
    applied = _run(db_url, models, "apply")
    assert (applied.exit_code, applied.stderr) == (0, "no pending migration files\n")


def test_mark_applied_without_the_change_leaves_the_difference_visible(
    db_url: str, project: Path
) -> None:
    """Marking a file whose change was never made hides nothing: check exits 1 and names
    the column the models want; a bare migrate then adds it."""
    models = _models(project, V1)
    assert _run(db_url, models, "plan", "init").exit_code == 0
    assert _run(db_url, models, "apply").exit_code == 0
    models = _models(project, V2)
    assert _run(db_url, models, "plan", "add_rating").exit_code == 0
    assert _run(db_url, models, "mark-applied", "0002_add_rating").exit_code == 0
    check = _run(db_url, models, "check", "--json")
    assert check.exit_code == 1
    result = json.loads(check.stdout)
    assert result["pending"] == []
    assert any("+ add column book.rating" in line for line in result["unapplied_changes"])


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("0009_nope", "no migration file named '0009_nope'"),
        ("0001_init", "0001_init is already applied"),
    ],
    ids=["unknown", "already applied"],
)
def test_mark_applied_refuses_unknown_and_applied_files(
    db_url: str, project: Path, name: str, message: str
) -> None:
    models = _models(project, V1)
    assert _run(db_url, models, "plan", "init").exit_code == 0
    assert _run(db_url, models, "apply").exit_code == 0
    before = _history(db_url)
    result = _run(db_url, models, "mark-applied", name)
    assert result.exit_code == 1
    assert message in result.stderr, result.stderr
    assert _history(db_url) == before


def _writer() -> type:
    return model({"id": ID, "name": (str, "")}, name="writer", cls_name="Writer")


def _item(writer: type, no_index: bool) -> type:
    ref = Annotated[writer, Reference, NoIndex] if no_index else Annotated[writer, Reference]
    return model({"id": ID, "title": (str, ""), "writer": (ref | None, None)})


def _index_names(db: Database) -> set[str]:
    with db.pool.connection() as conn:
        rows = conn.fetchall(db.dialect.catalog_indexes_sql)
    return {str(r[1]) for r in rows if str(r[0]) == "item"}


def test_noindex_leaves_a_reference_unindexed_and_switching_it_converges(db_url: str) -> None:
    """A plain reference gets ix_item_writer; with NoIndex the plan has none (MariaDB's own
    index for the foreign key is the server's and not reported); turning NoIndex on drops the
    index, off adds it back; each plan converges and the reference keeps working."""
    writer = _writer()
    db = Database(db_url, [_item(writer, no_index=True), writer])
    text = "\n".join(db.migrate().text())
    assert "+ add foreign key fk_item_writer" in text
    assert "ix_item_writer" not in text
    assert "ix_item_writer" not in _index_names(db)
    assert db.migration_plan().empty
    db.close()
    writer = _writer()
    db = Database(db_url, [_item(writer, no_index=False), writer])
    text = "\n".join(db.migrate().text())
    assert "+ create index ix_item_writer on item (writer)" in text
    assert "ix_item_writer" in _index_names(db)
    assert db.migration_plan().empty
    db.close()
    writer = _writer()
    item = _item(writer, no_index=True)
    db = Database(db_url, [item, writer])
    text = "\n".join(db.migrate().text())
    assert "- drop index ix_item_writer on item (writer)" in text
    assert "ix_item_writer" not in _index_names(db)
    assert db.migration_plan().empty
    s = db.create_session()
    w = writer(name="w")
    s.add(w, item(title="t", writer=w))
    s.commit()
    assert [o.title for o in db.query(item).find()] == ["t"]
    db.close()
