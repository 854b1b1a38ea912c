"""Edge values: each one round-trips exactly on the backend, or is refused naming entity,
field and value — never stored changed (issue 17, point 4).

Which backend holds what is the dialect's data (``stores_nan``, ``decimal_digits``,
``text_nul`` ...) and docs/backends.md's table; the test asks the dialect, never the backend's
name. A refused commit changes nothing: the table stays empty and the object stays staged.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from decimal import Decimal
from typing import Annotated, Any

import pytest

from core import (
    AutoIncrement,
    Aware,
    Database,
    DatabaseError,
    F,
    IntegrityError,
    PrimaryKey,
    Unique,
    ValidationError,
    entity,
    entity_info,
)


@entity.name("edge")
class Edge:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    f: float | None = None
    t: dt.time | None = None
    d: Decimal | None = None
    ts: Annotated[dt.datetime, Aware] | None = None
    n: int | None = None
    s: str | None = None
    j: dict[str, Any] | None = None
    ls: list[str] | None = None
    nested: dict[str, list[int]] | None = None


PLUS5 = dt.timezone(dt.timedelta(hours=5))
MINUS5 = dt.timezone(dt.timedelta(hours=-5))

#: (field, value, why it is refused everywhere, or None when it depends on the backend)
CASES: list[tuple[str, Any, str | None]] = [
    ("f", math.nan, None),
    ("f", math.inf, None),
    ("f", -math.inf, None),
    ("f", 1e308, ""),
    ("t", dt.time(10, 0, tzinfo=PLUS5), "a time of day with a UTC offset is not stored"),
    ("t", dt.time(23, 59, 59, 999999), ""),
    ("d", Decimal("1E-31"), None),
    ("d", Decimal("1E-30"), ""),
    ("d", Decimal("1E+40"), None),
    ("d", Decimal("NaN"), None),
    ("d", Decimal("-12345678901234567890123456789012345.123456789012345678901234567890"), ""),
    ("ts", dt.datetime(1, 1, 1, 1, 0, tzinfo=PLUS5), "its UTC value falls outside the years"),
    ("ts", dt.datetime(9999, 12, 31, 23, 0, tzinfo=MINUS5), "its UTC value falls outside"),
    ("ts", dt.datetime(1, 1, 1, 6, 0, tzinfo=PLUS5), ""),
    ("n", 2**63, "outside the 64-bit range"),
    ("n", -(2**63), ""),
    ("s", "\ud800", "not valid Unicode"),
    ("s", "a\x00b", None),
    ("s", "😀 ü", ""),
    ("j", {"a": {1, 2}}, "a set, which JSON cannot hold"),
    ("j", {"a": math.nan}, "JSON has no NaN or infinity"),
    ("j", {1: "x"}, "JSON keys are strings"),
    ("j", {"a": (1, 2)}, "a tuple, which JSON cannot hold"),
    ("j", {"a": [1, "b", None, True, 2.5, {"c": []}]}, ""),
    ("ls", ["a", 1], "[1] is 1, not str"),
    ("ls", ["a", None], "[1] is None, not str"),
    ("ls", ["a", "b"], ""),
    ("nested", {"k": [1, True]}, "['k'][1] is True, not int"),
    ("nested", {"k": [1, 2]}, ""),
]


def _backend_refusal(db: Database, field: str, value: Any) -> str | None:
    """What the dialect's data says about a value that depends on the backend."""
    dialect = db.dialect
    f = entity_info(Edge).field(field)
    return dialect.value_problem(f, value)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    if isinstance(a, Decimal) and a.is_nan():
        return isinstance(b, Decimal) and b.is_nan()
    if isinstance(a, dt.datetime | dt.time):
        return a == b and (a.utcoffset() is None) == (b.utcoffset() is None)
    return bool(a == b and type(a) is type(b))


