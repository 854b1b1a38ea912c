"""Runs a commit plan inside one transaction and reports what the database assigned.

A thin loop over ``core.unitofwork`` steps: build each statement's parameter rows (with the
keys generated for parent rows earlier in the same transaction), send it, and read generated
keys back. Each step becomes statements, each paired with the function that reads its result,
so the same statements run one by one or, where the dialect pipelines and no row waits for a
generated key, all in one round trip. Returned keys are matched to their objects by the
content of the row, never by the order of the returned rows and never by arithmetic on ids.
Nothing here changes an object: the generated keys go into ``PersistResult`` and
``core.session`` applies them only after the transaction committed. Callers:
``core.session``. What it leaves out: planning, transactions (the session begins, commits or
rolls back), and in-memory bookkeeping.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from itertools import chain
from typing import Any

from core.codec import EntityCodec
from core.connection import Connection
from core.dialects.base import Dialect
from core.entity import EntityInfo
from core.errors import ConflictError, DatabaseError, IntegrityError
from core.sql import update_batches
from core.unitofwork import (
    DeleteStep,
    InsertStep,
    PostUpdateStep,
    Step,
    UpdateStep,
    UpsertStep,
    VersionedStep,
)

__all__ = ["PersistResult", "VersionConflict", "preview", "run"]


class PersistResult:
    """What the database assigned, and counts of what was sent.

    ``inserted`` has one entry per INSERT statement: the entity, the objects, and the keys the
    database generated for them in the same order (None when the objects carried their keys).
    """

    def __init__(self) -> None:
        self.inserted: list[tuple[EntityInfo, list[Any], list[Any] | None]] = []
        #: One entry per upsert statement: its step and, per object in the step's order, the
        #: stored values of the fields read back (``step.read`` without the ``on`` fields; a
        #: reference as its key), converted from the driver's values.
        self.upserted: list[tuple[UpsertStep, list[dict[str, Any]]]] = []
        self.inserts = 0
        self.upserts = 0
        self.updates = 0
        self.deletes = 0
        self.statements = 0


def _context(info: EntityInfo, verb: str) -> str:
    return f"cannot {verb} {info.cls.__name__}"


#: One statement of a commit: SQL, parameters, the error context, and what reads its result.
_Sent = tuple[str, Sequence[Any], str, Callable[[Any], None]]


def run(
    steps: list[Step], conn: Connection, codec: Callable[[EntityInfo], EntityCodec]
) -> PersistResult:
    """Execute ``steps`` on ``conn`` (already inside a transaction).

    Where the dialect pipelines and no row needs a key generated earlier in the same commit,
    every statement goes out before any result is read (one round trip); otherwise each
    statement's result is read before the next statement is built.
    """
    if PostUpdateStep not in map(type, steps):
        return _run(steps, conn, codec, _nothing_to_restore)  # (no references to put back)
    with _inserted_as_null(steps) as restore:
        return _run(steps, conn, codec, restore)


def _nothing_to_restore() -> None:
    """The ``restore`` of a plan without post-updates: no reference was set to NULL."""


@contextlib.contextmanager
def _inserted_as_null(steps: list[Step]) -> Iterator[Callable[[], None]]:
    """References that a ``PostUpdateStep`` sets are NULL while the rows are inserted; the
    function yielded (called before the first post-update, and on the way out) puts them back."""
    saved: list[tuple[dict[str, Any], str, Any]] = []
    for step in steps:
        if isinstance(step, PostUpdateStep) and not step.clear:
            name = step.field.name
            for o in step.objs:
                d = o.__dict__
                saved.append((d, name, d.get(name)))
                d[name] = None

    def restore() -> None:
        while saved:
            d, name, value = saved.pop()
            d[name] = value

    try:
        yield restore
    finally:
        restore()


def _run(
    steps: list[Step],
    conn: Connection,
    codec: Callable[[EntityInfo], EntityCodec],
    restore: Callable[[], None],
) -> PersistResult:
    result = PersistResult()
    # Keys generated earlier in this transaction, for rows that reference those objects
    # (``id(obj) -> key``); kept only when some entity of the plan has references.
    pending: dict[int, Any] | None = {} if any(s.entity.references for s in steps) else None
    dialect = conn.dialect
    before = conn.statements + conn.begin_pending  # a BEGIN sent with the first one is not ours
    if pending is None and dialect.pipelines and all(_simple(s, dialect) for s in steps):
        readers: list[Callable[[Any], None]] = []

        def texts() -> Iterator[tuple[str, Sequence[Any], str]]:
            for step in steps:
                for sql, params, ctx, read in _statements(step, dialect, codec, None, result):
                    readers.append(read)
                    yield sql, params, ctx

        for read, cur in zip(readers, conn.execute_pipelined(texts()), strict=True):
            read(cur)
    else:
        for step in steps:
            if type(step) is UpdateStep and len(step.objs) == 1:
                # A request's one changed object: one statement, its row count checked
                # (what ``_update_statements`` yields for it, without the generators).
                c = codec(step.entity)
                ctx = _context(step.entity, "update")
                cur = conn.execute(step.sql(dialect), list(_update_rows(step, c, pending)[0]), ctx)
                _read_one_update(cur, ctx)
                result.updates += 1
                continue
            if isinstance(step, PostUpdateStep):
                restore()
            if _simple(step, dialect):
                for sql, params, ctx, read in _statements(step, dialect, codec, pending, result):
                    read(conn.execute(sql, params, ctx))
            else:
                _run_many(step, conn, codec(step.entity), pending, result)
    result.statements = conn.statements - before
    return result


def _simple(step: Step, dialect: Dialect) -> bool:
    """Whether a step is plain statements (``_statements``): no executemany and no
    row-by-row generated ids (``_run_many``)."""
    if isinstance(step, InsertStep):
        return not step.row_by_row
    if isinstance(step, UpdateStep):
        return len(step.objs) == 1 or dialect.update_form != "executemany"
    if isinstance(step, PostUpdateStep | VersionedStep):
        return False
    if isinstance(step, UpsertStep):
        return True
    return step.one_statement(dialect)


def _statements(
    step: Step,
    dialect: Dialect,
    codec: Callable[[EntityInfo], EntityCodec],
    pending: dict[int, Any] | None,
    result: PersistResult,
) -> Iterator[_Sent]:
    """The statements of a simple step, each built when asked for (so that keys generated
    by earlier statements are known), with what reads its result."""
    info = step.entity
    c = codec(info)
    if isinstance(step, InsertStep):
        yield from _insert_statements(step, dialect, c, pending, result)
        result.inserts += len(step.objs)
    elif isinstance(step, UpdateStep):
        yield from _update_statements(step, dialect, c, pending)
        result.updates += len(step.objs)
    elif isinstance(step, UpsertStep):
        yield from _upsert_statements(step, dialect, c, pending, result)
        result.upserts += len(step.objs)
    elif isinstance(step, DeleteStep):
        yield (
            step.sql(dialect),
            _delete_params(step, dialect, c),
            _context(info, "delete"),
            _nothing,
        )
        result.deletes += len(step.pks)


def _delete_params(step: DeleteStep, dialect: Dialect, c: EntityCodec | None) -> list[Any]:
    """The parameters of a one-statement delete step: the keys, an array of them, one array
    per key column, or a composite key's values row after row (``c``: converted for the
    driver; None: as the objects hold them, for ``preview``)."""
    pk = step.entity.primary_key
    if len(pk) == 1:
        keys = step.pks if c is None else _keys_to_db(c, pk[0], step.pks)
        return [keys] if step.uses_arrays(dialect) else keys
    rows = step.pks if c is None else _composite_keys_to_db(c, step)
    if step.uses_arrays(dialect):
        return [list(column) for column in zip(*rows, strict=True)]
    return [v for row in rows for v in row]


def _composite_keys_to_db(c: EntityCodec, step: DeleteStep) -> list[list[Any]]:
    """A composite-key delete step's keys, one row of driver values per key."""
    pk = step.entity.primary_key
    return [[c.value_to_db(f, k) for f, k in zip(pk, key, strict=True)] for key in step.pks]


