"""Collections in a session (issue 12.2 and 12.5), on every backend.

Collections are tracked lists: edits become reference changes and pivot rows, both sides stay
consistent in memory, rollback puts them back, and after a commit the database's ON DELETE
rules are applied to loaded objects.
"""

from __future__ import annotations

import uuid
from typing import Annotated

import pytest

from core import (
    AutoIncrement,
    BackReference,
    CycleError,
    Database,
    IntegrityError,
    PrimaryKey,
    Reference,
    SessionError,
    entity,
)
from core.collection import TrackedList
from core.unitofwork import order_inserts
from tests.conftest import StatementLog
from tests.core.relation_models import (
    ALL,
    Author,
    Chore,
    City,
    Country,
    Note,
    Owner,
    Pet,
    Player,
    Post,
    PostTag,
    Tag,
    Team,
)


@pytest.fixture
def db(db_url: str) -> Database:
    database = Database(db_url, ALL)
    database.migrate()
    return database


def _seed(db: Database) -> None:
    """Ann with posts p1, p2 (p1 tagged db and py), Bob with none."""
    s = db.create_session()
    ann, bob = Author(name="Ann"), Author(name="Bob")
    db_tag, py_tag = Tag(name="db"), Tag(name="py")
    p1 = Post(title="p1", author=ann, tags=[db_tag, py_tag])
    p2 = Post(title="p2", author=ann)
    s.add(ann, bob, p1, p2)
    s.commit()


def _stored_posts(db: Database) -> dict[str, str | None]:
    return {
        p.title: (p.author.name if p.author is not None else None) for p in db.query(Post).find()
    }


def _stored_links(db: Database) -> set[tuple[str, str]]:
    return {(link.post.title, link.tag.name) for link in db.query(PostTag).find()}


def test_a_collection_loads_on_first_access_with_one_query(
    db: Database, statements: StatementLog
) -> None:
    """`author.posts` is one SELECT, ordered by key, of the same instances the session maps."""
    _seed(db)
    s = db.create_session()
    p2 = s.get(Post, 2)
    ann = s.get(Author, 1)
    assert ann is not None and p2 is not None
    statements.clear()
    posts = ann.posts
    assert len(statements.dml()) == 1
    assert isinstance(posts, TrackedList)
    assert [p.title for p in posts] == ["p1", "p2"] and posts[1] is p2
    assert ann.posts is posts and len(statements.dml()) == 1
    tags = posts[0].tags
    assert [t.name for t in tags] == ["db", "py"] and len(statements.dml()) == 2
    assert tags[0].posts == [posts[0]] and len(statements.dml()) == 3


def test_append_sets_the_reference_and_stages_a_new_child(
    db: Database, statements: StatementLog
) -> None:
    """`author.posts.append(Post(...))` stages the post with its author; commit inserts it."""
    _seed(db)
    s = db.create_session()
    bob = s.get(Author, 2)
    assert bob is not None
    post = Post(title="new")
    bob.posts.append(post)
    assert post.author is bob and s.state_of(post) == "new"
    assert s.changes().counts() == (1, 0, 0)
    statements.clear()
    s.commit()
    assert [x.split()[0] for x in statements.dml()] == ["INSERT"]
    assert _stored_posts(db)["new"] == "Bob"
    assert bob.posts == [post]


def test_assigning_the_reference_moves_the_child_between_loaded_collections(
    db: Database,
) -> None:
    """`p.author = bob` takes p out of ann.posts and puts it in bob.posts; one UPDATE."""
    _seed(db)
    s = db.create_session()
    ann, bob = s.get(Author, 1), s.get(Author, 2)
    assert ann is not None and bob is not None
    p1 = ann.posts[0]
    assert bob.posts == []
    p1.author = bob
    assert [p.title for p in ann.posts] == ["p2"] and bob.posts == [p1]
    [edit_from, edit_to] = s.changes().collections
    assert (edit_from.owner, edit_from.name, edit_from.removed) == (ann, "posts", [p1])
    assert (edit_to.owner, edit_to.added) == (bob, [p1])
    s.commit()
    assert _stored_posts(db) == {"p1": "Bob", "p2": "Ann"}


