"""Compiled SQL of the new filters and terms per dialect, without a database: patterns, JSON
paths, aggregates. Values and JSON keys are parameters; names are quoted identifiers."""

from __future__ import annotations

import pytest

from core import F
from core.codec import EntityCodec
from core.dialects.mysql import MySQLDialect
from core.dialects.postgres import PostgresDialect
from core.dialects.sqlite import SQLiteDialect
from core.entity import entity_info
from core.sql import TermCompiler
from tests.core.reporting import Post

DIALECTS = {"sqlite": SQLiteDialect(), "postgresql": PostgresDialect(), "mysql": MySQLDialect()}


def compiled(dialect: str, expr: object) -> tuple[str, list[object]]:
    compiler = TermCompiler(EntityCodec(entity_info(Post), DIALECTS[dialect]))  # type: ignore[arg-type]
    params: list[object] = []
    return compiler.where(expr, params), params  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("dialect", "sql", "params"),
    [
        ("sqlite", '"title" GLOB ?', ["[*]a?*"]),
        ("postgresql", '"title" LIKE %s', ["*a_%"]),
        ("mysql", "`title` LIKE %s COLLATE utf8mb4_bin", ["*a_%"]),
    ],
)
def test_like_per_dialect(dialect: str, sql: str, params: list[object]) -> None:
    """SQLite's like is GLOB with the pattern translated (``*`` made literal)."""
    assert compiled(dialect, F.title.like("*a_%")) == (sql, params)


@pytest.mark.parametrize(
    ("dialect", "sql"),
    [
        ("sqlite", 'ormcli_lower("title") NOT GLOB ormcli_lower(?)'),
        ("postgresql", '"title" NOT ILIKE %s'),
        ("mysql", "LOWER(`title`) NOT LIKE LOWER(%s) COLLATE utf8mb4_bin"),
    ],
)
def test_not_ilike_per_dialect(dialect: str, sql: str) -> None:
    assert compiled(dialect, F.title.not_ilike("a%"))[0] == sql


@pytest.mark.parametrize(
    ("dialect", "sql", "params"),
    [
        ("sqlite", 'json_extract("attrs", ?) = ?', ['$."a"."b c"[0]', "x"]),
        (
            "postgresql",
            "NULLIF(\"attrs\" #> %s::text[], 'null'::jsonb) = %s::jsonb",
            [["a", "b c", "0"], '"x"'],
        ),
        ("mysql", "JSON_VALUE(`attrs`, %s) = %s", ['$."a"."b c"[0]', "x"]),
    ],
)
def test_json_path_per_dialect(dialect: str, sql: str, params: list[object]) -> None:
    """The path is one bound parameter (keys quoted inside it), never SQL text."""
    assert compiled(dialect, F.attrs["a"]["b c"][0] == "x") == (sql, params)


@pytest.mark.parametrize(
    ("dialect", "expr", "sql"),
    [
        ("sqlite", F.price.sum() > 1, 'SUM(CAST("price" AS REAL)) > ?'),
        ("postgresql", F.views.avg() >= 1, 'AVG("views") >= %s'),
        ("mysql", F.views.avg() >= 1, "AVG(CAST(`views` AS DOUBLE)) >= %s"),
    ],
)
def test_aggregates_in_having_per_dialect(dialect: str, expr: object, sql: str) -> None:
    """Decimals stored as text sum as REAL on SQLite; MariaDB averages integers as DOUBLE."""
    assert compiled(dialect, expr)[0] == sql