def _nothing(cur: Any) -> None:
    """A result with nothing to read (a DELETE: a row deleted meanwhile is already gone)."""


def _insert_statements(
    step: InsertStep,
    dialect: Dialect,
    c: EntityCodec,
    pending: dict[int, Any] | None,
    result: PersistResult,
) -> Iterator[_Sent]:
    info = step.entity
    rows = c.rows(step.columns)(step.objs, pending)
    ctx = _context(info, "insert")
    if not step.returning:  # the objects carry their keys
        sql = step.sql(dialect)
        sent: list[Sequence[Any]]
        if (len(rows) == 1 and not step.uses_arrays(dialect)) or not step.columns:
            sent = list(rows)
        else:
            sent = [_batch_params(step, dialect, rows)]

        def recorded(cur: Any) -> None:
            result.inserted.append((info, step.objs, None))

        for i, params in enumerate(sent):
            yield sql, params, ctx, recorded if i == len(sent) - 1 else _nothing
        return
    narrowed, by_value = narrow_match(step, rows)

    def matched(cur: Any) -> None:
        objs, keys = _match_returned(narrowed, rows, cur.fetchall(), by_value, ctx)
        _record_inserted(step, objs, keys, c, pending, result)

    yield narrowed.sql(dialect), _batch_params(narrowed, dialect, rows), ctx, matched