def test_moving_through_collections_keeps_both_sides(db: Database) -> None:
    """Appending a child to another owner's collection moves it (it leaves the first one)."""
    _seed(db)
    s = db.create_session()
    ann, bob = s.get(Author, 1), s.get(Author, 2)
    assert ann is not None and bob is not None
    p2 = ann.posts[1]
    bob.posts.append(p2)
    assert [p.title for p in ann.posts] == ["p1"] and bob.posts == [p2] and p2.author is bob
    bob.posts.append(p2)  # already there: a collection holds each item once
    assert bob.posts == [p2]
    s.commit()
    assert _stored_posts(db) == {"p1": "Ann", "p2": "Bob"}


def test_removing_from_a_collection_clears_a_nullable_reference(db: Database) -> None:
    _seed(db)
    s = db.create_session()
    ann = s.get(Author, 1)
    assert ann is not None
    p1 = ann.posts[0]
    ann.posts.remove(p1)
    assert p1.author is None and [p.title for p in ann.posts] == ["p2"]
    s.commit()
    assert _stored_posts(db) == {"p1": None, "p2": "Ann"}


def test_an_orphan_whose_reference_cannot_be_none_fails_the_commit_naming_it(
    db: Database,
) -> None:
    """Taking a pet out of its owner's pets: the commit says which pet and how to fix it,
    sends nothing, and keeps the staged work."""
    s = db.create_session()
    owner = Owner(name="o", pets=[Pet(name="rex")])
    s.add(owner)
    s.commit()
    rex = owner.pets[0]
    owner.pets.remove(rex)
    with pytest.raises(
        SessionError,
        match=r"^Pet 1 was taken out of Owner 1's pets and Pet\.owner cannot be None; put it "
        r"in another Owner's pets, remove it with session\.remove\(\), or declare "
        r"Reference\(orphans='delete'\)$",
    ):
        s.commit()
    assert s.changes().counts() == (0, 1, 0)
    other = Owner(name="p")
    other.pets.append(rex)
    s.add(other)
    s.commit()
    stored = db.query(Pet).find()
    assert [(p.name, p.owner.name) for p in stored] == [("rex", "p")]


def test_orphans_delete_removes_the_child(db: Database) -> None:
    """`Reference(orphans="delete")`: a chore taken out of the list is deleted at commit."""
    s = db.create_session()
    owner = Owner(name="o", chores=[Chore(what="dishes"), Chore(what="laundry")])
    s.add(owner)
    s.commit()
    dishes = owner.chores[0]
    owner.chores.remove(dishes)
    assert s.state_of(dishes) == "removed" and [c.what for c in owner.chores] == ["laundry"]
    s.commit()
    assert [c.what for c in db.query(Chore).find()] == ["laundry"]


def test_many_to_many_edits_stage_pivot_rows_batched(
    db: Database, statements: StatementLog
) -> None:
    """Appending tags stages pivot inserts (one INSERT for all), removing stages pivot
    deletes; the mirror collections follow in memory."""
    _seed(db)
    s = db.create_session()
    p1, p2 = s.get(Post, 1), s.get(Post, 2)
    assert p1 is not None and p2 is not None
    db_tag, py_tag = p1.tags
    sql_tag = Tag(name="sql")
    p2.tags.extend([db_tag, py_tag, sql_tag])
    assert db_tag.posts == [p1, p2]
    assert sql_tag.posts == [p2]
    p1.tags.remove(py_tag)
    assert py_tag.posts == [p2]
    edits = {
        (e.owner.title, e.name): (e.added, e.removed)
        for e in s.changes().collections
        if e.name == "tags"
    }
    assert edits[("p2", "tags")] == ([db_tag, py_tag, sql_tag], [])
    assert edits[("p1", "tags")] == ([], [py_tag])
    sql = [st.sql.split()[0] for st in s.pending_sql()]
    assert sql == ["INSERT", "INSERT", "DELETE"]
    statements.clear()
    s.commit()
    assert [x.split()[0] for x in statements.dml()] == ["INSERT", "INSERT", "DELETE"]
    assert _stored_links(db) == {("p1", "db"), ("p2", "db"), ("p2", "py"), ("p2", "sql")}


def test_removing_and_readding_a_link_sends_nothing(db: Database) -> None:
    _seed(db)
    s = db.create_session()
    p1 = s.get(Post, 1)
    assert p1 is not None
    db_tag = p1.tags[0]
    p1.tags.remove(db_tag)
    p1.tags.append(db_tag)
    assert s.changes().counts() == (0, 0, 0) and db_tag.posts == [p1]


