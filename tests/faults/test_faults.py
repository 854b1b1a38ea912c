"""Our own fault suite: kills and lost connections at random moments, checked from outside.

Each commit of the workload adds one ``FBatch`` with ``n`` ``FItem`` rows, sometimes removes
an older batch (its items first), and moves its writer's ``FTotal`` counters by as much — one
unit of work. Whatever is killed, and whenever, the database must show whole commits only;
:func:`check` reads it through a raw DB-API connection (the adapter's ``connect()``, no
session, no ORM query):

- ``count(items) == sum(totals.items)`` and ``count(batches) == sum(totals.batches)``;
- every batch has exactly ``n`` items (no torn batch, no orphan: the foreign key holds).

Faults, each repeated ``ORMCLI_FAULTS`` times per backend (tests/faults/conftest.py):

1. SIGKILL of a process committing in a loop, at a random moment (SQLite file and servers);
2. the server ending the session's connection at a random statement of a commit — an INSERT,
   UPDATE, DELETE or the COMMIT itself: the error is typed (``OrmConnectionError`` before
   COMMIT, ``CommitOutcomeUnknownError`` at it), the session keeps its staged work, and the
   retry on a new connection commits it exactly once (or finds it committed);
3. four processes writing one SQLite file at once (locks, busy timeouts, retries);
4. ``migrate`` killed part-way: migrating again completes the schema and loses no row.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import time
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import pytest

from core import (
    AutoIncrement,
    CommitOutcomeUnknownError,
    ConflictError,
    Database,
    OrmConnectionError,
    PrimaryKey,
    Reference,
    adapter_from_url,
    entity,
    parse_url,
)
from tests.faults.conftest import fault_count

pytestmark = pytest.mark.faults


@entity.name("fbatch")
class FBatch:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    n: int = 0
    writer: int = 0


@entity.name("fitem")
class FItem:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    batch: Annotated[FBatch, Reference]
    k: int = 0
    payload: str = ""


@entity.name("ftotal")
class FTotal:
    writer: Annotated[int, PrimaryKey]
    items: int = 0
    batches: int = 0


MODELS = [FBatch, FItem, FTotal]


# -- the workload and the check ---------------------------------------------------------------


def one_commit(db: Database, writer: int, rng: random.Random) -> None:
    """One unit of work: a new batch of 1-40 items, sometimes an old batch removed."""
    s = db.create_session()
    total = s.query(FTotal).filter(writer=writer).find_one()
    n = rng.randint(1, 40)
    batch = FBatch(n=n, writer=writer)
    s.add(batch)
    s.add(
        *(
            FItem(batch=batch, k=i, payload=f"w{writer}-{i}-" + "x" * rng.randint(0, 200))
            for i in range(n)
        )
    )
    total.items += n
    total.batches += 1
    if rng.random() < 0.3:
        old = s.query(FBatch).filter(writer=writer).order_by("id").limit(1).find()
        if old:
            items = s.query(FItem).filter(batch=old[0]).find()
            s.remove(*items)
            s.remove(old[0])
            total.items -= len(items)
            total.batches -= 1
    s.commit()


def prepare(url: str, writers: int = 1) -> None:
    db = Database(url, MODELS)
    db.migrate()
    s = db.create_session()
    s.add(*(FTotal(writer=w) for w in range(writers)))
    s.commit()
    db.close()


def raw_connection(url: str) -> Any:
    """A plain DB-API connection from the adapter: no session, no ORM statement."""
    adapter = adapter_from_url(url)
    raw = adapter.connect()
    adapter.prepare(raw)
    return raw


def _rows(raw: Any, sql: str) -> list[Any]:
    cur = raw.cursor()
    cur.execute(sql)
    rows = list(cur.fetchall())
    cur.close()
    return rows


def check(url: str) -> tuple[int, int]:
    """The invariant, read through a raw connection; returns (items, batches)."""
    raw = raw_connection(url)
    try:
        with_autocommit(raw)
        items = _rows(raw, "SELECT count(*) FROM fitem")[0][0]
        batches = _rows(raw, "SELECT count(*) FROM fbatch")[0][0]
        totals = _rows(raw, "SELECT sum(items), sum(batches) FROM ftotal")[0]
        torn = _rows(
            raw,
            "SELECT b.id, b.n, count(i.id) FROM fbatch b LEFT JOIN fitem i ON i.batch = b.id"
            " GROUP BY b.id, b.n HAVING count(i.id) <> b.n",
        )
        orphans = _rows(
            raw,
            "SELECT count(*) FROM fitem i LEFT JOIN fbatch b ON b.id = i.batch WHERE b.id IS NULL",
        )[0][0]
    finally:
        raw.close()
    assert (items, batches) == (int(totals[0] or 0), int(totals[1] or 0)), "counters disagree"
    assert torn == [], f"torn batches (id, n, items found): {torn[:5]}"
    assert orphans == 0
    return int(items), int(batches)


def with_autocommit(raw: Any) -> None:
    """Reads outside any transaction, so each check sees the latest commit."""
    if hasattr(raw, "autocommit") and not callable(raw.autocommit):
        raw.autocommit = True
    elif callable(getattr(raw, "autocommit", None)):
        raw.autocommit(True)


# -- processes ---------------------------------------------------------------------------------


def fork(target: Callable[[], None]) -> int:
    """Run ``target`` in a child process (forked: no start-up cost); the child's pid."""
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 0
        try:
            target()
        except BaseException:
            code = 1
        os._exit(code)
    return pid


