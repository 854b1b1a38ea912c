"""The command language (DESIGN §4): one line in, one command dataclass out.

Callers: ``repl.py`` and ``script.py`` call :func:`parse` on every line; ``executor.py``
runs the resulting command. Each command's parser registers itself in ``commands.py`` (which
feeds ``help`` and completion). Parsing knows no entities or field types: names stay names and
values stay :class:`~ormcli.literals.Lit` until ``executor.py`` checks them against the models.
The only exception :func:`parse` raises is :class:`~ormcli.errors.ParseError`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ormcli.commands import command, lookup, specs
from ormcli.errors import ParseError
from ormcli.literals import Handle, Lit, parse_literal
from ormcli.suggest import did_you_mean
from ormcli.tokens import TokenStream, describe
from ormcli.where import STOP_WORDS, Expr, parse_where


@dataclass(frozen=True)
class Assignment:
    """``field=value``; for a collection also ``field+=[...]`` / ``field-=[...]`` (``op``)."""

    field: str
    value: Lit
    op: str = "="


@dataclass(frozen=True)
class Key:
    """A primary key as written: one value, a tuple ``(1, 2)`` for a composite key, or a
    handle ``@1``."""

    values: tuple[Lit, ...]
    text: str

    @property
    def handle(self) -> Handle | None:
        """The handle, if the key is written as one."""
        if len(self.values) == 1 and isinstance(self.values[0].value, Handle):
            return self.values[0].value
        return None


@dataclass(frozen=True)
class OrderBy:
    """One ``order by`` term."""

    field: str
    descending: bool = False


@dataclass(frozen=True)
class Load:
    """``load PATH``."""

    path: str


@dataclass(frozen=True)
class Models:
    """``models [ENTITY]``."""

    entity: str | None = None


@dataclass(frozen=True)
class Add:
    """``add ENTITY field=value ...``."""

    entity: str
    assignments: tuple[Assignment, ...]


@dataclass(frozen=True)
class Upsert:
    """``upsert ENTITY field=value ... [on FIELD, ...]`` (``on`` empty: the primary key)."""

    entity: str
    assignments: tuple[Assignment, ...]
    on: tuple[str, ...] = ()


@dataclass(frozen=True)
class Set:
    """``set ENTITY PK field=value ...`` (entity "" when the key is a handle written alone)."""

    entity: str
    key: Key
    assignments: tuple[Assignment, ...]


@dataclass(frozen=True)
class Remove:
    """``remove ENTITY PK [PK ...]``, ``remove ENTITY where EXPR`` or ``remove @N ...`` (entity
    "")."""

    entity: str
    keys: tuple[Key, ...] = ()
    where: Expr | None = None


@dataclass(frozen=True)
class SelectItem:
    """One item of a ``select`` list: ``FIELD``, ``FUNC(FIELD)`` or ``count()``, optionally
    named (``total=sum(views)``)."""

    field: str | None
    func: str | None = None
    name: str | None = None

    @property
    def label(self) -> str:
        """The column's name: given, the field, or ``func_field`` (``count`` for count())."""
        if self.name:
            return self.name
        if self.func is None:
            return self.field or ""
        return self.func if self.field is None else f"{self.func}_{self.field}"


@dataclass(frozen=True)
class Option:
    """``option [NAME [VALUE]]`` (a REPL setting)."""

    name: str | None = None
    value: str | None = None


@dataclass(frozen=True)
class Find:
    """``find ENTITY [select ITEM, ...] [distinct] [where EXPR] [group by FIELD, ...]
    [order by NAME [desc], ...] [limit N] [--all]``."""

    entity: str
    where: Expr | None = None
    order_by: tuple[OrderBy, ...] = ()
    limit: int | None = None
    select: tuple[SelectItem, ...] = ()
    distinct: bool = False
    group_by: tuple[str, ...] = ()
    all: bool = False
    """``--all``: every row, past the REPL's default row limit."""
    include: tuple[str, ...] = ()
    """Relations to load with the rows and nest in JSON (``ormcli find --include posts``)."""


@dataclass(frozen=True)
class Show:
    """``show ENTITY PK``."""

    entity: str
    key: Key


@dataclass(frozen=True)
class Count:
    """``count ENTITY [by FIELD, ...] [where EXPR]``: one count, or one per group."""

    entity: str
    where: Expr | None = None
    by: tuple[str, ...] = ()