def test_rollback_restores_collections(db: Database) -> None:
    """Moves, appends, removals and links are undone in memory as fields are."""
    _seed(db)
    s = db.create_session()
    ann, bob = s.get(Author, 1), s.get(Author, 2)
    assert ann is not None and bob is not None
    p1, p2 = ann.posts
    db_tag = p1.tags[0]
    bob.posts.append(p1)
    ann.posts.remove(p2)
    ann.posts.append(Post(title="new"))
    p2.tags.append(db_tag)
    p1.tags.clear()
    s.rollback()
    assert ann.posts == [p1, p2] and bob.posts == []
    assert p1.author is ann and p2.author is ann
    assert [t.name for t in p1.tags] == ["db", "py"] and p2.tags == []
    assert db_tag.posts == [p1]
    assert s.changes().counts() == (0, 0, 0)


def test_many_moves_by_append_keep_both_sides_and_roll_back(db: Database) -> None:
    """Persistent children moved by ``append`` between loaded collections (the common move,
    which takes a quick path): each leaves its old owner's collection and joins the new
    one's, ``changes()`` lists each, a failed savepoint and a rollback put every collection
    and reference back, and after the commit the database and memory agree."""
    s = db.create_session()
    authors = [Author(name=f"a{i}") for i in range(4)]
    s.add(*authors, *(Post(title=f"p{i}", author=authors[i % 4]) for i in range(12)))
    s.commit()
    s = db.create_session()
    ann, bob, cy, dan = s.query(Author).eager("posts").order_by("id").find()
    held = {a.name: list(a.posts) for a in (ann, bob, cy, dan)}
    p0, p4, p8 = held["a0"]
    bob.posts.append(p0)
    bob.posts.append(p4)
    cy.posts.append(p0)  # (moved twice: its first old value is kept)
    assert ann.posts == [p8] and bob.posts == [*held["a1"], p4]
    assert cy.posts == [*held["a2"], p0] and p0.author is cy and p4.author is bob
    assert s.changes().counts() == (0, 2, 0)
    with pytest.raises(RuntimeError), s.savepoint():
        dan.posts.append(p8)
        dan.posts.append(p4)
        assert ann.posts == [] and dan.posts == [*held["a3"], p8, p4]
        raise RuntimeError("undo the block")
    assert ann.posts == [p8] and bob.posts == [*held["a1"], p4] and dan.posts == held["a3"]
    assert p8.author is ann and p4.author is bob
    s.rollback()
    assert {a.name: a.posts for a in (ann, bob, cy, dan)} == held
    assert all(p.author is a for a in (ann, bob, cy, dan) for p in a.posts)
    assert s.changes().counts() == (0, 0, 0)
    for target, post in ((bob, p0), (cy, p4), (dan, p8)):
        target.posts.append(post)
    s.commit()
    stored = _stored_posts(db)
    assert {t: stored[t] for t in ("p0", "p4", "p8")} == {"p0": "a1", "p4": "a2", "p8": "a3"}
    assert ann.posts == [] and s.changes().counts() == (0, 0, 0)
    fresh = db.create_session().query(Author).eager("posts").order_by("id").find()
    assert [sorted(p.title for p in a.posts) for a in fresh] == [
        sorted(p.title for p in a.posts) for a in (ann, bob, cy, dan)
    ]


@entity.name("rel_eq_shelf")
class Shelf:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    name: str = ""
    books: Annotated[list[Book], BackReference]


@entity.name("rel_eq_book")
class Book:
    """Copies of one title are equal (``==``): collections still hold objects by identity."""

    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    title: str = ""
    shelf: Annotated[Shelf, Reference]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Book) and other.title == self.title

    __hash__ = object.__hash__


