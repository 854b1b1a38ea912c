"""A five-minute tour of the core API: the DESIGN §2 examples, printing what happens.

Run it with ``python sample_models/tour.py``; it uses an in-memory SQLite database. The first
half is the session (add, commit, change, commit); the second, relations: a one-to-many
collection, a many-to-many through a pivot, moving a post, rollback and cascade.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from core import (
    AutoIncrement,
    BackReference,
    Database,
    PrimaryKey,
    Reference,
    SQLiteAdapter,
    entity,
)


@entity.name("user")
class User:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    created: datetime
    name: str

    def __init__(self, name: str) -> None:
        self.name = name
        self.created = datetime.now()


@entity
class Tag:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    name: str = ""
    posts: Annotated[list[Post], BackReference(via="PostTag")]


@entity
class PostTag:  # an explicit pivot entity: one row per tag on a post
    post: Annotated[Post, PrimaryKey, Reference(on_delete="cascade")]
    tag: Annotated[Tag, PrimaryKey, Reference(on_delete="cascade")]


@entity
class Author:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    name: str = ""
    posts: Annotated[list[Post], BackReference]  # one-to-many, not a column


@entity
class Post:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    title: str = ""
    author: Annotated[Author, Reference(on_delete="cascade")]
    tags: Annotated[list[Tag], BackReference(via=PostTag)]  # many-to-many


def session_tour() -> None:
    database = Database(SQLiteAdapter(":memory:"), [User])
    database.migrate()

    session = database.create_session()
    session.add(User("User1"), User("User2"), User("User3"))
    result = session.commit()
    print(f"committed {result.inserts} inserts in {result.statements} statement(s)")
    users = session.query(User).find()
    for user in users:
        print(user.id, user.name)

    for user in users:
        user.name += " changed"
    for statement in session.pending_sql():
        print("will run:", statement.sql, f"({statement.rows} rows)")
    session.commit()
    for user in session.query(User).find():
        print(user.id, user.name)


def relations_tour() -> None:
    database = Database("sqlite:///:memory:", [Author])  # Post, Tag and PostTag come along
    database.migrate()
    session = database.create_session()

    ann, bob = Author(name="Ann"), Author(name="Bob")
    db_tag, py_tag = Tag(name="db"), Tag(name="py")
    ann.posts.append(Post(title="Sessions", tags=[db_tag, py_tag]))  # author set, link staged
    ann.posts.append(Post(title="Pivots", tags=[db_tag]))
    session.add(ann, bob)  # the posts, tags and links come with Ann
    result = session.commit()
    print(f"relations: {result.inserts} rows in {result.statements} statement(s)")

    session = database.create_session()
    ann = session.query(Author).filter(name="Ann").find_one()
    print("Ann's posts:", [p.title for p in ann.posts])  # loaded on first access, one query
    first = ann.posts[0]
    print("tags of", repr(first.title), [t.name for t in first.tags])

    bob = session.query(Author).filter(name="Bob").find_one()
    bob.posts.append(first)  # moves it: first.author is Bob, Ann's list loses it
    first.tags.remove(next(t for t in first.tags if t.name == "py"))  # a pivot row to delete
    for edit in session.changes().collections:
        added = [label(x) for x in edit.added]
        removed = [label(x) for x in edit.removed]
        print(f"  {edit.relation.label} of {label(edit.owner)}: +{added} -{removed}")
    session.rollback()  # collections go back too
    print("after rollback, Ann's posts:", [p.title for p in ann.posts])

    bob.posts.append(first)
    session.commit()
    print("after commit, Bob's posts:", [p.title for p in bob.posts])

    db_tag = session.query(Tag).filter(name="db").find_one()
    print("db tag's posts:", [p.title for p in db_tag.posts])
    session.remove(bob)  # ON DELETE CASCADE: his post and its tag links go with him
    session.commit()
    print(
        f"after removing Bob: the post is {session.state_of(first)};",
        "db tag's posts:",
        [p.title for p in db_tag.posts],
    )


def label(obj: object) -> str:
    return str(getattr(obj, "title", None) or getattr(obj, "name", obj))


def main() -> None:
    session_tour()
    relations_tour()


if __name__ == "__main__":
    main()
