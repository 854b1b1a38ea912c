"""Exit codes are exactly the table in docs/cli.md: each documented case is run here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import core
from ormcli import errors
from ormcli.app import main
from tests.cli.helpers import invoke

DOCS = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def _documented() -> dict[int, str]:
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("**Exit codes.**", 1)[1].split("\n## ", 1)[0]
    return {
        int(m.group(1)): m.group(2) for m in re.finditer(r"^\| (\d+) \| (.+) \|$", section, re.M)
    }


def test_the_documented_table_is_the_one_in_errors_py() -> None:
    """docs/cli.md lists 0-4 and 141 and errors.py defines the same numbers."""
    table = _documented()
    assert set(table) == {0, 1, 2, 3, 4, 141}
    assert (errors.EXIT_OK, errors.EXIT_ERROR, errors.EXIT_USAGE) == (0, 1, 2)
    assert (errors.EXIT_OUTCOME_UNKNOWN, errors.EXIT_CONFLICT) == (3, 4)
    assert errors.EXIT_BROKEN_PIPE == 141
    assert table[141].startswith("stdout was closed early")
    assert table[3].startswith("the commit outcome is unknown")
    assert table[4].startswith("conflict")


def test_core_errors_map_to_3_and_4() -> None:
    """A lost COMMIT exits 3, a conflict 4, a bad configuration 2."""
    assert errors.exit_code_for(core.CommitOutcomeUnknownError("lost")) == 3
    assert errors.exit_code_for(core.ConflictError("deadlock")) == 4
    assert errors.exit_code_for(core.ConfigurationError("bad")) == 2


@pytest.fixture
def args(db_url: str, blog_models: str) -> list[str]:
    base = ["--db", db_url, "--models", blog_models]
    assert invoke([*base, "migrate"]).exit_code == 0
    return base


@pytest.mark.parametrize(
    ("argv", "stdin", "code"),
    [
        (["models"], None, 0),
        (["run", "-"], 'add Tag name="a"\n', 0),
        (["repl"], "count Tag\n", 0),
        (["run", "-"], 'add Tag name="a"\nadd Tag nme="b"\n', 1),
        (["repl"], "count Tag\nfind Nope\n", 1),
        (["find", "Tag", "--where", "nme = 1"], None, 2),
        (["find", "Tag", "--where", "name ="], None, 2),
        (["find", "Nope"], None, 2),
        (["find", "Tag", "--format", "xml"], None, 2),
        (["find", "Tag", "--bogus"], None, 2),
        (["run", "no-such-script.orm"], None, 2),
        (["repl", "--seed", "no-such-seed.orm"], "", 2),
    ],
)
def test_each_documented_case_exits_with_its_code(
    args: list[str], argv: list[str], stdin: str | None, code: int
) -> None:
    """The command line, a script, piped REPL input: the code the table gives, and one line."""
    result = invoke([*args, *argv], stdin)
    assert result.exit_code == code, (result.stdout, result.stderr)
    if code and "Usage:" not in result.stderr:  # (Click's own, one line through main())
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.mark.parametrize("argv", [["find", "Tag", "--format", "xml"], ["find", "Tag", "--bogus"]])
def test_a_usage_error_of_the_console_script_is_one_line(
    capsys: pytest.CaptureFixture[str], args: list[str], argv: list[str]
) -> None:
    """The ormcli script turns Click's usage errors into one line naming --help (exit 2)."""
    with pytest.raises(SystemExit) as caught:
        main([*args, *argv])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("error: ") and err.rstrip().endswith("(see ormcli find --help)")


def test_a_missing_model_file_or_url_is_usage(tmp_path: Path) -> None:
    """A model path that does not exist and a bad URL exit 2."""
    assert invoke(["--db", "sqlite:///x.db", "--models", "nowhere.py", "models"]).exit_code == 2
    assert invoke(["--db", "nosuch://x", "models"]).exit_code == 2


def test_a_read_only_command_never_creates_a_database_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, blog_models: str
) -> None:
    """find in an empty folder: exit 2, and no ormcli.db appears."""
    monkeypatch.chdir(tmp_path)
    result = invoke(["--models", blog_models, "find", "User"])
    assert result.exit_code == 2
    assert "no database file ormcli.db" in result.stderr
    assert not (tmp_path / "ormcli.db").exists()


def test_find_help_renders_plain_metavars() -> None:
    """find --help names ENTITY and the options' metavars, never {entity} or <list[str]>
    (typer 0.29, the pinned range, writes a required argument as {ENTITY} in the usage)."""
    result = invoke(["find", "--help"])
    assert result.exit_code == 0
    assert "Usage: ormcli find [OPTIONS] {ENTITY}" in result.stdout
    assert "--order-by FIELD" in result.stdout and "--where EXPR" in result.stdout
    assert "{entity}" not in result.stdout and "<list" not in result.stdout
    assert "--format" in result.stdout and "FORMAT" in result.stdout


def test_version_and_shell_completion(monkeypatch: pytest.MonkeyPatch) -> None:
    """--version prints the version; --show-completion prints the script of the shell it runs
    in (typer finds it in the process tree, which a test run may not have: it is given here)."""
    import typer.completion

    version = invoke(["--version"])
    assert version.exit_code == 0 and version.stdout.startswith("ormcli ")
    monkeypatch.setattr(typer.completion, "_get_shell_name", lambda: "bash")
    completion = invoke(["--show-completion"])
    assert completion.exit_code == 0
    assert "_ORMCLI_COMPLETE" in completion.stdout
