"""Output modes, the default row limit, pipes and the pager."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import sys
from pathlib import Path

import pexpect
import pytest

from tests.cli.helpers import drive, invoke, workspace

ORMCLI = shutil.which("ormcli", path=str(Path(sys.executable).parent)) or shutil.which("ormcli")


def _seeded(db_url: str, blog_models: str, users: int) -> list[str]:
    args = ["--db", db_url, "--models", blog_models]
    assert invoke([*args, "migrate"]).exit_code == 0
    lines = "".join(f'add User email="u{i}@x" name="User {i:03}"\n' for i in range(users))
    lines += 'add User email="n@x" name="Null, \\"quoted\\"" bio=None\n'
    result = invoke([*args, "run", "-"], lines)
    assert result.exit_code == 0, result.stderr
    return args


def test_find_format_csv_and_json_to_a_pipe(db_url: str, blog_models: str) -> None:
    """find --format csv: a header, quoting where needed, null as an empty field, the row
    count on stderr; --format json and jsonl: typed values, null as null."""
    args = _seeded(db_url, blog_models, 3)
    result = invoke([*args, "find", "User", "--order-by", "email", "--format", "csv"])
    assert result.exit_code == 0, result.stderr
    table = list(csv.reader(io.StringIO(result.stdout)))
    assert table[0] == ["id", "email", "name", "joined", "bio"]
    assert table[1][1:3] == ["n@x", 'Null, "quoted"'] and table[1][4] == ""
    assert result.stderr == "(4 rows)\n"
    rows = json.loads(invoke([*args, "find", "User", "-o", "email", "-f", "json"]).stdout)
    assert rows[0]["bio"] is None and isinstance(rows[0]["id"], int)
    lines = invoke([*args, "find", "User", "-o", "email", "-f", "jsonl"]).stdout.splitlines()
    assert [json.loads(line)["email"] for line in lines] == ["n@x", "u0@x", "u1@x", "u2@x"]


def test_a_bad_format_is_a_usage_error(db_url: str, blog_models: str) -> None:
    """--format xml exits 2 naming the formats."""
    result = invoke(["--db", db_url, "--models", blog_models, "find", "User", "-f", "xml"])
    assert result.exit_code == 2
    assert "table, vertical, csv, tsv, json, jsonl" in result.stderr


def test_the_repl_on_a_pipe_prints_no_banner_and_footers_on_stderr(
    db_url: str, blog_models: str
) -> None:
    """ormcli repl < lines: stdout holds only data (no banner, no padding), footers on stderr."""
    args = _seeded(db_url, blog_models, 2)
    result = invoke([*args, "repl"], 'find User where name like "User%" order by name\n')
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0].split() == ["id", "email", "name", "joined", "bio"]
    assert not any(line.endswith(" ") for line in result.stdout.splitlines())
    assert "ormcli —" not in result.stdout
    assert "(2 rows)" in result.stderr


def test_option_changes_the_format_and_the_row_limit(db_url: str, blog_models: str) -> None:
    """find shows 200 rows and says how many matched; option limit and --all change that;
    option format csv writes CSV; a bad option value names the choices; limit 0 is all."""
    _seeded(db_url, blog_models, 250)
    ws = workspace(db_url, blog_models)
    keys = "find User\nfind User --all\nfind User limit 5\noption limit 10\nfind User\n"
    keys += "option format csv\nfind User limit 1\noption format xml\noption\n"
    keys += "option limit 0\noption limit -3\n"
    screen, _ = drive(ws, keys)
    assert "(showing 200 of 251 rows — limit N or --all)" in screen
    assert "(251 rows)" in screen
    assert "(5 rows)" in screen
    assert "limit = 10" in screen
    assert "(showing 10 of 251 rows — limit N or --all)" in screen
    assert "id,email,name,joined,bio" in screen
    assert "error: format 'xml' is not one of table, vertical, csv, tsv, json, jsonl" in screen
    assert "format = csv" in screen and "timing = on" in screen
    assert "limit = all" in screen  # 0 means all, as in the settings file
    assert "error: limit takes a number of rows, or all (or 0), got '-3'" in screen
    ws.close()


@pytest.mark.skipif(ORMCLI is None, reason="the ormcli console script is not installed")
def test_output_taller_than_the_terminal_goes_through_the_pager(
    tmp_path: Path, db_url: str, blog_models: str
) -> None:
    """In a 24-line terminal, 30 rows go to $PAGER; 3 rows do not; option pager off stops it."""
    args = _seeded(db_url, blog_models, 30)
    env = {
        **os.environ,
        "NO_COLOR": "1",
        "PROMPT_TOOLKIT_NO_CPR": "1",
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "PAGER": "sed s/^/PAGED:/",
    }
    assert ORMCLI is not None
    child = pexpect.spawn(ORMCLI, args, env=env, encoding="utf-8", timeout=20, dimensions=(24, 120))
    try:
        child.expect(">")
        child.sendline("find User")
        child.expect(r"PAGED:.*\(31 rows in [0-9.]+ ms\)")
        child.expect(">")
        child.sendline("find User limit 3")
        child.expect(r"\(3 rows in [0-9.]+ ms\)")
        assert "PAGED:" not in child.before
        child.sendline("option pager off")
        child.expect("pager = off")
        child.sendline("find User where id > 0")
        child.expect(r"\(31 rows in")
        assert "PAGED:" not in child.before
        child.sendline("quit")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0
