"""migrate creates what is missing, is idempotent, and refuses what could lose data."""

from __future__ import annotations

from typing import Annotated

import pytest

from core import (
    Database,
    DatabaseError,
    F,
    IntegrityError,
    MaxLength,
    MigrationError,
    PrimaryKey,
    Unique,
    entity,
)
from core.migrations.reader import read_schema
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
    """New columns (nullable, or NOT NULL with a default) are safe; a type change whose values
    do not cast blocks the plan and a dropped column with data needs a yes: nothing is applied,
    exit by MigrationError, and the rows stay as they were."""
    old = _v1()
    db1 = Database(db_url, [old])
    db1.migrate()
    s = db1.create_session()
    s.add(old(id=1, name="abc", legacy="x"))
    s.commit()
    db1.close()
    db = Database(db_url, [_v2()])
    plan = db.migration_plan()
    text = "\n".join(plan.text())
    assert f"+ add column gadget.colour {db.dialect.sql_type('str')}" in text
    assert "+ add column gadget.weight" in text and "NOT NULL DEFAULT 0.0" in text
    assert "1 values of gadget.name will not cast to an integer; fix them first" in text
    assert "1 rows of gadget hold a value in legacy that will be lost" in text
    with pytest.raises(MigrationError, match=r"nothing was applied: alter column gadget\.name"):
        db.migrate(allow_data_loss=True)
    db.close()
    db1 = Database(db_url, [old])
    assert db1.migration_plan().empty
    assert [(g.name, g.legacy) for g in db1.query(old).find()] == [("abc", "x")]
    db1.close()


def test_migration_plan_runs_nothing(db_url: str) -> None:
    db = Database(db_url, [Author, Article])
    plan = db.migration_plan()
    assert plan.statements
    assert db.migration_plan().statements == plan.statements


def _person(unique: bool) -> type:
    if unique:

        @entity.name("person")
        class Person:
            id: Annotated[int, PrimaryKey] = 0
            email: Annotated[str, Unique, MaxLength(100)] = ""
            nick: Annotated[str, Unique, MaxLength(50)] | None = None

        return Person

    @entity.name("person")
    class Person:  # type: ignore[no-redef]
        id: Annotated[int, PrimaryKey] = 0
        email: Annotated[str, MaxLength(100)] = ""

    return Person


def test_a_field_marked_unique_later_gets_a_unique_index(db_url: str) -> None:
    """Marking an existing column Unique (and adding a new nullable Unique column) plans one
    unique index each; the rows stay, the index then refuses a duplicate naming the field, and
    a second migrate has nothing to do."""
    db1 = Database(db_url, [_person(unique=False)])
    db1.migrate()
    s = db1.create_session()
    s.add(*[db1.entity("Person").cls(id=i, email=f"p{i}@x") for i in (1, 2)])
    s.commit()
    db1.close()
    person = _person(unique=True)
    db = Database(db_url, [person])
    q = db.dialect.quote
    plan = db.migration_plan()
    assert plan.refused == []
    uq_email = f"CREATE UNIQUE INDEX {q('uq_person_email')} ON {q('person')} ({q('email')})"
    uq_nick = f"CREATE UNIQUE INDEX {q('uq_person_nick')} ON {q('person')} ({q('nick')})"
    stmts = plan.statements
    assert len(stmts) == 3 and uq_email in stmts and uq_nick in stmts
    add = next(i for i, s in enumerate(stmts) if s.startswith(f"ALTER TABLE {q('person')} ADD"))
    assert f"ADD COLUMN {q('nick')}" in stmts[add]
    assert add < stmts.index(uq_nick)  # the column before its index (MariaDB runs the
    # unique indexes, which rows can break, before the safe add: docs/migrate.md)
    db.migrate()
    assert db.migration_plan().empty
    s = db.create_session()
    assert sorted(p.email for p in s.query(person).find()) == ["p1@x", "p2@x"]
    s.add(person(id=3, email="p1@x"))
    with pytest.raises(IntegrityError, match=r"Person\.email"):
        s.commit()
    db.close()


def test_a_unique_index_over_duplicate_values_fails_and_names_the_field(db_url: str) -> None:
    """Rows that already share a value: migrate fails with one error naming the field, and
    the rows are untouched."""
    db1 = Database(db_url, [_person(unique=False)])
    db1.migrate()
    s = db1.create_session()
    s.add(*[db1.entity("Person").cls(id=i, email="same@x") for i in (1, 2)])
    s.commit()
    db1.close()
    db = Database(db_url, [_person(unique=True)])
    with pytest.raises(MigrationError, match="2 rows of person share email='same@x'"):
        db.migrate()
    db.close()
    before = _person(unique=False)
    db = Database(db_url, [before])
    assert [p.email for p in db.query(before).find()] == ["same@x", "same@x"]
    db.close()


def test_tables_made_with_unique_constraints_need_no_unique_index(db_url: str) -> None:
    """A table created with its UNIQUE constraints reads back as unique on every backend."""
    db = Database(db_url, ALL)
    db.migrate()
    tables = read_schema(db.connection()).tables
    assert {i.signature for i in tables["author"].indexes.values() if i.unique} == {
        (("email",), True)
    }
    assert db.migration_plan().empty
    db.close()


def test_querying_a_column_that_was_never_migrated_fails_on_every_backend(db_url: str) -> None:
    """A field added to the model but not yet migrated: every query of it fails naming the
    column (SQLite would read the double-quoted name as the text 'nick' and match nothing in
    a filter, silently), and after migrate the same queries work."""
    db1 = Database(db_url, [_person(unique=False)])
    db1.migrate()
    s = db1.create_session()
    s.add(db1.entity("Person").cls(id=1, email="p1@x"))
    s.commit()
    db1.close()
    person = _person(unique=True)
    db = Database(db_url, [person])
    for query in (
        lambda: db.query(person).find(),
        lambda: db.create_session().query(person).filter(F.nick == "n").find(),
        lambda: db.query(person).filter(F.nick == "n").count(),
        lambda: db.query(person).filter(F.nick == "n").delete_many(),
    ):
        with pytest.raises(DatabaseError, match="nick"):
            query()
    if db.dialect.name == "sqlite":
        with pytest.raises(DatabaseError) as caught:
            db.query(person).find()
        assert str(caught.value) == (
            "cannot query Person: the table 'person' has no column 'nick' (Person.nick); "
            "run migrate"
        )
    db.migrate()
    assert [(p.email, p.nick) for p in db.query(person).find()] == [("p1@x", None)]
    assert db.query(person).filter(F.nick == "n").count() == 0
    db.close()
