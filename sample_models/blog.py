"""A small blog: users, their posts, comments on posts, and tags.

Relations: ``User.posts`` (the posts a user wrote: ``Post.author``, picked with ``mapped_by``
since ``Comment`` refers to users too), ``Post.comments``, and ``Post.tags`` / ``Tag.posts``,
a many-to-many through the pivot entity ``PostTag``. Deleting a post deletes its comments and
tag links (``on_delete="cascade"``); a user who still has posts or comments cannot be deleted.

Load it with ``ormcli --models sample_models/blog.py``; fill it with
``ormcli ... run sample_models/blog_seed.orm``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from core import (
    AutoIncrement,
    BackReference,
    Index,
    MaxLength,
    PrimaryKey,
    Reference,
    Unique,
    entity,
    field,
)


@entity
class User:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    email: Annotated[str, Unique, MaxLength(200)]
    name: Annotated[str, MaxLength(100)]
    joined: date = field(default_factory=date.today)
    bio: str | None = None
    posts: Annotated[list[Post], BackReference(mapped_by="author")]


@entity
class Tag:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    name: Annotated[str, Unique, MaxLength(50)]
    posts: Annotated[list[Post], BackReference(via="PostTag")]


@entity
class Post:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    author: Annotated[User, Reference]
    title: Annotated[str, MaxLength(200)]
    body: str = ""
    published: Annotated[datetime, Index] | None = None
    meta: dict[str, str] = field(default_factory=dict)  # free-form JSON
    #: Set by the hook below whenever a commit (or flush) writes a change of the post.
    updated_at: datetime | None = None
    tags: Annotated[list[Tag], BackReference(via="PostTag")]
    comments: Annotated[list[Comment], BackReference]

    def before_update(self, session: object) -> None:
        """An entity hook (docs/session.md, Events): stamps every saved change."""
        self.updated_at = datetime.now()


@entity
class PostTag:
    """A tag on a post: the pivot of ``Post.tags`` / ``Tag.posts``."""

    post: Annotated[Post, PrimaryKey, Reference(on_delete="cascade")]
    tag: Annotated[Tag, PrimaryKey, Reference(on_delete="cascade")]


@entity
class Comment:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    post: Annotated[Post, Reference(on_delete="cascade")]
    author: Annotated[User, Reference]
    body: str
    written: datetime = field(default_factory=datetime.now)
