"""Start-up: what ``import core``, ``ormcli --version``, ``--help``, a command and the REPL import
(issue 18 point 6, issue 16 point 9), and typer's option values taken without pydantic exactly
as typer takes them (``ormcli/typerfast.py``). Times are measured by ``bench/startup.py`` and
``bench/cli.py``, never asserted here."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer import _coercion
from typer.models import ArgumentInfo, OptionInfo

import core
import ormcli
from ormcli import typerfast

ROOT = Path(__file__).resolve().parents[2]


def _modules_after(code: str, tmp_path: Path) -> set[str]:
    """The modules a fresh interpreter holds after running ``code`` (which may exit)."""
    out = tmp_path / "modules.txt"
    wrapper = (
        "import atexit, sys\n"
        f"atexit.register(lambda: open({str(out)!r}, 'w').write("
        "'\\n'.join(n for n, m in sys.modules.items() "
        "if type(m).__name__ != '_LazyModule')))\n" + code
    )
    subprocess.run([sys.executable, "-c", wrapper], cwd=tmp_path, capture_output=True, check=False)
    return set(out.read_text().split("\n"))


def test_import_core_leaves_out_the_migration_pipeline_drivers_rich_and_the_cli(
    tmp_path: Path,
) -> None:
    """``import core`` imports no migration module but the name check, no driver, neither
    Rich, prompt-toolkit, typer nor importlib.metadata; the migration names still come from
    ``core`` and ``core.migrations`` when asked for."""
    loaded = _modules_after("import core", tmp_path)
    assert "core.database" in loaded
    assert {m for m in loaded if m.startswith("core.migrations.")} == {"core.migrations.names"}
    for heavy in ("psycopg", "pymysql", "rich", "prompt_toolkit", "typer", "importlib.metadata"):
        assert heavy not in loaded, heavy
    assert core.MigrateOptions.__module__ == "core.migrations.runner"
    from core.migrations import MigrationPlan, make_plan

    assert MigrationPlan.__module__ == make_plan.__module__ == "core.migrations.plan"
    with pytest.raises(AttributeError):
        core.NoSuchName  # noqa: B018


def test_version_imports_neither_typer_nor_metadata(tmp_path: Path) -> None:
    """A plain ``ormcli --version`` is answered before typer, core or importlib.metadata are
    imported, and says the installed distribution's version."""
    code = (
        "import sys; sys.argv = ['ormcli', '--version']\nfrom ormcli.__main__ import main\nmain()"
    )
    loaded = _modules_after(code, tmp_path)
    for heavy in ("typer", "core", "importlib.metadata", "rich"):
        assert heavy not in loaded, heavy
    result = subprocess.run(
        [sys.executable, "-m", "ormcli", "--version"], capture_output=True, text=True, check=True
    )
    assert result.stdout == f"ormcli {importlib.metadata.version('ormcli')}\n"
    assert ormcli.__version__ == core.__version__ == importlib.metadata.version("ormcli")


