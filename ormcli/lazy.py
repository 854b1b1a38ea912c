"""Modules imported when first used: the REPL shows its first prompt before the command
language and the result types are built (start-up time, issue 16 point 9).

``module("ormcli.results")`` returns the module at once; its body runs at the first attribute
read (``importlib.util.LazyLoader``). Importers write ``if TYPE_CHECKING: from ormcli import
results as r`` / ``else: r = lazy.module("ormcli.results")`` and use ``r.Name`` inside
functions only (a ``from ... import`` would load it at once). Callers: ``app.py``,
``executor.py``, ``repl.py``, ``completion.py``, ``history.py``, ``script.py``, ``render.py``.
Leaves out: anything but modules of this package.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def module(name: str) -> ModuleType:
    """``name``, imported now if it already is, else at the first attribute read."""
    found = sys.modules.get(name)
    if found is not None:
        return found
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:  # pragma: no cover - a module of this package
        raise ImportError(f"no module {name!r}")
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    lazy = importlib.util.module_from_spec(spec)
    sys.modules[name] = lazy
    loader.exec_module(lazy)
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, lazy)
    return lazy


__all__ = ["module"]
