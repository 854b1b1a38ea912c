"""``ormcli migrate``: the migrate command group, one small Typer app composed into ``app.py``.

``ormcli migrate [--dry-run] [--allow-data-loss] [--backfill F=V]... [--online]
[--lock-timeout S]`` brings the database to the models: the plan as ``+ ~ -`` lines on stdout
(with the SQL under ``--dry-run``), a summary on stderr, exit 0 when applied or up to date, 1
when refused (nothing applied). On a terminal, steps that lose data and suggested renames are
asked about; elsewhere they need ``--allow-data-loss`` or a marker. Subcommands work on
versioned files under ``migrations/`` (``plan``, ``apply``, ``status``, ``undo``,
``mark-applied``, ``squash``) and ``check`` (never writes; exit 0 in sync, 1 pending or
drifted, ``--json``). Callers: ``ormcli.app`` (``add_typer``). Everything is done by
``core.migrations``; this module parses options, asks, and prints.
"""

import json
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from core.migrations import MigrationPlan, Questioner

__all__ = ["migrate_app"]

#: Exit code of a refused or failed migrate (``ormcli.errors``, imported with ``core`` only
#: when a command runs: ``ormcli --help`` stays fast).
EXIT_ERROR = 1

migrate_app = typer.Typer(
    name="migrate",
    help="Bring the database to the models (plan, check, apply), or work with migration files.",
    add_completion=False,
    no_args_is_help=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    invoke_without_command=True,
)


def _out(line: str) -> None:
    typer.echo(line)


def _err(line: str) -> None:
    typer.echo(line, err=True)


def _guard(ctx: typer.Context, action: Callable[[Any], int]) -> None:
    """Run ``action(workspace)``; an error is one line on stderr and its exit code."""
    state = ctx.obj
    workspace = None
    try:
        workspace = state.workspace()
        code = action(workspace)
    except typer.Exit:
        raise
    except Exception as exc:
        from ormcli.errors import (
            exit_code_for,
            is_broken_pipe,
            leave_on_broken_pipe,
            message_for,
        )

        if is_broken_pipe(exc):  # `ormcli migrate --dry-run | head -1`: stop quietly
            leave_on_broken_pipe()
        if getattr(state, "debug", False):
            _err(traceback.format_exc())
        _err(f"error: {message_for(exc)}")
        raise typer.Exit(exit_code_for(exc)) from None
    finally:
        if workspace is not None:
            workspace.close()
    raise typer.Exit(code)


def _terminal_questioner() -> "Questioner":
    """A ``core.migrations.Questioner`` that asks on the terminal (stderr), defaulting to no."""
    from core.migrations import Questioner
    from core.migrations.diff import Suggestion

    class TerminalQuestioner(Questioner):
        def confirm_data_loss(self, plan: "MigrationPlan") -> bool:
            for line in plan.data_loss:
                _err(f"! {line.note}")
            return typer.confirm("Apply these steps, which lose data?", default=False, err=True)

        def confirm_rename(self, suggestion: Suggestion) -> bool | None:
            what = suggestion.describe().removeprefix("possible rename: ")
            return typer.confirm(f"Is {what} a rename (keep the data)?", default=False, err=True)

    return TerminalQuestioner()


def _backfills(values: list[str] | None) -> dict[str, str]:
    from ormcli.errors import UsageError

    out: dict[str, str] = {}
    for item in values or []:
        key, eq, value = item.partition("=")
        if not eq or "." not in key:
            raise UsageError(f"--backfill takes Entity.field=VALUE, got {item!r}")
        out[key.strip()] = value
    return out


def print_plan(plan: "MigrationPlan", *, sql: bool) -> None:
    for line in plan.lines:
        _out(str(line))
    for s in plan.suggestions:
        _out(f"? {s.describe()} (mark it: {s.hint})")
    if sql and plan.sql:
        _out("-- SQL")
        for statement in plan.sql:
            params = f"  -- params: {list(statement.params)!r}" if statement.params else ""
            _out(statement.sql.rstrip(";") + ";" + params)


