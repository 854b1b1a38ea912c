"""Per-entity, per-dialect generated functions: objects -> parameter rows, rows -> objects.

These are the hot paths of every commit and every query, so, as Deepkit does, they are compiled
once per entity (and per column set) from generated source instead of looping over fields at run
time. Only identifiers taken from the model (field names, which are Python identifiers) enter
the generated source; values never do. Callers: ``core.persist``, ``core.query``,
``core.session``. What it leaves out: SQL text (``core.sql``) and which objects to process.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from core.dialects.base import Converter, Dialect, json_dumps_canonical
from core.entity import SESSION_ATTR, EntityInfo, FieldInfo, Unloaded
from core.errors import SessionError, ValidationError
from core.types import MISSING

__all__ = ["EntityCodec", "Resolver", "collector_paused"]


@contextlib.contextmanager
def collector_paused(rows: int) -> Iterator[None]:
    """Pause the cyclic garbage collector while many objects are hydrated.

    Every hydrated object is two tracked containers; building 100k of them triggers full
    collections that scan everything alive, for nothing: hydration creates no garbage cycles.
    """
    if rows < 5_000 or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


_EXACT_KINDS = frozenset(
    {"int", "float", "bool", "str", "bytes", "decimal", "datetime", "date", "time", "uuid"}
)


def same_reference(f: FieldInfo, old: Any, new: Any) -> bool:
    """Whether a reference still points at the same row (by key, or the same new object)."""
    if old is new:
        return True
    if old is None or new is None or old is MISSING or new is MISSING:
        return False
    target = f.target
    assert target is not None
    old_pk = (
        old.pk if type(old) is Unloaded else (target.pk_of(old) if target.has_pk(old) else None)
    )
    new_pk = (
        new.pk if type(new) is Unloaded else (target.pk_of(new) if target.has_pk(new) else None)
    )
    return old_pk is not None and old_pk == new_pk


def _exact_type(f: FieldInfo) -> type | None:
    """The one class whose values a field takes without checks (None: always check)."""
    if f.kind == "enum":
        return f.enum_type
    if f.kind in _EXACT_KINDS:
        return f.python_type  # type: ignore[no-any-return]
    return None


#: ``resolve(target, pk)`` -> the identity-mapped object, or an ``Unloaded`` placeholder.
Resolver = Callable[[EntityInfo, Any], Any]
Pending = dict[int, Any]


class EntityCodec:
    """Compiled conversions between one entity's objects and one dialect's rows."""

    def __init__(self, info: EntityInfo, dialect: Dialect) -> None:
        self.info = info
        self.dialect = dialect
        self.to_db: dict[str, Converter] = {}
        self.from_db: dict[str, Converter | None] = {}
        for f in info.fields:
            self.to_db[f.name] = self._make_to_db(f)
            self.from_db[f.name] = self._make_from_db(f)
        self._params_cache: dict[tuple[str, ...], Callable[[Any, Pending], tuple[Any, ...]]] = {}
        self.hydrate = self._compile_hydrate()
        pk_positions = [f.position for f in info.primary_key]
        self.pk_positions = pk_positions
        self.key_from_row = self._compile_key(pk_positions)
        self.json_names = tuple(f.name for f in info.json_fields)
        self.diff = self._compile_diff()

    # -- single values ---------------------------------------------------------------------

    def _make_to_db(self, f: FieldInfo) -> Converter:
        if f.kind != "reference":
            return self.dialect.to_db_converter(f)
        target = f.target
        assert target is not None
        target_codec_pk: list[Converter] = []

        def ref_to_db(v: Any, pending: Pending | None = None) -> Any:
            if v is None:
                if f.nullable:
                    return None
                raise ValidationError(f"{f.entity}.{f.name} is not nullable, got None")
            if type(v) is Unloaded:
                pk = v.pk
            elif isinstance(v, target.cls):
                if pending is not None and id(v) in pending:
                    return pending[id(v)]
                if not target.has_pk(v):
                    raise SessionError(
                        f"{f.entity}.{f.name} refers to a new {target.cls.__name__} that is not "
                        "in the session; add it to the session too"
                    )
                pk = target.pk_of(v)
            else:
                raise f._invalid(v)
            if not target_codec_pk:
                target_codec_pk.append(self.dialect.to_db_converter(target.primary_key[0]))
            return target_codec_pk[0](pk)

        return ref_to_db

    def _make_from_db(self, f: FieldInfo) -> Converter | None:
        if f.kind == "reference":
            target = f.target
            assert target is not None
            return self.dialect.from_db_converter(target.primary_key[0])
        return self.dialect.from_db_converter(f)

    def value_to_db(self, f: FieldInfo, value: Any, pending: Pending | None = None) -> Any:
        conv = self.to_db[f.name]
        if f.kind == "reference":
            return conv(value, pending)  # type: ignore[call-arg]
        return conv(value)

    def value_from_db(self, f: FieldInfo, value: Any) -> Any:
        conv = self.from_db[f.name]
        return value if value is None or conv is None else conv(value)

    def snapshot(self, obj: Any) -> tuple[str, ...]:
        """Canonical JSON text of the JSON fields, to see in-place mutation at commit."""
        d = obj.__dict__
        return tuple(json_dumps_canonical(d.get(n)) for n in self.json_names)

    # -- parameter rows --------------------------------------------------------------------

    def params(self, names: Sequence[str]) -> Callable[[Any, Pending], tuple[Any, ...]]:
        """``fn(obj, pending) -> tuple`` of driver values for the fields ``names``."""
        key = tuple(names)
        fn = self._params_cache.get(key)
        if fn is None:
            fn = self._compile_params(key)
            self._params_cache[key] = fn
        return fn

    def _compile_params(self, names: tuple[str, ...]) -> Callable[[Any, Pending], tuple[Any, ...]]:
        info = self.info
        ns: dict[str, Any] = {"MISSING": MISSING, "_missing": self._missing}
        lines = ["def params(o, pending):", "    d = o.__dict__"]
        out = []
        for i, name in enumerate(names):
            f = info.field(name)
            conv = f"c{i}"
            ns[conv] = self.to_db[name]
            var = f"v{i}"
            out.append(var)
            if f.kind == "reference":
                ns[f"dflt{i}"] = f.default
                lines.append(f"    {var} = d.get({name!r}, dflt{i})")
                lines.append(f"    if {var} is MISSING: _missing({name!r}, o)")
                lines.append(f"    {var} = {conv}({var}, pending)")
                continue
            lines.append(f"    try: {var} = o.{name}")
            lines.append(f"    except AttributeError: _missing({name!r}, o)")
            # Fast path: a value of exactly the field's type needs no check, only the
            # dialect's conversion (if any); anything else goes through the checking converter.
            exact = _exact_type(f)
            if exact is None:
                lines.append(f"    {var} = {conv}({var})")
                continue
            ns[f"T{i}"] = exact
            cond = f"{var}.__class__ is T{i}"
            if f.max_length is not None:
                cond += f" and len({var}) <= {f.max_length}"
            if f.kind == "datetime":
                cond += f" and {var}.tzinfo is {'not ' if f.aware else ''}None"
            kind_conv = self.dialect.to_db_kind(f)
            if kind_conv is None:
                lines.append(f"    if not ({cond}): {var} = {conv}({var})")
            else:
                ns[f"k{i}"] = kind_conv
                lines.append(f"    {var} = k{i}({var}) if {cond} else {conv}({var})")
        lines.append(f"    return ({', '.join(out)}{',' if len(out) == 1 else ''})")
        exec("\n".join(lines), ns)
        fn: Callable[[Any, Pending], tuple[Any, ...]] = ns["params"]
        return fn

    def _missing(self, name: str, obj: Any) -> None:
        raise ValidationError(
            f"{self.info.cls.__name__}.{name} has no value; set it before committing"
        )

    # -- hydration -------------------------------------------------------------------------

    def _compile_hydrate(self) -> Callable[[Sequence[Any], Any, Resolver | None], Any]:
        """``fn(row, session, resolve) -> obj``: a new instance without calling ``__init__``."""
        info = self.info
        ns: dict[str, Any] = {"new": object.__new__, "cls": info.cls, "Unloaded": Unloaded}
        lines = ["def hydrate(row, session, resolve):", "    o = new(cls)", "    d = o.__dict__"]
        for i, f in enumerate(info.fields):
            conv = self.from_db[f.name]
            if f.kind == "reference":
                ns[f"t{i}"] = f.target
                ns[f"f{i}"] = conv
                val = f"f{i}(v)" if conv is not None else "v"
                lines.append(f"    v = row[{i}]")
                lines.append(f"    d[{f.name!r}] = None if v is None else resolve(t{i}, {val})")
            elif conv is None:
                lines.append(f"    d[{f.name!r}] = row[{i}]")
            else:
                ns[f"f{i}"] = conv
                lines.append(f"    v = row[{i}]")
                lines.append(f"    d[{f.name!r}] = None if v is None else f{i}(v)")
        lines.append(f"    if session is not None: d[{SESSION_ATTR!r}] = session")
        lines.append("    return o")
        exec("\n".join(lines), ns)
        fn: Callable[[Sequence[Any], Any, Resolver | None], Any] = ns["hydrate"]
        return fn

    def _compile_diff(self) -> Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]:
        """``fn(obj.__dict__, old_values) -> {field: (old, new)}`` in declaration order.

        ``old_values`` holds what the session's ``__setattr__`` hook recorded before the first
        assignment to each field (``MISSING``: the field was not in ``__dict__``). JSON fields
        are left to the snapshot comparison; references compare by key or identity.
        """
        ns: dict[str, Any] = {"MISSING": MISSING}
        lines = ["def diff(d, ov):", "    out = {}"]
        for i, f in enumerate(self.info.fields):
            if f.kind == "json":
                continue
            name = f.name
            static = f.has_default and f.default_factory is None
            ns[f"D{i}"] = f.default if static else MISSING
            lines.append(f"    if {name!r} in ov:")
            lines.append(f"        o = ov[{name!r}]")
            lines.append(f"        if o is MISSING: o = D{i}")
            lines.append(f"        n = d.get({name!r}, D{i})")
            if f.kind == "reference":
                ns[f"F{i}"] = f
                ns["same"] = same_reference
                lines.append(f"        if not same(F{i}, o, n): out[{name!r}] = (o, n)")
            else:
                lines.append(
                    f"        if o is not n and (o.__class__ is not n.__class__ or o != n):"
                    f" out[{name!r}] = (o, n)"
                )
        lines.append("    return out")
        exec("\n".join(lines), ns)
        fn: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]] = ns["diff"]
        return fn

    def _compile_key(self, positions: list[int]) -> Callable[[Sequence[Any]], Any]:
        """``fn(row) -> identity key`` (the Python value of the primary key)."""
        ns: dict[str, Any] = {}
        parts = []
        for j, pos in enumerate(positions):
            f = self.info.fields[pos]
            conv = self.from_db[f.name]
            if conv is None:
                parts.append(f"row[{pos}]")
            else:
                ns[f"k{j}"] = conv
                parts.append(f"k{j}(row[{pos}])")
        body = parts[0] if len(parts) == 1 else f"({', '.join(parts)},)"
        exec(f"def key(row):\n    return {body}", ns)
        fn: Callable[[Sequence[Any]], Any] = ns["key"]
        return fn
