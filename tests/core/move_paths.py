"""Both paths of the relation move's hot path, for tests: ``core._moves`` (C) and Python.

``move_path`` is a fixture parametrized over ``"c"`` and ``"pure"``: it switches
``core.collection.use_speedups`` before the test makes its databases (a codec chooses its
commit pass over moves when made) and switches back after. ``"c"`` is skipped where the
accelerator is not built or ``ORMCLI_NO_SPEEDUPS`` is set. Imported by the modules that use
it (``from tests.core.move_paths import move_path``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import core.collection

#: The accelerator chosen at import (None: not built, or switched off by the environment).
BUILT = core.collection.MOVES


@pytest.fixture(params=["c", "pure"])
def move_path(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "c" and BUILT is None:
        pytest.skip("core._moves is not built here, or ORMCLI_NO_SPEEDUPS is set")
    before = core.collection.MOVES
    core.collection.use_speedups(BUILT if request.param == "c" else None)
    try:
        yield request.param
    finally:
        core.collection.use_speedups(before)
