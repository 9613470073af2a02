"""The checks a SQL text passes before any engine sees it, and the lexer they stand on.

The lexer is not SQL parsing: it only knows quotes and comments, so that a ';' or a '(' inside a
string never counts. The engines parse each piece. Everything here is linear in the text, for
any input: these checks run on every hostile text before a parser does.

    >>> nesting_depth("SELECT ((1)) + '((('")
    2
    >>> check_text("SELECT 1\\x00", MAX_SQL_CHARS).kind
    'syntax'
"""

from __future__ import annotations

import re
from typing import Any

import apsw

from sqlgrpo.sql.result import ErrorKind, ExecFailure

MAX_SQL_CHARS = 100_000  # no real answer is longer; bounds the cost of splitting and parsing
MAX_CONTEXT_CHARS = 5_000_000  # contexts carry INSERT data, so they may be much larger
MAX_NESTING_DEPTH = 200  # parentheses; DuckDB's parser is quadratic in unclosed ones
MAX_TRIGGER_CHARS = 20_000  # a trigger body longer than this is split like any other text

_TOKEN = re.compile(
    r"'[^']*(?:''[^']*)*'?"  # string literal (unterminated: runs to the end)
    r'|"[^"]*(?:""[^"]*)*"?'  # quoted identifier
    r"|`[^`]*`?"  # MySQL identifier
    r"|--[^\n]*"  # line comment
    r"|/\*.*?(?:\*/|\Z)"  # block comment (unterminated: runs to the end)
    r"|;"
    r"|[^'\"`;/-]+"  # anything else, in bulk
    r"|[/-]",  # a lone slash or dash
    re.DOTALL,
)

_TRIGGER_START = re.compile(r"\s*CREATE\s+(?:TEMP\s+|TEMPORARY\s+)?TRIGGER\b", re.IGNORECASE)
_ENDS_WITH_END = re.compile(r"\bEND\s*$", re.IGNORECASE)


def split_statements(text: str, backend: str = "sqlite") -> list[str]:
    """Split a text into statements on top-level semicolons; comment-only pieces are dropped.

    >>> split_statements("SELECT ';'; -- c\\n SELECT 2;")
    ["SELECT ';';", '-- c\\n SELECT 2;']

    A SQLite CREATE TRIGGER body holds inner semicolons: inside one, the text is split only at
    an `END;` that SQLite's `complete` accepts. Linear in the text for any input.
    """
    pieces: list[str] = []
    start = 0
    has_code = False
    in_trigger = False
    last_code = ""
    for m in _TOKEN.finditer(text):
        tok = m.group()
        if tok == ";":
            if in_trigger and m.end() - start < MAX_TRIGGER_CHARS:
                if not (_ENDS_WITH_END.search(last_code) and apsw.complete(text[start:m.end()])):
                    continue  # a statement inside the trigger body
            if has_code:
                pieces.append(text[start:m.end()].strip())
            start, has_code, in_trigger = m.end(), False, False
        elif not tok.startswith(("--", "/*")) and tok.strip():
            if not has_code:
                has_code = True
                in_trigger = backend == "sqlite" and bool(_TRIGGER_START.match(tok))
            last_code = tok
    if has_code:
        pieces.append(text[start:].strip())
    return pieces


def starts_with_keyword(statement: str, keyword: str) -> bool:
    """Whether the statement's first word, after comments, is `keyword`."""
    for m in _TOKEN.finditer(statement):
        tok = m.group()
        if tok.startswith(("--", "/*")) or not tok.strip():
            continue
        return tok.lstrip().upper().startswith(keyword)
    return False


def check_text(text: Any, max_chars: int) -> ExecFailure | None:
    """Reject texts no engine should see: not a string, too long, NUL bytes, invalid Unicode."""
    if not isinstance(text, str):
        return ExecFailure(ErrorKind.SYNTAX, f"SQL must be a string, got {type(text).__name__}")
    if len(text) > max_chars:
        return ExecFailure(ErrorKind.TOO_LARGE, f"SQL text of {len(text)} characters exceeds {max_chars}")
    if "\x00" in text:
        return ExecFailure(ErrorKind.SYNTAX, "SQL text contains a NUL byte")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as e:
            return ExecFailure(ErrorKind.SYNTAX, f"SQL text is not valid Unicode: {e.reason} at {e.start}")
    return None


def nesting_depth(text: str) -> int:
    """Deepest parenthesis nesting outside strings and comments (linear in the text)."""
    depth = deepest = 0
    for m in _TOKEN.finditer(text):
        tok = m.group()
        if ("(" not in tok and ")" not in tok) or tok[0] in "'\"`" or tok.startswith(("--", "/*")):
            continue
        for ch in tok:
            if ch == "(":
                depth += 1
                deepest = max(deepest, depth)
            elif ch == ")":
                depth = max(depth - 1, 0)
    return deepest


def quote_ident(name: str) -> str:
    """`name` as a double-quoted SQL identifier (both engines read this form)."""
    return '"' + name.replace('"', '""') + '"'
