"""Types of the C accelerator ``core._track`` (``core/_track.c``)."""

from collections.abc import Callable
from typing import Any

class TrackedSetattr:
    __wrapped__: Callable[[Any, str, Any], None]
    def __init__(
        self,
        fallback: Callable[[Any, str, Any], None],
        plain: frozenset[str],
        keys: frozenset[str],
        trackers: dict[int, tuple[dict[int, Any], dict[int, Any], dict[int, Any]]],
        attr: str,
        missing: Any,
        /,
    ) -> None: ...
    def __get__(self, obj: Any, owner: type | None = None) -> Any: ...
    def __call__(self, obj: Any, name: str, value: Any) -> None: ...
