"""A reader that stops early (``ormcli find X | head -1``) ends the command quietly.

Each test runs ``python -m ormcli`` as a subprocess whose stdout is a pipe we close after the
first line, with more output to come than the pipe holds (64 KiB), so the command's next write
meets EPIPE. Expected, as a shell tool killed by SIGPIPE: exit 141, nothing on stderr about
it (no ``error:``, no traceback, no "Exception ignored" at shutdown), and what was not done is
not done (a script commits nothing, a dry run creates nothing). On every backend.

The subprocess runs without ``PYTHONUNBUFFERED``, as a user's shell does: with it, Python
writes stdout unbuffered and drops the rest of a write the closed pipe cut short without an
error, so the last chunk of output can vanish silently (exit 0) instead of meeting EPIPE.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ormcli.errors import EXIT_BROKEN_PIPE
from tests.cli.helpers import invoke

#: Tag names long enough that a few thousand rows are far more than a pipe holds.
ROWS = 4000
PAD = "x" * 40


def _cut_after_first_line(args: list[str], stdin: str | None = None) -> tuple[int, str, str]:
    """Run ``ormcli ARGS``; read one line of stdout, close it; (exit code, line, stderr)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "ormcli", *args],
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"},
    )
    assert proc.stdin is not None or stdin is None
    if stdin is not None and proc.stdin is not None:
        proc.stdin.write(stdin)  # a few KiB: fits the pipe, no deadlock
        proc.stdin.close()
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read()
    return proc.wait(timeout=120), first, err


def _assert_quiet(err: str) -> None:
    assert "error" not in err.lower()
    assert "Traceback" not in err
    assert "Exception ignored" not in err
    assert "BrokenPipe" not in err


@pytest.fixture
def tags(db_url: str, blog_models: str, tmp_path: Path) -> list[str]:
    """The blog models migrated with ROWS long tags; the CLI's common arguments."""
    base = ["--db", db_url, "--models", blog_models]
    assert invoke([*base, "migrate"]).exit_code == 0
    seed = tmp_path / "tags.orm"
    seed.write_text("".join(f'add Tag name="{PAD}{i}"\n' for i in range(ROWS)))
    assert invoke([*base, "run", str(seed)]).exit_code == 0
    return base


def _count_tags(base: list[str]) -> str:
    result = invoke([*base, "find", "Tag", "--select", "n=count()", "--format", "csv"])
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()[-1]


@pytest.mark.parametrize("fmt", ["table", "json", "csv"])
def test_find_into_a_closed_pipe_exits_141_without_a_word(tags: list[str], fmt: str) -> None:
    """`find Tag | head -1`: the header (or the first JSON line) arrives, then exit 141 and
    an empty stderr apart from the row footer."""
    code, first, err = _cut_after_first_line([*tags, "find", "Tag", "--format", fmt])
    assert code == EXIT_BROKEN_PIPE
    assert first.strip()
    _assert_quiet(err)


def test_run_into_a_closed_pipe_stops_and_commits_nothing(tags: list[str], tmp_path: Path) -> None:
    """A script whose output is cut stops there: exit 141, and its staged add is not
    committed (the script is one unit of work, cut before its end)."""
    script = tmp_path / "finds.orm"
    script.write_text('add Tag name="late"\n' + "find Tag limit 5000\n" * 5)
    code, first, err = _cut_after_first_line([*tags, "run", str(script)])
    assert code == EXIT_BROKEN_PIPE
    assert first.strip()
    _assert_quiet(err)
    assert _count_tags(tags) == str(ROWS)


def test_repl_fed_from_a_pipe_ends_quietly_when_its_output_closes(tags: list[str]) -> None:
    """`ormcli repl < lines | head -1`: exit 141 and no error line; staged work is dropped."""
    lines = 'add Tag name="staged"\n' + "find Tag limit 5000\n" * 5
    code, first, err = _cut_after_first_line([*tags, "repl"], stdin=lines)
    assert code == EXIT_BROKEN_PIPE
    assert first.strip()
    _assert_quiet(err)
    assert _count_tags(tags) == str(ROWS)


def test_migrate_plan_into_a_closed_pipe_exits_141_and_applies_nothing(
    db_url: str, tmp_path: Path
) -> None:
    """`migrate --dry-run | head -1` on a plan longer than a pipe holds: exit 141, quiet,
    and the database still has none of the plan's tables."""
    models = tmp_path / "many.py"
    fields = "".join(f"    field_{n}: Annotated[str, MaxLength(80)] = ''\n" for n in range(12))
    models.write_text(
        "from typing import Annotated\n"
        "from core import AutoIncrement, MaxLength, PrimaryKey, entity\n"
        + "".join(
            f"@entity\nclass Wide{i}:\n"
            "    id: Annotated[int, PrimaryKey, AutoIncrement] = 0\n" + fields
            for i in range(120)
        )
    )
    base = ["--db", db_url, "--models", str(models)]
    code, first, err = _cut_after_first_line([*base, "migrate", "--dry-run"])
    assert code == EXIT_BROKEN_PIPE
    assert first.startswith("+ ")
    _assert_quiet(err)
    check = invoke([*base, "migrate", "check"])
    assert check.exit_code == 1
    assert "wide0" in check.output.lower()
