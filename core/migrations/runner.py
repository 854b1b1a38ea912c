"""Run a migration: lock, plan, check, ask, apply all or nothing, record it in the history.

One migrator at a time: the lock (PostgreSQL advisory lock, MySQL ``GET_LOCK`` — on a Galera
node a row of ``ormcli_migrate_lock``, since ``GET_LOCK`` holds on one node only —, SQLite's
``BEGIN IMMEDIATE`` write lock) is taken before the schema is read and held until the run is
recorded; a second migrator waits up to ``lock_timeout`` seconds, then fails with one line.
The same limit bounds every lock wait of the run's own statements (an ``ALTER`` behind a long
reader, ``CREATE INDEX CONCURRENTLY`` waiting for older transactions, SQLite's COMMIT behind a
reader): PostgreSQL ``SET LOCAL lock_timeout`` in the run's transaction and ``lock_timeout``
for the statements outside it, MariaDB/MySQL ``lock_wait_timeout`` and
``innodb_lock_wait_timeout``, SQLite the busy timeout; each is given back when the run ends. A
wait that runs out is a ``MigrationLockTimeoutError`` (a ``ConflictError``: run it again)
naming the statement, its table and what was applied.
Where DDL is transactional (SQLite, PostgreSQL) the statements and the history row commit
together or not at all. Where it is not (MySQL/MariaDB), data checks run first, and the
history row records each statement as it completes: a failure names the statements applied
and the failing one, and the next run continues from there (a bare ``migrate`` re-reads the
schema, so what is left is what it plans; ``apply`` resumes a file at its failing statement).
Questions (data loss, suggested renames) go through a ``Questioner``: ``NoQuestions`` refuses,
a terminal asks; both paths are the same code. Callers: ``core.database``, ``files``.
What it leaves out: files (``core.migrations.files``) and printing.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.connection import Connection
from core.entity import EntityInfo
from core.errors import (
    ConflictError,
    DatabaseError,
    MigrationError,
    MigrationLockTimeoutError,
    OrmError,
    UnknownFieldError,
)
from core.migrations.diff import Suggestion
from core.migrations.history import History
from core.migrations.operations import Operation
from core.migrations.plan import MigrationPlan, make_plan, plan_from_ops
from core.migrations.reader import read_schema
from core.migrations.render import Statement
from core.migrations.schema import Schema, fingerprint

__all__ = [
    "LOCK_NAME",
    "MigrateOptions",
    "NoQuestions",
    "Questioner",
    "migrate",
    "migration_lock",
    "resolve_backfill",
    "run_plan",
]

LOCK_NAME = "ormcli_migrate."


class Questioner:
    """Asks the user (Django's questioner): the default answers no to everything."""

    def confirm_data_loss(self, plan: MigrationPlan) -> bool:
        return False

    def confirm_rename(self, suggestion: Suggestion) -> bool | None:
        """True: a rename; False: a drop and an add; None: no answer (refuse)."""
        return None


class NoQuestions(Questioner):
    """Non-interactive runs: nothing is confirmed."""


@dataclass
class MigrateOptions:
    allow_data_loss: bool = False
    dry_run: bool = False
    #: ``"Entity.field"`` (or ``"table.column"``) -> value filling its NULLs.
    backfill: Mapping[str, Any] = field(default_factory=dict)
    online: bool = False
    lock_timeout: float = 10.0
    questioner: Questioner = field(default_factory=NoQuestions)


@contextlib.contextmanager
def migration_lock(conn: Connection, timeout: float) -> Iterator[None]:
    """Hold the migration lock of this database (where the dialect has one) while inside."""
    d = conn.dialect
    if not d.lock_try_sql:
        yield
        return
    deadline = time.monotonic() + timeout
    while True:
        if d.try_migration_lock(conn, LOCK_NAME):
            break
        if time.monotonic() >= deadline:
            raise MigrationError(
                f"another migrate is running on this database (waited {timeout:g} s for its "
                "lock); try again when it is done, or raise --lock-timeout"
            )
        time.sleep(0.1)
    try:
        yield
    finally:
        with contextlib.suppress(OrmError):
            d.release_migration_lock(conn, LOCK_NAME)


def resolve_backfill(
    entities: Sequence[EntityInfo], conn: Connection, backfill: Mapping[str, Any]
) -> dict[tuple[str, str], Any]:
    """``{"Author.age": "30"}`` -> ``{("author", "age"): 30}`` (the value coerced to the
    field's type, then to what the driver takes)."""
    out: dict[tuple[str, str], Any] = {}
    for key, value in backfill.items():
        entity_name, dot, field_name = key.partition(".")
        info = next(
            (
                i
                for i in entities
                if entity_name.lower() in (i.cls.__name__.lower(), i.table.lower())
            ),
            None,
        )
        if not dot or info is None:
            known = ", ".join(i.cls.__name__ for i in entities)
            raise MigrationError(
                f"--backfill {key!r}: name a field as Entity.field (entities: {known})"
            )
        f = next((f for f in info.fields if field_name in (f.name, f.column)), None)
        if f is None:
            raise UnknownFieldError(
                f"--backfill {key!r}: {info.cls.__name__} has no field {field_name!r}"
            )
        if f.kind == "reference":
            target = f.target
            assert target is not None
            f = target.primary_key[0]
        coerced = f.coerce(value)
        out[(info.table.lower(), f.column.lower())] = conn.dialect.to_db_converter(f)(coerced)
    return out


def _decide(plan: MigrationPlan, options: MigrateOptions) -> None:
    """Raise ``MigrationError`` unless the plan may run as it is."""
    if plan.blocked:
        lines = "; ".join(f"{line.text}: {line.note}" for line in plan.blocked)
        raise MigrationError(f"nothing was applied: {lines}")
    if plan.suggestions and not options.allow_data_loss:
        s = plan.suggestions[0]
        raise MigrationError(
            f"nothing was applied: {s.describe()} (a drop and an add would lose its data); "
            f"if it is a rename, mark it: {s.hint}; if not, run with --allow-data-loss"
        )
    if (
        plan.data_loss
        and not options.allow_data_loss
        and not options.questioner.confirm_data_loss(plan)
    ):
        notes = "; ".join(line.note for line in plan.data_loss)
        raise MigrationError(
            f"nothing was applied: {notes}; rerun with --allow-data-loss to accept"
        )


def migrate(
    conn: Connection, entities: Sequence[EntityInfo], options: MigrateOptions
) -> MigrationPlan:
    """Bring the database to the models (see the module docstring); the plan, run or not."""
    backfill = resolve_backfill(entities, conn, options.backfill)

    def build(live: Schema) -> MigrationPlan:
        accepted: set[tuple[str, str, str, str]] = set()
        plan = make_plan(conn, entities, backfill=backfill, online=options.online, live=live)
        asked = False
        for s in plan.suggestions:
            answer = options.questioner.confirm_rename(s)
            if answer:
                accepted.add(s.key)
            asked = asked or answer is not None
        if accepted:
            plan = make_plan(
                conn,
                entities,
                accepted=frozenset(accepted),
                backfill=backfill,
                online=options.online,
                live=live,
            )
        if asked:  # answered no: a drop and an add, on the user's word
            plan.suggestions = [s for s in plan.suggestions if s.key in accepted]
        return plan

    return run_plan(conn, build, options, name="auto", kind="auto", checksum=None)


def run_plan(
    conn: Connection,
    build: Any,
    options: MigrateOptions,
    *,
    name: str,
    kind: str,
    checksum: str | None,
    record_empty: bool = False,
    resume: Any = None,
) -> MigrationPlan:
    """Lock, ``build(live_schema)`` the plan, decide, apply and record it as ``name``.

    ``resume`` (a history row) continues a failed run at its failing statement instead."""
    d = conn.dialect
    saved_waits = d.get_lock_waits(conn)
    if not d.lock_waits_local:  # else SET LOCAL in the transaction, and around what is outside
        d.set_lock_waits(conn, options.lock_timeout)  # the run's own waits end in time too
    try:
        return _run_locked(
            conn,
            build,
            options,
            name=name,
            kind=kind,
            checksum=checksum,
            record_empty=record_empty,
            resume=resume,
        )
    finally:
        if not conn.broken:
            with contextlib.suppress(OrmError):
                d.restore_lock_waits(conn, saved_waits)


def _run_locked(
    conn: Connection,
    build: Any,
    options: MigrateOptions,
    *,
    name: str,
    kind: str,
    checksum: str | None,
    record_empty: bool,
    resume: Any,
) -> MigrationPlan:
    d = conn.dialect
    with migration_lock(conn, options.lock_timeout):
        for sql in d.migrate_prologue_sql:
            conn.execute(sql, (), "prepare to migrate")
        transactional = d.transactional_ddl
        try:
            if transactional:
                try:
                    conn.begin()
                    if d.lock_waits_local:  # SET LOCAL: ends with this transaction
                        d.set_lock_waits(conn, options.lock_timeout, local=True)
                    live = read_schema(conn)
                except DatabaseError as exc:
                    conn.rollback()
                    raise MigrationError(
                        f"another migrate or writer holds the database (waited "
                        f"{options.lock_timeout:g} s): {exc}"
                    ) from exc
            else:
                live = read_schema(conn)
            try:
                plan: MigrationPlan = build(live)
                if not options.dry_run:
                    _decide(plan, options)
                if options.dry_run or (plan.empty and not record_empty):
                    if transactional:
                        conn.rollback()
                    return plan
                _apply(
                    conn,
                    plan,
                    name=name,
                    kind=kind,
                    checksum=checksum,
                    resume=resume,
                    timeout=options.lock_timeout,
                )
            except BaseException:
                if conn.in_transaction:
                    conn.rollback()
                raise
            return plan
        finally:
            for sql in d.migrate_epilogue_sql:
                with contextlib.suppress(OrmError):
                    conn.execute(sql, (), "finish migrating")


def _schema_json(schema: Schema) -> str:
    return json.dumps(schema.to_dict(), sort_keys=True)


def _apply(
    conn: Connection,
    plan: MigrationPlan,
    *,
    name: str,
    kind: str,
    checksum: str | None,
    resume: Any,
    timeout: float,
) -> None:
    d = conn.dialect
    history = History(conn)
    history.ensure()
    inside = [s for s in plan.sql if not s.outside_transaction]
    outside = [s for s in plan.sql if s.outside_transaction]
    # In the order they run (and are counted): the transaction's part, then the rest.
    statements: list[Statement] = [*inside, *outside]
    recorded = [[s.sql, list(s.params), *([s.flags()] if s.flags() else [])] for s in statements]
    start = 0
    if resume is not None:  # the statements of a failed run that committed part of its work
        row_id = resume.id
        start = resume.statements_applied
        if conn.in_transaction:
            conn.commit()  # nothing written yet: only the schema was read
    elif d.transactional_ddl:
        for i, s in enumerate(inside):
            try:
                conn.execute(s.sql, s.params, "migrate")
            except ConflictError as exc:
                raise _waited(s, i, len(statements), timeout, exc, NOTHING_ROLLED_BACK) from exc
            except DatabaseError as exc:
                raise MigrationError(
                    f"migrate failed at statement {i + 1} of {len(statements)} "
                    f"({s.sql.splitlines()[0]!r}): {exc}; nothing was applied (rolled back)"
                ) from exc
        # What the database says now is what later runs compare against (drift).
        plan.after = read_schema(conn)
        after = plan.fingerprint_after = fingerprint(plan.after, d.canonical_type)
        if d.foreign_key_check_sql and any(s.rebuild for s in statements):
            broken = conn.fetchall(d.foreign_key_check_sql, (), "check foreign keys")
            if broken:
                table, _rowid, parent = broken[0][0], broken[0][1], broken[0][2]
                raise MigrationError(
                    f"nothing was applied: {len(broken)} rows of {table} refer to {parent} "
                    "rows that do not exist after the rebuild"
                )
        # The run is recorded in the same transaction: both commit, or neither.
        row_id = history.start(
            name,
            kind,
            checksum=checksum,
            fingerprint_before=plan.fingerprint_before,
            statements=recorded,
            statements_applied=len(inside),
            finished_at=None,
            fingerprint_after=after if not outside else None,
            schema_after=_schema_json(plan.after),
        )
        try:
            conn.commit()
        except ConflictError as exc:  # SQLite: COMMIT waits for the readers to finish
            conn.rollback()  # a COMMIT that found the database busy leaves it open
            raise MigrationLockTimeoutError(
                f"migrate could not commit: it waited {timeout:g} s for other connections "
                f"reading the database to finish (--lock-timeout); {NOTHING_ROLLED_BACK}; "
                "run it again when they are done, or raise --lock-timeout",
                exc,
                retryable=True,
            ) from exc
        plan.applied = len(inside)
        if not outside:
            return
        # CREATE INDEX CONCURRENTLY, NOT VALID + VALIDATE: one at a time, each committed.
        start = len(inside)
    else:
        row_id = history.start(
            name,
            kind,
            checksum=checksum,
            fingerprint_before=plan.fingerprint_before,
            statements=recorded,
        )
    if d.lock_waits_local and start < len(statements):
        d.set_lock_waits(conn, timeout)  # SET LOCAL ended with the transaction
    for i in range(start, len(statements)):
        _one_by_one(conn, history, row_id, statements, i, timeout)
        plan.applied = i + 1
    plan.after = read_schema(conn)
    after = plan.fingerprint_after = fingerprint(plan.after, d.canonical_type)
    history.finish(
        row_id,
        applied=len(statements),
        fingerprint_after=after,
        schema_after=_schema_json(plan.after),
    )


NOTHING_ROLLED_BACK = "nothing was applied (rolled back)"
_TABLE = re.compile(
    r"\b(?:TABLE(?:\s+IF\s+(?:NOT\s+)?EXISTS)?|ON|INTO|UPDATE)\s+([`\"]?)([^\s`\"(]+)\1", re.I
)


def _waited(
    s: Statement, index: int, total: int, timeout: float, exc: BaseException, done: str
) -> MigrationLockTimeoutError:
    """The one line for a statement whose lock wait ran out (``--lock-timeout``)."""
    match = _TABLE.search(s.sql)
    table = f"table {match.group(2)}" if match else "its table"
    return MigrationLockTimeoutError(
        f"migrate stopped at statement {index + 1} of {total} ({s.sql.splitlines()[0]!r}): it "
        f"waited {timeout:g} s for a lock on {table} that another transaction holds "
        f"(--lock-timeout); {done}; run it again when that transaction has ended, or raise "
        "--lock-timeout",
        exc,
        retryable=True,
    )


def _one_by_one(
    conn: Connection,
    history: History,
    row_id: int,
    statements: list[Statement],
    index: int,
    timeout: float,
) -> None:
    """One statement outside a transaction, recorded as applied once it is. On failure, what
    it left half-made is removed (``Statement.cleanup``) and the error says what stays."""
    s, total = statements[index], len(statements)
    try:
        conn.execute(s.sql, s.params, "migrate")
    except DatabaseError as exc:
        applied = index
        removed = ""
        if s.cleanup:
            try:
                conn.execute(s.cleanup, (), "clean up after a failed online step")
            except DatabaseError as cleanup_exc:
                removed = f"; removing what it left half-made failed too ({cleanup_exc})"
            else:
                applied = index - s.rewind
                removed = f"; what it left half-made was removed ({s.cleanup!r})"
        history.fail(row_id, applied=applied, error=str(exc), statement=s.sql)
        done = (
            f"statements 1-{applied} of {total} are applied"
            if applied
            else "no statement of it is applied"
        )
        if isinstance(exc, ConflictError):
            raise _waited(
                s,
                index,
                total,
                timeout,
                exc,
                f"{done} and recorded in ormcli_migrations; it continues from statement "
                f"{applied + 1}",
            ) from exc
        raise MigrationError(
            f"migrate stopped at statement {index + 1} of {total} ({s.sql.splitlines()[0]!r}): "
            f"{exc}{removed}; {done} and recorded in ormcli_migrations; fix the cause and run "
            f"it again to continue from statement {applied + 1}"
        ) from exc
    history.update(row_id, statements_applied=index + 1)


def pending_resume(conn: Connection, name: str) -> Any:
    """The history row of a failed run of ``name`` to continue, if the last run failed."""
    rows = History(conn).rows()
    if rows and rows[-1].name == name and not rows[-1].complete:
        return rows[-1]
    return None


def plan_ops(conn: Connection, ops: list[Operation], live: Schema, online: bool) -> MigrationPlan:
    return plan_from_ops(conn, ops, live, online=online)
