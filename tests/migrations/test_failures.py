"""Steps that fail when they run, on every backend: what stays applied, what the error says,
and how a run after the fix continues (issue 14, points 8 and 10).

A failure the data checks cannot see beforehand is made by rows that arrive after the checks
ran and before the statements do (another client writing meanwhile): ``arriving_rows``
writes them through the migrator's own connection right after ``assess``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import pytest

import core.migrations.plan as plan_module
from core import (
    AutoIncrement,
    Check,
    Database,
    Index,
    MaxLength,
    MigrationError,
    OrmError,
    PrimaryKey,
    Reference,
    Unique,
)
from core.migrations.diff import compare
from core.migrations.files import Directory, apply, plan_file
from core.migrations.history import History
from core.migrations.model import desired_schema
from core.migrations.order import _depends, fail_prone
from core.migrations.runner import MigrateOptions
from tests.migrations.models import model

ID = (Annotated[int, PrimaryKey, AutoIncrement], 0)
TITLE = (Annotated[str, MaxLength(50)], "")

#: --lock-timeout of the online runs. It bounds CREATE INDEX CONCURRENTLY's wait for every
#: older transaction of the database too, and the test database is shared with other suites
#: whose transactions can run for minutes: long enough not to fail on their account.
ONLINE_WAIT = 600


def v1() -> list[type]:
    return [model({"id": ID, "title": TITLE, "rating": (int, 0)})]


def v2_unique() -> list[type]:
    """Safe steps (a new table, a new column, a plain index) and one a duplicate breaks."""
    return [
        model(
            {
                "id": ID,
                "title": (Annotated[str, MaxLength(50), Unique], ""),
                "rating": (int, 0),
                "note": (Annotated[str | None, MaxLength(20), Index], None),
            }
        ),
        model({"id": ID, "x": (int, 0)}, name="other", cls_name="Other"),
    ]


def _insert(db: Database, title: str, rating: int = 0) -> tuple[str, list[Any]]:
    q, p = db.dialect.quote, db.dialect.placeholder
    sql = f"INSERT INTO {q('item')} ({q('title')}, {q('rating')}) VALUES ({p}, {p})"
    return sql, [title, rating]


def arriving_rows(monkeypatch: pytest.MonkeyPatch, rows: Sequence[tuple[str, list[Any]]]) -> None:
    """The next plan's data checks pass; then ``rows`` are written (once)."""
    real = plan_module.assess
    done: list[bool] = []

    def assess(conn: Any, ops: Any, live: Any) -> Any:
        findings = real(conn, ops, live)
        if not done:
            done.append(True)
            for sql, params in rows:
                conn.execute(sql, params)
        return findings

    monkeypatch.setattr(plan_module, "assess", assess)


def _tables(db: Database) -> set[str]:
    with db.pool.connection() as conn:
        return {str(r[0]).lower() for r in conn.fetchall(db.dialect.catalog_columns_sql)}


def _columns(db: Database, table: str) -> set[str]:
    with db.pool.connection() as conn:
        rows = conn.fetchall(db.dialect.catalog_columns_sql)
    return {str(r[1]).lower() for r in rows if str(r[0]).lower() == table}


def _seeded(db_url: str) -> Database:
    db = Database(db_url, v1())
    db.migrate()
    with db.pool.connection() as conn:
        for sql, params in (_insert(db, "a"), _insert(db, "b")):
            conn.execute(sql, params)
    db.close()
    return Database(db_url, v2_unique())


def _remove_duplicate(db: Database) -> None:
    q, p = db.dialect.quote, db.dialect.placeholder
    with db.pool.connection() as conn:
        conn.execute(
            f"DELETE FROM {q('item')} WHERE {q('title')} = {p} AND {q('id')} > {p}", ["a", 2]
        )


