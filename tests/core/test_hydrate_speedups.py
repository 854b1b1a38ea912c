"""The C accelerator of untracked streams (``core._hydrate``) gives the objects the pure path gives.

Every comparison streams the same rows twice on the backend under test: once through the
accelerator, once through the generated Python loop (``core.codec._hydrate`` set to None before
the database is made, as ``ORMCLI_NO_SPEEDUPS=1`` does at import), and checks class, ``__dict__``
(keys, order, values and their types) object by object. The tests of the C primitive itself
(reference counts, early ends) skip where the accelerator was not built; those of the
inline-values store (``Hydrator.indexed``) where it is not compiled (any CPython but 3.11).
"""

from __future__ import annotations

import datetime as dt
import gc
import os
import subprocess
import sys
import tracemalloc
import uuid
import weakref
from collections.abc import Iterator
from decimal import Decimal
from typing import Annotated, Any

import pytest

import core.codec
from core import Database, F, PrimaryKey, ValidationError, entity
from core.entity import SESSION_ATTR, Unloaded, unloaded_key
from tests.core.hydrate_built import _hydrate, built
from tests.core.models import ALL, Article, Author, Everything, Membership, Role


@entity.name("one_field")
class OneField:
    id: Annotated[int, PrimaryKey]


class Base:
    """A plain base class with a ``__setattr__`` of its own (loading must not call it)."""

    kind = "base"

    def __setattr__(self, name: str, value: Any) -> None:
        raise AssertionError(f"__setattr__ called for {name}")

    def describe(self) -> str:
        return f"{self.kind} {self.__dict__.get('label')}"


@entity.name("derived")
class Derived(Base):
    id: Annotated[int, PrimaryKey]
    label: str = ""
    score: float | None = None


WIDE = 40  # more fields than CPython shares keys for (30): the instance dict path


def _wide_class() -> type:
    namespace: dict[str, Any] = {"__annotations__": {"id": Annotated[int, PrimaryKey]}}
    for i in range(WIDE):
        namespace["__annotations__"][f"f{i:02}"] = int | None
        namespace[f"f{i:02}"] = None
    return entity.name("wide")(type("Wide", (), namespace))


Wide = _wide_class()
MODELS = [*ALL, OneField, Derived, Wide]


def _fill(db: Database) -> None:
    tz = dt.timezone(dt.timedelta(hours=-3))
    s = db.create_session()
    authors = [
        Author(email=f"a{i}@x", name=f"name {i}", age=None if i % 3 else i, role=list(Role)[i % 3])
        for i in range(1, 2_501)
    ]
    s.add(*authors)
    s.add(
        Everything(
            id=1,
            i=-(2**63),
            f=1.5,
            b=True,
            s="ünïcode",
            raw=b"\x00\xff",
            d=Decimal("12.5"),
            when=dt.datetime(2024, 2, 29, 23, 59, 58, 123456),
            when_tz=dt.datetime(2024, 2, 29, 1, 2, 3, tzinfo=tz),
            day=dt.date(1999, 12, 31),
            at=dt.time(13, 14, 15),
            uid=uuid.UUID("12345678-1234-5678-1234-567812345678"),
            role=Role.admin,
            data={"nested": [1, 2.5, None, "x"], "ok": True},
        ),
        Everything(id=2),
        Everything(id=3, b=False, s="", data={}),
    )
    s.add(Membership(org="acme", member=1, level=3), Membership(org="acme", member=2))
    s.add(*(OneField(id=i) for i in range(1, 11)))
    s.add(Derived(id=1, label="one", score=0.5), Derived(id=2))
    s.add(Wide(id=1, **{f"f{i:02}": i for i in range(WIDE)}), Wide(id=2))
    s.commit()
    s.add(*(Article(title=f"t{i}", author=authors[i % 7]) for i in range(30)))
    s.commit()


@pytest.fixture
def dbs(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Database, Database]]:
    """The same database twice: with the accelerator (where built) and on the pure path."""
    fast = Database(db_url, MODELS)
    fast.migrate()
    _fill(fast)
    monkeypatch.setattr(core.codec, "_hydrate", None)
    pure = Database(db_url, MODELS)
    for model in MODELS:  # (codecs are made on first use: made now, without the accelerator)
        pure.codec(model.__orm_entity__)  # type: ignore[attr-defined]
    monkeypatch.undo()
    yield fast, pure
    fast.close()
    pure.close()


