"""Syntax highlighting of the REPL's input line, from the language's own tokenizer.

Callers: ``repl.py`` passes :class:`CommandLexer` to prompt-toolkit. Each line of the buffer is
tokenized by ``tokens.tokenize``; the first name is a command (bold if known, red if not),
keywords of ``where``/``order by`` are bold, strings green, numbers cyan, handles magenta, flags
yellow; text from the first character the tokenizer rejects is left unstyled (the user is still
typing). Colour only decorates: nothing here changes what a line means.
"""

from __future__ import annotations

from collections.abc import Callable

from prompt_toolkit.document import Document
from prompt_toolkit.formatted_text import StyleAndTextTuples
from prompt_toolkit.lexers import Lexer

from ormcli.commands import lookup
from ormcli.errors import ParseError
from ormcli.tokens import Token, tokenize

KEYWORDS = frozenset(
    {
        "where",
        "and",
        "or",
        "not",
        "in",
        "like",
        "is",
        "null",
        "order",
        "by",
        "desc",
        "asc",
        "limit",
        "true",
        "false",
        "none",
    }
)
_STYLES = {
    "STRING": "ansigreen",
    "NUMBER": "ansicyan",
    "HANDLE": "ansimagenta",
    "FLAG": "ansiyellow",
    "OP": "",
}


def _line_tokens(line: str) -> tuple[list[Token], int]:
    """The tokens of ``line`` up to the first one the tokenizer rejects, and where that is."""
    try:
        return tokenize(line)[:-1], len(line)
    except ParseError as exc:
        stop = exc.column if exc.column is not None else 0
        try:
            return tokenize(line[:stop])[:-1], stop
        except ParseError:
            return [], 0


def style_line(line: str, first_line: bool = True) -> StyleAndTextTuples:
    """``(style, text)`` fragments covering ``line`` exactly."""
    tokens, stop = _line_tokens(line)
    out: StyleAndTextTuples = []
    at = 0
    for index, token in enumerate(tokens):
        end = token.pos + len(token.text)
        if token.pos > at:
            out.append(("", line[at : token.pos]))
        if token.kind == "NAME":
            if index == 0 and first_line:
                style = "bold" if lookup(token.text) else "ansired"
            else:
                style = "bold" if token.text.lower() in KEYWORDS else ""
        else:
            style = _STYLES.get(token.kind, "")
        out.append((style, line[token.pos : end]))
        at = end
    if at < len(line):
        out.append(("", line[at:]))
    del stop
    return out


class CommandLexer(Lexer):
    """prompt-toolkit lexer over the command language."""

    def lex_document(self, document: Document) -> Callable[[int], StyleAndTextTuples]:
        lines = document.lines

        def get_line(number: int) -> StyleAndTextTuples:
            if number >= len(lines):
                return []
            return style_line(lines[number], first_line=number == 0)

        return get_line
