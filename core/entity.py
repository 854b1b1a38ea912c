"""Entities: plain classes mapped from their type annotations.

``@entity`` / ``@entity.name("user")`` reads the annotations (``Annotated`` markers from
``core.types``), builds an ``EntityInfo`` with one ``FieldInfo`` per field, and instruments the
class as little as possible:

- a keyword ``__init__`` when the class has none (its own ``__init__`` is respected, and loading
  from the database never calls it);
- a ``__repr__`` when the class has none;
- a ``__setattr__`` hook that tells the owning session which field is about to change, so that a
  commit visits only the objects that changed (never the whole identity map); where the C
  accelerator ``core._track`` is built, its ``TrackedSetattr`` takes the common assignment (a
  plain, non-key field) and calls the Python hook for the rest (``use_speedups``);
- a descriptor per reference field that loads the referenced object on first access (lazy
  loading; ``Query.eager`` loads them up front). An object a session loads holds the bare
  key of each reference (the row's value, no placeholder object: its ``__dict__`` stays out
  of the cyclic collector's sight), resolved on first read through the object's session;
  an untracked object holds an ``Unloaded`` placeholder that knows its loader
  (``unloaded_key`` reads either);
- a descriptor per collection field (``Annotated[list["Post"], BackReference]``, not a
  column; see ``core.collection``). Collections are resolved into ``EntityInfo.relations``
  (``core.relations``) as soon as every class they name is decorated.

Classes decorated in one scope (a module, or a function's locals) can name each other as
strings before they are all defined: a class whose annotations name one not decorated yet
waits (``_Pending``) and is built when that one is decorated, or on first use.

Callers: model files, and ``core.schema``, ``core.session``, ``core.query``. What it leaves out:
how values are stored (the dialects) and which objects a session tracks (``core.session``).
"""

from __future__ import annotations

import copy
import datetime as dt
import enum
import sys
import types
import typing
import uuid
import weakref
from collections.abc import Callable, Iterable
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from core import relations as _relations
from core.collection import SESSION_ATTR as _COLLECTION_SESSION_ATTR
from core.collection import SESSIONS as _SESSIONS
from core.collection import (
    CollectionAttribute,
    CollectionReader,
    database_of_token,
    reference_changed,
)
from core.errors import (
    ModelError,
    NotFoundError,
    SessionError,
    UnknownFieldError,
    ValidationError,
)
from core.jsonvalues import json_problem
from core.relations import RelationInfo
from core.speedups import load as load_accelerator
from core.types import (
    MISSING,
    BackReferenceSpec,
    Check,
    FieldDefault,
    Marker,
    MaxLength,
    ReferenceSpec,
    RenamedFrom,
)
from core.types import AutoIncrement as AutoIncrementMarker
from core.types import Aware as AwareMarker
from core.types import Index as IndexMarker
from core.types import NoIndex as NoIndexMarker
from core.types import PrimaryKey as PrimaryKeyMarker
from core.types import Unique as UniqueMarker
from core.types import Version as VersionMarker

__all__ = [
    "SESSION_ATTR",
    "TRACKERS",
    "EntityInfo",
    "FieldInfo",
    "RelationInfo",
    "Unloaded",
    "entity",
    "entity_info",
    "is_entity",
    "unloaded_key",
    "use_speedups",
]

T = TypeVar("T")

#: The key under which a tracked object's ``__dict__`` holds its session's token (an int).
SESSION_ATTR = _COLLECTION_SESSION_ATTR

#: Session token -> ``(changed, touched, new)``, the live session's own dicts that the
#: ``__setattr__`` hook records into. A session registers itself when created and is removed
#: when it is garbage collected. Objects hold only the token, not the session: a ``__dict__`` of
#: plain values stays out of the cyclic garbage collector's sight (CPython tracks a dict only
#: once it holds a container), which halves what every collection has to scan after a large
#: query; and an object does not keep a session alive (as in SQLAlchemy, whose instances hold
#: a session id).
TRACKERS: dict[int, tuple[dict[int, Any], dict[int, Any], dict[int, Any]]] = {}


_INFO_ATTR = "__orm_entity__"

_SCALAR_KINDS: dict[type, str] = {
    bool: "bool",
    int: "int",
    float: "float",
    str: "str",
    bytes: "bytes",
    Decimal: "decimal",
    dt.datetime: "datetime",
    dt.date: "date",
    dt.time: "time",
    uuid.UUID: "uuid",
}
_JSON_ORIGINS = (list, dict)


class Unloaded:
    """A reference that was loaded as a bare key: resolved on first attribute access.

    Untracked loads (``database.query``) store one, shared by the rows of a load that name the
    same key. A session's loads store the bare key itself instead (``unloaded_key``)."""

    __slots__ = ("loader", "pk", "target")

    def __init__(self, target: EntityInfo, pk: Any, loader: Callable[[EntityInfo, Any], Any]):
        self.target = target
        self.pk = pk
        self.loader = loader

    def __repr__(self) -> str:
        return f"<{self.target.cls.__name__} {self.pk!r}>"


def unloaded_key(value: Any) -> Any:
    """The key a reference's stored value stands for when it is not a loaded object: an
    ``Unloaded`` placeholder's, or the bare key a session's load stores (anything without a
    ``__dict__``: entities always have one); None for None and for a loaded object."""
    if value is None or hasattr(value, "__dict__"):
        return None
    return value.pk if type(value) is Unloaded else value