def test_moves_by_append_take_the_object_itself_when_the_model_defines_eq(db_url: str) -> None:
    """A child moved by ``append`` whose class says another child is equal to it: the object
    itself leaves its old owner's collection and joins the new one's (collections hold
    objects by identity), and a rollback and a commit keep both sides in step."""
    db = Database(db_url, [Shelf, Book])
    db.migrate()
    s = db.create_session()
    top, low = Shelf(name="top"), Shelf(name="low")
    s.add(top, low)
    s.add(*(Book(title=t, shelf=top) for t in ("same", "same", "other")))
    s.add(Book(title="same", shelf=low))
    s.commit()
    s = db.create_session()
    top, low = s.query(Shelf).eager("books").order_by("id").find()
    first, second, other = top.books
    (copy,) = low.books
    low.books.append(second)
    top.books.append(copy)
    assert [id(b) for b in top.books] == [id(first), id(other), id(copy)]
    assert [id(b) for b in low.books] == [id(second)]
    assert second.shelf is low and copy.shelf is top and first.shelf is top
    s.rollback()
    assert [id(b) for b in top.books] == [id(first), id(second), id(other)]
    assert [id(b) for b in low.books] == [id(copy)] and second.shelf is top
    low.books.append(second)
    s.commit()
    stored = {b.id: b.shelf.name for b in db.query(Book).find()}
    assert stored == {first.id: "top", second.id: "low", other.id: "top", copy.id: "low"}
    assert [id(b) for b in top.books] == [id(first), id(other)]


def test_a_failed_savepoint_restores_collections(db: Database) -> None:
    _seed(db)
    s = db.create_session()
    ann, bob = s.get(Author, 1), s.get(Author, 2)
    assert ann is not None and bob is not None
    p1, p2 = ann.posts
    bob.posts.append(p2)
    with pytest.raises(RuntimeError), s.savepoint():
        bob.posts.append(p1)
        p1.tags.clear()
        raise RuntimeError("undo the block")
    assert ann.posts == [p1] and bob.posts == [p2]
    assert len(p1.tags) == 2
    s.commit()
    assert _stored_posts(db) == {"p1": "Ann", "p2": "Bob"}
    assert len(_stored_links(db)) == 2


def test_cascade_and_set_null_apply_to_loaded_objects_after_commit(db: Database) -> None:
    """Removing an author: its loaded posts leave the session as deleted (cascade), their
    pivot rows too (tags' collections lose them), and notes on them get None (set null)."""
    _seed(db)
    s = db.create_session()
    note = Note(text="keep me", post=s.get(Post, 1))
    s.add(note)
    s.commit()
    ann = s.get(Author, 1)
    assert ann is not None
    p1, p2 = ann.posts
    db_tag = p1.tags[0]
    assert db_tag.posts == [p1]
    s.remove(ann)
    s.commit()
    assert s.state_of(p1) == "detached" and s.state_of(p2) == "detached"
    assert s.get(Post, 1) is None
    assert db_tag.posts == []
    assert note.post is None
    assert db.query(Post).count() == 0 and db.query(PostTag).count() == 0
    stored = db.query(Note).find()
    assert [(n.text, n.post) for n in stored] == [("keep me", None)]
    assert s.changes().counts() == (0, 0, 0)


def test_a_removed_child_leaves_its_owners_collection_after_commit(db: Database) -> None:
    _seed(db)
    s = db.create_session()
    ann = s.get(Author, 1)
    assert ann is not None
    p1 = ann.posts[0]
    s.remove(p1)
    s.commit()
    assert [p.title for p in ann.posts] == ["p2"]


def test_a_new_referenced_object_with_its_key_set_is_added_with_the_referrer(
    db: Database,
) -> None:
    """A new Country with a natural key and new Cities with UUID keys (one referring to
    another) are added with the city that refers to them."""
    s = db.create_session()
    fr = Country(code="FR", name="France")
    paris = City(id=uuid.uuid4(), name="Paris", country=fr)
    lyon = City(id=uuid.uuid4(), name="Lyon", country=fr, twin=paris)
    s.add(lyon)
    assert s.state_of(fr) == "new" and s.state_of(paris) == "new"
    s.commit()
    stored = {c.name: (c.country.code, c.twin) for c in db.query(City).find()}
    assert stored["Paris"] == ("FR", None)
    assert stored["Lyon"][0] == "FR" and stored["Lyon"][1].name == "Paris"  # type: ignore[union-attr]


def test_a_new_object_assigned_to_a_loaded_objects_reference_is_staged(db: Database) -> None:
    _seed(db)
    s = db.create_session()
    p2 = s.get(Post, 2)
    assert p2 is not None
    carol = Author(name="Carol")
    p2.author = carol
    assert s.state_of(carol) == "new"
    s.commit()
    assert _stored_posts(db)["p2"] == "Carol" and carol.posts == [p2]


