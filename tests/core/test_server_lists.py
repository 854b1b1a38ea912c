"""A Database given as a list of servers behaves like one server on a plain backend: the
writability check passes, the migration lock is the backend's usual one (no lock table), and
commits and reads go through. Runs on every backend; the cluster suites (tests/cluster) test
real replicas and Galera nodes."""

from __future__ import annotations

from typing import Annotated

import pytest

from core import AutoIncrement, Database, DatabaseError, PrimaryKey, entity


@entity.name("listed_item")
class ListedItem:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    label: str = ""


def test_a_list_of_one_plain_server_commits_reads_and_migrates_without_a_lock_table(
    db_url: str,
) -> None:
    """``Database([url])`` on a server that is no Galera node (a plain MariaDB reports
    wsrep_ready OFF: that alone must not make it unwritable) migrates with the usual lock,
    commits and reads; no ``ormcli_migrate_lock`` table is made."""
    db = Database([db_url], [ListedItem])
    db.migrate()
    session = db.create_session()
    session.add(ListedItem(label="a"), ListedItem(label="b"))
    session.commit()
    assert db.query(ListedItem).count() == 2
    assert "writes:" in db.servers
    with pytest.raises(DatabaseError):
        db.raw_rows("SELECT COUNT(*) FROM ormcli_migrate_lock")
    db.close()


def test_a_plain_server_listed_as_a_replica_answers_reads(db_url: str) -> None:
    """The same server as primary and replica: replica reads go through (lag 0)."""
    Database(db_url, [ListedItem]).migrate()
    db = Database(db_url, [ListedItem], replicas=[db_url], replica_reads=True)
    session = db.create_session()
    session.add(ListedItem(label="c"))
    session.commit()
    assert db.create_session().query(ListedItem).count() == 1
    db.close()
