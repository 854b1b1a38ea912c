"""Types of the C accelerator ``core._hydrate`` (``core/_hydrate.c``)."""

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, NoReturn

class Hydrator:
    def __init__(
        self,
        cls: type,
        names: tuple[str, ...],
        convs: tuple[Callable[[Any], Any] | None, ...],
        attr: str,
        on_error: Callable[[BaseException, Sequence[Any]], NoReturn],
        use_dict: bool = False,
        positions: tuple[int, ...] | None = None,
        key: tuple[int, ...] = (),
    ) -> None: ...
    def one(self, row: Sequence[Any], token: Any) -> Any: ...
    def stream(self, chunks: Iterable[Sequence[Sequence[Any]]], token: Any) -> Stream: ...
    def chunk(self, rows: Sequence[Sequence[Any]], token: Any, keys: list[Any]) -> list[Any]: ...
    def fresh(self, rows: Sequence[Sequence[Any]], token: Any) -> tuple[list[Any], list[Any]]: ...
    def merge(
        self, rows: Sequence[Sequence[Any]], token: Any, mapping: dict[Any, Any], out: list[Any]
    ) -> None: ...

class Stream(Iterator[Any]):
    def __next__(self) -> Any: ...
    def close(self) -> None: ...

def ascending(before: list[Any], keys: list[Any]) -> bool: ...
