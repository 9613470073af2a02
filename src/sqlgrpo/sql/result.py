"""What running SQL gives back: `ExecResult`, the error kinds and statement kinds it carries, and
the caps on the size of what an engine may hand over.

Shared by the executor (`sqlgrpo.sql.executor`) and its two engines; it imports nothing of the
package, so every other module of `sqlgrpo.sql` may import it.

    >>> r = ExecResult(ok=True, statement_kinds=(SELECT, INSERT))
    >>> (r.is_select_only, r.has_dml)
    (False, True)
    >>> collect_capped([(1, "ab")], max_rows=10, max_bytes=100)
    ((1, 'ab'),)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

MAX_RESULT_ROWS = 10_000  # results of a text-to-SQL answer are small; a cartesian one is not
MAX_RESULT_BYTES = 8_000_000  # same bound, for wide rows or huge values
MAX_STATE_ROWS = 50_000  # the whole-database snapshot taken after DML


class ErrorKind:
    """Why a text did not run. Plain strings so they serialize and compare as they are."""

    SYNTAX = "syntax"
    MISSING_TABLE = "missing_table"
    MISSING_COLUMN = "missing_column"
    RUNTIME = "runtime"
    TIMEOUT = "timeout"
    TOO_LARGE = "too_large"
    FORBIDDEN = "forbidden"
    EMPTY = "empty"  # no statement at all (blank, or only comments)
    CONTEXT = "context"  # the example database itself could not be built

    # Failures a different dialect may fix; a runtime error only when it names something the
    # engine lacks (a function, a type): a data error (malformed JSON, a constraint) is final,
    # and reinterpreting the text (MySQL reads `||` as OR) would only produce a wrong answer.
    DIALECT_KINDS = frozenset({SYNTAX, MISSING_TABLE, MISSING_COLUMN})


# Statement kinds recorded per statement of a text.
SELECT, INSERT, UPDATE, DELETE, DDL, TRANSACTION, OTHER = (
    "select", "insert", "update", "delete", "ddl", "transaction", "other")
DML_KINDS = frozenset({INSERT, UPDATE, DELETE})


@dataclass(frozen=True)
class TableState:
    name: str
    columns: tuple[str, ...]
    rows: tuple[tuple, ...]


@dataclass(frozen=True)
class ExecResult:
    """The outcome of running one text (one or more statements) on a private database copy.

    `columns`/`rows` are those of the last statement that returned a result set. `state` is the
    whole database (every table of the schema, rows in storage order) after the text ran; it is
    taken when the text modified anything (DML/DDL) or when asked for.
    """

    ok: bool
    columns: tuple[str, ...] = ()
    rows: tuple[tuple, ...] = ()
    error_kind: str | None = None
    error: str = ""
    timed_out: bool = False
    elapsed_s: float = 0.0
    dialect: str | None = None
    statement_kinds: tuple[str, ...] = ()
    rows_changed: int = 0
    state: tuple[TableState, ...] | None = None
    executed_sql: str = ""

    @property
    def is_select_only(self) -> bool:
        return bool(self.statement_kinds) and all(k == SELECT for k in self.statement_kinds)

    @property
    def has_dml(self) -> bool:
        return any(k in DML_KINDS for k in self.statement_kinds)


class ExecFailure(Exception):
    """A statement (or a whole text) failed with a classified error kind. Raised inside the
    package between the guard, the engines and the executor; `run` turns it into an
    `ExecResult` and never lets it out."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind
        self.message = message


class RunOutcome(NamedTuple):
    """What an engine hands back for a text that ran: the last result set, the kind of each
    statement, the number of rows changed and the state snapshot (None when not taken)."""

    columns: tuple
    rows: tuple
    kinds: list[str]
    changes: int
    state: tuple[TableState, ...] | None


def wants_state(capture_state: bool | None, kinds: list[str]) -> bool:
    """Whether to take the state snapshot: when asked, or (None) when the text did not only read."""
    return bool(capture_state or (capture_state is None and any(k != SELECT for k in kinds)))


# --------------------------------------------------------------------------------------------
# Result fetching, shared by both engines.

def value_size(value: Any) -> int:
    """What one value counts towards `max_bytes`: its length for strings and blobs, 8 otherwise."""
    if isinstance(value, (str, bytes, bytearray)):
        return len(value)
    return 8


def collect_capped(rows_iter: Any, max_rows: int, max_bytes: int) -> tuple[tuple, ...]:
    """All rows of an iterable, or a TOO_LARGE failure once either cap is passed."""
    rows: list[tuple] = []
    size = 0
    for row in rows_iter:
        row = tuple(row)
        size += sum(value_size(v) for v in row)
        rows.append(row)
        if len(rows) > max_rows:
            raise ExecFailure(ErrorKind.TOO_LARGE, f"result has more than {max_rows} rows")
        if size > max_bytes:
            raise ExecFailure(ErrorKind.TOO_LARGE, f"result is larger than {max_bytes} bytes")
    return tuple(rows)
