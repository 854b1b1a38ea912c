"""The history file is judged by the parsed command: secret fields and URLs with passwords.

Every case of issue 17 (``==``, ``in (...)``, ``like``, the names ``private_key``/``pwd``/
``pin``, a URL with an empty user name) is kept out of the file, in values, filters and
``where``; lines that only look alike (a value that says "password", ``order by password``)
are kept. The list of secret-looking names is documented and settable.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ormcli.config import resolve
from ormcli.errors import UsageError
from ormcli.history import DEFAULT_SECRET_FIELDS, PrivateHistory, is_sensitive, looks_secret
from tests.cli.helpers import drive, workspace

NEVER_WRITTEN = [
    'find User where password == "hunter2"',
    'find User where password = "hunter2"',
    'find User where pwd in ("hunter2", "x")',
    'find User where not pwd in ("hunter2")',
    'count User where private_key like "hunter2%"',
    'remove User where pin = 1234 and name == "a"',
    'find User where (name == "a" or token != "hunter2")',
    'add User email="a@x.org" name="a" pin=1234',
    'set User 1 private_key="hunter2"',
    'set User 1 apiKey="hunter2"',
    'add Post title="t" meta={"password": "hunter2"}',
    'add Post title="t" meta={"dsn": "postgresql://:hunter2@host/db"}',
    'add Post title="postgresql://:hunter2@host/db"',
    'add Post title="mysql://root:hunter2/x@host/db"',
    'find Post where title == "mysql://u:hunter2@h/db"',
    'find Post where title like "postgresql://u:hunter2@%"',
    "load postgresql://u:hunter2@h/db",
    'find User wher password == "hunter2"',  # does not parse: judged by its words
    "find User where pwd ==",  # does not parse either
]

KEPT = [
    'find User where name == "password"',
    'add User email="a@x.org" name="Ann"',
    "find User order by password",
    "find User where password is null",
    'add Post title="see postgresql://u@host/db"',
    "find User where pinned = True",
    'find User where keyword == "x"',
    'find Post where author == 1 and title like "a%"',
    "status --sql",
]


@pytest.mark.parametrize("line", NEVER_WRITTEN)
def test_secret_lines_are_never_written(line: str, tmp_path: Path) -> None:
    """The line is judged sensitive and does not reach the file."""
    assert is_sensitive(line)
    history = PrivateHistory(tmp_path / "history")
    history.append_string(line)
    assert "hunter2" not in (tmp_path / "history").read_text()


@pytest.mark.parametrize("line", KEPT)
def test_lines_that_only_look_alike_are_kept(line: str, tmp_path: Path) -> None:
    """A value that says "password", a field that is only ordered by or tested for null."""
    assert not is_sensitive(line)
    history = PrivateHistory(tmp_path / "history")
    history.append_string(line)
    assert line in (tmp_path / "history").read_text()


def test_secret_names_match_whole_names_and_words() -> None:
    """Patterns match the name, the name without separators, and each word of it."""
    for name in (
        "password",
        "hashed_password",
        "pwd",
        "pin",
        "private_key",
        "apiKey",
        "APIKey",
        "sessionToken",
        "client-secret",
        "user.password",
        "otp",
    ):
        assert looks_secret(name), name
    for name in ("name", "author", "pinned", "keyword", "monkey", "spin", "title"):
        assert not looks_secret(name), name


def test_the_secret_field_list_is_settable(tmp_path: Path) -> None:
    """``ORMCLI_SECRET_FIELDS`` wins over ``[tool.ormcli] secret_fields``; unset: defaults."""
    (tmp_path / "pyproject.toml").write_text('[tool.ormcli]\nsecret_fields = ["nickname"]\n')
    assert resolve(None, [], env={}, cwd=tmp_path).secret_fields == ("nickname",)
    env = {"ORMCLI_SECRET_FIELDS": "motto, *pet*"}
    assert resolve(None, [], env=env, cwd=tmp_path).secret_fields == ("motto", "*pet*")
    elsewhere = tmp_path.parent / f"{tmp_path.name}-none"  # no pyproject.toml above it
    assert resolve(None, [], env={}, cwd=elsewhere).secret_fields is None
    history = PrivateHistory(tmp_path / "h", ("nickname",))
    history.append_string('find User where nickname == "bob"')
    history.append_string('find User where password == "kept-now"')
    text = (tmp_path / "h").read_text()
    assert "bob" not in text and "kept-now" in text
    (tmp_path / "pyproject.toml").write_text('[tool.ormcli]\nsecret_fields = "pwd"\n')
    with pytest.raises(UsageError):
        resolve(None, [], env={}, cwd=tmp_path)
    assert "pwd" in DEFAULT_SECRET_FIELDS


def test_the_repl_writes_ordinary_lines_and_keeps_secret_ones_out(
    db_url: str, blog_models: str, tmp_path: Path
) -> None:
    """Typed into a REPL on every backend: the file holds only the harmless lines."""
    ws = workspace(db_url, blog_models)
    path = tmp_path / "history"
    keys = (
        'add User email="a@x.org" name="Ann"\n'
        'find User where name == "Ann"\n'
        'add Post author=@1 title="t" meta={"token": "hunter2"}\n'
        'find User where email in ("hunter2@x.org") or bio like "postgresql://:hunter2@h/db"\n'
        "rollback\nquit\n"
    )
    screen, code = drive(ws, keys, history=PrivateHistory(path))
    ws.close()
    text = path.read_text()
    assert code == 0, screen
    assert 'add User email="a@x.org" name="Ann"' in text and "rollback" in text
    assert "hunter2" not in text
