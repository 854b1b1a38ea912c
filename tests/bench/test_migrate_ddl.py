"""The migrate bench (``bench/migrate_ddl.py``) on every backend, at a tiny size.

Each of the three ways does the work it is timed for (ormcli's plan is asserted to be the add
column and the index, Alembic's autogenerate to be the same two operations), and on PostgreSQL
the added column with a constant default leaves the table unrewritten. Needs the ``[bench]``
extra (SQLAlchemy and Alembic); skipped without it.
"""

from __future__ import annotations

import pytest

pytest.importorskip("alembic")

from bench import migrate_ddl


def test_ormcli_the_floor_and_alembic_each_run_the_change(db_url: str) -> None:
    line = migrate_ddl.run(db_url, rows=500, repeat=1, own_database=False)
    assert "by hand" in line and "ormcli" in line and "alembic" in line
    if db_url.startswith("postgres"):
        assert line.endswith("metadata only (no rewrite): yes")
