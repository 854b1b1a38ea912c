"""Types of the C accelerator ``core._moves`` (``core/_moves.c``)."""

from collections.abc import Callable, Iterable
from typing import Any

class QuickAppend:
    __wrapped__: Callable[..., None]
    def __init__(
        self,
        fallback: Callable[..., None],
        staging: dict[int, tuple[Any, ...]],
        attr: str,
        owner_slot: Any,
        relation_slot: Any,
        quick_slot: Any,
        logged_slot: Any,
    ) -> None: ...
    def __get__(self, obj: Any, owner: type | None = None) -> Any: ...
    def __call__(self, coll: list[Any], item: Any) -> None: ...

def collect_moves(
    items: Iterable[tuple[int, dict[str, Any]]],
    touched: dict[int, Any],
    removed: dict[int, Any],
    same: list[Any],
    cls: type,
    pk: str,
    names: tuple[str, ...],
    targets: tuple[type, ...],
    keys: tuple[str, ...],
    conv: Callable[[Any], Any],
    check_range: bool,
    /,
) -> tuple[list[tuple[list[Any], list[Any], list[tuple[Any, Any]]]], bool]: ...
