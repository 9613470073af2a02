"""The one whitespace normaliser, and the identity of a statement built on it.

    >>> squeeze("SELECT  a\\n  FROM t ")
    'SELECT a FROM t'
    >>> statement_key("SELECT a FROM t ;  ") == statement_key("SELECT a  FROM t")
    True
    >>> statement_key("SELECT 'Bob'") == statement_key("select 'bob'")  # case is kept by default
    False
"""

from __future__ import annotations


def squeeze(text: str) -> str:
    """Runs of whitespace (any Unicode space, newlines) made one space; no leading or trailing space."""
    return " ".join(text.split())


def statement_key(text: str, *, casefold: bool = False) -> str:
    """What makes two SQL texts the same statement for spotting repeats: whitespace squeezed,
    final semicolons dropped. Case is kept unless `casefold` (it matters inside string literals:
    'Bob' is not 'bob'; fold it only where the text is compared loosely, as duplicates are)."""
    key = squeeze(text).rstrip(";").rstrip()
    return key.lower() if casefold else key