@pytest.mark.parametrize(("field", "value", "why"), CASES, ids=[f"{c[0]}={c[1]!r}" for c in CASES])
def test_each_edge_value_round_trips_or_is_refused_naming_it(
    db_url: str, field: str, value: Any, why: str | None
) -> None:
    """Refused: a ValidationError naming ``Edge.<field>`` and the value, nothing saved, the
    object still staged; else read back exactly from a fresh session."""
    db = Database(db_url, [Edge])
    db.migrate()
    if why is None:
        why = _backend_refusal(db, field, value) or ""
    s = db.create_session()
    obj = Edge()
    setattr(obj, field, value)
    s.add(obj)
    if why:
        with pytest.raises(ValidationError) as caught:
            s.commit()
        message = str(caught.value)
        assert message.startswith(f"Edge.{field} expects ") and why in message
        assert repr(value)[:40] in message
        assert db.query(Edge).count() == 0
        assert s.changes().inserts and obj.id == 0  # still staged, no id given
        with pytest.raises(ValidationError):
            s.pending_sql()
    else:
        s.commit()
        back = getattr(db.create_session().query(Edge).filter(F.id == obj.id).find_one(), field)
        assert _same(value, back), (value, back)
    db.close()


def test_what_no_backend_stores_is_refused_when_the_value_is_coerced() -> None:
    """Through ``FieldInfo.coerce`` (the REPL, ``patch_many``) the refusal comes when staged."""
    info = entity_info(Edge)
    for field, value, why in CASES:
        if why:
            with pytest.raises(ValidationError, match=f"^Edge.{field} expects"):
                info.field(field).coerce(value)
    assert info.field("ls").coerce(["a"]) == ["a"]


def test_driver_messages_hold_no_statement_and_no_values(db_url: str) -> None:
    """An error the driver raises while encoding a statement (its args carry the statement,
    values and all) is one line without them; on every backend."""
    db = Database(db_url, [Edge])
    db.migrate()
    conn = db.connection()
    mark = db.dialect.placeholder
    with pytest.raises(DatabaseError) as caught:
        conn.execute(f"SELECT {mark}, {mark}", ("S3cr3t-value", "\ud800"), "check")
    message = str(caught.value)
    assert "S3cr3t" not in message and "SELECT" not in message and "\n" not in message
    assert message.startswith("check: ")
    db.close()


@entity.name("edge_unique")
class EdgeUnique:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    name: Annotated[str, Unique] = ""
    tags: list[str] | None = None


def test_a_failed_commit_leaves_nothing_on_stderr(
    db_url: str, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server error in one statement and a refused value in the next (the commit fails
    twice over) give one error, and no library writes to stderr on its own: with no logging
    set up (as in the ``ormcli`` command), Python's last-resort handler sees nothing."""
    db = Database(db_url, [EdgeUnique])
    db.migrate()
    s = db.create_session()
    kept = [EdgeUnique(name=f"n{i}") for i in range(3)]
    s.add(*kept)
    s.commit()
    s.add(EdgeUnique(name="n0"))  # a duplicate: the server refuses the INSERT
    kept[1].tags = ["a", 2]  # and the UPDATE after it cannot be built
    last_resort: list[logging.LogRecord] = []
    recorder = logging.Handler(logging.WARNING)
    recorder.emit = last_resort.append  # type: ignore[method-assign]
    monkeypatch.setattr(logging.getLogger(), "handlers", [])
    monkeypatch.setattr(logging, "lastResort", recorder)
    with pytest.raises((ValidationError, IntegrityError)):
        s.commit()
    assert [r.getMessage() for r in last_resort] == []
    assert capfd.readouterr().err == ""
    assert db.query(EdgeUnique).count() == 3
    db.close()


def test_a_cancel_that_cannot_reach_the_server_is_a_database_error(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The driver's own exception from a cancel request is translated, not raised raw."""
    db = Database(db_url, [EdgeUnique])
    db.migrate()

    def refuse(raw: Any) -> None:
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(db.dialect, "cancel", refuse)
    s = db.create_session()
    s.add(EdgeUnique(name="held"))
    s.flush()  # a connection is now checked out, inside the session's transaction
    with pytest.raises(DatabaseError, match=r"^cannot cancel the running statement"):
        db.cancel()
    s.rollback()
    db.close()
