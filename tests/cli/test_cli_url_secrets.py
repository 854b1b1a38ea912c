"""A password in a database URL reaches no output of the command app, by any exit path.

Paths: connect errors (with and without ``--debug`` and its traceback), usage errors (a URL
given where a command was expected), ``ORMCLI_DB`` and ``[tool.ormcli]`` settings, and, on each
server with a real user whose user name and password hold ``/ # ? @ : %`` and a space, a whole
session: the SQL log, ``status --sql``, ``find`` and a commit.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from core import Database, parse_url
from ormcli.app import main
from tests.cli.helpers import invoke

SECRET = "S3cr3t"
MALFORMED = [
    "postgresql://postgres:Pw_S3cr3t/x@127.0.0.1:1/db",
    "mysql://root:Pw_S3cr3t?x@127.0.0.1:1/db",
    "mysql://root:Pw_S3cr3t#x@127.0.0.1:1/db",
    "postgresql://:S3cr3t@127.0.0.1:1/db",
    "postgresql://u@ser:Pw@S3cr3t@127.0.0.1:1/db",
    "mariadb://root:Pw S3cr3t@127.0.0.1:1/db",
    "postgresql://root:Pw%zzS3cr3t@127.0.0.1:1/db",
    "mysql://root:Pw:S3cr3t@127.0.0.1:1/db",
    "mysql://root:Pw_S3cr3t@127.0.0.1:99999/db",
    "mysql://root:Pw_S3cr3t/db",
    "postgres:S3cr3t@127.0.0.1/db",
]


def _run_main(capsys: pytest.CaptureFixture[str], args: list[str]) -> tuple[int, str]:
    """Run the console script's entry point; its exit code and everything it printed."""
    with pytest.raises(SystemExit) as caught:
        main(args)
    out, err = capsys.readouterr()
    code = caught.value.code
    return (code if isinstance(code, int) else 1), out + err


@pytest.mark.parametrize("debug", [[], ["--debug"]], ids=["plain", "debug"])
@pytest.mark.parametrize("url", MALFORMED)
def test_connect_and_url_errors_show_no_password(
    capsys: pytest.CaptureFixture[str], blog_models: str, url: str, debug: list[str]
) -> None:
    """``--db URL find``: one error line (a traceback with ``--debug``), never the password."""
    code, output = _run_main(capsys, [*debug, "--db", url, "--models", blog_models, "find", "Post"])
    assert code in (1, 2)
    assert SECRET not in output and "error: " in output
    assert ("Traceback" in output) == bool(debug)


@pytest.mark.parametrize("url", MALFORMED)
def test_a_url_given_in_place_of_a_command_is_masked_in_the_usage_error(
    capsys: pytest.CaptureFixture[str], url: str
) -> None:
    """Click quotes an unknown command back: the URL in it is masked (exit 2)."""
    code, output = _run_main(capsys, [url, "find", "Post"])
    assert code == 2 and "No such command" in output and SECRET not in output
    code, output = _run_main(capsys, ["find", "Post", f"--db={url}"])
    assert code == 2 and SECRET not in output


@pytest.mark.parametrize("url", MALFORMED)
def test_urls_from_the_environment_and_pyproject_show_no_password(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    blog_models: str,
    url: str,
) -> None:
    """``ORMCLI_DB`` and ``[tool.ormcli] db`` go through the same parser and messages."""
    monkeypatch.setenv("ORMCLI_DB", url)
    code, output = _run_main(capsys, ["--debug", "--models", blog_models, "find", "Post"])
    assert code in (1, 2) and SECRET not in output
    monkeypatch.delenv("ORMCLI_DB")
    (tmp_path / "pyproject.toml").write_text(f'[tool.ormcli]\ndb = "{url}"\n')
    monkeypatch.chdir(tmp_path)
    code, output = _run_main(capsys, ["--models", blog_models, "find", "Post"])
    assert code in (1, 2) and SECRET not in output


def test_an_unparsable_setting_names_its_source_and_not_the_url(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, blog_models: str
) -> None:
    """The usage error says where the URL came from (exit 2)."""
    monkeypatch.setenv("ORMCLI_DB", "mysql://root:Pw_S3cr3t/db")
    code, output = _run_main(capsys, ["--models", blog_models, "find", "Post"])
    assert code == 2
    assert output == (
        "error: ORMCLI_DB: the port in mysql://root:*** is not a number from 1 to 65535 "
        "(a password needs an '@' after it)\n"
    )