@dataclass(frozen=True)
class Status:
    """``status [--sql] [--all]``."""

    sql: bool = False
    all: bool = False
    """``--all``: every line of a large change set (else counted past a threshold)."""


@dataclass(frozen=True)
class Undo:
    """``undo``."""


@dataclass(frozen=True)
class Commit:
    """``commit``."""


@dataclass(frozen=True)
class Rollback:
    """``rollback``."""


@dataclass(frozen=True)
class Migrate:
    """``migrate [--dry-run]``."""

    dry_run: bool = False


@dataclass(frozen=True)
class Help:
    """``help [COMMAND]``."""

    topic: str | None = None


@dataclass(frozen=True)
class Quit:
    """``quit`` / ``exit``."""


Command = (
    Load
    | Models
    | Add
    | Upsert
    | Set
    | Remove
    | Find
    | Show
    | Count
    | Status
    | Undo
    | Commit
    | Rollback
    | Migrate
    | Help
    | Quit
    | Option
)


#: First words of SQL statements: a line starting with one gets a hint, not "unknown command".
_SQL_WORDS = frozenset({"select", "insert", "update", "delete", "with", "create", "drop", "alter"})


def parse(line: str) -> Command | None:
    """Parse one line; ``None`` for a blank line or a ``#`` comment.

    Raises :class:`ParseError` for anything else that is not a valid command.
    """
    if not line.strip() or line.lstrip().startswith("#"):
        return None
    words = line.split(None, 1)
    if words[0].lower() in _SQL_WORDS:
        raise ParseError(
            f"{words[0]!r} is SQL; this is ormcli's own language (try 'help'): find ENTITY "
            "where ..., count, add, set, remove; status --sql shows the SQL a commit sends",
            line.find(words[0]),
        )
    if words[0].lower() == "load":
        return _parse_load_line(line, words[1] if len(words) > 1 else "")
    stream = TokenStream(line)
    head = stream.peek()
    if head.kind != "NAME":
        raise ParseError(f"expected a command, got {describe(head)} (try 'help')", head.pos)
    spec = lookup(head.text)
    if spec is None:
        hint = did_you_mean(head.text, (s.name for s in specs()))
        raise ParseError(f"unknown command {head.text!r}{hint} (try 'help')", head.pos)
    stream.next()
    result: Command = spec.parser(stream)
    stream.expect_end(f"after the {spec.name} command (usage: {spec.usage})")
    return result


# --- helpers shared by the command parsers ------------------------------------------------


def _entity(stream: TokenStream, name: str) -> str:
    return stream.expect_name(f"an entity name after {name!r}").text


def _entity_and_key(stream: TokenStream, name: str) -> tuple[str, Key]:
    """``ENTITY PK``, or a handle alone (``@1``: the entity is the handle's; entity "")."""
    if stream.peek().kind == "HANDLE":
        return "", _key(stream, f"after {name!r}")
    entity = _entity(stream, name)
    return entity, _key(stream, f"after '{name} {entity}'")


def _key(stream: TokenStream, context: str) -> Key:
    start = stream.peek()
    if stream.accept_op("("):
        values = [parse_literal(stream, f"in the key {context}")]
        while stream.accept_op(","):
            values.append(parse_literal(stream, f"in the key {context}"))
        end = stream.expect_op(")", "to close the key")
        return Key(tuple(values), stream.line[start.pos : end.pos + 1])
    if start.kind == "EOF":
        raise ParseError(f"expected a primary key {context}, got end of line", start.pos)
    if start.kind == "OP" or (start.kind == "NAME" and stream.peek(1).text == "="):
        raise ParseError(f"expected a primary key {context}, got {describe(start)}", start.pos)
    value = parse_literal(stream, context)
    return Key((value,), value.text)


def _assignments(
    stream: TokenStream, command_name: str, stop: str | None = None
) -> tuple[Assignment, ...]:
    """``field=value ...`` up to the end, or up to the keyword ``stop`` (a word not followed
    by ``=``: a field may have the keyword's name)."""
    found: list[Assignment] = []
    seen: set[tuple[str, str]] = set()
    while stream.peek().kind != "EOF":
        head = stream.peek()
        if (
            stop is not None
            and head.kind == "NAME"
            and head.text.lower() == stop
            and stream.peek(1).text != "="
        ):
            break
        name = stream.expect_name("field=value")
        op = "="
        for edit in ("+=", "-="):
            if command_name == "set" and stream.accept_op(edit):
                op = edit
                break
        else:
            stream.expect_op("=", f"after field name {name.text!r}")
        value = parse_literal(stream, f"after '{name.text}{op}'")
        if (name.text, op) in seen or (op == "=" and any(n == name.text for n, _ in seen)):
            raise ParseError(f"field {name.text!r} is given twice", name.pos)
        seen.add((name.text, op))
        found.append(Assignment(name.text, value, op))
    if not found and command_name == "set":
        raise ParseError("expected field=value after the key, got end of line", stream.peek().pos)
    return tuple(found)


