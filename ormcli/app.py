"""The command app (Typer): ``ormcli [--db URL] [--models PATH]... [--debug] [--version] COMMAND``.

Commands: ``repl`` (what a bare ``ormcli`` runs on a terminal), ``run SCRIPT|-``,
``migrate [--dry-run]``, ``models [ENTITY]``, ``find ENTITY [--where EXPR] [--order-by FIELD]
[--limit N] [--json] [--select ITEMS] [--group-by FIELD] [--distinct]
[--format csv|tsv|json|jsonl]``. Data goes to stdout, messages and errors to stderr (one line;
the traceback only with ``--debug``). Exit codes are those of ``errors.py``. :func:`main` is the
console-script entry ``ormcli.app:main``. Callers: the ``ormcli`` script and the CliRunner tests.
It resolves settings (``config.py``) and builds the workspace (``loader.py``, ``executor.py``);
everything else is delegated.
"""

import logging
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer

from ormcli import typerfast
from ormcli.migrate_app import migrate_app

typerfast.install()  # option values without pydantic (50-100 ms of every start)

if TYPE_CHECKING:  # the same imports as _import_commands() makes at run time
    from core import mask_url, parse_url
    from ormcli import config, loader
    from ormcli import language as cmd
    from ormcli.errors import (
        EXIT_USAGE,
        ParseError,
        UsageError,
        exit_code_for,
        message_for,
    )
    from ormcli.executor import Workspace
    from ormcli.formats import FORMATS
    from ormcli.render import OutputOptions, make_console, render, render_error
    from ormcli.tokens import TokenStream
    from ormcli.where import parse_where


def _import_commands() -> None:
    """Import what the commands run on (``core``, Rich, the command language) into this
    module, once; ``ormcli --help`` and ``ormcli --version`` need none of it and start in
    about a third of the time (bench scenario T). A name a command uses goes here (import and
    ``globals().update``) and in the ``TYPE_CHECKING`` block above."""
    if "cmd" in globals():
        return
    from core import mask_url, parse_url
    from ormcli import config, lazy, loader
    from ormcli.errors import (
        EXIT_ERROR,
        EXIT_USAGE,
        ParseError,
        UsageError,
        exit_code_for,
        message_for,
    )
    from ormcli.executor import Workspace
    from ormcli.formats import FORMATS
    from ormcli.render import OutputOptions, make_console, render, render_error
    from ormcli.tokens import TokenStream
    from ormcli.where import parse_where

    # The command language and result types: built at first use (the REPL's first prompt
    # needs neither); the script runner only by the commands that run one.
    cmd, r = lazy.module("ormcli.language"), lazy.module("ormcli.results")
    globals().update(
        mask_url=mask_url, parse_url=parse_url, config=config, loader=loader, cmd=cmd, r=r,
        EXIT_ERROR=EXIT_ERROR, EXIT_USAGE=EXIT_USAGE, ParseError=ParseError,
        UsageError=UsageError,
        exit_code_for=exit_code_for, message_for=message_for, Workspace=Workspace,
        FORMATS=FORMATS, OutputOptions=OutputOptions, make_console=make_console, render=render,
        render_error=render_error, TokenStream=TokenStream,
        parse_where=parse_where,
    )  # fmt: skip


app = typer.Typer(
    name="ormcli",
    help="Load model files, stage changes, see what a commit will do, commit or roll back.",
    add_completion=True,
    no_args_is_help=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

T = TypeVar("T")


@dataclass
class AppState:
    """What the global options resolved to, shared by the commands."""

    db_flag: str | None
    models_flag: list[str]
    debug: bool
    #: Several servers (docs/scale-out.md): more ``--db`` nodes after the first (a Galera
    #: cluster), or ``--replica`` URLs of the primary, and whether reads may use them.
    more_nodes: list[str] = field(default_factory=list)
    replicas: list[str] = field(default_factory=list)
    replica_reads: bool = False
    _workspace: "Workspace | None" = field(default=None, repr=False)

    def workspace(self, *, read_only: bool = False) -> "Workspace":
        """Resolve settings, load the models, open the database (once). ``read_only``: a
        SQLite file that does not exist is an error, never created."""
        if self._workspace is None:
            settings = config.resolve(self.db_flag, self.models_flag)
            config.check_urls([*self.more_nodes, *self.replicas])
            for warning in settings.warnings:
                render_error(make_console(stderr=True), warning, prefix="warning: ")
            if read_only:
                _require_database_file(settings.db_url)
            classes = loader.load_models(list(settings.models))
            servers: dict[str, Any] = {"replica_reads": self.replica_reads}
            if self.more_nodes:
                servers["nodes"] = [settings.db_url, *self.more_nodes]
            if self.replicas:
                servers["replicas"] = list(self.replicas)
            self._workspace = Workspace(settings.db_url, classes, servers)
        return self._workspace


def _require_database_file(url: str) -> None:
    """A command that only reads must not create a SQLite file as a side effect."""
    parsed = parse_url(url)
    name = parsed.database
    if parsed.scheme == "sqlite" and name not in ("", ":memory:") and not Path(name).exists():
        raise UsageError(
            f"no database file {name} (a command that only reads never creates one; pass "
            "--db, or run ormcli migrate to create it)"
        )


def _version() -> str:
    from ormcli import __version__

    return __version__


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"ormcli {_version()}")
        raise typer.Exit(0)


