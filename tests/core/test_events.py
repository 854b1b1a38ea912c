"""Events: session hooks (before/after commit, after rollback) and entity before-hooks, from a
database, a session or a method on the class; a failing hook changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

import pytest

from core import AutoIncrement, ConfigurationError, Database, PrimaryKey, Session, entity
from tests.core.dbstate import dump
from tests.core.models import ALL, Author


@entity.name("stamped")
class Stamped:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    title: str = ""
    edits: int = 0

    def before_update(self, session: Session) -> None:
        self.edits += 1


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url, [*ALL, Stamped])
    database.migrate()
    yield database
    database.close()


def test_session_events_fire_in_order(db: Database) -> None:
    seen: list[str] = []
    db.on("before_commit", lambda s: seen.append("before_commit"))
    db.on("after_commit", lambda s: seen.append("after_commit"))
    s = db.create_session()
    s.on("after_rollback", lambda s: seen.append("after_rollback"))
    s.add(Author(email="a@x.org", name="a"))
    s.commit()
    s.rollback()
    assert seen == ["before_commit", "after_commit", "after_rollback"]


def test_a_transaction_block_fires_after_rollback_only_when_it_rolls_back(db: Database) -> None:
    """A block that commits fires after_commit and nothing more (closing its clean session
    rolls nothing back); a block ended by an exception fires after_rollback once."""
    seen: list[str] = []
    db.on("after_commit", lambda s: seen.append("after_commit"))
    db.on("after_rollback", lambda s: seen.append("after_rollback"))
    with db.transaction() as s:
        s.add(Author(email="a@x.org", name="a"))
    assert seen == ["after_commit"]
    seen.clear()
    with pytest.raises(ValueError), db.transaction() as s:
        s.query(Author).find_one().name = "b"
        raise ValueError("the request failed")
    assert seen == ["after_rollback"]
    assert db.query(Author).find_one().name == "a"


def test_entity_hooks_change_objects_and_stage_more_work_into_the_same_commit(
    db: Database, db_url: str
) -> None:
    """before_insert fills a field; before_delete stages an audit row; one commit has all."""
    db.on(Author, "before_insert", lambda obj, s: setattr(obj, "age", 18))

    @db.on(Author, "before_delete")
    def audit(obj: Any, session: Session) -> None:
        session.add(Stamped(title=f"removed {obj.name}"))

    s = db.create_session()
    a = Author(email="a@x.org", name="a")
    s.add(a)
    s.commit()
    assert db.query(Author).find_one().age == 18
    s.remove(a)
    s.commit()
    assert [t.title for t in db.query(Stamped).find()] == ["removed a"]
    assert dump(db_url, ["author"])["author"] == []


def test_a_hook_method_on_the_class_runs_for_every_update(db: Database) -> None:
    s = db.create_session()
    doc = Stamped(title="t")
    s.add(doc)
    s.commit()
    doc.title = "t2"
    s.flush()
    doc.title = "t3"
    s.commit()
    assert db.query(Stamped).find_one().edits == 2


def test_a_failing_hook_aborts_the_commit_with_the_session_as_it_was(
    db: Database, db_url: str
) -> None:
    s = db.create_session()
    s.add(Author(email="a@x.org", name="a", age=1))
    s.commit()
    a = s.query(Author).find_one()
    a.name = "changed"
    before = s.changes()
    calls: list[str] = []

    def stamp(obj: Any, session: Session) -> None:
        obj.age = 99
        session.add(Author(email="extra@x.org", name="extra"))
        calls.append("stamp")

    def refuse(obj: Any, session: Session) -> None:
        raise ValueError("not today")

    db.on(Author, "before_update", stamp)
    db.on(Author, "before_update", refuse)
    with pytest.raises(ValueError, match="not today"):
        s.commit()
    assert calls == ["stamp"]
    assert (a.name, a.age) == ("changed", 1)
    assert s.changes() == before
    assert [r[2] for r in dump(db_url, ["author"])["author"]] == ["a"]


def test_unknown_events_are_one_line_errors(db: Database) -> None:
    with pytest.raises(ConfigurationError, match="unknown session event 'before_flush'"):
        db.on("before_flush", print)
    with pytest.raises(ConfigurationError, match="unknown entity event 'after_insert'"):
        db.on(Author, "after_insert", print)
