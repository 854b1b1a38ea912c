"""The everyday model changes, one row each, on every backend, through the core API.

Each case: a first model version with rows in it, a second version, what the plan says
(``+ ~ -`` line), whether it applies without asking (safe), needs ``allow_data_loss``
(loss) or cannot apply (blocked; nothing changes), the rows afterwards, and convergence:
after applying, a second plan is empty.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

import pytest

from core import (
    AutoIncrement,
    Check,
    Database,
    Index,
    MaxLength,
    MigrationError,
    PrimaryKey,
    Reference,
    RenamedFrom,
    Unique,
)
from tests.migrations.models import NO, Person, Status, Status2, Team, model

ID = (Annotated[int, PrimaryKey, AutoIncrement], 0)


@dataclass
class Case:
    name: str
    v1: Callable[[], list[type]]
    v2: Callable[[], list[type]]
    line: str
    outcome: str  # "safe", "loss" or "blocked"
    rows: list[dict[str, Any]] = field(default_factory=lambda: [{"title": "a"}, {"title": "b"}])
    #: The rows after migrating, read through the second version's first model.
    after: Callable[[list[Any]], Any] | None = None
    expect: Any = None
    backfill: dict[str, Any] = field(default_factory=dict)
    #: Nothing to do where the backend stores both versions alike (enum text on SQLite).
    same_type_on: Callable[[Any], bool] | None = None


def base(**extra: Any) -> Callable[[], list[type]]:
    return lambda: [model({"id": ID, "title": (str, ""), **extra})]


def titles(objs: list[Any]) -> list[str]:
    return sorted(o.title for o in objs)


def _author() -> type:
    return model({"id": ID, "name": (str, "")}, name="writer", cls_name="Writer")


def with_reference() -> list[type]:
    writer = _author()
    item = model(
        {"id": ID, "title": (str, ""), "writer": (Annotated[writer, Reference] | None, None)}
    )
    return [item, writer]


CASES = [
    Case(
        "new table",
        base(),
        lambda: [*base()(), model({"id": ID, "x": (str, "")}, name="other", cls_name="Other")],
        "+ create table other",
        "safe",
        after=titles,
        expect=["a", "b"],
    ),
    Case(
        "drop table",
        lambda: [*base()(), model({"id": ID, "x": (str, "")}, name="other", cls_name="Other")],
        base(),
        "- drop table other",
        "safe",
        after=titles,
        expect=["a", "b"],
    ),
    Case(
        "nullable column",
        base(),
        base(note=(str | None, None)),
        "+ add column item.note",
        "safe",
        after=lambda o: [x.note for x in o],
        expect=[None, None],
    ),
    Case(
        "NOT NULL column with a default",
        base(),
        base(rating=(int, 0)),
        "NOT NULL DEFAULT 0",
        "safe",
        after=lambda o: [x.rating for x in o],
        expect=[0, 0],
    ),
    Case(
        "NOT NULL column without a default",
        base(),
        base(rating=(int, NO)),
        "NOT NULL without a default",
        "blocked",
    ),
    Case(
        "NOT NULL column with --backfill",
        base(),
        base(rating=(int, NO)),
        "fill NULLs of item.rating with 7",
        "safe",
        after=lambda o: [x.rating for x in o],
        expect=[7, 7],
        backfill={"Item.rating": "7"},
    ),
    Case(
        "dropped column with data",
        base(note=(str | None, None)),
        base(),
        "- drop column item.note",
        "loss",
        rows=[{"title": "a", "note": "n"}],
        after=titles,
        expect=["a"],
    ),
    Case(
        "renamed field (RenamedFrom)",
        base(),
        lambda: [model({"id": ID, "headline": (Annotated[str, RenamedFrom("title")], "")})],
        "~ rename column item.title to headline",
        "safe",
        after=lambda o: sorted(x.headline for x in o),
        expect=["a", "b"],
    ),
    Case(
        "renamed entity (renamed_from)",
        base(),
        lambda: [model({"id": ID, "title": (str, "")}, name="thing", renamed_from="item")],
        "~ rename table item to thing",
        "safe",
        after=titles,
        expect=["a", "b"],
    ),
    Case(
        "longer VARCHAR",
        base(code=(Annotated[str, MaxLength(5)], "")),
        base(code=(Annotated[str, MaxLength(20)], "")),
        "~ alter column item.code: type",
        "safe",
        rows=[{"title": "a", "code": "abcde"}],
        after=lambda o: [x.code for x in o],
        expect=["abcde"],
    ),
    Case(
        "VARCHAR to TEXT",
        base(code=(Annotated[str, MaxLength(5)], "")),
        base(code=(str, "")),
        "~ alter column item.code: type",
        "safe",
        rows=[{"title": "a", "code": "abcde"}],
        after=lambda o: [x.code for x in o],
        expect=["abcde"],
    ),
    Case(
        "narrower VARCHAR over long values",
        base(code=(Annotated[str, MaxLength(20)], "")),
        base(code=(Annotated[str, MaxLength(3)], "")),
        "1 values of item.code are longer than 3 characters",
        "blocked",
        rows=[{"title": "a", "code": "abcdef"}],
    ),
    Case(
        "enum grows",
        base(status=(Status, Status.LIVE)),
        base(status=(Status2, Status2.LIVE)),
        "item.status",
        "safe",
        rows=[{"title": "a", "status": Status.DRAFT}],
        after=lambda o: [x.status for x in o],
        expect=[Status2.DRAFT],
        same_type_on=lambda d: d.sql_type("enum_str(5)") == d.sql_type("enum_str(8)"),
    ),
    Case(
        "NOT NULL relaxed",
        base(),
        base(title=(str | None, None)),
        "allow NULL",
        "safe",
        after=titles,
        expect=["a", "b"],
    ),
    Case(
        "NOT NULL tightened over NULLs",
        base(note=(str | None, None)),
        base(note=(str, "")),
        "1 rows of item have note NULL",
        "blocked",
        rows=[{"title": "a"}],
    ),
    Case(
        "NOT NULL tightened with --backfill",
        base(note=(str | None, None)),
        base(note=(str, "")),
        "fill NULLs of item.note with 'x'",
        "safe",
        rows=[{"title": "a"}],
        after=lambda o: [x.note for x in o],
        expect=["x"],
        backfill={"Item.note": "x"},
    ),
    Case(
        "Unique added",
        base(),
        base(title=(Annotated[str, Unique, MaxLength(50)], "")),
        "+ create unique index uq_item_title",
        "safe",
        after=titles,
        expect=["a", "b"],
    ),
    Case(
        "Unique over duplicates",
        base(),
        base(title=(Annotated[str, Unique, MaxLength(50)], "")),
        "2 rows of item share title='a'",
        "blocked",
        rows=[{"title": "a"}, {"title": "a"}],
    ),
    Case(
        "Unique dropped",
        base(title=(Annotated[str, Unique, MaxLength(50)], "")),
        base(title=(Annotated[str, MaxLength(50)], "")),
        "- drop unique index",
        "safe",
        after=titles,
        expect=["a", "b"],
    ),
    Case(
        "Index added",
        base(),
        base(title=(Annotated[str, Index, MaxLength(50)], "")),
        "+ create index ix_item_title",
        "safe",
        after=titles,
        expect=["a", "b"],
    ),
    Case(
        "Index dropped",
        base(title=(Annotated[str, Index, MaxLength(50)], "")),
        base(title=(Annotated[str, MaxLength(50)], "")),
        "- drop index ix_item_title",
        "safe",
        after=titles,
        expect=["a", "b"],
    ),
    Case(
        "two-column unique",
        base(code=(Annotated[str, MaxLength(5)], "")),
        lambda: [
            model(
                {
                    "id": ID,
                    "title": (Annotated[str, MaxLength(50)], ""),
                    "code": (Annotated[str, MaxLength(5)], ""),
                },
                indexes=((("title", "code"), True),),
            )
        ],
        "+ create unique index uq_item_title_code",
        "safe",
        after=titles,
        expect=["a", "b"],
    ),
    Case(
        "default changed",
        base(rating=(int, 0)),
        base(rating=(int, 5)),
        "default 0 -> 5",
        "safe",
        after=titles,
        expect=["a", "b"],
    ),
    Case(
        "primary key changed",
        lambda: [
            model(
                {
                    "id": (Annotated[int, PrimaryKey], 0),
                    "title": (Annotated[str, MaxLength(20)], ""),
                }
            )
        ],
        lambda: [model({"id": (int, 0), "title": (Annotated[str, PrimaryKey, MaxLength(20)], "")})],
        "~ primary key of item: (id) -> (title)",
        "loss",
        rows=[{"id": 1, "title": "a"}, {"id": 2, "title": "b"}],
        after=titles,
        expect=["a", "b"],
    ),
    Case(
        "nullable reference added",
        lambda: [*base()(), _author()],
        with_reference,
        "+ add foreign key fk_item_writer",
        "safe",
        after=titles,
        expect=["a", "b"],
    ),
    Case(
        "check added",
        base(rating=(int, 0)),
        base(rating=(Annotated[int, Check("rating >= 0")], 0)),
        "+ add check ck_item_rating",
        "safe",
        after=titles,
        expect=["a", "b"],
    ),
    Case(
        "column widened in a table with a check",
        base(
            code=(Annotated[str, MaxLength(5)], ""),
            rating=(Annotated[int, Check("rating >= 0")], 0),
        ),
        base(
            code=(Annotated[str, MaxLength(20)], ""),
            rating=(Annotated[int, Check("rating >= 0")], 0),
        ),
        "~ alter column item.code: type",
        "safe",
        rows=[{"title": "a", "code": "abcde", "rating": 2}],
        after=lambda o: [(x.code, x.rating) for x in o],
        expect=[("abcde", 2)],
    ),
    Case(
        "check the rows fail",
        base(rating=(int, 0)),
        base(rating=(Annotated[int, Check("rating > 5")], 0)),
        "2 rows of item fail the check",
        "blocked",
    ),
]


def _seed(db: Database, cls: type, rows: list[dict[str, Any]]) -> None:
    s = db.create_session()
    s.add(*[cls(**row) for row in rows])
    s.commit()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_everyday_change(db_url: str, case: Case) -> None:
    """The plan names the change; safe steps apply, data loss needs a yes, blocked steps
    apply nothing; rows are kept; a second plan is empty."""
    first = case.v1()
    db = Database(db_url, first)
    db.migrate()
    _seed(db, first[0], case.rows)
    db.close()
    second = case.v2()
    db = Database(db_url, second)
    plan = db.migration_plan(backfill=case.backfill)
    text = "\n".join(plan.text())
    if case.same_type_on is not None and case.same_type_on(db.dialect):
        assert plan.empty, text
    else:
        assert case.line in text, text
    if case.outcome == "blocked":
        with pytest.raises(MigrationError, match="nothing was applied"):
            db.migrate(allow_data_loss=True, backfill=case.backfill)
        db.close()
        db = Database(db_url, first)
        assert db.migration_plan().empty, "\n".join(db.migration_plan().text())
        db.close()
        return
    if case.outcome == "loss":
        with pytest.raises(MigrationError, match="--allow-data-loss"):
            db.migrate(backfill=case.backfill)
        assert not db.migration_plan().empty
    applied = db.migrate(allow_data_loss=case.outcome == "loss", backfill=case.backfill)
    assert applied.applied == len(applied.sql)
    again = db.migration_plan()
    assert again.empty, "\n".join(again.text())
    if case.after is not None:
        assert case.after(db.query(second[0]).find()) == case.expect
    db.close()


def test_two_tables_that_reference_each_other_are_created_then_linked(db_url: str) -> None:
    """Tables first, foreign keys after: a cycle of references migrates on every backend."""

    db = Database(db_url, [Person, Team])
    plan = db.migrate()
    kinds = [op.kind for op in plan.ops]
    assert kinds.index("add_foreign_key") > max(
        i for i, k in enumerate(kinds) if k == "create_table"
    )
    assert db.migration_plan().empty
    db.close()


def test_a_second_migrate_has_nothing_to_do_after_every_kind_of_field(db_url: str) -> None:
    """Convergence over every field kind with defaults, indexes and references."""
    from tests.core.models import ALL

    db = Database(db_url, ALL)
    db.migrate()
    again = db.migration_plan()
    assert again.empty, "\n".join(again.text())
    db.close()


def test_pivot_tables_and_on_delete_rules_are_created_and_enforced(db_url: str) -> None:
    """The pivot table gets its composite key, both foreign keys with ON DELETE CASCADE and an
    index on its second reference; SET NULL clears a post's blogger; the plan converges."""
    from tests.migrations.models import Blogger, Post, PostTag, Tag

    db = Database(db_url, [Blogger, Post, Tag, PostTag])
    plan = db.migrate()
    text = "\n".join(plan.text())
    assert "fk_post_tag_post: post_tag (post) -> post (id) on delete cascade" in text
    assert "fk_post_tag_tag: post_tag (tag) -> tag (id) on delete cascade" in text
    assert "fk_post_blogger: post (blogger) -> blogger (id) on delete set null" in text
    assert "+ create index ix_post_tag_tag on post_tag (tag)" in text
    assert "ix_post_tag_post" not in text  # the key starts with it
    assert db.migration_plan().empty
    conn = db.connection()
    q, p = db.dialect.quote, db.dialect.placeholder
    for sql, params in (
        (f"INSERT INTO {q('blogger')} ({q('id')}, {q('name')}) VALUES ({p}, {p})", [1, "b"]),
        (
            f"INSERT INTO {q('post')} ({q('id')}, {q('title')}, {q('blogger')}) "
            f"VALUES ({p}, {p}, {p})",
            [1, "t", 1],
        ),
        (f"INSERT INTO {q('tag')} ({q('id')}, {q('name')}) VALUES ({p}, {p})", [1, "x"]),
        (f"INSERT INTO {q('post_tag')} ({q('post')}, {q('tag')}) VALUES ({p}, {p})", [1, 1]),
        (f"DELETE FROM {q('blogger')} WHERE {q('id')} = {p}", [1]),
        (f"DELETE FROM {q('tag')} WHERE {q('id')} = {p}", [1]),
    ):
        conn.execute(sql, params)
    assert [tuple(r) for r in conn.fetchall(f"SELECT {q('blogger')} FROM {q('post')}")] == [(None,)]
    assert conn.fetchall(f"SELECT COUNT(*) FROM {q('post_tag')}")[0][0] == 0
    db.close()


