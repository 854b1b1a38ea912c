"""The C accelerator of tracked assignment (``core._track``) does what the Python hook does.

An entity class defined while ``core._track`` is in use gets ``TrackedSetattr`` as its
``__setattr__``; defined after ``core.entity.use_speedups(None)``, the generated Python hook.
The same scripted assignments (loaded objects: one field, the same field twice, two fields, a
JSON field, a reference, the key to itself and to another value; a staged new object; an
untracked object; an attribute that is no field; an object of another session) run through
both classes; the change records, ``changes()``, the SQL a commit would send, the stored rows
after it, and the objects after a rollback must be equal. Also: the hook's attributes, a
class with a ``__setattr__`` of its own, subclasses, odd calls, no reference leaked, and
``ORMCLI_NO_SPEEDUPS``.
"""

from __future__ import annotations

import gc
import importlib
import os
import subprocess
import sys
from typing import Annotated, Any

import pytest

from core import AutoIncrement, Database, PrimaryKey, Reference, SessionError, entity
from core.types import MISSING
from tests.conftest import StatementLog

#: The module ``core.entity`` (``core.entity`` as an attribute is the decorator).
ENTITY = importlib.import_module("core.entity")

#: The accelerator chosen at import (None: not built, or switched off by the environment).
BUILT = ENTITY._track

needs_c = pytest.mark.skipif(
    BUILT is None, reason="core._track is not built here, or ORMCLI_NO_SPEEDUPS is set"
)


def _models(path: str) -> tuple[type, type]:
    """An owner and a document class, instrumented with the hook of ``path`` ("c" or
    "pure"), on tables of their own."""
    before = ENTITY._track
    ENTITY.use_speedups(BUILT if path == "c" else None)
    try:

        @entity.name(f"tk_owner_{path}")
        class Owner:
            id: Annotated[int, PrimaryKey, AutoIncrement] = 0
            name: str = ""

        @entity.name(f"tk_doc_{path}")
        class Doc:
            id: Annotated[int, PrimaryKey, AutoIncrement] = 0
            title: str = ""
            n: int = 0
            note: str | None = None
            data: dict[str, Any] | None = None
            owner: Annotated[Owner, Reference] | None = None

    finally:
        ENTITY.use_speedups(before)
    return Owner, Doc


#: The classes of each path, defined once ("c" only where the accelerator is built).
_MODELS = {path: _models(path) for path in (["c", "pure"] if BUILT is not None else ["pure"])}


@pytest.fixture
def models() -> dict[str, tuple[type, type]]:
    return _MODELS


def _seed(db_url: str, owner_cls: type, doc_cls: type) -> Database:
    """A database with the tables of both paths (one migration for all), the tables of
    ``owner_cls`` and ``doc_cls`` holding two owners and eight documents."""
    db = Database(db_url, [cls for pair in _MODELS.values() for cls in pair])
    db.migrate()
    s = db.create_session()
    s.query(doc_cls).delete_many()
    s.query(owner_cls).delete_many()
    s.commit()
    owners = [owner_cls(name=n) for n in ("a", "b")]
    s.add(*owners)
    s.add(
        *(
            doc_cls(title=f"d{k}", n=k, data={"k": k}, owner=owners[k % 2] if k % 3 else None)
            for k in range(8)
        )
    )
    s.commit()
    return db


def _records(s: Any, docs: dict[str, Any]) -> list[Any]:
    """The session's change records, by title instead of ``id()``."""
    by_id = {id(d): t for t, d in docs.items()}
    out = []
    for oid, old in s._changed.items():
        values = {f: ("MISSING" if v is MISSING else v) for f, v in old.items()}
        if "owner" in values and values["owner"] is not None:
            values["owner"] = ENTITY.unloaded_key(values["owner"]) or values["owner"].id
        out.append((by_id.get(oid, "?"), sorted(values.items())))
    return sorted(out, key=repr)