def wait(pid: int, timeout: float = 60.0) -> int:
    """The child's exit status (-signal when killed)."""
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise AssertionError(f"child {pid} did not finish in {timeout}s")
        time.sleep(0.005)


def committing_loop(url: str, ready_fd: int, seed: int) -> Callable[[], None]:
    def run() -> None:
        rng = random.Random(seed)
        db = Database(url, MODELS)
        one_commit(db, 0, rng)
        os.write(ready_fd, b"r")
        while True:
            one_commit(db, 0, rng)

    return run


# -- 1. SIGKILL of a committing process ---------------------------------------------------------


def test_sigkill_of_a_committing_process_leaves_whole_commits(
    db_url: str, report: list[str]
) -> None:
    """A process commits in a loop; SIGKILL at a random moment; the invariant holds after
    each kill, through a raw connection, and the next process carries on."""
    prepare(db_url)
    rng = random.Random(17)
    kills = fault_count()
    grew = 0
    items = batches = 0
    for round_ in range(kills):
        read_fd, write_fd = os.pipe()
        pid = fork(committing_loop(db_url, write_fd, rng.randrange(1 << 30)))
        os.close(write_fd)
        assert os.read(read_fd, 1) == b"r", "the child failed before its first commit"
        os.close(read_fd)
        time.sleep(rng.uniform(0, 0.15))
        os.kill(pid, signal.SIGKILL)
        assert wait(pid) == -signal.SIGKILL
        before = items
        items, batches = check(db_url)
        grew += items != before
        assert batches >= round_  # at least the ready commit of each round survived
    report.append(
        f"{kills} SIGKILLs of a committing process; invariant held after each; "
        f"{items} items in {batches} batches at the end; the table changed in {grew} rounds"
    )


# -- 2. the server ends the connection mid-flush and at COMMIT ----------------------------------

_KILL_SQL = {
    "postgresql": ("SELECT pg_backend_pid()", "SELECT pg_terminate_backend({})"),
    "mysql": ("SELECT CONNECTION_ID()", "KILL {}"),
}


class _KillAt(logging.Handler):
    """Ends connection ``pid`` from ``admin`` when the ``at``-th statement is logged."""

    def __init__(self, admin: Any, kill_sql: str, pid: int, at: int) -> None:
        super().__init__(logging.DEBUG)
        self.admin, self.kill_sql, self.pid, self.at = admin, kill_sql, pid, at
        self.seen = 0
        self.fired_on = ""

    def emit(self, record: logging.LogRecord) -> None:
        sql = getattr(record, "sql", None)
        if sql is None or self.fired_on:
            return
        self.seen += 1
        if self.seen == self.at:
            self.fired_on = sql.split()[0].upper()
            cur = self.admin.cursor()
            cur.execute(self.kill_sql.format(self.pid))
            cur.close()
            time.sleep(0.05)  # the kill is asynchronous on the server


