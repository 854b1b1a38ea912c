"""The relations bench (``bench/relations.py``): every implementation does the checked work.

Each worker run is checked inside (S8 must fill 10,000 posts and 20,000 tags into the
collections, S9 must leave the 1,000 posts moved in the database), so a worker that returns
proves the implementation did the scenario's work. SQLite only: the bench's own data.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import relations
from bench.backends import parse_backend


@pytest.mark.parametrize("impl", ["raw", "raw-fk-off", "ormcli", "sqlalchemy", "peewee"])
def test_each_implementation_does_the_checked_work(impl: str, tmp_path: Path) -> None:
    """(A peer not installed — the ``[bench]`` extra — is skipped.)"""
    if impl in ("sqlalchemy", "peewee"):
        pytest.importorskip(impl)
    backend = parse_backend(f"sqlite:///{tmp_path / 'rel.db'}")
    relations.prepare(backend)
    times = relations.worker(impl, backend)
    assert set(times) == {"S8", "S9", "cpu"} and times["S8"] > 0 and times["S9"] > 0
    assert set(times["cpu"]) == {"S8", "S9"} and all(t > 0 for t in times["cpu"].values())


def test_the_sqlite_floor_enforces_foreign_keys_as_ormcli_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The floor's connection has ``PRAGMA foreign_keys`` on (ormcli's adapter turns it on);
    only the extra ``raw-fk-off`` row has it off, and a worker whose setting is not the one
    expected fails."""
    backend = parse_backend(f"sqlite:///{tmp_path / 'rel.db'}")
    relations.prepare(backend)
    floor, off = relations.Raw(backend), relations.Raw(backend, foreign_keys=False)
    try:
        assert floor.sqlite_foreign_keys() and not off.sqlite_foreign_keys()
    finally:
        floor.close()
        off.close()
    monkeypatch.setitem(relations.FOREIGN_KEYS, "ormcli", False)
    with pytest.raises(AssertionError, match="ormcli ran with SQLite foreign keys on"):
        relations.worker("ormcli", backend)


def test_a_run_that_does_less_fails() -> None:
    with pytest.raises(AssertionError, match="S8: loaded 9999 posts"):
        relations.check_loaded(9_999, 20_000)


def test_the_moves_send_each_tenth_post_to_the_next_author() -> None:
    assert relations.moved_posts()[:2] == [10, 20] and len(relations.moved_posts()) == 1000
    assert relations.home_of(10) == 10 and relations.new_home(10) == 11
    assert relations.home_of(1000) == 1000 and relations.new_home(1000) == 1


def test_the_django_peer_runs_standalone_in_its_own_process(tmp_path: Path) -> None:
    """Django is configured once per process (``settings.configure``): its worker runs the
    scenarios in a process of its own, as the bench runs every worker."""
    import json
    import subprocess
    import sys

    pytest.importorskip("django")
    url = f"sqlite:///{tmp_path / 'rel.db'}"
    relations.prepare(parse_backend(url))
    done = subprocess.run(
        [sys.executable, "-m", "bench.relations", "--worker", "django", "--backends", url],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(relations.__file__).resolve().parent.parent,
    )
    assert done.returncode == 0, done.stderr
    assert set(json.loads(done.stdout.splitlines()[-1])) == {"S8", "S9", "cpu"}
