"""What a command produces, as plain data: the executor builds these, ``render.py`` draws them.

Callers: ``executor.py`` returns them; ``render.py``, ``repl.py``, ``script.py`` and ``app.py``
consume them. Values are already text (literal syntax, see ``values.py``), so rendering needs no
models and no database, and the renderer can be tested from hand-made instances. Nothing here
talks to core.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Message:
    """A sentence for the user (``stderr`` in the command app)."""

    text: str


@dataclass(frozen=True)
class Staged:
    """``add`` staged a new entity: ``+ @1 User email="a@b" ...``."""

    handle: str
    entity: str
    fields: tuple[tuple[str, str], ...]
    upsert: bool = False
    """Staged by ``upsert`` (shown ``+~``)."""


@dataclass(frozen=True)
class FieldChange:
    """One changed field: name, old and new value as literals."""

    name: str
    old: str
    new: str


@dataclass(frozen=True)
class Modified:
    """``set`` changed fields of one entity."""

    entity: str
    label: str
    changes: tuple[FieldChange, ...]


@dataclass(frozen=True)
class RemovedItems:
    """``remove`` staged removals (or unstaged new entities)."""

    entity: str
    labels: tuple[str, ...]
    unstaged: int = 0


@dataclass(frozen=True)
class Rows:
    """Rows of one entity (``find``, ``show``); cells are display text, ``None`` for null."""

    entity: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str | None, ...], ...]
    record: bool = False
    """Show a single row as a vertical record (``show``)."""
    marks: tuple[str, ...] = ()
    """Per row ``+`` staged add, ``~`` staged change, ``-`` staged removal or ``""``; empty
    when nothing of the entity is staged."""
    values: tuple[tuple[object, ...], ...] = ()
    """The rows as JSON-ready values (numbers stay numbers), when asked for (JSON output)."""
    total: int | None = None
    """How many rows matched, when the default row limit showed fewer."""
    hidden: int = 0
    """Stored rows that matched but are staged for removal, so not shown (``find``)."""
    collections: tuple[CollectionSummary, ...] = ()
    """``show``: each collection of the row, its count and first items."""


@dataclass(frozen=True)
class CollectionSummary:
    """A collection in ``show``: its name, its items' entity, how many, the first few."""

    name: str
    entity: str
    count: int
    first: tuple[str, ...]


@dataclass(frozen=True)
class Counted:
    """``count``: how many rows matched."""

    entity: str
    count: int


@dataclass(frozen=True)
class AddedEntry:
    """A ``+`` line of the change set."""

    entity: str
    label: str
    fields: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class UpsertEntry:
    """A ``+~`` line of the change set: insert, or update the row with the same ``on``."""

    entity: str
    label: str
    on: tuple[str, ...]
    fields: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ChangedEntry:
    """A ``~`` line of the change set."""

    entity: str
    label: str
    changes: tuple[FieldChange, ...]


@dataclass(frozen=True)
class RemovedEntry:
    """A ``-`` line of the change set, with the fields that identify the row."""

    entity: str
    label: str
    fields: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class CollectionEntry:
    """An owner's collection edits in ``status``: ``(mark, collection, member)`` lines."""

    entity: str
    label: str
    lines: tuple[tuple[str, str, str], ...]


@dataclass(frozen=True)
class SqlStatement:
    """A statement the commit will send: SQL text, bound parameters as literals, rows."""

    sql: str
    params: tuple[str, ...] = ()
    rows: int = 1


@dataclass(frozen=True)
class ChangeSetView:
    """The pending change set (``status``), and the SQL when asked for."""

    added: tuple[AddedEntry, ...] = ()
    changed: tuple[ChangedEntry, ...] = ()
    removed: tuple[RemovedEntry, ...] = ()
    sql: tuple[SqlStatement, ...] | None = None
    show_all: bool = False
    """List every entry (``status --all``); else past a threshold the rest are counted."""
    collections: tuple[CollectionEntry, ...] = ()
    """Collection edits, per owner (shown as ``+``/``-`` lines under it)."""
    upserted: tuple[UpsertEntry, ...] = ()
    """Staged upserts (``+~``)."""

    @property
    def empty(self) -> bool:
        """No staged work."""
        return not (self.added or self.changed or self.removed or self.upserted)


@dataclass(frozen=True)
class Committed:
    """What a commit wrote."""

    inserts: int
    updates: int
    deletes: int
    statements: int
    elapsed_ms: float
    upserts: int = 0


@dataclass(frozen=True)
class FieldView:
    """One field in ``models``."""

    name: str
    type: str
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class EntityView:
    """One entity in ``models``."""

    name: str
    table: str
    fields: tuple[FieldView, ...]


@dataclass(frozen=True)
class ModelsView:
    """``models [ENTITY]``."""

    entities: tuple[EntityView, ...]
    detailed: bool = False


@dataclass(frozen=True)
class MigrationView:
    """``migrate``: the statements (run or only shown) and what was refused."""

    statements: tuple[str, ...]
    refused: tuple[str, ...]
    applied: bool


@dataclass(frozen=True)
class HelpEntry:
    """One command in ``help``."""

    usage: str
    summary: str
    details: str = ""


@dataclass(frozen=True)
class HelpView:
    """``help`` (all commands) or ``help COMMAND`` (one, with details)."""

    entries: tuple[HelpEntry, ...]
    detailed: bool = False
    footer: tuple[str, ...] = field(default=())


Result = (
    Message
    | Staged
    | Modified
    | RemovedItems
    | Rows
    | Counted
    | ChangeSetView
    | Committed
    | ModelsView
    | MigrationView
    | HelpView
)