def test_rows_of_one_table_are_inserted_in_the_order_they_were_added(db: Database) -> None:
    """p1 waits for its new author, p2's author is loaded: p1 still gets the lower id."""
    _seed(db)
    s = db.create_session()
    bob = s.get(Author, 2)
    first = Post(title="first", author=Author(name="new"))
    second = Post(title="second", author=bob)
    s.add(first, second)
    s.commit()
    assert first.id < second.id


def test_a_cycle_between_two_entities_is_broken_by_one_update(db_url: str) -> None:
    """A new team whose captain is a new player of that team: the team goes in with NULL,
    the player after, then one UPDATE sets the captain (planned; the commit of such a cycle
    runs in test_references.py with a self-reference)."""
    db = Database(db_url, [Team, Player])
    s = db.create_session()
    team = Team(name="t")
    captain = Player(name="c", team=team)
    team.captain = captain
    s.add(team)
    assert s.state_of(captain) == "new" and team.players == [captain]
    q = db.dialect.quote
    statements = [st.sql for st in s.pending_sql()]
    assert [st.split()[0] for st in statements] == ["INSERT", "INSERT", "UPDATE"]
    assert statements[0].startswith(f"INSERT INTO {q('r_team')}")
    assert statements[1].startswith(f"INSERT INTO {q('r_player')}")
    assert statements[2].startswith(f"UPDATE {q('r_team')} SET {q('captain')} = ")
    assert team.captain is captain  # (NULL only while the rows are built)


def test_a_team_and_its_captain_are_inserted_loaded_and_deleted_together(
    db_url: str, statements: StatementLog
) -> None:
    """The team <-> captain cycle end to end: one commit inserts both (team with a NULL
    captain, the players, then one UPDATE), a fresh session loads them back, and one commit
    deletes both (the captain cleared first, then players, then the team)."""
    db = Database(db_url, [Team, Player])
    db.migrate()
    s = db.create_session()
    team = Team(name="t")
    captain = Player(name="c", team=team)
    other = Player(name="o", team=team)
    team.captain = captain
    s.add(team)
    statements.clear()
    s.commit()
    assert [x.split()[0] for x in statements.dml()] == ["INSERT", "INSERT", "UPDATE"]
    assert team.id and captain.id and other.id and team.captain is captain

    s2 = db.create_session()
    loaded = s2.get(Team, team.id)
    assert loaded is not None and loaded is not team
    assert loaded.captain.name == "c" and loaded.captain.team is loaded
    assert [p.name for p in loaded.players] == ["c", "o"] and loaded.players[0] is loaded.captain

    s2.remove(loaded, *loaded.players)
    q = db.dialect.quote
    statements.clear()
    s2.commit()
    sent = statements.dml()
    assert [x.split()[0] for x in sent] == ["UPDATE", "DELETE", "DELETE"]
    assert sent[0].startswith(f"UPDATE {q('r_team')} SET {q('captain')} = ")
    assert sent[1].startswith(f"DELETE FROM {q('r_player')}")
    assert db.query(Team).count() == 0 and db.query(Player).count() == 0
    assert s2.state_of(loaded) == "detached" and s2.get(Team, team.id) is None


def test_a_refused_delete_names_the_reference_that_blocks_it(db_url: str) -> None:
    """Removing a captain (Team 1 still points at him) with another team that has a player:
    the players' DELETE fails, and the error names Team.captain, not the other team's
    player (the failed statement's entity is the one looked for)."""
    db = Database(db_url, [Team, Player])
    db.migrate()
    s = db.create_session()
    t1, t2 = Team(name="t1"), Team(name="t2")
    captain = Player(name="c", team=t1)
    t1.captain = captain
    s.add(t1, t2, Player(name="p", team=t2))
    s.commit()
    s2 = db.create_session()
    other, cap = s2.get(Team, t2.id), s2.get(Player, captain.id)
    s2.remove(other, cap)
    with pytest.raises(IntegrityError, match=r"Team\.captain") as info:
        s2.commit()
    assert "cannot delete Player" in str(info.value) and "Player 2" not in str(info.value)
    assert s2.state_of(cap) == "removed" and db.query(Player).count() == 2


