""" "Did you mean ...?" for a misspelt command, entity, field or option.

Callers: ``language.py`` (commands), ``executor.py`` (entities, fields), ``config.py`` (settings
keys). It only compares strings (``difflib``); what to do with a suggestion is the caller's.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice most like ``word`` (case-insensitively), if one is close enough."""
    options = list(choices)
    lowered = {c.lower(): c for c in options}
    found = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[found[0]] if found else None


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` — did you mean 'find'?`` or ``""``."""
    match = closest(word, choices)
    return f" — did you mean {match!r}?" if match else ""