def _optional_where(stream: TokenStream) -> Expr | None:
    if stream.accept_keyword("where"):
        return parse_where(stream)
    return None


def _flags(stream: TokenStream, allowed: tuple[str, ...], name: str) -> set[str]:
    flags: set[str] = set()
    while stream.peek().kind == "FLAG":
        token = stream.next()
        if token.text not in allowed:
            choices = ", ".join(allowed) or "none"
            raise ParseError(
                f"unknown option {token.text!r} for {name} (options: {choices})", token.pos
            )
        flags.add(token.text)
    return flags


# --- the commands -------------------------------------------------------------------------


@command(
    "load",
    usage="load PATH",
    summary="load a model file or dotted module",
    details='PATH may be quoted: load "my models/blog.py".',
    slots=("path",),
)
def _parse_load(stream: TokenStream) -> Load:
    token = stream.peek()
    if token.kind != "STRING":
        raise ParseError(f"expected a path after 'load', got {describe(token)}", token.pos)
    stream.next()
    return Load(str(token.value))


def _parse_load_line(line: str, rest: str) -> Load:
    """``load`` takes the rest of the line as a path, unless it is quoted."""
    offset = len(line) - len(rest)
    if rest.strip()[:1] in ("'", '"'):
        stream = TokenStream(line)
        stream.next()
        result = _parse_load(stream)
        stream.expect_end("after the path (usage: load PATH)")
        return result
    path = rest.strip()
    if not path:
        raise ParseError("expected a path after 'load', got end of line", offset)
    return Load(path)


@command(
    "models",
    usage="models [ENTITY]",
    summary="entities, fields, types, keys",
    slots=("entity",),
)
def _parse_models(stream: TokenStream) -> Models:
    if stream.peek().kind == "NAME":
        return Models(stream.next().text)
    return Models()


@command(
    "add",
    usage="add ENTITY field=value ...",
    summary="stage a new entity; prints a handle such as @1",
    details=(
        'Values are literals: "text", 42, 3.5, True, None, [1, 2], {"k": "v"}; dates and times '
        'as ISO text ("2024-05-01"); a reference as a primary key (author=1) or a handle '
        "(author=@1); a collection as a list of them (tags=[@1, 3])."
    ),
    slots=("entity", "fields"),
)
def _parse_add(stream: TokenStream) -> Add:
    entity = _entity(stream, "add")
    return Add(entity, _assignments(stream, "add"))


@command(
    "upsert",
    usage="upsert ENTITY field=value ... [on FIELD, ...]",
    summary="stage an insert-or-update of one row by its key or a unique field",
    details=(
        "At commit the row is inserted, or the row with the same primary key (or the same "
        "value of the unique field(s) after 'on') gets these values: upsert User "
        'email="a@x" name="A" on email. Staged upserts are sent together, one batched INSERT '
        "... ON CONFLICT DO UPDATE (ON DUPLICATE KEY UPDATE on MariaDB/MySQL); the object then "
        "holds its row's key. Values as for add; status shows them as '+~'."
    ),
    slots=("entity", "fields"),
)
def _parse_upsert(stream: TokenStream) -> Upsert:
    entity = _entity(stream, "upsert")
    assignments = _assignments(stream, "upsert", stop="on")
    on: tuple[str, ...] = ()
    if stream.accept_keyword("on"):
        on = _names(stream, "a field name after 'on'")
    if not assignments:
        raise ParseError(
            "expected field=value after the entity (usage: upsert ENTITY field=value ... "
            "[on FIELD, ...])",
            stream.peek().pos,
        )
    return Upsert(entity, assignments, on)


@command(
    "set",
    usage="set ENTITY PK field=value ...  |  set @N field=value ...",
    summary="change fields of one row",
    details=(
        "PK is a value, a tuple (1, 2) for a composite key, or a handle @1; a handle alone "
        'names its entity too (set @1 name="Ann"). A collection takes coll+=[@2, 3] (add), '
        "coll-=[3] (take out) or coll=[1, 2] (exactly these)."
    ),
    slots=("entity", "key", "fields"),
)
def _parse_set(stream: TokenStream) -> Set:
    entity, key = _entity_and_key(stream, "set")
    return Set(entity, key, _assignments(stream, "set"))


