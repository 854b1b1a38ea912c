"""Relations on the model: BackReference collections, pivots, Reference options (issue 12.1)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Annotated

import pytest

from core import (
    AutoIncrement,
    BackReference,
    Database,
    ModelError,
    PrimaryKey,
    Reference,
    RelationInfo,
    ValidationError,
    entity,
    entity_info,
)


def _blog() -> tuple[type, type, type, type]:
    """The DESIGN.md §2 example, classes naming each other as strings before they exist."""

    @entity
    class Tag:
        id: Annotated[int, PrimaryKey, AutoIncrement] = 0
        name: str = ""
        posts: Annotated[list[Post], BackReference(via="PostTag")]

    @entity
    class PostTag:
        post: Annotated[Post, PrimaryKey, Reference(on_delete="cascade")]
        tag: Annotated[Tag, PrimaryKey, Reference(on_delete="cascade")]

    @entity
    class Author:
        id: Annotated[int, PrimaryKey, AutoIncrement] = 0
        name: str = ""
        posts: Annotated[list[Post], BackReference]

    @entity
    class Post:
        id: Annotated[int, PrimaryKey, AutoIncrement] = 0
        title: str = ""
        author: Annotated[Author, Reference(on_delete="cascade")]
        tags: Annotated[list[Tag], BackReference(via=PostTag)]

    return Author, Post, Tag, PostTag


def test_one_to_many_resolves_to_the_targets_reference() -> None:
    """`Author.posts` is a collection of Post through `Post.author`; it is not a column."""
    Author, Post, _, _ = _blog()
    author = entity_info(Author)
    assert [f.name for f in author.fields] == ["id", "name"]
    assert "posts" not in author.column_names
    rel = author.relations["posts"]
    assert isinstance(rel, RelationInfo)
    assert (rel.kind, rel.owner, rel.target) == ("one-to-many", author, entity_info(Post))
    assert rel.reference is entity_info(Post).field("author")
    assert (rel.pivot, rel.pivot_owner, rel.pivot_target, rel.mirror) == (None, None, None, None)
    assert rel.collection_type is list and not rel.many_to_many
    assert entity_info(Post).field("author").relations == (rel,)
    assert author.relation("posts") is rel


def test_many_to_many_resolves_the_pivot_and_its_two_references() -> None:
    """`Post.tags` via PostTag: the pivot's reference to Post is the owner side, to Tag the
    target side; `Tag.posts` over the same pivot is its mirror."""
    _, Post, Tag, PostTag = _blog()
    post, tag, pivot = entity_info(Post), entity_info(Tag), entity_info(PostTag)
    rel = post.relations["tags"]
    assert (rel.kind, rel.target, rel.pivot) == ("many-to-many", tag, pivot)
    assert rel.pivot_owner is pivot.field("post") and rel.pivot_target is pivot.field("tag")
    assert rel.reference is None
    back = tag.relations["posts"]
    assert back.pivot_owner is pivot.field("tag") and back.pivot_target is pivot.field("post")
    assert rel.mirror is back and back.mirror is rel
    assert pivot.field("post").relations == (rel,) and pivot.field("tag").relations == (back,)


def test_reference_options_are_field_metadata() -> None:
    """`Reference(on_delete=..., orphans=...)` is a marker like bare `Reference` (restrict)."""
    _, Post, _, PostTag = _blog()

    @entity
    class Note:
        id: Annotated[int, PrimaryKey] = 0
        post: Annotated[Post, Reference] | None = None
        cleared: Annotated[Post, Reference(on_delete="set null")] | None = None
        kept: Annotated[Post, Reference(orphans="delete")] | None = None

    info = entity_info(Note)
    assert [(f.name, f.on_delete, f.orphans) for f in info.references] == [
        ("post", "restrict", None),
        ("cleared", "set null", None),
        ("kept", "restrict", "delete"),
    ]
    assert entity_info(PostTag).field("post").on_delete == "cascade"
    assert repr(Reference) == "Reference"
    assert repr(Reference(on_delete="cascade")) == "Reference(on_delete='cascade')"


def test_bad_reference_options_are_refused() -> None:
    """Unknown rules are a ValueError; `set null` on a non-nullable reference a ModelError."""
    with pytest.raises(ValueError, match="takes 'restrict', 'cascade' or 'set null', not 'drop'"):
        Reference(on_delete="drop")
    with pytest.raises(ValueError, match=r"orphans=\.\.\.\) takes None or 'delete'"):
        Reference(orphans="keep")
    Author, _, _, _ = _blog()
    with pytest.raises(ModelError, match=r"^Bad\.author: Reference\(on_delete='set null'\) needs"):

        @entity
        class Bad:
            id: Annotated[int, PrimaryKey] = 0
            author: Annotated[Author, Reference(on_delete="set null")]


def test_ambiguous_back_reference_names_both_classes_at_decoration() -> None:
    """Two references to Author on Post: a bare BackReference is a ModelError when Post is
    decorated, naming Author.posts, Post and both candidates."""
    with pytest.raises(
        ModelError,
        match=r"^Writer\.posts is ambiguous: Story has several references to Writer "
        r"\(author, editor\); pick one with BackReference\(mapped_by='author'\)$",
    ):

        @entity
        class Writer:
            id: Annotated[int, PrimaryKey] = 0
            posts: Annotated[list[Story], BackReference]

        @entity
        class Story:
            id: Annotated[int, PrimaryKey] = 0
            author: Annotated[Writer, Reference]
            editor: Annotated[Writer, Reference] | None = None


def test_mapped_by_picks_one_of_several_references() -> None:
    """`BackReference(mapped_by="editor")` picks that reference."""

    @entity
    class Writer:
        id: Annotated[int, PrimaryKey] = 0
        written: Annotated[list[Story], BackReference(mapped_by="author")]
        edited: Annotated[set[Story], BackReference(mapped_by="editor")]

    @entity
    class Story:
        id: Annotated[int, PrimaryKey] = 0
        author: Annotated[Writer, Reference]
        editor: Annotated[Writer, Reference] | None = None

    rels = entity_info(Writer).relations
    assert rels["written"].reference is entity_info(Story).field("author")
    assert rels["edited"].reference is entity_info(Story).field("editor")
    assert rels["edited"].collection_type is set


def test_missing_or_wrong_mapped_by_is_a_model_error() -> None:
    """No reference back, or a mapped_by naming none, is a ModelError naming both classes."""
    with pytest.raises(ModelError, match=r"^Shelf\.books: Book has no Reference to Shelf; "):

        @entity
        class Shelf:
            id: Annotated[int, PrimaryKey] = 0
            books: Annotated[list[Book], BackReference]

        @entity
        class Book:
            id: Annotated[int, PrimaryKey] = 0

    with pytest.raises(
        ModelError,
        match=r"^Box\.items: BackReference\(mapped_by='box'\) names no Reference of Item to "
        r"Box; its references to Box: container$",
    ):

        @entity
        class Box:
            id: Annotated[int, PrimaryKey] = 0
            items: Annotated[list[Item], BackReference(mapped_by="box")]

        @entity
        class Item:
            id: Annotated[int, PrimaryKey] = 0
            container: Annotated[Box, Reference]


def test_pivot_without_a_reference_to_a_side_is_a_model_error() -> None:
    """A pivot must reference both sides."""
    with pytest.raises(ModelError, match=r"^Song\.genres: the pivot SongLink has no Reference"):

        @entity
        class Genre:
            id: Annotated[int, PrimaryKey] = 0

        @entity
        class SongLink:
            song: Annotated[Song, PrimaryKey, Reference]
            other: Annotated[int, PrimaryKey]

        @entity
        class Song:
            id: Annotated[int, PrimaryKey] = 0
            genres: Annotated[list[Genre], BackReference(via=SongLink)]


def test_self_referencing_relations() -> None:
    """A tree's children, and a many-to-many of one entity with itself (mapped_by picks the
    pivot's owner side)."""

    @entity
    class Node:
        id: Annotated[int, PrimaryKey] = 0
        parent: Annotated[Node, Reference] | None = None
        children: Annotated[list[Node], BackReference]

    @entity
    class Person:
        id: Annotated[int, PrimaryKey] = 0
        follows: Annotated[list[Person], BackReference(via="Follow", mapped_by="follower")]
        followers: Annotated[list[Person], BackReference(via="Follow", mapped_by="followed")]

    @entity
    class Follow:
        follower: Annotated[Person, PrimaryKey, Reference]
        followed: Annotated[Person, PrimaryKey, Reference]

    assert entity_info(Node).relations["children"].reference is entity_info(Node).field("parent")
    rels = entity_info(Person).relations
    assert rels["follows"].pivot_target is entity_info(Follow).field("followed")
    assert rels["follows"].mirror is rels["followers"]