@migrate_app.callback()
def migrate_command(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan and its SQL; change nothing.")
    ] = False,
    allow_data_loss: Annotated[
        bool,
        typer.Option("--allow-data-loss", help="Apply steps that drop or convert data."),
    ] = False,
    backfill: Annotated[
        list[str] | None,
        typer.Option(
            "--backfill",
            help="Fill NULLs before NOT NULL: Entity.field=VALUE (repeatable).",
            metavar="F=V",
        ),
    ] = None,
    online: Annotated[
        bool, typer.Option("--online", help="Use online DDL where the backend has it.")
    ] = False,
    lock_timeout: Annotated[
        float,
        typer.Option(
            "--lock-timeout",
            help="Seconds any lock wait may take: for another migrate, or a DDL statement "
            "behind a transaction that holds its table (then exit 4, nothing applied).",
            min=0,
        ),
    ] = 10.0,
) -> None:
    """Bring the database to the models: the plan, then all of it or nothing."""
    if ctx.invoked_subcommand is not None:
        ctx.meta["migrate_options"] = {"lock_timeout": lock_timeout, "online": online}
        return

    def action(workspace: Any) -> int:
        from core import MigrationError

        db = workspace.db
        fills = _backfills(backfill)
        from core.migrations.files import Directory

        directory = Directory(Path.cwd())
        if directory.exists() and not dry_run:
            pending = directory.pending(db.connection())
            if pending:
                names = ", ".join(f.name for f in pending)
                _err(
                    f"error: migration files are pending ({names}); run 'ormcli migrate apply' "
                    "first, then migrate"
                )
                return EXIT_ERROR
        if dry_run:
            plan = db.migrate(dry_run=True, backfill=fills, online=online)
            print_plan(plan, sql=True)
            if plan.empty:
                _err("the schema is up to date")
                return 0
            _err(f"dry run: not run: {len(plan.sql)} statement(s)")
            return EXIT_ERROR if plan.refused else 0
        questioner = _terminal_questioner() if sys.stdin.isatty() else None
        try:
            plan = db.migrate(
                allow_data_loss=allow_data_loss,
                backfill=fills,
                online=online,
                lock_timeout=lock_timeout,
                questioner=questioner,
            )
        except MigrationError:
            shown = db.migrate(dry_run=True, backfill=fills, online=online)
            print_plan(shown, sql=False)
            raise
        print_plan(plan, sql=False)
        if plan.empty:
            _err("the schema is up to date")
        else:
            _err(f"applied: {plan.applied} statement(s)")
        return 0

    _guard(ctx, action)


