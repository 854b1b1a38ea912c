# ruff: noqa: E501  (the DESIGN example is quoted verbatim)
"""The DESIGN §2 example, verbatim, behaves as documented."""

from __future__ import annotations

import runpy
import textwrap
from pathlib import Path

import pytest

EXAMPLE = textwrap.dedent(
    """
    from datetime import datetime
    from typing import Annotated
    from core import Database, SQLiteAdapter, entity, PrimaryKey, AutoIncrement

    @entity.name("user")
    class User:
        id: Annotated[int, PrimaryKey, AutoIncrement] = 0
        created: datetime
        name: str

        def __init__(self, name: str) -> None:
            self.name = name
            self.created = datetime.now()

    database = Database(SQLiteAdapter(":memory:"), [User])   # or Database("sqlite:///app.db", [User])
    database.migrate()

    session = database.create_session()
    session.add(User("User1"), User("User2"), User("User3"))
    session.commit()                       # ids are assigned: 1, 2, 3
    users = session.query(User).find()     # same instances as were added (identity map)
    for user in users:
        user.name += " changed"
    session.commit()                       # change detection: one batched UPDATE of `name` only
    """
)


def test_design_example_assigns_ids_and_saves_changed_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], statements: object
) -> None:
    """Three users get ids 1-3; the second commit is one UPDATE of name; a fresh read agrees."""
    script = tmp_path / "example.py"
    script.write_text(
        EXAMPLE
        + textwrap.dedent(
            """
            for user in users:
                print(user.id, user.name)
            print([(u.id, u.name) for u in database.query(User).find()])
            """
        )
    )
    ns = runpy.run_path(str(script))
    out = capsys.readouterr().out.splitlines()
    assert out[:3] == ["1 User1 changed", "2 User2 changed", "3 User3 changed"]
    assert out[3] == "[(1, 'User1 changed'), (2, 'User2 changed'), (3, 'User3 changed')]"
    updates = [s for s in statements.dml() if s.startswith("UPDATE")]  # type: ignore[attr-defined]
    # One statement, of name only: UPDATE ... FROM (VALUES ...) on SQLite 3.33+, else the
    # one-row statement sent with executemany.
    assert len(updates) == 1
    assert updates[0].startswith('UPDATE "user" SET "name" = ')
    assert '"created"' not in updates[0]
    added = ns["users"]
    assert [u.id for u in added] == [1, 2, 3]


def test_tour_script_prints_the_three_users(capsys: pytest.CaptureFixture[str]) -> None:
    """sample_models/tour.py, the README's first command before the CLI, runs and prints."""
    tour = Path(__file__).resolve().parents[2] / "sample_models" / "tour.py"
    runpy.run_path(str(tour), run_name="__main__")
    out = capsys.readouterr().out
    assert "1 User1" in out and "3 User3 changed" in out
    assert "Ann's posts: ['Sessions', 'Pivots']" in out
    assert "  Author.posts of Bob: +['Sessions'] -[]" in out
    assert "after rollback, Ann's posts: ['Sessions', 'Pivots']" in out
    assert "after removing Bob: the post is detached; db tag's posts: ['Pivots']" in out
