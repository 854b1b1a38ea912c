"""Model versions for the migration tests, built from a field table (one class per call)."""

from __future__ import annotations

import enum
from typing import Annotated, Any

from core import AutoIncrement, BackReference, PrimaryKey, Reference, Unique, entity

NO = object()


class Status(enum.Enum):
    LIVE = "live"
    DRAFT = "draft"


class Status2(enum.Enum):
    LIVE = "live"
    DRAFT = "draft"
    ARCHIVED = "archived"


def model(
    fields: dict[str, Any],
    *,
    name: str = "item",
    cls_name: str = "Item",
    renamed_from: str | None = None,
    indexes: tuple[tuple[tuple[str, ...], bool], ...] = (),
) -> type:
    """An entity named ``name`` with ``fields``: ``{field: annotation}`` or
    ``{field: (annotation, default)}``."""
    annotations: dict[str, Any] = {}
    ns: dict[str, Any] = {}
    for key, spec in fields.items():
        if isinstance(spec, tuple):
            annotations[key], default = spec
            if default is not NO:
                ns[key] = default
        else:
            annotations[key] = spec
    ns["__annotations__"] = annotations
    ns["__module__"] = __name__
    cls: type = type(cls_name, (), ns)
    for cols, unique in indexes:
        cls = entity.index(*cols, unique=unique)(cls)
    return entity.name(name, renamed_from=renamed_from)(cls)


@entity.name("person")
class Person:
    """Half of a reference cycle: a person's team, a team's lead."""

    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    team: Annotated[Team, Reference] | None = None


@entity.name("team")
class Team:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    lead: Annotated[Person, Reference] | None = None


@entity.name("tag")
class Tag:
    """The design example's many-to-many: posts and tags through an explicit pivot."""

    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    name: Annotated[str, Unique] = ""


@entity.name("post_tag")
class PostTag:
    post: Annotated[Post, PrimaryKey, Reference(on_delete="cascade")]
    tag: Annotated[Tag, PrimaryKey, Reference(on_delete="cascade")]


@entity.name("blogger")
class Blogger:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    name: str = ""
    posts: Annotated[list[Post], BackReference]


@entity.name("post")
class Post:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    title: str = ""
    blogger: Annotated[Blogger, Reference(on_delete="set null")] | None = None
    tags: Annotated[list[Tag], BackReference(via=PostTag)]
