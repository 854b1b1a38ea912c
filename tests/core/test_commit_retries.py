"""``commit(retries=N)``: what is retried, and that a retry first lets the server settle.

A retryable ``ConflictError`` (the server rolled the transaction back: deadlock, serialization
failure, a Galera certification failure) is retried up to N times; before each retry the
database waits until the server applied every write its cluster certified
(``Database.settle``: Galera's causal wait; nothing elsewhere), so that on a loaded Galera node
the retry is not certified again against the commit it lost to. The real certification race
runs in ``tests/cluster/test_galera.py``.
"""

from __future__ import annotations

from typing import Any

import pytest

from core import ConflictError, Database, Session
from tests.core.models import ALL, Author


def _conflict_once(monkeypatch: pytest.MonkeyPatch, *, retryable: bool) -> list[str]:
    """The session's first commit attempt fails as the server would have rolled it back;
    returns the log of attempts and settles."""
    log: list[str] = []
    real_once = Session._commit_once
    real_settle = Database.settle

    def once(self: Session) -> Any:
        log.append("attempt")
        if log.count("attempt") == 1:
            raise ConflictError("deadlock found", retryable=retryable)
        return real_once(self)

    def settle(self: Database) -> None:
        log.append("settle")
        real_settle(self)

    monkeypatch.setattr(Session, "_commit_once", once)
    monkeypatch.setattr(Database, "settle", settle)
    return log


def test_a_retryable_conflict_is_retried_after_the_server_settled_and_saved_once(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = Database(db_url, ALL)
    db.migrate()
    log = _conflict_once(monkeypatch, retryable=True)
    s = db.create_session()
    s.add(Author(email="r@x.org", name="retried"))
    s.commit(retries=1)
    assert log == ["attempt", "settle", "attempt"]
    assert [a.name for a in db.query(Author).find()] == ["retried"]
    db.close()


def test_without_retries_or_when_not_retryable_the_conflict_raises_with_the_work_kept(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = Database(db_url, ALL)
    db.migrate()
    for retries, retryable in ((0, True), (3, False)):
        log = _conflict_once(monkeypatch, retryable=retryable)
        s = db.create_session()
        s.add(Author(email=f"k{retries}@x.org", name="kept"))
        with pytest.raises(ConflictError):
            s.commit(retries=retries)
        assert log == ["attempt"]  # no settle, no second attempt
        assert len(s.changes().inserts) == 1  # still staged
        monkeypatch.undo()
        s.commit()
    assert sorted(a.email for a in db.query(Author).find()) == ["k0@x.org", "k3@x.org"]
    db.close()


def test_settle_runs_on_every_backend(db_url: str, backend: str) -> None:
    """``Database.settle`` is a statement the server accepts (MariaDB: ``SET STATEMENT
    wsrep_sync_wait = 1 FOR SELECT 1``, a plain SELECT where wsrep is off) or nothing."""
    db = Database(db_url, ALL)
    db.settle()
    assert bool(db.dialect.settle_sql) == (backend == "mysql")
    db.close()
