"""A session against a reference model, step by step (hypothesis stateful testing).

The model keeps two dicts: what the database holds (``committed``) and what the session would
commit (``pending``). After every step the database is read through a separate raw
``sqlite3`` connection and must equal ``committed``; the session's change set must describe
exactly the difference to ``pending``. Steps: add, change, remove, commit, rollback, and a
commit made to fail (a duplicate unique email) which must change nothing.
"""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from core import Database, IntegrityError
from tests.core.models import ALL, Author

NAMES = st.text(alphabet="abcdefgh", min_size=1, max_size=5)
AGES = st.none() | st.integers(min_value=-5, max_value=120)


class SessionMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.TemporaryDirectory()
        self.path = Path(self.dir.name) / "state.db"
        self.db = Database(f"sqlite:///{self.path}", ALL)
        self.db.migrate()
        self.session = self.db.create_session()
        self.raw = sqlite3.connect(self.path)
        # email -> (name, age): the database, and what the session would make of it.
        self.committed: dict[str, tuple[str, int | None]] = {}
        self.pending: dict[str, tuple[str, int | None]] = {}
        self.objects: dict[str, Author] = {}
        self.serial = 0

    def teardown(self) -> None:
        self.raw.close()
        self.db.close()
        self.dir.cleanup()

    def _loaded(self) -> list[Author]:
        return [o for e, o in self.objects.items() if e in self.pending and e in self.committed]

    @rule(name=NAMES, age=AGES)
    def add(self, name: str, age: int | None) -> None:
        self.serial += 1
        email = f"u{self.serial}@x"
        obj = Author(email=email, name=name, age=age)
        self.session.add(obj)
        self.objects[email] = obj
        self.pending[email] = (name, age)

    @precondition(lambda self: bool(self._loaded()))
    @rule(data=st.data(), name=NAMES, age=AGES)
    def change(self, data: st.DataObject, name: str, age: int | None) -> None:
        obj = data.draw(st.sampled_from(self._loaded()))
        if data.draw(st.booleans()):
            obj.name = name
        else:
            obj.age = age
        self.pending[obj.email] = (obj.name, obj.age)

    @precondition(lambda self: bool(self._loaded()))
    @rule(data=st.data())
    def remove(self, data: st.DataObject) -> None:
        obj = data.draw(st.sampled_from(self._loaded()))
        self.session.remove(obj)
        del self.pending[obj.email]

    @rule()
    def reload(self) -> None:
        """Query everything through the session (identity map: nothing is overwritten)."""
        for obj in self.session.query(Author).find():
            if obj.email in self.pending:
                assert (obj.name, obj.age) == self.pending[obj.email]
            self.objects[obj.email] = obj

    @rule()
    def commit(self) -> None:
        self.session.commit()
        self.committed = dict(self.pending)
        for email in list(self.objects):
            if email not in self.committed:
                del self.objects[email]

    @rule()
    def rollback(self) -> None:
        self.session.rollback()
        for email in list(self.objects):
            if email not in self.committed:
                del self.objects[email]
        self.pending = dict(self.committed)
        for email, obj in self.objects.items():
            assert (obj.name, obj.age) == self.committed[email]

    @precondition(lambda self: bool(self.committed))
    @rule(data=st.data())
    def failing_commit(self, data: st.DataObject) -> None:
        """A new object with a taken email makes the commit fail; then it is unstaged."""
        taken = data.draw(st.sampled_from(sorted(self.committed)))
        dup = Author(email=taken, name="dup")  # taken even if staged for removal: inserts go first
        before = self.session.changes()
        self.session.add(dup)
        try:
            self.session.commit()
        except IntegrityError:
            pass
        else:
            pytest.fail("a duplicate email committed")
        self.session.remove(dup)
        assert self.session.changes() == before

    @invariant()
    def database_matches_committed(self) -> None:
        rows = self.raw.execute("SELECT email, name, age FROM author").fetchall()
        assert {e: (n, a) for e, n, a in rows} == self.committed

    @invariant()
    def change_set_matches_pending(self) -> None:
        cs = self.session.changes()
        inserted = {i.obj.email for i in cs.inserts}
        deleted = {d.obj.email for d in cs.deletes}
        assert inserted == set(self.pending) - set(self.committed)
        assert deleted == set(self.committed) - set(self.pending)
        for u in cs.updates:
            assert self.pending[u.obj.email] != self.committed[u.obj.email]
        changed = {
            e for e in self.pending if e in self.committed and self.pending[e] != self.committed[e]
        }
        assert {u.obj.email for u in cs.updates} == changed


SessionMachine.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestSessionAgainstModel = SessionMachine.TestCase