def test_a_cycle_through_non_nullable_references_is_a_cycle_error() -> None:
    """No insert order and no NULL can satisfy it: planning refuses, naming the entities."""

    @entity
    class Hen:
        id: Annotated[int, PrimaryKey, AutoIncrement] = 0
        egg: Annotated[Egg, Reference]

    @entity
    class Egg:
        id: Annotated[int, PrimaryKey, AutoIncrement] = 0
        hen: Annotated[Hen, Reference]

    hen = Hen.__new__(Hen)
    egg = Egg(hen=hen)
    hen.__dict__.update(id=0, egg=egg)
    with pytest.raises(
        CycleError, match=r"cycle that no insert order can satisfy \(Egg, Hen\): none of"
    ):
        order_inserts([hen, egg])


def test_pivot_objects_are_mapped_by_the_keys_their_rows_hold(db: Database) -> None:
    """A link made through a collection and one loaded from the database are both found by
    the row's key; a deleted one leaves the identity map."""
    _seed(db)
    s = db.create_session()
    p2 = s.get(Post, 2)
    assert p2 is not None
    sql_tag = Tag(name="sql")
    p2.tags.append(sql_tag)
    s.commit()
    made = p2.tags._links[id(sql_tag)]  # type: ignore[attr-defined]
    assert s.get(PostTag, (2, sql_tag.id)) is made
    p1 = s.get(Post, 1)
    assert p1 is not None
    loaded = p1.tags._links[id(p1.tags[0])]  # type: ignore[attr-defined]
    assert s.get(PostTag, (1, 1)) is loaded
    p1.tags.remove(p1.tags[0])
    s.commit()
    assert s.state_of(loaded) == "detached" and s.get(PostTag, (1, 1)) is None


def test_removing_a_new_object_takes_it_out_of_collections_with_its_links(
    db: Database,
) -> None:
    """A staged new post, appended to an author and tagged, then removed: it leaves both
    collections and its staged pivot row goes too; the commit sends nothing for it."""
    _seed(db)
    s = db.create_session()
    bob, db_tag = s.get(Author, 2), s.get(Tag, 1)
    assert bob is not None and db_tag is not None
    post = Post(title="gone")
    bob.posts.append(post)
    post.tags.append(db_tag)
    assert len(db_tag.posts) == 2
    s.remove(post)
    assert bob.posts == [] and [p.title for p in db_tag.posts] == ["p1"]
    assert s.changes().counts() == (0, 0, 0)
    s.commit()
    assert len(_stored_links(db)) == 2


def test_collection_edits_of_many_rows_are_batched(db: Database, statements: StatementLog) -> None:
    """Moving 50 posts to another author is one UPDATE; linking them all to a tag one INSERT;
    unlinking them one DELETE (statement counts on every backend)."""
    s = db.create_session()
    ann, bob, tag = Author(name="Ann"), Author(name="Bob"), Tag(name="t")
    ann.posts.extend(Post(title=f"p{i}") for i in range(50))
    s.add(ann, bob, tag)
    s.commit()
    for post in list(ann.posts):
        bob.posts.append(post)
    assert ann.posts == [] and len(bob.posts) == 50
    statements.clear()
    s.commit()
    assert [x.split()[0] for x in statements.dml()] == ["UPDATE"]
    tag.posts.extend(bob.posts)
    statements.clear()
    s.commit()
    assert [x.split()[0] for x in statements.dml()] == ["INSERT"]
    tag.posts.clear()
    assert all(p.tags == [] for p in bob.posts)
    statements.clear()
    s.commit()
    assert [x.split()[0] for x in statements.dml()] == ["DELETE"]
    assert db.query(PostTag).count() == 0
    assert {p.author.name for p in db.query(Post).find()} == {"Bob"}  # type: ignore[union-attr]


def test_a_new_child_joins_a_loaded_collection_when_it_is_added(db: Database) -> None:
    """`Post(author=ann)` is not part of the session until added: ann.posts (loaded) shows
    it from `session.add` on; a pivot row added directly joins both loaded collections."""
    _seed(db)
    s = db.create_session()
    ann, py_tag = s.get(Author, 1), s.get(Tag, 2)
    assert ann is not None and py_tag is not None
    assert len(ann.posts) == 2 and len(py_tag.posts) == 1
    post = Post(title="later", author=ann)
    assert len(ann.posts) == 2 and s.state_of(post) == "detached"
    s.add(post)
    assert ann.posts[-1] is post
    s.add(PostTag(post=post, tag=py_tag))
    assert post.tags == [py_tag] and py_tag.posts[-1] is post
    s.commit()
    assert ("later", "py") in _stored_links(db)


