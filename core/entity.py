"""Entities: plain classes mapped from their type annotations.

``@entity`` / ``@entity.name("user")`` reads the annotations (``Annotated`` markers from
``core.types``), builds an ``EntityInfo`` with one ``FieldInfo`` per field, and instruments the
class as little as possible:

- a keyword ``__init__`` when the class has none (its own ``__init__`` is respected, and loading
  from the database never calls it);
- a ``__repr__`` when the class has none;
- a ``__setattr__`` hook that tells the owning session which field is about to change, so that a
  commit visits only the objects that changed (never the whole identity map);
- a descriptor per reference field that loads the referenced object on first access (lazy
  loading; ``Query.eager`` loads them up front).

Callers: model files, and ``core.schema``, ``core.session``, ``core.query``. What it leaves out:
how values are stored (the dialects) and which objects a session tracks (``core.session``).
"""

from __future__ import annotations

import copy
import datetime as dt
import enum
import inspect
import sys
import types
import typing
import uuid
from collections.abc import Callable, Iterable
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from core.errors import ModelError, NotFoundError, UnknownFieldError, ValidationError
from core.types import MISSING, FieldDefault, Marker, MaxLength
from core.types import AutoIncrement as AutoIncrementMarker
from core.types import Aware as AwareMarker
from core.types import Index as IndexMarker
from core.types import PrimaryKey as PrimaryKeyMarker
from core.types import Reference as ReferenceMarker
from core.types import Unique as UniqueMarker

__all__ = [
    "SESSION_ATTR",
    "TRACKERS",
    "EntityInfo",
    "FieldInfo",
    "Unloaded",
    "entity",
    "entity_info",
    "is_entity",
]

T = TypeVar("T")

#: The key under which a tracked object's ``__dict__`` holds its session's token (an int).
SESSION_ATTR = "_orm_session"

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
    """A reference that was loaded as a bare key: resolved on first attribute access."""

    __slots__ = ("loader", "pk", "target")

    def __init__(self, target: EntityInfo, pk: Any, loader: Callable[[EntityInfo, Any], Any]):
        self.target = target
        self.pk = pk
        self.loader = loader

    def __repr__(self) -> str:
        return f"<{self.target.cls.__name__} {self.pk!r}>"


class FieldInfo:
    """One mapped field: its name, column, kind and markers, and value coercion."""

    __slots__ = (
        "_target_cls",
        "autoincrement",
        "aware",
        "column",
        "default",
        "default_factory",
        "entity",
        "enum_type",
        "index",
        "kind",
        "max_length",
        "name",
        "nullable",
        "position",
        "primary_key",
        "python_type",
        "unique",
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
        index: bool = False,
        max_length: int | None = None,
        aware: bool = False,
        enum_type: type[enum.Enum] | None = None,
        target_cls: type | None = None,
        default: Any = MISSING,
        default_factory: Callable[[], Any] | None = None,
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
        self.index = index
        self.max_length = max_length
        self.aware = aware
        self.enum_type = enum_type
        self._target_cls = target_cls
        self.default = default
        self.default_factory = default_factory
        self.position = -1

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
        "cls",
        "column_names",
        "field_names",
        "fields",
        "has_json",
        "json_fields",
        "name",
        "primary_key",
        "references",
        "single_pk_name",
    )

    def __init__(self, cls: type, name: str, fields: list[FieldInfo]) -> None:
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
        self.references = tuple(f for f in self.fields if f.kind == "reference")
        self.json_fields = tuple(f for f in self.fields if f.kind == "json")
        self.has_json = bool(self.json_fields)

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
        """The primary key of ``obj``: a scalar, or a tuple for a composite key."""
        if len(self.primary_key) == 1:
            return _raw_value(obj, self.primary_key[0])
        return tuple(_raw_value(obj, f) for f in self.primary_key)

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