def _upsert_rows(
    step: UpsertStep, dialect: Dialect, c: EntityCodec, pending: dict[int, Any] | None
) -> tuple[list[tuple[Any, ...]], list[Any], list[Any]]:
    """An upsert step's parameter rows, its statement's parameters, and the ``on`` values
    of each row (one value, or a tuple for several ``on`` fields), as the driver sends them."""
    rows = c.rows(step.columns)(step.objs, pending)
    at = [step.columns.index(n) for n in step.spec.on]
    if len(at) == 1:
        keys = [row[at[0]] for row in rows]
    else:
        keys = [tuple([row[i] for i in at]) for row in rows]
    if step.uses_arrays(dialect):
        params: list[Any] = [list(column) for column in zip(*rows, strict=True)]
    else:
        params = list(chain.from_iterable(rows))
    return rows, params, keys


def _upsert_statements(
    step: UpsertStep,
    dialect: Dialect,
    c: EntityCodec,
    pending: dict[int, Any] | None,
    result: PersistResult,
) -> Iterator[_Sent]:
    """The upsert statement and, where it cannot return rows, the SELECT of the same rows by
    their ``on`` values; the last one's reader matches the rows to the objects."""
    info = step.entity
    ctx = _context(info, "upsert")
    _rows, params, keys = _upsert_rows(step, dialect, c, pending)

    def matched(cur: Any) -> None:
        _match_upserted(step, keys, cur.fetchall(), c, pending, result, ctx)

    if step.returns(dialect):
        yield step.sql(dialect), params, ctx, matched
        return
    yield step.sql(dialect), params, ctx, _nothing
    select_params = list(keys) if len(step.spec.on) == 1 else [v for key in keys for v in key]
    yield step.select_sql(dialect), select_params, ctx, matched


