"""The input features in a real pseudo-terminal: a bracketed paste of two lines runs both, an
open bracket continues the command on the next line, the sandbox prompt shows (the toolbar
needs cursor position reports, which these tests turn off)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pexpect
import pytest

from tests.cli.helpers import invoke

ORMCLI = shutil.which("ormcli", path=str(Path(sys.executable).parent)) or shutil.which("ormcli")
pytestmark = pytest.mark.skipif(ORMCLI is None, reason="the ormcli console script is not installed")


def _spawn(tmp_path: Path, args: list[str]) -> pexpect.spawn:
    env = {
        **os.environ,
        "NO_COLOR": "1",
        "PROMPT_TOOLKIT_NO_CPR": "1",
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    assert ORMCLI is not None
    return pexpect.spawn(ORMCLI, args, env=env, encoding="utf-8", timeout=20, dimensions=(30, 160))


def test_paste_multi_line_entry_and_the_toolbar_in_a_sandbox(
    tmp_path: Path, db_url: str, blog_models: str
) -> None:
    """In repl --sandbox: the prompt says sandbox; a pasted block of two adds stages two; a
    dict left open continues on the next line; commit runs; leaving rolls everything back."""
    args = ["--db", db_url, "--models", blog_models]
    assert invoke([*args, "migrate"]).exit_code == 0
    child = _spawn(tmp_path, [*args, "repl", "--sandbox"])
    try:
        child.expect("sandbox: commits run in one transaction")
        child.expect(r"\(sandbox\)>")
        child.send('\x1b[200~add Tag name="a"\nadd Tag name="b"\n\x1b[201~')
        child.send("\r")
        child.expect(r"@2 Tag")
        child.expect(r"\[\+2\]>")
        child.send('add User email="u@x" name="U" bio="x"\r')
        child.expect(r"\[\+3\]>")
        child.send('add Post author=@3 title="T" meta={"k": "v",\r')
        child.send('"l": "w"}\r')
        child.expect(r'\{"k": "v", "l": "w"\}')
        child.send("commit\r")
        child.expect(r"committed 4 inserts")
        child.send("count Tag\r")
        child.expect(r"[^0-9]2\r\n")
        child.send("quit\r")
        child.expect("sandbox: every commit of this session was rolled back")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0
    assert invoke([*args, "find", "Tag", "-f", "csv"]).stdout == "id,name\n"
