"""Settings: [tool.ormcli] in the nearest pyproject.toml upwards, unknown keys warned with a
suggestion, the REPL's user settings file under $XDG_CONFIG_HOME."""

from __future__ import annotations

from pathlib import Path

from ormcli import config
from ormcli.repl import ReplSettings
from tests.cli.helpers import invoke

PYPROJECT = """
[project]
name = "app"

[tool.ormcli]
db = "sqlite:///data/app.db"
models = ["models/blog.py"]
modles = ["typo"]
"""


def test_pyproject_is_found_upwards_and_paths_are_relative_to_it(tmp_path: Path) -> None:
    """From a subfolder the nearest [tool.ormcli] is used; its SQLite file and model paths
    are taken relative to the pyproject.toml, and a misspelt key is warned about."""
    (tmp_path / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    sub = tmp_path / "src" / "deep"
    sub.mkdir(parents=True)
    settings = config.resolve(None, [], env={}, cwd=sub)
    assert settings.db_url == f"sqlite:///{tmp_path / 'data' / 'app.db'}"
    assert settings.models == (str(tmp_path / "models" / "blog.py"),)
    assert settings.db_source == settings.models_source == "pyproject.toml"
    assert len(settings.warnings) == 1
    assert "unknown key 'modles' — did you mean 'models'?" in settings.warnings[0]


def test_a_pyproject_without_the_table_is_passed_over(tmp_path: Path) -> None:
    """A package's own pyproject.toml without [tool.ormcli] does not hide the one above."""
    (tmp_path / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "pyproject.toml").write_text('[project]\nname = "pkg"\n', encoding="utf-8")
    assert config.resolve(None, [], env={}, cwd=pkg).db_source == "pyproject.toml"


def test_the_command_app_prints_the_warning(
    tmp_path: Path, monkeypatch: object, blog_models: str
) -> None:
    """ormcli models from the folder: one warning line on stderr, the command still runs."""
    (tmp_path / "pyproject.toml").write_text(
        '[tool.ormcli]\ndb = "sqlite:///x.db"\nmodles = 1\n', encoding="utf-8"
    )
    monkeypatch.chdir(tmp_path)  # type: ignore[attr-defined]
    result = invoke(["--models", blog_models, "models"])
    assert result.exit_code == 0
    assert result.stderr.startswith("warning: ")
    assert "did you mean 'models'?" in result.stderr


def test_the_user_settings_file_is_written_with_commented_defaults(tmp_path: Path) -> None:
    """First use writes the file (all lines commented: the defaults apply); values set in it
    are read; an unknown key gets a warning with a suggestion."""
    env = {"XDG_CONFIG_HOME": str(tmp_path)}
    data, warnings = config.user_settings(env)
    path = tmp_path / "ormcli" / "config.toml"
    assert (data, warnings) == ({}, [])
    text = path.read_text(encoding="utf-8")
    assert all(line.startswith("#") for line in text.splitlines())
    assert '# format = "table"' in text and '# key_bindings = "emacs"' in text
    path.write_text('format = "csv"\nlimit = 0\ntimming = false\n', encoding="utf-8")
    data, warnings = config.user_settings(env)
    assert data == {"format": "csv", "limit": 0, "timming": False}
    assert len(warnings) == 1 and "did you mean 'timing'?" in warnings[0]


def test_repl_settings_take_the_file_values_and_report_bad_ones() -> None:
    """format, limit (0: every row), key_bindings, pager, colour; a bad value is a warning."""
    settings = ReplSettings()
    warnings = settings.apply(
        {"format": "csv", "limit": 0, "key_bindings": "vi", "pager": "off", "timing": "yes"}
    )
    assert (settings.format, settings.row_limit, settings.vi, settings.pager) == (
        "csv",
        None,
        True,
        "",
    )
    assert warnings == ["settings file: timing takes true or false, got 'yes'"]
