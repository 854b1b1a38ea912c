"""Every field kind round-trips equal through the database (on every backend)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from core import Database
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