# -- a real user with a password on each server ------------------------------------------------

USER_CHARS = "u/#?@ %_"  # a raw % not followed by two hex digits stays a %
PASSWORD = "Pw/#?@: %S3cr3t"


@pytest.fixture
def credentialed_url(db_url: str, backend: str) -> Iterator[str]:
    """``db_url`` with a new user whose name and password hold every special character."""
    parsed = parse_url(db_url)
    if parsed.scheme == "sqlite":
        pytest.skip("a SQLite URL carries no credentials")
    user = f"{USER_CHARS}{uuid.uuid4().hex[:8]}"
    admin = Database(db_url, []).connection()
    # (statements with parameters: a literal '%' is written '%%' on both drivers)
    if backend == "postgresql":
        schema = admin.fetchall("SELECT current_schema()")[0][0]
        quoted = '"' + user.replace('"', '""').replace("%", "%%") + '"'
        literal = PASSWORD.replace("%", "%%")  # (DDL takes no bound parameters on PostgreSQL)
        admin.execute(f"CREATE ROLE {quoted} LOGIN PASSWORD '{literal}'", ())
        admin.execute(f'GRANT ALL ON SCHEMA "{schema}" TO {quoted}', ())
    else:
        quoted = "'" + user.replace("'", "''").replace("%", "%%") + "'"
        admin.execute(f"CREATE USER {quoted}@'%%' IDENTIFIED BY %s", (PASSWORD,))
        admin.execute(f"GRANT ALL ON `{parsed.database}`.* TO {quoted}@'%%'", ())
    # The raw form: user and password unencoded, as a user would paste them.
    rest = db_url.split("://", 1)[1].split("@", 1)[1]
    raw = f"{parsed.scheme}://{user}:{PASSWORD}@{rest}"
    encoded = f"{parsed.scheme}://{quote(user, safe='')}:{quote(PASSWORD, safe='')}@{rest}"
    assert parse_url(raw).password == parse_url(encoded).password == PASSWORD
    try:
        yield raw
    finally:
        if backend == "postgresql":
            admin.execute(f"DROP OWNED BY {quoted}", ())
            admin.execute(f"DROP ROLE {quoted}", ())
        else:
            admin.execute(f"DROP USER {quoted}@'%%'", ())
        admin.close()


def test_a_whole_session_with_a_password_prints_and_logs_none_of_it(
    credentialed_url: str,
    blog_models: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """migrate, add, ``status --sql``, commit, find and ``--debug`` SQL logging: no password
    anywhere in stdout, stderr or the ``core.sql`` log."""
    script = tmp_path / "s.orm"
    script.write_text(
        'add User email="a@x.org" name="Ann"\nstatus --sql\nfind User\n', encoding="utf-8"
    )
    base = ["--debug", "--db", credentialed_url, "--models", blog_models]
    with caplog.at_level(logging.DEBUG, logger="core"):
        migrated = invoke([*base, "migrate"])
        ran = invoke([*base, "run", str(script)])
        found = invoke([*base, "find", "User", "--json"])
    assert migrated.exit_code == 0, migrated.stderr
    assert ran.exit_code == 0, ran.stderr
    assert "INSERT INTO" in ran.stdout and '"a@x.org"' in found.stdout
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "INSERT INTO" in logged
    for text in (migrated.stdout, migrated.stderr, ran.stdout, ran.stderr, found.stdout, logged):
        assert SECRET not in text


def test_a_refused_login_shows_the_user_and_no_password(
    credentialed_url: str, blog_models: str
) -> None:
    """A wrong password (or a refused one) is a connect error naming the masked URL."""
    wrong = credentialed_url.replace(PASSWORD, "Wr0ng/S3cr3t")
    result = invoke(["--db", wrong, "--models", blog_models, "migrate"])
    # PostgreSQL's test server trusts local users and lets any password in; MariaDB refuses.
    assert result.exit_code in (0, 1)
    if result.exit_code:
        assert result.stderr.startswith("error: cannot connect to ") and ":***@" in result.stderr
    assert SECRET not in result.stdout + result.stderr
    debug = invoke(["--debug", "--db", wrong, "--models", blog_models, "migrate"])
    assert SECRET not in debug.stdout + debug.stderr
