"""``session.upsert``: insert, or update the row with the same key / unique value, batched."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

import pytest

from core import (
    AutoIncrement,
    ConflictError,
    Database,
    IntegrityError,
    PrimaryKey,
    SessionError,
    Unique,
    Version,
    entity,
)
from tests.conftest import StatementLog


@entity.name("ups_member")
class Member:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    email: Annotated[str, Unique] = ""
    name: str = ""
    note: str = ""
    version: Annotated[int, Version] = 1


@entity.name("ups_country")
class Country:
    code: Annotated[str, PrimaryKey] = ""
    name: str = ""


@entity.index("team", "number", unique=True)
@entity.name("ups_player")
class Player:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    team: str = ""
    number: int = 0
    name: str = ""


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url, [Member, Country, Player])
    database.migrate()
    yield database
    database.close()


def _seed(db: Database, n: int) -> None:
    s = db.create_session()
    s.add(*(Member(email=f"m{i}@x", name=f"old{i}", note=f"kept{i}") for i in range(n)))
    s.commit()


def _stored(db: Database) -> list[tuple[Any, ...]]:
    return [(m.email, m.name, m.note, m.version) for m in db.query(Member).order_by("email").find()]


def _upserts(statements: StatementLog) -> list[str]:
    return [q for q in statements.dml() if q.upper().startswith("INSERT")]


def test_rows_that_do_not_exist_are_inserted_and_get_their_keys(db: Database) -> None:
    s = db.create_session()
    objs = [Member(email=f"m{i}@x", name=f"n{i}") for i in range(3)]
    s.upsert(*objs, on="email")
    assert s.counts() == (3, 0, 0) and s.state_of(objs[0]) == "new"
    result = s.commit()
    assert result.upserts == 3 and result.statements == 1
    assert all(o.id > 0 for o in objs) and len({o.id for o in objs}) == 3
    assert [s.state_of(o) for o in objs] == ["persistent"] * 3
    assert s.get(Member, objs[1].id) is objs[1]  # identity-mapped
    assert _stored(db) == [(f"m{i}@x", f"n{i}", "", 1) for i in range(3)]
    objs[0].name = "changed"  # tracked: a change is an UPDATE
    assert s.counts() == (0, 1, 0)
    s.commit()
    assert _stored(db)[0] == ("m0@x", "changed", "", 2)


def test_existing_rows_are_updated_and_fields_not_updated_are_read_back(db: Database) -> None:
    """``update=`` limits what the update branch writes; the object then holds what the row
    holds (its key, the kept note, the version bumped), so memory and database agree."""
    _seed(db, 2)
    s = db.create_session()
    obj = Member(email="m1@x", name="new1", note="ignored")
    s.upsert(obj, on=("email",), update=("name",))
    s.commit()
    stored = db.query(Member).filter(email="m1@x").find_one()
    assert (obj.id, obj.name, obj.note, obj.version) == (stored.id, "new1", "kept1", 2)
    assert _stored(db) == [("m0@x", "old0", "kept0", 1), ("m1@x", "new1", "kept1", 2)]
    assert s.counts() == (0, 0, 0)


@pytest.mark.parametrize("returning", [True, False], ids=["returning", "select-back"])
def test_a_mixed_batch_of_500_is_one_statement_and_keys_match_rows(
    db: Database, statements: StatementLog, returning: bool
) -> None:
    """250 existing and 250 new rows in one upsert statement (plus one SELECT reading them
    back where the backend has no RETURNING); every object gets its own row's key."""
    _seed(db, 250)
    ids = {m.email: m.id for m in db.query(Member).find()}
    if not returning:
        db.dialect.supports_returning = False  # type: ignore[misc]
    s = db.create_session()
    objs = [Member(email=f"m{i}@x", name=f"v{i}") for i in range(499, -1, -1)]
    s.upsert(*objs, on="email")
    statements.clear()
    result = s.commit()
    sent = statements.dml()
    assert len(sent) == (1 if returning else 2), sent
    assert ("RETURNING" in sent[0]) is returning
    assert result.statements == len(sent) and result.upserts == 500
    stored = {m.email: m for m in db.query(Member).find()}
    assert len(stored) == 500
    for o in objs:
        row = stored[o.email]
        assert (o.id, o.name, o.version) == (row.id, row.name, row.version)
        if o.email in ids:
            assert o.id == ids[o.email] and o.version == 2 and o.note == row.note
    assert len({id(s.get(Member, o.id)) for o in objs}) == 500


