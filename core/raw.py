"""Raw SQL: values marked in the text and bound by the driver; result columns matched to fields.

``bind(dialect, sql, params)`` turns portable placeholders into the driver's: ``?`` for a
sequence of values, ``:name`` for a mapping (``::`` casts are left alone), skipping string
literals, quoted identifiers and comments; on drivers whose placeholder is ``%s`` every other
``%`` is doubled, so ``LIKE 'a%'`` in the text means what it says. Values never enter the
text. ``column_order`` finds an entity's columns among a result's by name. Callers:
``core.database`` (``raw``, ``raw_rows``), ``core.session`` (``raw``). What it leaves out:
running anything; PostgreSQL dollar-quoted strings (write such SQL with ``'...'``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from core.dialects.base import Dialect
from core.entity import EntityInfo
from core.errors import ValidationError

__all__ = ["bind", "column_order"]


def _skip_quoted(sql: str, i: int, backslashes: bool) -> int:
    """The index after the quoted text starting at ``sql[i]`` (doubled quotes stay inside)."""
    quote = sql[i]
    i += 1
    while i < len(sql):
        c = sql[i]
        if backslashes and quote == "'" and c == "\\":
            i += 2
            continue
        if c == quote:
            if i + 1 < len(sql) and sql[i + 1] == quote:
                i += 2
                continue
            return i + 1
        i += 1
    raise ValidationError(f"the SQL has an unclosed {quote} quote: {sql!r}")


def bind(
    dialect: Dialect, sql: str, params: Sequence[Any] | Mapping[str, Any] | None
) -> tuple[str, list[Any]]:
    """``sql`` with the driver's placeholders, and the values in their order."""
    if not isinstance(sql, str):
        raise ValidationError(f"raw SQL is text, got {sql!r}")
    named = isinstance(params, Mapping)
    if (
        params is not None
        and not named
        and (isinstance(params, str | bytes) or not isinstance(params, Sequence))
    ):
        raise ValidationError(
            f"raw SQL takes its values as a list (for ?) or a dict (for :name), got {params!r}"
        )
    percent = dialect.placeholder == "%s"
    backslashes = dialect.quote_char == "`"  # MySQL strings take backslash escapes
    out: list[str] = []
    values: list[Any] = []
    used: set[str] = set()
    positional = 0
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if c in "'\"`":
            j = _skip_quoted(sql, i, backslashes)
            text = sql[i:j]
            out.append(text.replace("%", "%%") if percent else text)
            i = j
        elif sql.startswith("--", i) or sql.startswith("/*", i):
            end = sql.find("\n" if c == "-" else "*/", i + 2)
            j = n if end < 0 else end + (1 if c == "-" else 2)
            text = sql[i:j]
            out.append(text.replace("%", "%%") if percent else text)
            i = j
        elif c == "?" and not named:
            out.append(dialect.placeholder)
            positional += 1
            i += 1
        elif c == ":" and named and i + 1 < n and sql[i + 1] == ":":
            out.append("::")
            i += 2
        elif c == ":" and named and i + 1 < n and (sql[i + 1].isalpha() or sql[i + 1] == "_"):
            j = i + 1
            while j < n and (sql[j].isalnum() or sql[j] == "_"):
                j += 1
            name = sql[i + 1 : j]
            assert isinstance(params, Mapping)
            if name not in params:
                raise ValidationError(f"the SQL uses :{name} but no value named {name!r} was given")
            used.add(name)
            values.append(params[name])
            out.append(dialect.placeholder)
            i = j
        elif c == "%" and percent:
            out.append("%%")
            i += 1
        else:
            out.append(c)
            i += 1
    if named:
        assert isinstance(params, Mapping)
        unused = sorted(set(params) - used)
        if unused:
            raise ValidationError(f"values given but not used in the SQL: {', '.join(unused)}")
    else:
        given = list(params or ())
        if positional != len(given):
            raise ValidationError(
                f"the SQL has {positional} ? placeholder(s) but {len(given)} value(s) were given"
            )
        values = given
    return "".join(out), values


def column_order(info: EntityInfo, names: Sequence[str]) -> list[int]:
    """Per column of ``info`` (in the entity's order), its index among a result's ``names``."""
    exact = {n: i for i, n in enumerate(names)}
    folded = {n.lower(): i for i, n in enumerate(names)}
    order = []
    missing = []
    for column in info.column_names:
        i = exact.get(column, folded.get(column.lower()))
        if i is None:
            missing.append(column)
        else:
            order.append(i)
    if missing:
        raise ValidationError(
            f"the raw SQL for {info.cls.__name__} must return every column of {info.table!r}; "
            f"missing: {', '.join(missing)} (select {info.table}.* or name them)"
        )
    return order
