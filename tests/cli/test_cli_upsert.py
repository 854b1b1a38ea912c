"""``upsert`` in scripts and the REPL, and exit code 4 for a Version conflict in a script."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ormcli.completion import CommandCompleter
from ormcli.language import Upsert, parse
from tests.cli.helpers import invoke, workspace

VERSIONED = """\
from typing import Annotated

from core import AutoIncrement, PrimaryKey, Version, entity


@entity.name("cli_vdoc")
class VDoc:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    title: str = ""
    version: Annotated[int, Version] = 1

    def before_update(self, session):
        # Someone else commits a change to the same row just before this commit is sent.
        if self.title.startswith("mine"):
            other = session.database.create_session()
            other.get(VDoc, self.id).title = "theirs"
            other.commit()
"""


def _users(db_url: str, models: str) -> list[tuple[str, str]]:
    result = invoke(["--db", db_url, "--models", models, "find", "User", "--json"])
    assert result.exit_code == 0, result.stderr
    return sorted((u["email"], u["name"]) for u in json.loads(result.stdout))


def test_the_upsert_line_parses_with_an_optional_on_clause() -> None:
    """``on`` followed by ``=`` is a field; alone it starts the conflict target."""
    line = parse('upsert User email="a@x" name="A" on email')
    assert isinstance(line, Upsert) and line.on == ("email",)
    assert [a.field for a in line.assignments] == ["email", "name"]
    assert parse('upsert Tag id=3 name="db"') == Upsert(
        "Tag", parse('add Tag id=3 name="db"').assignments
    )  # type: ignore[union-attr]
    two = parse("upsert PostTag post=1 tag=2 on post, tag")
    assert isinstance(two, Upsert) and two.on == ("post", "tag")


def test_a_script_upserts_in_one_batch_inserting_and_updating(
    tmp_path: Path, db_url: str, blog_models: str
) -> None:
    """Existing emails get the new name (only the fields on the line are updated), new ones
    are inserted; one upsert statement."""
    base = ["--db", db_url, "--models", blog_models]
    assert invoke([*base, "migrate"]).exit_code == 0
    seed = invoke([*base, "run", "-"], 'add User email="a@x" name="A" bio="kept"\n')
    assert seed.exit_code == 0, seed.stderr
    script = tmp_path / "import.orm"
    script.write_text(
        'upsert User email="a@x" name="A2" on email\n'
        'upsert User email="b@x" name="B" on email\n'
        "status --sql\n"
    )
    result = invoke([*base, "run", str(script)])
    assert result.exit_code == 0, result.stderr
    assert "+~ User @1 (insert, or update the row with the same email)" in result.stdout
    assert "0 to add, 0 to change, 0 to remove, 2 to upsert" in result.stdout
    assert "-- SQL (1 statement):" in result.stdout or "-- SQL (2 statements):" in result.stdout
    assert "ON CONFLICT" in result.stdout or "ON DUPLICATE KEY UPDATE" in result.stdout
    assert result.stderr.splitlines()[-1].startswith("committed 2 upserts in ")
    assert _users(db_url, blog_models) == [("a@x", "A2"), ("b@x", "B")]
    found = invoke([*base, "find", "User", "--json"])
    bios = sorted((u["email"], u["bio"]) for u in json.loads(found.stdout))
    assert bios == [("a@x", "kept"), ("b@x", None)]  # fields not on the line are kept


def test_a_bad_upsert_line_is_one_clear_line(tmp_path: Path, db_url: str, blog_models: str) -> None:
    base = ["--db", db_url, "--models", blog_models]
    assert invoke([*base, "migrate"]).exit_code == 0
    result = invoke([*base, "run", "-"], 'upsert User email="a@x" name="A" on name\n')
    assert result.exit_code == 1
    assert result.stderr == (
        "<stdin>:1: cannot upsert User on name: no primary key or unique constraint covers "
        "exactly those fields; name the key, a Unique field, or the fields of an "
        "@entity.index(..., unique=True) (nothing was committed)\n"
    )


def test_the_repl_stages_shows_undoes_and_commits_an_upsert(db_url: str, blog_models: str) -> None:
    ws = workspace(db_url, blog_models)
    staged = ws.execute(parse('upsert User email="a@x" name="A" on email'))  # type: ignore[arg-type]
    assert staged.upsert and staged.handle == "@1"  # type: ignore[attr-defined]
    assert ws.counts() == (1, 0, 0)
    view = ws.change_set()
    assert [(u.entity, u.label, u.on) for u in view.upserted] == [("User", "@1", ("email",))]
    ws.execute(parse("undo"))  # type: ignore[arg-type]
    assert ws.counts() == (0, 0, 0)
    ws.execute(parse('upsert User email="a@x" name="A" on email'))  # type: ignore[arg-type]
    done = ws.execute(parse("commit"))  # type: ignore[arg-type]
    assert done.upserts == 1  # type: ignore[attr-defined]
    ws.close()


def test_tab_completes_upsert_fields_on_and_the_target() -> None:
    fields = {"User": ["id", "email", "name"]}
    completer = CommandCompleter(
        entities=lambda: ["User"], fields=lambda entity, writable: fields.get(entity, [])
    )

    def complete(text: str) -> list[str]:
        from prompt_toolkit.completion import CompleteEvent
        from prompt_toolkit.document import Document

        return [c.text for c in completer.get_completions(Document(text), CompleteEvent())]

    assert "upsert" in complete("ups")
    assert complete('upsert User email="a@x" ') == ["id=", "name=", "on"]
    assert complete('upsert User email="a@x" on ') == ["id", "email", "name"]
    assert complete('upsert User email="a@x" on em') == ["email"]


@pytest.mark.parametrize("source", ["stdin", "file"])
def test_a_version_conflict_in_a_script_commit_exits_4(
    tmp_path: Path, db_url: str, source: str
) -> None:
    """docs/cli.md: 4 = conflict. A row changed by someone else between the script's load of
    it and the commit at the script's end fails the commit: exit 4, one line, nothing of the
    script written (the other writer's change stays)."""
    models = tmp_path / "vdoc.py"
    models.write_text(VERSIONED)
    base = ["--db", db_url, "--models", str(models)]
    assert invoke([*base, "migrate"]).exit_code == 0
    assert invoke([*base, "run", "-"], 'add VDoc title="a"\n').exit_code == 0
    script = 'set VDoc 1 title="mine"\nadd VDoc title="mine too"\n'
    if source == "file":
        path = tmp_path / "edit.orm"
        path.write_text(script)
        result = invoke([*base, "run", str(path)])
    else:
        result = invoke([*base, "run", "-"], script)
    assert result.exit_code == 4, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "cannot update VDoc 1: it was changed or removed by someone else" in lines[0]
    stored = invoke([*base, "find", "VDoc", "--json"])
    assert [(d["title"], d["version"]) for d in json.loads(stored.stdout)] == [("theirs", 2)]
