"""A Database over a 3-node MariaDB Galera cluster: ids read back per row, certification
conflicts as retryable ``ConflictError`` with the staged work kept, causal reads through
another node, a node outside the primary component skipped, and failover when a node dies
under a write load with every acknowledged commit present exactly once.

The node-killing test comes last in this module: it leaves the cluster with two nodes.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Annotated, Any

import pymysql
import pytest

from core import (
    AutoIncrement,
    ConflictError,
    Database,
    F,
    MigrationError,
    OrmConnectionError,
    PrimaryKey,
    entity,
)
from core.migrations.runner import migration_lock
from tests.cli.helpers import invoke
from tests.cluster.load import Ticket, check, count_tokens, write_load
from tests.cluster.servers import GaleraCluster


@entity.name("galera_item")
class Item:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    label: str = ""
    qty: int = 0


def _raw(cluster: GaleraCluster, node: int, sql: str, params: Any = ()) -> list[Any]:
    """Run one statement on a node through a raw connection. A node that is in the middle
    of a view change (a peer was just killed) answers 1047 "not yet prepared" for a moment:
    that is waited out for up to 20 s, since the check is of data, not of availability."""
    deadline = time.monotonic() + 20
    while True:
        conn = pymysql.connect(
            host="127.0.0.1",
            port=cluster.nodes[node - 1].port,
            user="root",
            database="test",
            autocommit=True,
        )
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return list(cur.fetchall())
        except pymysql.err.OperationalError as exc:
            if exc.args[0] != 1047 or time.monotonic() > deadline:
                raise
        finally:
            conn.close()
        time.sleep(0.2)


@pytest.fixture
def nodes(galera: GaleraCluster) -> list[Database]:
    """One Database per node (each a list of one), the item table fresh and empty."""
    dbs = [Database([url], [Item, Ticket]) for url in galera.urls]
    dbs[0].migrate()
    _raw(galera, 1, "DELETE FROM galera_item")
    _raw(galera, 1, "DELETE FROM ticket")
    yield dbs
    for db in dbs:
        db.close()


def test_ids_are_read_back_per_row_when_three_nodes_insert_at_once(
    galera: GaleraCluster, nodes: list[Database]
) -> None:
    """Each node steps auto_increment by the node count from its own offset; three sessions
    committing 300 rows each at the same moment get exactly the ids their rows were stored
    under (matched through a raw connection), never ids computed from the first."""
    objs: list[list[Item]] = [
        [Item(label=f"n{n}-{i}", qty=i) for i in range(300)] for n in range(3)
    ]
    barrier = threading.Barrier(3)
    errors: list[BaseException] = []

    def insert(n: int) -> None:
        session = nodes[n].create_session()
        session.add(*objs[n])
        barrier.wait()
        try:
            session.commit()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=insert, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    stored = {label: id_ for id_, label in _raw(galera, 2, "SELECT id, label FROM galera_item")}
    assert len(stored) == 900
    for batch in objs:
        for obj in batch:
            assert stored[obj.label] == obj.id
    increments = {row[0] for row in _raw(galera, 1, "SELECT @@auto_increment_increment")}
    assert increments == {3}  # the cluster really steps ids by the node count
    by_node = [{o.id % 3 for o in batch} for batch in objs]
    assert all(len(residues) == 1 for residues in by_node)  # each node its own offset


def test_a_certification_conflict_is_a_retryable_conflict_with_the_staged_work_kept(
    galera: GaleraCluster, nodes: list[Database]
) -> None:
    """Two sessions change one row through two nodes; the one that commits second loses
    certification (1213 at COMMIT): a ConflictError marked retryable, nothing of it written,
    its change staged again; committing again then succeeds."""
    seed = nodes[0].create_session()
    seed.add(Item(label="hot", qty=1))
    seed.commit()
    key = seed.query(Item).find_one().id
    time.sleep(0.2)
    first, second = nodes[0].create_session(), nodes[1].create_session()
    a, b = first.get(Item, key), second.get(Item, key)
    assert a is not None and b is not None
    b.qty = 20
    second.flush()  # node 2 holds the row in an open transaction
    a.qty = 10
    first.commit()  # node 1 certifies first
    with pytest.raises(ConflictError) as caught:
        second.commit()
    assert caught.value.retryable
    assert "conflicted" in str(caught.value)
    assert _raw(galera, 2, "SELECT qty FROM galera_item WHERE id = %s", (key,)) == [(10,)]
    assert second.changes().updates[0].changes == {"qty": (1, 20)}
    second.commit()
    assert _raw(galera, 3, "SELECT qty FROM galera_item WHERE id = %s", (key,)) == [(20,)]


def test_commit_retries_a_certification_conflict_when_asked(
    galera: GaleraCluster, nodes: list[Database]
) -> None:
    """``commit(retries=1)`` sends the work again after a certification failure; without
    it the same race raises."""
    seed = nodes[0].create_session()
    seed.add(Item(label="again", qty=0))
    seed.commit()
    key = seed.query(Item).find_one().id
    time.sleep(0.2)
    first, second = nodes[0].create_session(), nodes[2].create_session()
    b = second.get(Item, key)
    assert b is not None
    b.label = "second"
    second.flush()
    a = first.get(Item, key)
    assert a is not None
    a.qty = 5
    first.commit()
    result = second.commit(retries=1)
    assert result is not None
    rows = _raw(galera, 1, "SELECT label, qty FROM galera_item WHERE id = %s", (key,))
    assert rows == [("second", 5)]


def test_a_read_through_another_node_sees_a_commit_at_once(
    galera: GaleraCluster, nodes: list[Database]
) -> None:
    """Reads are causal by default on a node list (``wsrep_sync_wait=1``): 100 commits
    through node 1, each read back at once through node 3, are all seen."""
    writer, reader = nodes[0], nodes[2]
    assert reader.causal_reads == 1
    missed = 0
    for i in range(100):
        session = writer.create_session()
        session.add(Item(label=f"causal-{i}"))
        session.commit()
        if not reader.query(Item).filter(F.label == f"causal-{i}").has():
            missed += 1
    assert missed == 0


def test_a_node_outside_the_primary_component_is_a_connection_error_and_is_skipped(
    galera: GaleraCluster, nodes: list[Database]
) -> None:
    """Node 3 cut off from the others (``gmcast.isolate``) loses quorum: a statement there is
    1047 ("WSREP has not yet prepared node"), an OrmConnectionError naming it not ready; a
    Database listing it first sees it is not ready and commits through the next node."""
    _raw(galera, 3, "SET GLOBAL wsrep_provider_options = 'gmcast.isolate = 1'")
    deadline = time.monotonic() + 20
    while galera.ready(galera.nodes[2]) and time.monotonic() < deadline:
        time.sleep(0.2)  # until node 3 itself knows it lost quorum (not only the others)
    while galera.cluster_size(1) != 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    try:
        alone = Database([galera.urls[2]], [Item])
        with pytest.raises(OrmConnectionError, match=r"3323.*primary component"):
            alone.query(Item).count()
        alone.close()
        listed = Database([galera.urls[2], galera.urls[0]], [Item])
        session = listed.create_session()
        session.add(Item(label="skipped node 3"))
        session.commit()
        assert ":3321/" in listed.servers.split(";")[0]
        assert "3323" in listed.servers  # listed as down, with the reason
        listed.close()
    finally:
        _raw(galera, 3, "SET GLOBAL wsrep_provider_options = 'gmcast.isolate = 0'")
        deadline = time.monotonic() + 30
        while galera.state(galera.nodes[2]) != "Synced" and time.monotonic() < deadline:
            time.sleep(0.2)


def test_the_command_app_takes_the_nodes_as_repeated_db_options(
    galera: GaleraCluster, nodes: list[Database], tmp_path: Path
) -> None:
    """``ormcli --db n1 --db n2 --db n3 run`` commits through the first node; ``find``
    through another node's list sees the rows at once (causal reads)."""
    models = tmp_path / "models.py"
    models.write_text(
        "from typing import Annotated\n"
        "from core import AutoIncrement, PrimaryKey, entity\n"
        "@entity.name('galera_item')\n"
        "class Item:\n"
        "    id: Annotated[int, PrimaryKey, AutoIncrement] = 0\n"
        "    label: str = ''\n"
        "    qty: int = 0\n"
    )
    dbs = [arg for url in galera.urls for arg in ("--db", url)]
    done = invoke([*dbs, "--models", str(models), "run", "-"], input='add Item label="cli"\n')
    assert done.exit_code == 0, done.output
    back = [*dbs[2:], *dbs[:2]]
    found = invoke([*back, "--models", str(models), "find", "Item", "--format", "csv"])
    assert found.exit_code == 0, found.output
    assert "cli" in found.output


