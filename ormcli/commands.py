"""The registry of commands: name, usage, one-line summary, help text and what the words after
the command are (for completion), filled by a decorator on each command's parser.

Callers: ``language.py`` decorates its parse functions with :func:`command`; ``language.parse``
dispatches through :data:`REGISTRY`; ``completion.py`` reads :attr:`CommandSpec.slots` and
``executor.py`` builds ``help`` from the specs. It holds no parsing or execution logic itself
(litecli's special-command registry, reduced to data).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

Slot = Literal["entity", "key", "fields", "where", "path", "command", "flags"]
"""What a word position expects: an entity name, a primary key, ``field=value`` pairs, a
``where`` clause, a file path, a command name, or the command's ``--flags``."""

Parser = Callable[[Any], Any]
P = TypeVar("P", bound=Parser)


@dataclass(frozen=True)
class CommandSpec:
    """How one command is written, explained and completed."""

    name: str
    usage: str
    summary: str
    details: str
    slots: tuple[Slot, ...] = ()
    flags: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    parser: Parser = field(default=lambda stream: None, compare=False, repr=False)


REGISTRY: dict[str, CommandSpec] = {}
"""Command name (and each alias) -> spec, in registration order."""


def command(
    name: str,
    *,
    usage: str,
    summary: str,
    details: str = "",
    slots: tuple[Slot, ...] = (),
    flags: tuple[str, ...] = (),
    aliases: tuple[str, ...] = (),
) -> Callable[[P], P]:
    """Register the decorated parse function as the parser of command ``name``."""

    def register(parser: P) -> P:
        spec = CommandSpec(name, usage, summary, details, slots, flags, aliases, parser)
        for key in (name, *aliases):
            REGISTRY[key] = spec
        return parser

    return register


def _registered() -> dict[str, CommandSpec]:
    """:data:`REGISTRY`, filled first if need be: the commands register when ``language.py``
    runs, which its importers leave until first use (``ormcli/lazy.py``); completion and
    highlighting may look a command up before anything was parsed."""
    if not REGISTRY:
        importlib.import_module("ormcli.language").parse  # noqa: B018 (runs the module)
    return REGISTRY


def specs() -> list[CommandSpec]:
    """Each command once, in registration order (aliases folded in)."""
    seen: dict[str, CommandSpec] = {}
    for spec in _registered().values():
        seen.setdefault(spec.name, spec)
    return list(seen.values())


def lookup(name: str) -> CommandSpec | None:
    """The spec of a command or alias, case-insensitively."""
    return _registered().get(name.lower())
