"""Commit order and keys: reused keys and unique values, self-referencing removals, key-only
inserts, refresh of a vanished row."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

import pytest

from core import AutoIncrement, Database, NotFoundError, PrimaryKey, entity
from tests.conftest import StatementLog
from tests.core.models import ALL, Author, Membership, Node


@entity.name("ticket")
class Ticket:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url, [*ALL, Ticket])
    database.migrate()
    yield database
    database.close()


def test_a_removed_unique_value_can_be_taken_by_a_new_object_in_the_same_commit(
    db: Database, statements: StatementLog
) -> None:
    """The DELETE of the row whose email the new object takes goes before the INSERT."""
    s = db.create_session()
    s.add(Author(email="taken@x.org", name="old"), Author(email="other@x.org", name="other"))
    s.commit()
    old = s.query(Author).filter(name="old").find_one()
    other = s.query(Author).filter(name="other").find_one()
    s.remove(old, other)
    s.add(Author(email="taken@x.org", name="new"))
    statements.clear()
    s.commit()
    dml = [q.split()[0].upper() for q in statements.dml()]
    assert dml.index("DELETE") < dml.index("INSERT")
    assert [a.name for a in db.query(Author).find()] == ["new"]


def test_a_removed_key_can_be_taken_by_a_new_object_in_the_same_commit(db: Database) -> None:
    s = db.create_session()
    s.add(Membership(org="acme", member=1, level=1))
    s.commit()
    s.remove(s.query(Membership).find_one())
    s.add(Membership(org="acme", member=1, level=2))
    s.commit()
    assert [(m.org, m.member, m.level) for m in db.query(Membership).find()] == [("acme", 1, 2)]


def test_a_parent_and_its_descendants_of_the_same_table_are_removed_in_one_commit(
    db: Database,
) -> None:
    """Row-by-row foreign key checks (InnoDB) need children deleted before their parents,
    even inside one entity; every backend removes the whole tree in one commit."""
    s = db.create_session()
    root = Node(label="root")
    kids = [Node(label=f"kid{i}", parent=root) for i in range(3)]
    grandkids = [Node(label=f"g{i}", parent=kids[i % 3]) for i in range(6)]
    s.add(root, *kids, *grandkids)
    s.commit()
    loaded = s.query(Node).find()
    s.remove(*sorted(loaded, key=lambda n: n.id))  # parents first, on purpose
    s.commit()
    assert db.query(Node).count() == 0


def test_an_entity_with_only_a_generated_key_is_inserted(db: Database) -> None:
    s = db.create_session()
    tickets = [Ticket(), Ticket(), Ticket()]
    s.add(*tickets)
    s.commit()
    assert sorted(t.id for t in tickets) == sorted(t.id for t in db.query(Ticket).find())
    assert len({t.id for t in tickets}) == 3 and all(t.id for t in tickets)


def test_refresh_of_a_row_deleted_elsewhere_detaches_the_object(db: Database) -> None:
    s = db.create_session()
    s.add(Author(email="a@x.org", name="a"))
    s.commit()
    a = s.query(Author).find_one()
    other = db.create_session()
    other.remove(other.get(Author, a.id))
    other.commit()
    with pytest.raises(NotFoundError) as exc:
        s.refresh(a)
    assert str(exc.value) == (
        f"cannot refresh Author {a.id}: its row no longer exists; the object is detached "
        "from the session"
    )
    assert s.state_of(a) == "detached"
    assert s.get(Author, a.id) is None
