"""Events: a small registry of hooks that a session calls at fixed points of its work.

Session events: ``before_commit`` (``fn(session)``, before the commit's flush: it may change
objects and stage more work), ``after_commit`` and ``after_rollback`` (``fn(session)``). Entity
events: ``before_insert``, ``before_update``, ``before_delete`` (``fn(obj, session)``), called
for each staged object as a flush (or commit) collects its work; a method of that name on the
entity class (``def before_update(self, session)``) is a hook too. A before-hook may change
the object and stage more work, which joins the same flush. Register on a database (every
session of it) or on one session: ``database.on("after_commit", fn)``,
``database.on(Post, "before_update", fn)``.

Callers: ``core.database`` and ``core.session`` (``on``), ``core.session`` (firing). What it
leaves out: when hooks run and how a failing hook is undone (``core.session``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core.entity import EntityInfo, entity_info
from core.errors import ConfigurationError

__all__ = ["ENTITY_EVENTS", "SESSION_EVENTS", "Events"]

SESSION_EVENTS = ("before_commit", "after_commit", "after_rollback")
ENTITY_EVENTS = ("before_insert", "before_update", "before_delete")


class Events:
    """Hooks by event name, and by entity and event name."""

    __slots__ = ("by_entity", "by_name")

    def __init__(self) -> None:
        self.by_name: dict[str, list[Callable[..., Any]]] = {}
        self.by_entity: dict[tuple[EntityInfo, str], list[Callable[..., Any]]] = {}

    def __bool__(self) -> bool:
        return bool(self.by_name or self.by_entity)

    def on(self, target: str | type, event: Any = None, fn: Any = None) -> Callable[..., Any]:
        """``on("after_commit", fn)`` or ``on(Entity, "before_update", fn)``; returns ``fn``.
        Without ``fn`` it is a decorator: ``@database.on(Post, "before_update")``."""
        if isinstance(target, str):
            name, fn = target, event
            if name not in SESSION_EVENTS:
                raise ConfigurationError(
                    f"unknown session event {name!r}; use one of: {', '.join(SESSION_EVENTS)}"
                )
            if fn is None:
                return lambda f: self.on(name, f)
            self.by_name.setdefault(name, []).append(fn)
            return fn  # type: ignore[no-any-return]
        info = entity_info(target)
        if event not in ENTITY_EVENTS:
            raise ConfigurationError(
                f"unknown entity event {event!r} for {target.__name__}; use one of: "
                f"{', '.join(ENTITY_EVENTS)}"
            )
        if fn is None:
            return lambda f: self.on(target, event, f)
        self.by_entity.setdefault((info, event), []).append(fn)
        return fn  # type: ignore[no-any-return]


def entity_hooks(info: EntityInfo, event: str, *registries: Events) -> list[Callable[..., Any]]:
    """The hooks of ``event`` for objects of ``info``: registered ones, then the class's own
    method of that name (called as ``method(obj, session)``)."""
    hooks = [fn for r in registries for fn in r.by_entity.get((info, event), ())]
    method = getattr(info.cls, event, None)
    if callable(method):
        hooks.append(method)
    return hooks


def has_entity_methods(info: EntityInfo) -> bool:
    return any(callable(getattr(info.cls, e, None)) for e in ENTITY_EVENTS)