def _script(db: Database, owner_cls: type, doc_cls: type, statements: StatementLog) -> Any:
    s = db.create_session()
    docs = {d.title: d for d in s.query(doc_cls).find()}
    owners = {o.name: o for o in s.query(owner_cls).find()}
    docs["d0"].n = 100  # one field
    docs["d1"].title = "d1x"  # the same field twice: the first old value is kept
    docs["d1"].title = "d1y"
    docs["d2"].n = 7  # two fields
    docs["d2"].note = "two"
    docs["d3"].data = {"k": 33}  # a JSON field, assigned
    docs["d4"].owner = owners["b"]  # a reference (a descriptor: the Python hook)
    docs["d5"].id = docs["d5"].id  # the key to itself: allowed, no record
    with pytest.raises(SessionError, match="cannot change the primary key"):
        docs["d6"].id = 10_000
    setattr(docs["d7"], "n", -7)  # noqa: B010 (through setattr)
    type(docs["d7"]).__setattr__(docs["d7"], "note", "by the class")
    docs["d7"].__setattr__("title", "d7x")
    docs["d0"]._scratch = "not a field"  # an attribute that is no field
    fresh = doc_cls(title="new", n=1)
    s.add(fresh)
    fresh.n = 2  # a staged new object: no record
    loose = doc_cls(title="loose")
    loose.n = 3  # untracked
    other = db.create_session()
    (elsewhere,) = other.query(doc_cls).filter(title="d0").find()
    elsewhere.note = "in the other session"
    state: dict[str, Any] = {"records": _records(s, {**docs, "new": fresh})}
    state["other records"] = _records(other, {"d0": elsewhere})
    state["dirty"] = s.is_dirty
    state["changes"] = sorted(
        (u.obj.title, sorted((f, repr(o), repr(n)) for f, (o, n) in u.changes.items()))
        for u in s.changes().updates
    )
    state["values"] = sorted(
        (d.title, d.n, d.note, d.data, vars(d).get("_scratch")) for d in docs.values()
    )
    state["loose"] = (loose.n, ENTITY.SESSION_ATTR in vars(loose))
    state["pending"] = [(st.sql, st.rows) for st in s.pending_sql()]
    statements.clear()
    s.commit()
    state["sent"] = statements.dml()
    state["stored"] = sorted(
        (d.title, d.n, d.note, d.data, ENTITY.unloaded_key(d.__dict__["owner"]))
        for d in db.query(doc_cls).find()
    )
    state["records after commit"] = _records(s, docs)
    docs["d0"].n = 555
    docs["d2"].note = None
    s.rollback()
    state["after rollback"] = sorted((d.title, d.n, d.note) for d in docs.values())
    state["records after rollback"] = _records(s, docs)
    return state


def _comparable(state: Any, path: str) -> Any:
    """``state`` with the table names of ``path`` made neutral."""
    text = repr(state)
    return text.replace(f"tk_owner_{path}", "tk_owner").replace(f"tk_doc_{path}", "tk_doc")


@needs_c
def test_the_c_and_the_python_hook_leave_the_same_state(
    db_url: str, statements: StatementLog, models: dict[str, tuple[type, type]]
) -> None:
    """The script through ``TrackedSetattr`` and through the Python hook: equal in every
    respect (records, changes, values, the commit's statements and rows, the rollback)."""
    results = {}
    for path, (owner_cls, doc_cls) in models.items():
        db = _seed(db_url, owner_cls, doc_cls)
        try:
            results[path] = _comparable(_script(db, owner_cls, doc_cls, statements), path)
        finally:
            db.close()
    assert results["c"] == results["pure"]


def test_the_python_hook_records_what_the_script_expects(
    db_url: str, statements: StatementLog, models: dict[str, tuple[type, type]]
) -> None:
    """The reference the comparison above leans on: the Python hook's records of the script
    (on every build, with or without the C accelerator)."""
    owner_cls, doc_cls = models["pure"]
    db = _seed(db_url, owner_cls, doc_cls)
    try:
        state = _script(db, owner_cls, doc_cls, statements)
    finally:
        db.close()
    records = dict(state["records"])
    assert records["d0"] == [("n", 0)]
    assert records["d1"] == [("title", "d1")]
    assert records["d2"] == [("n", 2), ("note", None)]
    assert records["d3"] == [("data", {"k": 3})]
    assert [f for f, _ in records["d4"]] == ["owner"]
    # The key assigned to itself: recorded (the Python hook's way), no change at commit.
    assert [f for f, _ in records["d5"]] == ["id"]
    assert "d5" not in [title for title, _ in state["changes"]]
    assert "new" not in records and "d6" not in records
    assert records["d7"] == [("n", 7), ("note", None), ("title", "d7")]
    assert state["other records"] == [("d0", [("note", None)])]
    assert state["loose"] == (3, False)
    assert state["records after commit"] == [] and state["records after rollback"] == []
    assert ("d0", 100, None) in state["after rollback"]
    assert ("d2", 7, "two") in state["after rollback"]


@needs_c
def test_the_hook_is_the_c_descriptor_where_built(
    models: dict[str, tuple[type, type]],
) -> None:
    """A class defined with the accelerator has ``TrackedSetattr`` as ``__setattr__`` (the
    Python hook as ``__wrapped__``, marked as generated, over ``object.__setattr__``); one
    defined without it has the Python function."""
    assert BUILT is not None
    _, doc_c = models["c"]
    _, doc_pure = models["pure"]
    hook = doc_c.__dict__["__setattr__"]
    assert type(hook) is BUILT.TrackedSetattr
    assert doc_c.__setattr__ is hook
    assert hook._orm_base is object.__setattr__
    assert getattr(hook, "__orm_generated__", False) is True
    assert type(hook.__wrapped__).__name__ == "function"
    assert type(doc_pure.__dict__["__setattr__"]).__name__ == "function"


