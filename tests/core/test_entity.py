"""Entities are mapped from annotations; bad annotations are rejected at decoration."""

from __future__ import annotations

import textwrap
from datetime import datetime
from pathlib import Path
from typing import Annotated, ClassVar

import pytest

from core import (
    AutoIncrement,
    ModelError,
    PrimaryKey,
    Reference,
    ValidationError,
    entity,
    entity_info,
    field,
)
from tests.core.models import Article, Author, Everything, Membership, Role


def test_fields_markers_and_kinds_are_read_from_annotations() -> None:
    """Markers in Annotated and `| None` become field flags; kinds follow the Python type."""
    info = entity_info(Author)
    assert info.name == "author"
    assert [f.name for f in info.fields] == ["id", "email", "name", "age", "role"]
    email = info.field("email")
    assert (email.kind, email.unique, email.max_length, email.nullable) == ("str", True, 200, False)
    assert info.field("age").nullable and info.field("age").kind == "int"
    assert info.field("role").kind == "enum" and info.field("role").enum_type is Role
    assert [f.name for f in info.primary_key] == ["id"] and info.autoincrement is not None
    kinds = {f.name: f.kind for f in entity_info(Everything).fields}
    assert kinds == {
        "id": "int",
        "i": "int",
        "f": "float",
        "b": "bool",
        "s": "str",
        "raw": "bytes",
        "d": "decimal",
        "when": "datetime",
        "when_tz": "datetime",
        "day": "date",
        "at": "time",
        "uid": "uuid",
        "role": "enum",
        "data": "json",
    }
    assert entity_info(Everything).field("when_tz").aware


def test_reference_fields_name_their_target() -> None:
    """`Annotated[Author, Reference]` is a reference to Author; `| None` makes it nullable."""
    info = entity_info(Article)
    assert info.field("author").target is entity_info(Author)
    assert not info.field("author").nullable and info.field("editor").nullable


def test_composite_primary_key() -> None:
    """Two PrimaryKey fields make a composite key; pk_of gives a tuple."""
    info = entity_info(Membership)
    assert [f.name for f in info.primary_key] == ["org", "member"]
    assert info.pk_of(Membership(org="acme", member=3)) == ("acme", 3)


def test_generated_init_takes_keywords_and_defaults() -> None:
    """A class without __init__ gets a keyword one; factories give fresh values per object."""
    a = Article(title="t", author=Author(email="e", name="n"))
    b = Article(title="u", author=a.author)
    assert a.tags == [] and a.tags is not b.tags
    assert a.id == 0 and a.editor is None
    with pytest.raises(ValidationError, match=r"Article\(\) needs a value for 'title'"):
        Article(author=a.author)
    with pytest.raises(ValidationError, match=r"Article has no field 'nope'"):
        Article(title="x", author=a.author, nope=1)


def test_own_init_is_respected() -> None:
    """A class's own __init__ is kept; class-attribute defaults still apply."""

    @entity
    class Thing:
        id: Annotated[int, PrimaryKey, AutoIncrement] = 0
        name: str

        def __init__(self, name: str) -> None:
            self.name = name.upper()

    t = Thing("abc")
    assert (t.id, t.name) == (0, "ABC")
    assert entity_info(Thing).name == "thing"


def test_classvar_and_private_names_are_not_fields() -> None:
    """ClassVar annotations and _private names are left alone."""

    @entity
    class WithClassVar:
        id: Annotated[int, PrimaryKey] = 0
        kind: ClassVar[str] = "x"
        _cache: dict[str, int] = field(default_factory=dict)

    assert [f.name for f in entity_info(WithClassVar).fields] == ["id"]


def test_unmappable_annotation_names_entity_and_field() -> None:
    """An annotation that cannot be stored is a ModelError at decoration time."""
    with pytest.raises(ModelError, match=r"^Broken\.handler: cannot map the type"):

        @entity.name("broken")
        class Broken:
            id: Annotated[int, PrimaryKey] = 0
            handler: object


def test_entity_without_primary_key_is_rejected() -> None:
    with pytest.raises(ModelError, match="entity 'nokey' has no primary key"):

        @entity.name("nokey")
        class NoKey:
            name: str


def test_entity_type_without_reference_marker_is_rejected() -> None:
    with pytest.raises(ModelError, match=r"needs the Reference marker"):

        @entity
        class Bad:
            id: Annotated[int, PrimaryKey] = 0
            author: Author


def test_future_annotations_in_a_model_file(tmp_path: Path) -> None:
    """A model file with `from __future__ import annotations` maps, references included."""
    path = tmp_path / "future_models.py"
    path.write_text(
        textwrap.dedent(
            """
            from __future__ import annotations
            from datetime import datetime
            from typing import Annotated
            from core import entity, PrimaryKey, AutoIncrement, Reference

            @entity
            class Owner:
                id: Annotated[int, PrimaryKey, AutoIncrement] = 0
                since: datetime | None = None

            @entity
            class Pet:
                id: Annotated[int, PrimaryKey, AutoIncrement] = 0
                owner: Annotated[Owner, Reference]
                friend: Annotated[Pet, Reference] | None = None
            """
        )
    )
    import runpy

    ns = runpy.run_path(str(path))
    pet = entity_info(ns["Pet"])
    assert pet.field("owner").target is entity_info(ns["Owner"])
    assert pet.field("friend").target is pet and pet.field("friend").nullable
    assert entity_info(ns["Owner"]).field("since").kind == "datetime"


def test_local_classes_with_future_annotations_resolve() -> None:
    """Entities defined inside a function (this module has future annotations) still map."""

    @entity
    class Local:
        id: Annotated[int, PrimaryKey] = 0
        when: datetime | None = None
        parent: Annotated[Local, Reference] | None = None

    assert entity_info(Local).field("parent").target is entity_info(Local)


def test_coerce_parses_text_and_names_the_field_on_error() -> None:
    """coerce() turns typed text into values and rejects the rest with one sentence."""
    info = entity_info(Everything)
    assert info.field("when").coerce("2024-05-01T10:00:00") == datetime(2024, 5, 1, 10)
    assert info.field("role").coerce("writer") is Role.writer
    assert str(info.field("d").coerce("1.50")) == "1.50"
    with pytest.raises(ValidationError) as exc:
        info.field("i").coerce("abc")
    assert str(exc.value) == "Everything.i expects int, got 'abc'"
    with pytest.raises(ValidationError, match="holds naive datetimes"):
        info.field("when").coerce("2024-05-01T10:00:00+02:00")


def test_repr_shows_fields_and_references_by_key() -> None:
    """The generated repr names fields; a reference shows as <Entity key>."""
    a = Author(email="a@x", name="A")
    a.id = 7
    art = Article(title="T", author=a)
    assert repr(a) == "Author(id=7, email='a@x', name='A', age=None, role=<Role.reader: 'reader'>)"
    assert "author=<Author 7>" in repr(art)
