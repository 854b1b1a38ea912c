"""Which optional C accelerators run: ``core._hydrate`` (rows into objects), ``core._moves``
(moves between loaded collections) and ``core._track`` (an entity's tracked assignment), each
built by ``setup.py`` where a C compiler is present.

``load(name)`` gives the module, or None where it was not built or where the environment sets
``ORMCLI_NO_SPEEDUPS`` (to anything but ``""`` or ``"0"``; read when the caller asks, at its
import): the Python code runs then. Callers: ``core.codec``, ``core.collection``,
``core.entity``. What it
leaves out: what each accelerator does, and whether a build is recent enough (its caller
checks what it calls).
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

__all__ = ["load"]


def load(name: str) -> ModuleType | None:
    """``core.<name>``, or None: not built, or turned off by ``ORMCLI_NO_SPEEDUPS``."""
    if os.environ.get("ORMCLI_NO_SPEEDUPS", "") not in ("", "0"):
        return None
    try:
        return importlib.import_module(f"core.{name}")
    except ImportError:
        return None
