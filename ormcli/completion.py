"""Completion for the REPL: command names, entity names and field names, by context.

Contexts: the first word → commands; ``help `` → commands; after a command whose first slot is
an entity (``add``, ``set``, ``find``, ...) → entity names; ``add User `` and ``set User 3 `` →
``field=`` for fields not given yet; after ``where``, ``order by``, ``group by`` and ``count E
by`` → the entity's field and collection names and the expression keywords (``any``/``none``
after a collection), and after ``author.`` the fields of the entity a path reaches; after
``find E select`` → fields and aggregates (``sum(``...); ``status``/``migrate`` → their flags;
``load `` → file paths.
Inside a condition it follows the last word: after a field → the operators (``=``, ``like``,
``in (``, ``is null``...); after an operator → the field's values (enum members, ``True``/
``False``, ``None`` where nullable, handles of the referenced entity and the keys stored in the
database (``1  Ada Lovelace``, ``"TEA-1"``), from the ``values`` callable); after a value →
``and``, ``or``, ``order by``, ``limit``; after ``order by FIELD`` → ``desc``, ``asc``, ``,``
and ``limit``. ``add``/``set`` complete ``field=VALUE`` the same way;
``set``/``show``/``remove ENTITY `` complete the entity's stored keys (the ``keys`` callable).

Callers: ``repl.py``. It reads the registry in ``commands.py`` and asks callables for entity
and field names, values and keys, so it needs no database and can be tested with plain
lists. It does not tokenize strictly (a half-typed string must not break completion).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from prompt_toolkit.completion import CompleteEvent, Completer, Completion, PathCompleter
from prompt_toolkit.document import Document

from ormcli import lazy
from ormcli.commands import lookup, specs

if TYPE_CHECKING:
    from ormcli import language as cmd
else:  # built at first use (start-up time: ormcli/lazy.py)
    cmd = lazy.module("ormcli.language")

WHERE_WORDS = (
    "and",
    "or",
    "not",
    "in",
    "like",
    "is",
    "null",
    "any",
    "none",
    "group",
    "order",
    "limit",
)


#: A candidate: its text, or (text, a note shown beside it in the menu).
Choice = str | tuple[str, str]


class CommandCompleter(Completer):
    """Completes a line of the command language."""

    def __init__(
        self,
        entities: Callable[[], list[str]],
        fields: Callable[[str, bool], list[str]],
        values: Callable[[str, str, str], Sequence[Choice]] | None = None,
        keys: Callable[[str, str], Sequence[Choice]] | None = None,
    ) -> None:
        """``entities()`` lists entity names; ``fields(entity, writable)`` its field names
        (``writable`` leaves out auto-assigned keys), ``[]`` for an unknown entity;
        ``values(entity, field, typed)`` the literals worth offering for a field, given the
        start of the value typed so far (may be ``[]``); ``keys(entity, typed)`` the stored
        keys of an entity (``set User <Tab>``)."""
        self.entities = entities
        self.fields = fields
        self.values = values or (lambda entity, field, typed: [])
        self.keys = keys or (lambda entity, typed: [])
        self._paths = PathCompleter(expanduser=True)

    def get_completions(
        self, document: Document, complete_event: CompleteEvent
    ) -> Iterable[Completion]:
        text = document.text_before_cursor
        words = text.split()
        prefix = words.pop() if text and not text[-1].isspace() and words else ""
        if not words:
            yield from _matches(prefix, sorted(s.name for s in specs()))
            return
        spec = lookup(words[0])
        if spec is None:
            return
        if spec.name == "load":
            path_doc = Document(text[len(text.split(None, 1)[0]) :].lstrip())
            yield from self._paths.get_completions(path_doc, complete_event)
            return
        if spec.name == "help":
            if len(words) == 1:
                yield from _matches(prefix, sorted(s.name for s in specs()))
            return
        if "flags" in spec.slots:
            yield from _matches(prefix, spec.flags)
            return
        if "entity" not in spec.slots:
            return
        if len(words) == 1:
            yield from _matches(prefix, sorted(self.entities()))
            return
        entity = words[1]
        lowered = [w.lower() for w in words]
        if spec.name == "upsert" and "on" in lowered[2:]:  # upsert E f=v ... on FIELD, ...
            if lowered[-1] == "on" or lowered[-1].endswith(","):
                yield from _matches(prefix, self.fields(entity, False))
            else:
                yield from _matches(prefix, [","])
            return
        in_select = (
            spec.name == "find"
            and "select" in lowered
            and not {"distinct", "where", "group", "order", "limit"} & set(lowered)
        )
        if in_select and (lowered[-1] == "select" or lowered[-1].endswith(",")):
            names = [*self.fields(entity, False), *(f"{f}(" for f in cmd.AGGREGATE_FUNCS)]
            yield from _matches(prefix, names)
            return
        fields = self.fields(entity, False)
        context = _after(lowered, fields)
        if context is not None:
            kind, field = context
            if kind == "operators":  # (any/none: the field may be a collection)
                yield from _matches(prefix, [*OPERATORS, "any", "none"])
            elif kind == "values":
                yield from _matches(prefix, self.values(entity, field, prefix))
            elif kind == "after_value":
                yield from _matches(prefix, ["and", "or", "order by", "limit"])
            else:
                yield from _matches(prefix, ["desc", "asc", ",", "limit"])
            return
        if (
            "where" in lowered
            or lowered[-2:] in (["order", "by"], ["group", "by"])
            or lowered[-1] == ","
            or lowered[-1] == "by"
        ):
            # A path through relations: ``author.`` completes the referenced entity's fields.
            head, dot, _ = prefix.lstrip("(").rpartition(".")
            if dot:
                lead = prefix[: len(prefix) - len(prefix.lstrip("("))]
                names = self.fields(f"{entity}.{head}", False)
                yield from _matches(prefix, [f"{lead}{head}.{n}" for n in names])
                return
            yield from _matches(prefix, [*self.fields(entity, False), *WHERE_WORDS])
            return
        if spec.name == "find" or spec.name == "count":
            keywords = (
                ["by", "where"]
                if spec.name == "count"
                else ["select", "distinct", "where", "group by", "order by", "limit"]
            )
            yield from _matches(prefix, keywords)
            return
        if "key" in spec.slots and len(words) == 2 and not entity.startswith("@"):
            # set/show/remove ENTITY <Tab>: its stored keys (remove: and where)
            extra: list[Choice] = ["where"] if spec.name == "remove" else []
            yield from _matches(prefix, [*self.keys(entity, prefix), *extra])
            return
        if "fields" in spec.slots:
            # set ENTITY PK field=..., or set @N field=... (the handle names the entity)
            needs_key = "key" in spec.slots and not entity.startswith("@")
            if needs_key and len(words) < 3:
                return
            if "=" in prefix:  # field=VALUE
                name, typed = prefix.split("=", 1)
                choices = self.values(entity, name, typed)
                yield from _matches(prefix, [_prefixed(f"{name}=", c) for c in choices])
                return
            given = {w.split("=", 1)[0] for w in words[2:] if "=" in w}
            names = [f"{n}=" for n in self.fields(entity, True) if n not in given]
            if spec.name == "upsert" and given:
                names.append("on")
            yield from _matches(prefix, names)


OPERATORS = ("=", "!=", "<", "<=", ">", ">=", "in (", "not in (", "like", "is null", "is not null")
_COMPARE = frozenset({"=", "==", "!=", "<>", "<", "<=", ">", ">="})
_JOINERS = frozenset({"where", "and", "or", "not", "("})


def _after(words: list[str], fields: list[str]) -> tuple[str, str] | None:
    """What may follow the complete ``words`` of a condition or an ``order by``:
    ``("operators", field)``, ``("values", field)``, ``("after_value", field)``,
    ``("order", field)``, or None when the other rules apply."""
    known = {f.lower(): f for f in fields}
    if len(words) < 3 or ("where" not in words and "order" not in words):
        return None
    last = words[-1]
    if len(words) >= 4 and words[-3:-1] == ["order", "by"] and last in known:
        return "order", known[last]
    if words[-2] in ("by", ",") and "order" in words and last in known:
        return "order", known[last]
    if "order" in words[words.index("where") if "where" in words else 0 :]:
        return None
    if last in known and words[-2] in _JOINERS:
        return "operators", known[last]
    if last in _COMPARE and words[-2] in known:
        return "values", known[words[-2]]
    if words[-2] in _COMPARE and words[-3] in known:
        return "after_value", known[words[-3]]
    if last in ("null",) or last.endswith(")"):
        return "after_value", ""
    return None


def _prefixed(lead: str, choice: Choice) -> Choice:
    return lead + choice if isinstance(choice, str) else (lead + choice[0], choice[1])


def _matches(prefix: str, candidates: Iterable[Choice]) -> Iterable[Completion]:
    low = prefix.lower()
    for candidate in candidates:
        text, meta = (candidate, "") if isinstance(candidate, str) else candidate
        if text.lower().startswith(low):
            yield Completion(text, start_position=-len(prefix), display_meta=meta or None)