def _snapshot(obj: Any) -> list[tuple[str, type, Any]]:
    """An object's ``__dict__``: keys in order, each value's class and the value (a
    reference's ``Unloaded`` placeholder by its key: each database's has its own loader)."""
    return [
        (k, type(v), unloaded_key(v) if type(v) is Unloaded else v) for k, v in vars(obj).items()
    ]


#: Every model of this file: each field kind, a composite key, one field, a subclass, wide.
EVERY_MODEL = pytest.mark.parametrize(
    "model",
    [Author, Everything, Membership, OneField, Derived, Wide, Article],
    ids=lambda m: m.__name__,
)


@EVERY_MODEL
def test_the_accelerator_and_the_pure_path_give_identical_objects(
    dbs: tuple[Database, Database], model: type
) -> None:
    """Every field kind (int, str, float, bool, bytes, None, decimal, datetime naive and
    aware, date, time, uuid, enum, JSON), a composite key, one field, a subclass whose base
    has a ``__setattr__`` (never called), 40 fields, and references (Article: the pure path
    on both sides, as today): same class, same ``__dict__`` in the same order, values of
    the same classes, the untracked session token last."""
    fast, pure = dbs
    keys = [f.name for f in model.__orm_entity__.primary_key]  # type: ignore[attr-defined]
    a = list(fast.query(model).order_by(*keys).stream(7, track=False))
    b = list(pure.query(model).order_by(*keys).stream(7, track=False))
    assert a and len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert type(x) is type(y) is model
        assert _snapshot(x) == _snapshot(y)
        assert list(vars(x))[-1] == SESSION_ATTR and vars(x)[SESSION_ATTR] == 0
    if model is Derived:
        assert a[0].describe() == "base one" and a[1].score is None
    if model is Everything:
        assert a[0].data == {"nested": [1, 2.5, None, "x"], "ok": True}
        tz = dt.timezone(dt.timedelta(hours=-3))
        assert a[0].when_tz == dt.datetime(2024, 2, 29, 1, 2, 3, tzinfo=tz)


def test_streamed_objects_behave_as_the_pure_paths_do(dbs: tuple[Database, Database]) -> None:
    """What one does with a plain object works the same: read, assign (the model's hook),
    compare, find the same row again; an untracked stream commits nothing."""
    fast, _pure = dbs
    s = fast.create_session()
    author = next(iter(s.query(Author).order_by("id").stream(10, track=False)))
    author.name = "changed"
    author.extra = "not a field"
    assert vars(author)["name"] == "changed" and author.extra == "not a field"
    assert s.commit().updates == 0
    assert fast.query(Author).filter(F.id == author.id).find_one().name == "name 1"
    article = next(iter(fast.query(Article).order_by("id").stream(10, track=False)))
    assert article.author.email == "a1@x"


def test_the_stream_takes_the_accelerator_where_it_is_built(
    dbs: tuple[Database, Database],
) -> None:
    """Entities without references stream through ``core._hydrate`` (when built and not
    switched off); an entity with references keeps the generated generator; the pure
    database's streams are generators."""
    fast, pure = dbs
    stream = fast.query(Author).stream(10, track=False)
    expected = "Stream" if core.codec.SPEEDUPS else "generator"
    assert type(stream).__name__ == expected
    stream.close()
    for it in (fast.query(Article).stream(10, track=False), pure.query(Author).stream(10)):
        assert type(it).__name__ == "generator"
        it.close()  # type: ignore[attr-defined]