def _match_upserted(
    step: UpsertStep,
    keys: list[Any],
    returned: list[Any],
    c: EntityCodec,
    pending: dict[int, Any] | None,
    result: PersistResult,
    ctx: str,
) -> None:
    """Pair the rows an upsert gave back with its objects by their ``on`` values (distinct in
    a step), never by order; convert the rest of each row for the session."""
    n_on = len(step.spec.on)
    by_key: dict[Any, int] = {}
    for i, key in enumerate(keys):
        by_key[key] = i
    values: list[dict[str, Any] | None] = [None] * len(keys)
    info = step.entity
    names = step.read[n_on:]
    converters = [c.from_db[n] for n in names]
    plain = all(conv is None for conv in converters)
    auto = info.autoincrement
    at_auto = names.index(auto.name) + n_on if auto is not None and auto.name in names else -1
    objs = step.objs
    for ret in returned:
        key = ret[0] if n_on == 1 else tuple(ret[:n_on])
        try:
            i = by_key.pop(key)
        except (KeyError, TypeError):
            raise _other_key(step, ctx) from None
        if plain:
            values[i] = dict(zip(names, ret[n_on:], strict=True))
        else:
            values[i] = {
                n: v if v is None or conv is None else conv(v)
                for n, conv, v in zip(names, converters, ret[n_on:], strict=True)
            }
        if pending is not None and at_auto >= 0:
            pending[id(objs[i])] = ret[at_auto]
    if by_key:
        raise DatabaseError(
            f"{ctx}: {len(keys)} rows were upserted but {len(keys) - len(by_key)} came back; "
            "nothing was saved"
        )
    result.upserted.append((step, values))  # type: ignore[arg-type]


def _other_key(step: UpsertStep, ctx: str) -> IntegrityError:
    """A row came back that no object of the step has by its ``on`` values: the database
    took the update branch through another unique constraint (MariaDB/MySQL's ON DUPLICATE
    KEY UPDATE fires on any unique key)."""
    info, on = step.entity, step.spec.on
    others: list[tuple[str, ...]] = [(f.name,) for f in info.fields if f.unique]
    others += [tuple(f.name for f in info.primary_key)]
    others += [fields for fields, unique, _ in info.indexes if unique]
    others = [o for o in dict.fromkeys(others) if set(o) != set(on)]
    label = " or ".join(", ".join(o) for o in others) or "another key"
    name = info.cls.__name__
    return IntegrityError(
        f"{ctx}: UNIQUE constraint failed on {name}.{label}: a staged row met an existing row "
        f"through {label}, not through on={', '.join(on)}; nothing was saved",
        entity=name,
        field=others[0][0] if len(others) == 1 and len(others[0]) == 1 else None,
        kind="UNIQUE",
    )


def _update_statements(
    step: UpdateStep, dialect: Dialect, c: EntityCodec, pending: dict[int, Any] | None
) -> Iterator[_Sent]:
    """The statements of one update step; the last one's reader checks the row count."""
    rows = _update_rows(step, c, pending)
    ctx = _context(step.entity, "update")
    batches = update_batches(dialect, step.entity, step.columns, rows)
    if batches is None:  # one row (a request's change): one statement, its row count checked
        yield step.sql(dialect), list(rows[0]), ctx, partial(_read_one_update, ctx=ctx)
        return
    counted: list[int | None] = [0]  # rows the statements so far updated (None: unknown)
    for i, (sql, params, _) in enumerate(batches):

        def read(cur: Any, last: bool = i == len(batches) - 1) -> None:
            n, total = cur.rowcount, counted[0]
            counted[0] = None if total is None or n is None or n < 0 else total + n
            if last and counted[0] is not None:
                _check_updated(counted[0], len(rows), ctx)

        yield sql, params, ctx, read


def _run_many(
    step: Step,
    conn: Connection,
    c: EntityCodec,
    pending: dict[int, Any] | None,
    result: PersistResult,
) -> None:
    """A step that is not plain statements: row-by-row generated ids, or an executemany."""
    dialect = conn.dialect
    info = step.entity
    if isinstance(step, VersionedStep):
        _run_versioned(step, conn, c, pending, result)
    elif isinstance(step, InsertStep):  # row by row
        rows = c.rows(step.columns)(step.objs, pending)
        ctx = _context(info, "insert")
        sql = step.sql(dialect)
        if step.returning:
            keys = [conn.execute(sql, row, ctx).fetchone()[0] for row in rows]
        else:  # no RETURNING: each statement reports its own key
            keys = conn.insert_ids(sql, rows, ctx)
        _record_inserted(step, step.objs, keys, c, pending, result)
        result.inserts += len(step.objs)
    elif isinstance(step, UpdateStep):
        rows = _update_rows(step, c, pending)
        ctx = _context(info, "update")
        count = conn.executemany(step.sql(dialect), rows, ctx)
        if count is not None and count >= 0:
            _check_updated(count, len(rows), ctx)
        result.updates += len(step.objs)
    elif isinstance(step, PostUpdateStep):
        rows = _post_update_rows(step, c, pending)
        conn.executemany(step.sql(dialect), rows, _context(info, "update"))
        result.updates += len(step.objs)
    else:  # composite keys, one row per statement
        assert isinstance(step, DeleteStep)  # (an UpsertStep is always plain statements)
        pks = _composite_keys_to_db(c, step)
        conn.executemany(step.sql(dialect), pks, _context(info, "delete"))
        result.deletes += len(step.pks)


