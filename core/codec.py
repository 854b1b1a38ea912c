"""Per-entity, per-dialect generated functions: objects -> parameter rows, rows -> objects.

These are the hot paths of every commit and every query, so, as Deepkit does, they are compiled
once per entity (and per column set) from generated source instead of looping over fields at run
time. Only identifiers taken from the model (field names, which are Python identifiers) enter
the generated source; values never do. Callers: ``core.persist``, ``core.query``,
``core.session``. What it leaves out: SQL text (``core.sql``) and which objects to process.

Rows become objects in C where the optional accelerator ``core._hydrate`` was built
(``setup.py``; a ``Hydrator``): an untracked stream of an entity without references
(``_compile_stream_rows``) and a session's load (``_compile_merge``; an eager load's new
rows with their references resolved too). The generated Python
loops make the same objects everywhere else, and everywhere when the environment sets
``ORMCLI_NO_SPEEDUPS=1`` at import (``SPEEDUPS`` says which runs).
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import operator
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from types import ModuleType
from typing import Any, NoReturn

from core import collection as _collection
from core.dialects.base import INT64_CHECK, Converter, Dialect, json_dumps_canonical
from core.entity import SESSION_ATTR, EntityInfo, FieldInfo, Unloaded, unloaded_key
from core.errors import OrmError, SessionError, ValidationError
from core.speedups import load as load_accelerator
from core.types import MISSING

__all__ = [
    "SPEEDUPS",
    "Collector",
    "Deferrer",
    "EntityCodec",
    "Resolver",
    "UpdateGroup",
    "collector_paused",
]


def _speedups() -> ModuleType | None:
    """The C accelerator ``core._hydrate``: None where it was not built, where the
    environment sets ``ORMCLI_NO_SPEEDUPS`` (to anything but ``""`` or ``"0"``), or where the
    build is older than this code (an in-place build not redone: it lacks what is called)."""
    _hydrate = load_accelerator("_hydrate")
    if _hydrate is None:
        return None
    wanted = ("ascending", "group", "by_key", "link_groups", "pending", "items_of", "install")
    if not all(hasattr(_hydrate, name) for name in wanted) or not all(
        hasattr(_hydrate.Hydrator, name) for name in ("fresh", "chunk_refs")
    ):
        return None
    return _hydrate


#: The accelerator module, chosen once at import (tests set it to None for the pure path).
_hydrate: ModuleType | None = _speedups()
#: Whether rows become objects in C (``core._hydrate``): streams and session loads.
SPEEDUPS = _hydrate is not None


@contextlib.contextmanager
def collector_paused(rows: int | None = None) -> Iterator[None]:
    """Pause the cyclic garbage collector while many objects are built.

    Every fetched row is a tracked tuple and every hydrated object a tracked instance; building
    100k of them triggers collections that scan everything alive, for nothing: loading creates
    no garbage cycles. ``rows``: pause only for at least 5,000 (None: whatever the size, for a
    query whose size is known only once it ran). Nested pauses are one pause.
    """
    if (rows is not None and rows < 5_000) or not gc.isenabled():
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
    # (a key: an ``Unloaded`` placeholder's or a bare one, as a session's load stores it)
    old_pk, new_pk = unloaded_key(old), unloaded_key(new)
    name = target.single_pk_name
    if name is not None and target.primary_key[0].autoincrement:
        # (the common case: one generated key, read straight from the objects)
        a = old.__dict__.get(name) if old_pk is None else old_pk
        b = new.__dict__.get(name) if new_pk is None else new_pk
        return bool(a) and a == b
    if old_pk is None and target.has_pk(old):
        old_pk = target.pk_of(old)
    if new_pk is None and target.has_pk(new):
        new_pk = target.pk_of(new)
    return old_pk is not None and old_pk == new_pk


def _exact_type(f: FieldInfo) -> type | None:
    """The one class whose values a field takes without checks (None: always check)."""
    if f.kind == "enum":
        return f.enum_type
    if f.kind in _EXACT_KINDS:
        return f.python_type  # type: ignore[no-any-return]
    return None


#: ``resolve(target, pk)`` -> the identity-mapped object, an ``Unloaded`` placeholder, or the
#: key itself (a bare key: ``core.entity.unloaded_key``).
Resolver = Callable[[EntityInfo, Any], Any]
Pending = dict[int, Any]
#: ``defer(keys, objects)``: a load's distinct keys, for the identity map to map on first use.
Deferrer = Callable[[list[Any], list[Any]], None]
#: ``fn(objs, pending) -> parameter rows`` (see ``EntityCodec.rows``).
RowsFn = Callable[[Sequence[Any], Pending | None], list[tuple[Any, ...]]]


def _ref_resolver(
    resolve: Resolver, target: EntityInfo, conv: Converter | None
) -> Callable[[Any], Any]:
    """``value -> resolve(target, conv(value))`` (``conv`` None: the value as it is): a
    reference's answer for a stored key, for ``Hydrator.chunk_refs``."""
    if conv is None:
        return lambda v: resolve(target, v)
    return lambda v: resolve(target, conv(v))


class UpdateGroup:
    """Changed objects of one entity that changed the same columns (one batch of UPDATEs)."""

    __slots__ = ("diffs", "objs", "pks", "rows")

    def __init__(self) -> None:
        self.objs: list[Any] = []
        self.pks: list[Any] = []
        self.diffs: list[dict[str, tuple[Any, Any]]] = []
        #: The parameter rows of the UPDATE, when made in the same pass (``collect_moves``):
        #: exactly what ``EntityCodec.rows`` gives for the columns and the key; else None.
        self.rows: list[tuple[Any, ...]] | None = None


