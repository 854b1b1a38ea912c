"""A Database over a PostgreSQL primary and a streaming hot standby: reads routed to the
replica only while allowed and fresh, read-your-writes after a session writes, a failed or
lagging replica skipped, a write to a standby one clear error, and failover to a promoted
standby under a write load with every acknowledged commit present exactly once.

Replay on the standby is paused (``pg_wal_replay_pause``) to make "which server answered"
visible: a row committed on the primary is then missing on the replica only.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Annotated, Any

import psycopg
import pytest
from rich.console import Console

from core import (
    AutoIncrement,
    Database,
    F,
    OrmConnectionError,
    PrimaryKey,
    entity,
)
from ormcli.executor import Workspace
from ormcli.loader import load_models
from ormcli.repl import Repl
from tests.cli.helpers import invoke
from tests.cluster.load import Ticket, check, count_tokens, write_load
from tests.cluster.servers import PostgresPair


@entity.name("replica_note")
class Note:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    text: str = ""


def _raw(url: str, sql: str, params: Any = ()) -> list[Any]:
    with psycopg.connect(url, autocommit=True) as c:
        cur = c.execute(sql, params)
        return list(cur.fetchall()) if cur.description else []


def _wait_replayed(pair: PostgresPair) -> None:
    target = _raw(pair.primary_url, "SELECT pg_current_wal_lsn()")[0][0]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        done = _raw(pair.standby_url, "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (target,))
        if done[0][0]:
            return
        time.sleep(0.02)
    raise AssertionError("the standby did not catch up within 10 s")


@pytest.fixture
def paused(pg_pair: PostgresPair) -> Iterator[PostgresPair]:
    """The note table with one row everywhere, then replay paused on the standby."""
    db = Database(pg_pair.primary_url, [Note])
    db.migrate()
    _raw(pg_pair.primary_url, "TRUNCATE replica_note")
    _raw(pg_pair.primary_url, "INSERT INTO replica_note (text) VALUES ('old')")
    db.close()
    _wait_replayed(pg_pair)
    _raw(pg_pair.standby_url, "SELECT pg_wal_replay_pause()")
    try:
        yield pg_pair
    finally:
        _raw(pg_pair.standby_url, "SELECT pg_wal_replay_resume()")


def _add_on_primary(pair: PostgresPair, text: str) -> None:
    _raw(pair.primary_url, "INSERT INTO replica_note (text) VALUES (%s)", (text,))


def test_reads_go_to_the_replica_until_the_session_writes(paused: PostgresPair) -> None:
    """With ``replica_reads=True`` a session that has not written reads from the replica
    (a row only the primary has is not seen); once it commits, its reads go to the primary
    and see its own write and the other row (read-your-writes)."""
    db = Database(paused.primary_url, [Note], replicas=[paused.standby_url], replica_reads=True)
    _add_on_primary(paused, "primary only")
    session = db.create_session()
    assert [n.text for n in session.query(Note).find()] == ["old"]
    assert db.query(Note).count() == 1  # untracked queries follow the database's setting
    session.add(Note(text="mine"))
    session.commit()
    texts = sorted(n.text for n in session.query(Note).find())
    assert texts == ["mine", "old", "primary only"]
    db.close()


def test_reads_stay_on_the_primary_unless_allowed(paused: PostgresPair) -> None:
    """Replica reads are opt-in: by default, and with ``create_session(replica_reads=False)``
    on a database that allows them, every read goes to the primary."""
    _add_on_primary(paused, "primary only")
    plain = Database(paused.primary_url, [Note], replicas=[paused.standby_url])
    assert plain.create_session().query(Note).count() == 2
    plain.close()
    allowing = Database(
        paused.primary_url, [Note], replicas=[paused.standby_url], replica_reads=True
    )
    assert allowing.create_session(replica_reads=False).query(Note).count() == 2
    assert allowing.create_session().query(Note).count() == 1
    allowing.close()


def test_a_replica_lagging_beyond_the_bound_is_skipped(paused: PostgresPair) -> None:
    """Replay paused for longer than ``max_replica_lag``: the replica is skipped and the read
    goes to the primary; ``servers`` says why."""
    _add_on_primary(paused, "primary only")
    time.sleep(1.2)
    db = Database(
        paused.primary_url,
        [Note],
        replicas=[paused.standby_url],
        replica_reads=True,
        max_replica_lag=0.5,
    )
    assert db.create_session().query(Note).count() == 2
    assert "behind" in db.pool.readers[0].reason  # type: ignore[union-attr]
    db.close()


def test_a_replica_that_cannot_be_reached_is_skipped(pg_pair: PostgresPair) -> None:
    """A replica URL nobody answers at: reads go to the primary, without an error."""
    db = Database(
        pg_pair.primary_url,
        [Note],
        replicas=["postgresql://postgres:S3cret/x@127.0.0.1:1/postgres"],
        replica_reads=True,
    )
    db.migrate()
    assert db.create_session().query(Note).count() >= 0
    assert "S3cret" not in db.servers and "***" in db.servers
    db.close()


def test_a_write_to_a_standby_is_one_clear_error(pg_pair: PostgresPair) -> None:
    """A Database whose only server is a standby cannot be written through: one
    OrmConnectionError saying it is read-only, nothing written."""
    db = Database(pg_pair.standby_url, [Note])
    session = db.create_session()
    session.add(Note(text="nowhere"))
    with pytest.raises(OrmConnectionError, match="read-only"):
        session.commit()
    assert session.changes().inserts  # the staged work is kept
    db.close()


def test_writes_fail_over_to_a_promoted_standby_and_no_acknowledged_commit_is_lost(
    pg_sync_pair: PostgresPair,
) -> None:
    """Synchronous replication; two writer threads; the primary is SIGKILLed and the standby
    promoted: the next transactions reach it. On the new primary every acknowledged commit
    is there exactly once, none doubled, none reported failed present."""
    pair = pg_sync_pair
    db = Database(pair.primary_url, [Ticket], replicas=[pair.standby_url], retry_after=0.5)
    db.migrate()
    _wait_replayed(pair)
    stop = threading.Event()
    results: list[Any] = [None, None]

    def run(k: int) -> None:
        results[k] = write_load(db, stop, f"w{k}")

    threads = [threading.Thread(target=run, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    pair.kill_primary()
    killed_at = time.monotonic()
    pair.promote_standby()
    promoted_at = time.monotonic()
    time.sleep(3)
    stop.set()
    for t in threads:
        t.join()
    rows = _raw(pair.standby_url, "SELECT token, count(*) FROM ticket GROUP BY token")
    counts = count_tokens(rows)
    for result in results:
        check(result, counts)
    gap = min(r.gap_after(killed_at) for r in results)
    print(
        f"\npostgres failover: {sum(len(r.acked) for r in results)} acknowledged, "
        f"{sum(len(r.unknown) for r in results)} unknown, "
        f"{sum(len(r.failed) for r in results)} failed; promotion took "
        f"{promoted_at - killed_at:.2f} s, first commit {gap:.2f} s after the kill"
    )
    assert gap < promoted_at - killed_at + 2
    assert ":5463/" in db.servers.split(";")[0]
    db.close()


def test_reads_filter_and_count_on_the_replica(paused: PostgresPair) -> None:
    """Filters and counts run on the replica like any read (it answers with what it has)."""
    db = Database(paused.primary_url, [Note], replicas=[paused.standby_url], replica_reads=True)
    _add_on_primary(paused, "old")
    assert db.create_session().query(Note).filter(F.text == "old").count() == 1
    db.close()


def test_the_command_app_takes_a_replica_and_reads_from_it_when_asked(
    paused: PostgresPair, tmp_path: Path
) -> None:
    """``ormcli --db PRIMARY --replica STANDBY --replica-reads find`` answers from the
    standby (replay paused: a row only the primary has is not listed); without
    ``--replica-reads`` the primary answers."""
    models = tmp_path / "models.py"
    models.write_text(
        "from typing import Annotated\n"
        "from core import AutoIncrement, PrimaryKey, entity\n"
        "@entity.name('replica_note')\n"
        "class Note:\n"
        "    id: Annotated[int, PrimaryKey, AutoIncrement] = 0\n"
        "    text: str = ''\n"
    )
    _add_on_primary(paused, "primary only")
    base = ["--db", paused.primary_url, "--replica", paused.standby_url, "--models", str(models)]
    from_replica = invoke([*base, "--replica-reads", "find", "Note", "--format", "csv"])
    assert from_replica.exit_code == 0, from_replica.output
    assert "old" in from_replica.output and "primary only" not in from_replica.output
    from_primary = invoke([*base, "find", "Note", "--format", "csv"])
    assert "primary only" in from_primary.output


def test_the_repl_toolbar_says_where_the_sessions_reads_go(
    paused: PostgresPair, tmp_path: Path
) -> None:
    """With a replica and --replica-reads the toolbar says "reads: replicas" until the
    session commits, then "reads: primary"."""
    models = tmp_path / "models.py"
    models.write_text(
        "from typing import Annotated\n"
        "from core import AutoIncrement, PrimaryKey, entity\n"
        "@entity.name('replica_note')\n"
        "class Note:\n"
        "    id: Annotated[int, PrimaryKey, AutoIncrement] = 0\n"
        "    text: str = ''\n"
    )
    servers = {"replicas": [paused.standby_url], "replica_reads": True}
    ws = Workspace(paused.primary_url, load_models([str(models)]), servers)
    repl = Repl(ws, Console(file=StringIO(), color_system=None), interactive=False, lines=iter([]))
    assert "reads: replicas" in repl.toolbar()
    note = ws.db.entity("Note").cls
    ws.session.add(note(text="mine"))
    ws.session.commit()
    assert "reads: primary" in repl.toolbar()
    ws.db.close()