class FieldInfo:
    """One mapped field: its name, column, kind and markers, and value coercion."""

    __slots__ = (
        "_target_cls",
        "autoincrement",
        "aware",
        "checks",
        "column",
        "default",
        "default_factory",
        "entity",
        "enum_type",
        "index",
        "kind",
        "max_length",
        "name",
        "no_index",
        "nullable",
        "on_delete",
        "orphans",
        "position",
        "primary_key",
        "python_type",
        "relations",
        "renamed_from",
        "unique",
        "version",
    )

    def __init__(
        self,
        entity_name: str,
        name: str,
        kind: str,
        python_type: Any,
        *,
        nullable: bool = False,
        primary_key: bool = False,
        autoincrement: bool = False,
        unique: bool = False,
        version: bool = False,
        index: bool = False,
        max_length: int | None = None,
        aware: bool = False,
        enum_type: type[enum.Enum] | None = None,
        target_cls: type | None = None,
        default: Any = MISSING,
        default_factory: Callable[[], Any] | None = None,
        on_delete: str = "restrict",
        orphans: str | None = None,
    ) -> None:
        #: The entity's class name, used in messages.
        self.entity = entity_name
        self.name = name
        self.column = name
        self.kind = kind
        self.python_type = python_type
        self.nullable = nullable
        self.primary_key = primary_key
        self.autoincrement = autoincrement
        self.unique = unique
        #: The entity's optimistic-locking counter (``Version``).
        self.version = version
        self.index = index
        self.max_length = max_length
        self.aware = aware
        self.enum_type = enum_type
        self._target_cls = target_cls
        self.default = default
        self.default_factory = default_factory
        self.position = -1
        #: A reference's foreign-key rule: ``"restrict"`` (the default), ``"cascade"`` or
        #: ``"set null"`` (``ON DELETE`` in the schema; applied to loaded objects after commit).
        self.on_delete = on_delete
        #: A reference's rule for a child taken out of a collection: None (the reference
        #: becomes None) or ``"delete"`` (the child is removed).
        self.orphans = orphans
        #: The collections this reference field feeds (one-to-many relations mapped by it,
        #: many-to-many relations whose pivot side to the owner it is); filled as they resolve.
        self.relations: tuple[RelationInfo, ...] = ()
        #: Migration markers: ``RenamedFrom`` (the old column), ``Check`` expressions, and
        #: ``NoIndex`` (a reference column without the index migrate gives it by default).
        self.renamed_from: str | None = None
        self.checks: tuple[str, ...] = ()
        self.no_index = False

    def __repr__(self) -> str:
        return f"<FieldInfo {self.entity}.{self.name}: {self.type_label}>"

    @property
    def target(self) -> EntityInfo | None:
        """The referenced entity of a reference field, else None."""
        return entity_info(self._target_cls) if self._target_cls is not None else None

    @property
    def has_default(self) -> bool:
        return self.default is not MISSING or self.default_factory is not None

    def default_value(self) -> Any:
        """A fresh default value (a factory is called; a mutable default is copied)."""
        if self.default_factory is not None:
            return self.default_factory()
        if self.default is MISSING:
            raise ValidationError(f"{self.entity}.{self.name} has no default; give it a value")
        if isinstance(self.default, list | dict | set):
            return copy.deepcopy(self.default)
        return self.default

    @property
    def type_label(self) -> str:
        """The field's type as a user reads it: ``int``, ``datetime | None``, ``User``."""
        if self.kind == "reference":
            assert self._target_cls is not None
            base = self._target_cls.__name__
        elif self.kind == "enum":
            assert self.enum_type is not None
            base = self.enum_type.__name__
        elif self.kind == "json":
            base = getattr(self.python_type, "__name__", "json")
            base = str(self.python_type) if "[" in str(self.python_type) else base
        elif self.kind == "datetime" and self.aware:
            base = "datetime (aware)"
        else:
            base = self.python_type.__name__
        return f"{base} | None" if self.nullable else base

    # -- values ---------------------------------------------------------------------------

    def _invalid(self, value: Any, why: str = "") -> ValidationError:
        extra = f" ({why})" if why else ""
        return ValidationError(
            f"{self.entity}.{self.name} expects {self.type_label}, got {value!r}{extra}"
        )

    def coerce(self, value: Any) -> Any:
        """Convert ``value`` to this field's Python type, or raise a ``ValidationError`` (also
        for a value of the right type that no backend stores exactly: ``storable_problem``).
        """
        result = self._coerce(value)
        if result is not None and self.kind != "reference":
            problem = self.storable_problem(result)
            if problem is not None:
                raise self._invalid(value, problem)
        return result

    def _coerce(self, value: Any) -> Any:
        """Convert ``value`` to this field's Python type, or raise a ``ValidationError``.

        Lenient where a user types text: ISO text for dates and times, text for UUID, Decimal
        and Enum (name or value), int for float and Decimal. References accept an instance
        of the target entity only (a key is resolved by the caller, who has a session).
        """
        if value is None:
            if self.nullable or self.autoincrement:
                return None
            raise self._invalid(value, "the field is not nullable")
        kind = self.kind
        try:
            if kind == "int":
                if isinstance(value, bool):
                    raise self._invalid(value)
                if isinstance(value, int):
                    return value
                if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
                    return int(value)
                if isinstance(value, float) and value.is_integer():
                    return int(value)
            elif kind == "float":
                if isinstance(value, int | float) and not isinstance(value, bool):
                    return float(value)
                if isinstance(value, Decimal):
                    return float(value)
                if isinstance(value, str):
                    return float(value)
            elif kind == "bool":
                if isinstance(value, bool):
                    return value
                if isinstance(value, int) and value in (0, 1):
                    return bool(value)
                if isinstance(value, str) and value.lower() in ("true", "false"):
                    return value.lower() == "true"
            elif kind == "str":
                if isinstance(value, str):
                    if self.max_length is not None and len(value) > self.max_length:
                        raise self._invalid(value, f"longer than {self.max_length} characters")
                    return value
            elif kind == "bytes":
                if isinstance(value, bytes | bytearray | memoryview):
                    return bytes(value)
                if isinstance(value, str):
                    return value.encode()
            elif kind == "decimal":
                if isinstance(value, Decimal):
                    return value
                if isinstance(value, int) and not isinstance(value, bool):
                    return Decimal(value)
                if isinstance(value, float):
                    return Decimal(str(value))
                if isinstance(value, str):
                    return Decimal(value)
            elif kind == "datetime":
                if isinstance(value, str):
                    value = dt.datetime.fromisoformat(value)
                if isinstance(value, dt.datetime):
                    self.check_awareness(value)
                    return value
            elif kind == "date":
                if isinstance(value, str):
                    return dt.date.fromisoformat(value)
                if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
                    return value
            elif kind == "time":
                if isinstance(value, str):
                    return dt.time.fromisoformat(value)
                if isinstance(value, dt.time):
                    return value
            elif kind == "uuid":
                if isinstance(value, uuid.UUID):
                    return value
                if isinstance(value, str):
                    return uuid.UUID(value)
            elif kind == "enum":
                assert self.enum_type is not None
                if isinstance(value, self.enum_type):
                    return value
                if isinstance(value, str) and value in self.enum_type.__members__:
                    return self.enum_type[value]
                return self.enum_type(value)
            elif kind == "json":
                if isinstance(value, list | dict):
                    return value
            elif kind == "reference":
                assert self._target_cls is not None
                if isinstance(value, self._target_cls):
                    return value
        except ValidationError:
            raise
        except (ValueError, TypeError, InvalidOperation) as exc:
            raise self._invalid(value) from exc
        raise self._invalid(value)

    def storable_problem(self, value: Any) -> str | None:
        """Why no backend can store ``value`` (already of this field's type) exactly, or None.

        An int outside 64 bits; text that is not valid Unicode (a lone surrogate); an aware
        datetime whose UTC value falls outside the years 1-9999; a time with a UTC offset
        (PostgreSQL's and MariaDB's TIME drop it); a JSON value that does not fit its declared
        type element by element, or that JSON cannot hold (``core.jsonvalues``). What one
        backend cannot hold is ``Dialect.value_problem``'s (docs/backends.md has the table)."""
        kind = self.kind
        if kind == "int":
            if not -(2**63) <= value < 2**63:
                return "outside the 64-bit range every backend stores"
        elif kind == "str":
            if not value.isascii():
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError as exc:
                    return f"not valid Unicode at character {exc.start}: {exc.reason}"
        elif kind == "datetime":
            if value.tzinfo is not None and not 1 < value.year < 9999:
                try:
                    value.astimezone(dt.UTC)
                except OverflowError:
                    return "its UTC value falls outside the years 1-9999"
        elif kind == "time":
            if value.tzinfo is not None:
                return "a time of day with a UTC offset is not stored; use a naive time"
        elif kind == "json":
            return json_problem(self.python_type, value)
        return None

    def check_awareness(self, value: dt.datetime) -> None:
        """Aware fields take aware datetimes, naive fields naive ones."""
        aware = value.tzinfo is not None and value.tzinfo.utcoffset(value) is not None
        if aware and not self.aware:
            raise ValidationError(
                f"{self.entity}.{self.name} holds naive datetimes, got the aware {value!r}; "
                "annotate it Annotated[datetime, Aware] to store aware ones"
            )
        if not aware and self.aware:
            raise ValidationError(
                f"{self.entity}.{self.name} holds timezone-aware datetimes, got the naive {value!r}"
            )