def test_a_list_of_entities_without_a_marker_suggests_back_reference() -> None:
    """`list[Entity]` / `set[Entity]` never becomes a JSON column."""
    Author, _, _, _ = _blog()
    with pytest.raises(
        ModelError,
        match=r"^Shelf\.authors: a list of the entity Author is a collection, not a column; "
        r"declare it Annotated\[list\[Author\], BackReference\]",
    ):

        @entity
        class Shelf:
            id: Annotated[int, PrimaryKey] = 0
            authors: list[Author]

    with pytest.raises(ModelError, match=r"^Shelf2\.authors: a set of the entity Author"):

        @entity
        class Shelf2:
            id: Annotated[int, PrimaryKey] = 0
            authors: set[Author]


def test_back_reference_on_a_non_collection_is_a_model_error() -> None:
    Author, _, _, _ = _blog()
    with pytest.raises(ModelError, match=r"^Odd\.author: BackReference goes on a collection"):

        @entity
        class Odd:
            id: Annotated[int, PrimaryKey] = 0
            author: Annotated[Author, BackReference]


def test_database_pulls_in_targets_and_pivots() -> None:
    """Registering Author brings Post, Tag and the pivot PostTag (tables for all four)."""
    Author, _, _, _ = _blog()
    db = Database("sqlite:///:memory:", [Author])
    assert sorted(i.cls.__name__ for i in db.entities) == ["Author", "Post", "PostTag", "Tag"]
    db.migrate()