def test_an_on_delete_change_replaces_the_foreign_key(db_url: str) -> None:
    """restrict -> cascade is a dropped and an added foreign key; a second plan is empty."""
    db = Database(db_url, with_reference())
    db.migrate()
    db.close()
    writer = _author()
    cascade = model(
        {
            "id": ID,
            "title": (str, ""),
            "writer": (Annotated[writer, Reference(on_delete="set null")] | None, None),
        }
    )
    db = Database(db_url, [cascade, writer])
    text = "\n".join(db.migration_plan().text())
    assert "- drop foreign key fk_item_writer on item" in text
    assert "on delete set null" in text
    db.migrate()
    assert db.migration_plan().empty
    db.close()


def test_a_table_rebuild_keeps_ids_from_being_reused(db_url: str) -> None:
    """The highest id is deleted, then a change that SQLite makes by a rebuild (a dropped
    column): the next row still gets a new id (AUTOINCREMENT kept; the servers' counters
    are kept by the server), and the plan converges."""
    first = base(note=(str | None, None))()
    db = Database(db_url, first)
    db.migrate()
    _seed(db, first[0], [{"title": "a"}, {"title": "b"}])
    s = db.create_session()
    last = max(db.query(first[0]).find(), key=lambda o: o.id)
    s.remove(s.get(first[0], last.id))
    s.commit()
    db.close()
    second = base()()
    db = Database(db_url, second)
    db.migrate(allow_data_loss=True)
    assert db.migration_plan().empty
    s = db.create_session()
    s.add(second[0](title="c"))
    s.commit()
    ids = sorted(o.id for o in db.query(second[0]).find())
    assert ids[-1] > last.id, ids
    db.close()
