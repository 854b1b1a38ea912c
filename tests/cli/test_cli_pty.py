"""End to end in a real pseudo-terminal: type a short session into ``ormcli`` and read the
screen."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pexpect
import pytest

from tests.cli.helpers import invoke

ORMCLI = shutil.which("ormcli", path=str(Path(sys.executable).parent)) or shutil.which("ormcli")


@pytest.mark.skipif(ORMCLI is None, reason="the ormcli console script is not installed")
def test_a_short_session_in_a_terminal(tmp_path: Path, db_url: str, blog_models: str) -> None:
    """Bare ormcli on a terminal starts the REPL; add, status, commit, find, quit."""
    assert invoke(["--db", db_url, "--models", blog_models, "migrate"]).exit_code == 0
    env = {
        **os.environ,
        "NO_COLOR": "1",
        "PROMPT_TOOLKIT_NO_CPR": "1",
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    env.pop("ORMCLI_DB", None)
    assert ORMCLI is not None
    child = pexpect.spawn(
        ORMCLI,
        ["--db", db_url, "--models", blog_models],
        env=env,
        encoding="utf-8",
        timeout=20,
        dimensions=(40, 120),
    )
    try:
        child.expect("type help for commands")
        child.expect(r">")
        child.sendline('add User email="pty@example.com" name="Pty"')
        child.expect(r"@1 User")
        child.expect(r"\[\+1\]>")
        child.sendline("status")
        child.expect("1 to add, 0 to change, 0 to remove")
        child.sendline("commit")
        child.expect(r"committed 1 insert in 1 statement")
        child.sendline('find User where name = "Pty"')
        child.expect(r"\(1 row in [0-9.]+ ms\)")
        child.sendline('add Tag name="left behind"')
        child.expect(r"\[\+1\]>")
        child.sendline("quit")
        child.expect(r"\[c\]ommit, \[d\]iscard or \[s\]tay\?")
        child.sendline("d")
        child.expect("nothing was committed")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0
    history = tmp_path / "config" / "ormcli" / "history"
    assert history.stat().st_mode & 0o777 == 0o600
    assert "pty@example.com" in history.read_text()