@migrate_app.command("check")
def check_command(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Never writes: exit 0 when models, files and database agree, 1 when anything differs."""

    def action(workspace: Any) -> int:
        from core.migrations.files import Directory, check

        result = check(workspace.db, Directory(Path.cwd()))
        if as_json:
            _out(json.dumps(result, indent=2))
        else:
            for kind in ("pending", "drift", "unapplied_changes"):
                for item in result[kind]:
                    _out(f"{kind.replace('_', ' ')}: {item}")
            _err("in sync" if result["in_sync"] else "not in sync")
        return 0 if result["in_sync"] else EXIT_ERROR

    _guard(ctx, action)


_ALLOW = Annotated[
    bool, typer.Option("--allow-data-loss", help="Apply steps that drop or convert data.")
]
_TIMEOUT = Annotated[
    float,
    typer.Option(
        "--lock-timeout",
        help="Seconds any lock wait may take: for another migrate, or a DDL statement.",
        min=0,
    ),
]


def _options(allow: bool, lock_timeout: float, online: bool = False) -> Any:
    from core.migrations import MigrateOptions

    options = MigrateOptions(allow_data_loss=allow, lock_timeout=lock_timeout, online=online)
    if sys.stdin.isatty():
        options.questioner = _terminal_questioner()
    return options


def _directory() -> Any:
    from core.migrations.files import Directory

    return Directory(Path.cwd())


@migrate_app.command("plan")
def plan_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="What the migration does, e.g. add_rating.")],
    backfill: Annotated[
        list[str] | None,
        typer.Option("--backfill", help="Entity.field=VALUE (repeatable).", metavar="F=V"),
    ] = None,
) -> None:
    """Write the next numbered file under migrations/ (nothing is applied)."""

    def action(workspace: Any) -> int:
        from core.migrations.files import MigrationFile, plan_file

        planned = plan_file(workspace.db, _directory(), name, _backfills(backfill))
        path = planned.path
        if path is None:
            _err("the schema is up to date; no file written")
            return 0
        f = MigrationFile.read(path)
        for line in json.loads(path.read_text(encoding="utf-8"))["review"]["plan"]:
            _out(line)
        for note in f.irreversible:
            _out(f"! irreversible: {note}")
        _err(f"wrote {path.relative_to(Path.cwd())}")
        if planned.already_here:
            _err(
                "this database already has these changes (made outside the files): record "
                f"them with 'ormcli migrate mark-applied {path.stem}'"
            )
        return 0

    _guard(ctx, action)


@migrate_app.command("apply")
def apply_command(
    ctx: typer.Context,
    allow_data_loss: _ALLOW = False,
    online: Annotated[bool, typer.Option("--online", help="Online DDL where there is.")] = False,
    lock_timeout: _TIMEOUT = 10.0,
) -> None:
    """Apply pending migration files in order (a failed one resumes where it stopped)."""

    def action(workspace: Any) -> int:
        from core.migrations.files import apply

        plans = apply(workspace.db, _directory(), _options(allow_data_loss, lock_timeout, online))
        for plan in plans:
            print_plan(plan, sql=False)
        _err(f"applied {len(plans)} file(s)" if plans else "no pending migration files")
        return 0

    _guard(ctx, action)


@migrate_app.command("status")
def status_command(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """List applied and pending files, drift, and model changes no file holds yet."""

    def action(workspace: Any) -> int:
        from core.migrations.files import status

        result = status(workspace.db, _directory())
        if as_json:
            _out(json.dumps(result, indent=2))
            return 0
        for entry in result["files"]:
            _out(f"{entry['state']:8} {entry['name']}")
        for item in result["drift"]:
            _out(f"drift: {item}")
        for item in result["unapplied_changes"]:
            _out(f"not in a file yet: {item}")
        _err("in sync" if result["in_sync"] else "not in sync")
        return 0

    _guard(ctx, action)


@migrate_app.command("undo")
def undo_command(
    ctx: typer.Context,
    name: Annotated[
        str | None,
        typer.Argument(help="Revert this file and every file applied after it (default: last)."),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Undo several files without asking.")] = False,
    allow_data_loss: _ALLOW = False,
    lock_timeout: _TIMEOUT = 10.0,
) -> None:
    """Revert the last applied file, or NAME and every file applied after it (newest first)."""

    def action(workspace: Any) -> int:
        from core.migrations.files import undo, undo_chain

        directory = _directory()
        chain = undo_chain(workspace.db, directory, name)
        if len(chain) > 1:
            _err(f"undo reverts {len(chain)} files, newest first:")
            for f in chain:
                steps = "; ".join(op.describe() for op in f.down) or "nothing to run"
                _err(f"  {f.name}: {steps}")
            if not yes:
                later = ", ".join(f.name for f in reversed(chain[:-1]))
                reason = f"undoing {chain[-1].name} also undoes {later}, applied after it"
                if not sys.stdin.isatty():
                    _err(f"error: nothing was undone: {reason}; rerun with --yes to undo them all")
                    return EXIT_ERROR
                if not typer.confirm(f"Undo these {len(chain)} files?", default=False, err=True):
                    _err("nothing was undone")
                    return EXIT_ERROR
        plans = undo(workspace.db, directory, name, _options(allow_data_loss, lock_timeout))
        for f, plan in zip(chain, plans, strict=False):
            _out(f"# {f.name}")
            print_plan(plan, sql=False)
        total = sum(len(p.sql) for p in plans)
        _err(f"undone: {', '.join(f.name for f in chain)} ({total} statement(s))")
        return 0

    _guard(ctx, action)


@migrate_app.command("mark-applied")
def mark_applied_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The file to record as applied.")],
) -> None:
    """Record a file as applied without running it (its changes were made another way)."""

    def action(workspace: Any) -> int:
        from core.migrations.files import mark_applied

        mark_applied(workspace.db, _directory(), name)
        _err(f"marked applied: {name}")
        return 0

    _guard(ctx, action)


@migrate_app.command("squash")
def squash_command(ctx: typer.Context) -> None:
    """Replace the applied files with one baseline file."""

    def action(workspace: Any) -> int:
        from core.migrations.files import squash

        path = squash(workspace.db, _directory())
        _err(f"squashed into {path.relative_to(Path.cwd())}")
        return 0

    _guard(ctx, action)
