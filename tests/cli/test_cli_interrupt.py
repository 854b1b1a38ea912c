"""Ctrl-C while a command runs, in a real terminal: the running statement is cancelled on the
server, the REPL prints ``interrupted`` and goes on with the session and its staged work."""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

from core import Database
from tests.cli.helpers import invoke

ORMCLI = shutil.which("ormcli", path=str(Path(sys.executable).parent)) or shutil.which("ormcli")

pytestmark = pytest.mark.skipif(ORMCLI is None, reason="the ormcli console script is not installed")

SLOW_MODEL = """
from typing import Annotated
from core import PrimaryKey, entity

@entity
class Slow:
    id: Annotated[int, PrimaryKey]
    n: int
"""

# A view of a billion rows: counting it takes minutes on every backend.
SLOW_VIEW = (
    "CREATE VIEW {table} AS WITH RECURSIVE c(n) AS "
    "(SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 1000) "
    "SELECT a.n AS id, b.n AS n FROM c a, c b, c d"
)


def _spawn(tmp_path: Path, args: list[str]) -> pexpect.spawn:
    env = {
        **os.environ,
        "NO_COLOR": "1",
        "PROMPT_TOOLKIT_NO_CPR": "1",
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    env.pop("ORMCLI_DB", None)
    assert ORMCLI is not None
    return pexpect.spawn(ORMCLI, args, env=env, encoding="utf-8", timeout=30, dimensions=(40, 120))


@pytest.fixture
def slow_models(tmp_path: Path, db_url: str, blog_models: str) -> Iterator[list[str]]:
    """The blog models migrated, plus ``Slow``: an entity over a billion-row view."""
    assert invoke(["--db", db_url, "--models", blog_models, "migrate"]).exit_code == 0
    path = tmp_path / "slow.py"
    path.write_text(SLOW_MODEL, encoding="utf-8")
    sys.path.insert(0, str(tmp_path))
    try:
        import slow  # type: ignore[import-not-found]

        db = Database(db_url, [slow.Slow])
        table = db.dialect.quote(db.entity(slow.Slow).table)
        db.connection().execute(SLOW_VIEW.format(table=table))
        db.close()
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("slow", None)
    yield ["--db", db_url, "--models", blog_models, "--models", str(path)]


def test_ctrl_c_cancels_a_running_query_and_keeps_the_staged_work(
    tmp_path: Path, slow_models: list[str]
) -> None:
    """``count Slow`` runs for minutes; Ctrl-C cancels it on the server: ``interrupted``, the
    prompt comes back with ``[+1]``, and the staged add then commits."""
    child = _spawn(tmp_path, slow_models)
    try:
        child.expect(r">")
        child.sendline('add Tag name="kept"')
        child.expect(r"\[\+1\]>")
        child.sendline("count Slow")
        time.sleep(1.0)  # let the statement reach the server
        child.sendintr()
        child.expect("interrupted")
        child.expect(r"\[\+1\]>")
        child.sendline("status")
        child.expect("1 to add, 0 to change, 0 to remove")
        child.sendline("commit")
        child.expect("committed 1 insert in 1 statement")
        child.sendline('count Tag where name = "kept"')
        child.expect(r"[^0-9]1\r\n")
        child.sendline("quit")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0


def test_ctrl_c_cancels_a_commit_waiting_on_a_lock(
    tmp_path: Path, db_url: str, blog_models: str
) -> None:
    """A commit blocked by another transaction's row lock: Ctrl-C cancels it, nothing is
    written, ``[~1]`` stays staged, and once the lock is gone the same commit goes through."""
    holder = Database(db_url, [])
    if not holder.dialect.cancels_lock_waits:
        pytest.skip("the dialect cannot cancel a statement waiting on a lock")
    assert invoke(["--db", db_url, "--models", blog_models, "migrate"]).exit_code == 0
    seeded = invoke(["--db", db_url, "--models", blog_models, "run", "-"], 'add Tag name="t"\n')
    assert seeded.exit_code == 0, seeded.stderr
    q, p = holder.dialect.quote, holder.dialect.placeholder
    conn = holder.connection()
    conn.begin()
    conn.execute(f"UPDATE {q('tag')} SET {q('name')} = {p}", ("held",))
    child = _spawn(tmp_path, ["--db", db_url, "--models", blog_models])
    try:
        child.expect(r">")
        child.sendline('set Tag 1 name="mine"')
        child.expect(r"\[~1\]>")
        child.sendline("commit")
        time.sleep(1.0)  # the UPDATE now waits for the lock
        child.sendintr()
        child.expect("interrupted: nothing was written; the staged work is kept")
        child.expect(r"\[~1\]>")
        conn.rollback()
        child.sendline("commit")
        child.expect("committed 1 update in 1 statement")
        child.sendline('find Tag where name = "mine"')
        child.expect(r"\(1 row in")
        child.sendline("quit")
        child.expect(pexpect.EOF)
    finally:
        child.close()
        holder.close()
    assert child.exitstatus == 0