def test_migrators_through_two_nodes_are_kept_apart_by_a_cluster_wide_lock(
    galera: GaleraCluster, nodes: list[Database]
) -> None:
    """GET_LOCK holds on one node only; on Galera the migration lock is a replicated row: a
    migrate through node 2 while node 1 holds the lock waits, then fails naming the other
    migrate; once released, it runs (and leaves no lock row behind)."""
    with (
        nodes[0].pool.connection() as conn,
        migration_lock(conn, 1.0),
        pytest.raises(MigrationError, match="another migrate is running"),
    ):
        nodes[1].migrate(lock_timeout=0.5)
    nodes[1].migrate(lock_timeout=2)
    assert _raw(galera, 3, "SELECT COUNT(*) FROM ormcli_migrate_lock") == [(0,)]


def test_writes_fail_over_when_a_node_dies_and_no_acknowledged_commit_is_lost_or_doubled(
    galera: GaleraCluster, nodes: list[Database]
) -> None:
    """Two writer threads commit through node 3 (the first of their list); node 3 is
    SIGKILLed; commits carry on through node 1 after the cluster's detection time. Counted
    through a raw connection: every acknowledged commit once, none doubled, none reported
    failed present."""
    db = Database([galera.urls[2], galera.urls[0], galera.urls[1]], [Ticket], retry_after=5)
    stop = threading.Event()
    results: list[Any] = [None, None]

    def run(k: int) -> None:
        results[k] = write_load(db, stop, f"w{k}")

    threads = [threading.Thread(target=run, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    galera.kill(3)
    killed_at = time.monotonic()
    time.sleep(8)
    stop.set()
    for t in threads:
        t.join()
    counts = count_tokens(_raw(galera, 1, "SELECT token, COUNT(*) FROM ticket GROUP BY token"))
    for result in results:
        check(result, counts)
    acked = sum(len(r.acked) for r in results)
    gap = min(r.gap_after(killed_at) for r in results)
    print(
        f"\ngalera failover: {acked} commits acknowledged, "
        f"{sum(len(r.unknown) for r in results)} unknown, "
        f"{sum(len(r.failed) for r in results)} failed; first commit {gap:.2f} s after the kill"
    )
    assert gap < 10
    assert ":3321/" in db.servers.split(";")[0]
    db.close()
