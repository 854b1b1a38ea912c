"""Fixtures of the CLI tests.

``db_url``: the database every CLI test uses. By default a fresh SQLite file per test; when the
parent ``tests/conftest.py`` defines a ``db_url`` fixture (the backend switch), that one is used
instead and this default is not defined at all.
``models``: the path of the blog sample models. ``blog_db``: a migrated blog database URL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "sample_models"
_PARENT = Path(__file__).resolve().parent.parent / "conftest.py"


def _parent_defines_db_url() -> bool:
    return _PARENT.is_file() and "def db_url" in _PARENT.read_text(encoding="utf-8")


if not _parent_defines_db_url():

    @pytest.fixture
    def db_url(tmp_path: Path) -> Iterator[str]:
        """A fresh temp-file SQLite database URL."""
        yield f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def blog_models() -> str:
    """The blog sample model file."""
    return str(SAMPLES / "blog.py")


@pytest.fixture
def shop_models() -> str:
    """The shop sample model file."""
    return str(SAMPLES / "shop.py")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's ORMCLI_* variables, config dir or pyproject."""
    monkeypatch.delenv("ORMCLI_DB", raising=False)
    monkeypatch.delenv("ORMCLI_MODELS", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("NO_COLOR", "1")
