"""The fault suite: how many faults to inject, and the figures each test reports.

Every test here is marked ``faults``. A plain ``pytest`` run skips them (they kill processes
and connections hundreds of times); they run when ``ORMCLI_FAULTS`` gives the number of faults
per test and backend::

    ORMCLI_FAULTS=5 python -m pytest -q tests/faults      # what .ci/run runs (about a minute)
    ORMCLI_FAULTS=500 python -m pytest -q tests/faults    # the full counts (docs/faults.md)

The figures (faults injected, how many hit a commit in flight, outcomes seen, rows checked)
are printed in the terminal summary. Backends come from the same switch as every other test
(``db_url``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

ENV = "ORMCLI_FAULTS"
_FIGURES: list[str] = []


def fault_count() -> int:
    """Faults per test and backend (``ORMCLI_FAULTS``); 0 when the suite is off."""
    try:
        return max(0, int(os.environ.get(ENV, "0")))
    except ValueError:
        return 0


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if fault_count():
        return
    skip = pytest.mark.skip(reason=f"the fault suite runs with {ENV}=N (faults per test)")
    for item in items:
        if item.get_closest_marker("faults") is not None:
            item.add_marker(skip)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"faults: the fault suite (runs with {ENV}=N)")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _FIGURES:
        terminalreporter.section("fault suite figures")
        for line in _FIGURES:
            terminalreporter.write_line(line)


@pytest.fixture
def report(request: pytest.FixtureRequest) -> Iterator[list[str]]:
    """Lines a test appends are printed, prefixed with its id, in the terminal summary."""
    lines: list[str] = []
    yield lines
    _FIGURES.extend(f"{request.node.name}: {line}" for line in lines)
