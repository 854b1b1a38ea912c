"""A small blog: users, their posts, comments on posts, and tags.

Load it with ``ormcli --models sample_models/blog.py``; fill it with
``ormcli ... run sample_models/blog_seed.orm``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from core import AutoIncrement, Index, MaxLength, PrimaryKey, Reference, Unique, entity, field


@entity
class User:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    email: Annotated[str, Unique, MaxLength(200)]
    name: Annotated[str, MaxLength(100)]
    joined: date = field(default_factory=date.today)
    bio: str | None = None


@entity
class Tag:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    name: Annotated[str, Unique, MaxLength(50)]


@entity
class Post:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    author: Annotated[User, Reference]
    title: Annotated[str, MaxLength(200)]
    body: str = ""
    published: Annotated[datetime, Index] | None = None
    tags: list[str] = field(default_factory=list)  # tag names, stored as JSON
    meta: dict[str, str] = field(default_factory=dict)  # free-form JSON


@entity
class Comment:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    post: Annotated[Post, Reference]
    author: Annotated[User, Reference]
    body: str
    written: datetime = field(default_factory=datetime.now)