class EntityInfo:
    """Everything the engine knows about one entity class."""

    __slots__ = (
        "__weakref__",
        "_by_name",
        "_order_cache",
        "_relation_specs",
        "_relations",
        "cls",
        "column_names",
        "field_names",
        "fields",
        "has_json",
        "indexes",
        "json_fields",
        "name",
        "primary_key",
        "references",
        "renamed_from",
        "single_pk_name",
        "version_field",
    )

    def __init__(
        self,
        cls: type,
        name: str,
        fields: list[FieldInfo],
        collections: list[_CollectionSpec] | None = None,
    ) -> None:
        self.cls = cls
        self.name = name
        self.fields: tuple[FieldInfo, ...] = tuple(fields)
        for position, f in enumerate(self.fields):
            f.position = position
        self._by_name = {f.name: f for f in self.fields}
        self._order_cache: dict[tuple[str, ...], tuple[str, ...]] = {}
        self.field_names = frozenset(self._by_name)
        self.column_names = tuple(f.column for f in self.fields)
        self.primary_key = tuple(f for f in self.fields if f.primary_key)
        #: The name of the one primary-key field (``None`` for a composite key).
        self.single_pk_name = self.primary_key[0].name if len(self.primary_key) == 1 else None
        #: The ``Version`` field, if any: every UPDATE and DELETE checks and bumps it.
        self.version_field = next((f for f in self.fields if f.version), None)
        self.references = tuple(f for f in self.fields if f.kind == "reference")
        self.json_fields = tuple(f for f in self.fields if f.kind == "json")
        self.has_json = bool(self.json_fields)
        self._relation_specs: dict[str, _CollectionSpec] = {c.name: c for c in collections or ()}
        self._relations: dict[str, RelationInfo] | None = None if collections else {}
        #: ``@entity.index(...)`` declarations: (field names, unique, index name or None).
        self.indexes: list[tuple[tuple[str, ...], bool, str | None]] = []
        #: ``@entity.name("new", renamed_from="old")``: the table's former name.
        self.renamed_from: str | None = None

    @property
    def relations(self) -> dict[str, RelationInfo]:
        """The collection fields (``BackReference``), by name, in declaration order: each a
        ``core.relations.RelationInfo``. Not columns: ``fields`` does not list them."""
        if self._relations is None:
            _resolve_relations(self, strict=True)
            assert self._relations is not None
        return self._relations

    def relation(self, name: str) -> RelationInfo:
        """The collection field ``name``; ``UnknownFieldError`` when there is none."""
        rel = self.relations.get(name)
        if rel is None:
            known = ", ".join(self.relations) or "none"
            raise UnknownFieldError(
                f"{self.cls.__name__} has no collection {name!r}; its collections are: {known}"
            )
        return rel

    def __repr__(self) -> str:
        return f"<EntityInfo {self.name} ({self.cls.__qualname__})>"

    @property
    def table(self) -> str:
        return self.name

    @property
    def autoincrement(self) -> FieldInfo | None:
        """The auto-incremented primary-key field, if the entity has one."""
        for f in self.primary_key:
            if f.autoincrement:
                return f
        return None

    def field(self, name: str) -> FieldInfo:
        try:
            return self._by_name[name]
        except KeyError:
            known = ", ".join(self._by_name)
            raise UnknownFieldError(
                f"{self.cls.__name__} has no field {name!r}; its fields are: {known}"
            ) from None

    def in_field_order(self, names: tuple[str, ...]) -> tuple[str, ...]:
        """``names`` sorted by declaration order (cached: the same sets recur)."""
        ordered = self._order_cache.get(names)
        if ordered is None:
            ordered = tuple(sorted(names, key=lambda n: self._by_name[n].position))
            self._order_cache[names] = ordered
        return ordered

    def has_field(self, name: str) -> bool:
        return name in self._by_name

    def pk_of(self, obj: Any) -> Any:
        """The primary key of ``obj``: a scalar, or a tuple for a composite key (a reference
        in the key counts as the referenced object's key, as the row stores it)."""
        if len(self.primary_key) == 1:
            return _key_value(obj, self.primary_key[0])
        return tuple(_key_value(obj, f) for f in self.primary_key)

    def has_pk(self, obj: Any) -> bool:
        """True when every key field holds a value (an auto-increment 0 or None is no value)."""
        for f in self.primary_key:
            v = _raw_value(obj, f)
            if v is None or v is MISSING or (f.autoincrement and v == 0):
                return False
        return True

    def describe(self, obj: Any) -> str:
        """A short label for messages: ``User 3`` or ``new User (name='x')``."""
        if self.has_pk(obj):
            return f"{self.cls.__name__} {self.pk_of(obj)!r}"
        return f"new {self.cls.__name__}"


