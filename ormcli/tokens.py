"""The tokenizer of the command language, and the token stream the parsers read.

Callers: ``language.py`` (commands) and ``where.py`` (expressions) parse from a
:class:`TokenStream`; ``completion.py`` tokenizes a partial line to find its context.
It never evaluates anything: literals are decoded by hand (no ``eval``, no
``ast.literal_eval``). It knows no command names and no keywords; those belong to the parsers.

Tokens: ``NAME`` (identifiers, keywords and ``True``/``False``/``None``), ``NUMBER``
(``42``, ``-3.5``, ``1e3``), ``STRING`` (``"..."`` or ``'...'`` with ``\\n \\t \\\\ \\" \\'
\\uXXXX`` escapes), ``HANDLE`` (``@1``), ``FLAG`` (``--sql``), ``OP`` (``= == != < <= > >=
+= -= ( ) [ ] { } , :``) and one ``EOF``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from ormcli.errors import ParseError

TokenKind = Literal["NAME", "NUMBER", "STRING", "HANDLE", "FLAG", "OP", "EOF"]

_OPERATORS = (
    "+=",
    "-=",
    "==",
    "!=",
    "<=",
    ">=",
    "<>",
    "=",
    "<",
    ">",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\", '"': '"', "'": "'"}


@dataclass(frozen=True)
class Token:
    """One token: its kind, its source text, its decoded value and where it starts."""

    kind: TokenKind
    text: str
    pos: int
    value: object = None


_DIGITS = frozenset("0123456789")


def _is_digit(char: str) -> bool:
    """ASCII digits only (``"²".isdigit()`` is true, and ``int("²")`` fails)."""
    return char in _DIGITS


def _is_name_start(char: str) -> bool:
    return char.isalpha() or char == "_"


def _is_name_char(char: str) -> bool:
    return char.isalnum() or char in "_."


def _read_string(line: str, start: int) -> tuple[str, int]:
    """Decode the string literal starting at ``line[start]``; return (value, end)."""
    quote = line[start]
    out: list[str] = []
    i = start + 1
    while i < len(line):
        char = line[i]
        if char == quote:
            return "".join(out), i + 1
        if char == "\\":
            if i + 1 >= len(line):
                break
            nxt = line[i + 1]
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
                i += 2
                continue
            if nxt == "u":
                digits = line[i + 2 : i + 6]
                if len(digits) == 4 and all(c in "0123456789abcdefABCDEF" for c in digits):
                    out.append(chr(int(digits, 16)))
                    i += 6
                    continue
                raise ParseError(f"bad \\u escape in string at column {i + 1}", i)
            shown = nxt if nxt.isprintable() else repr(nxt)  # one line even for a newline
            raise ParseError(f"unknown escape \\{shown} in string at column {i + 1}", i)
        out.append(char)
        i += 1
    raise ParseError(f"unterminated string starting at column {start + 1}", start)


#: A bare ISO date or date-time, which would otherwise read as ``2024``, ``-05``, ``-01``.
_BARE_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?")


def _read_number(line: str, start: int) -> tuple[Token, int]:
    date = _BARE_DATE.match(line, start)
    if date:
        raise ParseError(
            f'a date or time is written as quoted text: "{date.group()}" (column {start + 1})',
            start,
        )
    i = start
    if line[i] in "+-":
        i += 1
    digits_start = i
    while i < len(line) and (_is_digit(line[i]) or line[i] == "_"):
        i += 1
    is_float = False
    if i < len(line) and line[i] == "." and i + 1 < len(line) and _is_digit(line[i + 1]):
        is_float = True
        i += 1
        while i < len(line) and _is_digit(line[i]):
            i += 1
    if i < len(line) and line[i] in "eE":
        j = i + 1
        if j < len(line) and line[j] in "+-":
            j += 1
        if j < len(line) and _is_digit(line[j]):
            is_float = True
            i = j
            while i < len(line) and _is_digit(line[i]):
                i += 1
    text = line[start:i]
    if i < len(line) and _is_name_char(line[i]):
        raise ParseError(f"bad number {line[start : i + 1]!r} at column {start + 1}", start)
    if i == digits_start or text.endswith("_") or "__" in text:
        raise ParseError(f"bad number {text!r} at column {start + 1}", start)
    value: int | float = float(text) if is_float else int(text)
    return Token("NUMBER", text, start, value), i


#: The common tokens in one pass: blanks, names, operators and strings without escapes.
#: Everything else (numbers, handles, flags, escapes, errors) takes the careful path below.
_FAST = re.compile(
    r"""(?P<blank>\s+)|(?P<name>[^\W\d][\w.]*)|(?P<string>"[^"\\]*"|'[^'\\]*')"""
    r"|(?P<op>" + "|".join(re.escape(op) for op in _OPERATORS) + ")"
)


