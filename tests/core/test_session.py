"""The session contract: identity map, change detection, batching, rollback, add/remove rules."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core import Database, F, SessionError
from tests.conftest import StatementLog
from tests.core.models import ALL, Article, Author, Membership


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url, ALL)
    database.migrate()
    yield database
    database.close()


def _authors(n: int, prefix: str = "a") -> list[Author]:
    return [Author(email=f"{prefix}{i}@example.org", name=f"{prefix}{i}", age=i) for i in range(n)]


def test_two_queries_return_the_same_instances(db: Database) -> None:
    """Identity map: one object per row per session."""
    s = db.create_session()
    s.add(*_authors(3))
    s.commit()
    other = db.create_session()
    first = other.query(Author).order_by("id").find()
    second = other.query(Author).order_by("id").find()
    assert all(a is b for a, b in zip(first, second, strict=True))
    assert other.query(Author).filter(F.id == first[1].id).find_one() is first[1]


def test_added_entity_is_the_instance_a_later_query_returns(db: Database) -> None:
    s = db.create_session()
    added = _authors(2)
    s.add(*added)
    s.commit()
    assert s.query(Author).order_by("id").find() == added
    assert s.get(Author, added[0].id) is added[0]


def test_database_query_gives_fresh_untracked_instances(db: Database) -> None:
    """database.query() objects are new each time and changes to them are not tracked."""
    s = db.create_session()
    s.add(*_authors(2))
    s.commit()
    a = db.query(Author).order_by("id").find()
    b = db.query(Author).order_by("id").find()
    assert a[0] is not b[0] and a[0].id == b[0].id
    a[0].name = "changed"
    assert s.changes().empty


def test_requery_keeps_unsaved_local_changes(db: Database) -> None:
    s = db.create_session()
    s.add(*_authors(1))
    s.commit()
    a = s.query(Author).find_one()
    a.name = "local"
    assert s.query(Author).find_one().name == "local"
    s.refresh(a)
    assert a.name == "a0" and s.changes().empty


def test_only_changed_columns_are_written(db: Database, statements: StatementLog) -> None:
    """Change detection: the UPDATE sets only the changed column, for the changed rows only."""
    s = db.create_session()
    s.add(*_authors(5))
    s.commit()
    authors = s.query(Author).order_by("id").find()
    authors[1].age = 100
    authors[3].age = 300
    statements.clear()
    result = s.commit()
    dml = statements.dml()
    q = db.dialect.quote
    assert len(dml) == 1 and dml[0].startswith(f"UPDATE {q('author')} SET {q('age')} = ")
    assert not any(q(col) in dml[0] for col in ("name", "email", "role"))
    if db.dialect.update_form == "executemany":
        p = db.dialect.placeholder
        assert dml == [f"UPDATE {q('author')} SET {q('age')} = {p} WHERE {q('id')} = {p}"]
    assert (result.updates, result.statements) == (2, 1)
    assert sorted(a.age for a in db.query(Author).find()) == [0, 2, 4, 100, 300]


def test_untouched_session_sends_no_statement(db: Database, statements: StatementLog) -> None:
    s = db.create_session()
    s.add(*_authors(3))
    s.commit()
    s.query(Author).find()
    statements.clear()
    result = s.commit()
    assert statements.sql == [] and result.statements == 0


def test_setting_a_field_back_to_its_value_is_no_change(
    db: Database, statements: StatementLog
) -> None:
    s = db.create_session()
    s.add(*_authors(1))
    s.commit()
    a = s.query(Author).find_one()
    a.name = "other"
    a.name = "a0"
    assert s.changes().empty
    statements.clear()
    s.commit()
    assert statements.sql == []


def test_in_place_json_mutation_is_detected(db: Database) -> None:
    """Appending to a list field or setting a dict key counts as a change."""
    s = db.create_session()
    author = Author(email="j@x", name="j")
    s.add(Article(title="t", author=author, tags=["a"], meta={"k": 1}))
    s.commit()
    s2 = db.create_session()
    art = s2.query(Article).find_one()
    art.tags.append("b")
    art.meta["k"] = 2
    changes = s2.changes().updates[0].changes
    assert changes == {"tags": (["a"], ["a", "b"]), "meta": ({"k": 1}, {"k": 2})}
    s2.commit()
    fresh = db.query(Article).find_one()
    assert (fresh.tags, fresh.meta) == (["a", "b"], {"k": 2})


def test_a_load_of_several_chunks_maps_and_tracks_every_row(db: Database) -> None:
    """A query of 2,500 rows arrives in chunks of 1,000: every row gets one identity-mapped
    object, a second query returns the same objects, and in-place JSON edits of rows from any
    chunk are seen."""
    author = Author(email="chunks@x", name="c")
    s0 = db.create_session()
    s0.add(*[Article(title=f"t{i}", author=author, tags=[str(i)]) for i in range(2_500)])
    s0.commit()
    s = db.create_session()
    arts = s.query(Article).order_by(F.id).find()
    assert len(arts) == 2_500 and len({id(a) for a in arts}) == 2_500
    assert s.query(Article).order_by(F.id).find() == arts
    assert all(x is y for x, y in zip(s.query(Article).order_by(F.id).find(), arts, strict=True))
    for i in (0, 999, 1_000, 2_499):
        arts[i].tags.append("edited")
    assert sorted(u.obj.title for u in s.changes().updates) == ["t0", "t1000", "t2499", "t999"]


def test_commit_of_1000_new_entities_sends_at_most_two_inserts(
    db: Database, statements: StatementLog
) -> None:
    s = db.create_session()
    authors = _authors(1000)
    s.add(*authors)
    s.commit()
    inserts = [x for x in statements.dml() if x.startswith("INSERT")]
    assert 1 <= len(inserts) <= 2
    assert sorted(a.id for a in authors) == sorted(a.id for a in db.query(Author).find())
    assert len({a.id for a in authors}) == 1000


def test_ids_are_matched_to_their_own_objects(db: Database) -> None:
    """Every new object's id selects the row holding that object's values."""
    s = db.create_session()
    authors = _authors(500)
    s.add(*authors)
    s.commit()
    rows = {a.id: a.email for a in db.query(Author).find()}
    assert all(rows[a.id] == a.email for a in authors)


def test_removing_1000_sends_at_most_two_deletes(db: Database, statements: StatementLog) -> None:
    s = db.create_session()
    s.add(*_authors(1000))
    s.commit()
    statements.clear()
    s.remove(*s.query(Author).find())
    s.commit()
    deletes = [x for x in statements.dml() if x.startswith("DELETE")]
    assert 1 <= len(deletes) <= 2
    assert db.query(Author).count() == 0


def test_changing_one_column_on_1000_sends_at_most_two_statements(
    db: Database, statements: StatementLog
) -> None:
    s = db.create_session()
    s.add(*_authors(1000))
    s.commit()
    for a in s.query(Author).find():
        a.age = (a.age or 0) + 1
    statements.clear()
    s.commit()
    assert 1 <= len(statements.dml()) <= 2


def test_updates_are_grouped_by_changed_columns(db: Database, statements: StatementLog) -> None:
    s = db.create_session()
    s.add(*_authors(4))
    s.commit()
    a, b, c, d = s.query(Author).order_by("id").find()
    a.age, b.age = 1, 2
    c.name, d.name = "c", "d"
    statements.clear()
    assert s.commit().statements == 2
    assert len(statements.dml()) == 2


def test_change_set_lists_work_in_the_order_it_was_staged(db: Database) -> None:
    """Grouped for the commit, listed for people: updates in first-change order, removals in
    removal order, whatever columns they touch."""
    s = db.create_session()
    s.add(*_authors(6))
    s.commit()
    a, b, c, d, _e, f = s.query(Author).order_by("id").find()
    c.name = "c2"
    a.age = 10
    b.name = "b2"
    a.name = "a2"
    s.remove(f, d)
    changes = s.changes()
    assert [u.obj for u in changes.updates] == [c, a, b]
    assert changes.updates[1].changes == {"name": ("a0", "a2"), "age": (0, 10)}
    assert [x.obj for x in changes.deletes] == [f, d]
    assert changes.counts() == (0, 3, 2)
    assert s.commit().statements == 3  # UPDATE name; UPDATE name, age; DELETE
    assert (a.name, a.age, c.name) == ("a2", 10, "c2")


def test_rollback_restores_attributes_drops_adds_and_cancels_removes(db: Database) -> None:
    s = db.create_session()
    s.add(*_authors(3))
    s.commit()
    a, b, _ = s.query(Author).order_by("id").find()
    a.name = "changed"
    a.age = None
    s.remove(b)
    new = Author(email="new@x", name="new")
    s.add(new)
    assert s.counts() == (1, 1, 1)
    s.rollback()
    assert (a.name, a.age) == ("a0", 0)
    assert s.changes().empty and s.state_of(new) == "detached" and s.state_of(b) == "persistent"
    s.commit()
    assert db.query(Author).count() == 3


def test_rollback_restores_json_fields_mutated_in_place(db: Database) -> None:
    s = db.create_session()
    s.add(Article(title="t", author=Author(email="r@x", name="r"), tags=["x"]))
    s.commit()
    art = s.query(Article).find_one()
    art.tags.append("y")
    s.rollback()
    assert art.tags == ["x"] and s.changes().empty


def test_add_twice_is_a_noop_and_remove_of_new_unstages(db: Database) -> None:
    s = db.create_session()
    a = Author(email="x@x", name="x")
    s.add(a)
    s.add(a)
    assert len(s.changes().inserts) == 1
    s.remove(a)
    assert s.changes().empty and s.state_of(a) == "detached"


def test_remove_then_add_cancels_the_removal(db: Database) -> None:
    s = db.create_session()
    s.add(*_authors(1))
    s.commit()
    a = s.query(Author).find_one()
    s.remove(a)
    s.add(a)
    assert s.changes().empty and s.state_of(a) == "persistent"


def test_objects_stay_usable_after_commit(db: Database) -> None:
    """No expiry: attributes are readable after commit without another query."""
    s = db.create_session()
    a = Author(email="u@x", name="u")
    s.add(a)
    s.commit()
    a.name = "again"
    s.commit()
    assert db.query(Author).find_one().name == "again"


def test_object_belongs_to_one_session(db: Database) -> None:
    s1, s2 = db.create_session(), db.create_session()
    a = Author(email="o@x", name="o")
    s1.add(a)
    with pytest.raises(SessionError, match="belongs to another session"):
        s2.add(a)


def test_objects_do_not_keep_their_session_alive(db: Database) -> None:
    """A loaded object holds its session's token, not the session: a plain-valued __dict__
    stays out of the cyclic collector's sight, and once the session is gone the object is
    detached — edits to it go nowhere, and it can be removed through another session."""
    import gc
    import weakref

    from tests.core.models import Node

    s = db.create_session()
    s.add(Node(label="k"))
    s.commit()
    loaded = db.create_session()
    node = loaded.query(Node).find_one()
    assert not gc.is_tracked(node.__dict__)
    gone = weakref.ref(loaded)
    del loaded
    gc.collect()
    assert gone() is None
    node.label = "edited while detached"  # no session records it, nothing fails
    s2 = db.create_session()
    s2.remove(node)
    s2.commit()
    assert db.query(Node).count() == 0


def test_removing_a_never_added_new_object_is_an_error(db: Database) -> None:
    s = db.create_session()
    with pytest.raises(SessionError, match="cannot remove new Author: it was never added"):
        s.remove(Author(email="n@x", name="n"))


def test_composite_keys_insert_update_delete(db: Database) -> None:
    s = db.create_session()
    s.add(*(Membership(org="acme", member=i) for i in range(3)))
    s.commit()
    m = s.get(Membership, ("acme", 1))
    assert m is not None
    m.level = 5
    s.remove(s.get(Membership, ("acme", 2)))
    s.commit()
    rows = sorted((x.member, x.level) for x in db.query(Membership).find())
    assert rows == [(0, 0), (1, 5)]


def test_a_batched_update_over_several_chunks_changes_exactly_the_changed_rows(
    db: Database,
) -> None:
    """1,201 changed rows of a composite-key entity (more than one statement's worth in every
    batched form: SQLite's ``UPDATE ... FROM (VALUES ...)`` takes 500 rows, MariaDB's CASE
    500) and one row left alone: each row gets its own new value, the untouched one keeps
    its own, and a fresh read agrees with memory."""
    s = db.create_session()
    s.add(*(Membership(org=org, member=i) for org in ("acme", "bolt") for i in range(601)))
    s.commit()
    for m in s.query(Membership).find():
        if (m.org, m.member) != ("bolt", 7):
            m.level = m.member * 2 + (2 if m.org == "bolt" else 1)
    assert s.commit().updates == 1_201
    fresh = {(m.org, m.member): m.level for m in db.query(Membership).find()}
    expected = {
        (org, i): (i * 2 + (2 if org == "bolt" else 1))
        for org in ("acme", "bolt")
        for i in range(601)
    }
    expected[("bolt", 7)] = 0
    assert fresh == expected


def test_changing_a_primary_key_is_refused_at_assignment(db: Database) -> None:
    """Refused when assigned (not at commit), naming entity, field and object."""
    s = db.create_session()
    s.add(Membership(org="acme", member=1))
    s.commit()
    m = s.query(Membership).find_one()
    m.member = 1  # the same value: no change
    with pytest.raises(SessionError) as exc:
        m.member = 9
    assert str(exc.value) == (
        "cannot change the primary key Membership.member of Membership ('acme', 1) (to 9): a "
        "persistent object keeps its key; remove it and add a new object instead"
    )
    assert m.member == 1 and s.changes().empty


def test_pending_sql_shows_the_batched_statements_without_running_them(db: Database) -> None:
    s = db.create_session()
    parent = Author(email="p@x", name="p")
    s.add(parent, Article(title="t", author=parent))
    stmts = s.pending_sql()
    assert [st.sql.split()[0] for st in stmts] == ["INSERT", "INSERT"]
    assert "<new Author #1 id>" in repr(stmts[1].params)
    assert db.query(Author).count() == 0


def test_staging_never_writes(db: Database) -> None:
    """Nothing commits unless commit() is called."""
    s = db.create_session()
    s.add(*_authors(2))
    s.changes()
    s.pending_sql()
    assert db.query(Author).count() == 0


def test_large_batches_are_chunked_under_the_parameter_limit(
    db: Database, statements: StatementLog
) -> None:
    """10,000 rows of 4 columns need ceil(40,000 / limit) INSERTs; every id is right."""
    s = db.create_session()
    authors = _authors(10_000, prefix="c")
    s.add(*authors)
    s.commit()
    rows_per_insert = min(db.dialect.max_rows_per_insert, db.dialect.max_params // 4)
    if db.dialect.array_batches:  # one array per column: no parameter limit
        rows_per_insert = db.dialect.array_rows
    expected = -(-10_000 // rows_per_insert)
    inserts = [x for x in statements.dml() if x.startswith("INSERT")]
    assert len(inserts) == expected
    emails = {a.id: a.email for a in db.query(Author).find()}
    assert all(emails[a.id] == a.email for a in authors)


def test_ids_are_right_when_no_column_is_distinct_in_the_batch(db: Database) -> None:
    """Repeated values in every column (even identical rows) still give each object its row."""
    from tests.core.models import Node

    s = db.create_session()
    nodes = [Node(label=f"n{i % 3}") for i in range(300)] + [Node(label="same") for _ in range(5)]
    s.add(*nodes)
    s.commit()
    assert len({n.id for n in nodes}) == 305
    stored = {n.id: n.label for n in db.query(Node).find()}
    assert all(stored[n.id] == n.label for n in nodes)


def test_a_key_returned_twice_gives_one_object(db: Database) -> None:
    """Loading keeps one object per key even if a result holds a key twice (a table without a
    unique key): the first load of a fresh session takes its shortcut only when keys are
    distinct."""
    from tests.core.models import Node

    s = db.create_session()
    info = Node.__orm_entity__  # type: ignore[attr-defined]
    rows = [(1, "a", None), (2, "b", None), (1, "a again", None)]
    objs = s._merge_rows(info, iter([rows]))  # chunks arrive as a stream, read once
    assert objs[0] is objs[2] and objs[0] is not objs[1]
    assert s.get(Node, 1) is objs[0] and objs[0].label == "a"
    assert s.query(Node).find() == []  # nothing was written


def test_a_key_returned_again_in_a_later_chunk_gives_the_first_object(db: Database) -> None:
    """A key repeated across the chunks of a streamed result maps to its first object, and
    the chunks after the repeat are still read, each row once, in order."""
    from tests.core.models import Node

    s = db.create_session()
    info = Node.__orm_entity__  # type: ignore[attr-defined]
    chunks = [
        [(1, "a", None), (2, "b", None)],
        [(3, "c", None), (2, "b again", None)],
        [(4, "d", None), (1, "a again", None), (5, "e", None)],
    ]
    objs = s._merge_rows(info, iter(chunks))
    assert [o.id for o in objs] == [1, 2, 3, 2, 4, 1, 5]
    assert objs[1] is objs[3] and objs[0] is objs[5]
    assert [o.label for o in objs] == ["a", "b", "c", "b", "d", "a", "e"]
    assert len({id(o) for o in objs}) == 5
    assert all(s.get(Node, o.id) is o for o in objs)


def test_queries_leave_the_garbage_collector_as_they_found_it(db: Database) -> None:
    """Loading pauses the cyclic collector (it builds no cycles) and always resumes it, also
    when the query fails; a collector the application switched off stays off."""
    import gc

    from core import OrmError

    s = db.create_session()
    s.add(*_authors(3))
    s.commit()
    assert gc.isenabled()
    assert len(s.query(Author).find()) == 3
    assert gc.isenabled()
    with pytest.raises(OrmError):
        s.query(Author).filter(F.no_such_field == 1).find()
    assert gc.isenabled()
    gc.disable()
    try:
        s.query(Author).find()
        assert not gc.isenabled()
    finally:
        gc.enable()


@pytest.mark.parametrize("order", ["id", "-id"])
def test_a_first_load_in_key_order_is_mapped_when_first_needed(db: Database, order: str) -> None:
    """A fresh session's load whose keys come ascending keeps them aside (no dict is built
    for them yet); descending keys are mapped at once. Either way lookups, a second query,
    adding a conflicting object, removing some and removing all behave as one identity map."""
    s0 = db.create_session()
    s0.add(*_authors(2_500))
    s0.commit()
    s = db.create_session()
    info = Author.__orm_entity__  # type: ignore[attr-defined]
    authors = s.query(Author).order_by(order).find()
    deferred = info in s._identity._deferred
    assert deferred is (order == "id")
    assert s._identity.count(info) == 2_500
    by_id = {a.id: a for a in authors}
    assert s.get(Author, authors[1_234].id) is authors[1_234]
    assert info not in s._identity._deferred  # the lookup mapped them
    again = s.query(Author).filter(F.age >= 1_000).find()
    assert all(a is by_id[a.id] for a in again) and len(again) == 1_500
    with pytest.raises(SessionError):
        s.add(Author(id=authors[0].id, email="twin@x", name="twin"))

    s2 = db.create_session()
    loaded = s2.query(Author).order_by(order).find()
    s2.remove(*loaded[:10])
    s2.commit()
    assert s2._identity.count(info) == 2_490 and s2.get(Author, loaded[0].id) is None
    s2.remove(*s2.query(Author).find())
    s2.commit()
    assert s2._identity.count(info) == 0 and db.query(Author).count() == 0
    assert all(s2.state_of(a) == "detached" for a in loaded)

    s.close()
    assert all(s.state_of(a) == "detached" for a in authors)