def test_help_and_a_command_import_no_pydantic(tmp_path: Path, blog_models: str) -> None:
    """``--help`` imports neither core nor Rich; a command with options given (``find --limit
    --format --where``) runs without pydantic, and the REPL's first prompt needs neither the
    command language nor the result types (built at the first command)."""
    helped = _modules_after(
        "import sys; sys.argv = ['ormcli', '--help']\nfrom ormcli.__main__ import main\nmain()",
        tmp_path,
    )
    assert "typer" in helped
    for heavy in ("core", "rich", "pydantic", "prompt_toolkit"):
        assert heavy not in helped, heavy
    db = f"sqlite:///{tmp_path / 'blog.db'}"
    argv = ["ormcli", "--db", db, "-m", blog_models]
    migrate = f"import sys; sys.argv = {[*argv, 'migrate']!r}\nfrom ormcli.__main__ import main\n"
    subprocess.run([sys.executable, "-c", migrate + "main()"], cwd=tmp_path, check=True)
    find = [*argv, "find", "User", "--limit", "3", "--format", "csv", "--where", "id > 0"]
    code = f"import sys; sys.argv = {find!r}\nfrom ormcli.__main__ import main\nmain()"
    loaded = _modules_after(code, tmp_path)
    assert "ormcli.results" in loaded and "core" in loaded
    assert "pydantic" not in loaded
    repl = (
        f"import sys\nfrom ormcli.app import AppState\nfrom ormcli.repl import Repl\n"
        f"from ormcli.render import make_console\n"
        f"from prompt_toolkit.input import create_pipe_input\n"
        f"from prompt_toolkit.output import DummyOutput\n"
        f"ws = AppState({db!r}, [{blog_models!r}], False).workspace()\n"
        f"with create_pipe_input() as inp:\n"
        f"    r = Repl(ws, make_console(), input=inp, output=DummyOutput())\n"
        f"    r.prompt_text(); r.toolbar()\n"
    )
    loaded = _modules_after(repl, tmp_path)
    assert "prompt_toolkit" in loaded and "ormcli.executor" in loaded
    for deferred in ("ormcli.language", "ormcli.results", "ormcli.script", "pydantic"):
        assert deferred not in loaded, deferred


CASES: list[tuple[Any, Any, Any]] = [
    (str, OptionInfo(), "sqlite:///x.db"),
    (str, OptionInfo(), ""),
    (str, ArgumentInfo(), "User"),
    (list[str], OptionInfo(), ("a.py", "b.py")),
    (list[str], OptionInfo(), ["one"]),
    (int, OptionInfo(min=0), "42"),
    (int, OptionInfo(min=0), "007"),
    (int, OptionInfo(), 5),
    (float, OptionInfo(min=0), 10.0),
    (bool, OptionInfo(), True),
]


@pytest.mark.parametrize(("annotation", "info", "value"), CASES)
def test_light_coercion_gives_what_typer_gives(annotation: Any, info: Any, value: Any) -> None:
    """For every value the light path takes, the result (value and type) is the one typer's
    own pydantic coercion gives."""
    descriptor = _coercion.resolve_type_descriptor(annotation, info)
    done, light = typerfast._plain(descriptor, value)
    real = _coercion.build_runtime_param(descriptor)._coerce_value(value, param=None, ctx=None)
    if annotation is bool:
        assert not done  # left to typer (typer skips coercion for bool flags itself)
        return
    assert done
    assert light == real and type(light) is type(real)


@pytest.mark.parametrize(
    ("annotation", "info", "value"),
    [
        (int, OptionInfo(min=0), "-1"),  # out of range: typer's own message
        (int, OptionInfo(), "x"),
        (int, OptionInfo(), " 5"),
        (float, OptionInfo(), "1.5"),
        (str, OptionInfo(parser=str.upper), "abc"),
        (int, OptionInfo(max=3), "4"),
        (int, OptionInfo(min=0, clamp=True), "9"),
    ],
)
def test_anything_else_is_left_to_typer(annotation: Any, info: Any, value: Any) -> None:
    """A value out of range, not plain digits, a parser or clamping: typer coerces it (and
    words its errors) as always."""
    descriptor = _coercion.resolve_type_descriptor(annotation, info)
    assert typerfast._plain(descriptor, value) == (False, None)


def test_a_bad_option_value_keeps_typers_message(tmp_path: Path, blog_models: str) -> None:
    """``find --limit -1`` (below the minimum) and ``--limit x`` go to typer's own coercion:
    exit 2 with one line naming the option."""
    db = f"sqlite:///{tmp_path / 'b.db'}"
    base = [sys.executable, "-m", "ormcli", "--db", db, "-m", blog_models]
    subprocess.run([*base, "migrate"], cwd=tmp_path, capture_output=True, check=True)
    for bad in ("-1", "x"):
        result = subprocess.run(
            [*base, "find", "User", "--limit", bad], cwd=tmp_path, capture_output=True, text=True
        )
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith("error: ") and "--limit" in result.stderr
        assert result.stderr.count("\n") == 1, result.stderr
