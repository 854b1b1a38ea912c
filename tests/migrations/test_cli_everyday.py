"""The everyday model changes of ``test_everyday_changes.CASES``, driven through ``ormcli
migrate`` on every backend: the same table of cases, the command app instead of the API.

Each case: the first version migrated by the CLI and rows stored; the second version's
``--dry-run`` names the change (exit 1 only when a step is blocked); then a safe change
applies (exit 0, ``applied: N statement(s)``), a data-losing one is refused without
``--allow-data-loss`` (exit 1, nothing applied) and applies with it, a blocked one is refused
even with it (exit 1, the database still matches the first version); afterwards ``migrate``
says the schema is up to date and the rows are kept.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from core import Database
from tests.cli.helpers import invoke
from tests.migrations.test_everyday_changes import CASES, Case, _seed

MODEL_FILE = """
from tests.migrations.test_everyday_changes import CASES

_case = next(c for c in CASES if c.name == {name!r})
for _cls in _case.{version}():
    _cls.__module__ = __name__
    globals()[_cls.__name__] = _cls
"""


def _model_file(root: Path, case: Case, version: str) -> str:
    path = root / f"models_{version}.py"
    path.write_text(MODEL_FILE.format(name=case.name, version=version), encoding="utf-8")
    return str(path)


def _migrate(db_url: str, models: str, *args: str) -> object:
    return invoke(["--db", db_url, "--models", models, "migrate", *args])


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_everyday_change_through_the_cli(db_url: str, tmp_path: Path, case: Case) -> None:
    v1, v2 = _model_file(tmp_path, case, "v1"), _model_file(tmp_path, case, "v2")
    created = _migrate(db_url, v1)
    assert created.exit_code == 0, created.stderr
    first = case.v1()
    db = Database(db_url, first)
    _seed(db, first[0], case.rows)
    same = case.same_type_on is not None and case.same_type_on(db.dialect)
    db.close()
    fills = [arg for k, v in case.backfill.items() for arg in ("--backfill", f"{k}={v}")]

    dry = _migrate(db_url, v2, "--dry-run", *fills)
    assert dry.exit_code == (1 if case.outcome == "blocked" else 0), dry.stderr
    if same:
        assert (dry.stdout, dry.stderr) == ("", "the schema is up to date\n")
    else:
        assert case.line in dry.stdout, dry.stdout
        assert "-- SQL" in dry.stdout

    if case.outcome == "blocked":
        refused = _migrate(db_url, v2, "--allow-data-loss", *fills)
        assert refused.exit_code == 1
        assert "(BLOCKED)" in refused.stdout and case.line in refused.stdout
        assert refused.stderr.startswith("error: nothing was applied: ")
        unchanged = _migrate(db_url, v1, "--dry-run")
        assert (unchanged.exit_code, unchanged.stderr) == (0, "the schema is up to date\n")
        db = Database(db_url, first)
        assert db.query(first[0]).count() == len(case.rows)
        db.close()
        return
    if case.outcome == "loss":
        refused = _migrate(db_url, v2, *fills)
        assert refused.exit_code == 1
        assert "(DATA LOSS)" in refused.stdout and case.line in refused.stdout
        assert refused.stderr.startswith("error: nothing was applied: ")
        assert refused.stderr.rstrip().endswith("rerun with --allow-data-loss to accept")
        again = _migrate(db_url, v2, "--dry-run", *fills)
        assert case.line in again.stdout  # still to do: nothing was applied
        applied = _migrate(db_url, v2, "--allow-data-loss", *fills)
    else:
        applied = _migrate(db_url, v2, *fills)
    assert applied.exit_code == 0, applied.stderr
    if same:
        assert applied.stderr == "the schema is up to date\n"
    else:
        assert case.line in applied.stdout
        assert applied.stderr.startswith("applied: ")
    converged = _migrate(db_url, v2)
    assert (converged.exit_code, converged.stdout, converged.stderr) == (
        0,
        "",
        "the schema is up to date\n",
    )
    if case.after is not None:
        second = case.v2()
        db = Database(db_url, second)
        assert case.after(db.query(second[0]).find()) == case.expect
        db.close()