def _key_value(obj: Any, f: FieldInfo) -> Any:
    """A key field's value as the row holds it: a referenced object stands for its key."""
    v = _raw_value(obj, f)
    if f.kind == "reference" and v is not None and v is not MISSING and hasattr(v, "__dict__"):
        target = f.target
        assert target is not None
        if isinstance(v, target.cls) and target.has_pk(v):
            return target.pk_of(v)
    return v


def _raw_value(obj: Any, f: FieldInfo) -> Any:
    """The stored value of a field without triggering lazy loading."""
    d = obj.__dict__
    if f.name in d:
        v = d[f.name]
        if f.kind == "reference" and type(v) is Unloaded:
            return v.pk
        return v
    if f.has_default and f.default_factory is None:
        return f.default
    return MISSING


# -- building ------------------------------------------------------------------------------


def _unwrap(tp: Any) -> tuple[Any, list[Any], bool]:
    """Strip ``Annotated`` and ``| None``: the base type, the markers, nullability."""
    markers: list[Any] = []
    nullable = False
    for _ in range(4):
        if typing.get_origin(tp) is typing.Annotated:
            base, *extra = typing.get_args(tp)
            markers.extend(extra)
            tp = base
            continue
        origin = typing.get_origin(tp)
        if origin is typing.Union or origin is types.UnionType:
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) == len(typing.get_args(tp)) or len(args) != 1:
                break
            nullable = True
            tp = args[0]
            continue
        break
    return tp, markers, nullable


class _CollectionSpec:
    """A collection field as declared: resolved into a ``RelationInfo`` once its classes are."""

    __slots__ = ("collection_type", "marker", "name", "pivot", "target_cls")

    def __init__(
        self,
        name: str,
        target_cls: type,
        collection_type: type,
        marker: BackReferenceSpec,
        pivot: type | str | None,
    ) -> None:
        self.name = name
        self.target_cls = target_cls
        self.collection_type = collection_type
        self.marker = marker
        #: The pivot class of ``via=``, or its name while that class is not defined yet.
        self.pivot = pivot


def _collection_item(tp: Any) -> tuple[type, Any] | None:
    """``(list or set, item type)`` for ``list[X]`` / ``set[X]``, else None."""
    origin = typing.get_origin(tp)
    if origin not in (list, set):
        return None
    args = typing.get_args(tp)
    return (origin, args[0]) if len(args) == 1 else None


def _make_collection(
    cls: type, name: str, tp: Any, markers: list[Any], nullable: bool, ns: dict[str, Any]
) -> _CollectionSpec:
    where = f"{cls.__name__}.{name}"
    item = _collection_item(tp)
    if item is None or nullable:
        raise ModelError(
            f"{where}: BackReference goes on a collection of entities: "
            f"Annotated[list[Entity], BackReference] (or set[Entity]), got {tp!r}"
        )
    collection_type, target = item
    if not (isinstance(target, type) and (target is cls or hasattr(target, _INFO_ATTR))):
        raise ModelError(f"{where}: BackReference needs a collection of entity classes, got {tp!r}")
    others = [m for m in markers if not isinstance(m, BackReferenceSpec)]
    if others:
        raise ModelError(f"{where}: a collection takes no other marker than BackReference")
    marker = next(m for m in markers if isinstance(m, BackReferenceSpec))
    if cls.__dict__.get(name, MISSING) is not MISSING:
        raise ModelError(f"{where}: a collection has no default (it starts empty)")
    pivot = marker.via
    if isinstance(pivot, str) and isinstance(ns.get(pivot), type):
        pivot = ns[pivot]
    return _CollectionSpec(name, target, collection_type, marker, pivot)


def _make_field(
    entity_name: str, cls: type, name: str, annotation: Any, ns: dict[str, Any] | None = None
) -> FieldInfo | _CollectionSpec:
    tp, markers, nullable = _unwrap(annotation)
    # Messages name the class, which is what users type (the entity name is the table's).
    label = cls.__name__
    where = f"{label}.{name}"
    for m in markers:
        if not isinstance(m, Marker | MaxLength | Check | RenamedFrom):
            raise ModelError(f"{where}: unknown marker {m!r} in Annotated[...]")
    if any(isinstance(m, BackReferenceSpec) for m in markers):
        return _make_collection(cls, name, tp, markers, nullable, ns or {})
    item = _collection_item(tp)
    if (
        item is not None
        and isinstance(item[1], type)
        and (item[1] is cls or hasattr(item[1], _INFO_ATTR))
    ):
        kind_name = item[0].__name__
        target_name = item[1].__name__
        raise ModelError(
            f"{where}: a {kind_name} of the entity {target_name} is a collection, not a "
            f"column; declare it Annotated[{kind_name}[{target_name}], BackReference] "
            f"(or BackReference(via=Pivot) for many-to-many)"
        )
    flags = {m for m in markers if isinstance(m, Marker)}
    reference = next((m for m in markers if isinstance(m, ReferenceSpec)), None)
    max_length = next((m.length for m in markers if isinstance(m, MaxLength)), None)
    default: Any = MISSING
    factory: Callable[[], Any] | None = None
    raw_default = cls.__dict__.get(name, MISSING)
    if isinstance(raw_default, FieldDefault):
        default, factory = raw_default.default, raw_default.default_factory
    elif raw_default is not MISSING:
        default = raw_default
    enum_type: type[enum.Enum] | None = None
    target: type | None = None
    origin = typing.get_origin(tp) or tp
    if reference is not None or (isinstance(tp, type) and hasattr(tp, _INFO_ATTR)):
        if not isinstance(tp, type):
            raise ModelError(f"{where}: Reference needs an entity class, got {tp!r}")
        kind, target = "reference", tp
        if reference is None:
            raise ModelError(
                f"{where}: a field of entity type {tp.__name__} needs the Reference marker: "
                f"Annotated[{tp.__name__}, Reference]"
            )
    elif isinstance(tp, type) and issubclass(tp, enum.Enum):
        kind, enum_type = "enum", tp
    elif origin in _JSON_ORIGINS:
        kind = "json"
    elif isinstance(tp, type) and tp in _SCALAR_KINDS:
        kind = _SCALAR_KINDS[tp]
    else:
        raise ModelError(
            f"{where}: cannot map the type {annotation!r}; use int, float, bool, str, bytes, "
            "Decimal, datetime, date, time, UUID, an Enum, list/dict (JSON), or a Reference"
        )
    if AutoIncrementMarker in flags and (kind != "int" or PrimaryKeyMarker not in flags):
        raise ModelError(f"{where}: AutoIncrement goes on an int PrimaryKey field")
    if max_length is not None and kind != "str":
        raise ModelError(f"{where}: MaxLength goes on a str field")
    if AwareMarker in flags and kind != "datetime":
        raise ModelError(f"{where}: Aware goes on a datetime field")
    if PrimaryKeyMarker in flags and nullable:
        raise ModelError(f"{where}: a primary key cannot be nullable")
    if reference is not None and reference.on_delete == "set null" and not nullable:
        raise ModelError(
            f"{where}: Reference(on_delete='set null') needs a nullable reference: "
            f"Annotated[{tp.__name__}, Reference(on_delete='set null')] | None"
        )
    if VersionMarker in flags and (kind != "int" or PrimaryKeyMarker in flags or nullable):
        raise ModelError(f"{where}: Version goes on a non-key, non-nullable int field")
    if VersionMarker in flags and default is MISSING and factory is None:
        default = 1
    if AutoIncrementMarker in flags and default is MISSING and factory is None:
        default = 0
    if nullable and default is MISSING and factory is None:
        default = None
    made = FieldInfo(
        label,
        name,
        kind,
        tp,
        nullable=nullable,
        primary_key=PrimaryKeyMarker in flags,
        autoincrement=AutoIncrementMarker in flags,
        unique=UniqueMarker in flags,
        version=VersionMarker in flags,
        index=IndexMarker in flags,
        max_length=max_length,
        aware=AwareMarker in flags,
        enum_type=enum_type,
        target_cls=target,
        default=default,
        default_factory=factory,
        on_delete=reference.on_delete if reference is not None else "restrict",
        orphans=reference.orphans if reference is not None else None,
    )
    made.renamed_from = next((m.name for m in markers if isinstance(m, RenamedFrom)), None)
    made.checks = tuple(m.expression for m in markers if isinstance(m, Check))
    made.no_index = NoIndexMarker in flags
    return made


