"""Typer's option values without pydantic on the common path (issue 16 point 9, issue 18 point 6).

typer 0.29 coerces every non-flag option through a pydantic ``TypeAdapter`` that it builds the
first time the option is processed — even when the option was not given (its value is None).
Importing pydantic and building the adapters costs 50-100 ms, a third of the time to the
REPL's first prompt. :func:`install` puts a light runtime parameter in front of typer's own:
a missing value, a ``str`` option given text, a ``list[str]`` option given texts, an ``int``
given ASCII digits and a ``float`` left at its float default are taken exactly as typer would
take them (the same values; ``tests/cli/test_cli_typerfast.py`` compares both); anything else
(a choice, a path, bounds, a parser, ``--limit x``) is handed to typer's own coercion, built
then, with its own error messages.

Callers: ``app.py`` at import. It touches typer's private ``core._TyperParameter`` and
``_coercion.RuntimeParam``; typer is pinned to ``>=0.29,<0.30``, and when those names are not
there :func:`install` does nothing (typer's own path, only slower). Leaves out: everything else
typer does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

try:  # typer's private names: the pinned range has them; without them, nothing to do
    from typer import _coercion
    from typer.core import _TyperParameter
except ImportError:  # pragma: no cover - another typer
    _coercion = None  # type: ignore[assignment]

_LIST_OF_STR = list[str]


def _plain(descriptor: Any, value: Any) -> tuple[bool, Any]:
    """``(True, value typer would give)`` when ``value`` needs no pydantic, else
    ``(False, None)``."""
    info = descriptor.parameter_info
    annotation = descriptor.annotation
    if descriptor.file_annotation is not None or info.parser is not None:
        return False, None
    if getattr(info, "click_type", None) is not None:
        return False, None
    if annotation is str and type(value) is str:
        return True, value
    if (
        annotation == _LIST_OF_STR
        and isinstance(value, list | tuple)
        and all(type(item) is str for item in value)
    ):
        return True, list(value)
    number: int | float
    if annotation is int and type(value) is str and value.isascii() and value.isdigit():
        number = int(value)
    elif annotation in (int, float) and type(value) is annotation:
        number = value
    else:
        return False, None
    if info.clamp or (info.min is not None and number < info.min):
        return False, None  # typer's own message for a value out of range
    if info.max is not None and number > info.max:
        return False, None
    return True, number


if _coercion is not None:

    @dataclass(frozen=True)
    class _Light(_coercion.RuntimeParam):
        """Takes a value that needs no pydantic; builds typer's own coercion for the rest."""

        descriptor: Any

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            done, plain = _plain(self.descriptor, value)
            if done:
                return plain
            real = _coercion.build_runtime_param(self.descriptor)
            param._runtime_param = real
            return real._coerce_value(value, param=param, ctx=ctx)


def install() -> None:
    """Make typer's parameters start with the light coercion (once; harmless twice)."""
    if _coercion is None or getattr(_TyperParameter, "_ormcli_light", False):
        return
    original = _TyperParameter.get_runtime_param

    def get_runtime_param(self: Any) -> Any:
        if self._runtime_param is None:
            descriptor = self.type_descriptor
            self._runtime_param = _Light(
                parameter_info=descriptor.parameter_info,
                annotation=descriptor.annotation,
                descriptor=descriptor,
            )
        return self._runtime_param

    get_runtime_param.__doc__ = original.__doc__
    _TyperParameter.get_runtime_param = get_runtime_param  # type: ignore[method-assign]
    _TyperParameter._ormcli_light = True  # type: ignore[attr-defined]


__all__ = ["install"]
