"""Database files as contexts: how a record whose database is a file (Spider, BIRD) names it.

A benchmark record's `sql_context` is not CREATE + INSERT text but a one-line reference to its
database file, written by `file_context` and read back by `context_file`. It is an SQL comment,
so a code path that does not know it builds nothing from it (an error, never an empty database
that silently answers), and it travels wherever a context does: the prepared JSONL, TRL's
dataset columns, the verdict's caches. The executor opens such a context as the file itself
(`sqlgrpo.sql.executor.build_example_db`).

    >>> ctx = file_context("/data/spider/database/concert_singer/concert_singer.sqlite")
    >>> ctx
    '-- sqlgrpo database file: /data/spider/database/concert_singer/concert_singer.sqlite'
    >>> context_file(ctx)
    '/data/spider/database/concert_singer/concert_singer.sqlite'
    >>> context_file("CREATE TABLE t (x INT);") is None
    True
"""

from __future__ import annotations

import os

DATABASE_FILE_PREFIX = "-- sqlgrpo database file: "
SQLITE_HEADER = b"SQLite format 3\x00"  # the first 16 bytes of every SQLite database file


def file_context(path: str | os.PathLike) -> str:
    """The context that stands for a database file (its absolute path)."""
    text = os.path.abspath(os.fspath(path))
    if "\n" in text or "\r" in text:
        raise ValueError(f"a database path may not hold a line break: {text!r}")
    return DATABASE_FILE_PREFIX + text


def context_file(context: object) -> str | None:
    """The database file a context stands for, or None for an ordinary context."""
    if isinstance(context, str) and context.startswith(DATABASE_FILE_PREFIX) and "\n" not in context:
        return context[len(DATABASE_FILE_PREFIX):]
    return None


def is_sqlite_file(path: str | os.PathLike) -> bool:
    """Whether a file starts with the SQLite header (a quick check before any engine opens it)."""
    try:
        with open(path, "rb") as f:
            return f.read(len(SQLITE_HEADER)) == SQLITE_HEADER
    except OSError:
        return False
