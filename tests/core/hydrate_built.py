"""The C accelerator ``core._hydrate`` as the tests of both of its paths see it: the module
(None where it was not built) and ``built``, the mark that skips a test of the C side where it
is not built or ``ORMCLI_NO_SPEEDUPS`` is set. Callers: test_hydrate_speedups,
test_eager_speedups."""

from __future__ import annotations

import pytest

import core.codec

try:
    from core import _hydrate
except ImportError:  # (not built: the comparisons still run, both sides pure)
    _hydrate = None  # type: ignore[assignment]

built = pytest.mark.skipif(
    _hydrate is None or not core.codec.SPEEDUPS,
    reason="core._hydrate is not built here, or ORMCLI_NO_SPEEDUPS is set",
)
