"""Collections: lazy loading on first read, eager ``IN`` loading per level, any()/none().

The models are DESIGN.md §2's (Author.posts one-to-many, Post.tags many-to-many through the
PostTag pivot, Tag.posts its mirror). Every test runs on each configured backend and counts
the statements it sends.
"""

from __future__ import annotations

from typing import Annotated

import pytest

from core import (
    AutoIncrement,
    BackReference,
    Database,
    F,
    PrimaryKey,
    Reference,
    SessionError,
    Unique,
    UnknownFieldError,
    ValidationError,
    entity,
)
from tests.conftest import StatementLog


@entity.name("rl_tag")
class Tag:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    name: Annotated[str, Unique] = ""
    posts: Annotated[list[Post], BackReference(via="PostTag")]


@entity.name("rl_post_tag")
class PostTag:
    post: Annotated[Post, PrimaryKey, Reference(on_delete="cascade")]
    tag: Annotated[Tag, PrimaryKey, Reference(on_delete="cascade")]


@entity.name("rl_author")
class Author:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    name: str = ""
    posts: Annotated[list[Post], BackReference]


@entity.name("rl_post")
class Post:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    title: str = ""
    author: Annotated[Author, Reference(on_delete="cascade")]
    tags: Annotated[list[Tag], BackReference(via=PostTag)]


MODELS = [Tag, PostTag, Author, Post]


def seed(db: Database, authors: int = 3, posts: int = 2, tags_per_post: int = 2) -> None:
    """``authors`` authors a0..; each with ``posts`` posts "a{i}-p{j}"; post j of every author
    tagged with tags t{j}..t{j + tags_per_post - 1}; author 0 also has a post "x-first" tagged
    "db"; one more author "lonely" has no post."""
    s = db.create_session()
    tags = {name: Tag(name=name) for name in [f"t{k}" for k in range(posts + tags_per_post)]}
    tags["db"] = Tag(name="db")
    s.add(*tags.values())
    people = [Author(name=f"a{i}") for i in range(authors)]
    s.add(*people, Author(name="lonely"))
    s.commit()
    links = []
    for i, a in enumerate(people):
        for j in range(posts):
            p = Post(title=f"a{i}-p{j}", author=a)
            s.add(p)
            links += [(p, tags[f"t{k}"]) for k in range(j, j + tags_per_post)]
    first = Post(title="x-first", author=people[0])
    s.add(first)
    links.append((first, tags["db"]))
    s.commit()
    s.add(*(PostTag(post=p, tag=t) for p, t in links))
    s.commit()


@pytest.fixture
def db(db_url: str) -> Database:
    database = Database(db_url, MODELS)
    database.migrate()
    seed(database)
    return database


def author(s: object, name: str) -> Author:
    return s.query(Author).filter(name=name).find_one()  # type: ignore[attr-defined,no-any-return]


# -- lazy ------------------------------------------------------------------------------------


def test_collection_loads_on_first_read_with_one_query(
    db: Database, statements: StatementLog
) -> None:
    """``author.posts`` is one SELECT on first read, none after; its items are the session's
    identity-mapped posts, whose ``author`` is the owner without a query."""
    s = db.create_session()
    a0 = author(s, "a0")
    statements.clear()
    posts = a0.posts
    assert sorted(p.title for p in posts) == ["a0-p0", "a0-p1", "x-first"]
    assert len(statements.dml()) == 1
    assert a0.posts is posts
    assert all(p.author is a0 for p in posts)
    assert s.get(Post, posts[0].id) is posts[0]
    assert len(statements.dml()) == 1
    assert author(s, "lonely").posts == []


def test_many_to_many_collection_loads_through_the_pivot_in_one_query(
    db: Database, statements: StatementLog
) -> None:
    s = db.create_session()
    post = s.query(Post).filter(title="a1-p1").find_one()
    statements.clear()
    assert sorted(t.name for t in post.tags) == ["t1", "t2"]
    [sql] = statements.dml()
    assert "JOIN" in sql
    t1 = s.query(Tag).filter(name="t1").find_one()
    assert t1 in post.tags
    assert sorted(p.title for p in t1.posts) == [
        "a0-p0",
        "a0-p1",
        "a1-p0",
        "a1-p1",
        "a2-p0",
        "a2-p1",
    ]


