"""The upsert bench (``bench/upsert.py``): every implementation writes and reads back the rows.

Each timed run is checked (the keys read back, then every row's values in the database), so a
run that returns proves the work was done. SQLite only, at a small size: speed is not tested.
"""

from __future__ import annotations

import pytest

from bench import upsert


def test_every_implementation_upserts_and_the_report_prints(
    capsys: pytest.CaptureFixture[str],
) -> None:
    pytest.importorskip("sqlalchemy")
    upsert.main(["sqlite", "--rows", "200", "--repeat", "1"])
    out = capsys.readouterr().out
    assert "upsert 200 rows on email, half existing" in out and "vs raw" in out


def test_a_run_that_left_a_row_old_fails() -> None:
    from core import Database

    db = Database("sqlite:///:memory:", [upsert.Member])
    db.migrate()
    s = db.create_session()
    s.add(upsert.Member(email="e0", name="new0-0", score=0))
    s.add(upsert.Member(email="e1", name="old", score=0))
    s.commit()
    with pytest.raises(AssertionError, match="e1 holds"):
        upsert.check(db, 2, 0)
    db.close()