@pytest.fixture
def server(backend: str) -> str:
    if backend not in _KILL_SQL:
        pytest.skip("the server ends connections: a server backend only")
    return backend


def test_the_server_ending_the_connection_mid_commit_loses_or_tears_nothing(
    db_url: str, server: str, report: list[str]
) -> None:
    """Killed at a random statement of a commit: a typed error, staged work kept, the
    invariant holds, and a retry on a new connection saves the work exactly once."""
    prepare(db_url)
    rng = random.Random(29)
    admin = raw_connection(db_url)
    with_autocommit(admin)
    pid_sql, kill_sql = _KILL_SQL[server]
    logger = logging.getLogger("core.sql")
    old_level = logger.level
    logger.setLevel(logging.DEBUG)
    outcomes: dict[str, int] = {}
    at_statement: dict[str, int] = {}
    db = Database(db_url, MODELS)
    try:
        for _ in range(fault_count()):
            before = check(db_url)
            s = db.create_session()
            total = s.query(FTotal).filter(writer=0).find_one()
            n = rng.randint(1, 30)
            batch = FBatch(n=n)
            s.add(batch, *(FItem(batch=batch, k=i, payload="p") for i in range(n)))
            total.items += n
            total.batches += 1
            conn = db.connection()
            pid = _rows(conn.raw, pid_sql)[0][0]
            handler = _KillAt(admin, kill_sql, pid, rng.randint(1, 6))
            logger.addHandler(handler)
            try:
                s.commit()
                outcome = "committed"
            except CommitOutcomeUnknownError:
                outcome = "outcome unknown"
            except OrmConnectionError:
                outcome = "connection lost"
            finally:
                logger.removeHandler(handler)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
            if handler.fired_on:
                at_statement[handler.fired_on] = at_statement.get(handler.fired_on, 0) + 1
            after = check(db_url)
            if outcome == "connection lost":
                assert after == before, "a commit that failed before COMMIT saved something"
                assert s.changes().inserts, "the staged work was lost"
                s.commit()  # the retry, on a new connection
                assert check(db_url)[0] == before[0] + n
            elif outcome == "outcome unknown":
                assert after[0] in (before[0], before[0] + n)
    finally:
        logger.setLevel(old_level)
        db.close()
        admin.close()
    report.append(
        f"{fault_count()} server-side kills in a commit: outcomes {outcomes}; "
        f"killed at {at_statement}; invariant held after each"
    )


# -- 3. concurrent writers on one SQLite file --------------------------------------------------


def test_concurrent_writers_on_one_sqlite_file(
    db_url: str, report: list[str], tmp_path: Any
) -> None:
    """Four processes commit into one file at once; every commit lands whole, once."""
    if parse_url(db_url).scheme != "sqlite":
        pytest.skip("one file shared by processes: the SQLite case")
    writers, commits = 4, max(1, fault_count())
    prepare(db_url, writers)

    def writer(w: int) -> Callable[[], None]:
        def run() -> None:
            rng = random.Random(w)
            db = Database(db_url, MODELS)
            done = retries = 0
            while done < commits:
                try:
                    one_commit(db, w, rng)
                    done += 1
                except (ConflictError, OrmConnectionError):
                    retries += 1
                    time.sleep(rng.uniform(0, 0.01))
            (tmp_path / f"retries{w}").write_text(str(retries))

        return run

    pids = [fork(writer(w)) for w in range(writers)]
    codes = [wait(pid, timeout=600) for pid in pids]
    assert codes == [0] * writers
    items, batches = check(db_url)
    retries = sum(int((tmp_path / f"retries{w}").read_text()) for w in range(writers))
    raw = raw_connection(db_url)
    per_writer = _rows(raw, "SELECT writer, count(*) FROM fbatch GROUP BY writer ORDER BY writer")
    raw.close()
    report.append(
        f"{writers} processes x {commits} commits into one SQLite file: {items} items in "
        f"{batches} batches, {retries} retries after 'database is locked'; batches per writer "
        f"{[c for _, c in per_writer]}; invariant held"
    )


# -- 4. migrate killed part-way ----------------------------------------------------------------


