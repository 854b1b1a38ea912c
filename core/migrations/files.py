"""Versioned migration files under ``migrations/``: plan, apply, status, undo, mark, squash, check.

A file ``NNNN_name.json`` holds *neutral operations* (``core.migrations.operations`` as JSON):
``up``, ``down`` (the reverse steps, in reverse order), ``irreversible`` (what ``down`` cannot
give back, e.g. the rows of a dropped column), a ``checksum`` over ``up`` and ``down``, and
``review``: the SQL for the backend it was planned on, for reading in a code review. Applying
renders the operations for whichever backend runs them, so a team testing on SQLite and
deploying on PostgreSQL shares the same files (per-dialect SQL files would have to be written
and kept in step once per backend; the operations say what was meant, and the renderer is
tested on all three). Applied files are recorded in ``ormcli_migrations``; a file edited after
it was applied (checksum) or a schema changed outside migrate (fingerprint) is *drift*, named,
never "fixed" by resetting anything. Callers: ``ormcli migrate`` subcommands.
What it leaves out: data migrations (Python code) and branching histories.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.connection import Connection
from core.errors import MigrationError
from core.migrations.diff import compare
from core.migrations.history import History, HistoryRow
from core.migrations.model import desired_schema
from core.migrations.operations import (
    Backfill,
    DropColumn,
    DropTable,
    Operation,
    apply_ops,
    op_from_dict,
    op_to_dict,
)
from core.migrations.plan import MigrationPlan, make_plan, plan_from_ops
from core.migrations.reader import read_schema
from core.migrations.render import render
from core.migrations.runner import MigrateOptions, resolve_backfill, run_plan
from core.migrations.schema import Schema, fingerprint

__all__ = ["Directory", "MigrationFile", "check", "status"]

_NAME = re.compile(r"^(\d{4})_([A-Za-z0-9_]+)\.json$")


def _checksum(up: list[dict[str, Any]], down: list[dict[str, Any]]) -> str:
    text = json.dumps({"up": up, "down": down}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class MigrationFile:
    path: Path
    name: str
    up: list[Operation]
    down: list[Operation]
    irreversible: list[str]
    checksum: str
    squashes: list[str] = field(default_factory=list)

    @property
    def number(self) -> int:
        return int(self.name[:4])

    @classmethod
    def read(cls, path: Path) -> MigrationFile:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            up = [op_from_dict(o) for o in data["up"]]
            down = [op_from_dict(o) for o in data["down"]]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise MigrationError(f"cannot read the migration file {str(path)!r}: {exc}") from exc
        return cls(
            path,
            path.stem,
            up,
            down,
            list(data.get("irreversible", [])),
            _checksum(data["up"], data["down"]),
            list(data.get("squashes", [])),
        )


def _applied(rows: list[HistoryRow]) -> dict[str, HistoryRow]:
    """File names applied now (applied, marked or squashed in, and not undone since)."""
    out: dict[str, HistoryRow] = {}
    for row in rows:
        if row.kind in ("file", "mark", "squash") and row.complete:
            out[row.name] = row
        elif row.kind == "undo" and row.complete:
            out.pop(row.name, None)
    return out


class Directory:
    """The ``migrations/`` folder of a project."""

    def __init__(self, root: Path, name: str = "migrations") -> None:
        self.path = root / name

    def exists(self) -> bool:
        return self.path.is_dir()

    def files(self) -> list[MigrationFile]:
        if not self.exists():
            return []
        found = []
        for p in sorted(self.path.iterdir()):
            if _NAME.match(p.name):
                found.append(MigrationFile.read(p))
            elif p.suffix == ".json":
                raise MigrationError(
                    f"{str(p)!r} is not named like a migration (NNNN_name.json); rename it"
                )
        return found

    def pending(self, conn: Connection) -> list[MigrationFile]:
        applied = _applied(History(conn).rows())
        out = []
        for f in self.files():
            if f.name in applied:
                continue
            if f.squashes and all(n in applied for n in f.squashes):
                continue
            out.append(f)
        return out

    # -- writing -----------------------------------------------------------------------

    def write(
        self, name: str, plan: MigrationPlan, backend: str, dialect: Any, number: int = 0
    ) -> Path:
        if not re.fullmatch(r"[A-Za-z0-9_]+", name):
            raise MigrationError(
                f"migration name {name!r}: use letters, digits and underscores only"
            )
        if not number:
            files = self.files()
            number = files[-1].number + 1 if files else 1
        up = plan.ops
        down = _down(up)
        irreversible = _irreversible(up)
        up_dicts = [op_to_dict(o) for o in up]
        down_dicts = [op_to_dict(o) for o in down]
        after = plan.after
        data = {
            "name": f"{number:04d}_{name}",
            "format": 1,
            "up": up_dicts,
            "down": down_dicts,
            "irreversible": irreversible,
            "checksum": _checksum(up_dicts, down_dicts),
            "review": {
                "backend": backend,
                "plan": plan.text(),
                "up": [s.sql for s in plan.sql],
                "down": [s.sql for s in render(down, dialect, after)],
            },
        }
        self.path.mkdir(parents=True, exist_ok=True)
        path = self.path / f"{number:04d}_{name}.json"
        path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return path


def _down(up: list[Operation]) -> list[Operation]:
    out = []
    for op in reversed(up):
        rev = op.reverse()
        if rev is not None:
            out.append(rev)
    return out


def _irreversible(up: list[Operation]) -> list[str]:
    out = []
    for op in up:
        if isinstance(op, DropTable | DropColumn):
            out.append(f"{op.describe()}: down re-creates it empty (its data is not restored)")
        elif isinstance(op, Backfill):
            out.append(f"{op.describe()}: down does not put the NULLs back")
        elif op.reverse() is None:
            out.append(f"{op.describe()}: has no reverse step")
    return out


# -- commands -------------------------------------------------------------------------------


@dataclass
class Planned:
    """What ``plan_file`` did: the file written (None: nothing to plan), and whether this
    database already holds its changes (made outside the files: mark it applied)."""

    path: Path | None
    already_here: bool = False


def files_schema(files: list[MigrationFile]) -> Schema:
    """The schema the files make, played from nothing (a squash baseline included)."""
    return apply_ops(Schema(), [op for f in files for op in f.up])


def plan_file(db: Any, directory: Directory, name: str, backfill: dict[str, Any]) -> Planned:
    """Write the next file: what the models need beyond the schema the files make.

    Refused while files are pending (the plan would repeat what they hold). The files' schema
    is played from the files themselves, so changes made outside them (a bare ``migrate``, a
    hand-made ``ALTER``) are not taken as done: when this database already matches the models
    that way, the file still holds those changes (for everyone else) and ``already_here``
    says to mark it applied here; when it matches neither, it is refused, naming what
    differs."""
    files = directory.files()
    with db.pool.connection() as conn:
        pending = directory.pending(conn)
        if pending:
            raise MigrationError(
                f"migration files are pending ({', '.join(f.name for f in pending)}); apply "
                "them before planning the next one (a plan now would repeat their changes)"
            )
        live = read_schema(conn)
        made = files_schema(files)
        outside = compare(made, live, conn.dialect).ops if files else []
        if outside:
            fills = resolve_backfill(db.entities, conn, backfill)
            if not make_plan(conn, db.entities, live=live).empty:
                what = "; ".join(op.describe() for op in outside[:5])
                raise MigrationError(
                    "this database differs from the schema the migration files make "
                    f"({what}) and from the models; bring it to the models (migrate) or back "
                    "to the files, then plan"
                )
            diff = compare(
                made,
                desired_schema(db.entities),
                conn.dialect,
                entities=db.entities,
                backfill=fills,
            )
            if diff.suggestions:
                _refuse_suggestion(diff.suggestions[0])
            if not diff.ops:
                return Planned(None)
            plan = plan_from_ops(conn, diff.ops, made, check_data=False)
            return Planned(directory.write(name, plan, db.dialect.name, db.dialect), True)
    plan = db.migrate(dry_run=True, backfill=backfill)
    if plan.empty:
        return Planned(None)
    if plan.suggestions:
        _refuse_suggestion(plan.suggestions[0])
    return Planned(directory.write(name, plan, db.dialect.name, db.dialect))


def _refuse_suggestion(s: Any) -> None:
    raise MigrationError(
        f"{s.describe()}: mark it ({s.hint}) or, if it is not a rename, plan the drop and "
        "the add in two files"
    )


def _run_file(
    conn: Connection,
    f: MigrationFile,
    ops: list[Operation],
    options: MigrateOptions,
    kind: str,
    resume: HistoryRow | None = None,
) -> MigrationPlan:
    def build(live: Schema) -> MigrationPlan:
        if resume is not None:
            plan = MigrationPlan(ops=ops, before=live)
            plan.sql = resume.sql()
            plan.after = live  # read again once the rest has run (see ``apply``)
            plan.fingerprint_before = resume.fingerprint_before or ""
            return plan
        return plan_from_ops(conn, ops, live, online=options.online)

    return run_plan(
        conn,
        build,
        options,
        name=f.name,
        kind=kind,
        checksum=f.checksum,
        record_empty=True,
        resume=resume,
    )


def apply(db: Any, directory: Directory, options: MigrateOptions) -> list[MigrationPlan]:
    """Apply pending files in order; a failed file (MySQL) resumes at its failing statement."""
    done = []
    with db.pool.connection() as conn:
        rows = History(conn).rows()
        last = rows[-1] if rows else None
        for f in directory.pending(conn):
            resume = None
            if (
                last is not None
                and last.name == f.name
                and last.kind == "file"
                and not last.complete
            ):
                if last.checksum != f.checksum:
                    raise MigrationError(
                        f"{f.name} failed half-way and was edited since; restore it, or fix the "
                        "database by hand and mark it applied"
                    )
                resume = last
            plan = _run_file(conn, f, f.up, options, "file", resume)
            done.append(plan)
        db._read_missing(conn)
    return done


def undo_chain(db: Any, directory: Directory, name: str | None) -> list[MigrationFile]:
    """The files ``undo`` would revert, newest first: the last applied one, or ``name`` and
    every file applied after it. Raises ``MigrationError`` (nothing done) when one of them
    cannot be reverted as it was applied: its file is missing or was edited since, or the
    last run stopped half-way."""
    with db.pool.connection() as conn:
        rows = History(conn).rows()
    applied = _applied(rows)
    files = {f.name: f for f in directory.files()}
    if rows and not rows[-1].complete:
        raise MigrationError(
            f"the last run ({rows[-1].name}) stopped half-way; finish it first "
            "(migrate apply, or migrate), then undo"
        )
    squashed = {old: f.name for f in files.values() for old in f.squashes}
    # In the order they were applied (a re-applied file moves last); squashed ones are gone.
    order = [n for n in applied if n not in squashed]
    if not order:
        raise MigrationError("no applied migration file to undo")
    target = name or order[-1]
    if target in squashed:
        raise MigrationError(
            f"{target} was squashed into {squashed[target]}; undo that one (or a later file)"
        )
    if target not in applied:
        if target not in files:
            raise MigrationError(f"no migration file named {target!r} under {directory.path}")
        raise MigrationError(f"{target} is not applied; nothing to undo")
    chain = list(reversed(order[order.index(target) :]))
    for n in chain:
        f = files.get(n)
        if f is None:
            raise MigrationError(
                f"{n} is applied but its file is missing from {directory.path}; restore it "
                f"to undo {target}"
            )
        if applied[n].checksum and applied[n].checksum != f.checksum:
            raise MigrationError(
                f"{n} was edited after it was applied, so its down steps may not undo what "
                "ran; restore it to undo it"
            )
    return [files[n] for n in chain]


def undo(
    db: Any, directory: Directory, name: str | None, options: MigrateOptions
) -> list[MigrationPlan]:
    """Run the ``down`` of each file of ``undo_chain``, newest first, each as a run of its
    own (recorded as ``undo``). A file whose down would lose data asks (``options``) like any
    run; a refusal or failure stops there, and the files already undone stay undone."""
    chain = undo_chain(db, directory, name)
    plans: list[MigrationPlan] = []
    with db.pool.connection() as conn:
        try:
            for f in chain:
                plans.append(_run_file(conn, f, f.down, options, "undo"))
        except MigrationError as exc:
            if not plans:
                raise
            done = ", ".join(f.name for f in chain[: len(plans)])
            raise MigrationError(
                f"undone: {done}; stopped at {chain[len(plans)].name}: {exc}"
            ) from exc
        finally:
            db._read_missing(conn)
    return plans


def mark_applied(db: Any, directory: Directory, name: str) -> None:
    """Record ``name`` as applied without running it (its changes were made by hand)."""
    with db.pool.connection() as conn:
        files = {f.name: f for f in directory.files()}
        if name not in files:
            raise MigrationError(f"no migration file named {name!r} under {directory.path}")
        if name in _applied(History(conn).rows()):
            raise MigrationError(f"{name} is already applied; nothing to mark")
        _run_file(conn, files[name], [], MigrateOptions(), "mark")


def squash(db: Any, directory: Directory) -> Path:
    """Replace the applied files with one baseline that creates the schema they made."""
    with db.pool.connection() as conn:
        files = directory.files()
        if not files:
            raise MigrationError(f"no migration files under {directory.path} to squash")
        pending = directory.pending(conn)
        if pending:
            raise MigrationError(
                f"migration files are pending ({', '.join(f.name for f in pending)}); apply "
                "them before squashing"
            )
        if not make_plan(conn, db.entities).empty:
            raise MigrationError(
                "the models differ from the database; plan a file for that (migrate plan NAME) "
                "and apply it before squashing"
            )
        ops = compare(Schema(), desired_schema(db.entities), conn.dialect).ops
        plan = plan_from_ops(conn, ops, Schema())
        names = [f.name for f in files]
        number = files[-1].number + 1  # numbers go on: old names stay unique in the history
        for f in files:
            f.path.unlink()
        path = directory.write("baseline", plan, conn.dialect.name, conn.dialect, number)
        data = json.loads(path.read_text(encoding="utf-8"))
        data["squashes"] = names
        path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        baseline = MigrationFile.read(path)
        _run_file(conn, baseline, [], MigrateOptions(), "squash")
        return path


# -- status and check -----------------------------------------------------------------------


def status(db: Any, directory: Directory) -> dict[str, Any]:
    """Applied and pending files, drift (named), and model changes no file holds yet."""
    with db.pool.connection() as conn:
        rows = History(conn).rows()
        applied = _applied(rows)
        files = directory.files()
        pending = directory.pending(conn)
        pending_names = {f.name for f in pending}
        drift: list[str] = []
        entries = []
        for f in files:
            row = applied.get(f.name)
            state = "pending" if f.name in pending_names else "applied"
            if row is not None and row.checksum and row.checksum != f.checksum:
                state = "edited"
                drift.append(f"{f.name} was edited after it was applied")
            entries.append({"name": f.name, "state": state})
        failed = [r for r in rows if not r.complete]
        if failed and rows[-1] is failed[-1]:
            r = failed[-1]
            entries.append(
                {
                    "name": r.name,
                    "state": f"failed at statement {r.statements_applied + 1} of "
                    f"{r.statements_total}: {r.error}",
                }
            )
        live = read_schema(conn)
        last = next((r for r in reversed(rows) if r.complete and r.schema_after), None)
        if last is not None and last.fingerprint_after:
            now = fingerprint(live, conn.dialect.canonical_type)
            if now != last.fingerprint_after:
                recorded = Schema.from_dict(json.loads(last.schema_after or "{}"))
                changes = compare(recorded, live, conn.dialect).ops
                what = "; ".join(op.describe() for op in changes[:5]) or "types or defaults"
                drift.append(f"the schema was changed outside migrate: {what}")
        unapplied: list[str] = []
        if not pending:
            plan = make_plan(conn, db.entities, live=live)
            unapplied = plan.text()
        return {
            "files": entries,
            "pending": sorted(pending_names),
            "drift": drift,
            "unapplied_changes": unapplied,
            "in_sync": not pending_names and not drift and not unapplied,
        }


def check(db: Any, directory: Directory) -> dict[str, Any]:
    """``status`` for CI: never writes anything."""
    return status(db, directory)


__all__ += ["apply", "mark_applied", "plan_file", "squash", "undo", "undo_chain"]
