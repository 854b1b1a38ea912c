"""Entities used across the core tests: a blog-like graph with every field kind."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime, time
from decimal import Decimal
from typing import Annotated

from core import (
    AutoIncrement,
    Aware,
    Index,
    MaxLength,
    PrimaryKey,
    Reference,
    Unique,
    entity,
    field,
)


class Role(enum.Enum):
    reader = "reader"
    writer = "writer"
    admin = "admin"


@entity.name("author")
class Author:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    email: Annotated[str, Unique, MaxLength(200)]
    name: str
    age: int | None = None
    role: Role = Role.reader


@entity.name("article")
class Article:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    title: Annotated[str, Index]
    author: Annotated[Author, Reference]
    editor: Annotated[Author, Reference] | None = None
    tags: list[str] = field(default_factory=list)
    meta: dict[str, object] = field(default_factory=dict)


@entity.name("node")
class Node:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    label: str
    parent: Annotated[Node, Reference] | None = None


@entity.name("everything")
class Everything:
    id: Annotated[int, PrimaryKey]
    i: int = 0
    f: float = 0.0
    b: bool = False
    s: str = ""
    raw: bytes = b""
    d: Decimal = Decimal("0")
    when: datetime | None = None
    when_tz: Annotated[datetime, Aware] | None = None
    day: date | None = None
    at: time | None = None
    uid: uuid.UUID | None = None
    role: Role | None = None
    data: dict[str, object] | None = None


@entity.name("membership")
class Membership:
    org: Annotated[str, PrimaryKey, MaxLength(50)]
    member: Annotated[int, PrimaryKey]
    level: int = 0


ALL = [Author, Article, Node, Everything, Membership]