def test_untracked_objects_load_collections_too(db: Database, statements: StatementLog) -> None:
    """A collection of an object from ``database.query`` loads on first read, untracked."""
    a0 = db.query(Author).filter(name="a0").find_one()
    statements.clear()
    assert sorted(p.title for p in a0.posts) == ["a0-p0", "a0-p1", "x-first"]
    assert len(statements.dml()) == 1
    s = db.create_session()
    assert s.state_of(a0.posts[0]) == "detached"
    assert sorted(t.name for p in a0.posts for t in p.tags) == ["db", "t0", "t1", "t1", "t2"]


@pytest.mark.parametrize("how", ["lazy", "eager"])
def test_a_collection_loaded_with_staged_work_shows_memory(db: Database, how: str) -> None:
    """Loaded after staged changes, lazily or eagerly, a collection shows memory: a post moved
    away (not committed) is not in it, a staged new post and a post moved in are; a staged
    removal stays until the commit (as in a collection loaded before the removal)."""
    s = db.create_session()
    a0, a1 = author(s, "a0"), author(s, "a1")
    moved = s.query(Post).filter(title="a0-p0").find_one()
    moved.author = a1
    s.remove(s.query(Post).filter(title="a0-p1").find_one())
    s.add(Post(title="new", author=a0))
    if how == "eager":
        s.query(Author).eager("posts").find()
        assert "posts" in a0.__dict__ and "posts" in a1.__dict__
    assert sorted(p.title for p in a0.posts) == ["a0-p1", "new", "x-first"]
    assert moved in a1.posts and len(a1.posts) == 3
    s.commit()
    assert sorted(p.title for p in a0.posts) == ["new", "x-first"]


def test_a_new_objects_collection_starts_empty_and_loads_after_commit(db: Database) -> None:
    s = db.create_session()
    a = Author(name="new")
    s.add(a)
    s.commit()
    other = db.create_session()
    other.add(Post(title="elsewhere", author=other.get(Author, a.id)))
    other.commit()
    assert [p.title for p in a.posts] == ["elsewhere"]


def test_a_detached_object_without_source_says_so(db: Database) -> None:
    s = db.create_session()
    a0 = author(s, "a0")
    s.close()
    with pytest.raises(SessionError, match=r"Author 1 .*its collection .posts. is not loaded"):
        _ = a0.posts


# -- eager -----------------------------------------------------------------------------------


def test_eager_nested_collections_are_one_query_per_level(
    db_url: str, statements: StatementLog
) -> None:
    """100 authors with their posts and each post's tags: 3 statements, whatever is read."""
    database = Database(db_url, MODELS)
    database.migrate()
    seed(database, authors=100, posts=3, tags_per_post=2)
    s = database.create_session()
    statements.clear()
    authors = s.query(Author).eager("posts.tags").find()
    assert len(statements.dml()) == 3
    assert len(authors) == 101
    titles = {a.name: sorted(p.title for p in a.posts) for a in authors}
    assert titles["a7"] == ["a7-p0", "a7-p1", "a7-p2"] and titles["lonely"] == []
    names = sorted(t.name for a in authors for p in a.posts for t in p.tags)
    assert len(names) == 100 * 3 * 2 + 1
    post = next(p for a in authors for p in a.posts if p.title == "a7-p2")
    assert sorted(t.name for t in post.tags) == ["t2", "t3"]
    assert post.tags[0] is s.query(Tag).filter(name=post.tags[0].name).find_one()
    assert len(statements.dml()) == 4  # the query for the tag just above
    untracked = database.query(Author).eager("posts.tags").find()
    assert sum(len(p.tags) for a in untracked for p in a.posts) == 601
    assert len(statements.dml()) == 7