def test_refresh_unloads_collections_so_the_next_read_matches_the_database(
    db: Database, statements: StatementLog
) -> None:
    """Another session adds a post to Ann, deletes one and tags p1 again: after
    ``refresh(ann)`` / ``refresh(p1)`` the next read of their collections is one SELECT each
    and holds what the database holds."""
    _seed(db)
    s = db.create_session()
    ann = s.get(Author, 1)
    assert ann is not None
    p1 = ann.posts[0]
    assert [p.title for p in ann.posts] == ["p1", "p2"] and [t.name for t in p1.tags] == [
        "db",
        "py",
    ]
    other = db.create_session()
    o_ann, o_p1 = other.get(Author, 1), other.get(Post, 1)
    assert o_ann is not None and o_p1 is not None
    other.remove(o_ann.posts[1])
    o_ann.posts.append(Post(title="p3"))
    o_p1.tags.remove(o_p1.tags[0])
    o_p1.tags.append(Tag(name="sql"))
    other.commit()
    assert [p.title for p in ann.posts] == ["p1", "p2"]  # (the session's view until refreshed)
    s.refresh(ann)
    s.refresh(p1)
    statements.clear()
    assert [p.title for p in ann.posts] == ["p1", "p3"] and ann.posts[0] is p1
    assert [t.name for t in p1.tags] == ["py", "sql"]
    assert len(statements.dml()) == 2


def test_refresh_keeps_staged_collection_edits_of_other_objects(db: Database) -> None:
    """A new post appended to Ann's posts and a tag link added to p1 are staged work of
    other objects (the post, the pivot row): a refresh of Ann or p1 keeps them, and the
    reloaded collections show them; the commit writes them."""
    _seed(db)
    s = db.create_session()
    ann = s.get(Author, 1)
    assert ann is not None
    p1 = ann.posts[0]
    fresh = Post(title="fresh")
    ann.posts.append(fresh)
    sql_tag = Tag(name="sql")
    p1.tags.append(sql_tag)
    ann.name = "Anna"
    s.refresh(ann)
    s.refresh(p1)
    assert ann.name == "Ann" and s.state_of(fresh) == "new"
    assert [p.title for p in ann.posts] == ["p1", "p2", "fresh"]
    assert [t.name for t in p1.tags] == ["db", "py", "sql"]
    s.commit()
    assert _stored_posts(db)["fresh"] == "Ann"
    assert ("p1", "sql") in _stored_links(db)


def test_refresh_of_a_moved_child_puts_it_back_in_its_stored_owners_collection(
    db: Database,
) -> None:
    """``p1.author = bob`` moved p1 from ann.posts to bob.posts; ``refresh(p1)`` drops that
    change, so p1 goes back to ann.posts (and rollback keeps it there)."""
    _seed(db)
    s = db.create_session()
    ann, bob = s.get(Author, 1), s.get(Author, 2)
    assert ann is not None and bob is not None
    p1 = ann.posts[0]
    assert bob.posts == []
    p1.author = bob
    assert bob.posts == [p1] and p1 not in ann.posts
    s.refresh(p1)
    assert p1.author is ann and bob.posts == [] and [p.title for p in ann.posts] == ["p2", "p1"]
    assert s.changes().counts() == (0, 0, 0)
    s.rollback()
    assert p1.author is ann and bob.posts == [] and [p.title for p in ann.posts] == ["p1", "p2"]


def test_rollback_unloads_a_collection_loaded_while_work_was_staged(db: Database) -> None:
    """bob.posts first read after ``p1.author = bob`` holds p1 (memory wins); the rollback
    puts p1 back with Ann, and bob.posts no longer holds it."""
    _seed(db)
    s = db.create_session()
    p1 = s.get(Post, 1)
    bob = s.get(Author, 2)
    assert p1 is not None and bob is not None
    p1.author = bob
    assert bob.posts == [p1]
    s.rollback()
    assert p1.author.name == "Ann" and bob.posts == []
    with s.savepoint():
        pass
    try:
        with s.savepoint():
            p1.author = bob
            assert bob.posts == [p1]
            s.flush()
            assert bob.posts == [p1]
            raise RuntimeError("undo")
    except RuntimeError:
        pass
    assert p1.author.name == "Ann" and bob.posts == []
    s.rollback()
