"""Batch scripts: one unit of work, file:line errors, --dry-run, stdin."""

from __future__ import annotations

from pathlib import Path

from tests.cli.helpers import invoke

GOOD = """\
# a comment, then a blank line

migrate
add User email="ann@example.com" name="Ann"
add Post author=@1 title="First"
add User email="bob@example.com" name="Bob"
"""
BROKEN = GOOD.replace(
    'add User email="bob@example.com" name="Bob"', 'add User email="bob@example.com" name=7'
)


def count_users(db_url: str, models: str) -> str:
    result = invoke(["--db", db_url, "--models", models, "find", "User", "--json"])
    assert result.exit_code == 0, result.stderr
    return str(result.stdout.count('"email"'))


def test_a_failing_line_in_the_middle_commits_nothing(
    tmp_path: Path, db_url: str, blog_models: str
) -> None:
    """The bad line stops the script with file:line: message and exit 1; no row is written."""
    script = tmp_path / "seed.orm"
    script.write_text(BROKEN)
    result = invoke(["--db", db_url, "--models", blog_models, "run", str(script)])
    assert result.exit_code == 1
    assert result.stderr.endswith(
        f"{script}:6: User.name expects str, got 7 (nothing was committed)\n"
    )
    assert count_users(db_url, blog_models) == "0"


def test_the_same_script_fixed_commits_everything(
    tmp_path: Path, db_url: str, blog_models: str
) -> None:
    """Fixed, the script commits all its lines at its end."""
    script = tmp_path / "seed.orm"
    script.write_text(GOOD)
    result = invoke(["--db", db_url, "--models", blog_models, "run", str(script)])
    assert result.exit_code == 0, result.stderr
    assert result.stderr.splitlines()[-1].startswith("committed 3 inserts in ")
    assert count_users(db_url, blog_models) == "2"


def test_a_parse_error_anywhere_stops_the_script_before_it_runs(
    db_url: str, blog_models: str
) -> None:
    """Every line is parsed first: a bad last line runs nothing, not even migrate."""
    result = invoke(
        ["--db", db_url, "--models", blog_models, "run", "-"], input=GOOD + "add User name=\n"
    )
    assert result.exit_code == 1
    assert result.stderr == "<stdin>:7: expected a value after 'name=', got end of line\n"
    tables = invoke(["--db", db_url, "--models", blog_models, "migrate", "--dry-run"])
    assert "CREATE TABLE" in tables.stdout


def test_commit_lines_are_refused_in_a_script(db_url: str, blog_models: str) -> None:
    """A script commits once, at its end; an explicit commit line is an error."""
    result = invoke(["--db", db_url, "--models", blog_models, "run", "-"], input=GOOD + "commit\n")
    assert result.exit_code == 1
    assert result.stderr == (
        "<stdin>:7: commit is not allowed in a script "
        "(a script commits once, at its end; use --dry-run to commit nothing)\n"
    )


def test_dry_run_prints_the_change_set_and_sql_and_commits_nothing(
    db_url: str, blog_models: str
) -> None:
    """--dry-run shows + lines, the summary and the SQL; the database stays empty."""
    invoke(["--db", db_url, "--models", blog_models, "migrate"])
    result = invoke(["--db", db_url, "--models", blog_models, "run", "--dry-run", "-"], input=GOOD)
    assert result.exit_code == 0, result.stderr
    assert "+ User @1" in result.stdout
    assert "3 to add, 0 to change, 0 to remove" in result.stdout
    assert "-- SQL (" in result.stdout and "INSERT INTO" in result.stdout
    assert "ann@example.com" not in result.stdout.split("-- SQL")[1].split("params")[0]
    assert result.stderr.endswith("dry run: nothing was committed\n")
    assert count_users(db_url, blog_models) == "0"


def test_a_failing_commit_at_the_end_exits_1_and_names_the_constraint(
    db_url: str, blog_models: str
) -> None:
    """Running the seed twice violates the unique email: the second run commits nothing."""
    args = ["--db", db_url, "--models", blog_models, "run", "-"]
    assert invoke(args, input=GOOD).exit_code == 0
    again = invoke(args, input=GOOD)
    assert again.exit_code == 1
    lines = again.stderr.splitlines()
    assert len(lines) == 1  # one line: what failed and that nothing was written
    assert lines[-1].startswith("<stdin>: commit failed: ")
    assert "commit failed: commit failed" not in lines[-1]
    assert lines[-1].endswith("(nothing was written; the staged work is kept)")
    assert "User" in lines[-1] and "email" in lines[-1]
    assert count_users(db_url, blog_models) == "2"


def test_a_missing_script_is_an_error(db_url: str, blog_models: str) -> None:
    """run with a path that does not exist says so: usage, exit 2 (as a missing model file)."""
    result = invoke(["--db", db_url, "--models", blog_models, "run", "nope.orm"])
    assert result.exit_code == 2
    assert result.stderr == "error: script not found: nope.orm\n"


def test_the_blog_seed_sample_runs(db_url: str, blog_models: str) -> None:
    """sample_models/blog_seed.orm fills the blog in one commit."""
    seed = str(Path(blog_models).with_name("blog_seed.orm"))
    result = invoke(["--db", db_url, "--models", blog_models, "run", seed])
    assert result.exit_code == 0, result.stderr
    assert result.stderr.splitlines()[-1].startswith("committed 19 inserts in ")
