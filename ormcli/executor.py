"""Run commands of the language against a core Session: the workspace of one REPL or script.

A :class:`Workspace` holds the database, the session, the loaded model classes, the handles
(``@1`` → an entity staged in this session) and the undo stack. :meth:`Workspace.execute` takes a
command from ``language.py`` and returns a result from ``results.py``; it never prints.
Callers: ``repl.py``, ``script.py``, ``app.py``. Every database operation goes through core's
public API (``Database``, ``Session``, ``Query``, ``F``); values are coerced with
``values.py`` and never reach SQL text. A failing command leaves the session exactly as it was
(checks happen before anything is staged). ``quit`` is not executed here (the caller decides
how to leave).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import core
from ormcli import lazy, loader
from ormcli.commands import lookup, specs
from ormcli.errors import CliError, UsageError, exit_code_for
from ormcli.literals import Handle, Lit, format_literal
from ormcli.suggest import did_you_mean
from ormcli.values import coerce, display, key_value, plain
from ormcli.where import Expr, compile_where

if TYPE_CHECKING:
    from ormcli import language as cmd
    from ormcli import results as r
    from ormcli import staged
else:  # built at first use (start-up time: ormcli/lazy.py)
    cmd = lazy.module("ormcli.language")
    r = lazy.module("ormcli.results")
    staged = lazy.module("ormcli.staged")


class CommitFailed(CliError):
    """A commit was refused or broke; the exit code follows the underlying core error."""

    def __init__(self, message: str, cause: BaseException) -> None:
        super().__init__(" ".join(message.split()))
        self.cause = cause
        self.exit_code = exit_code_for(cause)


@dataclass
class _UndoStep:
    """One staged operation and how to take it back."""

    description: str
    undo: Callable[[], None]


class Workspace:
    """The database, the session and what this REPL or script has staged so far."""

    def __init__(
        self, url: str, classes: list[type], servers: dict[str, Any] | None = None
    ) -> None:
        self.url = url
        self.classes = list(classes)
        #: Several servers (``--db`` repeated, ``--replica``): ``nodes``, ``replicas``,
        #: ``replica_reads`` for ``core.Database`` (docs/scale-out.md).
        self.servers = dict(servers or {})
        self.db: Any = self._open_database(self.classes)
        self.session: Any = self.db.create_session()
        self.handles: dict[int, Any] = {}
        self._handle_of: dict[int, int] = {}
        #: The last handle number given (handles are never reused, even after undo).
        self._last_handle = 0
        #: ``find`` without ``limit`` or ``--all`` shows at most this many rows (the REPL sets
        #: it; None: every row, as ``ormcli find`` and scripts want).
        self.row_limit: int | None = None
        #: Build ``Rows.values`` (typed, JSON-ready) for JSON output.
        self.json_values = False
        #: ``repl --sandbox``: commits flush into one transaction rolled back at the end.
        self.sandbox = False
        #: name -> (database, EntityInfo) of names already looked up (``load`` replaces db).
        self._entities: dict[str, tuple[Any, Any]] = {}
        self._undo: list[_UndoStep] = []

    # --- lookups ----------------------------------------------------------------------------

    def entity_names(self) -> list[str]:
        """The user-facing names of the loaded entities (class names)."""
        return [info.cls.__name__ for info in self.db.entities]

    def entity(self, name: str) -> Any:
        """The EntityInfo of ``name`` (class name, entity name, or either case-insensitively)."""
        cached = self._entities.get(name)
        if cached is not None and cached[0] is self.db:
            return cached[1]
        info = self._find_entity(name)
        self._entities[name] = (self.db, info)
        return info

    def _find_entity(self, name: str) -> Any:
        infos = list(self.db.entities)
        if not infos:
            raise UsageError("no models loaded; pass --models PATH or use: load PATH")
        for match in (
            lambda i: i.cls.__name__ == name,
            lambda i: i.name == name,
            lambda i: name.lower() in (i.cls.__name__.lower(), i.name.lower()),
        ):
            for info in infos:
                if match(info):
                    return info
        known = sorted(self.entity_names())
        hint = did_you_mean(name, known)
        raise UsageError(f"unknown entity {name!r}{hint} (known: {', '.join(known)})")

    def field(self, info: Any, name: str) -> Any:
        """The FieldInfo of ``info.name``, or a CliError listing the fields."""
        for f in info.fields:
            if f.name == name:
                return f
        names = [f.name for f in info.fields]
        hint = did_you_mean(name, names)
        raise UsageError(
            f"{info.cls.__name__} has no field {name!r}{hint} (fields: {', '.join(names)})"
        )

    #: Keys offered by Tab for a reference value (``author=``), at most.
    KEY_CHOICES = 50

    def key_choices(self, info: Any, typed: str = "") -> list[tuple[str, str]]:
        """Stored keys of ``info``'s entity worth offering for a reference value, as
        ``(literal, label)``: the key as it is typed (``3``, ``"TEA-1"``) and the row's first
        text field. ``typed`` is the start of the value typed so far; keys that do not start
        with it are left out in the query (a number: the keys made of it and up to two more
        digits). Rows staged for removal are left out; at most :attr:`KEY_CHOICES`, in key
        order. An entity with a composite key has none (a reference names it by handle); a
        failing query (no table yet) gives none. Read-only: nothing is tracked or staged."""
        keys = info.primary_key
        if len(keys) != 1 or keys[0].kind not in ("int", "str", "uuid", "date", "decimal"):
            return []
        key = keys[0]
        label = next((f for f in info.fields if f.kind == "str" and not f.primary_key), None)
        query = self.session.query(info.cls)
        text = typed.strip()
        if key.kind == "int":
            if text and not (text.isascii() and text.isdigit()):
                return []
            if text:
                start = int(text)
                wanted = [start, *range(start * 10, start * 10 + 10)]
                wanted += range(start * 100, start * 100 + 100)
                query = query.filter(core.F(key.name).in_(wanted))
        elif text.lstrip("\"'"):
            pattern = core.like_escape(text.lstrip("\"'")) + "%"
            query = query.filter(core.F(key.name).like(pattern))
        removed = {
            info.pk_of(obj) for obj in staged.staging_of(self.session, info).removed.values()
        }
        named = {"key": core.F(key.name)}
        if label is not None:
            named["label"] = core.F(label.name)
        try:
            rows = (
                query.select(**named).order_by("key").limit(self.KEY_CHOICES + len(removed)).find()
            )
        except core.OrmError:
            return []
        found = []
        for row in rows:
            value = row[0]
            if value in removed:
                continue
            meta = cut_text(row[1]) if label is not None and row[1] is not None else ""
            found.append((format_literal(value), meta))
        return found[: self.KEY_CHOICES]

    def counts(self) -> tuple[int, int, int]:
        """(added, changed, removed) staged in the session."""
        added, changed, removed = self.session.counts()
        return int(added), int(changed), int(removed)

    @property
    def dirty(self) -> bool:
        """Is anything staged?"""
        return bool(self.session.is_dirty)

    def label(self, obj: Any) -> str:
        """How an entity is named in output: its handle while new, else its primary key."""
        named, pk = self._name_or_key(obj)
        return named if named is not None else format_literal(pk)

    def _name_or_key(self, obj: Any) -> tuple[str | None, Any]:
        """``(text, None)`` for a new entity's handle or a composite key, else ``(None, key)``:
        a single key, shown as a literal by ``label`` and as plain text by ``cell``."""
        handle = self._handle_of.get(id(obj))
        if handle is not None and self.session.state_of(obj) == "new":
            return f"@{handle}", None
        info = core.entity_info(obj)
        try:
            pk = info.pk_of(obj)
        except AttributeError:
            pk = None
        if handle is not None and pk in (None, 0):
            return f"@{handle}", None
        if isinstance(pk, tuple):
            return "(" + ", ".join(self.literal(v) for v in pk) + ")", None
        return None, pk

    def literal(self, value: Any) -> str:
        """A field value in literal syntax; an entity as its handle or key."""
        if value is not None and _is_entity(value):
            return self.label(value)
        if isinstance(value, list | set) and value and all(_is_entity(v) for v in value):
            return "[" + ", ".join(self.label(v) for v in value) + "]"  # a collection
        return format_literal(value)

    def cell(self, value: Any) -> str | None:
        """A field value as a table cell."""
        if value is None:
            return None
        if _is_entity(value):
            named, pk = self._name_or_key(value)
            return named if named is not None else display(pk)
        return display(value)

    def _resolve(self, target: Any, lit: Lit) -> Any:
        """A reference value: a handle or a primary key of ``target``."""
        if isinstance(lit.value, Handle):
            obj = self._by_handle(lit.value)
            if not isinstance(obj, target.cls):
                raise CliError(
                    f"{lit.value} is a {type(obj).__name__}, not a {target.cls.__name__}"
                )
            return obj
        pk = key_value(target, (lit,))
        obj = self._get(target, pk)
        if obj is None:
            raise CliError(f"no {target.cls.__name__} with key {lit.text}")
        return obj

    def _get(self, info: Any, pk: Any) -> Any:
        """By primary key: the session (identity map, then database), else a staged new entity
        with that key (a natural key given in ``add``)."""
        obj = self.session.get(info.cls, pk)
        if obj is not None:
            return obj
        for new in self.handles.values():
            if isinstance(new, info.cls) and self.session.state_of(new) == "new":
                try:
                    if info.pk_of(new) == pk:
                        return new
                except AttributeError:
                    continue
        return None

    def _open_database(self, classes: list[type]) -> Any:
        options = dict(self.servers)
        nodes = options.pop("nodes", None)
        return core.Database(nodes or self.url, classes, **options)

    def reset_handles(self) -> None:
        """Start handle numbers at @1 again (after a seed script, say); staging is unchanged."""
        self.handles.clear()
        self._handle_of.clear()
        self._last_handle = 0
        self._undo.clear()

    def _by_handle(self, handle: Handle) -> Any:
        obj = self.handles.get(handle.number)
        if obj is None:
            raise CliError(f"unknown handle {handle} (handles name entities added this session)")
        if self.session.state_of(obj) == "detached":
            raise CliError(f"{handle} is no longer staged (it was removed or rolled back)")
        return obj

    def _entity_and_object(self, entity: str, key: cmd.Key) -> tuple[Any, Any]:
        """The EntityInfo and object that ``ENTITY PK`` names; entity "" means the key is a
        handle written alone, whose object names its entity."""
        if not entity and key.handle is not None:
            obj = self._by_handle(key.handle)
            return core.entity_info(obj), obj
        info = self.entity(entity)
        return info, self._lookup(info, key)

    def _lookup(self, info: Any, key: cmd.Key) -> Any:
        if key.handle is not None:
            obj = self._by_handle(key.handle)
            if not isinstance(obj, info.cls):
                raise CliError(f"{key.handle} is a {type(obj).__name__}, not {info.cls.__name__}")
            return obj
        pk = key_value(info, key.values)
        obj = self._get(info, pk)
        if obj is None:
            raise CliError(f"no {info.cls.__name__} with key {key.text}")
        return obj

    def _where(self, info: Any, expr: Expr) -> Any:
        return compile_where(expr, info, self._converter(info))

    def _converter(self, info: Any) -> Callable[[Any, Lit], Any]:
        """How a literal in a ``where`` becomes the value a field is compared with."""

        def convert(field: Any, lit: Lit) -> Any:
            if field.kind == "reference":
                if isinstance(lit.value, Handle):
                    return self._resolve(field.target, lit)
                # A key filters by key: a missing row simply matches nothing.
                return key_value(field.target, (lit,))
            return coerce(field, lit, self._resolve, info.cls.__name__)

        return convert

    def _accept(self, info: Any, where: Expr | None) -> Callable[[Callable[[str], Any]], bool]:
        """Does a row with these (staged) values match ``where``? Matched in memory."""
        if where is None:
            return lambda values: True
        convert = self._converter(info)
        return lambda values: staged.matches(where, info, convert, values)

    # --- dispatch ---------------------------------------------------------------------------

    def execute(self, command: cmd.Command) -> r.Result:
        """Run one command; raise CliError or a core error when it fails (nothing staged)."""
        handler = getattr(self, "_do_" + type(command).__name__.lower())
        result: r.Result = handler(command)
        return result

    def _do_load(self, command: cmd.Load) -> r.Result:
        if self.dirty:
            raise CliError("commit or rollback the staged work before loading models")
        before = set(self.classes)
        classes = loader.load_models([command.path], already=self.classes)
        new = [c for c in classes if c not in before]
        if new:
            db = self._open_database(classes)
            self.db.close()
            self.db, self.session, self.classes = db, db.create_session(), classes
            self.reset_handles()
        names = ", ".join(c.__name__ for c in new) or "nothing new"
        hint = ""
        if new and not self.db.migration_plan().empty:
            hint = " (run migrate to create their tables)"
        return r.Message(f"loaded {command.path}: {names}{hint}")

    def _do_models(self, command: cmd.Models) -> r.Result:
        infos = [self.entity(command.entity)] if command.entity else list(self.db.entities)
        views = []
        for info in infos:
            fields = []
            for f in info.fields:
                notes = [
                    note
                    for flag, note in (
                        (f.primary_key, "primary key"),
                        (f.autoincrement, "auto"),
                        (f.unique, "unique"),
                        (f.index, "index"),
                    )
                    if flag
                ]
                if f.kind == "reference" and f.target is not None:
                    notes.append(f"→ {f.target.cls.__name__}")
                if f.has_default and not f.autoincrement:
                    try:
                        notes.append(f"default {format_literal(f.default_value())}")
                    except Exception:  # a default factory may need context; show none
                        notes.append("default")
                fields.append(r.FieldView(f.name, f.type_label, tuple(notes)))
            for rel in info.relations.values():
                fields.append(r.FieldView(rel.name, _collection_type(rel), _relation_notes(rel)))
            views.append(r.EntityView(info.cls.__name__, info.name, tuple(fields)))
        return r.ModelsView(tuple(views), detailed=command.entity is not None)

    def _do_add(self, command: cmd.Add) -> r.Result:
        info = self.entity(command.entity)
        values: dict[str, Any] = {}
        collections: dict[str, list[Any]] = {}
        for a in command.assignments:
            if a.field in info.relations:
                collections[a.field] = self._items(info.relations[a.field], a.value)
                continue
            values[a.field] = coerce(
                self.field(info, a.field), a.value, self._resolve, info.cls.__name__
            )
        missing = [
            f.name
            for f in info.fields
            if f.name not in values and not f.has_default and not f.autoincrement
        ]
        if missing:
            raise CliError(
                f"{info.cls.__name__} needs a value for {', '.join(missing)} (no default)"
            )
        obj = _construct(info, values)
        self.session.add(obj)
        edits = [
            self._edit(obj, info.relations[n], "+=", items) for n, items in collections.items()
        ]
        self._last_handle += 1
        number = self._last_handle
        self.handles[number] = obj
        self._handle_of[id(obj)] = number

        def undo() -> None:
            for undo_edit in reversed(edits):
                undo_edit()
            self.session.unstage(obj)

        self._undo.append(_UndoStep(f"add @{number} {info.cls.__name__}", undo))
        shown = tuple(
            (a.field, self.literal(values[a.field] if a.field in values else collections[a.field]))
            for a in command.assignments
        )
        return r.Staged(f"@{number}", info.cls.__name__, shown)

    def _do_upsert(self, command: cmd.Upsert) -> r.Result:
        info = self.entity(command.entity)
        values: dict[str, Any] = {}
        for a in command.assignments:
            if a.field in info.relations:
                raise CliError(
                    f"upsert writes columns only; {info.cls.__name__}.{a.field} is a collection "
                    "(stage its items with add or set once the row exists)"
                )
            values[a.field] = coerce(
                self.field(info, a.field), a.value, self._resolve, info.cls.__name__
            )
        for name in command.on:
            self.field(info, name)
        # The update branch writes the fields the line gives (others keep their stored values).
        target = set(command.on) or {f.name for f in info.primary_key}
        version = info.version_field
        update = tuple(
            name
            for name in values
            if name not in target
            and not info.field(name).primary_key
            and (version is None or name != version.name)
        )
        obj = _construct(info, values)
        self.session.upsert(obj, on=command.on or None, update=update)
        self._last_handle += 1
        number = self._last_handle
        self.handles[number] = obj
        self._handle_of[id(obj)] = number

        def undo() -> None:
            self.session.unstage(obj)

        self._undo.append(_UndoStep(f"upsert @{number} {info.cls.__name__}", undo))
        shown = tuple((a.field, self.literal(values[a.field])) for a in command.assignments)
        return r.Staged(f"@{number}", info.cls.__name__, shown, upsert=True)

    def _do_set(self, command: cmd.Set) -> r.Result:
        info, obj = self._entity_and_object(command.entity, command.key)
        if any(a.field in info.relations for a in command.assignments):
            return self._set_collections(info, obj, command)
        new: dict[str, Any] = {}
        for a in command.assignments:
            if a.op != "=":
                raise CliError(
                    f"{a.op} edits a collection; {info.cls.__name__}.{a.field} is a field: "
                    f"write {a.field}=value"
                )
            field = self.field(info, a.field)
            if field.primary_key and self.session.state_of(obj) != "new":
                raise CliError(f"the primary key {info.cls.__name__}.{field.name} cannot change")
            new[a.field] = coerce(field, a.value, self._resolve, info.cls.__name__)
        old = {name: getattr(obj, name) for name in new}
        for name, value in new.items():
            setattr(obj, name, value)

        def undo() -> None:
            for name, value in old.items():
                setattr(obj, name, value)

        label = self.label(obj)
        self._undo.append(_UndoStep(f"set {info.cls.__name__} {label}", undo))
        changes = tuple(
            r.FieldChange(name, self.literal(old[name]), self.literal(new[name])) for name in new
        )
        return r.Modified(info.cls.__name__, label, changes)

    # --- collections ----------------------------------------------------------------------

    def _items(self, relation: Any, lit: Lit) -> list[Any]:
        """The objects a collection literal names: ``[@1, 3]`` (handles or keys of the
        collection's entity), or one of them alone."""
        values = lit.value if isinstance(lit.value, list) else [lit.value]
        items = []
        for value in values:
            if isinstance(value, list | dict):
                raise CliError(
                    f"{relation.label} takes handles or keys of {relation.target.cls.__name__}, "
                    f"got {format_literal(value)}"
                )
            items.append(self._resolve(relation.target, Lit(value, format_literal(value))))
        return items

    def _edit(self, obj: Any, relation: Any, op: str, items: list[Any]) -> Callable[[], None]:
        """Apply ``op`` (``=``, ``+=``, ``-=``) to ``obj``'s collection; return its undo."""
        coll = getattr(obj, relation.name)
        before = list(coll)
        ref = relation.reference
        old_owner = {id(i): (i, i.__dict__.get(ref.name)) for i in items} if ref else {}
        if op == "=":
            setattr(obj, relation.name, items)
        elif op == "+=":
            for item in items:
                coll.append(item)
        else:
            for item in items:
                if item not in coll:
                    raise CliError(
                        f"{self.label(item)} is not in {relation.label} of {self.label(obj)}"
                    )
                coll.remove(item)

        def undo() -> None:
            if ref is not None:  # one-to-many: put each item's reference back
                for item, owner in old_owner.values():
                    setattr(item, ref.name, owner)
                for item in before:
                    if item.__dict__.get(ref.name) is not obj:
                        setattr(item, ref.name, obj)
            else:
                setattr(obj, relation.name, before)

        return undo

    def _set_collections(self, info: Any, obj: Any, command: cmd.Set) -> r.Result:
        """``set ENTITY PK tags+=[@2] tags-=[3] title="x"``: collection edits (and fields)."""
        undos: list[Callable[[], None]] = []
        changes: list[r.FieldChange] = []
        try:
            for a in command.assignments:
                relation = info.relations.get(a.field)
                if relation is None:
                    field = self.field(info, a.field)
                    if a.op != "=":
                        raise CliError(f"{a.op} edits a collection; {a.field} is a field")
                    old = getattr(obj, a.field)
                    value = coerce(field, a.value, self._resolve, info.cls.__name__)
                    setattr(obj, a.field, value)
                    undos.append(functools.partial(setattr, obj, a.field, old))
                    changes.append(r.FieldChange(a.field, self.literal(old), self.literal(value)))
                    continue
                items = self._items(relation, a.value)
                before = self.literal(list(getattr(obj, a.field)))
                undos.append(self._edit(obj, relation, a.op, items))
                after = self.literal(list(getattr(obj, a.field)))
                changes.append(r.FieldChange(a.field, before, after))
        except BaseException:
            for undo_one in reversed(undos):
                undo_one()
            raise

        def undo() -> None:
            for undo_one in reversed(undos):
                undo_one()

        label = self.label(obj)
        self._undo.append(_UndoStep(f"set {info.cls.__name__} {label}", undo))
        return r.Modified(info.cls.__name__, label, tuple(changes))

    def _do_remove(self, command: cmd.Remove) -> r.Result:
        if not command.entity:  # remove @1 @2 ...
            found = [self._entity_and_object("", key) for key in command.keys]
            objs = list({id(o): o for _, o in found}.values())
            return self._stage_removals(found[0][0], objs)
        info = self.entity(command.entity)
        if command.where is not None:
            objs = list(
                self.session.query(info.cls).filter(self._where(info, command.where)).find()
            )
        else:
            objs = []
            for key in command.keys:
                obj = self._lookup(info, key)
                if obj not in objs:
                    objs.append(obj)
        if not objs:
            return r.Message(f"no {info.cls.__name__} matched; nothing staged")
        return self._stage_removals(info, objs)

    def _stage_removals(self, info: Any, objs: list[Any]) -> r.Result:
        labels = tuple(self.label(o) for o in objs)
        was_new = [o for o in objs if self.session.state_of(o) == "new"]
        self.session.remove(*objs)

        def undo() -> None:
            for obj in objs:
                if obj in was_new:
                    self.session.add(obj)
                else:
                    self.session.unstage(obj)

        self._undo.append(_UndoStep(f"remove {info.cls.__name__} {' '.join(labels)}", undo))
        return r.RemovedItems(info.cls.__name__, labels, unstaged=len(was_new))

    def _query(self, info: Any, where: Expr | None) -> Any:
        query = self.session.query(info.cls)
        if where is not None:
            query = query.filter(self._where(info, where))
        return query

    def json_value(self, value: Any) -> Any:
        """A field value for JSON: references as their key, the rest through ``plain``."""
        if value is not None and _is_entity(value):
            return plain(core.entity_info(value).pk_of(value))
        return plain(value)

    def _rows(
        self,
        info: Any,
        objs: list[Any],
        staging: staged.Staging,
        record: bool = False,
        total: int | None = None,
        include: tuple[str, ...] = (),
    ) -> r.Rows:
        columns = tuple(f.name for f in info.fields)
        tree = _include_tree(include)
        extra = tuple(name for name in tree if name not in columns)
        marks = tuple(staging.mark(o) for o in objs) if not staging.empty else ()
        new_key = {f.name for f in info.fields if f.primary_key and f.autoincrement}
        rows = []
        for i, o in enumerate(objs):
            if marks and marks[i] == staged.ADDED and new_key:
                handle = self._handle_of.get(id(o))
                new = f"@{handle} (new)" if handle is not None else "(new)"
                rows.append(
                    tuple(
                        new if name in new_key else self.cell(getattr(o, name)) for name in columns
                    )
                )
            else:
                rows.append(tuple(self.cell(getattr(o, name)) for name in columns))
        if extra:  # included collections: their size in a table
            rows = [
                row + tuple(self._included_cell(getattr(o, n)) for n in extra)
                for row, o in zip(rows, objs, strict=True)
            ]
        values: tuple[tuple[Any, ...], ...] = ()
        if self.json_values:
            values = tuple(
                tuple(self._json_field(o, n, tree.get(n)) for n in (*columns, *extra)) for o in objs
            )
        return r.Rows(
            info.cls.__name__,
            columns + extra,
            tuple(rows),
            record=record,
            hidden=staging.hidden,
            marks=marks,
            values=values,
            total=total,
        )

    def _included_cell(self, value: Any) -> str | None:
        if isinstance(value, list | set):
            return f"[{len(value)}]"
        return self.cell(value)

    def _json_field(self, obj: Any, name: str, nested: dict[str, Any] | None) -> Any:
        """A field for JSON; an included relation (``nested`` not None) as nested objects."""
        value = getattr(obj, name)
        if nested is None:
            return self.json_value(value)
        if isinstance(value, list | set):
            return [self._json_object(item, nested) for item in value]
        return None if value is None else self._json_object(value, nested)

    def _json_object(self, obj: Any, tree: dict[str, Any]) -> dict[str, Any]:
        """An object as a JSON object: its fields, and the relations of ``tree`` nested."""
        info = core.entity_info(obj)
        out = {f.name: self._json_field(obj, f.name, tree.get(f.name)) for f in info.fields}
        for name, nested in tree.items():
            if name not in out:
                out[name] = self._json_field(obj, name, nested)
        return out

    def find_objects(self, command: cmd.Find) -> tuple[Any, list[Any]]:
        """The EntityInfo and the instances ``find`` matches (also for ``--json``), as the
        commit would leave them (staged adds, changes and removals applied)."""
        info, objs, _ = self._find(command)
        return info, objs

    def _find(self, command: cmd.Find) -> tuple[Any, list[Any], staged.Staging]:
        info = self.entity(command.entity)
        for order in command.order_by:
            self.field(info, order.field)
        staging = staged.staging_of(self.session, info)
        query = self._query(info, command.where)
        if command.include:
            query = query.eager(*command.include)
        if command.order_by:
            query = query.order_by(
                *(("-" if o.descending else "") + o.field for o in command.order_by)
            )
        if command.limit is not None:
            # Staged changes and removals may push up to that many stored rows out.
            query = query.limit(command.limit + staging.touched)
        found = list(query.find())
        if staging.empty:
            return info, found, staging
        staging.hidden = sum(1 for o in found if id(o) in staging.removed)
        order_by = tuple((o.field, o.descending) for o in command.order_by)
        accept = self._accept(info, command.where)
        rows = staged.apply_to_find(found, staging, accept, order_by, command.limit)
        return info, rows, staging

    def _do_find(self, command: cmd.Find) -> r.Result:
        if command.select or command.group_by or command.distinct:
            info, columns, rows = self.find_rows(command)
            cells = tuple(tuple(self.cell(v) for v in row) for row in rows)
            values: tuple[tuple[Any, ...], ...] = ()
            if self.json_values:
                values = tuple(tuple(self.json_value(v) for v in row) for row in rows)
            return r.Rows(info.cls.__name__, columns, cells, values=values)
        cap = None if command.limit is not None or command.all else self.row_limit
        if cap is None:
            info, objs, staging = self._find(command)
            return self._rows(info, objs, staging, include=command.include)
        info, objs, staging = self._find(replace(command, limit=cap + 1))
        total = None
        if len(objs) > cap:
            objs = objs[:cap]
            counted = self._do_count(cmd.Count(command.entity, command.where))
            assert isinstance(counted, r.Counted)
            total = counted.count
        return self._rows(info, objs, staging, total=total, include=command.include)

    def find_rows(self, command: cmd.Find) -> tuple[Any, tuple[str, ...], list[Any]]:
        """``find ... select / group by / distinct``: the EntityInfo, the column names and the
        plain rows (``core.Row``) of the projection (also for ``ormcli find --select``). They
        are the database's answer, so staged work on the entity is refused rather than left out
        (plain ``find`` and ``count`` answer with it)."""
        info = self.entity(command.entity)
        if not staged.staging_of(self.session, info).empty:
            raise CliError(
                f"a select list or count by reads the database, which does not have the staged "
                f"work on {info.cls.__name__} yet; commit or rollback first"
            )
        query = self._query(info, command.where)
        if command.group_by:
            query = query.group_by(*command.group_by)
        items = command.select or tuple(cmd.SelectItem(f.name) for f in info.fields)
        named: dict[str, Any] = {}
        for item in items:
            if item.label in named:
                raise CliError(f"the select list names {item.label!r} twice; name one: x=...")
            if item.func is None:
                named[item.label] = core.F(item.field or "")
            elif item.field is None:
                if item.func != "count":
                    raise CliError(f"{item.func}() needs a field, such as {item.func}(views)")
                named[item.label] = core.F.count()
            else:
                named[item.label] = getattr(core.F(item.field), item.func)()
        projection = query.select(**named)
        if command.distinct:
            projection = projection.distinct()
        if command.order_by:
            projection = projection.order_by(
                *(("-" if o.descending else "") + o.field for o in command.order_by)
            )
        if command.limit is not None:
            projection = projection.limit(command.limit)
        return info, tuple(named), projection.find()

    def _do_show(self, command: cmd.Show) -> r.Result:
        info, obj = self._entity_and_object(command.entity, command.key)
        rows = self._rows(info, [obj], staged.staging_of(self.session, info), record=True)
        if not info.relations:
            return rows
        summaries = []
        for rel in info.relations.values():
            items = list(getattr(obj, rel.name))  # loaded as memory has it (staged work in)
            first = tuple(self._item_label(i) for i in items[:SHOW_ITEMS])
            summaries.append(
                r.CollectionSummary(rel.name, rel.target.cls.__name__, len(items), first)
            )
        return replace(rows, collections=tuple(summaries))

    def _item_label(self, obj: Any) -> str:
        """An item of a collection in ``show``: its key, and its first text field."""
        info = core.entity_info(obj)
        text = next(
            (getattr(obj, f.name) for f in info.fields if f.kind == "str" and not f.primary_key),
            None,
        )
        label = self.label(obj)
        return label if text is None else f"{label} {format_literal(cut_text(text))}"

    def _do_count(self, command: cmd.Count) -> r.Result:
        info = self.entity(command.entity)
        if command.by:
            find = cmd.Find(
                command.entity,
                command.where,
                tuple(cmd.OrderBy(name) for name in command.by),
                select=(*(cmd.SelectItem(n) for n in command.by), cmd.SelectItem(None, "count")),
                group_by=command.by,
            )
            return self._do_find(find)
        counted = int(self._query(info, command.where).count())
        staging = staged.staging_of(self.session, info)
        if not staging.empty:
            accept = self._accept(info, command.where)
            counted = staged.adjust_count(
                counted, staging, accept, self._stored_matcher(info, command.where, staging)
            )
        return r.Counted(info.cls.__name__, counted)

    def _stored_matcher(
        self, info: Any, where: Expr | None, staging: staged.Staging
    ) -> Callable[[Any], bool]:
        """Does the stored row of a staged-changed or removed object match ``where``? The
        database answers (one query per 500 keys); composite keys are matched in memory on the
        values before the staged change."""
        if where is None:
            return lambda obj: True
        touched = [obj for obj, _ in staging.changed.values()] + list(staging.removed.values())
        if info.single_pk_name is None:
            convert = self._converter(info)
            olds = {oid: changes for oid, (_, changes) in staging.changed.items()}

            def in_memory(obj: Any) -> bool:
                values = staged.stored(obj, olds.get(id(obj), {}))
                return staged.matches(where, info, convert, values)

            return in_memory
        condition = self._where(info, where)
        key = core.F(info.single_pk_name)
        matching: set[int] = set()
        for start in range(0, len(touched), 500):
            keys = [info.pk_of(obj) for obj in touched[start : start + 500]]
            query = self.session.query(info.cls).filter(condition, key.in_(keys))
            matching.update(id(obj) for obj in query.find())
        return lambda obj: id(obj) in matching

    def change_set(self, with_sql: bool = False) -> r.ChangeSetView:
        """The session's pending change set as plain data for ``render.py``."""
        changes = self.session.changes()
        added = tuple(
            r.AddedEntry(
                type(i.obj).__name__,
                self.label(i.obj),
                tuple(
                    (name, self.literal(value))
                    for name, value in i.values.items()
                    if not (value in (None, 0) and i.entity.field(name).autoincrement)
                ),
            )
            for i in changes.inserts
        )
        changed = tuple(
            r.ChangedEntry(
                type(u.obj).__name__,
                self.label(u.obj),
                tuple(
                    r.FieldChange(name, self.literal(old), self.literal(new))
                    for name, (old, new) in u.changes.items()
                ),
            )
            for u in changes.updates
        )
        upserted = tuple(
            r.UpsertEntry(
                type(u.obj).__name__,
                self.label(u.obj),
                u.on,
                tuple(
                    (name, self.literal(value))
                    for name, value in u.values.items()
                    if not (value in (None, 0) and u.entity.field(name).autoincrement)
                ),
            )
            for u in changes.upserts
        )
        removed = tuple(
            r.RemovedEntry(
                type(d.obj).__name__,
                self.label(d.obj),
                tuple(
                    (f.name, self.literal(getattr(d.obj, f.name)))
                    for f in d.entity.fields
                    if f.unique and not f.primary_key
                ),
            )
            for d in changes.deletes
        )
        collections: dict[tuple[str, str], list[tuple[str, str, str]]] = {}
        for edit in changes.collections:
            owner = edit.owner
            if hasattr(owner, "__dict__"):
                key = (type(owner).__name__, self.label(owner))
            else:  # a bare key (core's Unloaded): the owner is not loaded
                key = (edit.relation.owner.cls.__name__, format_literal(owner.pk))
            lines = collections.setdefault(key, [])
            for mark, items in (("+", edit.added), ("-", edit.removed)):
                lines.extend((mark, edit.name, self._member_label(i)) for i in items)
        entries = tuple(
            r.CollectionEntry(entity, label, tuple(lines))
            for (entity, label), lines in collections.items()
        )
        sql = None
        if with_sql:
            sql = tuple(
                r.SqlStatement(
                    s.sql, tuple(self.literal(p) for p in s.params), int(getattr(s, "rows", 1))
                )
                for s in self.session.pending_sql()
            )
        return r.ChangeSetView(added, changed, removed, sql, collections=entries, upserted=upserted)

    def _member_label(self, item: Any) -> str:
        """A collection member in ``status``: ``Post @3``, ``Tag 2``."""
        if hasattr(item, "__dict__"):
            return f"{type(item).__name__} {self.label(item)}"
        return f"{item.target.cls.__name__} {format_literal(item.pk)}"  # a bare key

    def _do_status(self, command: cmd.Status) -> r.Result:
        return replace(self.change_set(with_sql=command.sql), show_all=command.all)

    def _do_undo(self, command: cmd.Undo) -> r.Result:
        if not self._undo:
            return r.Message("nothing to undo")
        step = self._undo.pop()
        step.undo()
        return r.Message(f"undone: {step.description}")

    def _do_commit(self, command: cmd.Commit) -> r.Result:
        if not self.dirty:
            return r.Message("nothing to commit")
        try:
            # In a sandbox a commit sends its statements inside the REPL's one transaction,
            # which is rolled back when the REPL ends.
            done = self.session.flush() if self.sandbox else self.session.commit()
        except core.CommitOutcomeUnknownError as exc:
            raise CommitFailed(
                f"commit outcome unknown: {exc} (check the database before committing again)",
                exc,
            ) from exc
        except core.IntegrityError as exc:
            culprit = getattr(exc, "obj", None)
            text = str(exc)
            if culprit is not None and exc.field:
                value = self.literal(getattr(culprit, exc.field, None))
                text = (
                    f"{exc.kind or 'integrity'} constraint failed on {exc.entity}.{exc.field}: "
                    f"{type(culprit).__name__} {self.label(culprit)} has {exc.field}={value}"
                )
            raise CommitFailed(
                f"commit failed: {text} (nothing was written; the staged work is kept)", exc
            ) from exc
        except core.OrmError as exc:
            raise CommitFailed(
                f"commit failed: {exc} (nothing was written; the staged work is kept)", exc
            ) from exc
        self._undo.clear()
        return r.Committed(
            int(done.inserts),
            int(done.updates),
            int(done.deletes),
            int(done.statements),
            float(done.elapsed) * 1000.0,
            int(done.upserts),
        )

    def _do_rollback(self, command: cmd.Rollback) -> r.Result:
        added, changed, removed = self.counts()
        if self.sandbox:  # only what was staged since the last commit (the flushed work stays)
            while self._undo:
                self._undo.pop().undo()
        else:
            self.session.rollback()
        self._undo.clear()
        if not (added or changed or removed):
            return r.Message("nothing to roll back")
        return r.Message(
            f"rolled back: {added} to add, {changed} to change, {removed} to remove discarded"
        )

    def _do_migrate(self, command: cmd.Migrate) -> r.Result:
        if self.sandbox:
            raise UsageError("migrate is not available in a sandbox (schema changes would stay)")
        plan = self.db.migration_plan()
        statements = tuple(plan.statements)
        refused = tuple(plan.refused)
        if command.dry_run or not statements:
            return r.MigrationView(statements, refused, applied=False)
        try:
            self.db.migrate()
        except core.MigrationError:
            if not refused:
                raise
        return r.MigrationView(statements, refused, applied=True)

    def _do_help(self, command: cmd.Help) -> r.Result:
        if command.topic:
            spec = lookup(command.topic)
            if spec is None:
                names = ", ".join(s.name for s in specs())
                raise CliError(f"no command {command.topic!r} (commands: {names})")
            return r.HelpView((r.HelpEntry(spec.usage, spec.summary, spec.details),), True)
        entries = tuple(r.HelpEntry(s.usage, s.summary) for s in specs())
        footer = (
            'values: "text" 42 3.5 True None [1, 2] {"k": "v"}; dates as ISO text; '
            "references as a key or a handle (@1)",
            "help COMMAND shows more; Ctrl-C clears the line; quit (or Ctrl-D) leaves",
        )
        return r.HelpView(entries, False, footer)

    def _do_option(self, command: cmd.Option) -> r.Result:
        raise UsageError("option changes a REPL setting; it has no meaning here")

    def _do_quit(self, command: cmd.Quit) -> r.Result:
        return r.Message("quit")

    def close(self) -> None:
        """Close the database (staged work is dropped, never committed; a sandbox's
        transaction is rolled back)."""
        if self.session.in_transaction:
            self.session.rollback()
        self.db.close()


_ENTITY_TYPES: dict[type, bool] = {}
"""Is a type an entity class? (asked for every value shown; exceptions are slow)."""


def _is_entity(value: Any) -> bool:
    known = _ENTITY_TYPES.get(type(value))
    if known is None:
        try:
            core.entity_info(value)
            known = True
        except core.ModelError:
            known = False
        _ENTITY_TYPES[type(value)] = known
    return known


def _include_tree(paths: tuple[str, ...]) -> dict[str, Any]:
    """``("posts", "posts.tags", "author")`` -> ``{"posts": {"tags": {}}, "author": {}}``."""
    tree: dict[str, Any] = {}
    for path in paths:
        node = tree
        for name in path.split("."):
            node = node.setdefault(name, {})
    return tree


#: Items of each collection that ``show`` lists (after its count).
SHOW_ITEMS = 5


def cut_text(text: str, width: int = 30) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _collection_type(rel: Any) -> str:
    return f"{rel.collection_type.__name__}[{rel.target.cls.__name__}]"


def _relation_notes(rel: Any) -> tuple[str, ...]:
    """How ``models`` explains a collection."""
    if rel.pivot is not None:
        return (f"many-to-many via {rel.pivot.cls.__name__}",)
    return (f"one-to-many ← {rel.target.cls.__name__}.{rel.reference.name}",)


def _construct(info: Any, values: dict[str, Any]) -> Any:
    """A new instance: through the class's keyword ``__init__``, else field by field."""
    cls = info.cls
    try:
        return cls(**values)
    except TypeError:
        pass
    obj = cls.__new__(cls)
    for f in info.fields:
        if f.name in values:
            setattr(obj, f.name, values[f.name])
        elif f.has_default:
            setattr(obj, f.name, f.default_value())
    return obj