def _resolve_hints(cls: type, localns: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The field annotations of ``cls``, and the names they were resolved with."""
    module = sys.modules.get(cls.__module__)
    globalns = dict(vars(module)) if module is not None else {}
    ns = dict(localns)
    ns.setdefault(cls.__name__, cls)
    for other_name, ref in _scope_of(cls).items():
        other = ref()
        if other is not None:
            ns.setdefault(other_name, other)
    hints = typing.get_type_hints(cls, globalns=globalns, localns=ns, include_extras=True)
    fields = {
        k: v
        for k, v in hints.items()
        if typing.get_origin(v) is not typing.ClassVar
        and v is not typing.ClassVar
        and not k.startswith("_")
    }
    return fields, {**globalns, **ns}


class _Pending:
    """An entity whose annotations name a class not defined yet; resolved on first use."""

    __slots__ = ("cls", "localns", "name")

    def __init__(self, cls: type, name: str, localns: dict[str, Any]) -> None:
        self.cls = cls
        self.name = name
        self.localns = localns


def _build_info(cls: type, name: str, localns: dict[str, Any]) -> EntityInfo:
    hints, ns = _resolve_hints(cls, localns)
    if not hints:
        raise ModelError(f"entity {name!r} ({cls.__qualname__}) has no annotated fields")
    made = [_make_field(name, cls, fname, ann, ns) for fname, ann in hints.items()]
    fields = [f for f in made if isinstance(f, FieldInfo)]
    collections = [c for c in made if isinstance(c, _CollectionSpec)]
    info = EntityInfo(cls, name, fields, collections)
    if not info.primary_key:
        raise ModelError(
            f"entity {name!r} has no primary key; mark a field Annotated[int, PrimaryKey]"
        )
    if sum(1 for f in info.primary_key if f.autoincrement) and len(info.primary_key) > 1:
        raise ModelError(f"entity {name!r}: AutoIncrement cannot be part of a composite key")
    info.renamed_from = cls.__dict__.get("__orm_renamed_from__")
    for fields_, unique, index_name in cls.__dict__.get("__orm_indexes__", ()):
        _add_index(info, fields_, unique, index_name)
    _instrument(cls, info)
    return info


#: Set on the functions ``_instrument`` generates, so that a subclass entity gets its own.
_GENERATED = "__orm_generated__"


def _inherited_or_generated(cls: type, name: str, default: Any) -> bool:
    """Whether ``cls`` lacks its own ``name``: it has the default or one generated for a base."""
    if name in cls.__dict__:
        return False
    found = getattr(cls, name)
    return found is default or getattr(found, _GENERATED, False)


def _instrument(cls: type, info: EntityInfo) -> None:
    for f in info.references:
        setattr(cls, f.name, _ReferenceAttribute(f))
    for f in info.json_fields:
        setattr(cls, f.name, _JsonAttribute(f))
    # A class assigning through the plain hook (no ``__setattr__`` of its own) gets readers
    # without ``__set__``, found in ``__dict__`` once loaded; the hook assigns collections.
    own_setattr = getattr(cls, "__setattr__")  # noqa: B009
    plain = getattr(own_setattr, "_orm_base", own_setattr) is object.__setattr__
    for c in info._relation_specs.values():
        kind = CollectionReader if plain else CollectionAttribute
        setattr(cls, c.name, kind(c.name, c.collection_type))
    if _inherited_or_generated(cls, "__init__", object.__init__):
        init = _make_init(info)
        setattr(init, _GENERATED, True)
        cls.__init__ = init  # type: ignore[misc]
    if _inherited_or_generated(cls, "__repr__", object.__repr__):
        rep = _make_repr(info)
        setattr(rep, _GENERATED, True)
        cls.__repr__ = rep  # type: ignore[method-assign,assignment]
    hook = _make_setattr(cls, info)
    setattr(hook, _GENERATED, True)
    cls.__setattr__ = hook  # type: ignore[method-assign,assignment]


def _make_init(info: EntityInfo) -> Callable[..., None]:
    """A keyword-only ``__init__`` compiled for the class (it runs once per new object).

    A new object has no session yet, so values go straight into ``__dict__`` (reference
    descriptors store there too); immutable defaults are parameter defaults, factories and
    mutable defaults are called or copied per object.
    """
    fields = info.fields
    cls_name = info.cls.__name__

    known = [f.name for f in fields] + list(info._relation_specs)

    def unknown(extra: dict[str, Any]) -> None:
        raise ValidationError(
            f"{cls_name} has no field {sorted(extra)[0]!r}; its fields are: {', '.join(known)}"
        )

    def required(name: str) -> None:
        raise ValidationError(f"{cls_name}() needs a value for {name!r}")

    ns: dict[str, Any] = {"_M": MISSING, "_unknown": unknown, "_required": required}
    params, body = [], []
    for i, f in enumerate(fields):
        name = f.name
        static = f.default_factory is None and f.default is not MISSING
        if static and not isinstance(f.default, list | dict | set):
            ns[f"_d{i}"] = f.default
            params.append(f"{name}=_d{i}")
            continue
        params.append(f"{name}=_M")
        if f.has_default:
            ns[f"_f{i}"] = f
            body.append(f"    if {name} is _M: {name} = _f{i}.default_value()")
        else:
            if f.kind == "reference":
                # A reference that feeds a collection may be left for the collection to set
                # (``owner.pets.append(Pet(name="rex"))``); a commit names it if it never is.
                ns[f"_f{i}"] = f
                body.append(f"    if {name} is _M and not _f{i}.relations: _required({name!r})")
            else:
                body.append(f"    if {name} is _M: _required({name!r})")
    collections = list(info._relation_specs)
    if collections:
        # A collection is optional: given, its items go through the collection's attribute.
        body.append("    _given = {_n: _extra.pop(_n) for _n in _collections if _n in _extra}")
        ns["_collections"] = collections
    body.append("    if _extra: _unknown(_extra)")
    # Locals start with "_" so that no field name (never "_"-prefixed) can shadow them.
    body.append("    _d = _self.__dict__")
    for f in fields:
        if f.kind == "reference" and not f.has_default:
            body.append(f"    if {f.name} is not _M: _d[{f.name!r}] = {f.name}")
        else:
            body.append(f"    _d[{f.name!r}] = {f.name}")
    for i, f in enumerate(info.references):
        # A new child of an owner whose collection is in memory joins it (once resolved).
        ns[f"_r{i}"] = f
        ns["_ref_changed"] = reference_changed
        body.append(
            f"    if _r{i}.relations and {f.name} is not None: "
            f"_ref_changed(_self, _r{i}, None, {f.name})"
        )
    if collections:
        body.append("    for _n, _v in _given.items(): setattr(_self, _n, _v)")
    src = f"def __init__(_self, *, {', '.join(params)}, **_extra):\n" + "\n".join(body)
    exec(src, ns)  # safe: generated from the model's field names only
    init: Callable[..., None] = ns["__init__"]
    init.__qualname__ = f"{info.cls.__qualname__}.__init__"
    return init


def _make_repr(info: EntityInfo) -> Callable[[Any], str]:
    def __repr__(self: Any) -> str:
        parts = []
        for f in info.fields:
            v = self.__dict__.get(f.name, MISSING)
            if v is MISSING:
                if f.has_default and f.default_factory is None:
                    v = f.default
                else:
                    continue
            if f.kind == "reference" and v is not None:
                target = f.target
                assert target is not None
                key = unloaded_key(v)
                v = Unloaded(target, target.pk_of(v) if key is None else key, _no_loader)
            parts.append(f"{f.name}={v!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    return __repr__


def _no_loader(target: EntityInfo, pk: Any) -> Any:  # pragma: no cover - never called
    raise NotFoundError(f"{target.cls.__name__} {pk!r} is not loaded")


def _refuse_key_change(info: EntityInfo, f: FieldInfo, obj: Any, value: Any) -> None:
    """An assignment to a key field of a persistent object: allowed only if it keeps the key."""
    current = obj.__dict__.get(f.name, MISSING)
    if current is value:
        return
    target = f.target
    if f.kind == "reference" and target is not None:
        if current is not MISSING and current is not None and value is not None:
            old_key = unloaded_key(current)
            old_key = target.pk_of(current) if old_key is None else old_key
            new_key = unloaded_key(value)
            new_key = target.pk_of(value) if new_key is None else new_key
            if old_key == new_key:
                return
    elif type(current) is type(value) and current == value:
        return
    raise SessionError(
        f"cannot change the primary key {info.cls.__name__}.{f.name} of "
        f"{info.describe(obj)} (to {value!r}): a persistent object keeps its key; remove it "
        "and add a new object instead"
    )


def _class_attribute(cls: type, name: str) -> Any:
    """``name`` as the class defines or inherits it, found without running descriptors
    (``inspect.getattr_static`` for a class, without importing ``inspect`` at start-up)."""
    for klass in cls.__mro__:
        if name in klass.__dict__:
            return klass.__dict__[name]
    return None


def _make_setattr(cls: type, info: EntityInfo) -> Callable[[Any, str, Any], None]:
    base_setattr: Callable[[Any, str, Any], None] = getattr(cls, "__setattr__")  # noqa: B009
    # A subclass entity hooks the base class's own __setattr__, not the hook made for it.
    base_setattr = getattr(base_setattr, "_orm_base", base_setattr)
    names = info.field_names
    pk_fields = {f.name: f for f in info.primary_key}
    key = SESSION_ATTR
    trackers = TRACKERS
    # Fields with no descriptor on the class (or a JSON one, which stores into __dict__ as
    # well) can be stored straight into __dict__.
    plain = frozenset(
        f.name
        for f in info.fields
        if type(_class_attribute(cls, f.name)) is _JsonAttribute
        or not hasattr(type(_class_attribute(cls, f.name)), "__set__")
    )
    # Collections whose class attribute has no ``__set__`` (``CollectionReader``): assigned
    # here, with ``CollectionAttribute.__set__``'s meaning.
    readers = {
        c.name: CollectionAttribute(c.name, c.collection_type)
        for c in info._relation_specs.values()
        if type(_class_attribute(cls, c.name)) is CollectionReader
    }
    if base_setattr is not object.__setattr__:
        plain = frozenset()
        readers = {}

    def __setattr__(self: Any, name: str, value: Any) -> None:
        d = self.__dict__
        token = d.get(key)
        if token is not None and name in names:
            # The contract with core.session (inlined: this runs on every assignment): before
            # the first assignment to a field since the last commit, record its old value in
            # session._changed[id(obj)] = {field: old} and session._touched[id(obj)] = obj;
            # staged new objects need none. (The old-values dict usually holds only atomic
            # values, which keeps it out of the cyclic collector's way.)
            tracker = trackers.get(token)
            if tracker is not None:
                changed, touched, new = tracker
                oid = id(self)
                if name in pk_fields and oid not in new:
                    _refuse_key_change(info, pk_fields[name], self, value)
                old = changed.get(oid)
                if old is None:
                    if oid not in new:
                        changed[oid] = {name: d.get(name, MISSING)}
                        touched[oid] = self
                elif name not in old:
                    old[name] = d.get(name, MISSING)
        if name in plain:
            d[name] = value
        elif name in readers:
            readers[name].__set__(self, value)
        else:
            base_setattr(self, name, value)

    __setattr__._orm_base = base_setattr  # type: ignore[attr-defined]
    if _track is None or not plain:
        return __setattr__
    # The fast path in C (``core._track``): an assignment to a plain, non-key field; anything
    # else calls the hook above.
    fast: Callable[[Any, str, Any], None] = _track.TrackedSetattr(
        __setattr__, plain, frozenset(pk_fields), trackers, key, MISSING
    )
    fast._orm_base = base_setattr  # type: ignore[attr-defined]
    return fast


#: The tracked assignment's accelerator for classes instrumented from now on (``use_speedups``).
_track: types.ModuleType | None = None


def use_speedups(module: types.ModuleType | None) -> None:
    """Give entity classes defined from now on the ``__setattr__`` of ``module``
    (``core._track``), or the Python hook with None (what ``ORMCLI_NO_SPEEDUPS`` chooses at
    import); tests define a class under each."""
    global _track
    _track = module


use_speedups(load_accelerator("_track"))


class _ReferenceAttribute:
    """Class attribute of a reference field: lazy-loads a key on first read (an ``Unloaded``
    placeholder through its loader, a bare key through the object's session); an assignment
    keeps the collections it feeds in step and, on an object a session tracks, stages a new
    object assigned to it (``core.collection.reference_changed``)."""

    __slots__ = ("default", "field", "name")

    def __init__(self, f: FieldInfo) -> None:
        self.name = f.name
        self.default = f.default
        self.field = f

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        d = obj.__dict__
        try:
            value = d[self.name]
        except KeyError:
            if self.default is MISSING:
                raise AttributeError(self.name) from None
            return self.default
        if value is None or hasattr(type(value), _INFO_ATTR):
            return value  # (None, or a loaded object: the common case)
        if type(value) is Unloaded:
            value = value.loader(value.target, value.pk)
        elif hasattr(value, "__dict__"):
            return value  # (not an entity: left as it is, a commit says what is wrong)
        else:
            value = _load_bare(obj, self.field, value)
        d[self.name] = value  # (the same row: no change to record)
        return value

    def __set__(self, obj: Any, value: Any) -> None:
        d = obj.__dict__
        old = d.get(self.name)
        d[self.name] = value
        if old is not value and (self.field.relations or SESSION_ATTR in d):
            try:
                reference_changed(obj, self.field, old, value)
            except BaseException:
                d[self.name] = old  # (refused: the reference keeps its value)
                raise


def _load_bare(obj: Any, f: FieldInfo, key: Any) -> Any:
    """The object of the bare key ``key`` that reference ``f`` of ``obj`` holds, through the
    session that tracks ``obj`` (identity-mapped, else one SELECT by key); once that session
    is garbage collected, from its database, untracked."""
    token = obj.__dict__.get(SESSION_ATTR)
    if token is None:
        return key  # (a key assigned by hand to an object that stands for no row stays one)
    target = f.target
    assert target is not None
    ref = _SESSIONS.get(token)
    session = ref() if ref is not None else None
    if session is not None:
        return session._load_reference(target, key)
    # The session was garbage collected: loaded untracked, as ``database.query`` objects do.
    database = database_of_token(token)
    return key if database is None else database._load_untracked(target, key)


_IMMUTABLE_JSON = (str, int, float, bool, type(None))


class _JsonAttribute:
    """Class attribute of a JSON field: a read may be followed by an in-place edit.

    Reading a list or dict (any value but a scalar) of an object a session tracks records a
    deep copy of it as the field's old value, exactly as the ``__setattr__`` hook records one
    before an assignment; the session then compares it with the current value when it
    collects, and a rollback puts the copy back. So a collect visits only the objects whose
    JSON was read since the last commit, instead of serialising every loaded object's JSON
    at load and at every collect. New objects and untracked objects pay one dict lookup.
    """

    __slots__ = ("default", "name")

    def __init__(self, f: FieldInfo) -> None:
        self.name = f.name
        self.default = f.default

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        d = obj.__dict__
        name = self.name
        try:
            value = d[name]
        except KeyError:
            if self.default is MISSING:
                raise AttributeError(name) from None
            return self.default
        if value.__class__ in _IMMUTABLE_JSON:
            return value
        tracker = TRACKERS.get(d.get(SESSION_ATTR))
        if tracker is not None:
            changed, touched, new = tracker
            oid = id(obj)
            if oid not in new:
                old = changed.get(oid)
                if old is None:
                    changed[oid] = {name: copy.deepcopy(value)}
                    touched[oid] = obj
                elif name not in old:
                    old[name] = copy.deepcopy(value)
        return value

    def __set__(self, obj: Any, value: Any) -> None:
        obj.__dict__[self.name] = value


# -- the decorator -------------------------------------------------------------------------


class _EntityDecorator:
    """``@entity`` (name = class name lower-cased) and ``@entity.name("user")``."""

    def __call__(self, cls: type[T]) -> type[T]:
        return _register(cls, cls.__name__.lower(), sys._getframe(1).f_locals)

    def name(self, name: str, *, renamed_from: str | None = None) -> Callable[[type[T]], type[T]]:
        if not isinstance(name, str) or not name.isidentifier():
            raise ModelError(f"entity name {name!r} must be a valid identifier")
        if renamed_from is not None and (
            not isinstance(renamed_from, str) or not renamed_from.isidentifier()
        ):
            raise ModelError(f"renamed_from={renamed_from!r} must be the old entity name")
        localns = sys._getframe(1).f_locals

        def decorate(cls: type[T]) -> type[T]:
            if renamed_from is not None:
                type.__setattr__(cls, "__orm_renamed_from__", renamed_from)
            return _register(cls, name, localns)

        return decorate

    def index(
        self, *fields: str, unique: bool = False, name: str | None = None
    ) -> Callable[[type[T]], type[T]]:
        """``@entity.index("a", "b", unique=True)``: an index (or unique) over several fields;
        above or below ``@entity``."""
        if not fields or not all(isinstance(f, str) for f in fields):
            raise ModelError(f"entity.index takes field names, got {fields!r}")

        def decorate(cls: type[T]) -> type[T]:
            built = cls.__dict__.get(_INFO_ATTR)
            if type(built) is EntityInfo:
                _add_index(built, fields, unique, name)
            else:
                declared = list(cls.__dict__.get("__orm_indexes__", ()))
                declared.append((tuple(fields), unique, name))
                type.__setattr__(cls, "__orm_indexes__", declared)
            return cls

        return decorate


def _add_index(info: EntityInfo, fields: tuple[str, ...], unique: bool, name: str | None) -> None:
    for f in fields:
        if not info.has_field(f):
            known = ", ".join(info.field_names)
            raise ModelError(
                f"{info.cls.__name__}: entity.index names no field {f!r}; its fields are: {known}"
            )
    info.indexes.append((tuple(fields), unique, name))


entity = _EntityDecorator()


#: Per scope (module and the qualified name's prefix: a module, or a function's locals), the
#: entity classes decorated there by name (weakly) that are not complete yet (a class waiting
#: for one named as a string, a collection not resolved), and the class being decorated: so
#: that classes can name each other as strings before the names are bound (a decorator runs
#: before its class's name is). A complete class leaves the scope (its name is bound by then).
_SCOPES: dict[tuple[str, str], dict[str, weakref.ref[type]]] = {}


def _scope_key(cls: type) -> tuple[str, str]:
    return (cls.__module__, cls.__qualname__.rpartition(".")[0])


def _scope_of(cls: type) -> dict[str, weakref.ref[type]]:
    return _SCOPES.get(_scope_key(cls), {})


def _register(cls: type[T], name: str, localns: dict[str, Any]) -> type[T]:
    if not isinstance(cls, type):
        raise ModelError(f"@entity decorates a class, not {cls!r}")
    scope = _SCOPES.setdefault(_scope_key(cls), {})
    scope[cls.__name__] = weakref.ref(cls)
    try:
        try:
            info: EntityInfo | _Pending = _build_info(cls, name, dict(localns))
        except NameError:
            info = _Pending(cls, name, dict(localns))
        setattr(cls, _INFO_ATTR, info)
        _settle(scope)
    except ModelError:
        scope.pop(cls.__name__, None)
        raise
    return cls


def _settle(scope: dict[str, weakref.ref[type]]) -> None:
    """Build the waiting classes of a scope and resolve their collections, where every class
    they name is now decorated (a class still waiting for another is left for later)."""
    classes = [c for ref in list(scope.values()) if (c := ref()) is not None]
    for other in classes:
        pending = other.__dict__.get(_INFO_ATTR)
        if isinstance(pending, _Pending):
            try:
                built = _build_info(pending.cls, pending.name, pending.localns)
            except NameError:
                continue
            except ModelError:
                scope.pop(other.__name__, None)
                raise
            setattr(other, _INFO_ATTR, built)
    for other in classes:
        info = other.__dict__.get(_INFO_ATTR)
        if type(info) is EntityInfo and info._relations is None:
            try:
                _resolve_relations(info, strict=False)
            except ModelError:
                scope.pop(other.__name__, None)
                raise
    for other in classes:
        info = other.__dict__.get(_INFO_ATTR)
        ref = scope.get(other.__name__)
        if type(info) is EntityInfo and info._relations is not None and ref and ref() is other:
            del scope[other.__name__]


class _NotReady(Exception):
    """A class a collection names is not decorated (or not buildable) yet."""


def _ready_info(cls: type) -> EntityInfo:
    info = getattr(cls, _INFO_ATTR, None)
    if type(info) is EntityInfo:
        return info
    if isinstance(info, _Pending):
        try:
            built = _build_info(info.cls, info.name, info.localns)
        except NameError:
            raise _NotReady from None
        setattr(cls, _INFO_ATTR, built)
        return built
    raise ModelError(f"{cls.__qualname__} is not an entity; decorate it with @entity")


def _pivot_class(owner: EntityInfo, spec: _CollectionSpec) -> type | None:
    via = spec.pivot
    if via is None or isinstance(via, type):
        return via
    cls = owner.cls
    ref = _scope_of(cls).get(via)
    found = ref() if ref is not None else None
    if found is None:
        module = sys.modules.get(cls.__module__)
        found = getattr(module, via, None) if module is not None else None
    if not isinstance(found, type):
        raise _NotReady
    return found


def _resolve_relations(info: EntityInfo, *, strict: bool) -> None:
    """Resolve ``info``'s collections into ``info._relations``; ``strict``: a class that is
    not decorated yet is a ``ModelError`` (else the collections wait)."""
    resolved: dict[str, RelationInfo] = {}
    for spec in info._relation_specs.values():
        where = f"{info.cls.__name__}.{spec.name}"
        try:
            pivot_cls = _pivot_class(info, spec)
            target = _ready_info(spec.target_cls)
            pivot = _ready_info(pivot_cls) if pivot_cls is not None else None
        except _NotReady:
            if not strict:
                return
            raise ModelError(
                f"{where}: BackReference(via={spec.marker.via!r}) names no entity decorated "
                f"in {info.cls.__module__}; define and decorate it, or pass the class"
            ) from None
        if pivot is not None and not is_entity(pivot.cls):
            raise ModelError(f"{where}: the pivot {pivot.cls.__name__} is not an entity")
        resolved[spec.name] = _relations.resolve(
            info, spec.name, target, spec.collection_type, spec.marker, pivot
        )
    info._relations = resolved
    for rel in resolved.values():
        _relations.link(rel)


def is_entity(obj_or_cls: Any) -> bool:
    cls = obj_or_cls if isinstance(obj_or_cls, type) else type(obj_or_cls)
    return _INFO_ATTR in cls.__dict__ or hasattr(cls, _INFO_ATTR)


def entity_info(obj_or_cls: Any) -> EntityInfo:
    """The ``EntityInfo`` of an entity class or instance; ``ModelError`` for anything else."""
    cls = obj_or_cls if isinstance(obj_or_cls, type) else type(obj_or_cls)
    info = getattr(cls, _INFO_ATTR, None)
    if type(info) is EntityInfo:
        return info
    if isinstance(info, _Pending):
        try:
            built = _build_info(info.cls, info.name, info.localns)
        except NameError as exc:
            raise ModelError(
                f"entity {info.name!r} ({cls.__qualname__}) names an undefined type: {exc}"
            ) from None
        setattr(cls, _INFO_ATTR, built)
        return built
    raise ModelError(f"{cls.__qualname__} is not an entity; decorate it with @entity")


def entity_infos(items: Iterable[Any]) -> list[EntityInfo]:
    """The ``EntityInfo`` of each class, plus every entity they reference or collect
    (targets and pivots of collections), transitively; their collections resolved."""
    seen: dict[type, EntityInfo] = {}
    todo = list(items)
    while todo:
        info = entity_info(todo.pop(0))
        if info.cls in seen:
            continue
        seen[info.cls] = info
        todo.extend(f._target_cls for f in info.references if f._target_cls is not None)
        for rel in info.relations.values():
            todo.append(rel.target.cls)
            if rel.pivot is not None:
                todo.append(rel.pivot.cls)
    return list(seen.values())