def _migrate_models(step: int) -> list[type]:
    """The same tables, and ``step`` more each time: a schema to migrate to, with data kept."""
    classes: list[type] = list(MODELS)
    for i in range(step):
        ns: dict[str, Any] = {}
        exec(
            "from typing import Annotated\n"
            "from core import entity, PrimaryKey, AutoIncrement, Reference\n"
            f"@entity.name('fextra{i}')\n"
            f"class FExtra{i}:\n"
            "    id: Annotated[int, PrimaryKey, AutoIncrement] = 0\n"
            "    label: str = ''\n"
            "    size: int = 0\n",
            ns,
        )
        classes.append(ns[f"FExtra{i}"])
    return classes


def test_migrate_killed_part_way_loses_nothing_and_completes_next_time(
    db_url: str, report: list[str]
) -> None:
    """SIGKILL while migrate creates 12 tables: the data stays whole, and the next migrate
    leaves nothing pending."""
    prepare(db_url)
    seed_db = Database(db_url, MODELS)
    rng = random.Random(41)
    for _ in range(5):
        one_commit(seed_db, 0, rng)
    seed_db.close()
    base = check(db_url)
    partial = untouched = 0
    kills = fault_count()
    for round_ in range(kills):
        classes = _migrate_models(12)
        read_fd, write_fd = os.pipe()

        def run(classes: list[type] = classes, write_fd: int = write_fd) -> None:
            db = Database(db_url, classes)
            db.connection()
            os.write(write_fd, b"r")
            db.migrate()
            time.sleep(10)  # done: wait to be killed like the others

        pid = fork(run)
        os.close(write_fd)
        assert os.read(read_fd, 1) == b"r"
        os.close(read_fd)
        time.sleep(rng.uniform(0, 0.08))
        os.kill(pid, signal.SIGKILL)
        wait(pid)
        assert check(db_url) == base, "migrate killed part-way changed the data"
        db = Database(db_url, classes)
        pending = len(db.migration_plan().statements)
        partial += 0 < pending < 12
        untouched += pending == 12
        db.migrate()
        assert db.migration_plan().empty
        db.close()
        assert check(db_url) == base
        _drop_extras(db_url, 12)
        del round_
    report.append(
        f"{kills} SIGKILLs during migrate (12 new tables): data unchanged after each, the next "
        f"migrate completed every time; the kill left {untouched} schemas untouched, "
        f"{partial} part-way (DDL that commits itself), {kills - untouched - partial} complete"
    )


def _drop_extras(url: str, count: int) -> None:
    raw = raw_connection(url)
    with_autocommit(raw)
    try:
        for i in range(count):
            cur = raw.cursor()
            cur.execute(f"DROP TABLE IF EXISTS fextra{i}")
            cur.close()
    finally:
        raw.close()


@pytest.fixture(autouse=True)
def _no_leftover_children() -> Iterator[None]:
    yield
    try:
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        pass


# -- 5. memory over many sessions --------------------------------------------------------------


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def test_memory_stays_flat_over_sixty_sessions_loading_many_rows(
    db_url: str, report: list[str]
) -> None:
    """60 sessions in one process, each loading 20,000 rows: after the first round the
    resident size grows by less than 5 MB (issue 17, point 7; docs/faults.md has the
    100,000-row figures)."""
    if not os.path.exists("/proc/self/statm"):
        pytest.skip("reads the resident size from /proc")
    import gc

    db = Database(db_url, MODELS)
    db.migrate()
    s = db.create_session()
    batch = FBatch(n=20_000)
    s.add(batch, *(FItem(batch=batch, k=i, payload=f"p{i}" * 3) for i in range(20_000)))
    s.add(FTotal(writer=0, items=20_000, batches=1))
    s.commit()
    del s, batch
    figures = []
    first = 0.0
    for round_ in range(1, 61):
        session = db.create_session()
        assert len(session.query(FItem).find()) == 20_000
        del session
        gc.collect()
        if round_ == 1:
            first = _rss_mb()
        if round_ in (1, 20, 40, 60):
            figures.append(f"{round_}: {_rss_mb():.1f} MB")
    growth = _rss_mb() - first
    db.close()
    report.append(f"RSS over 60 sessions of 20,000 rows: {', '.join(figures)} (+{growth:.1f} MB)")
    assert growth < 5.0