def test_an_object_already_loaded_for_the_row_takes_the_values_and_stays_the_only_one(
    db: Database,
) -> None:
    """No two objects for one row: the loaded one is updated in memory (no pending change),
    the object given to upsert is left detached with the row's key."""
    _seed(db, 1)
    s = db.create_session()
    loaded = s.query(Member).find_one()
    given = Member(email="m0@x", name="fresh", note="n")
    s.upsert(given, on="email")
    s.commit()
    assert (loaded.name, loaded.note, loaded.version) == ("fresh", "n", 2)
    assert s.state_of(given) == "detached" and given.id == loaded.id and given.version == 2
    assert s.get(Member, loaded.id) is loaded and s.counts() == (0, 0, 0)
    loaded.name = "again"
    s.commit()  # the version in memory is the stored one: no conflict
    assert _stored(db) == [("m0@x", "again", "n", 3)]


def test_natural_keys_and_a_unique_index_of_two_fields_as_targets(db: Database) -> None:
    s = db.create_session()
    s.add(Country(code="fr", name="France"), Player(team="a", number=7, name="x"))
    s.commit()
    s2 = db.create_session()
    s2.upsert(Country(code="fr", name="République"), Country(code="de", name="Germany"))
    s2.upsert(
        Player(team="a", number=7, name="y"),
        Player(team="b", number=7, name="z"),
        on=("number", "team"),
    )
    s2.commit()
    assert [(c.code, c.name) for c in db.query(Country).order_by("code").find()] == [
        ("de", "Germany"),
        ("fr", "République"),
    ]
    players = db.query(Player).order_by("team").find()
    assert [(p.team, p.number, p.name) for p in players] == [("a", 7, "y"), ("b", 7, "z")]


def test_a_failed_commit_leaves_the_upserts_staged_as_they_were(db: Database) -> None:
    """The upserts were sent, a later insert of the same commit failed: everything is rolled
    back, the objects have no key and their version, and committing again after the fix works."""
    _seed(db, 1)
    s = db.create_session()
    ups = [Member(email="m0@x", name="u0"), Member(email="new@x", name="u1")]
    s.upsert(*ups, on="email")
    bad = Player(team="a", number=1, name="p")
    s.add(bad, Player(team="a", number=1, name="dup"))
    before = s.changes()
    with pytest.raises(IntegrityError) as exc:
        s.commit()
    assert "Player" in str(exc.value) and "team" in str(exc.value) + str(exc.value.constraint)
    assert s.changes() == before and s.counts() == (4, 0, 0)
    assert [(o.id, o.version, s.state_of(o)) for o in ups] == [(0, 1, "new"), (0, 1, "new")]
    assert _stored(db) == [("m0@x", "old0", "kept0", 1)]
    s.remove(bad)
    s.commit()
    assert _stored(db) == [("m0@x", "u0", "", 2), ("new@x", "u1", "", 1)]