def _versioned_rows(
    step: VersionedStep, c: EntityCodec, pending: dict[int, Any] | None
) -> list[tuple[Any, ...]]:
    """Per object: the changed columns and the next version (UPDATE only), then the key and
    the version loaded."""
    info = step.entity
    version = info.version_field
    assert version is not None
    names = (*step.columns, *(f.name for f in info.primary_key), version.name)
    rows = c.rows(names)(step.objs, pending)
    if not step.columns:
        return [tuple(r) for r in rows]
    n = len(step.columns)
    return [(*r[:n], r[-1] + 1, *r[n:]) for r in rows]


def _run_versioned(
    step: VersionedStep,
    conn: Connection,
    c: EntityCodec,
    pending: dict[int, Any] | None,
    result: PersistResult,
) -> None:
    """A versioned UPDATE or DELETE batch; a row whose version moved fails the commit."""
    info = step.entity
    rows = _versioned_rows(step, c, pending)
    verb = "update" if step.columns else "remove"
    ctx = _context(info, "update" if step.columns else "delete")
    count = conn.executemany(step.sql(conn.dialect), rows, ctx)
    if count is not None and 0 <= count < len(rows):
        raise _version_conflict(step, verb)
    if step.columns:
        result.updates += len(step.objs)
    else:
        result.deletes += len(step.objs)


class VersionConflict(ConflictError):
    """A versioned batch matched fewer rows than it sent. ``core.session`` names the object
    after the rollback (``objs`` / ``pks``: the batch; ``verb``: update or remove)."""

    def __init__(
        self, message: str, info: EntityInfo, objs: list[Any], pks: list[Any], verb: str
    ) -> None:
        super().__init__(message)
        self.info = info
        self.objs = objs
        self.pks = pks
        self.verb = verb


def _version_conflict(step: VersionedStep, verb: str) -> VersionConflict:
    name = step.entity.cls.__name__
    return VersionConflict(
        f"cannot {verb} {name}: a row was changed or removed by someone else since it was "
        "loaded; refresh the objects (session.refresh) and commit again",
        step.entity,
        step.objs,
        step.pks,
        verb,
    )


def _record_inserted(
    step: InsertStep,
    objs: list[Any],
    keys: list[Any],
    c: EntityCodec,
    pending: dict[int, Any] | None,
    result: PersistResult,
) -> None:
    """Note the generated keys: for later rows that reference them, and for the session."""
    auto = step.entity.autoincrement
    assert auto is not None
    from_db = c.from_db[auto.name]
    if pending is not None:
        pending.update(zip(map(id, objs), keys, strict=True))
    if from_db is not None:
        keys = [None if k is None else from_db(k) for k in keys]
    result.inserted.append((step.entity, objs, keys))


