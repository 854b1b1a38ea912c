"""The one URL parser: every URL form, malformed ones included, never shows its password.

Each form is read into its parts (user, password, host, port, database, query) and printed
with the password as ``***``; where a text cannot be read as a URL, the message shows none of
it but the scheme. The same holds for every adapter, ``Database(url)`` and connect errors.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest

import core
from core import (
    ConfigurationError,
    Database,
    DatabaseURL,
    OrmConnectionError,
    adapter_from_url,
    mask_url,
    parse_url,
)
from core.url import scrub

SECRET = "S3cr3t"
SPECIALS = ["/", "#", "?", "@", ":", "%", " "]
SERVER_SCHEMES = ["postgresql", "mysql", "mariadb", "postgres+psycopg"]


def _forms() -> list[tuple[str, str, str]]:
    """``(url, user, password)``: the special characters raw and encoded, in both parts."""
    forms = []
    for scheme in SERVER_SCHEMES:
        for ch in SPECIALS:
            password = f"Pw{ch}{SECRET}"
            # An unencoded ':' can only be in the password (the user ends at the first ':').
            user = f"us{ch}er" if ch != ":" else "us%3Aer"
            forms.append((f"{scheme}://{user}:{password}@127.0.0.1:1/db", user, password))
            forms.append(
                (
                    f"{scheme}://{quote(f'us{ch}er', safe='')}:{quote(password, safe='')}"
                    "@127.0.0.1:1/db",
                    f"us{ch}er",
                    password,
                )
            )
    return forms


@pytest.mark.parametrize(("url", "user", "password"), _forms())
def test_every_special_character_in_user_and_password_is_read_and_masked(
    url: str, user: str, password: str
) -> None:
    """The password is read whole (raw or percent-encoded) and printed nowhere."""
    parsed = parse_url(url)
    assert parsed.password == password
    assert parsed.user == (user.replace("%3A", ":"))
    assert (parsed.host, parsed.port, parsed.database) == ("127.0.0.1", 1, "db")
    for shown in (mask_url(url), parsed.display, repr(parsed), str(parsed)):
        assert SECRET not in shown and ":***@" in shown
    adapter = adapter_from_url(url)
    assert SECRET not in adapter.url_display and SECRET not in repr(adapter)
    assert SECRET not in repr(Database(url, []))
    assert parse_url(parsed.display).user == parsed.user  # the printed form parses back


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://postgres:Pw_S3cr3t/x@127.0.0.1:1/db",
        "mysql://root:Pw_S3cr3t?x@127.0.0.1:1/db",
        "mysql://root:Pw_S3cr3t#x@127.0.0.1:1/db",
        "postgresql://:S3cr3t@127.0.0.1:1/db",
        "postgresql://u@ser:Pw@S3cr3t@127.0.0.1:1/db",
        "mysql://root:Pw S3cr3t@127.0.0.1:1/db",
        "postgresql://root:Pw%zzS3cr3t@127.0.0.1:1/db",
        "mariadb://root:Pw:S3cr3t@127.0.0.1:1/db",
    ],
)
def test_connect_errors_never_show_the_password(url: str) -> None:
    """Every malformed form of the issue reaches the server's port and fails without it."""
    with pytest.raises(OrmConnectionError) as caught:
        Database(url, []).connection()
    message = str(caught.value)
    assert SECRET not in message and message.startswith("cannot connect to ")
    assert ":***@127.0.0.1:1/db" in message


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "mysql://root:Pw_S3cr3t/db",
            "the port in mysql://root:*** is not a number from 1 to 65535 "
            "(a password needs an '@' after it)",
        ),
        (
            "postgresql://u:S3cr3t@h:99999/db",
            "the port in postgresql://u:***@h:*** is not a number from 1 to 65535 "
            "(a password needs an '@' after it)",
        ),
        (
            "postgres:S3cr3t@host/db",
            "the database URL (not shown: it may hold a password) is not a database URL; use "
            "sqlite:///file.db, postgresql://user@host/db or mysql://user@host/db",
        ),
        (
            "postgresql://u:S3cr3t@h/db#frag",
            "postgresql://u:***@... has a '#': a database URL has no fragment; "
            "write a '#' in a password as %23",
        ),
        (
            "sqlite://u:S3cr3t@/x.db",
            "the database URL (not shown: it may hold a password) is not a SQLite URL; use "
            "sqlite:///relative.db, sqlite:////absolute/path.db or sqlite:///:memory:",
        ),
        (
            "oracle://u:S3cr3t@h/db",
            "unknown database scheme 'oracle' in 'oracle://u:***@h/db'; use one of: "
            "mariadb, mysql, postgresql, sqlite",
        ),
        (
            "mysql://u:S3cr3t@h/db?connect_timeout=soon",
            "the query parameter 'connect_timeout' in 'mysql://u:***@h/db?connect_timeout=soon' "
            "must be a number",
        ),
    ],
)
def test_urls_that_cannot_be_used_are_one_sentence_without_the_password(
    url: str, message: str
) -> None:
    """Where the URL cannot be read safely, the message shows ``***`` or no URL at all."""
    with pytest.raises(ConfigurationError) as caught:
        Database(url, [])
    assert str(caught.value) == message
    assert SECRET not in mask_url(url)


def test_an_unparsable_url_is_masked_whole() -> None:
    """``mask_url`` of a text that is not a URL keeps at most its scheme."""
    assert mask_url("mysql://root:Pw_S3cr3t/db") == "mysql://***"
    assert mask_url("postgres:S3cr3t@host") == "***"
    assert mask_url("sqlite:///data/a@b.db") == "sqlite:///data/a@b.db"


def test_query_parameters_pass_through_and_secret_ones_are_masked() -> None:
    """libpq's ``password`` / ``sslpassword`` in the query are secrets too."""
    url = "postgresql://u@h:5433/app?sslmode=require&password=S3cr3t&sslpassword=S3cr3t"
    parsed = parse_url(url)
    assert parsed.options == {"sslmode": "require", "password": SECRET, "sslpassword": SECRET}
    assert parsed.display == (
        "postgresql://u@h:5433/app?sslmode=require&password=***&sslpassword=***"
    )


def test_hosts_ipv6_and_several_hosts_are_read() -> None:
    """``[::1]:5432`` and libpq's ``h1:5432,h2`` are parsed, not mistaken for passwords."""
    assert parse_url("postgresql://u:p@[::1]:5432/db").hosts == (("::1", 5432),)
    assert parse_url("postgresql://h1:5432,h2/db").hosts == (("h1", 5432), ("h2", None))
    assert parse_url("postgresql://u@/db?host=/run/pg").hosts == ()
    assert parse_url("sqlite:///a/b@c.db").database == "a/b@c.db"


def test_one_parser_is_the_public_one() -> None:
    """``core.parse_url`` returns a ``DatabaseURL`` whose repr holds no password; adapters
    and ``Database`` take it as well as text."""
    parsed = parse_url("mysql://root:S3cr3t@127.0.0.1:1/db")
    assert isinstance(parsed, DatabaseURL) and core.parse_url is parse_url
    assert SECRET not in repr(parsed)
    assert Database(parsed, []).url_display == "mysql://root:***@127.0.0.1:1/db"


def test_scrub_removes_a_password_from_a_driver_message() -> None:
    """Raw and percent-encoded forms are both replaced."""
    assert scrub('bad token: "Pw%2FS3cr3t" or Pw/S3cr3t', "Pw/S3cr3t") == (
        'bad token: "***" or ***'
    )