@command(
    "remove",
    usage="remove ENTITY PK [PK ...]  |  remove ENTITY where EXPR  |  remove @N [@N ...]",
    summary="stage removals",
    slots=("entity", "key", "where"),
)
def _parse_remove(stream: TokenStream) -> Remove:
    if stream.peek().kind == "HANDLE":  # remove @1 [@2 ...]: each handle names its entity
        keys = []
        while stream.peek().kind != "EOF":
            if stream.peek().kind != "HANDLE":
                raise ParseError(
                    f"expected a handle such as @2, got {describe(stream.peek())}",
                    stream.peek().pos,
                )
            keys.append(_key(stream, "after 'remove'"))
        return Remove("", tuple(keys))
    entity = _entity(stream, "remove")
    if stream.accept_keyword("where"):
        return Remove(entity, where=parse_where(stream))
    keys = [_key(stream, f"after 'remove {entity}'")]
    while stream.peek().kind != "EOF":
        keys.append(_key(stream, f"after 'remove {entity}'"))
    return Remove(entity, tuple(keys))


AGGREGATE_FUNCS = ("count", "sum", "avg", "min", "max")


def _names(stream: TokenStream, what: str) -> tuple[str, ...]:
    """``FIELD, FIELD, ...`` (fields or paths such as ``author.name``)."""
    names = [stream.expect_name(what).text]
    while stream.accept_op(","):
        names.append(stream.expect_name(what).text)
    return tuple(names)


def _select_item(stream: TokenStream) -> SelectItem:
    token = stream.expect_name("a field or an aggregate such as sum(views) after 'select'")
    name = None
    if stream.accept_op("="):
        name = token.text
        token = stream.expect_name(f"a field or an aggregate after '{name}='")
    if not stream.accept_op("("):
        return SelectItem(token.text, None, name)
    func = token.text.lower()
    if func not in AGGREGATE_FUNCS:
        raise ParseError(
            f"unknown aggregate {token.text!r}; use {', '.join(AGGREGATE_FUNCS)}", token.pos
        )
    field = None
    if not stream.at_op(")"):
        field = stream.expect_name(f"a field inside {func}(...)").text
    if not stream.accept_op(")"):
        raise ParseError(f"expected ')' after {func}({field or ''}", stream.peek().pos)
    return SelectItem(field, func, name)


def parse_select_list(stream: TokenStream) -> tuple[SelectItem, ...]:
    """``ITEM, ITEM, ...`` (the text of ``ormcli find --select``)."""
    items = [_select_item(stream)]
    while stream.accept_op(","):
        items.append(_select_item(stream))
    return tuple(items)


@command(
    "find",
    usage=(
        "find ENTITY [select ITEM, ...] [distinct] [where EXPR] [group by FIELD, ...] "
        "[order by NAME [desc]] [limit N] [--all]"
    ),
    summary="query rows (or a select list, grouped)",
    details=(
        'EXPR: comparisons (= != < <= > >=), FIELD in (1, 2), FIELD like "A%", '
        "FIELD is [not] null, combined with and / or / not and parentheses. ITEM: a field or "
        "path (author.name), or count() sum(F) avg(F) min(F) max(F) count(F), optionally "
        "named: total=sum(views). order by takes fields or the names of the select list. "
        "The REPL shows at most 200 rows unless limit N or --all says otherwise."
    ),
    slots=("entity", "where"),
)
def _parse_find(stream: TokenStream) -> Find:
    entity = _entity(stream, "find")
    select: list[SelectItem] = []
    if stream.accept_keyword("select"):
        select.extend(parse_select_list(stream))
    distinct = stream.accept_keyword("distinct")
    where = _optional_where(stream)
    group_by: tuple[str, ...] = ()
    if stream.accept_keyword("group"):
        stream.expect_keyword("by", "after 'group'")
        group_by = _names(stream, "a field name after 'group by'")
    order: list[OrderBy] = []
    if stream.accept_keyword("order"):
        stream.expect_keyword("by", "after 'order'")
        while True:
            name = stream.expect_name("a field name after 'order by'").text
            descending = stream.accept_keyword("desc")
            if not descending:
                stream.accept_keyword("asc")
            order.append(OrderBy(name, descending))
            if not stream.accept_op(","):
                break
    limit = None
    if stream.accept_keyword("limit"):
        token = stream.peek()
        if token.kind != "NUMBER" or not isinstance(token.value, int) or token.value < 0:
            raise ParseError(
                f"expected a whole number after 'limit', got {describe(token)}", token.pos
            )
        stream.next()
        limit = token.value
    show_all = "--all" in _flags(stream, ("--all",), "find")
    if stream.at_keyword(*STOP_WORDS, "select", "distinct", "group"):
        token = stream.peek()
        raise ParseError(
            f"unexpected {token.text!r}: write select, distinct, where, group by, order by, "
            "then limit",
            token.pos,
        )
    if group_by and not select:
        select = [SelectItem(name) for name in group_by] + [SelectItem(None, "count")]
    return Find(entity, where, tuple(order), limit, tuple(select), distinct, group_by, all=show_all)


