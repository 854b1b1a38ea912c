"""Schema migrations: read the live schema, diff it against the models, check the data,
render SQL per dialect, run it under a lock with a history, and keep versioned files.

The pipeline, one module each (imports point down the list)::

    schema      Schema / Table / Column ... as plain data, fingerprints
    model       the schema the models ask for (neutral type specs), name checks
    reader      the live schema, from the dialect's catalog queries
    operations  one change each, as data; apply_ops plays them on a Schema; JSON in and out
    diff        live vs models -> operations (+ suggested renames); pure
    checks      what each operation does to the rows there are (safe / data loss / blocked)
    order       where DDL cannot roll back: the steps rows can break first
    render      operations -> SQL for a dialect (SQLite table rebuilds)
    plan        the MigrationPlan: operations, findings, SQL, printable lines
    history     the ormcli_migrations table
    runner      lock, decide, apply all or nothing (statement by statement on MySQL), record
    files       versioned files under migrations/: plan, apply, status, undo, squash, check

Callers: ``core.database`` and ``ormcli``. What it leaves out: printing and prompting.
The names below are imported when first used (``import core`` and opening a database stay
free of the pipeline: start-up time, issue 18 point 6).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.migrations.plan import MigrationPlan, PlanLine, make_plan
    from core.migrations.runner import MigrateOptions, NoQuestions, Questioner, migrate

_LAZY = {
    "MigrationPlan": "core.migrations.plan",
    "PlanLine": "core.migrations.plan",
    "make_plan": "core.migrations.plan",
    "MigrateOptions": "core.migrations.runner",
    "NoQuestions": "core.migrations.runner",
    "Questioner": "core.migrations.runner",
    "migrate": "core.migrations.runner",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'core.migrations' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "MigrateOptions",
    "MigrationPlan",
    "NoQuestions",
    "PlanLine",
    "Questioner",
    "make_plan",
    "migrate",
]