def _fail(state: AppState | None, error: BaseException) -> NoReturn:
    from ormcli.errors import is_broken_pipe, leave_on_broken_pipe

    if is_broken_pipe(error):  # `ormcli find X | head -1`: stop quietly (exit 141)
        leave_on_broken_pipe()
    err = make_console(stderr=True)
    if state is not None and state.debug:
        err.print(traceback.format_exc(), markup=False, highlight=False)
    render_error(err, message_for(error))
    raise typer.Exit(exit_code_for(error))


def _guard(ctx: typer.Context, action: Callable[[AppState], T]) -> T:
    """Run ``action``; turn any error into one line on stderr and its exit code."""
    state: AppState = ctx.obj
    try:
        return action(state)
    except typer.Exit:
        raise
    except Exception as exc:
        _fail(state, exc)


@app.callback(invoke_without_command=True)
def _main(
    ctx: typer.Context,
    db: Annotated[
        list[str] | None,
        typer.Option(
            "--db",
            help="Database URL (else $ORMCLI_DB, [tool.ormcli] db, sqlite:///ormcli.db); "
            "repeat it for the nodes of a Galera cluster.",
            metavar="URL",
        ),
    ] = None,
    replica: Annotated[
        list[str] | None,
        typer.Option(
            "--replica",
            help="URL of a read replica of the --db primary; repeatable.",
            metavar="URL",
        ),
    ] = None,
    replica_reads: Annotated[
        bool,
        typer.Option("--replica-reads", help="Let reads go to replicas until the session writes."),
    ] = False,
    models: Annotated[
        list[str] | None,
        typer.Option(
            "--models",
            "-m",
            help="Model file or dotted module; repeatable (else $ORMCLI_MODELS, [tool.ormcli]).",
            metavar="PATH",
        ),
    ] = None,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks and log SQL to stderr.")
    ] = False,
    show_version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Load model files, stage changes, see what a commit will do, commit or roll back."""
    _import_commands()
    if debug:
        logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
        logging.getLogger("core").setLevel(logging.DEBUG)
    nodes = list(db or [])
    if len(nodes) > 1 and replica:
        _fail(None, UsageError("give either several --db nodes or --replica URLs, not both"))
    ctx.obj = AppState(
        nodes[0] if nodes else None,
        list(models or []),
        debug,
        more_nodes=nodes[1:],
        replicas=list(replica or []),
        replica_reads=replica_reads,
    )
    if ctx.invoked_subcommand is None:
        if not sys.stdin.isatty():
            render_error(
                make_console(stderr=True),
                "no command given and stdin is not a terminal "
                "(to run a script from stdin: ormcli run -; see ormcli --help)",
            )
            raise typer.Exit(EXIT_USAGE)
        repl_command(ctx)


@app.command("repl")
def repl_command(
    ctx: typer.Context,
    seed: Annotated[
        str | None,
        typer.Option(
            "--seed",
            help="Run this script first when the database is new (no tables or no rows yet).",
            metavar="SCRIPT",
        ),
    ] = None,
    sandbox: Annotated[
        bool,
        typer.Option(
            "--sandbox",
            help="Commits run inside one transaction that is rolled back when the REPL ends.",
        ),
    ] = False,
) -> None:
    """Start the interactive REPL (the default on a terminal)."""
    from ormcli.history import DEFAULT_SECRET_FIELDS, PrivateHistory
    from ormcli.repl import Repl

    def action(state: AppState) -> int:
        workspace = state.workspace()
        if seed is not None and _is_new(workspace):
            path = Path(seed)
            if not path.is_file():
                raise UsageError(f"seed script not found: {seed}")
            from ormcli.script import run_script

            code = run_script(
                workspace,
                path.read_text(encoding="utf-8").splitlines(),
                seed,
                out=make_console(),
                err=make_console(stderr=True),
                debug=state.debug,
            )
            if code:
                workspace.close()
                return code
            workspace.reset_handles()
        try:
            fields = config.resolve(state.db_flag, state.models_flag).secret_fields
            history = PrivateHistory(
                config.history_path(), DEFAULT_SECRET_FIELDS if fields is None else fields
            )
        except OSError:
            history = None
        try:
            terminal = sys.stdin.isatty()
            user: dict[str, Any] = {}
            if terminal:
                user, warnings = config.user_settings()
                for warning in warnings:
                    render_error(make_console(stderr=True), warning, prefix="warning: ")
            return Repl(
                workspace,
                make_console(),
                history=history if terminal else None,
                interactive=terminal,
                debug=state.debug,
                lines=None if terminal else iter(sys.stdin.readline, ""),
                err=make_console(stderr=True),
                sandbox=sandbox,
                user_settings=user,
            ).run()
        finally:
            workspace.close()

    raise typer.Exit(_guard(ctx, action))


def _is_new(workspace: "Workspace") -> bool:
    """A database is new for ``--seed`` when tables are missing or every table is empty."""
    if not workspace.db.migration_plan().empty:
        return True
    return all(workspace.db.query(info.cls).count() == 0 for info in workspace.db.entities)


@app.command("run")
def run_command(
    ctx: typer.Context,
    script: Annotated[str, typer.Argument(help="Script file, or - for stdin.", metavar="SCRIPT")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the change set and SQL; commit nothing.")
    ] = False,
) -> None:
    """Run a script of commands as one unit of work (it commits once, at its end)."""

    def action(state: AppState) -> int:
        if script == "-":
            name, lines = "<stdin>", sys.stdin.read().splitlines()
        else:
            path = Path(script)
            if not path.is_file():
                raise UsageError(f"script not found: {script}")
            name, lines = script, path.read_text(encoding="utf-8").splitlines()
        workspace = state.workspace()
        try:
            from ormcli.script import run_script

            return run_script(
                workspace,
                lines,
                name,
                out=make_console(),
                err=make_console(stderr=True),
                dry_run=dry_run,
                debug=state.debug,
            )
        finally:
            workspace.close()

    raise typer.Exit(_guard(ctx, action))


@app.command("models")
def models_command(
    ctx: typer.Context,
    entity: Annotated[str | None, typer.Argument(help="Show one entity in detail.")] = None,
) -> None:
    """List entities, their fields, types and keys."""

    def action(state: AppState) -> int:
        workspace = state.workspace()
        try:
            render(make_console(), workspace.execute(cmd.Models(entity)))
        finally:
            workspace.close()
        return 0

    raise typer.Exit(_guard(ctx, action))


def _parse_where_option(text: str) -> Any:
    try:
        stream = TokenStream(text)
        expr = parse_where(stream)
        stream.expect_end("in --where")
    except ParseError as exc:
        raise ParseError(f"--where: {exc}") from None
    return expr


def _parse_select_option(text: str) -> "tuple[cmd.SelectItem, ...]":
    try:
        stream = TokenStream(text)
        items = cmd.parse_select_list(stream)
        stream.expect_end("in --select")
    except ParseError as exc:
        raise ParseError(f"--select: {exc}") from None
    return items


def _order_term(text: str) -> "cmd.OrderBy":
    words = text.split()
    if len(words) == 2 and words[1].lower() in ("asc", "desc"):
        return cmd.OrderBy(words[0], words[1].lower() == "desc")
    if len(words) == 1:
        name = words[0]
        return cmd.OrderBy(name[1:], True) if name.startswith("-") else cmd.OrderBy(name)
    raise ParseError(f"--order-by takes FIELD, -FIELD or 'FIELD desc', got {text!r}")


@app.command("find")
def find_command(
    ctx: typer.Context,
    entity: Annotated[str, typer.Argument(help="Entity name.", metavar="ENTITY")],
    where: Annotated[
        str | None,
        typer.Option(
            "--where",
            "-w",
            help="Condition, e.g. 'age >= 18 and name like \"A%\"'.",
            metavar="EXPR",
        ),
    ] = None,
    order_by: Annotated[
        list[str] | None,
        typer.Option(
            "--order-by", "-o", help="FIELD, -FIELD or 'FIELD desc'; repeatable.", metavar="FIELD"
        ),
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", "-n", min=0, help="At most N rows.", metavar="N")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The same as --format json.")] = False,
    select: Annotated[
        str | None,
        typer.Option(
            "--select",
            "-s",
            help="Columns: 'title, author.name, total=sum(views), n=count()'.",
            metavar="ITEMS",
        ),
    ] = None,
    group_by: Annotated[
        list[str] | None,
        typer.Option(
            "--group-by", "-g", help="Group by FIELD (or path); repeatable.", metavar="FIELD"
        ),
    ] = None,
    distinct: Annotated[bool, typer.Option("--distinct", help="Leave out repeated rows.")] = False,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format", "-f", help="table, vertical, csv, tsv, json or jsonl.", metavar="FORMAT"
        ),
    ] = None,
    include: Annotated[
        list[str] | None,
        typer.Option(
            "--include",
            "-i",
            help="Relations to load and nest in JSON: 'posts', 'posts.tags'; repeatable.",
            metavar="PATH",
        ),
    ] = None,
) -> None:
    """Query rows of an entity, or a select list of it (grouped with --group-by)."""
    if fmt is not None and fmt not in FORMATS:
        raise typer.BadParameter(f"use one of {', '.join(FORMATS)}", param_hint="--format")

    def action(state: AppState) -> int:
        groups = tuple(name.strip() for name in group_by or [])
        items = _parse_select_option(select) if select else ()
        if groups and not items:
            items = (*(cmd.SelectItem(n) for n in groups), cmd.SelectItem(None, "count"))
        command = cmd.Find(
            entity,
            _parse_where_option(where) if where else None,
            tuple(_order_term(term) for term in order_by or []),
            limit,
            items,
            distinct,
            groups,
            include=tuple(
                path.strip() for item in include or [] for path in item.split(",") if path.strip()
            ),
        )
        out_format = "json" if as_json and fmt is None else fmt or "table"
        workspace = state.workspace(read_only=True)
        workspace.json_values = out_format in ("json", "jsonl")
        try:
            out = make_console()
            footer = None if out.is_terminal else make_console(stderr=True)
            options = OutputOptions(format=out_format, footer=footer)
            render(out, workspace.execute(command), options)
        finally:
            workspace.close()
        return 0

    raise typer.Exit(_guard(ctx, action))


app.add_typer(migrate_app, name="migrate")


def _hide_urls(text: str, args: list[str]) -> str:
    """``text`` (a usage error, which may quote the command line) with every argument that
    may be a URL (it holds ``://`` or ``@``) shown as ``core.mask_url`` prints it: a URL given
    without ``--db`` comes back in Click's "No such command '...'" message."""
    _import_commands()
    for arg in args:
        for candidate in (arg, arg.partition("=")[2]):
            if "://" in candidate or "@" in candidate:
                masked = mask_url(candidate)
                for form in (candidate, repr(candidate)[1:-1]):
                    text = text.replace(form, masked)
    return text


def main(args: list[str] | None = None) -> None:
    """Console-script entry point."""
    args = sys.argv[1:] if args is None else args
    try:
        code = app(prog_name="ormcli", args=args, standalone_mode=False)
        sys.stdout.flush()  # a closed pipe shows here, not as "Exception ignored" at exit
    except BrokenPipeError:
        from ormcli.errors import leave_on_broken_pipe

        leave_on_broken_pipe()
    except typer.Abort:
        typer.echo("Aborted!", err=True)
        sys.exit(1)
    except typer.TyperException as exc:  # Click's usage errors: one line, as ours
        # Click's own wording names the option ("Invalid value for '--limit': ...").
        formatted = getattr(exc, "format_message", None)
        message = _hide_urls(formatted() if callable(formatted) else exc.message, args)
        ctx = getattr(exc, "ctx", None)
        path = ctx.command_path if ctx is not None else "ormcli"
        render_error(make_console(stderr=True), f"{message} (see {path} --help)")
        sys.exit(exc.exit_code)
    sys.exit(code if isinstance(code, int) else 0)


__all__ = ["app", "main"]
