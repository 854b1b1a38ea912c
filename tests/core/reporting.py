"""Entities and data for the query-power tests: writers and their posts, with a JSON field."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from core import AutoIncrement, Database, Index, PrimaryKey, Reference, entity, field


@entity.name("writer")
class Writer:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    name: str = ""


@entity.name("post")
class Post:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    title: str = ""
    views: int = 0
    category: Annotated[int, Index] = 0
    price: Decimal = Decimal(0)
    writer: Annotated[Writer, Reference] | None = None
    attrs: dict[str, object] = field(default_factory=dict)


MODELS = [Writer, Post]

#: (title, views, category, price, writer index or None, attrs)
POSTS = [
    ("Carl's day", 10, 1, Decimal("1.50"), 0, {"color": "red", "rank": 2, "size": {"w": 3}}),
    ("carl again", 20, 1, Decimal("2.25"), 0, {"color": "blue", "rank": 10, "size": {"w": 1}}),
    ("100% sure", 5, 2, Decimal("0.10"), 1, {"color": "red", "rank": 9, "flag": True}),
    ("snake_case", 7, 2, Decimal("3"), 1, {"color": "green", "rank": 1, "size": {"w": 2}}),
    ("back\\slash", 1, 3, Decimal("10.01"), None, {"color": None, "label": "x.y"}),
    ("Émile ÉTÉ", 3, 3, Decimal("0"), 2, {"rank": 5}),
]


def seed(db_url: str) -> Database:
    """A migrated database holding three writers and ``POSTS``."""
    db = Database(db_url, MODELS)
    db.migrate()
    s = db.create_session()
    writers = [Writer(name=n) for n in ("ann", "bob", "cid")]
    s.add(*writers)
    for title, views, category, price, w, attrs in POSTS:
        s.add(
            Post(
                title=title,
                views=views,
                category=category,
                price=price,
                writer=None if w is None else writers[w],
                attrs=attrs,
            )
        )
    s.commit()
    return db
