"""Statements are logged on core.sql; errors come from one tree and name the culprit."""

from __future__ import annotations

import logging

import pytest

import core
from core import ConfigurationError, Database, OrmError, SessionError, UnknownEntityError
from tests.core.models import ALL, Author


def test_every_statement_is_logged_with_its_parameter_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    db = Database("sqlite:///:memory:", ALL)
    db.migrate()
    s = db.create_session()
    s.add(Author(email="secret-value@x.org", name="n"))
    with caplog.at_level(logging.DEBUG, logger="core.sql"):
        caplog.clear()
        s.commit()
    messages = [r.getMessage() for r in caplog.records if r.name == "core.sql"]
    assert messages[0] == "BEGIN IMMEDIATE [0 params]"
    assert messages[1].startswith('INSERT INTO "author"') and messages[1].endswith("[4 params]")
    assert messages[-1] == "COMMIT [0 params]"
    assert not any("secret-value" in m for m in messages)


def test_values_are_logged_only_when_asked(caplog: pytest.LogCaptureFixture) -> None:
    db = Database("sqlite:///:memory:", ALL, log_values=True)
    db.migrate()
    s = db.create_session()
    s.add(Author(email="shown@x.org", name="n"))
    with caplog.at_level(logging.DEBUG, logger="core.sql"):
        s.commit()
    assert any("shown@x.org" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "nonsense",
            "'nonsense' is not a database URL; use sqlite:///file.db, "
            "postgresql://user@host/db or mysql://user@host/db",
        ),
        (
            "oracle://u@h/db",
            "unknown database scheme 'oracle' in 'oracle://u@h/db'; use one of: "
            "mariadb, mysql, postgresql, sqlite",
        ),
        (
            "sqlite://",
            "'sqlite://' is not a SQLite URL; use sqlite:///relative.db, "
            "sqlite:////absolute/path.db or sqlite:///:memory:",
        ),
    ],
)
def test_bad_urls_are_one_sentence(url: str, message: str) -> None:
    with pytest.raises(ConfigurationError) as exc:
        Database(url, [])
    assert str(exc.value) == message


def test_passwords_are_masked_in_urls() -> None:
    assert (
        core.mask_url("postgresql://bob:hunter2@db:5432/app") == "postgresql://bob:***@db:5432/app"
    )
    assert core.mask_url("sqlite:///x.db") == "sqlite:///x.db"


def test_unknown_entity_lists_the_known_ones() -> None:
    db = Database("sqlite:///:memory:", [Author])
    with pytest.raises(UnknownEntityError, match="no entity named 'Usr'; known entities: Author"):
        db.entity("Usr")


def test_all_errors_share_one_base() -> None:
    for name in core.__all__:
        obj = getattr(core, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, OrmError), name
    assert issubclass(SessionError, OrmError)


def test_adding_a_non_entity_is_a_session_error() -> None:
    db = Database("sqlite:///:memory:", ALL)
    with pytest.raises(SessionError, match=r"session\.add\(\) takes entity objects, got 42"):
        db.create_session().add(42)


def test_query_on_missing_table_says_to_migrate() -> None:
    db = Database("sqlite:///:memory:", ALL)
    with pytest.raises(core.DatabaseError, match="no such table: author; run migrate"):
        db.query(Author).find()
