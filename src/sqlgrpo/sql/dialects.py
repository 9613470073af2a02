"""SQL flavours: the one list of dialects that SQL is read in when it does not run as written,
and the transpiling (sqlglot) into the backend's dialect that the executor falls back on.

Datasets such as gretel mix PostgreSQL and MySQL; the executor transpiles a failing text from
these (in this order) into the backend's dialect, and sqlglot analysis parses a text in the
backend's dialect, then in these. Only a failure a dialect can explain is retried
(`dialect_may_fix`); the forms to try, in order, come from `dialect_attempts`.

    >>> [dialect for dialect, _ in dialect_attempts("SELECT 1", "sqlite")]
    ['as_written', 'postgres', 'mysql']
    >>> transpiled("CREATE TABLE t (c ENUM('a', 'b'))", "mysql", "sqlite")
    'CREATE TABLE t (c TEXT);'
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlgrpo.common.cache import LRUCache

from sqlgrpo.sql.result import ErrorKind

BACKENDS = ("sqlite", "duckdb")
FALLBACK_DIALECTS = ("postgres", "mysql")  # the flavours datasets such as gretel mix
AS_WRITTEN = "as_written"  # the dialect label of a text that ran without transpiling

MAX_TRANSPILE_CHARS = 20_000  # sqlglot parsing is the slow path; beyond this, no fallback
TRANSPILE_CACHE_SIZE = 4_096  # transpiled forms of recent texts (each at most MAX_TRANSPILE_CHARS)

_DIALECT_RUNTIME_HINTS = ("no such function", "does not exist", "no function matches", "not implemented",
                          "unknown function", "not supported")

# Column types sqlglot passes through that the backend rejects, and what to use instead.
_TYPE_FALLBACKS = {"sqlite": {"ENUM": "TEXT", "SET": "TEXT"}, "duckdb": {"SET": "TEXT"}}
# Auto-numbered column types; on DuckDB they become an integer fed by a sequence.
_SERIAL_TYPES = {"SERIAL": "INT", "SMALLSERIAL": "SMALLINT", "BIGSERIAL": "BIGINT"}


def dialect_may_fix(failure_kind: str | None, message: str) -> bool:
    """Whether another dialect's form of a text might run where this failure stopped it."""
    if failure_kind in ErrorKind.DIALECT_KINDS:
        return True
    low = message.lower()
    return failure_kind == ErrorKind.RUNTIME and any(h in low for h in _DIALECT_RUNTIME_HINTS)


def dialect_attempts(text: str, backend: str) -> list[tuple[str, Callable[[], str | None]]]:
    """The forms of a text to try in order: as written, then transpiled from each flavour.
    Each form is made only when asked for: most texts run as written and never meet sqlglot."""
    attempts: list[tuple[str, Callable[[], str | None]]] = [(AS_WRITTEN, lambda: text)]
    for read in FALLBACK_DIALECTS:
        attempts.append((read, lambda read=read: transpiled(text, read, backend)))
    return attempts


_TRANSPILED = LRUCache(TRANSPILE_CACHE_SIZE)


def transpiled(text: str, read: str, write: str) -> str | None:
    """The text rewritten by sqlglot from `read` into `write`, or None when sqlglot can't.
    Cached: the same failing text recurs across a GRPO group and across steps."""
    if len(text) > MAX_TRANSPILE_CHARS:
        return None
    return _TRANSPILED.get_or_compute((text, read, write), lambda: _transpile(text, read, write))


def _transpile(text: str, read: str, write: str) -> str | None:
    try:
        import sqlglot

        logging.getLogger("sqlglot").setLevel(logging.ERROR)  # its fallback warnings are noise here
        trees = [t for t in sqlglot.parse(text, read=read) if t is not None]
        out = [stmt.sql(dialect=write) for t in trees for stmt in adapt_types(t, write)]
    except Exception:  # noqa: BLE001 - ParseError, TokenError, RecursionError, internal errors
        return None
    out = [s for s in out if s and s.strip()]
    if not out:
        return None
    return ";\n".join(out) + ";"


def adapt_types(tree: Any, backend: str) -> list[Any]:
    """The statement(s) to run for `tree` on `backend`, with column types the backend lacks
    replaced: MySQL ENUM on SQLite becomes TEXT; on DuckDB, PostgreSQL SERIAL and MySQL
    AUTO_INCREMENT become an integer whose default is the next value of a new sequence, so
    INSERTs that leave the id out still number their rows."""
    from sqlglot import exp

    fallbacks = _TYPE_FALLBACKS.get(backend, {})

    def swap(node: Any) -> Any:
        if isinstance(node, exp.DataType) and node.this.name in fallbacks:
            return exp.DataType.build(fallbacks[node.this.name])
        return node

    tree = tree.transform(swap, copy=False) if fallbacks else tree  # the tree is ours: no copy
    before: list[Any] = []
    if backend == "duckdb" and isinstance(tree, exp.Create) and isinstance(tree.this, exp.Schema):
        table = tree.this.this.name
        for coldef in tree.this.find_all(exp.ColumnDef):
            kind = coldef.args.get("kind")
            constraints = coldef.args.get("constraints") or []
            auto = [c for c in constraints if isinstance(c.args.get("kind"), exp.AutoIncrementColumnConstraint)]
            serial = isinstance(kind, exp.DataType) and kind.this.name in _SERIAL_TYPES
            if not (serial or auto):
                continue
            sequence = f"{table}_{coldef.name}_seq"
            before.append(exp.Create(this=exp.to_table(sequence), kind="SEQUENCE", exists=True))
            if serial:
                coldef.set("kind", exp.DataType.build(_SERIAL_TYPES[kind.this.name]))
            kept = [c for c in constraints if c not in auto]
            kept.append(exp.ColumnConstraint(kind=exp.DefaultColumnConstraint(
                this=exp.func("nextval", exp.Literal.string(sequence)))))
            coldef.set("constraints", kept)
    return before + [tree]