def test_generated_init_takes_collections_and_new_objects_start_empty() -> None:
    """A collection is an optional keyword of the generated __init__; a new object's starts
    empty; an unknown keyword lists the collections among the fields."""
    Author, Post, Tag, _ = _blog()
    a = Author(name="Ann")
    assert a.posts == []
    t = Tag(name="db")
    p = Post(title="x", author=a, tags=[t])
    assert list(p.tags) == [t]
    with pytest.raises(ValidationError, match=r"its fields are: id, title, author, tags$"):
        Post(title="x", author=a, nope=1)


def test_entity_subclass_gets_its_own_init_and_repr() -> None:
    """`Admin(Member)` takes Admin's fields (Member's __init__ knew none of them)."""

    @entity
    class Member:
        id: Annotated[int, PrimaryKey] = 0
        name: str = ""

    @entity
    class Admin(Member):
        level: int = 0

    admin = Admin(id=1, name="root", level=3)
    assert (admin.id, admin.name, admin.level) == (1, "root", 3)
    assert repr(admin) == "Admin(id=1, name='root', level=3)"
    assert [f.name for f in entity_info(Admin).fields] == ["id", "name", "level"]
    with pytest.raises(ValidationError, match="Member has no field 'level'"):
        Member(level=3)


def test_relations_in_a_model_file_with_future_annotations(tmp_path: Path) -> None:
    """A model file with `from __future__ import annotations` and a string `via=`."""
    path = tmp_path / "rel_future_models.py"
    path.write_text(
        textwrap.dedent(
            """
            from __future__ import annotations
            from typing import Annotated
            from core import AutoIncrement, BackReference, PrimaryKey, Reference, entity

            @entity
            class Owner:
                id: Annotated[int, PrimaryKey, AutoIncrement] = 0
                pets: Annotated[list[Pet], BackReference]
                toys: Annotated[set[Toy], BackReference(via="OwnerToy")]

            @entity
            class Pet:
                id: Annotated[int, PrimaryKey, AutoIncrement] = 0
                owner: Annotated[Owner, Reference(on_delete="cascade")]

            @entity
            class Toy:
                id: Annotated[int, PrimaryKey, AutoIncrement] = 0

            @entity
            class OwnerToy:
                owner: Annotated[Owner, PrimaryKey, Reference]
                toy: Annotated[Toy, PrimaryKey, Reference]
            """
        )
    )
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("rel_future_models", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["rel_future_models"] = module
    try:
        spec.loader.exec_module(module)
        rels = entity_info(module.Owner).relations
        assert rels["pets"].reference is entity_info(module.Pet).field("owner")
        assert rels["toys"].pivot is entity_info(module.OwnerToy)
        assert rels["toys"].collection_type is set
    finally:
        del sys.modules["rel_future_models"]
