"""Every field kind round-trips equal through the database (on every backend)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from core import Database, F
from tests.core.models import ALL, Everything, Role


def test_all_kinds_round_trip(db_url: str) -> None:
    db = Database(db_url, ALL)
    db.migrate()
    tz = dt.timezone(dt.timedelta(hours=5, minutes=30))
    values = dict(
        i=-(2**63),
        f=1.5,
        b=True,
        s='it\'s \\ a %s "quote" ünïcode',
        raw=b"\x00\xff\x10",
        d=Decimal("12345.6789"),
        when=dt.datetime(2024, 2, 29, 23, 59, 58, 123456),
        when_tz=dt.datetime(2024, 2, 29, 23, 59, 58, 654321, tzinfo=tz),
        day=dt.date(1999, 12, 31),
        at=dt.time(13, 14, 15, 161718),
        uid=uuid.UUID("12345678-1234-5678-1234-567812345678"),
        role=Role.admin,
        data={"nested": [1, 2.5, None, "x"], "ok": True},
    )
    s = db.create_session()
    s.add(Everything(id=1, **values), Everything(id=2, i=2**63 - 1, s=""))
    s.commit()
    loaded = db.query(Everything).filter(id=1).find_one()
    for name, value in values.items():
        got = getattr(loaded, name)
        assert got == value, name
        assert type(got) is type(value), name
    assert loaded.when_tz.utcoffset() is not None
    other = db.query(Everything).filter(id=2).find_one()
    assert (other.i, other.s, other.when, other.data) == (2**63 - 1, "", None, None)


def test_decimals_keep_every_digit_and_compare_as_numbers(db_url: str) -> None:
    """38 significant digits survive; =, <, > and ordering are numeric, not textual."""
    db = Database(db_url, ALL)
    db.migrate()
    big = Decimal("1234567890123456789.0123456789012345678")
    s = db.create_session()
    for i, d in enumerate([Decimal("9.5"), Decimal("10.25"), Decimal("100"), big], start=1):
        s.add(Everything(id=i, d=d))
    s.commit()
    assert db.query(Everything).filter(id=4).find_one().d == big
    q = db.query(Everything)
    assert [e.d for e in q.order_by("d").find()] == [
        Decimal("9.5"),
        Decimal("10.25"),
        Decimal("100"),
        big,
    ]
    assert q.filter(F.d > Decimal("10")).count() == 3
    assert q.filter(F.d == Decimal("10.250")).count() == 1
    assert q.filter(F.d <= 100).count() == 3