@command(
    "show",
    usage="show ENTITY PK  |  show @N",
    summary="one row as a record",
    slots=("entity", "key"),
)
def _parse_show(stream: TokenStream) -> Show:
    entity, key = _entity_and_key(stream, "show")
    return Show(entity, key)


@command(
    "count",
    usage="count ENTITY [by FIELD, ...] [where EXPR]",
    summary="count rows (per value of FIELD with by)",
    slots=("entity", "where"),
)
def _parse_count(stream: TokenStream) -> Count:
    entity = _entity(stream, "count")
    by: tuple[str, ...] = ()
    if stream.accept_keyword("by"):
        by = _names(stream, "a field name after 'by'")
    where = _optional_where(stream)
    if not by and stream.accept_keyword("by"):
        by = _names(stream, "a field name after 'by'")
    return Count(entity, where, by)


@command(
    "status",
    usage="status [--sql] [--all]",
    summary="the pending change set: + added, ~ changed (old → new), - removed",
    details=(
        "--sql adds the statements the commit will send, after batching; --all lists every "
        "entry (past 20 of a kind the rest are counted)."
    ),
    slots=("flags",),
    flags=("--sql", "--all"),
)
def _parse_status(stream: TokenStream) -> Status:
    flags = _flags(stream, ("--sql", "--all"), "status")
    return Status("--sql" in flags, "--all" in flags)


@command("undo", usage="undo", summary="unstage the last staged operation")
def _parse_undo(stream: TokenStream) -> Undo:
    return Undo()


@command("commit", usage="commit", summary="write the pending change set in one transaction")
def _parse_commit(stream: TokenStream) -> Commit:
    return Commit()


@command(
    "rollback",
    usage="rollback",
    summary="discard staged work and restore changed fields",
)
def _parse_rollback(stream: TokenStream) -> Rollback:
    return Rollback()


@command(
    "migrate",
    usage="migrate [--dry-run]",
    summary="create missing tables and indexes (never drops data)",
    details="--dry-run prints the SQL without running it.",
    slots=("flags",),
    flags=("--dry-run",),
)
def _parse_migrate(stream: TokenStream) -> Migrate:
    return Migrate("--dry-run" in _flags(stream, ("--dry-run",), "migrate"))


@command(
    "option",
    usage="option [NAME [VALUE]]",
    summary="show or change a REPL setting: format, timing, pager, limit",
    details=(
        "format table|vertical|csv|tsv|json|jsonl; timing on|off; pager on|off|COMMAND "
        "(on: $PAGER, else less -SRXF); limit N|all (rows find shows without limit or --all)."
    ),
)
def _parse_option(stream: TokenStream) -> Option:
    words: list[str] = []
    while stream.peek().kind != "EOF":
        token = stream.next()
        words.append(str(token.value) if token.kind == "STRING" else token.text)
    if len(words) > 2 and words[0] == "pager":
        words = [words[0], " ".join(words[1:])]
    if len(words) > 2:
        raise ParseError("option takes NAME and one VALUE (quote a value with spaces)")
    return Option(*(w.lower() if i == 0 else w for i, w in enumerate(words)))


@command("help", usage="help [COMMAND]", summary="this list, or one command", slots=("command",))
def _parse_help(stream: TokenStream) -> Help:
    if stream.peek().kind == "NAME":
        return Help(stream.next().text.lower())
    return Help()


@command(
    "quit",
    usage="quit",
    summary="leave (asks first if work is staged)",
    aliases=("exit",),
)
def _parse_quit(stream: TokenStream) -> Quit:
    return Quit()