def _make_field(entity_name: str, cls: type, name: str, annotation: Any) -> FieldInfo:
    tp, markers, nullable = _unwrap(annotation)
    # Messages name the class, which is what users type (the entity name is the table's).
    label = cls.__name__
    where = f"{label}.{name}"
    for m in markers:
        if not isinstance(m, Marker | MaxLength):
            raise ModelError(f"{where}: unknown marker {m!r} in Annotated[...]")
    flags = {m for m in markers if isinstance(m, Marker)}
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
    if ReferenceMarker in flags or (isinstance(tp, type) and hasattr(tp, _INFO_ATTR)):
        if not isinstance(tp, type):
            raise ModelError(f"{where}: Reference needs an entity class, got {tp!r}")
        kind, target = "reference", tp
        if ReferenceMarker not in flags:
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
    if AutoIncrementMarker in flags and default is MISSING and factory is None:
        default = 0
    if nullable and default is MISSING and factory is None:
        default = None
    return FieldInfo(
        label,
        name,
        kind,
        tp,
        nullable=nullable,
        primary_key=PrimaryKeyMarker in flags,
        autoincrement=AutoIncrementMarker in flags,
        unique=UniqueMarker in flags,
        index=IndexMarker in flags,
        max_length=max_length,
        aware=AwareMarker in flags,
        enum_type=enum_type,
        target_cls=target,
        default=default,
        default_factory=factory,
    )


def _resolve_hints(cls: type, localns: dict[str, Any]) -> dict[str, Any]:
    module = sys.modules.get(cls.__module__)
    globalns = dict(vars(module)) if module is not None else {}
    ns = dict(localns)
    ns.setdefault(cls.__name__, cls)
    hints = typing.get_type_hints(cls, globalns=globalns, localns=ns, include_extras=True)
    return {
        k: v
        for k, v in hints.items()
        if typing.get_origin(v) is not typing.ClassVar
        and v is not typing.ClassVar
        and not k.startswith("_")
    }


class _Pending:
    """An entity whose annotations name a class not defined yet; resolved on first use."""

    __slots__ = ("cls", "localns", "name")

    def __init__(self, cls: type, name: str, localns: dict[str, Any]) -> None:
        self.cls = cls
        self.name = name
        self.localns = localns


def _build_info(cls: type, name: str, localns: dict[str, Any]) -> EntityInfo:
    hints = _resolve_hints(cls, localns)
    if not hints:
        raise ModelError(f"entity {name!r} ({cls.__qualname__}) has no annotated fields")
    fields = [_make_field(name, cls, fname, ann) for fname, ann in hints.items()]
    info = EntityInfo(cls, name, fields)
    if not info.primary_key:
        raise ModelError(
            f"entity {name!r} has no primary key; mark a field Annotated[int, PrimaryKey]"
        )
    if sum(1 for f in info.primary_key if f.autoincrement) and len(info.primary_key) > 1:
        raise ModelError(f"entity {name!r}: AutoIncrement cannot be part of a composite key")
    _instrument(cls, info)
    return info


def _instrument(cls: type, info: EntityInfo) -> None:
    for f in info.references:
        setattr(cls, f.name, _ReferenceAttribute(f))
    for f in info.json_fields:
        setattr(cls, f.name, _JsonAttribute(f))
    if "__init__" not in cls.__dict__ and getattr(cls, "__init__") is object.__init__:  # noqa: B009
        cls.__init__ = _make_init(info)  # type: ignore[misc]
    if "__repr__" not in cls.__dict__ and getattr(cls, "__repr__") is object.__repr__:  # noqa: B009
        cls.__repr__ = _make_repr(info)  # type: ignore[method-assign,assignment]
    cls.__setattr__ = _make_setattr(cls, info)  # type: ignore[method-assign,assignment]


