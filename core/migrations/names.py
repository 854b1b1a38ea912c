"""Name checks at load time: a table or column name the backend cannot take (too long, or a
reserved prefix) is refused when the models are registered, naming entity and field.

Callers: ``core.database`` (every ``Database``), ``core.migrations.model`` (re-exports it). Kept
apart from the schema modules so that opening a database does not import the migration
pipeline (start-up time, issue 18 point 6). Leaves out: any other check of the models.
"""

from __future__ import annotations

from collections.abc import Sequence

from core.entity import EntityInfo
from core.errors import ModelError


def check_names(
    entities: Sequence[EntityInfo], max_bytes: int, reserved_prefixes: Sequence[str]
) -> None:
    """``ModelError`` for a table or column name the backend cannot take (too long, or
    reserved), naming entity and field: better at load time than half-way through a migrate."""
    for info in entities:
        names: list[tuple[str, str]] = [(info.table, f"entity {info.cls.__name__}")]
        names += [(f.column, f"{info.cls.__name__}.{f.name}") for f in info.fields]
        for name, who in names:
            size = len(name.encode())
            if max_bytes and size > max_bytes:
                raise ModelError(
                    f"{who}: the name {name!r} is {size} bytes, longer than the {max_bytes} "
                    "this backend allows; shorten it"
                )
            for prefix in reserved_prefixes:
                if name.lower().startswith(prefix):
                    raise ModelError(
                        f"{who}: names starting with {prefix!r} are reserved by this backend; "
                        "rename it"
                    )


__all__ = ["check_names"]
