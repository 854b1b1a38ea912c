"""Settings resolution, the private history file, and model loading by module name."""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from ormcli.config import DEFAULT_DB, history_path, mask_url, resolve, short_db_label
from ormcli.errors import ModelLoadError, UsageError
from ormcli.history import PrivateHistory, is_sensitive
from ormcli.loader import load_models
from tests.cli.helpers import invoke


def test_the_flag_wins_then_environment_then_pyproject_then_default(tmp_path: Path) -> None:
    """--db → ORMCLI_DB → [tool.ormcli] → sqlite:///ormcli.db; models likewise."""
    (tmp_path / "pyproject.toml").write_text(
        '[tool.ormcli]\ndb = "sqlite:///p.db"\nmodels = "models/blog.py"\n'
    )
    env = {"ORMCLI_DB": "sqlite:///e.db", "ORMCLI_MODELS": "a.py:pkg.models"}
    assert resolve("sqlite:///f.db", ["m.py"], env=env, cwd=tmp_path).db_url == "sqlite:///f.db"
    from_env = resolve(None, [], env=env, cwd=tmp_path)
    assert (from_env.db_url, from_env.models) == ("sqlite:///e.db", ("a.py", "pkg.models"))
    from_file = resolve(None, [], env={}, cwd=tmp_path)
    assert from_file.db_url == f"sqlite:///{tmp_path / 'p.db'}"  # relative to pyproject.toml
    assert from_file.models == (str(tmp_path / "models/blog.py"),)
    elsewhere = tmp_path.parent / f"{tmp_path.name}-elsewhere"  # no pyproject.toml above it
    default = resolve(None, [], env={}, cwd=elsewhere)
    assert (default.db_url, default.models, default.db_source) == (DEFAULT_DB, (), "default")


def test_a_broken_pyproject_is_a_usage_error(tmp_path: Path) -> None:
    """Bad TOML or a bad [tool.ormcli] value is one usage error naming the file."""
    (tmp_path / "pyproject.toml").write_text("[tool.ormcli]\nmodels = 3\n")
    with pytest.raises(UsageError) as caught:
        resolve(None, [], env={}, cwd=tmp_path)
    assert str(caught.value) == (
        f"{tmp_path / 'pyproject.toml'}: [tool.ormcli] models must be a string or a list"
    )


def test_passwords_are_masked_and_never_in_the_prompt_label() -> None:
    """mask_url hides the password; the prompt label names only the database."""
    assert mask_url("postgresql://bob:pw@host:5432/db") == "postgresql://bob:***@host:5432/db"
    assert mask_url("sqlite:///x.db") == "sqlite:///x.db"
    assert short_db_label("postgresql://bob:pw@host:5432/shop?sslmode=x") == "shop"
    assert short_db_label("sqlite:///data/blog.db") == "blog.db"
    assert short_db_label("sqlite:///:memory:") == ":memory:"


def test_the_history_file_is_private_and_skips_secrets(tmp_path: Path) -> None:
    """The file is created 0600 in a 0700 directory; password-like lines are not written."""
    path = history_path({"XDG_CONFIG_HOME": str(tmp_path)})
    assert path == tmp_path / "ormcli" / "history"
    history = PrivateHistory(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    history.append_string('add User name="Ann"')
    history.append_string('add User name="Bob" password="hunter2"')
    history.append_string('set Account 1 api_key="k"')
    text = path.read_text()
    assert "Ann" in text
    assert "hunter2" not in text and "api_key" not in text
    assert is_sensitive("load postgresql://u:pw@h/db")
    assert not is_sensitive('find User where name == "password"')


def test_models_load_from_a_dotted_module_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dotted module on sys.path loads like a file; a missing module is exit 2."""
    package = tmp_path / "mypkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "models.py").write_text(
        "from typing import Annotated\nfrom core import entity, PrimaryKey\n\n"
        "@entity\nclass Widget:\n    id: Annotated[int, PrimaryKey]\n    name: str = ''\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    classes = load_models(["mypkg.models"])
    assert [c.__name__ for c in classes] == ["Widget"]
    with pytest.raises(ModelLoadError) as caught:
        load_models(["mypkg.nothere"])
    assert str(caught.value) == "model module not found: mypkg.nothere"
    assert caught.value.exit_code == 2
    sys.modules.pop("mypkg.models", None)


def test_an_error_while_a_model_file_runs_names_file_and_line(tmp_path: Path) -> None:
    """An exception raised by the model file points at its line."""
    bad = tmp_path / "boom.py"
    bad.write_text("x = 1\nraise RuntimeError('nope')\n")
    with pytest.raises(ModelLoadError) as caught:
        load_models([str(bad)])
    assert str(caught.value) == f"{bad}:2: RuntimeError: nope"


def test_the_shop_sample_loads_and_migrates(db_url: str, shop_models: str) -> None:
    """The shop sample (natural and composite keys) migrates and takes a small order."""
    base = ["--db", db_url, "--models", shop_models]
    script = (
        "migrate\n"
        'add Customer email="c@example.com" name="Cy"\n'
        'add Product sku="TEA-1" name="Tea" price=3.50 stock=10\n'
        "add Order customer=@1\n"
        'add OrderItem order=@3 line=1 product="TEA-1" quantity=2\n'
    )
    result = invoke([*base, "run", "-"], input=script)
    assert result.exit_code == 0, result.stderr
    shown = invoke([*base, "find", "OrderItem", "--json"])
    assert '"product": "TEA-1"' in shown.stdout
    assert '"quantity": 2' in shown.stdout
    price = invoke([*base, "find", "Product", "--json"])
    assert [Decimal(row["price"]) for row in json.loads(price.stdout)] == [Decimal("3.50")]