def test_a_failing_upsert_names_the_entity_and_the_constraint(db: Database) -> None:
    """A conflict on another unique field than ``on`` is an IntegrityError naming it (on
    MariaDB, whose ON DUPLICATE KEY takes any key, the row that comes back matches no staged
    object and says so). Nothing is written."""
    _seed(db, 1)
    taken = db.query(Member).find_one()
    s = db.create_session()
    obj = Member(id=taken.id + 100, email="m0@x", name="other")
    s.upsert(obj)  # on the key: the email belongs to another row
    with pytest.raises(IntegrityError) as exc:
        s.commit()
    message = str(exc.value)
    assert message.startswith("cannot upsert Member: UNIQUE constraint")
    assert "Member.email" in message and exc.value.obj is obj
    assert obj.id == taken.id + 100 and s.counts() == (1, 0, 0)
    assert _stored(db) == [("m0@x", "old0", "kept0", 1)]


def test_flush_then_rollback_puts_the_upserted_objects_back_to_staged(db: Database) -> None:
    _seed(db, 1)
    s = db.create_session()
    loaded = s.query(Member).find_one()
    given = [Member(email="m0@x", name="u0"), Member(email="new@x", name="u1")]
    s.upsert(*given, on="email")
    s.flush()
    assert loaded.name == "u0" and given[1].id > 0 and s.state_of(given[1]) == "persistent"
    assert s.query(Member).count() == 2
    s.rollback()
    assert (loaded.name, loaded.version) == ("old0", 1)
    assert [(o.id, o.version) for o in given] == [(0, 1), (0, 1)]
    assert [s.state_of(o) for o in given] == ["detached", "detached"]  # rollback drops staged
    assert _stored(db) == [("m0@x", "old0", "kept0", 1)]


def test_an_upsert_in_a_savepoint_left_by_an_exception_is_undone(db: Database) -> None:
    s = db.create_session()
    first = Member(email="a@x", name="a")
    s.upsert(first, on="email")
    s.flush()
    with pytest.raises(RuntimeError), s.savepoint():
        again = Member(email="a@x", name="a2")
        s.upsert(again, on="email")
        s.flush()
        assert first.name == "a2"
        raise RuntimeError("leave")
    assert (first.name, first.version) == ("a", 1) and s.state_of(again) == "detached"
    s.commit()
    assert _stored(db) == [("a@x", "a", "", 1)]


def test_a_failed_commit_after_a_flush_stages_the_flushed_upserts_again(db: Database) -> None:
    s = db.create_session()
    obj = Member(email="a@x", name="a")
    s.upsert(obj, on="email")
    s.flush()
    key = obj.id
    assert key > 0
    s.add(Member(email="a@x", name="dup"))  # fails the next flush: the transaction is kept
    with pytest.raises(IntegrityError):
        s.commit()
    assert s.in_transaction and obj.id == key
    s.rollback()
    assert obj.id == 0 and s.state_of(obj) == "detached"


def test_the_update_branch_bumps_the_version_so_stale_copies_conflict(db: Database) -> None:
    """An upsert does not check the version (it loaded nothing): the update branch sets it one
    higher than stored, and a session that loaded the old version gets a ConflictError."""
    _seed(db, 1)
    stale = db.create_session()
    old = stale.query(Member).find_one()
    s = db.create_session()
    s.upsert(Member(email="m0@x", name="upserted"), on="email")
    s.commit()
    old.name = "stale"
    with pytest.raises(ConflictError, match="cannot update Member"):
        stale.commit()
    assert _stored(db) == [("m0@x", "upserted", "", 2)]


def test_a_removal_and_an_upsert_of_the_same_key_in_one_commit(db: Database) -> None:
    """The removed row is deleted first: the upsert then inserts a fresh row."""
    _seed(db, 1)
    s = db.create_session()
    old = s.query(Member).find_one()
    s.remove(old)
    new = Member(email="m0@x", name="fresh")
    s.upsert(new, on="email")
    s.commit()
    assert s.state_of(old) == "detached" and s.state_of(new) == "persistent"
    assert new.id != old.id and _stored(db) == [("m0@x", "fresh", "", 1)]