def test_eager_loads_are_chunked_under_the_parameter_limit(
    db: Database, statements: StatementLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More keys than one statement may carry: one statement per chunk of keys (a dialect
    that sends keys as one array parameter needs one statement per level)."""
    monkeypatch.setattr(db.dialect, "max_params", 12)  # 2 keys per statement
    statements.clear()
    authors = db.create_session().query(Author).eager("posts.tags").find()
    assert sum(len(a.posts) for a in authors) == 7
    assert sum(len(p.tags) for a in authors for p in a.posts) == 13
    # 4 authors in 2-key chunks, 7 posts in 4
    assert len(statements.dml()) == (3 if db.dialect.array_batches else 1 + 2 + 4)


def test_eager_mixes_references_and_collections(db: Database, statements: StatementLog) -> None:
    """``eager("author")``, ``eager("tags.posts")``: references by key, collections by owner."""
    s = db.create_session()
    statements.clear()
    posts = s.query(Post).eager("author", "tags.posts").find()
    assert len(statements.dml()) == 4
    assert {p.author.name for p in posts} == {"a0", "a1", "a2"}
    db_tag = next(t for p in posts for t in p.tags if t.name == "db")
    assert [p.title for p in db_tag.posts] == ["x-first"]
    assert len(statements.dml()) == 4


def test_eager_keeps_a_collection_already_loaded(db: Database, statements: StatementLog) -> None:
    """A re-query never replaces a loaded collection (nor its unsaved state); the loader
    still walks into its items for the next level."""
    s = db.create_session()
    a0 = author(s, "a0")
    posts = a0.posts
    statements.clear()
    again = s.query(Author).filter(name="a0").eager("posts.tags").find_one()
    assert again is a0 and a0.posts is posts
    assert len(statements.dml()) == 2  # the authors, then the tags of a0's posts
    assert sorted(t.name for p in posts for t in p.tags) == ["db", "t0", "t1", "t1", "t2"]
    assert len(statements.dml()) == 2


def _links(coll: object) -> dict[int, object]:
    return coll._links  # type: ignore[attr-defined,no-any-return]


def test_eager_many_to_many_makes_pivot_objects_only_when_needed(
    db: Database, statements: StatementLog
) -> None:
    """An eager load of a many-to-many collection in a session builds no pivot object; the
    first edit makes those of that collection, mapped by their row's key, the same objects a
    query or ``get`` of the pivot finds; the edit stages the right DELETE and INSERT."""
    s = db.create_session()
    statements.clear()
    authors = s.query(Author).eager("posts.tags").find()
    assert len(statements.dml()) == 3
    assert s._identity.count(db.entity(PostTag)) == 0  # no pivot object made
    a0 = next(a for a in authors if a.name == "a0")
    post = next(p for p in a0.posts if p.title == "a0-p0")
    t0, t1 = post.tags
    assert (t0.name, t1.name) == ("t0", "t1")
    mapped = s.get(PostTag, (post.id, t0.id))  # (read from the database: not mapped yet)
    assert mapped is not None and mapped.post is post and mapped.tag is t0
    assert _links(post.tags)[id(t0)] is mapped  # the links are made around what is mapped
    other = _links(post.tags)[id(t1)]
    assert s.get(PostTag, (post.id, t1.id)) is other and s.state_of(other) == "persistent"
    assert other.post is post and other.tag is t1
    statements.clear()
    db_tag = s.query(Tag).filter(name="db").find_one()
    post.tags.remove(t0)
    post.tags.append(db_tag)
    s.commit()
    assert s.state_of(mapped) == "detached" and s.get(PostTag, (post.id, t0.id)) is None
    fresh = db.create_session().query(Post).filter(id=post.id).find_one()
    assert sorted(t.name for t in fresh.tags) == ["db", "t1"]
    assert [t.name for t in post.tags] == ["t1", "db"]


def test_eager_many_to_many_rollback_puts_links_back(db: Database) -> None:
    """Edits of a collection loaded with its pivot objects still to make are undone by a
    rollback, links included; a later edit then removes the stored link."""
    s = db.create_session()
    post = s.query(Post).filter(title="a1-p1").eager("tags").find_one()
    t1, t2 = post.tags
    post.tags.remove(t1)
    assert [t.name for t in post.tags] == ["t2"]
    s.rollback()
    assert list(post.tags) == [t1, t2]
    link = _links(post.tags)[id(t1)]
    assert link.post is post and link.tag is t1 and s.get(PostTag, (post.id, t1.id)) is link
    post.tags.remove(t1)
    s.commit()
    stored = db.create_session().query(Post).filter(title="a1-p1").find_one()
    assert [t.name for t in stored.tags] == ["t2"]


def test_eager_many_to_many_follows_a_cascaded_delete(db: Database) -> None:
    """Removing a tag deletes its links (``ON DELETE CASCADE``): the eager-loaded collections
    that held it lose it, on both sides, though no pivot object had been made for them."""
    s = db.create_session()
    posts = s.query(Post).eager("tags", "tags.posts").find()
    t1 = next(t for p in posts for t in p.tags if t.name == "t1")
    holders = [p for p in posts if t1 in p.tags]
    assert len(holders) == 6
    s.remove(t1)
    s.commit()
    assert all(t1 not in p.tags for p in posts)
    fresh = db.create_session()
    stored = {p.title: sorted(t.name for t in p.tags) for p in fresh.query(Post).find()}
    assert stored == {p.title: sorted(t.name for t in p.tags) for p in posts}
    victim = holders[0]
    others = list(victim.tags)
    s.remove(victim)
    s.commit()
    assert all(victim not in t.posts for t in others) and list(victim.tags) == []


def test_eager_many_to_many_follows_a_cascade_two_steps_away(db: Database) -> None:
    """Removing an author deletes its posts and their links: the tags' eager-loaded
    collections lose those posts, and so do the posts' own collections."""
    s = db.create_session()
    authors = s.query(Author).eager("posts.tags").find()
    tags = s.query(Tag).eager("posts").find()
    a0 = next(a for a in authors if a.name == "a0")
    gone = list(a0.posts)
    s.remove(a0)
    s.commit()
    assert all(p not in t.posts for t in tags for p in gone)
    assert all(list(p.tags) == [] for p in gone)
    fresh = db.create_session().query(Tag).eager("posts").find()
    assert {t.name: sorted(p.title for p in t.posts) for t in fresh} == {
        t.name: sorted(p.title for p in t.posts) for t in tags
    }


def test_eager_many_to_many_of_a_closed_session_keeps_detached_links(db: Database) -> None:
    """After ``close()`` a loaded collection still gives its links, detached like its
    objects."""
    s = db.create_session()
    post = s.query(Post).filter(title="x-first").eager("tags").find_one()
    s.close()
    (tag,) = post.tags
    link = _links(post.tags)[id(tag)]
    assert link.post is post and link.tag is tag and s.state_of(link) == "detached"


def test_eager_names_its_mistakes(db: Database) -> None:
    with pytest.raises(UnknownFieldError, match="'postz'"):
        db.query(Author).eager("postz")
    with pytest.raises(ValidationError, match=r"eager\('posts.title'\).*neither a reference"):
        db.query(Author).eager("posts.title")


# -- any / none ------------------------------------------------------------------------------


def names(objs: list[Author]) -> list[str]:
    return sorted(o.name for o in objs)


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        (F.posts.any(F.title.like("x%")), ["a0"]),
        (F.posts.any(), ["a0", "a1", "a2"]),
        (F.posts.none(), ["lonely"]),
        (F.posts.none(F.title.like("x%")), ["a1", "a2", "lonely"]),
        (F.posts.any(F.title == "a1-p0", F.id > 0), ["a1"]),
        (F.posts.any(F.tags.any(F.name == "db")), ["a0"]),
        (F.posts.any(F.tags.any(F.name == "t2")) & (F.name != "a2"), ["a0", "a1"]),
        (F.posts.any(F.title == "a2-p1") | F.posts.none(), ["a2", "lonely"]),
        (~F.posts.any(F.title.like("a%")), ["lonely"]),
    ],
)
def test_any_and_none_on_a_one_to_many_collection(
    db: Database, expr: object, expected: list[str]
) -> None:
    """``any``/``none`` agree across find, count and has, tracked and untracked."""
    assert names(db.create_session().query(Author).filter(expr).find()) == expected  # type: ignore[arg-type]
    assert names(db.query(Author).filter(expr).find()) == expected  # type: ignore[arg-type]
    assert db.query(Author).filter(expr).count() == len(expected)  # type: ignore[arg-type]
    assert db.query(Author).filter(expr).has() == bool(expected)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        (F.tags.any(F.name == "db"), ["x-first"]),
        (F.tags.any(F.name.in_(["t0", "db"])), ["a0-p0", "a1-p0", "a2-p0", "x-first"]),
        (F.tags.none(F.name == "t1") & F.author.name.in_(["a0"]), ["x-first"]),
        (F.author.posts.any(F.title == "x-first"), ["a0-p0", "a0-p1", "x-first"]),
        (
            F.author.name.in_(["a0", "a1"]) & F.tags.any(F.posts.any(F.title == "a1-p1")),
            [
                "a0-p0",
                "a0-p1",
                "a1-p0",
                "a1-p1",
            ],
        ),
    ],
)
def test_any_and_none_through_a_pivot_and_a_reference(
    db: Database, expr: object, expected: list[str]
) -> None:
    got = db.create_session().query(Post).filter(expr).find()  # type: ignore[arg-type]
    assert sorted(p.title for p in got) == expected
    assert db.query(Post).filter(expr).count() == len(expected)  # type: ignore[arg-type]