#: See ``EntityCodec._compile_collect``.
Collector = Callable[
    [Any, dict[int, Any], dict[int, Any], dict[Any, UpdateGroup], list[Any], Any], None
]
#: See ``EntityCodec._compile_collect_moves``.
MovesCollector = Callable[
    [Iterable[tuple[int, dict[str, Any]]], dict[int, Any], dict[int, Any], list[Any]],
    tuple[list[tuple[str, UpdateGroup]], bool],
]


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
        self._rows_cache: dict[tuple[str, ...], RowsFn] = {}
        self._columns_cache: dict[int, tuple[str, ...]] = {}
        self.hydrate = self._compile_hydrate()
        self.stream_rows = self._compile_stream_rows()
        self.pk_positions = [f.position for f in info.primary_key]
        #: Identity-mapped loading: references as bare keys (a session's query), or
        #: (``merge_resolving``: loaders that hand over the referenced objects) resolved by
        #: ``resolve``.
        #: The accelerator this codec's loops and ``core.loaders``' eager loads of its entity
        #: use (``core._hydrate``), or None: the generated Python code (chosen when the codec
        #: is made, as ``SPEEDUPS`` says; tests make codecs without it).
        self.speedups: ModuleType | None = _hydrate
        self._merge_c = self._merge_hydrator()
        self.merge = self._compile_merge(bare=True)
        self.merge_resolving = self._compile_merge(bare=False)
        self.merge_one = self._compile_merge_one()
        #: A one-field key's driver value (``Session.get``); None for a composite key.
        self.key_to_db = self._compile_key_to_db()
        self.diff = self._compile_diff()
        self.collect = self._compile_collect(masks=False)
        self.collect_masks = self._compile_collect(masks=True)
        #: None when no reference of the entity qualifies (see ``_compile_collect_moves``).
        self.collect_moves = self._compile_collect_moves()

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
            elif not isinstance(v, bool) and isinstance(v, target.primary_key[0].python_type):
                pk = v  # a key of the target (a composite key read with ``pk_of``)
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

    # -- parameter rows --------------------------------------------------------------------

    def rows(self, names: Sequence[str]) -> RowsFn:
        """``fn(objs, pending) -> [tuple, ...]``: driver values of the fields ``names``."""
        key = tuple(names)
        fn = self._rows_cache.get(key)
        if fn is None:
            fn = self._compile_rows(key)
            self._rows_cache[key] = fn
        return fn

    def _compile_rows(self, names: tuple[str, ...]) -> RowsFn:
        """One loop over the objects, every field's check and conversion inlined.

        A value of exactly the field's type needs no check, only the dialect's conversion (an
        inline expression where the dialect has one); anything else goes through the checking
        converter, which raises ``ValidationError`` naming the field.
        """
        info = self.info
        ns: dict[str, Any] = {"MISSING": MISSING, "_missing": self._missing}
        body = []
        out = []
        for i, name in enumerate(names):
            f = info.field(name)
            conv = f"c{i}"
            ns[conv] = self.to_db[name]
            var = f"v{i}"
            out.append(var)
            if f.kind == "reference":
                ns[f"dflt{i}"] = f.default
                body.append(f"{var} = d.get({name!r}, dflt{i})")
                body.append(f"if {var} is MISSING: _missing({name!r}, o)")
                target = f.target
                assert target is not None
                tpk = target.primary_key[0]
                if (
                    len(target.primary_key) == 1
                    and tpk.kind == "int"
                    and tpk.autoincrement
                    and self.dialect.to_db_kind(tpk) is None
                    and self.dialect.to_db_inline(tpk) is None
                ):
                    # A loaded object of exactly the target's class holding its generated
                    # key (a valid int, not 0): the key as it is, no call.
                    ns[f"TC{i}"] = target.cls
                    body.append(
                        f"if {var}.__class__ is TC{i} and "
                        f"(k := {var}.__dict__.get({tpk.name!r})).__class__ is int and k: "
                        f"{var} = k"
                    )
                    body.append(f"else: {var} = {conv}({var}, pending)")
                    continue
                body.append(f"{var} = {conv}({var}, pending)")
                continue
            # Values live in __dict__; a class attribute (a default) or nothing at all is
            # the rare case.
            body.append(f"try: {var} = d[{name!r}]")
            body.append(f"except KeyError: {var} = _attr(o, {name!r})")
            body.append(self._convert_line(ns, f, i, conv))
        ns["_attr"] = self._attr
        lines = [
            "def rows(objs, pending):",
            "    result = []",
            "    append = result.append",
            "    for o in objs:",
            "        d = o.__dict__",
            *("        " + line for line in body),
            f"        append(({', '.join(out)}{',' if len(out) == 1 else ''}))",
            "    return result",
        ]
        exec("\n".join(lines), ns)
        fn: RowsFn = ns["rows"]
        return fn

    def _convert_line(self, ns: dict[str, Any], f: FieldInfo, i: int, conv: str) -> str:
        """A line turning ``v{i}`` into the driver value of field ``f``: a value of exactly
        the field's type needs no check, only the dialect's conversion (an inline expression
        where the dialect has one); anything else goes through the checking converter ``conv``
        (in ``ns``), which raises ``ValidationError`` naming the field."""
        var = f"v{i}"
        exact = _exact_type(f)
        if exact is None:
            return f"{var} = {conv}({var})"
        ns[f"T{i}"] = exact
        cond = f"{var}.__class__ is T{i}"
        if f.max_length is not None:
            cond += f" and len({var}) <= {f.max_length}"
        if f.kind == "datetime":
            cond += f" and {var}.tzinfo is {'not ' if f.aware else ''}None"
        extra = self.dialect.fast_check(f)  # what the backend stores exactly
        if extra is not None:
            cond += f" and ({extra.format(var)})"
        inline = self.dialect.to_db_inline(f)
        kind_conv = self.dialect.to_db_kind(f)
        if inline is not None:
            expr = inline.format(var)
        elif kind_conv is not None:
            ns[f"k{i}"] = kind_conv
            expr = f"k{i}({var})"
        else:
            return f"if not ({cond}): {var} = {conv}({var})"
        return f"{var} = {expr} if {cond} else {conv}({var})"

    def _compile_key_to_db(self) -> Converter | None:
        """``fn(pk) -> driver value`` of a one-field key, as ``Session.get`` binds it: a key
        of exactly the field's type converted inline, anything else coerced first (``"7"`` for
        an int key) and then checked (``ValidationError`` naming the field). None for a
        composite key."""
        if len(self.info.primary_key) != 1:
            return None
        f = self.info.primary_key[0]
        to_db = self.to_db[f.name]
        ns: dict[str, Any] = {"slow": lambda v: to_db(f.coerce(v))}
        lines = [
            "def key_to_db(v0):",
            "    " + self._convert_line(ns, f, 0, "slow"),
            "    return v0",
        ]
        exec("\n".join(lines), ns)
        fn: Converter = ns["key_to_db"]
        return fn

    def _attr(self, obj: Any, name: str) -> Any:
        try:
            return getattr(obj, name)
        except AttributeError:
            self._missing(name, obj)

    def _missing(self, name: str, obj: Any) -> NoReturn:
        raise ValidationError(
            f"{self.info.cls.__name__}.{name} has no value; set it before committing"
        )

    # -- hydration -------------------------------------------------------------------------

    def _field_lines(
        self,
        ns: dict[str, Any],
        skip: int = -1,
        indent: str = "    ",
        unpacked: bool = False,
        caches: list[str] | None = None,
        bare: bool = False,
    ) -> list[str]:
        """Source lines storing a row's values into ``d`` (converted; references resolved,
        or with ``bare`` stored as their bare keys: a session's load, see below).

        Values are read as ``row[i]``, or with ``unpacked`` from the locals ``c0, c1, ...``
        (the row unpacked by the loop header, which is faster than indexing it). The field at
        position ``skip`` is left out (the caller stores the identity key there).

        With ``caches`` (a loop over many rows), a reference to another entity whose key is an
        int or str asks ``resolve`` once per key and the rest of the rows take what it gave
        from a dict (``rc<i>``; the lines that make it are appended to ``caches``, for the
        function's start): within one load the answer for a key cannot change (the target's
        identity map is not the one the load fills), and an ``Unloaded`` placeholder is
        immutable, so rows may share it. 10,000 posts of 1,000 authors: 1,000 calls, not
        10,000. A reference to the entity itself asks every time (the load maps its rows).

        With ``bare`` (the loads of a session), a reference holds the row's key as it is
        (converted): no call, no lookup, no placeholder object per row, and the ``__dict__``
        holds only plain values, so the cyclic collector never scans it; the reference's
        descriptor resolves the key through the object's session on first read (the
        identity-mapped object, else one SELECT by key). 2,000 posts on SQLite: a third less
        CPU for the load and the collection after it.
        """
        lines = []
        for i, f in enumerate(self.info.fields):
            if i == skip:
                continue
            src = f"c{i}" if unpacked else f"row[{i}]"
            conv = self.from_db[f.name]
            if f.kind == "reference":
                ns[f"t{i}"] = f.target
                ns[f"f{i}"] = conv
                val = f"f{i}(v)" if conv is not None else "v"
                if bare:
                    if conv is None:
                        lines.append(f"d[{f.name!r}] = {src}")
                    else:
                        lines.append(f"v = {src}")
                        lines.append(f"d[{f.name!r}] = None if v is None else {val}")
                    continue
                lines.append(f"v = {src}")
                target = f.target
                assert target is not None
                if caches is not None and self._ref_cached(f):
                    caches.append(f"rc{i} = {{}}")
                    caches.append(f"g{i} = rc{i}.get")
                    lines.append("if v is None:")
                    lines.append(f"    d[{f.name!r}] = None")
                    lines.append("else:")
                    lines.append(f"    x = g{i}(v)")
                    lines.append("    if x is None:")
                    lines.append(f"        x = rc{i}[v] = resolve(t{i}, {val})")
                    lines.append(f"    d[{f.name!r}] = x")
                    continue
                lines.append(f"d[{f.name!r}] = None if v is None else resolve(t{i}, {val})")
            elif conv is None:
                lines.append(f"d[{f.name!r}] = {src}")
            else:
                ns[f"f{i}"] = conv
                lines.append(f"v = {src}")
                lines.append(f"d[{f.name!r}] = None if v is None else f{i}(v)")
        return [indent + line for line in lines]

    def _ref_cached(self, f: FieldInfo) -> bool:
        """Whether a loop over many rows asks ``resolve`` once per key of reference ``f``
        (see ``_field_lines``): a target other than the entity, keyed by one int or str."""
        target = f.target
        assert target is not None
        return (
            target is not self.info
            and len(target.primary_key) == 1
            and target.primary_key[0].kind in ("int", "str")
        )

    def _ref_resolvers(self, ns: dict[str, Any]) -> str:
        """The expression of ``Hydrator.chunk_refs``' ``refs`` in a generated merge (names in
        ``_merge_hydrator``'s order): None for a plain value or a single key (stored as it
        is), else ``(rc<i> or None, resolver)``, the resolver converting the stored key and
        asking ``resolve`` for it (``_ref_resolver``), ``rc<i>`` the cache ``_field_lines``
        made for the same reference (shared by the C and the Python loops of one load)."""
        fields = self.info.fields
        single = len(self.pk_positions) == 1
        order = self._merge_order()
        ns["ref_resolver"] = _ref_resolver
        parts = []
        for j, i in enumerate(order):
            f = fields[i]
            if f.kind != "reference" or (single and j == 0):
                parts.append("None")
                continue
            cache = f"rc{i}" if self._ref_cached(f) else "None"
            parts.append(f"({cache}, ref_resolver(resolve, t{i}, f{i}))")
        return "(" + ", ".join(parts) + ",)"

    def _compile_hydrate(self) -> Callable[[Sequence[Any], Any, Resolver | None], Any]:
        """``fn(row, token, resolve) -> obj``: a new instance without calling ``__init__``,
        attached to the session whose token is given (None: untracked)."""
        ns: dict[str, Any] = {"new": object.__new__, "cls": self.info.cls}
        body = ["o = new(cls)", "d = o.__dict__", *self._field_lines(ns, indent="")]
        body.append(f"if token is not None: d[{SESSION_ATTR!r}] = token")
        body.append("return o")
        lines = ["def hydrate(row, token, resolve):", *self._guarded(ns, body)]
        exec("\n".join(lines), ns)
        fn: Callable[[Sequence[Any], Any, Resolver | None], Any] = ns["hydrate"]
        return fn

    def _compile_stream_rows(
        self,
    ) -> Callable[[Iterable[Sequence[Any]], Resolver | None, Any], Iterator[Any]]:
        """``fn(chunks, resolve, token) -> iterator of objects``: ``hydrate`` of untracked
        objects, yielded one at a time as the rows of ``chunks`` (sequences of rows) come,
        each object holding ``token`` as its session token (``core.collection.UNTRACKED``:
        it stands for its row). ``Query.stream`` hands this iterator to its caller as it is:
        no object list per chunk (an object the caller drops dies at once, so the cyclic
        collector never sees a chunk of live objects move into its older generations and
        rescans nothing; 1,000,000 rows on PostgreSQL: 8,570 -> 7,130 client instructions a
        row) and no delegating frame per row. Closing it (or dropping it, or its end, or an
        error) closes ``chunks``: the query ends.

        An entity without references takes the C accelerator where it is built
        (``core._hydrate.Hydrator``, see ``_stream_hydrator``): the same objects, made
        without a Python frame per row. Anything else runs a generated generator, each row
        unpacked by the loop header; its reference caches (``_field_lines``) start over for
        each chunk, so a long stream holds none."""
        hydrator = self._stream_hydrator()
        if hydrator is not None:
            start = hydrator.stream

            def stream_c(
                chunks: Iterable[Sequence[Any]], resolve: Resolver | None, token: Any
            ) -> Iterator[Any]:
                stream: Iterator[Any] = start(chunks, token)
                return stream

            return stream_c
        ns: dict[str, Any] = {"new": object.__new__, "cls": self.info.cls}
        names = ", ".join(f"c{i}" for i in range(len(self.info.fields)))
        caches: list[str] = []
        fields = self._field_lines(ns, indent=" " * 12, unpacked=True, caches=caches)
        body = [
            "try:",
            "    for rows in chunks:",
            *("        " + line for line in caches),
            f"        for {names}{',' if len(self.info.fields) == 1 else ''} in rows:",
            "            o = new(cls)",
            "            d = o.__dict__",
            *fields,
            f"            d[{SESSION_ATTR!r}] = token",
            "            yield o",
            "finally:",
            "    close = getattr(chunks, 'close', None)",
            "    if close is not None:",
            "        close()",
        ]
        lines = ["def stream_rows(chunks, resolve, token):", *self._guarded(ns, body)]
        exec("\n".join(lines), ns)
        fn: Callable[[Iterable[Sequence[Any]], Resolver | None, Any], Iterator[Any]]
        fn = ns["stream_rows"]
        return fn

    def _stream_hydrator(self) -> Any:
        """The C ``Hydrator`` of this entity's untracked rows, or None: the accelerator is
        not there, or the entity has references (their resolution stays in Python), or
        ``object.__new__`` cannot make its class.

        It stores each value as ``d[name] = v`` does (``object.__setattr__``: no
        ``__setattr__`` hook), straight into the instance's ``__dict__`` when the class has a
        data descriptor under a field's name or the session attribute (a JSON field's),
        converting a value that is not None with the field's converter (``from_db``) where it
        has one; a row it cannot convert raises through ``_row_failed``, the same error as
        the generated code's (``_guarded``)."""
        fields = self.info.fields
        if _hydrate is None or any(f.kind == "reference" for f in fields):
            return None
        return self._hydrator(list(range(len(fields))))

    def _merge_hydrator(self) -> Any:
        """The C ``Hydrator`` of a session's load (``merge`` with references as bare keys:
        every value stored as the row holds it, or through its converter), or None. Names in
        the order the generated code stores them: a single key first (``_merge_parts``), the
        identity key made of the converted key values (``fresh``, ``merge``)."""
        if _hydrate is None:
            return None
        order = self._merge_order()
        key = (0,) if len(self.pk_positions) == 1 else tuple(self.pk_positions)
        return self._hydrator(order, key)

    def _merge_order(self) -> list[int]:
        """The row positions of the fields in the order a merge stores them: a single key
        first, then the others as declared (every field as declared for a composite key)."""
        order = list(range(len(self.info.fields)))
        if len(self.pk_positions) == 1:
            order.remove(self.pk_positions[0])
            order.insert(0, self.pk_positions[0])
        return order

    def _hydrator(self, order: list[int], key: tuple[int, ...] = ()) -> Any:
        """A C ``Hydrator`` storing the fields at ``order`` (row positions) in that order,
        its identity key made of the names at ``key``; None where ``object.__new__`` cannot
        make the class. Values go into the instance's ``__dict__`` itself when the class has
        a data descriptor under one of the names (a reference, a JSON field): stored as
        ``__dict__[name] = v`` stores, which on CPython 3.11 is the name's inline slot."""
        assert _hydrate is not None
        fields = self.info.fields
        cls = self.info.cls
        names = tuple(sys.intern(fields[i].name) for i in order)

        def data_descriptor(name: str) -> bool:
            for klass in cls.__mro__:
                if name in klass.__dict__:
                    kind = type(klass.__dict__[name])
                    return hasattr(kind, "__set__") or hasattr(kind, "__delete__")
            return False

        use_dict = any(map(data_descriptor, (*names, SESSION_ATTR)))
        convs = tuple(self.from_db[fields[i].name] for i in order)
        try:
            return _hydrate.Hydrator(
                cls, names, convs, SESSION_ATTR, self._row_failed, use_dict, tuple(order), key
            )
        except TypeError:  # (object.__new__ cannot make it: the generated code says so)
            return None

    def _row_failed(self, exc: BaseException, row: Sequence[Any]) -> NoReturn:
        """Raise the error of a row the C ``Hydrator`` could not convert (``exc``): the one
        ``_guarded`` gives for the generated code."""
        if isinstance(exc, OrmError) or not isinstance(exc, Exception):
            raise exc
        err = self._unreadable(exc, {"row": row})
        if err is None:
            raise exc
        raise err from exc

    def _guarded(self, ns: dict[str, Any], body: list[str]) -> list[str]:
        """``body`` (lines of a generated loading function) inside a ``try`` that turns an
        error converting a row into one ``ValidationError`` naming entity, row and field
        (free in the common case: a ``try`` costs nothing until something raises)."""
        ns["OrmError"] = OrmError
        ns["unreadable"] = self._unreadable
        return [
            "    try:",
            *("        " + line for line in body),
            "    except OrmError:",
            "        raise",
            "    except Exception as exc:",
            "        err = unreadable(exc, locals())",
            "        if err is None:",
            "            raise",
            "        raise err from exc",
        ]

    def _unreadable(self, exc: Exception, scope: dict[str, Any]) -> ValidationError | None:
        """The error for a row that could not become an object (``scope``: the loading
        function's locals, holding the row as ``row`` or unpacked as ``c0, c1, ...``); None
        when no value of the row is at fault (``exc`` then goes on as it is)."""
        name = self.info.cls.__name__
        row = scope.get("row")
        fields = self.info.fields
        values = [
            row[i] if row is not None and i < len(row) else scope.get(f"c{i}", MISSING)
            for i in range(len(fields))
        ]
        if any(v is MISSING for v in values):
            return None  # the rows themselves did not fit
        keys = [values[p] for p in self.pk_positions]
        where = ", ".join(
            f"{f.name}={v!r}" for f, v in zip(self.info.primary_key, keys, strict=True)
        )
        for f, value in zip(fields, values, strict=True):
            try:
                self.value_from_db(f, value)
            except Exception as bad:
                return ValidationError(
                    f"cannot load {name} ({where}): its stored {f.name} {value!r} does not "
                    f"fit the field ({bad}); correct the row or the model"
                )
        return None

    def _compile_merge(
        self, bare: bool
    ) -> Callable[
        [Iterable[Sequence[Any]], Any, dict[Any, Any], Resolver, Deferrer | None], list[Any]
    ]:
        """``fn(chunks, token, mapping, resolve, defer) -> objects``: identity-mapped
        loading.

        ``chunks`` are the query's rows, a sequence of rows at a time (``Connection.stream``).
        One loop per query instead of two calls per row: a row whose key is in ``mapping``
        gives the object already there (left as it is); any other row becomes a new object,
        attached to the session whose token is given and entered in ``mapping``. When
        ``mapping`` is empty, ``defer`` is given and the keys come strictly ascending (so
        distinct), nothing enters ``mapping``: ``defer(keys, objects)`` hands them to the
        identity map, which maps them on first use (``core.identity``). With ``bare``,
        references hold their bare keys and ``resolve`` is not called (``_field_lines``), and
        the rows' loops run in C where the accelerator is built (``_merge_hydrator``: the
        same objects and keys, each chunk's checks and mapping still here). Without it
        (references resolved: an eager load's), a fresh load's rows run in C too
        (``Hydrator.chunk_refs``), rows over a filled map in the generated loop.
        """
        info = self.info
        ns: dict[str, Any] = {"lt": operator.lt, "islice": itertools.islice}
        caches: list[str] = []
        unpack, key_expr, build = self._merge_parts(ns, caches, bare)
        hydrator = self._merge_c
        # Whether a chunk's keys go on ascending: one C call a chunk where the accelerator is
        # built, else a call of ``lt`` a key (S2r, 10,000 rows: 3.1M instructions -> 0.7M).
        check = [
            "        if ascending and (allkeys and not allkeys[-1] < keys[0]",
            "                or not all(map(lt, keys, islice(keys, 1, None)))):",
        ]
        if hydrator is not None:
            assert self.speedups is not None
            ns["ascends"] = self.speedups.ascending
            check = ["        if ascending and not ascends(allkeys, keys):"]
        if hydrator is not None and bare:  # the rows' loops in C (the objects of ``build``)
            ns.update(fresh=hydrator.fresh, merge_rows=hydrator.merge)
            fresh = ["        objs, keys = fresh(rows, token)"]
            mapped = ["    merge_rows(rows, token, mapping, out)"]
        else:
            fresh = [
                "        objs = []",
                "        append = objs.append",
                "        keys = []",
                "        kappend = keys.append",
                f"        for {unpack} in rows:",
                f"            key = {key_expr}",
                *("            " + line for line in build),
                "            kappend(key)",
                "            append(o)",
            ]
            mapped = [
                f"    for {unpack} in rows:",
                f"        key = {key_expr}",
                "        o = get(key)",
                "        if o is None:",
                *("            " + line for line in build),
                "            mapping[key] = o",
                "        append(o)",
            ]
            if hydrator is not None:
                # References resolved: new rows in C (``Hydrator.chunk_refs``; the answers
                # cached for the load are shared with the loop over mapped rows, above).
                ns["chunk_refs"] = hydrator.chunk_refs
                caches.append(f"refs = {self._ref_resolvers(ns)}")
                fresh = ["        keys = []", "        objs = chunk_refs(rows, token, keys, refs)"]
        # Keys whose order Python knows for every value: ascending proves them distinct.
        ordered = len(self.pk_positions) == 1 and info.primary_key[0].kind in ("int", "str")
        map_chunk = [
            # A chunk's keys enter the map in one C-level update while they are still in the
            # cache (one pass over 100,000 keys at the end missed it for every key).
            "mapping.update(zip(keys, objs))",
            "if len(mapping) != len(out):",
            # A key seen twice: its first object stands for every row with that key, and
            # the rest of the rows are looked up one by one.
            "    mapping.clear()",
            "    for i, key in enumerate(allkeys):",
            "        out[i] = mapping.setdefault(key, out[i])",
            "    break",
        ]
        body = [
            *caches,
            # (one pass: the second loop goes on where the first stopped, also over a list)
            "chunks = iter(chunks)",
            "out = []",
            # Nothing of this entity loaded yet (a fresh session): no lookups row by row.
            "if not mapping:",
            "    allkeys = []",
            f"    ascending = {'defer is not None' if ordered else 'False'}",
            "    for rows in chunks:",
            "        if not rows:",
            "            continue",
            *fresh,
            *check,
            "            ascending = False",
            "            mapping.update(zip(allkeys, out))  # distinct: they were ascending",
            "        out += objs",
            "        allkeys += keys",
            "        if not ascending:",
            *("            " + line for line in map_chunk),
            "    else:",
            "        if ascending and out:",
            "            defer(allkeys, out)",
            "        return out",
            "append = out.append",
            "get = mapping.get",
            "for rows in chunks:",
            *mapped,
            "return out",
        ]
        lines = [
            "def merge(chunks, token, mapping, resolve, defer):",
            *self._guarded(ns, body),
        ]
        exec("\n".join(lines), ns)
        fn: Callable[
            [Iterable[Sequence[Any]], Any, dict[Any, Any], Resolver, Deferrer | None],
            list[Any],
        ] = ns["merge"]
        return fn

    def _merge_parts(
        self, ns: dict[str, Any], caches: list[str] | None = None, bare: bool = False
    ) -> tuple[str, str, list[str]]:
        """For the merging functions: how a row is unpacked (``c0, c1, ...``), the expression
        of its identity key, and the lines building its object ``o`` (attached to ``token``);
        the names they use are put into ``ns``. ``caches`` and ``bare``: as for
        ``_field_lines`` (a loop over many rows; references as bare keys)."""
        info = self.info
        ns.update(new=object.__new__, cls=info.cls)
        key_parts = []
        for j, pos in enumerate(self.pk_positions):
            conv = self.from_db[info.fields[pos].name]
            if conv is None:
                key_parts.append(f"c{pos}")
            else:
                ns[f"k{j}"] = conv
                key_parts.append(f"k{j}(c{pos})")
        # Rows have exactly the entity's columns, in field order (Query selects them so).
        unpack = ", ".join(f"c{i}" for i in range(len(info.fields))) + ","
        single = len(key_parts) == 1
        key_expr = key_parts[0] if single else f"({', '.join(key_parts)},)"
        skip = self.pk_positions[0] if single else -1
        build = ["o = new(cls)", "d = o.__dict__"]
        if single:
            build.append(f"d[{info.fields[skip].name!r}] = key")
        build += self._field_lines(ns, skip, indent="", unpacked=True, caches=caches, bare=bare)
        build.append(f"d[{SESSION_ATTR!r}] = token")
        return unpack, key_expr, build

    def _compile_merge_one(self) -> Callable[[Sequence[Any], Any, dict[Any, Any], Resolver], Any]:
        """``fn(row, token, mapping, resolve) -> obj``: ``merge`` of a single row (a lookup by
        key, ``Session.get``): the object mapped under the row's key, else a new one, mapped."""
        ns: dict[str, Any] = {}
        unpack, key_expr, build = self._merge_parts(ns, bare=False)
        body = [
            f"{unpack} = row",
            f"key = {key_expr}",
            "o = mapping.get(key)",
            "if o is None:",
            *("    " + line for line in build),
            "    mapping[key] = o",
            "return o",
        ]
        lines = ["def merge_one(row, token, mapping, resolve):", *self._guarded(ns, body)]
        exec("\n".join(lines), ns)
        fn: Callable[[Sequence[Any], Any, dict[Any, Any], Resolver], Any] = ns["merge_one"]
        return fn

    def _diff_lines(self, ns: dict[str, Any], indent: str, masks: bool = False) -> list[str]:
        """Source lines comparing ``d`` (the object's ``__dict__``) against ``ov`` (old values).

        Each changed field adds ``{field: (old, new)}`` to ``out``, or with ``masks`` sets its
        bit ``1 << position`` in ``m`` (what a commit needs: which columns, not the values).
        """
        ns["MISSING"] = MISSING
        lines = []
        for i, f in enumerate(self.info.fields):
            name = f.name
            mark = f"m |= {1 << i}" if masks else f"out[{name!r}] = (o, n)"
            static = f.has_default and f.default_factory is None
            ns[f"D{i}"] = f.default if static else MISSING
            lines.append(f"if {name!r} in ov:")
            lines.append(f"    o = ov[{name!r}]")
            lines.append(f"    if o is MISSING: o = D{i}")
            lines.append(f"    n = d.get({name!r}, D{i})")
            if f.kind == "reference":
                ns[f"F{i}"] = f
                ns["same"] = same_reference
                target = f.target
                assert target is not None
                if target.single_pk_name is not None and target.primary_key[0].autoincrement:
                    # Inline for the common case (both loaded objects of the target's class,
                    # holding their generated keys); anything else asks ``same_reference``.
                    ns[f"TC{i}"] = target.cls
                    pk = target.single_pk_name
                    # (Changed unless both hold one key, not 0: ``same_reference``.)
                    lines.append("    if o is not n:")
                    lines.append(f"        if o.__class__ is TC{i} and n.__class__ is TC{i}:")
                    lines.append(f"            ok = o.__dict__.get({pk!r})")
                    lines.append(f"            if not ok or ok != n.__dict__.get({pk!r}): {mark}")
                    lines.append(f"        elif not same(F{i}, o, n): {mark}")
                    continue
                lines.append(f"    if not same(F{i}, o, n): {mark}")
            elif f.kind == "json":  # the old value is a copy (``core.entity._JsonAttribute``)
                ns["canon"] = json_dumps_canonical
                lines.append(f"    if o is not n and canon(o) != canon(n): {mark}")
            else:
                lines.append(
                    f"    if o is not n and (o.__class__ is not n.__class__ or o != n): {mark}"
                )
        return [indent + line for line in lines]

    def _compile_diff(self) -> Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]:
        """``fn(obj.__dict__, old_values) -> {field: (old, new)}`` in declaration order.

        ``old_values`` holds what the session's ``__setattr__`` hook recorded before the first
        assignment to each field (``MISSING``: the field was not in ``__dict__``), or before
        the first read of a JSON field's list or dict; JSON compares as canonical text,
        references by key or identity.
        """
        ns: dict[str, Any] = {}
        lines = [
            "def diff(d, ov):",
            "    out = {}",
            *self._diff_lines(ns, "    "),
            "    return out",
        ]
        exec("\n".join(lines), ns)
        fn: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]] = ns["diff"]
        return fn

    def columns_of(self, mask: int) -> tuple[str, ...]:
        """The field names whose bits are set in ``mask`` (see ``_diff_lines``), in order
        (kept per mask: a commit asks again for the same changed-column sets)."""
        names = self._columns_cache.get(mask)
        if names is None:
            names = tuple(f.name for f in self.info.fields if mask >> f.position & 1)
            if len(self._columns_cache) < 1024:
                self._columns_cache[mask] = names
        return names

    def _compile_collect_moves(self) -> MovesCollector | None:
        """``fn(items, touched, removed, same) -> ([(reference name, group), ...], others)``:
        the commit's pass over objects whose only change is a reference moved to another
        loaded owner (a relation move: ``owner.items.append(child)``, ``core.collection``).

        ``items`` are ``(id(obj), old_values)`` pairs from the session's ``_changed``, of any
        entity, each object once. Objects of this class whose old-values record names exactly
        one qualifying reference, old and new value both loaded objects of its target holding
        their keys, not staged for removal, are taken: changed ones into the reference's
        group, with their UPDATE's parameter rows made here (``(new owner's key, key)``: what
        ``rows`` makes for them), unchanged ones (moved back) into ``same``. Anything else is
        left to ``collect_masks`` (the generic diff); ``others``: whether such a record of
        another class was met. A reference qualifies when it is no key field and its target
        has one generated int key sent as it is (``rows``' own inline case); the entity needs
        a one-field key. None: none qualifies. The loop runs in C (``core._moves``) where that
        is in use and the key is an int sent as it is (``_collect_moves_c``).
        """
        info = self.info
        pk = info.single_pk_name
        if pk is None:
            return None
        refs = []
        for f in info.references:
            target = f.target
            assert target is not None
            tpk = target.primary_key[0]
            if (
                not f.primary_key
                and len(target.primary_key) == 1
                and tpk.kind == "int"
                and tpk.autoincrement
                and self.dialect.to_db_kind(tpk) is None
                and self.dialect.to_db_inline(tpk) is None
            ):
                refs.append(f)
        if not refs:
            return None
        fast = self._collect_moves_c(refs)
        if fast is not None:
            return fast
        ns: dict[str, Any] = {"cls": info.cls, "Group": UpdateGroup}
        convert = self._convert_line(ns, info.field(pk), 1, "c1")  # (the key, as ``rows``)
        ns["c1"] = self.to_db[pk]
        lines = ["def collect_moves(items, touched, removed, same):", "    others = False"]
        for i in range(len(refs)):
            lines += [
                f"    g{i} = Group()",
                f"    rows{i} = g{i}.rows = []",
                f"    objs{i}, pks{i}, row{i} = g{i}.objs.append, g{i}.pks.append, rows{i}.append",
            ]
        one = len(refs) == 1
        # (``type(x) is``, subscripts and a ``KeyError`` caught: the cheapest steps; whatever
        # does not fit is left to the generic diff, before anything is taken.)
        lines += [
            "    for oid, ov in items:",
            f"        if len(ov) != 1{f' or {refs[0].name!r} not in ov' if one else ''}: continue",
            "        obj = touched[oid]",
            "        if type(obj) is not cls:",
            "            others = True",
            "            continue",
            "        if removed and oid in removed: continue",
            "        try:",
            "            d = obj.__dict__",
            f"            v1 = key = d[{pk!r}]",
        ]
        for i, f in enumerate(refs):
            target = f.target
            assert target is not None
            key_name = target.single_pk_name
            ns[f"TC{i}"] = target.cls
            pad = "            " if one else "                "
            if not one:
                lines.append(f"            {'if' if i == 0 else 'elif'} {f.name!r} in ov:")
            lines += [
                f"{pad}o = ov[{f.name!r}]",
                f"{pad}n = d[{f.name!r}]",
                f"{pad}if type(o) is not TC{i} or type(n) is not TC{i}: continue",
                f"{pad}k = n.__dict__[{key_name!r}]",
                f"{pad}if type(k) is not int or not k: continue",
                f"{pad}if o.__dict__[{key_name!r}] == k:  # (moved back: the same row)",
                f"{pad}    same.append(obj)",
                f"{pad}    continue",
                pad + convert,
                f"{pad}objs{i}(obj)",
                f"{pad}pks{i}(key)",
                f"{pad}row{i}((k, v1))",
            ]
        lines += ["        except KeyError:", "            continue"]
        names = ", ".join(f"({f.name!r}, g{i})" for i, f in enumerate(refs))
        lines.append(f"    return [(n, g) for n, g in ({names},) if g.objs], others")
        exec("\n".join(lines), ns)
        fn: MovesCollector = ns["collect_moves"]
        return fn

    def _collect_moves_c(self, refs: list[FieldInfo]) -> MovesCollector | None:
        """``collect_moves`` through the C loop of ``core._moves`` (``core.collection.MOVES``),
        which does what the generated code does, or None: the accelerator is not in use, or
        the key is converted otherwise than "sent as it is when exactly an ``int`` (of 64 bits,
        where the dialect checks that), else through the checking converter"."""
        moves = _collection.MOVES
        info = self.info
        pk = info.single_pk_name
        if moves is None or pk is None:
            return None
        f = info.field(pk)
        dialect = self.dialect
        check = dialect.fast_check(f)
        if (
            f.kind != "int"
            or _exact_type(f) is not int
            or f.max_length is not None
            or dialect.to_db_inline(f) is not None
            or dialect.to_db_kind(f) is not None
            or check not in (None, INT64_CHECK)
        ):
            return None
        loop = moves.collect_moves
        args = (
            info.cls,
            sys.intern(pk),
            tuple(sys.intern(r.name) for r in refs),
            tuple(r.target.cls for r in refs if r.target is not None),
            tuple(sys.intern(r.target.single_pk_name or "") for r in refs if r.target is not None),
            self.to_db[pk],
            check is not None,
        )
        names = args[2]

        def collect_moves(
            items: Iterable[tuple[int, dict[str, Any]]],
            touched: dict[int, Any],
            removed: dict[int, Any],
            same: list[Any],
        ) -> tuple[list[tuple[str, UpdateGroup]], bool]:
            made, others = loop(items, touched, removed, same, *args)
            out = []
            for name, (objs, pks, rows) in zip(names, made, strict=True):
                if objs:
                    group = UpdateGroup()
                    group.objs, group.pks, group.rows = objs, pks, rows
                    out.append((name, group))
            return out, others

        return collect_moves

    def _compile_collect(self, masks: bool) -> Collector:
        """``fn(items, touched, removed, groups, others, key_before)``: one pass over changes.

        ``items`` are ``(id(obj), old_values)`` pairs from the session's ``_changed``. Objects
        of this entity that are not staged for removal and whose values really changed are
        appended to ``groups[changed column names]`` (objects, keys, diffs); with ``masks``,
        to ``groups[bit mask of the changed columns]`` (objects and keys only: what a commit
        needs). Pairs of other entities go to ``others``. ``key_before(info, obj, old_values)``
        gives the key of an object whose key field was assigned (it refuses a changed key).
        """
        info = self.info
        ns: dict[str, Any] = {"info": info, "Group": UpdateGroup}
        pk = info.single_pk_name
        lines = [
            "def collect(items, touched, removed, groups, others, key_before):",
            "    for oid, ov in items:",
            "        if oid in removed: continue",
            "        obj = touched[oid]",
            "        if obj.__class__.__orm_entity__ is not info:",
            "            others.append((oid, ov))",
            "            continue",
            "        d = obj.__dict__",
            "        m = 0" if masks else "        out = {}",
            *self._diff_lines(ns, "        ", masks),
            "        if m:" if masks else "        if out:",
        ]
        if pk is not None:
            lines.append(f"            if {pk!r} in ov or {pk!r} not in d:")
            lines.append("                pk = key_before(info, obj, ov)")
            lines.append(f"            else: pk = d[{pk!r}]")
        else:
            lines.append("            pk = key_before(info, obj, ov)")
        if masks:  # (the group of the object before is usually this one's: kept at hand)
            lines[1:1] = ["    last = 0"]
            lines += [
                "            if m != last:",
                "                g = groups.get(m)",
                "                if g is None: g = groups[m] = Group()",
                "                last, objs_append, pks_append = m, g.objs.append, g.pks.append",
                "            objs_append(obj)",
                "            pks_append(pk)",
            ]
        else:
            lines += [
                "            key = tuple(out)",
                "            g = groups.get(key)",
                "            if g is None: g = groups[key] = Group()",
                "            g.objs.append(obj)",
                "            g.pks.append(pk)",
                "            g.diffs.append(out)",
            ]
        exec("\n".join(lines), ns)
        fn: Collector = ns["collect"]
        return fn