def test_pending_sql_shows_the_upsert_with_bound_values(db: Database) -> None:
    s = db.create_session()
    s.upsert(Member(email="a@x", name="O'Brien; DROP"), on="email")
    (stmt, *rest) = s.pending_sql()
    assert "O'Brien" not in stmt.sql and stmt.rows == 1
    assert "ups_member" in stmt.sql and "email" in stmt.sql
    flat = [v for p in stmt.params for v in (p if isinstance(p, list) else [p])]
    assert "O'Brien; DROP" in flat
    assert len(rest) == (0 if db.dialect.supports_returning else 1)


def test_bad_upserts_are_refused_before_anything_is_sent(
    db: Database, statements: StatementLog
) -> None:
    s = db.create_session()
    with pytest.raises(SessionError, match="no primary key or unique constraint covers"):
        s.upsert(Member(email="a", name="x"), on="name")
    with pytest.raises(SessionError, match="its email holds no value"):
        s.upsert(Member(email=None, name="x"), on="email")  # type: ignore[arg-type]
    with pytest.raises(SessionError, match="update= names the primary key"):
        s.upsert(Member(email="a"), on="email", update=("id",))
    with pytest.raises(SessionError, match="update= names the Version field"):
        s.upsert(Member(email="a"), on="email", update=("version",))
    loaded = Member(email="l@x")
    s.add(loaded)
    with pytest.raises(SessionError, match="it is added to this session already"):
        s.upsert(loaded, on="email")
    s.rollback()
    s.upsert(Member(email="d@x", name="1"), Member(email="d@x", name="2"), on="email")
    statements.clear()
    with pytest.raises(SessionError, match="two staged upserts have email = 'd@x'"):
        s.commit()
    assert statements.dml() == [] and s.counts() == (2, 0, 0)
    assert _stored(db) == []


def test_new_referenced_objects_are_added_and_loaded_collections_follow(db_url: str) -> None:
    """A new tag referenced by an upserted pivot row is inserted first (its key used); an
    upsert that moves a post to another author: both authors' loaded collections show the
    database's truth on their next read (they are reloaded), with the held post object."""
    from tests.core.relation_models import ALL, Author, Post, PostTag, Tag

    database = Database(db_url, ALL)
    database.migrate()
    s = database.create_session()
    ann, bob = Author(name="ann"), Author(name="bob")
    post = Post(title="p", author=ann)
    s.add(ann, bob, post)
    s.commit()
    assert [p.title for p in ann.posts] == ["p"] and list(bob.posts) == []
    assert list(post.tags) == []
    tag = Tag(name="db")
    s.upsert(PostTag(post=post, tag=tag))  # on the key (post, tag)
    s.upsert(Post(id=post.id, title="p2", author=bob))
    s.commit()
    assert tag.id > 0 and s.state_of(tag) == "persistent"
    assert [t.name for t in post.tags] == ["db"]
    assert list(ann.posts) == [] and list(bob.posts) == [post]
    assert (post.title, post.author) == ("p2", bob)
    stored = database.query(Post).find_one()
    assert (stored.title, stored.author.name) == ("p2", "bob")
    database.close()


def test_new_rows_referring_to_upserted_objects_get_their_keys(db_url: str) -> None:
    """Upserted authors that staged new articles refer to are sent before the inserts."""
    from tests.core.models import ALL, Article, Author

    database = Database(db_url, ALL)
    database.migrate()
    s = database.create_session()
    s.add(Author(email="old@x", name="old"))
    s.commit()
    s2 = database.create_session()
    old, new = Author(email="old@x", name="Old"), Author(email="new@x", name="New")
    s2.upsert(old, new, on="email")
    s2.add(Article(title="a", author=old), Article(title="b", author=new))
    s2.commit()
    rows = database.query(Article).order_by("title").find()
    assert [(a.title, a.author.email, a.author.name) for a in rows] == [
        ("a", "old@x", "Old"),
        ("b", "new@x", "New"),
    ]
    database.close()