@needs_c
def test_a_class_with_its_own_setattr_and_subclasses_keep_their_meaning(
    db_url: str,
) -> None:
    """A class with a ``__setattr__`` of its own is hooked in Python (its method runs on
    every assignment); a subclass entity of a class hooked in C gets a hook of its own that
    records into the session as the base's does."""
    seen: list[str] = []

    @entity.name("tk_custom")
    class Custom:
        id: Annotated[int, PrimaryKey, AutoIncrement] = 0
        n: int = 0

        def __setattr__(self, name: str, value: Any) -> None:
            seen.append(name)
            object.__setattr__(self, name, value)

    @entity.name("tk_base")
    class Base:
        id: Annotated[int, PrimaryKey, AutoIncrement] = 0
        n: int = 0

    @entity.name("tk_sub")
    class Sub(Base):
        extra: str = ""

    assert type(Custom.__dict__["__setattr__"]).__name__ == "function"
    assert BUILT is not None and type(Sub.__dict__["__setattr__"]) is BUILT.TrackedSetattr
    db = Database(db_url, [Custom, Sub])
    db.migrate()
    s = db.create_session()
    s.add(Custom(n=1), Sub(n=1, extra="e"))
    s.commit()
    seen.clear()
    (c,) = s.query(Custom).find()
    (sub,) = s.query(Sub).find()
    c.n = 2
    sub.n = 2
    sub.extra = "f"
    assert seen == ["n"]
    assert sorted(s._changed[id(sub)].items()) == [("extra", "e"), ("n", 1)]
    s.commit()
    assert [(x.n, x.extra) for x in db.query(Sub).find()] == [(2, "f")]
    db.close()


@needs_c
def test_odd_calls_go_to_the_python_hook(models: dict[str, tuple[type, type]]) -> None:
    """Calls the fast path does not take end as the Python hook's do: a wrong count of
    arguments, keyword arguments, a name that is not a ``str``; and an uninitialised hook or
    one made of the wrong containers is refused."""
    _, doc_c = models["c"]
    _, doc_pure = models["pure"]
    for cls in (doc_c, doc_pure):
        d = cls(title="x")
        with pytest.raises(TypeError):
            cls.__setattr__(d, "n")
        with pytest.raises(TypeError):
            cls.__setattr__(d, "n", 1, 2)
        cls.__setattr__(d, name="n", value=1)  # (by keyword: the Python hook's call)
        assert d.n == 1
        with pytest.raises(TypeError):
            cls.__setattr__(d, 5, 1)
        cls.__setattr__(d, "n", 9)
        assert d.n == 9
    assert BUILT is not None
    with pytest.raises(TypeError, match="not initialised"):
        BUILT.TrackedSetattr.__new__(BUILT.TrackedSetattr)(doc_c(), "n", 1)
    with pytest.raises(TypeError):
        BUILT.TrackedSetattr(print, set(), frozenset(), {}, "a", None)


@needs_c
def test_assignments_leak_no_reference(db_url: str, models: dict[str, tuple[type, type]]) -> None:
    """Tracked assignments, committed and rolled back, 300 times: the reference counts of the
    object, the values assigned and the session's token are where they started."""
    owner_cls, doc_cls = models["c"]
    db = _seed(db_url, owner_cls, doc_cls)
    s = db.create_session()
    doc = s.query(doc_cls).filter(title="d0").find()[0]
    a, b = "value a " * 3, "value b " * 3

    def counts() -> list[int]:
        gc.collect()
        return [sys.getrefcount(x) for x in (doc, a, b)]

    doc.title = a
    s.commit()
    before = counts()
    for k in range(300):
        doc.title = b
        doc.title = a
        doc.n = k
        if k % 2:
            s.commit()
        else:
            s.rollback()
    doc.title = a
    s.commit()
    assert counts() == before
    db.close()


def test_no_speedups_in_the_environment_means_the_python_hook() -> None:
    """``ORMCLI_NO_SPEEDUPS=1``: no accelerator is chosen, classes get the Python hook."""
    code = (
        "import importlib, core\n"
        "from typing import Annotated\n"
        "@core.entity\n"
        "class T:\n"
        "    id: Annotated[int, core.PrimaryKey] = 0\n"
        "    n: int = 0\n"
        "hook = type(T.__dict__['__setattr__']).__name__\n"
        "print(importlib.import_module('core.entity')._track is None, hook)"
    )
    env = {**os.environ, "ORMCLI_NO_SPEEDUPS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["True", "function"]
