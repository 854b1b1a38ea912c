"""The Typer command app: every command, its error paths and its exit codes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.cli.helpers import invoke


def seed(db_url: str, models: str) -> None:
    script = 'migrate\nadd User email="ann@example.com" name="Ann"\n'
    script += 'add User email="bob@example.com" name="Bob"\nadd Post author=@1 title="Hi"\n'
    result = invoke(["--db", db_url, "--models", models, "run", "-"], input=script)
    assert result.exit_code == 0, result.stderr


def test_version_prints_the_version() -> None:
    """--version prints the distribution version and exits 0."""
    result = invoke(["--version"])
    assert result.exit_code == 0
    assert result.stdout.startswith("ormcli ")


def test_bare_ormcli_without_a_terminal_is_a_usage_error() -> None:
    """Without a command and without a terminal there is nothing to do: exit 2, one line."""
    result = invoke([])
    assert result.exit_code == 2
    assert result.stderr == (
        "error: no command given and stdin is not a terminal "
        "(to run a script from stdin: ormcli run -; see ormcli --help)\n"
    )


def test_migrate_dry_run_prints_sql_and_creates_nothing(db_url: str, blog_models: str) -> None:
    """--dry-run prints CREATE statements to stdout; a second dry run still prints them."""
    args = ["--db", db_url, "--models", blog_models, "migrate", "--dry-run"]
    first = invoke(args)
    assert first.exit_code == 0
    assert "CREATE TABLE" in first.stdout and "user" in first.stdout
    assert re.fullmatch(r"dry run: not run: \d+ statement\(s\)\n", first.stderr)
    assert "+ create table user (" in first.stdout
    assert invoke(args).stdout == first.stdout


def test_migrate_creates_tables_once(db_url: str, blog_models: str) -> None:
    """migrate applies the plan; running it again reports an up-to-date schema."""
    args = ["--db", db_url, "--models", blog_models, "migrate"]
    first = invoke(args)
    assert first.exit_code == 0
    assert re.fullmatch(r"applied: \d+ statement\(s\)\n", first.stderr)
    assert "+ create table user (" in first.stdout
    again = invoke(args)
    assert again.exit_code == 0
    assert again.stdout == ""
    assert again.stderr == "the schema is up to date\n"


def test_models_lists_entities_and_one_entity_in_detail(blog_models: str, db_url: str) -> None:
    """models prints a table of entities; models ENTITY the fields with types and keys."""
    result = invoke(["--db", db_url, "--models", blog_models, "models"])
    assert result.exit_code == 0
    assert "User" in result.stdout and "Comment" in result.stdout
    detail = invoke(["--db", db_url, "--models", blog_models, "models", "Post"])
    lines = [" ".join(line.split()) for line in detail.stdout.splitlines()]
    assert "author User → User" in lines
    assert "id int primary key, auto" in lines


def test_find_prints_a_table_and_json(db_url: str, blog_models: str) -> None:
    """find --where/--order-by/--limit filters; --json prints plain JSON with keys for refs."""
    seed(db_url, blog_models)
    base = ["--db", db_url, "--models", blog_models, "find"]
    table = invoke([*base, "User", "--order-by", "-name"])
    assert table.exit_code == 0
    names = [line.split()[2] for line in table.stdout.splitlines() if "@example.com" in line]
    assert names == ["Bob", "Ann"]
    as_json = invoke([*base, "Post", "--where", 'title like "H%"', "--json"])
    assert as_json.exit_code == 0
    rows = json.loads(as_json.stdout)
    assert [(r["author"], r["title"]) for r in rows] == [(1, "Hi")]
    limited = invoke([*base, "User", "--limit", "1", "--json"])
    assert len(json.loads(limited.stdout)) == 1


def test_a_bad_url_is_a_usage_error_in_one_line(blog_models: str) -> None:
    """An unknown URL scheme exits 2 with one line and no traceback."""
    result = invoke(["--db", "nosuch://x", "--models", blog_models, "models"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ")
    assert len(result.stderr.splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_a_password_in_the_url_never_reaches_the_output(blog_models: str) -> None:
    """A failing connection message masks the password."""
    url = "postgresql://alice:s3cret-pw@127.0.0.1:1/nodb"
    result = invoke(["--db", url, "--models", blog_models, "migrate"])
    assert result.exit_code != 0
    assert "s3cret-pw" not in result.stdout + result.stderr


def test_a_missing_model_file_is_a_usage_error(db_url: str) -> None:
    """A model path that does not exist exits 2 naming the path."""
    result = invoke(["--db", db_url, "--models", "nowhere/models.py", "models"])
    assert result.exit_code == 2
    assert result.stderr == "error: model file not found: nowhere/models.py\n"


def test_a_model_file_with_a_syntax_error_names_file_and_line(tmp_path: Path, db_url: str) -> None:
    """A syntax error is reported as file:line, exit 1."""
    bad = tmp_path / "bad.py"
    bad.write_text("from core import entity\n\n@entity\nclass X(:\n    pass\n")
    result = invoke(["--db", db_url, "--models", str(bad), "models"])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {bad}:4: syntax error: ")


def test_a_model_file_without_entities_is_refused(tmp_path: Path, db_url: str) -> None:
    """A file that defines no entity says so."""
    empty = tmp_path / "empty.py"
    empty.write_text("class NotAnEntity:\n    pass\n")
    result = invoke(["--db", db_url, "--models", str(empty), "models"])
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: {empty} defines no entities (decorate classes with @entity)\n"
    )


def test_two_entities_with_the_same_name_are_refused(tmp_path: Path, db_url: str) -> None:
    """Two model files defining User clash."""
    for name in ("a.py", "b.py"):
        (tmp_path / name).write_text(
            "from typing import Annotated\nfrom core import entity, PrimaryKey\n\n"
            "@entity\nclass User:\n    id: Annotated[int, PrimaryKey]\n"
        )
    result = invoke(
        ["--db", db_url, "-m", str(tmp_path / "a.py"), "-m", str(tmp_path / "b.py"), "models"]
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("error: two entities are named 'user': User (")


def test_an_unknown_entity_is_an_error(db_url: str, blog_models: str) -> None:
    """find on an entity that is not loaded: usage (exit 2), a suggestion and the known ones."""
    assert invoke(["--db", db_url, "--models", blog_models, "migrate"]).exit_code == 0
    result = invoke(["--db", db_url, "--models", blog_models, "find", "Usr"])
    assert result.exit_code == 2
    assert result.stderr == (
        "error: unknown entity 'Usr' — did you mean 'User'? "
        "(known: Comment, Post, PostTag, Tag, User)\n"
    )


def test_a_bad_where_option_is_a_usage_error(db_url: str, blog_models: str) -> None:
    """--where text that does not parse exits 2."""
    result = invoke(["--db", db_url, "--models", blog_models, "find", "User", "--where", "id ="])
    assert result.exit_code == 2
    assert result.stderr == "error: --where: expected a value after 'id =', got end of line\n"


def test_a_bad_value_names_field_type_and_text(db_url: str, blog_models: str) -> None:
    """A value of the wrong type in --where names entity.field, expected type and the text."""
    seed(db_url, blog_models)
    result = invoke(
        ["--db", db_url, "--models", blog_models, "find", "User", "--where", 'id = "x"']
    )
    assert result.exit_code == 1
    assert result.stderr == 'error: User.id expects int, got "x"\n'


def test_an_unknown_option_is_exit_2(db_url: str) -> None:
    """Typer's usage errors keep exit code 2."""
    result = invoke(["--db", db_url, "find"])
    assert result.exit_code == 2