def test_any_is_an_exists_subquery(db: Database, statements: StatementLog) -> None:
    statements.clear()
    db.query(Post).filter(F.tags.any(F.name == "db")).count()
    [sql] = statements.dml()
    assert sql.count("EXISTS") == 1 and "JOIN" in sql


def test_bulk_methods_accept_collection_conditions(db: Database) -> None:
    """``delete_many``/``patch_many`` with ``any``/``none`` touch what ``find`` finds."""
    s = db.create_session()
    assert s.query(Author).filter(F.posts.none()).delete_many() == 1
    assert s.query(Post).filter(F.tags.any(F.name == "db")).patch_many(title="tagged") == 1
    s.commit()  # a session's bulk operations belong to its transaction
    assert [p.title for p in db.query(Post).filter(F.tags.any(F.name == "db")).find()] == ["tagged"]
    assert db.query(Author).filter(F.posts.any(F.title == "tagged")).patch_many(name="A") == 1
    assert names(db.query(Author).find()) == ["A", "a1", "a2"]


def test_collection_conditions_name_their_mistakes(db: Database) -> None:
    with pytest.raises(ValidationError, match=r"Author\.posts is a collection.*F\.posts\.any"):
        db.query(Author).filter(F.posts.title == "x").find()
    with pytest.raises(ValidationError, match=r"Post\.title, not a collection"):
        db.query(Post).filter(F.title.any()).find()
    with pytest.raises(ValidationError, match=r"Author\.posts is a collection"):
        db.query(Author).order_by("posts.title")
    with pytest.raises(UnknownFieldError, match="'nope'"):
        db.query(Author).filter(F.posts.any(F.nope == 1)).find()


def test_collection_condition_values_are_bound(db: Database, statements: StatementLog) -> None:
    evil = "db' OR 1=1 --"
    statements.clear()
    assert db.query(Post).filter(F.tags.any(F.name == evil)).find() == []
    assert all(evil not in sql for sql in statements.sql)


def test_streamed_objects_load_their_collections(db: Database) -> None:
    """Objects of a stream, tracked or not, read their collections lazily like find()'s."""
    for q in (db.query(Author), db.create_session().query(Author)):
        titles = {a.name: sorted(p.title for p in a.posts) for a in q.stream(batch=1, track=False)}
        assert titles["a0"] == ["a0-p0", "a0-p1", "x-first"]
        tracked = {a.name: len(a.posts) for a in q.stream(batch=2)}
        assert tracked["a0"] == 3