def test_where_ddl_cannot_roll_back_the_steps_rows_can_break_run_first(db_url: str) -> None:
    """MariaDB: NOT NULL on an existing column, a unique index over rows, a narrowing cast,
    a foreign key and a check run before every safe step they do not depend on (a backfill
    stays before its NOT NULL, a new column before its index). Transactional backends keep
    the diff's order (a failure there rolls everything back)."""
    db = Database(db_url, v1())
    db.migrate()
    db.close()
    writer = model({"id": ID, "name": (str, "")}, name="writer", cls_name="Writer")
    item = model(
        {
            "id": ID,
            "title": (Annotated[str, MaxLength(50), Unique], ""),
            "rating": (Annotated[int, Check("rating >= 0")], 0),
            "code": (Annotated[str, MaxLength(5)], "x"),
            "note": (Annotated[str | None, MaxLength(20), Index], None),
            "writer": (Annotated[writer, Reference] | None, None),
        }
    )
    db = Database(db_url, [item, writer])
    plan = db.migration_plan()
    ops = plan.ops
    prone = [i for i, op in enumerate(ops) if fail_prone(op, db.dialect)]
    assert {ops[i].kind for i in prone} >= {"create_index", "add_check", "add_foreign_key"}
    diff_order = compare(
        plan.before, desired_schema(db.entities), db.dialect, entities=db.entities
    ).ops
    assert sorted(map(repr, ops)) == sorted(map(repr, diff_order))
    if db.dialect.transactional_ddl:
        assert ops == diff_order
    else:
        assert ops != diff_order
        last = max(prone)
        for i, op in enumerate(ops[:last]):
            if i in prone:
                continue
            # A safe step before a fail-prone one is there because a later one needs it.
            assert any(_depends(ops[j], op) for j in prone if j > i), (op, plan.text())
    db.migrate()
    assert db.migration_plan().empty
    db.close()


