"""Where one command ends and the next begins, in text the user typed or pasted.

``;`` ends a command and separates several on a line; a newline ends one too, except inside an
open bracket (``(`` ``[`` ``{``) or quote, or after a trailing ``\\`` (which is dropped). So a
pasted block runs line by line, ``count User; count Post`` runs twice, and
``add Post meta={"a": 1,`` + Enter waits for the rest.

Callers: ``repl.py`` (what a prompt returned), ``keys.py`` (does Enter accept the buffer?) and
``script.py`` (each line of a script). It looks at quotes, escapes and brackets only; it does
not tokenize or parse (``tokens.py`` and ``language.py`` do, per command).
"""

from __future__ import annotations

_OPEN = {"(": ")", "[": "]", "{": "}"}


def _scan(text: str) -> tuple[list[str], bool]:
    """The complete commands in ``text`` and whether the text ends inside an unfinished one."""
    commands: list[str] = []
    current: list[str] = []
    quote = ""
    depth: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        char = text[i]
        if quote:
            current.append(char)
            if char == "\\" and i + 1 < n:
                current.append(text[i + 1])
                i += 2
                continue
            if char == quote:
                quote = ""
            i += 1
            continue
        if char in "\"'":
            quote = char
        elif char in _OPEN:
            depth.append(_OPEN[char])
        elif depth and char == depth[-1]:
            depth.pop()
        elif char == "\\" and text.startswith("\n", i + 1):
            current.append(" ")  # a continued line: the backslash and newline become a blank
            i += 2
            continue
        elif char == "#" and not "".join(current).strip():
            end = text.find("\n", i)
            i = n if end < 0 else end  # a comment line
            continue
        elif (char == ";" or char == "\n") and not depth:
            commands.append("".join(current))
            current = []
            i += 1
            continue
        current.append(char)
        i += 1
    rest = "".join(current)
    unfinished = bool(quote or depth or rest.rstrip(" \t").endswith("\\"))
    if rest.strip() or unfinished:
        commands.append(rest)
    return [c.strip() for c in commands if c.strip()], unfinished


def split_commands(text: str) -> list[str]:
    """The commands in ``text``, in order (blank ones and ``#`` comment lines left out)."""
    return _scan(text)[0]


def is_complete(text: str) -> bool:
    """Does ``text`` end outside any quote or bracket and without a trailing ``\\``? (Enter
    then runs it; otherwise Enter starts a new line of the same command.)"""
    return not _scan(text)[1]
