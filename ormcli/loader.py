"""Load model files (``path/to/models.py``) and modules (``package.models``) and collect the
entity classes they define.

Callers: ``executor.py`` (``load PATH``) and ``app.py`` (``--models``). Each failure is one
line: a missing file (exit 2), a syntax error as ``file:line: ...``, an error while the file runs
(``file:line: ...`` of the deepest frame in that file), a file that defines no entities, and two
entities with the same name. A file is imported once per process (cached by its real path). It
does not validate entities beyond what core's ``entity_info`` does.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

import core
from ormcli.errors import EXIT_USAGE, ModelLoadError

_LOADED: dict[str, list[type]] = {}


def is_path(spec: str) -> bool:
    """A spec is a file path if it ends in ``.py`` or contains a path separator."""
    return spec.endswith(".py") or "/" in spec or "\\" in spec


def entity_classes(module: ModuleType) -> list[type]:
    """The entity classes defined (not imported) in ``module``, in definition order."""
    found: list[type] = []
    for value in vars(module).values():
        if (
            isinstance(value, type)
            and value.__module__ == module.__name__
            and core.is_entity(value)
        ):
            found.append(value)
    return found


def _where(exc: BaseException, filename: str) -> str:
    """``file:line`` of the deepest traceback frame inside ``filename``."""
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == filename:
            line = frame.lineno
    return f"{filename}:{line}" if line else filename


def load_file(spec: str) -> list[type]:
    """Import the model file ``spec`` and return its entity classes."""
    path = Path(spec).expanduser()
    if not path.is_file():
        raise ModelLoadError(f"model file not found: {spec}", EXIT_USAGE)
    real = str(path.resolve())
    if real in _LOADED:
        return _LOADED[real]
    digest = hashlib.sha1(real.encode()).hexdigest()[:10]
    name = f"ormcli_models_{path.stem}_{digest}"
    module_spec = importlib.util.spec_from_file_location(name, real)
    if module_spec is None or module_spec.loader is None:
        raise ModelLoadError(f"{spec}: cannot be imported as a Python file")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    parent = str(path.resolve().parent)
    sys.path.insert(0, parent)
    try:
        module_spec.loader.exec_module(module)
        classes = _check_entities(entity_classes(module), spec)
    except SyntaxError as exc:
        del sys.modules[name]
        raise ModelLoadError(f"{spec}:{exc.lineno}: syntax error: {exc.msg}") from None
    except ModelLoadError:
        del sys.modules[name]
        raise
    except Exception as exc:
        del sys.modules[name]
        where = _where(exc, real).replace(real, spec)
        raise ModelLoadError(f"{where}: {_describe(exc)}") from None
    finally:
        if parent in sys.path:
            sys.path.remove(parent)
    _LOADED[real] = classes
    return classes


def load_module(spec: str) -> list[type]:
    """Import the dotted module ``spec`` and return its entity classes."""
    try:
        module = importlib.import_module(spec)
    except ModuleNotFoundError as exc:
        if exc.name and spec.startswith(exc.name):
            raise ModelLoadError(f"model module not found: {spec}", EXIT_USAGE) from None
        raise ModelLoadError(f"{spec}: {_describe(exc)}") from None
    except SyntaxError as exc:
        raise ModelLoadError(f"{exc.filename}:{exc.lineno}: syntax error: {exc.msg}") from None
    except Exception as exc:
        raise ModelLoadError(f"{spec}: {_describe(exc)}") from None
    return _check_entities(entity_classes(module), spec)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, core.OrmError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _check_entities(classes: list[type], spec: str) -> list[type]:
    if not classes:
        raise ModelLoadError(f"{spec} defines no entities (decorate classes with @entity)")
    for cls in classes:
        core.entity_info(cls)  # resolves forward references; ModelError names the culprit
    return classes


def load_models(
    specs: list[str] | tuple[str, ...], already: list[type] | None = None
) -> list[type]:
    """Load every spec; return all entity classes (``already`` first), checking name clashes."""
    classes: list[type] = list(already or [])
    for spec in specs:
        loaded = load_file(spec) if is_path(spec) else load_module(spec)
        for cls in loaded:
            if cls not in classes:
                classes.append(cls)
    check_unique_names(classes)
    return classes


def check_unique_names(classes: list[type]) -> None:
    """Two entities may not share a class name or an entity (table) name."""
    by_name: dict[str, type] = {}
    for cls in classes:
        info: Any = core.entity_info(cls)
        for key in {cls.__name__.lower(), str(info.name).lower()}:
            other = by_name.get(key)
            if other is not None and other is not cls:
                raise ModelLoadError(
                    f"two entities are named {key!r}: {_origin(other)} and {_origin(cls)}"
                )
            by_name[key] = cls


def _origin(cls: type) -> str:
    module = sys.modules.get(cls.__module__)
    where = getattr(module, "__file__", None) or cls.__module__
    return f"{cls.__qualname__} ({where})"