def _match_returned(
    step: InsertStep,
    rows: list[tuple[Any, ...]],
    returned: list[Any],
    by_value: dict[Any, Any] | None,
    ctx: str,
) -> tuple[list[Any], list[Any]]:
    """The objects of a multi-row INSERT ... RETURNING and their keys, matched by content."""
    if len(returned) != len(rows):
        raise DatabaseError(
            f"{ctx}: {len(rows)} rows were inserted but {len(returned)} keys came back"
        )
    keys = [ret[0] for ret in returned]
    if by_value is not None:
        # One column whose values are distinct within the batch: a plain lookup (a value
        # that matches nothing, or matches twice, fails the lookup).
        try:
            return list(map(by_value.pop, [ret[1] for ret in returned])), keys
        except (KeyError, TypeError):
            raise _unmatched(ctx) from None
    waiting: dict[tuple[Any, ...], list[Any]] = {}
    match = step.match
    whole_row = match == tuple(range(len(step.columns)))
    for obj, row in zip(step.objs, rows, strict=True):
        value_key = row if whole_row else tuple([row[i] for i in match])
        bucket = waiting.get(value_key)
        if bucket is None:
            waiting[value_key] = [obj]
        else:
            bucket.append(obj)
    objs = []
    for ret in returned:
        bucket = waiting.get(ret[1:])
        if not bucket:
            raise _unmatched(ctx)
        # Rows with equal values are indistinguishable; any pairing among them is exact.
        objs.append(bucket.pop())
    return objs, keys


def _unmatched(ctx: str) -> DatabaseError:
    return DatabaseError(
        f"{ctx}: a returned row matched none of the inserted objects; nothing was saved"
    )


def narrow_match(
    step: InsertStep, rows: list[tuple[Any, ...]]
) -> tuple[InsertStep, dict[Any, Any] | None]:
    """Match returned keys on one column when its values are distinct within the batch.

    The rows RETURNING sends back are exactly this statement's rows, so a column with no
    repeated value in the batch identifies each of them; fewer columns come back, and the
    lookup is by one value instead of a tuple. Returns the step to run and, when one column
    does it, ``{value: obj}`` for that column; else the step unchanged and None.
    """
    if not step.match:
        return step, None
    for at in step.match:
        try:
            by_value = dict(zip([row[at] for row in rows], step.objs, strict=True))
        except TypeError:  # an unhashable driver value
            continue
        if len(by_value) == len(rows):
            auto = step.returning[0]
            found = InsertStep(
                step.entity,
                step.objs,
                step.columns,
                (auto, step.columns[at]),
                (at,),
                step.row_by_row,
            )
            return found, by_value
    return step, None


def _batch_params(step: InsertStep, dialect: Dialect, rows: list[tuple[Any, ...]]) -> list[Any]:
    """The parameters of a multi-row INSERT: flat, or one array per column."""
    if step.uses_arrays(dialect):
        return [list(column) for column in zip(*rows, strict=True)]
    return list(chain.from_iterable(rows))


def _check_updated(count: int, expected: int, ctx: str) -> None:
    """A row that was not there to update was deleted or changed by someone else."""
    if count < expected:
        raise ConflictError(
            f"{ctx}: {expected - count} of {expected} rows were deleted or changed by "
            "someone else since they were loaded; refresh them and try again"
        )


def _read_one_update(cur: Any, ctx: str) -> None:
    """The row count of a one-row UPDATE: no row matched means it was deleted or changed."""
    n = cur.rowcount
    if n is not None and n >= 0:
        _check_updated(n, 1, ctx)


def _update_rows(
    step: UpdateStep, c: EntityCodec, pending: dict[int, Any] | None
) -> list[tuple[Any, ...]]:
    """One parameter row per object: the changed columns, then the key (which cannot change);
    the rows the change set made, when it made them."""
    if step.rows is not None:
        return step.rows
    pk_names = (f.name for f in step.entity.primary_key)
    return c.rows((*step.columns, *pk_names))(step.objs, pending)


def _post_update_rows(
    step: PostUpdateStep, c: EntityCodec, pending: dict[int, Any] | None
) -> list[tuple[Any, ...]]:
    """The reference's value, then the key (one generated in this transaction from
    ``pending``)."""
    info = step.entity
    if step.clear:  # NULL, then the key (rows about to be deleted: loaded, keys known)
        keys = c.rows(tuple(f.name for f in info.primary_key))(step.objs, pending)
        return [(None, *key) for key in keys]
    auto = info.autoincrement
    rows = c.rows((step.field.name, *(f.name for f in info.primary_key)))(step.objs, pending)
    if auto is None or not pending:
        return rows
    return [
        (row[0], pending[id(o)]) if id(o) in pending else row
        for o, row in zip(step.objs, rows, strict=True)
    ]