def test_settings_come_from_environment_and_pyproject(
    tmp_path: Path, blog_models: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ORMCLI_DB and [tool.ormcli] feed --db and --models."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text(
        f'[tool.ormcli]\ndb = "sqlite:///from_pyproject.db"\nmodels = ["{blog_models}"]\n'
    )
    assert invoke(["migrate"]).exit_code == 0
    assert (tmp_path / "from_pyproject.db").exists()
    monkeypatch.setenv("ORMCLI_DB", "sqlite:///from_env.db")
    assert invoke(["migrate"]).exit_code == 0
    assert (tmp_path / "from_env.db").exists()


def test_debug_shows_a_traceback(db_url: str) -> None:
    """--debug adds the traceback to the one-line error."""
    result = invoke(["--debug", "--db", db_url, "--models", "nowhere.py", "models"])
    assert result.exit_code == 2
    assert "Traceback" in result.stderr
    assert result.stderr.rstrip().endswith("error: model file not found: nowhere.py")


def test_repl_seed_runs_the_script_on_a_new_database_only(db_url: str, blog_models: str) -> None:
    """repl --seed fills a new database first; the second start finds rows and skips it."""
    seed = str(Path(blog_models).with_name("blog_seed.orm"))
    args = ["--db", db_url, "--models", blog_models, "repl", "--seed", seed]
    first = invoke(args, input="count Post\nquit\n")
    assert first.exit_code == 0, first.stderr
    assert "committed 19 inserts in " in first.stderr
    assert first.stdout == "3\n"  # no banner, no padding: stdout is not a terminal
    second = invoke(args, input="quit\n")
    assert second.exit_code == 0
    assert "committed" not in second.stderr