def test_ormcli_no_speedups_forces_the_pure_path() -> None:
    """``ORMCLI_NO_SPEEDUPS=1`` at import: no accelerator, whether built or not; ``0`` or
    empty leaves it on where built."""
    code = "import core.codec as c; print(c.SPEEDUPS, c._hydrate is None)"
    env = {k: v for k, v in os.environ.items() if k != "ORMCLI_NO_SPEEDUPS"}

    def run(value: str | None) -> str:
        extra = {} if value is None else {"ORMCLI_NO_SPEEDUPS": value}
        done = subprocess.run(
            [sys.executable, "-c", code], env={**env, **extra}, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    assert run("1") == "False True"
    on = "True False" if _hydrate is not None else "False True"
    assert run(None) == on and run("0") == on and run("") == on


def _spoil_role(db: Database) -> int:
    """Store an enum value the model lacks (``role = 'nope'``) in one row: its key."""
    bad: int = db.query(Author).filter(F.email == "a1500@x").find_one().id
    q, p = db.dialect.quote, db.dialect.placeholder
    conn = db.connection()
    conn.begin()
    conn.execute(f"UPDATE {q('author')} SET {q('role')} = {p} WHERE {q('id')} = {p}", ("nope", bad))
    conn.commit()
    return bad


@pytest.mark.parametrize("fast_path", [True, False], ids=["accelerated", "pure"])
def test_a_row_that_cannot_convert_names_entity_row_and_field(
    dbs: tuple[Database, Database], fast_path: bool
) -> None:
    """A stored enum value the model lacks: the same ValidationError on both paths (entity,
    key, field, value), caused by the converter's own error; the rows before it came."""
    fast, pure = dbs
    db = fast if fast_path else pure
    bad = _spoil_role(db)
    seen = []
    with pytest.raises(ValidationError) as exc:
        for author in db.query(Author).order_by("id").stream(batch=100, track=False):
            seen.append(author.id)
    assert str(exc.value) == (
        f"cannot load Author (id={bad}): its stored role 'nope' does not fit the field "
        f"({exc.value.__cause__}); correct the row or the model"
    )
    assert isinstance(exc.value.__cause__, ValueError)
    assert len(seen) == 1_499 and db.pool.in_use == 0


@pytest.mark.parametrize("how", ["break", "close", "drop"])
def test_a_stream_ended_early_ends_its_query(dbs: tuple[Database, Database], how: str) -> None:
    """Breaking out, ``close()``, or dropping the iterator after a few objects: the query
    ends and its connection goes back (the next statements run, the pool holds none)."""
    fast, _pure = dbs
    stream = fast.query(Author).order_by("id").stream(batch=100, track=False)
    for i, _author in enumerate(stream):
        if i == 150:
            break
    if how == "close":
        stream.close()
        stream.close()  # (twice is fine)
        assert list(stream) == []
    elif how == "drop":
        del stream
    if how != "break":
        assert fast.pool.in_use == 0
    assert fast.query(Author).count() == 2_500
    s = fast.create_session()
    s.add(Author(email="after@x", name="after"))
    s.commit()
    assert fast.query(Author).filter(F.email == "after@x").count() == 1


@built
def test_streamed_objects_die_with_their_last_reference(dbs: tuple[Database, Database]) -> None:
    """With the cyclic collector off, every object dropped by the loop is freed at once (no
    reference left in C), and the class and its field names keep their counts: no reference
    gained or lost per object (2,500 of them). The names are common strings that other live
    objects of the test run hold and drop too, so a difference of one or two is not ours."""
    fast, _pure = dbs
    list(fast.query(Author).stream(100, track=False))  # (compiled, connected)
    gc.collect()  # (garbage of earlier tests holding the names goes first)
    before = sys.getrefcount(Author), [sys.getrefcount(n) for n in ("email", "name", "age")]
    refs = []
    gc.disable()
    try:
        for author in fast.query(Author).stream(100, track=False):
            refs.append(weakref.ref(author))
        del author
        assert all(r() is None for r in refs) and len(refs) == 2_500
    finally:
        gc.enable()
    after = sys.getrefcount(Author), [sys.getrefcount(n) for n in ("email", "name", "age")]
    assert after[0] == before[0]
    drift = [a - b for a, b in zip(after[1], before[1], strict=True)]
    assert all(abs(d) <= 2 for d in drift), drift


@built
def test_the_c_stream_leaks_nothing_over_many_rows() -> None:
    """200,000 rows through ``Hydrator.stream`` (four fields, one converter), chunk by chunk:
    traced memory does not grow with the rows, and the class, names, converter, token and
    row values have the reference counts they had."""

    class Plain:
        pass

    token = object()
    names = ("a", "b", "c", "d")

    def conv(v: int) -> int:
        return v + 1

    def failed(exc: BaseException, row: Any) -> Any:
        raise exc

    h = _hydrate.Hydrator(Plain, names, (None, conv, None, None), SESSION_ATTR, failed)
    value = "shared value"
    chunk = [(i, i, value, None) for i in range(1_000)]

    def counts() -> list[int]:
        return [sys.getrefcount(x) for x in (Plain, *names, conv, token, value, chunk)]

    for _ in h.stream([chunk] * 5, token):  # (warm)
        pass
    before = counts()
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        n = 0
        for obj in h.stream(iter([chunk] * 200), token):
            n += obj.b - obj.a
        del obj
        grown = tracemalloc.get_traced_memory()[0] - start
    finally:
        tracemalloc.stop()
    assert n == 200_000 and grown < 64 * 1024, grown
    assert counts() == before
    one = h.one((1, 2, value, None), token)
    assert vars(one) == {"a": 1, "b": 3, "c": value, "d": None, SESSION_ATTR: token}


@built
def test_the_c_stream_closes_its_chunks_once_on_every_end() -> None:
    """Exhausted, closed, dropped, or stopped by an error: ``chunks.close()`` is called once;
    a row of the wrong length is refused as unpacking it would be; a class ``object.__new__``
    cannot make, and a Hydrator never initialised, are refused."""

    class Plain:
        pass

    closed: list[str] = []

    def chunks(tag: str, rows: list[Any]) -> Iterator[list[Any]]:
        try:
            yield rows
            yield rows
        finally:
            closed.append(tag)

    def failed(exc: BaseException, row: Any) -> Any:
        raise exc

    h = _hydrate.Hydrator(Plain, ("a",), (None,), SESSION_ATTR, failed)
    assert [o.a for o in h.stream(chunks("end", [(1,), (2,)]), 0)] == [1, 2, 1, 2]
    s = h.stream(chunks("close", [(1,)]), 0)
    next(s)
    s.close()
    s = h.stream(chunks("drop", [(1,)]), 0)
    next(s)
    del s
    with pytest.raises(ValueError, match=r"too many values to unpack \(expected 1\)"):
        list(h.stream(chunks("error", [(1, 2)]), 0))
    assert closed == ["end", "close", "drop", "error"]
    with pytest.raises(TypeError, match=r"object\.__new__ cannot make this class"):
        _hydrate.Hydrator(int, ("a",), (None,), SESSION_ATTR, failed)
    with pytest.raises(TypeError, match=r"__init__ was not called"):
        _hydrate.Hydrator.__new__(_hydrate.Hydrator).stream([], 0)


def _loaded(s: Any, obj: Any) -> list[tuple[str, type, Any]]:
    """``_snapshot`` of a session's object, its session token checked and left out."""
    snap = _snapshot(obj)
    assert snap[-1] == (SESSION_ATTR, int, s._token)
    return snap[:-1]


@EVERY_MODEL
def test_a_sessions_load_gives_identical_objects_on_both_paths(
    dbs: tuple[Database, Database], model: type
) -> None:
    """A fresh session's load (every row new), then a load over rows half of which the
    session holds (those come back as they are, unsaved changes kept; the rest are new):
    the same objects on the accelerated and the pure path, references as bare keys."""
    fast, pure = dbs
    keys = [f.name for f in model.__orm_entity__.primary_key]  # type: ignore[attr-defined]
    first = keys[0]
    sides = []
    for db in (fast, pure):
        s = db.create_session()
        everything = s.query(model).order_by(*keys).find()
        s2 = db.create_session()
        some = s2.query(model).order_by(*keys).limit(max(1, len(everything) // 2)).find()
        if model is Author:
            some[0].name = "unsaved"
        again = s2.query(model).order_by(*keys).find()
        assert all(a is b for a, b in zip(some, again[: len(some)], strict=True))
        sides.append(
            ([_loaded(s, o) for o in everything], [_loaded(s2, o) for o in again], len(some))
        )
        assert all(getattr(o, first) is not None for o in everything)
    assert sides[0] == sides[1]
    if model is Author:
        assert sides[0][1][0][2] == ("name", str, "unsaved")


def test_raw_rows_repeating_a_key_give_one_object_per_key_on_both_paths(
    dbs: tuple[Database, Database],
) -> None:
    """Raw SQL returning every row twice (a composite key, each seen twice): one object per
    key, the same at both of its places, one per row, on both paths (the load read its one
    chunk again after mapping the repeats: 8 objects for 4 rows)."""
    fast, pure = dbs
    shapes = []
    for db in (fast, pure):
        s = db.create_session()
        q = db.dialect.quote
        sql = f"SELECT * FROM {q('membership')} UNION ALL SELECT * FROM {q('membership')}"
        objs = s.raw(Membership, sql)
        assert len(objs) == 4 and len({id(o) for o in objs}) == 2
        shapes.append(sorted(_loaded(s, o) for o in objs))
    assert shapes[0] == shapes[1]


@pytest.mark.parametrize("fast_path", [True, False], ids=["accelerated", "pure"])
def test_a_sessions_load_names_the_row_it_cannot_read(
    dbs: tuple[Database, Database], fast_path: bool
) -> None:
    """A stored enum value the model lacks, loaded through a session (fresh, then over
    mapped rows): the same ValidationError naming entity, key, field and value."""
    fast, pure = dbs
    db = fast if fast_path else pure
    bad = _spoil_role(db)
    s = db.create_session()
    s.query(Author).filter(F.id < 100).find()
    for _ in range(2):  # (fresh session, then with rows mapped)
        with pytest.raises(ValidationError) as exc:
            s.query(Author).order_by("id").find()
        assert str(exc.value).startswith(
            f"cannot load Author (id={bad}): its stored role 'nope' does not fit the field ("
        )
        s = db.create_session()


# -- CPython 3.11's inline values (``Hydrator.indexed``) ---------------------------------

inline = pytest.mark.skipif(
    not getattr(_hydrate, "INLINE", False) or not core.codec.SPEEDUPS,
    reason="the inline-values store is compiled for CPython 3.11 only (else the public path),"
    " and ORMCLI_NO_SPEEDUPS leaves it out",
)


def _failed(exc: BaseException, row: Any) -> Any:
    raise exc


def _pure_object(cls: type, names: tuple[str, ...], row: tuple[Any, ...], token: Any) -> Any:
    """The object the public path makes: ``object.__new__`` and ``object.__setattr__``."""
    obj = object.__new__(cls)
    for name, value in zip(names, row, strict=True):
        object.__setattr__(obj, name, value)
    object.__setattr__(obj, SESSION_ATTR, token)
    return obj


class Pickled:
    """A module-level class (pickle finds it by name)."""


@inline
def test_the_inline_path_is_taken_for_plain_entities_and_left_for_the_rest(
    dbs: tuple[Database, Database],
) -> None:
    """Streams and session loads write the inline values once the class's shared keys hold
    the names (after the first object): entities of plain fields, and one with a JSON field
    (a data descriptor: stored as ``__dict__[name] = v`` is, which the inline slot is); one of
    40 fields (more than CPython shares keys for) keeps the public path. Every object still
    equals the pure path's."""
    fast, pure = dbs
    for model, expected in [(Author, True), (Derived, True), (Everything, True), (Wide, False)]:
        stream = fast.query(model).order_by("id").stream(2, track=False)
        a = list(stream)
        assert stream.hydrator.indexed is expected, model  # type: ignore[attr-defined]
        b = list(pure.query(model).order_by("id").stream(2, track=False))
        assert [_snapshot(x) for x in a] == [_snapshot(y) for y in b]


@inline
def test_inline_objects_list_their_fields_in_store_order_as_the_public_path_does() -> None:
    """The class's shared keys were made in another order, with an extra name, by an object
    made before: the hydrated objects' ``vars()`` still list the names in the order they are
    stored (the insertion order bytes), equal to ``object.__setattr__``'s objects, for the
    first object (public path, keys already there) and every later one (inline)."""

    class Plain:
        pass

    names = ("c", "a", "b")
    seed = Plain()
    seed.extra, seed.b, seed.a, seed.c = 0, 1, 2, 3  # (keys: extra, b, a, c, ...)
    h = _hydrate.Hydrator(Plain, names, (None, None, None), SESSION_ATTR, _failed)
    rows = [(i, f"a{i}", None) for i in range(5)]
    objs = [h.one(row, "tok") for row in rows]
    assert h.indexed
    for obj, row in zip(objs, rows, strict=True):
        pure = _pure_object(Plain, names, row, "tok")
        assert list(vars(obj).items()) == list(vars(pure).items())
        assert list(vars(obj)) == ["c", "a", "b", SESSION_ATTR]
    assert list(vars(seed)) == ["extra", "b", "a", "c"]


@inline
def test_inline_objects_take_reads_writes_new_names_deletes_and_their_dict() -> None:
    """After hydration an object is an ordinary one: reads, assignment (kept in place), a
    new attribute (appended), ``del`` (gone, then AttributeError), ``__dict__`` made on
    demand (the same values, further assignments seen through it), ``copy``/``deepcopy`` and
    pickling equal."""
    import copy
    import pickle

    names = ("x", "y", "z")
    h = _hydrate.Hydrator(Pickled, names, (None, None, None), SESSION_ATTR, _failed)
    h.one((0, 0, 0), 0)  # (the first object puts the names into the shared keys)
    obj = h.one((1, "two", [3]), 7)
    assert h.indexed
    assert (obj.x, obj.y, obj.z, getattr(obj, SESSION_ATTR)) == (1, "two", [3], 7)
    obj.y = "changed"
    obj.new = "new"
    del obj.x
    assert not hasattr(obj, "x")
    with pytest.raises(AttributeError):
        del obj.x
    assert list(vars(obj).items()) == [
        ("y", "changed"),
        ("z", [3]),
        (SESSION_ATTR, 7),
        ("new", "new"),
    ]
    d = obj.__dict__
    assert d is vars(obj)
    obj.x = "back"
    d["w"] = "through dict"
    assert obj.w == "through dict" and list(d) == ["y", "z", SESSION_ATTR, "new", "x", "w"]
    for other in (copy.copy(obj), copy.deepcopy(obj), pickle.loads(pickle.dumps(obj))):
        assert type(other) is Pickled and vars(other) == vars(obj)
        assert list(vars(other)) == list(vars(obj))
    fresh = h.one((4, 5, 6), 7)
    assert list(vars(fresh).items()) == [("x", 4), ("y", 5), ("z", 6), (SESSION_ATTR, 7)]
    assert vars(pickle.loads(pickle.dumps(fresh))) == vars(fresh)


@inline
def test_a_data_descriptor_added_to_the_class_is_honoured_then_left_again() -> None:
    """A property given a setter on the class (or its base) after objects were written
    inline: the next objects go through ``object.__setattr__`` (the setter is called, as on
    the pure path: the class's version tag changed); once it is gone, inline again. A class
    hook ``__setattr__`` is never called on either path."""

    class Base:
        def __setattr__(self, name: str, value: Any) -> None:
            raise AssertionError(name)

    class Sub(Base):
        pass

    names = ("a", "b")
    h = _hydrate.Hydrator(Sub, names, (None, None), SESSION_ATTR, _failed)
    h.one((1, 2), 0)
    h.one((1, 2), 0)
    assert h.indexed
    seen: list[Any] = []
    Base.b = property(lambda self: "prop", lambda self, v: seen.append(v))  # type: ignore[attr-defined]
    obj = h.one((3, 4), 0)
    assert not h.indexed and seen == [4] and vars(obj) == {"a": 3, SESSION_ATTR: 0}
    assert vars(obj) == vars(_pure_object(Sub, names, (3, 4), 0)) and seen == [4, 4]
    del Base.b  # type: ignore[attr-defined]
    h.one((5, 6), 0)
    obj = h.one((5, 6), 0)
    assert h.indexed and list(vars(obj).items()) == [("a", 5), ("b", 6), (SESSION_ATTR, 0)]


@inline
def test_a_converter_changing_the_class_midway_sends_that_object_the_public_way() -> None:
    """Values are converted before the object is made: a converter that gives the class a
    data descriptor while a row is converted sees no half-made object, and that row's object
    is stored through the descriptor (the checks come after the conversions)."""

    class Plain:
        pass

    seen: list[Any] = []

    def conv(v: Any) -> Any:
        if v == "arm":
            Plain.a = property(lambda self: 0, lambda self, v: seen.append(v))  # type: ignore[attr-defined]
        return v

    h = _hydrate.Hydrator(Plain, ("a", "b"), (None, conv), SESSION_ATTR, _failed)
    h.one((1, 2), 0)
    h.one((1, 2), 0)
    assert h.indexed
    obj = h.one((1, "arm"), 0)
    assert seen == [1] and vars(obj) == {"b": "arm", SESSION_ATTR: 0} and not h.indexed


@inline
def test_names_the_shared_keys_lack_keep_the_public_path() -> None:
    """A class whose shared keys are full of other names (30: CPython's limit) before the
    Hydrator's first object: its names never enter the keys, every object is made through
    ``object.__setattr__`` (its own ``__dict__``), equal to the pure path's. A fresh class:
    28 names and the session attribute fit (CPython gives up one shared slot for each object
    made before the names are stored: 30 - 1), 29 do not (the Hydrator never indexes)."""

    class Full:
        pass

    filler = Full()
    for i in range(30):
        setattr(filler, f"other{i}", i)
    h = _hydrate.Hydrator(Full, ("a", "b"), (None, None), SESSION_ATTR, _failed)
    objs = [h.one((i, -i), 0) for i in range(3)]
    assert not h.indexed
    assert [list(vars(o).items()) for o in objs] == [
        list(vars(_pure_object(Full, ("a", "b"), (i, -i), 0)).items()) for i in range(3)
    ]

    class Wide28:
        pass

    class Wide29:
        pass

    for cls, width, indexed in ((Wide28, 28, True), (Wide29, 29, False)):
        names = tuple(f"f{i}" for i in range(width))
        hw = _hydrate.Hydrator(cls, names, (None,) * width, SESSION_ATTR, _failed)
        row = tuple(range(width))
        objs = [hw.one(row, 0) for _ in range(3)]
        assert hw.indexed is indexed
        pure = list(vars(_pure_object(cls, names, row, 0)).items())
        assert all(list(vars(o).items()) == pure for o in objs)


@inline
def test_inline_values_are_released_with_their_object() -> None:
    """Every value written inline is held once by its object and released with it: weak
    references to the values die with the object; the names, the token, a shared string
    and a converter's results keep their reference counts; a converter failing midway
    releases the values converted before it."""

    class Plain:
        pass

    class Value:
        pass

    shared = "a shared value " + str(id(Plain))
    token = object()

    def conv(v: Any) -> Any:
        if v == "boom":
            raise ValueError("boom")
        return Value()

    names = ("a", "b", "c")
    h = _hydrate.Hydrator(Plain, names, (None, conv, None), SESSION_ATTR, _failed)
    h.one((1, 2, 3), token)
    gc.collect()  # (garbage of earlier tests holding the names goes first)
    counts = [sys.getrefcount(x) for x in (shared, token, *names)]
    values = [Value() for _ in range(100)]
    refs = [weakref.ref(v) for v in values]
    objs = [h.one((v, 1, shared), token) for v in values]
    assert h.indexed
    converted = [weakref.ref(o.b) for o in objs]
    del values
    assert all(r() is not None for r in refs)
    del objs
    assert all(r() is None for r in refs) and all(r() is None for r in converted)
    try:  # (the error, its traceback and on_error's frame, holding the row: a cycle)
        h.one((Value(), "boom", shared), token)
    except ValueError as exc:
        assert str(exc) == "boom"
    else:
        raise AssertionError("the converter's error did not come")
    gc.collect()
    after = [sys.getrefcount(x) for x in (shared, token, *names)]  # (not inside the assert:
    assert after == counts  # pytest's rewriting would hold the tuple)


@inline
def test_a_sessions_load_writes_inline_with_the_key_converted_first(
    dbs: tuple[Database, Database],
) -> None:
    """A session's load (``chunk``, ``merge``: the key's value converted before the object
    is made) writes inline too, the same objects as the pure path's, fields in order."""
    fast, pure = dbs
    sides = []
    for db in (fast, pure):
        s = db.create_session()
        sides.append([_loaded(s, o) for o in s.query(Membership).order_by("org", "member").find()])
        sides.append([_loaded(s, o) for o in s.query(Author).order_by("id").find()])
    assert sides[:2] == sides[2:]
    assert [k for k, _t, _v in sides[1][0]][:2] == ["id", "email"]


# -- S2r: a session's load of an entity with references (bare keys, inline) --------------


def _merge_hydrator(db: Database, model: type) -> Any:
    """The C ``Hydrator`` a session's load of ``model`` runs (``EntityCodec.merge``'s
    ``fresh``), or None on the pure path."""
    merge = db.codec(model.__orm_entity__).merge  # type: ignore[attr-defined]
    fresh = merge.__globals__.get("fresh")
    return None if fresh is None else fresh.__self__


@inline
def test_a_sessions_load_of_references_writes_inline_and_stays_tracked(
    dbs: tuple[Database, Database],
) -> None:
    """Articles (two references, bare keys until read; JSON fields): the session's load
    writes them inline after its first object, the same ``__dict__`` as the pure path's,
    each identity-mapped; a reference resolves to the identity-mapped author; a changed
    reference and a changed title are what the commit writes, on both paths."""
    fast, pure = dbs
    sides = []
    for db in (fast, pure):
        s = db.create_session()
        authors = {a.id: a for a in s.query(Author).filter(F.id <= 7).find()}
        arts = s.query(Article).order_by("id").find()
        again = s.query(Article).order_by("id").find()
        assert all(a is b for a, b in zip(arts, again, strict=True))
        assert all(s.get(Article, a.id) is a and s.state_of(a) == "persistent" for a in arts)
        sides.append([_loaded(s, o) for o in arts])
        assert [vars(a)["author"] for a in arts] == [1 + i % 7 for i in range(30)]
        assert arts[3].author is authors[4]
        arts[0].author = authors[2]
        arts[1].title = "retitled"
        arts[2].author = arts[2].author  # (the same author again: no change)
        changes = s.changes()
        found = sorted(((u.obj.id, u.changes) for u in changes.updates), key=lambda c: c[0])
        assert len(found) == 2 and found[1] == (arts[1].id, {"title": ("t1", "retitled")})
        ((key, (old, new)),) = found[0][1].items()  # (the old author as the session has it)
        assert found[0][0] == arts[0].id and key == "author" and new is authors[2]
        assert old == 1  # (never read: its bare key)
        s.commit()
        fresh = db.create_session()
        stored = fresh.query(Article).order_by("id").limit(3).find()
        assert [(a.title, vars(a)["author"]) for a in stored] == [
            ("t0", 2),
            ("retitled", 2),
            ("t2", 3),
        ]
        # (back as seeded, for the other side)
        arts[0].author = authors[1]
        arts[1].title = "t1"
        s.commit()
    assert sides[0] == sides[1]
    h = _merge_hydrator(fast, Article)
    assert h is not None and h.indexed
    assert _merge_hydrator(pure, Article) is None


@built
def test_ascending_is_pythons_strict_order_of_a_chunks_keys() -> None:
    """``ascending(before, keys)``: keys strictly ascending and above ``before``'s last, as
    ``<`` compares them (ints, strings; a key seen twice, or one out of order, is not);
    keys that ``<`` refuses raise its TypeError."""
    asc = _hydrate.ascending
    assert asc([], []) and asc([5], []) and asc([], [1]) and asc([], [1, 2, 10**30])
    assert asc([0], [1, 2, 3]) and not asc([3], [1, 2]) and not asc([1], [1, 2])
    assert not asc([], [1, 1]) and not asc([], [1, 3, 2]) and asc([], [-(2**70), -1, 0])
    assert asc(["a"], ["b", "c"]) and not asc([], ["b", "a"])
    with pytest.raises(TypeError):
        asc([], [1, "a"])
    with pytest.raises(TypeError):
        asc((), [1])  # type: ignore[arg-type]


@pytest.mark.parametrize("order", ["id", "-id"], ids=["ascending", "descending"])
def test_a_load_in_either_order_maps_the_same_objects_on_both_paths(
    dbs: tuple[Database, Database], order: str
) -> None:
    """Keys ascending (the identity map deferred) or descending (mapped chunk by chunk): the
    same objects, each the one ``get`` finds, on the accelerated and the pure path."""
    fast, pure = dbs
    sides = []
    for db in (fast, pure):
        s = db.create_session()
        arts = s.query(Article).order_by(order).find()
        assert all(s.get(Article, a.id) is a for a in arts)
        sides.append([_loaded(s, o) for o in arts])
    assert sides[0] == sides[1]


@built
def test_fresh_gives_chunks_objects_and_keys_and_holds_nothing_more() -> None:
    """``fresh(rows, token)`` (a fresh session's load) gives the objects and keys ``chunk``
    gives, as two lists; a class with a data descriptor under a name (``use_dict``: stored as
    ``__dict__[name] = v`` stores, the descriptor not called) is written inline from its
    second object where 3.11's store is compiled; the key values, a shared value and the
    token keep their reference counts once the objects die, also after a converter failed
    midway."""

    class Desc:
        def __get__(self, obj: Any, cls: Any = None) -> Any:
            return self if obj is None else obj.__dict__["b"]

        def __set__(self, obj: Any, value: Any) -> None:
            raise AssertionError("the descriptor was called")

    class Plain:
        b = Desc()

    shared = "a shared value " + str(id(Plain))
    token = object()

    def conv(v: Any) -> Any:
        if v == "boom":
            raise ValueError("boom")
        return v * 2

    h = _hydrate.Hydrator(
        Plain, ("k", "b", "c"), (None, conv, None), SESSION_ATTR, _failed, use_dict=True, key=(0,)
    )
    rows = [(10**20 + i, i, shared) for i in range(50)]
    gc.collect()
    before = [sys.getrefcount(x) for x in (shared, token, rows[7][0])]
    objs, keys = h.fresh(rows, token)
    keys2: list[Any] = []
    objs2 = h.chunk(rows, token, keys2)
    assert keys == keys2 == [r[0] for r in rows]
    expected = [[("k", r[0]), ("b", r[1] * 2), ("c", shared), (SESSION_ATTR, token)] for r in rows]
    assert [list(vars(o).items()) for o in objs] == expected
    assert [list(vars(o).items()) for o in objs2] == expected
    assert objs[3].b == 6 and h.indexed is bool(getattr(_hydrate, "INLINE", False))
    del objs, objs2, keys, keys2, expected
    bad = [*rows[:5], (1, "boom", shared), *rows[5:]]
    with pytest.raises(ValueError, match="boom"):
        h.fresh(bad, token)
    del bad  # (it holds ``shared`` once more)
    gc.collect()
    after = [sys.getrefcount(x) for x in (shared, token, rows[7][0])]  # (not in the assert)
    assert after == before
    assert h.fresh([], token) == ([], [])