def test_a_step_failing_at_run_time_leaves_no_safe_step_applied_before_it(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A duplicate arrives after the checks: the unique index fails. SQLite and PostgreSQL
    roll the whole plan back; on MariaDB the unique index is the first statement, so no safe
    step (new table, new column, index) was applied either. After the fix, migrate applies
    all of it and converges; the rows are kept."""
    db = _seeded(db_url)
    arriving_rows(monkeypatch, [_insert(db, "a")])
    with pytest.raises(MigrationError) as caught:
        db.migrate()
    message = str(caught.value)
    assert "uq_item_title" in message
    if db.dialect.transactional_ddl:
        assert message.endswith("nothing was applied (rolled back)")
    else:
        assert "migrate stopped at statement 1 of " in message
        assert "no statement of it is applied and recorded in ormcli_migrations" in message
        assert message.endswith("continue from statement 1")
    assert "other" not in _tables(db)
    assert "note" not in _columns(db, "item")
    monkeypatch.undo()
    _remove_duplicate(db)
    plan = db.migrate()
    assert plan.applied == len(plan.sql)
    assert db.migration_plan().empty
    assert sorted(o.title for o in db.query(db.entities[0].cls).find()) == ["a", "b"]
    db.close()


def test_a_file_failing_at_run_time_resumes_after_the_fix(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same failure through a file: the history row says where it stopped (MariaDB:
    statement 1, nothing applied); after the fix, apply continues that row to the end."""
    db = _seeded(db_url)
    directory = Directory(tmp_path)
    assert plan_file(db, directory, "unique_title", {}).path is not None
    arriving_rows(monkeypatch, [_insert(db, "a")])
    with pytest.raises(MigrationError, match="uq_item_title"):
        apply(db, directory, MigrateOptions())
    with db.pool.connection() as conn:
        rows = [r for r in History(conn).rows() if r.kind == "file"]
    if db.dialect.transactional_ddl:
        assert rows == []
    else:
        assert [(r.statements_applied, r.complete) for r in rows] == [(0, False)]
        assert "uq_item_title" in (rows[0].failing_statement or "")
    assert "other" not in _tables(db)
    monkeypatch.undo()
    _remove_duplicate(db)
    plans = apply(db, directory, MigrateOptions())
    assert [p.applied == len(p.sql) for p in plans] == [True]
    with db.pool.connection() as conn:
        rows = [r for r in History(conn).rows() if r.kind == "file"]
    assert [(r.name, r.complete) for r in rows] == [("0001_unique_title", True)]
    assert rows[0].statements_applied == rows[0].statements_total
    assert db.migration_plan().empty
    db.close()


# -- --online, applied for real ------------------------------------------------------------


def _online_v2() -> list[type]:
    writer = model({"id": ID, "name": (str, "")}, name="writer", cls_name="Writer")
    return [
        model(
            {
                "id": ID,
                "title": (Annotated[str, MaxLength(50), Index], ""),
                "rating": (Annotated[int, Check("rating >= 0")], 0),
                "stars": (int, 3),
                "writer": (Annotated[writer, Reference] | None, None),
            }
        ),
        writer,
    ]


def _invalid_objects(db: Database) -> list[str]:
    """PostgreSQL: indexes left INVALID and constraints left NOT VALID (none elsewhere)."""
    if db.dialect.name != "postgresql":
        return []
    with db.pool.connection() as conn:
        rows = conn.fetchall(
            "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE NOT i.indisvalid AND c.relnamespace = current_schema()::regnamespace "
            "UNION ALL SELECT conname FROM pg_constraint WHERE NOT convalidated "
            "AND connamespace = current_schema()::regnamespace"
        )
    return [str(r[0]) for r in rows]


def test_online_steps_apply_for_real_and_converge(db_url: str) -> None:
    """--online applied: PostgreSQL builds the index CONCURRENTLY after the transaction and
    adds the foreign key and the check NOT VALID, then VALIDATEs them (each committed and
    recorded); MariaDB adds the column ALGORITHM=INSTANT and the index ALGORITHM=INPLACE
    LOCK=NONE. Everything ends valid and enforced, the history row is complete, the rows
    are kept and the plan converges."""
    db = Database(db_url, v1())
    db.migrate()
    with db.pool.connection() as conn:
        for sql, params in (_insert(db, "a", 1), _insert(db, "b", 2)):
            conn.execute(sql, params)
    db.close()
    db = Database(db_url, _online_v2())
    plan = db.migrate(online=True, lock_timeout=ONLINE_WAIT)
    sql = "\n".join(plan.statements)
    assert plan.applied == len(plan.sql)
    if db.dialect.name == "postgresql":
        assert "CREATE INDEX CONCURRENTLY" in sql
        assert sql.count(" NOT VALID") == 2 and sql.count("VALIDATE CONSTRAINT") == 2
        assert "lock: none (CONCURRENTLY)" in "\n".join(plan.text())
    elif db.dialect.name == "mysql":
        assert "ALGORITHM=INPLACE LOCK=NONE" in sql
        assert "ALGORITHM=INSTANT" in sql
    assert _invalid_objects(db) == []
    with db.pool.connection() as conn:
        rows = History(conn).rows()
        assert rows[-1].complete and rows[-1].statements_applied == rows[-1].statements_total
    assert db.migration_plan().empty
    item = db.entities[0].cls
    assert sorted((o.title, o.rating, o.stars) for o in db.query(item).find()) == [
        ("a", 1, 3),
        ("b", 2, 3),
    ]
    with pytest.raises(OrmError, match="ck_item_rating"), db.pool.connection() as conn:
        conn.execute(*_insert(db, "c", -1))
    db.close()


ONLINE_FAILURES: dict[str, tuple[Callable[[], list[type]], str, str]] = {
    # step: (models, the row that breaks it, the object's name)
    "unique index": (
        lambda: [
            model(
                {"id": ID, "title": (Annotated[str, MaxLength(50), Unique], ""), "rating": (int, 0)}
            )
        ],
        "a",
        "uq_item_title",
    ),
    "check": (
        lambda: [
            model({"id": ID, "title": TITLE, "rating": (Annotated[int, Check("rating >= 0")], 0)})
        ],
        "neg",
        "ck_item_rating",
    ),
}


@pytest.mark.parametrize("step", list(ONLINE_FAILURES))
def test_an_online_step_the_rows_break_is_cleaned_up_and_runs_again_after_the_fix(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    """A row arrives after the checks that the new unique index / check rejects. PostgreSQL
    --online: the transaction's part is committed, CREATE INDEX CONCURRENTLY or VALIDATE
    fails, the INVALID index or NOT VALID constraint is dropped again, and the error says
    which statements stay applied. Elsewhere the step fails as a plain one (rolled back, or
    first on MariaDB). After the fix, a file resumes (or re-runs) and ends valid."""
    models, bad, name = ONLINE_FAILURES[step]
    db = Database(db_url, v1())
    db.migrate()
    with db.pool.connection() as conn:
        for sql, params in (_insert(db, "a", 1), _insert(db, "b", 2)):
            conn.execute(sql, params)
    db.close()
    db = Database(db_url, models())
    directory = Directory(tmp_path)
    assert plan_file(db, directory, "tighten", {}).path is not None
    row = _insert(db, "a", 5) if bad == "a" else _insert(db, "c", -1)
    arriving_rows(monkeypatch, [row])
    with pytest.raises(MigrationError) as caught:
        apply(db, directory, MigrateOptions(online=True, lock_timeout=ONLINE_WAIT))
    message = str(caught.value)
    assert name in message
    outside = (
        db.dialect.online_index_outside_transaction
        if step == "unique index"
        else db.dialect.online_constraint_outside_transaction
    )
    if outside:
        assert "what it left half-made was removed" in message
        # a failed VALIDATE undoes its ADD ... NOT VALID too: a new run starts there
        assert message.endswith("continue from statement 1"), message
        if step == "check":
            assert message.startswith("migrate stopped at statement 2 of 2")
    assert _invalid_objects(db) == []
    monkeypatch.undo()
    q, p = db.dialect.quote, db.dialect.placeholder
    with db.pool.connection() as conn:
        if bad == "a":
            conn.execute(f"DELETE FROM {q('item')} WHERE {q('rating')} = {p}", [5])
        else:
            conn.execute(f"UPDATE {q('item')} SET {q('rating')} = 0 WHERE {q('rating')} < 0")
    plans = apply(db, directory, MigrateOptions(online=True, lock_timeout=ONLINE_WAIT))
    assert len(plans) == 1
    with db.pool.connection() as conn:
        rows = [r for r in History(conn).rows() if r.kind == "file"]
    assert [(r.name, r.complete) for r in rows] == [("0001_tighten", True)]
    assert _invalid_objects(db) == []
    assert db.migration_plan().empty
    db.close()


def test_a_bare_online_migrate_plans_the_cleaned_up_step_again(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without files: after a failed VALIDATE (PostgreSQL) the constraint is gone, so the next
    migrate --online plans it again; on every backend the second run converges."""
    _models, _bad, name = ONLINE_FAILURES["check"]
    db = Database(db_url, v1())
    db.migrate()
    with db.pool.connection() as conn:
        conn.execute(*_insert(db, "a", 1))
    db.close()
    db = Database(db_url, _models())
    arriving_rows(monkeypatch, [_insert(db, "c", -1)])
    with pytest.raises(MigrationError, match=name):
        db.migrate(online=True, lock_timeout=ONLINE_WAIT)
    monkeypatch.undo()
    assert _invalid_objects(db) == []
    again = db.migration_plan()
    assert f"+ add check {name}" in "\n".join(again.text())
    q = db.dialect.quote
    with db.pool.connection() as conn:
        conn.execute(f"UPDATE {q('item')} SET {q('rating')} = 0 WHERE {q('rating')} < 0")
    db.migrate(online=True, lock_timeout=ONLINE_WAIT)
    assert db.migration_plan().empty
    assert _invalid_objects(db) == []
    db.close()