def _keys_to_db(c: EntityCodec, f: Any, pks: list[Any]) -> list[Any]:
    """Key values for the driver; plain int keys (the common case) pass straight through."""
    if f.kind == "int" and set(map(type, pks)) <= {int}:
        return pks
    return [c.value_to_db(f, pk) for pk in pks]


def preview(
    steps: list[Step], dialect: Dialect, codec: Callable[[EntityInfo], EntityCodec]
) -> list[tuple[str, list[Any], int]]:
    """``(sql, params, rows)`` per statement a commit would send; nothing is executed.

    Keys the database has not generated yet appear as ``<new User #1 id>``.
    """
    with _inserted_as_null(steps) as restore:
        return _preview(steps, dialect, codec, restore)


def _preview(
    steps: list[Step],
    dialect: Dialect,
    codec: Callable[[EntityInfo], EntityCodec],
    restore: Callable[[], None],
) -> list[tuple[str, list[Any], int]]:
    out: list[tuple[str, list[Any], int]] = []
    pending: dict[int, Any] = {}
    counters: dict[EntityInfo, int] = {}
    for step in steps:
        c = codec(step.entity)
        sql = step.sql(dialect)
        if isinstance(step, PostUpdateStep):
            restore()
            out.extend((sql, list(r), 1) for r in _post_update_rows(step, c, pending))
            continue
        if isinstance(step, VersionedStep):
            vrows = _versioned_rows(step, c, pending)
            out.append((sql, list(chain.from_iterable(vrows)), len(step.objs)))
            continue
        if isinstance(step, UpsertStep):
            urows = c.rows(step.columns)(step.objs, pending)
            auto = step.entity.autoincrement
            for o in step.objs:  # referrers later in the plan show a placeholder for its key
                if auto is not None and not step.entity.has_pk(o):
                    n = counters[step.entity] = counters.get(step.entity, 0) + 1
                    pending[id(o)] = _Placeholder(f"<upserted {step.entity.cls.__name__} #{n} id>")
                else:
                    pending.setdefault(id(o), step.entity.pk_of(o))
            params = (
                [list(col) for col in zip(*urows, strict=True)]
                if step.uses_arrays(dialect)
                else list(chain.from_iterable(urows))
            )
            out.append((sql, params, len(urows)))
            if not step.returns(dialect):
                at = [step.columns.index(n) for n in step.spec.on]
                keys = [row[i] for row in urows for i in at]
                out.append((step.select_sql(dialect), keys, len(urows)))
            continue
        if isinstance(step, InsertStep):
            rows = c.rows(step.columns)(step.objs, pending)
            if step.returning and not step.row_by_row:
                step, _ = narrow_match(step, rows)
                sql = step.sql(dialect)
            auto = step.entity.autoincrement
            for o in step.objs:
                if auto is not None and not step.entity.has_pk(o):
                    n = counters[step.entity] = counters.get(step.entity, 0) + 1
                    pending[id(o)] = _Placeholder(f"<new {step.entity.cls.__name__} #{n} id>")
                elif auto is None or step.entity.has_pk(o):
                    pending.setdefault(id(o), step.entity.pk_of(o))
            if step.row_by_row:
                out.extend((sql, list(r), 1) for r in rows)
            else:
                out.append((sql, _batch_params(step, dialect, rows), len(rows)))
        elif isinstance(step, UpdateStep):
            urows = _update_rows(step, c, pending)
            batches = update_batches(dialect, step.entity, step.columns, urows)
            if batches is not None:
                out.extend(batches)
                continue
            out.append((sql, list(chain.from_iterable(urows)), len(step.objs)))
        else:
            out.append((sql, _delete_params(step, dialect, None), len(step.pks)))
    return out


class _Placeholder:
    """Stands for a key the database will generate (shown by ``pending_sql``)."""

    __slots__ = ("label",)

    def __init__(self, label: str) -> None:
        self.label = label

    def __repr__(self) -> str:
        return self.label
