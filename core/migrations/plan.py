"""A migration plan: the operations, what each does to the data, and the SQL, as one object.

``make_plan(conn, entities, ...)`` reads the live schema, diffs it against the models,
checks the data and renders the statements; nothing is written. The plan prints as ``+ ~ -``
lines (what, why, rows affected, lock level). Callers: ``core.migrations.runner``,
``core.database`` (``migration_plan``) and ``ormcli``. What it leaves out: running it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.connection import Connection
from core.entity import EntityInfo
from core.migrations.checks import BLOCKED, LOSS, Finding, assess
from core.migrations.diff import Suggestion, compare
from core.migrations.model import desired_schema
from core.migrations.operations import (
    AddCheck,
    AddColumn,
    AddForeignKey,
    AlterColumn,
    CreateIndex,
    Operation,
    apply_ops,
)
from core.migrations.order import fail_first
from core.migrations.reader import read_schema
from core.migrations.render import Statement, render
from core.migrations.schema import Schema, fingerprint

__all__ = ["MigrationPlan", "PlanLine", "make_plan"]


@dataclass(frozen=True)
class PlanLine:
    """One operation as the plan shows it."""

    symbol: str
    text: str
    risk: str
    rows: int | None
    note: str
    lock: str

    def __str__(self) -> str:
        extra = []
        if self.note:
            extra.append(self.note)
        elif self.rows:
            extra.append(f"{self.rows} rows")
        if self.lock:
            extra.append(f"lock: {self.lock}")
        tail = f"  [{'; '.join(extra)}]" if extra else ""
        mark = {"data loss": " (DATA LOSS)", "blocked": " (BLOCKED)"}.get(self.risk, "")
        return f"{self.symbol} {self.text}{mark}{tail}"


@dataclass
class MigrationPlan:
    """What ``migrate`` would do: operations, their findings, statements; nothing run."""

    ops: list[Operation] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    sql: list[Statement] = field(default_factory=list)
    suggestions: list[Suggestion] = field(default_factory=list)
    lines: list[PlanLine] = field(default_factory=list)
    before: Schema = field(default_factory=Schema)
    after: Schema = field(default_factory=Schema)
    fingerprint_before: str = ""
    fingerprint_after: str = ""
    #: Set once run: statements that went through.
    applied: int = 0

    @property
    def statements(self) -> list[str]:
        return [s.sql for s in self.sql]

    @property
    def empty(self) -> bool:
        return not self.ops

    @property
    def blocked(self) -> list[PlanLine]:
        return [line for line in self.lines if line.risk == BLOCKED]

    @property
    def data_loss(self) -> list[PlanLine]:
        return [line for line in self.lines if line.risk == LOSS]

    @property
    def refused(self) -> list[str]:
        """Why the plan cannot run as it is (blocked steps and undecided renames)."""
        out = [f"{line.text}: {line.note}" for line in self.blocked]
        out += [f"{s.describe()}; {s.hint}" for s in self.suggestions]
        return out

    def text(self) -> list[str]:
        return [str(line) for line in self.lines]


def _lock(conn: Connection, op: Operation, online: bool, created: set[str]) -> str:
    levels = conn.dialect.lock_levels
    key = op.kind
    if op.table in created:
        return "none (new table)"
    if (
        conn.dialect.alter_column_form == "rebuild"
        and op.kind
        not in (
            "create_table",
            "create_index",
            "drop_index",
            "rename_table",
            "rename_column",
            "drop_table",
            "backfill",
        )
        and not (isinstance(op, AddColumn) and (op.column.nullable or op.column.default))
    ):
        key = "rebuild"
    elif isinstance(op, AlterColumn):
        if "type" in op.changes:
            key = "alter_type"
        elif "nullable" in op.changes and not op.new.nullable:
            key = "set_not_null"
        elif "numbering" in op.changes and conn.dialect.alter_column_form == "modify":
            key = "alter_type"  # MySQL copies the table to add or drop AUTO_INCREMENT
    elif isinstance(op, CreateIndex | AddForeignKey | AddCheck) and online:
        key = f"{op.kind}_online"
    return levels.get(key) or levels.get("default", "")


def plan_from_ops(
    conn: Connection,
    ops: list[Operation],
    live: Schema,
    *,
    online: bool = False,
    check_data: bool = True,
) -> MigrationPlan:
    """Check and render given operations (a versioned file's) against the live schema.

    ``check_data=False``: ``live`` is not this database's schema (a file planned against
    the schema the files make), so the rows are not counted. Where DDL is not
    transactional, the steps most likely to fail run first (``core.migrations.order``): a
    failure then leaves as little applied as it can."""
    if not conn.dialect.transactional_ddl:
        ops = fail_first(ops, conn.dialect)
    plan = MigrationPlan(ops=ops, before=live)
    plan.findings = assess(conn, ops, live) if ops and check_data else [Finding()] * len(ops)
    plan.sql = render(ops, conn.dialect, live, online=online)
    plan.after = apply_ops(live, ops)
    plan.fingerprint_before = fingerprint(live, conn.dialect.canonical_type)
    created = {op.table for op in ops if op.kind == "create_table"}
    for op, finding in zip(ops, plan.findings, strict=True):
        plan.lines.append(
            PlanLine(
                op.symbol,
                op.describe(conn.dialect.sql_type),
                finding.risk,
                finding.rows,
                finding.note,
                _lock(conn, op, online, created),
            )
        )
    return plan


def make_plan(
    conn: Connection,
    entities: Sequence[EntityInfo],
    *,
    accepted: frozenset[tuple[str, str, str, str]] = frozenset(),
    backfill: Mapping[tuple[str, str], Any] | None = None,
    online: bool = False,
    live: Schema | None = None,
) -> MigrationPlan:
    """The plan that brings the connection's database to ``entities``; nothing is written."""
    if live is None:
        live = read_schema(conn)
    diff = compare(
        live,
        desired_schema(entities),
        conn.dialect,
        entities=entities,
        accepted=accepted,
        backfill=backfill,
    )
    plan = plan_from_ops(conn, diff.ops, live, online=online)
    plan.suggestions = diff.suggestions
    return plan