def tokenize(line: str) -> list[Token]:
    """Split one line into tokens, ending with an ``EOF`` token.

    Raises :class:`ParseError` (and nothing else) for text that is not a token.
    """
    tokens: list[Token] = []
    append = tokens.append
    fast = _FAST.match
    i = 0
    n = len(line)
    while i < n:
        m = fast(line, i)
        if m is not None and (m.lastgroup != "name" or _is_name_start(line[i])):
            kind = m.lastgroup
            end = m.end()
            if kind == "name":
                text = m.group()
                append(Token("NAME", text, i, text))
            elif kind == "string":
                append(Token("STRING", m.group(), i, line[i + 1 : end - 1]))
            elif kind == "op":
                text = m.group()
                append(Token("OP", text, i, text))
            i = end
            continue
        char = line[i]
        if char in "\"'":
            value, end = _read_string(line, i)
            append(Token("STRING", line[i:end], i, value))
            i = end
        elif _is_digit(char) or (char in "+-" and i + 1 < n and _is_digit(line[i + 1])):
            token, i = _read_number(line, i)
            append(token)
        elif char == "@":
            end = i + 1
            while end < n and _is_digit(line[end]):
                end += 1
            if end == i + 1 or (end < n and _is_name_char(line[end])):
                raise ParseError(f"a handle is @ followed by a number, at column {i + 1}", i)
            append(Token("HANDLE", line[i:end], i, int(line[i + 1 : end])))
            i = end
        elif line.startswith("--", i) and i + 2 < n and _is_name_start(line[i + 2]):
            end = i + 2
            while end < n and (line[end].isalnum() or line[end] in "-_"):
                end += 1
            append(Token("FLAG", line[i:end], i, line[i:end]))
            i = end
        else:
            for op in _OPERATORS:
                if line.startswith(op, i):
                    append(Token("OP", op, i, op))
                    i += len(op)
                    break
            else:
                raise ParseError(f"unexpected character {char!r} at column {i + 1}", i)
    append(Token("EOF", "", n))
    return tokens


def describe(token: Token) -> str:
    """How a token is named in an error message."""
    return "end of line" if token.kind == "EOF" else repr(token.text)


class TokenStream:
    """A cursor over the tokens of one line, with the helpers both parsers use."""

    def __init__(self, line: str) -> None:
        self.line = line
        self.tokens = tokenize(line)
        self.index = 0

    def peek(self, ahead: int = 0) -> Token:
        """The token ``ahead`` positions after the cursor (``EOF`` past the end)."""
        tokens = self.tokens
        i = self.index + ahead
        return tokens[i] if i < len(tokens) else tokens[-1]

    def next(self) -> Token:
        """Consume and return the next token."""
        token = self.peek()
        if token.kind != "EOF":
            self.index += 1
        return token

    def at_keyword(self, *words: str, ahead: int = 0) -> bool:
        """Is the next token a NAME equal (case-insensitively) to one of ``words``?"""
        token = self.peek(ahead)
        return token.kind == "NAME" and token.text.lower() in words

    def accept_keyword(self, word: str) -> bool:
        """Consume the keyword ``word`` if it is next."""
        if self.at_keyword(word):
            self.index += 1
            return True
        return False

    def expect_keyword(self, word: str, context: str) -> None:
        """Consume ``word`` or raise a ParseError naming ``context``."""
        if not self.accept_keyword(word):
            token = self.peek()
            raise ParseError(f"expected {word!r} {context}, got {describe(token)}", token.pos)

    def at_op(self, *ops: str) -> bool:
        """Is the next token one of the operators ``ops``?"""
        token = self.peek()
        return token.kind == "OP" and token.text in ops

    def accept_op(self, op: str) -> bool:
        """Consume the operator ``op`` if it is next."""
        if self.at_op(op):
            self.index += 1
            return True
        return False

    def expect_op(self, op: str, context: str) -> Token:
        """Consume ``op`` or raise a ParseError naming ``context``."""
        token = self.peek()
        if not self.accept_op(op):
            raise ParseError(f"expected {op!r} {context}, got {describe(token)}", token.pos)
        return token

    def expect_name(self, what: str) -> Token:
        """Consume a NAME token (an entity or field name) or raise naming ``what``."""
        token = self.peek()
        if token.kind != "NAME":
            raise ParseError(f"expected {what}, got {describe(token)}", token.pos)
        return self.next()

    def expect_end(self, context: str) -> None:
        """Raise unless the whole line has been consumed."""
        token = self.peek()
        if token.kind != "EOF":
            raise ParseError(f"unexpected {describe(token)} {context}", token.pos)