def _make_init(info: EntityInfo) -> Callable[..., None]:
    """A keyword-only ``__init__`` compiled for the class (it runs once per new object).

    A new object has no session yet, so values go straight into ``__dict__`` (reference
    descriptors store there too); immutable defaults are parameter defaults, factories and
    mutable defaults are called or copied per object.
    """
    fields = info.fields
    cls_name = info.cls.__name__

    def unknown(extra: dict[str, Any]) -> None:
        raise ValidationError(
            f"{cls_name} has no field {sorted(extra)[0]!r}; "
            f"its fields are: {', '.join(f.name for f in fields)}"
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
            body.append(f"    if {name} is _M: _required({name!r})")
    body.append("    if _extra: _unknown(_extra)")
    # Locals start with "_" so that no field name (never "_"-prefixed) can shadow them.
    body.append("    _d = _self.__dict__")
    body.extend(f"    _d[{f.name!r}] = {f.name}" for f in fields)
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
                v = Unloaded(target, target.pk_of(v), _no_loader) if type(v) is not Unloaded else v
            parts.append(f"{f.name}={v!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    return __repr__


def _no_loader(target: EntityInfo, pk: Any) -> Any:  # pragma: no cover - never called
    raise NotFoundError(f"{target.cls.__name__} {pk!r} is not loaded")


def _make_setattr(cls: type, info: EntityInfo) -> Callable[[Any, str, Any], None]:
    base_setattr: Callable[[Any, str, Any], None] = getattr(cls, "__setattr__")  # noqa: B009
    names = info.field_names
    key = SESSION_ATTR
    trackers = TRACKERS
    # Fields with no descriptor on the class (or a JSON one, which stores into __dict__ as
    # well) can be stored straight into __dict__.
    plain = frozenset(
        f.name
        for f in info.fields
        if type(inspect.getattr_static(cls, f.name, None)) is _JsonAttribute
        or not hasattr(type(inspect.getattr_static(cls, f.name, None)), "__set__")
    )
    if base_setattr is not object.__setattr__:
        plain = frozenset()

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
                old = changed.get(oid)
                if old is None:
                    if oid not in new:
                        changed[oid] = {name: d.get(name, MISSING)}
                        touched[oid] = self
                elif name not in old:
                    old[name] = d.get(name, MISSING)
        if name in plain:
            d[name] = value
        else:
            base_setattr(self, name, value)

    return __setattr__


class _ReferenceAttribute:
    """Class attribute of a reference field: lazy-loads an ``Unloaded`` key on first read."""

    __slots__ = ("default", "name")

    def __init__(self, f: FieldInfo) -> None:
        self.name = f.name
        self.default = f.default

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
        if type(value) is Unloaded:
            value = value.loader(value.target, value.pk)
            d[self.name] = value
        return value

    def __set__(self, obj: Any, value: Any) -> None:
        obj.__dict__[self.name] = value


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

    def name(self, name: str) -> Callable[[type[T]], type[T]]:
        if not isinstance(name, str) or not name.isidentifier():
            raise ModelError(f"entity name {name!r} must be a valid identifier")
        localns = sys._getframe(1).f_locals

        def decorate(cls: type[T]) -> type[T]:
            return _register(cls, name, localns)

        return decorate


entity = _EntityDecorator()


def _register(cls: type[T], name: str, localns: dict[str, Any]) -> type[T]:
    if not isinstance(cls, type):
        raise ModelError(f"@entity decorates a class, not {cls!r}")
    try:
        info: EntityInfo | _Pending = _build_info(cls, name, dict(localns))
    except NameError:
        info = _Pending(cls, name, dict(localns))
    setattr(cls, _INFO_ATTR, info)
    return cls


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
    """The ``EntityInfo`` of each class, plus every entity they reference (transitively)."""
    seen: dict[type, EntityInfo] = {}
    todo = list(items)
    while todo:
        info = entity_info(todo.pop(0))
        if info.cls in seen:
            continue
        seen[info.cls] = info
        todo.extend(f._target_cls for f in info.references if f._target_cls is not None)
    return list(seen.values())
