"""Locks, failures half-way, resume, renames asked, bad names, online steps, on every backend."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Annotated, Any

import pytest

from core import (
    AutoIncrement,
    Database,
    MaxLength,
    MigrationError,
    ModelError,
    PrimaryKey,
    Questioner,
    RenamedFrom,
    Unique,
    entity,
)
from core.migrations.diff import Suggestion
from core.migrations.files import Directory, apply
from core.migrations.history import History
from core.migrations.runner import MigrateOptions, migration_lock
from tests.migrations.models import model

ID = (Annotated[int, PrimaryKey, AutoIncrement], 0)


def test_a_second_migrator_waits_then_fails_with_one_line(db_url: str) -> None:
    """While another migrator holds the lock (SQLite: the write lock), migrate waits up to
    lock_timeout and fails naming the cause; nothing is applied; afterwards it runs."""
    item = model({"id": ID, "title": (str, "")})
    holder = Database(db_url, [])
    db = Database(db_url, [item])
    with holder.pool.connection() as conn, migration_lock(conn, 1.0):
        conn.begin()
        conn.fetchall("SELECT 1")
        with pytest.raises(MigrationError, match="another migrate"):
            db.migrate(lock_timeout=0.2)
        conn.rollback()
    assert not db.migration_plan().empty
    db.migrate()
    assert db.migration_plan().empty
    holder.close()
    db.close()


def test_two_migrators_at_once_both_succeed_and_create_once(db_url: str) -> None:
    """Two threads migrate the same models at once: one creates, the other waits for the lock
    and then finds nothing to do; the history records one run that did something."""
    item = model({"id": ID, "title": (str, "")})
    dbs = [Database(db_url, [item]) for _ in range(2)]
    errors: list[BaseException] = []
    applied: list[int] = []

    def run(db: Database) -> None:
        try:
            applied.append(db.migrate(lock_timeout=30).applied)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(db,)) for db in dbs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(applied)[0] == 0 and sorted(applied)[1] > 0
    with dbs[0].pool.connection() as conn:
        assert [r.kind for r in History(conn).rows()] == ["auto"]
    for db in dbs:
        db.close()


def _broken_file(root: Path) -> None:
    """A file whose second statement fails on every backend (its column does not exist)."""
    path = root / "migrations" / "0001_broken.json"
    path.parent.mkdir(parents=True)
    up = [
        {
            "op": "create_table",
            "table": "first",
            "definition": {
                "name": "first",
                "columns": [
                    {
                        "name": "id",
                        "type": "int",
                        "nullable": False,
                        "default": None,
                        "autoincrement": False,
                    }
                ],
                "primary_key": ["id"],
            },
        },
        {
            "op": "add_check",
            "table": "first",
            "check": {"name": "ck_first_nope", "expression": "nope > 0"},
        },
    ]
    path.write_text(json.dumps({"name": "0001_broken", "up": up, "down": []}))


def test_a_failure_half_way_rolls_back_or_is_recorded_and_resumes(
    db_url: str, tmp_path: Path
) -> None:
    """Transactional DDL: nothing of the file stays. MySQL: the error names the statements
    applied, the history records them, and apply resumes at the failing statement."""
    _broken_file(tmp_path)
    db = Database(db_url, [])
    directory = Directory(tmp_path)
    with pytest.raises(MigrationError) as caught:
        apply(db, directory, MigrateOptions())
    with db.pool.connection() as conn:
        rows = History(conn).rows()
        tables = {r[0] for r in conn.fetchall(conn.dialect.catalog_columns_sql)}
    if db.dialect.transactional_ddl:
        assert str(caught.value).startswith("migrate failed at statement ")
        assert str(caught.value).endswith("nothing was applied (rolled back)")
        assert "first" not in tables
        assert [r.name for r in rows] == []
        return
    message = str(caught.value)
    assert "migrate stopped at statement 2 of 2" in message
    assert "statements 1-1 of 2 are applied and recorded in ormcli_migrations" in message
    assert "first" in tables
    assert [(r.name, r.statements_applied, r.complete) for r in rows] == [("0001_broken", 1, False)]
    assert "ck_first_nope" in (rows[0].failing_statement or "")
    with db.pool.connection() as conn:  # the cause fixed by hand
        conn.execute("ALTER TABLE `first` ADD COLUMN `nope` BIGINT")
    plans = apply(db, directory, MigrateOptions())
    assert [p.applied for p in plans] == [2]
    with db.pool.connection() as conn:
        rows = History(conn).rows()
    assert [(r.name, r.statements_applied, r.complete) for r in rows] == [("0001_broken", 2, True)]
    db.close()


class Answers(Questioner):
    def __init__(self, rename: bool | None, loss: bool) -> None:
        self.rename, self.loss = rename, loss
        self.asked: list[str] = []

    def confirm_rename(self, suggestion: Suggestion) -> bool | None:
        self.asked.append(suggestion.describe())
        return self.rename

    def confirm_data_loss(self, plan: Any) -> bool:
        self.asked.append("loss")
        return self.loss


def test_a_drop_and_add_of_the_same_type_is_a_suggested_rename(db_url: str) -> None:
    """Without a marker: refused non-interactively with the exact marker to add; a yes makes
    it a rename (rows kept); a no makes it a drop and an add, which then asks about the data."""
    v1 = model({"id": ID, "title": (str, "")})
    db = Database(db_url, [v1])
    db.migrate()
    s = db.create_session()
    s.add(v1(title="kept"))
    s.commit()
    db.close()
    v2 = model({"id": ID, "headline": (str, "")})
    db = Database(db_url, [v2])
    with pytest.raises(MigrationError) as caught:
        db.migrate()
    assert str(caught.value) == (
        "nothing was applied: possible rename: column item.title -> headline (a drop and an "
        "add would lose its data); if it is a rename, mark it: "
        'Annotated[..., RenamedFrom("title")] on Item.headline; if not, run with '
        "--allow-data-loss"
    )
    no = Answers(rename=False, loss=False)
    with pytest.raises(MigrationError, match="will be lost"):
        db.migrate(questioner=no)
    assert no.asked == ["possible rename: column item.title -> headline", "loss"]
    yes = Answers(rename=True, loss=False)
    plan = db.migrate(questioner=yes)
    assert plan.text()[0].startswith("~ rename column item.title to headline")
    assert [o.headline for o in db.query(v2).find()] == ["kept"]
    db.close()


def test_a_renamed_field_marker_keeps_the_data_without_asking(db_url: str) -> None:
    v1 = model({"id": ID, "title": (str, "")})
    db = Database(db_url, [v1])
    db.migrate()
    db.close()
    v2 = model({"id": ID, "headline": (Annotated[str, RenamedFrom("title")], "")})
    db = Database(db_url, [v2])
    assert db.migrate().text()[0].startswith("~ rename column item.title to headline")
    assert db.migration_plan().empty
    db.close()


def test_names_the_backend_cannot_take_are_refused_when_registered(backend: str) -> None:
    """A name over the backend's limit, or with a reserved prefix, is a ModelError at
    Database(...), naming entity and field — before any statement runs."""
    long = "x" * 70
    item = model({"id": ID, long: (str, "")})
    url = {
        "sqlite": "sqlite:///:memory:",
        "postgresql": "postgresql://u@h/db",
        "mysql": "mysql://u@h/db",
    }[backend]
    if backend == "sqlite":
        reserved = model({"id": ID, "title": (str, "")}, name="sqlite_things")
        with pytest.raises(ModelError, match="entity Item: names starting with 'sqlite_'"):
            Database(url, [reserved])
        return
    with pytest.raises(ModelError, match=rf"Item\.{long}: the name {long!r} is 70 bytes"):
        Database(url, [item])


def test_unbounded_text_in_keys_migrates_on_every_backend(db_url: str) -> None:
    """A composite key of two plain str fields and a Unique on an unbounded str migrate (on
    MariaDB as VARCHARs sharing InnoDB's key room) and converge."""

    @entity.name("pair")
    class Pair:
        a: Annotated[str, PrimaryKey]
        b: Annotated[str, PrimaryKey]
        code: Annotated[str, Unique] = ""

    db = Database(db_url, [Pair])
    db.migrate()
    assert db.migration_plan().empty
    s = db.create_session()
    s.add(Pair(a="x" * 300, b="y" * 300, code="c"))
    s.commit()
    db.close()


def test_online_steps_render_per_backend_and_converge(db_url: str) -> None:
    """--online in a dry run: PostgreSQL shows the index CONCURRENTLY, MariaDB INPLACE with
    LOCK=NONE, SQLite plain DDL; nothing is applied. (Applied for real, with failures:
    tests/migrations/test_failures.py.)"""
    v1 = model({"id": ID, "title": (Annotated[str, MaxLength(50)], "")})
    db = Database(db_url, [v1])
    db.migrate()
    db.close()
    v2 = model(
        {"id": ID, "title": (Annotated[str, MaxLength(50)], ""), "n": (int | None, None)},
        indexes=((("title",), False),),
    )
    db = Database(db_url, [v2])
    shown = "\n".join(db.migrate(online=True, dry_run=True).statements)
    if db.dialect.online_index_sql:
        assert "CONCURRENTLY" in shown or "LOCK=NONE" in shown
    else:
        assert "CREATE INDEX" in shown
    assert not db.migration_plan().empty
    db.close()
