"""The SQLite engine of the executor, through apsw: one pristine in-memory database per context,
and each text run on a private copy of it made with the backup API.

apsw bundles a current SQLite (3.54) whose printf stops at the length limit (the system's 3.40
keeps looping for seconds on printf('%.*c', 9e8, 'x')), and it exposes limits, the authorizer,
the progress handler, the backup API and the engine's own statement splitting.

`SqliteEngine` implements the engine interface of `sqlgrpo.sql.executor` (`Engine`); nothing but
the executor uses it. The guard, the connection set-up, the text runner and the state snapshot
are public because the engine of database files (`sqlgrpo.sql.file_engine`) runs on them too.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import apsw

from sqlgrpo.sql.guard import MAX_CONTEXT_CHARS, quote_ident, starts_with_keyword
from sqlgrpo.sql.result import (DDL, DELETE, DML_KINDS, INSERT, MAX_RESULT_BYTES, MAX_RESULT_ROWS, MAX_STATE_ROWS,
                                OTHER, SELECT, TRANSACTION, UPDATE, ErrorKind, ExecFailure, RunOutcome, TableState,
                                collect_capped, value_size, wants_state)

SQLITE_MAX_VALUE_BYTES = 1_000_000  # one string/blob; randomblob(9e8) must fail, not allocate
SQLITE_MAX_LIKE_PATTERN = 1_000  # LIKE matching can be super-linear in the pattern length
SQLITE_MAX_EXPR_DEPTH = 200  # deeply nested expressions recurse inside the parser
SQLITE_MAX_VDBE_OPS = 250_000  # program size of one statement
SQLITE_CACHE_KIB = 16_000  # page cache per connection; also the in-memory sort chunk size
SQLITE_PROGRESS_OPS = 1_000  # VM steps between deadline checks (~tens of microseconds)

_SQLITE_LIMITS = (
    (apsw.SQLITE_LIMIT_LENGTH, SQLITE_MAX_VALUE_BYTES),
    (apsw.SQLITE_LIMIT_SQL_LENGTH, MAX_CONTEXT_CHARS),
    (apsw.SQLITE_LIMIT_LIKE_PATTERN_LENGTH, SQLITE_MAX_LIKE_PATTERN),
    (apsw.SQLITE_LIMIT_EXPR_DEPTH, SQLITE_MAX_EXPR_DEPTH),
    (apsw.SQLITE_LIMIT_VDBE_OP, SQLITE_MAX_VDBE_OPS),
    (apsw.SQLITE_LIMIT_ATTACHED, 0),  # no ATTACH at all: no other files
    (apsw.SQLITE_LIMIT_TRIGGER_DEPTH, 10),
)

# Authorizer action codes that are always refused.
_SQLITE_DENIED_ACTIONS = frozenset({
    apsw.SQLITE_ATTACH, apsw.SQLITE_DETACH, apsw.SQLITE_PRAGMA,
    apsw.SQLITE_CREATE_VTABLE, apsw.SQLITE_DROP_VTABLE,
})
_SQLITE_DENIED_FUNCTIONS = frozenset({"load_extension", "fts3_tokenizer"})
_SQLITE_KIND_OF_ACTION = {
    apsw.SQLITE_INSERT: INSERT,
    apsw.SQLITE_UPDATE: UPDATE,
    apsw.SQLITE_DELETE: DELETE,
    apsw.SQLITE_TRANSACTION: TRANSACTION,
    apsw.SQLITE_SAVEPOINT: TRANSACTION,
}
_SQLITE_DDL_ACTIONS = frozenset(
    getattr(apsw, name) for name in dir(apsw)
    if name.startswith(("SQLITE_CREATE_", "SQLITE_DROP_", "SQLITE_ALTER_"))
    and isinstance(getattr(apsw, name), int) and name not in ("SQLITE_CREATE_VTABLE", "SQLITE_DROP_VTABLE")
)
# SQLite's own bookkeeping tables (sqlite_sequence after AUTOINCREMENT inserts): not data.
SQLITE_INTERNAL_PREFIX = "sqlite_"


def classify_sqlite_error(exc: BaseException) -> tuple[str, str]:
    msg = str(exc)
    low = msg.lower()
    if isinstance(exc, (MemoryError, apsw.NoMemError)):
        return ErrorKind.TOO_LARGE, "out of memory"
    if isinstance(exc, apsw.InterruptError) or "interrupted" in low:
        return ErrorKind.TIMEOUT, "query exceeded the time limit"
    if isinstance(exc, apsw.AuthError) or "not authorized" in low or "too many attached" in low:
        return ErrorKind.FORBIDDEN, msg
    if "no such table" in low:
        return ErrorKind.MISSING_TABLE, msg
    if "no such column" in low or "has no column named" in low:
        return ErrorKind.MISSING_COLUMN, msg
    if (isinstance(exc, apsw.TooBigError) or "too big" in low or "too large" in low
            or "too many" in low or "stack overflow" in low or "recursion limit" in low):
        return ErrorKind.TOO_LARGE, msg
    if "syntax error" in low or "incomplete input" in low or "unrecognized token" in low:
        return ErrorKind.SYNTAX, msg
    return ErrorKind.RUNTIME, msg


class SqliteGuard:
    """Authorizer, progress handler and statement tracer of one connection."""

    def __init__(self) -> None:
        self.deadline = float("inf")
        self.timed_out = False
        self.actions: list[int] = []  # authorizer actions of the statement being prepared
        self.kinds: list[str] = []  # one per statement that started executing
        self.forbidden = ""
        self.columns: tuple[str, ...] = ()

    def progress(self) -> bool:
        if time.monotonic() > self.deadline:
            self.timed_out = True
            return True  # interrupts the running statement
        return False

    def authorize(self, action: int, arg1: str | None, arg2: str | None, db: str | None, trigger: str | None) -> int:
        if action in _SQLITE_DENIED_ACTIONS:
            return apsw.SQLITE_DENY
        if action == apsw.SQLITE_FUNCTION and (arg2 or "").lower() in _SQLITE_DENIED_FUNCTIONS:
            return apsw.SQLITE_DENY
        if trigger is None:  # the statement's own actions, not those of triggers it fires
            self.actions.append(action)
        return apsw.SQLITE_OK

    def trace(self, cursor: Any, sql: str, bindings: Any) -> bool:
        """Called by apsw after each statement is prepared and before it runs."""
        if starts_with_keyword(sql, "VACUUM"):  # the authorizer does not see VACUUM (INTO a file)
            self.forbidden = "VACUUM is not allowed"
            return False
        self.kinds.append(self._kind())
        self.actions = []
        self.columns = tuple(d[0] for d in cursor.description)
        return True

    def _kind(self) -> str:
        if any(a in _SQLITE_DDL_ACTIONS for a in self.actions):
            return DDL  # before DML: DROP TABLE also reports a DELETE, CREATE AS an INSERT
        kinds = [_SQLITE_KIND_OF_ACTION.get(a) for a in self.actions]
        for kind in kinds:
            if kind in DML_KINDS:
                return kind
        if TRANSACTION in kinds:
            return TRANSACTION
        if apsw.SQLITE_SELECT in self.actions:
            return SELECT
        return OTHER


def guard_connection(conn: apsw.Connection, guard: SqliteGuard) -> apsw.Connection:
    """Put a connection under the guards: limits, a bounded page cache, `guard`'s authorizer and
    progress handler (shared with the file engine, `sqlgrpo.sql.file_engine`)."""
    for limit, value in _SQLITE_LIMITS:
        conn.limit(limit, value)
    # A large sort held in memory is one long C loop the progress handler never sees; with a
    # bounded cache it is sorted in chunks spilled to SQLite's anonymous temp files (unlinked at
    # creation), and the merge runs step by step, so the time limit fires (measured: a 3M-row
    # ORDER BY stops at 2.1 s instead of 4.5 s).
    conn.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
    conn.authorizer = guard.authorize
    conn.set_progress_handler(guard.progress, SQLITE_PROGRESS_OPS)
    return conn


def sqlite_connect(guard: SqliteGuard) -> apsw.Connection:
    """A new, empty in-memory database under the guards."""
    return guard_connection(apsw.Connection(":memory:"), guard)


def run_sqlite_text(conn: apsw.Connection, guard: SqliteGuard, text: str,
                    max_rows: int, max_bytes: int) -> tuple[tuple, tuple, list[str], int]:
    """Run every statement of `text` in order (SQLite splits it); rows of the last result set."""
    columns: tuple = ()
    rows: list[tuple] = []
    size = 0
    current_statement = -1
    guard.kinds, guard.actions, guard.forbidden = [], [], ""
    changes_before = conn.total_changes()
    cur = conn.cursor()
    cur.exec_trace = guard.trace
    try:
        for row in cur.execute(text):
            if len(guard.kinds) != current_statement:  # first row of a new statement's result
                current_statement, columns, rows, size = len(guard.kinds), guard.columns, [], 0
            rows.append(row)
            size += sum(value_size(v) for v in row)
            if len(rows) > max_rows:
                raise ExecFailure(ErrorKind.TOO_LARGE, f"result has more than {max_rows} rows")
            if size > max_bytes:
                raise ExecFailure(ErrorKind.TOO_LARGE, f"result is larger than {max_bytes} bytes")
    except ExecFailure:
        raise
    except apsw.ExecTraceAbort:
        raise ExecFailure(ErrorKind.FORBIDDEN, guard.forbidden or "statement refused") from None
    except (apsw.Error, ValueError, OverflowError, MemoryError, RecursionError, UnicodeError) as e:
        kind, msg = classify_sqlite_error(e)
        if guard.timed_out:
            kind, msg = ErrorKind.TIMEOUT, "query exceeded the time limit"
        raise ExecFailure(kind, msg) from None
    finally:
        cur.close()
    if guard.kinds and len(guard.kinds) != current_statement and guard.columns:
        # the last statement with a result set returned no rows
        columns, rows = guard.columns, []
    return columns, tuple(rows), list(guard.kinds), conn.total_changes() - changes_before


def sqlite_schema(conn: apsw.Connection) -> dict[str, list[str]]:
    """Tables and views with their column names, from the catalog; the caller lifts the
    authorizer first (pragma_table_info is a PRAGMA to it)."""
    schema = {}
    for name, _kind in conn.execute(
            "SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view') ORDER BY name"):
        if name.startswith(SQLITE_INTERNAL_PREFIX):
            continue
        cols = conn.execute("SELECT name FROM pragma_table_info(?)", (name,)).fetchall()
        schema[name] = [c for (c,) in cols]
    return schema


def sqlite_tables(conn: apsw.Connection) -> list[str]:
    names = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").fetchall()
    return [n for (n,) in names if not n.startswith(SQLITE_INTERNAL_PREFIX)]


def sqlite_state(conn: apsw.Connection) -> tuple[TableState, ...]:
    tables = []
    budget = MAX_STATE_ROWS
    for name in sqlite_tables(conn):
        # apsw has no description for a statement that returned no rows: ask the catalog, of the
        # main schema only (a temp table of the same name must not stand in for it)
        columns = tuple(row[1] for row in conn.execute(f"PRAGMA main.table_info({quote_ident(name)})"))
        rows = collect_capped(conn.execute(f"SELECT * FROM main.{quote_ident(name)}"), budget, MAX_RESULT_BYTES)
        budget -= len(rows)
        tables.append(TableState(name, columns, rows))
    return tuple(tables)


def run_private(conn: apsw.Connection, guard: SqliteGuard, text: str, deadline: float, capture_state: bool | None,
                max_rows: int, max_bytes: int) -> RunOutcome:
    """Run `text` on a private copy until `deadline`, then take its state when wanted (the copy
    is thrown away after: its authorizer is lifted for the snapshot's catalog reads)."""
    guard.deadline = deadline
    columns, rows, kinds, changes = run_sqlite_text(conn, guard, text, max_rows, max_bytes)
    state = None
    if wants_state(capture_state, kinds):
        guard.deadline = float("inf")
        conn.authorizer = None
        state = sqlite_state(conn)
    return RunOutcome(columns, rows, kinds, changes, state)


class SqliteEngine:
    """One pristine SQLite database; every text runs on a fresh in-memory copy of it (the
    backup API), so nothing a text does (DML, DDL, temp tables, open transactions) survives it."""

    # SQLite splits a multi-statement text itself: the whole context runs in one call first,
    # and only when that fails is it built again statement by statement.
    runs_whole_context = True

    def __init__(self) -> None:
        self._conn: apsw.Connection | None = None
        self._guard = SqliteGuard()
        self._lock = threading.Lock()  # one reader at a time of the shared pristine connection

    def open(self, deadline: float) -> None:
        """Open a new, empty pristine connection; context texts run on it until `deadline`."""
        self._guard = SqliteGuard()
        self._guard.deadline = deadline
        self._conn = sqlite_connect(self._guard)

    def run_context_text(self, text: str) -> None:
        """Run one text of the context (all its statements) on the pristine connection."""
        run_sqlite_text(self._conn, self._guard, text, MAX_RESULT_ROWS, MAX_RESULT_BYTES)

    def finish_build(self) -> None:
        self._conn.set_progress_handler(None, 0)  # the build deadline must not outlive the build

    def read_schema(self) -> dict[str, list[str]]:
        """Tables (and views) with their column names, read from the engine's catalog."""
        with self._lock:
            conn = self._conn
            conn.authorizer = None  # our own catalog reads (pragma_table_info), not the model's;
            # queries run on copies, which carry their own authorizer
            return sqlite_schema(conn)

    def prepare(self, text: str) -> str:
        """The text as `run_copy` takes it: SQLite splits and checks it while running."""
        return text

    def run_copy(self, text: str, timeout_s: float, capture_state: bool | None, max_rows: int,
                 max_bytes: int) -> RunOutcome:
        """Run `text` on a private copy of the pristine database within `timeout_s`."""
        guard = SqliteGuard()
        conn = sqlite_connect(guard)
        try:
            with self._lock:  # one backup at a time reads the shared pristine connection
                with conn.backup("main", self._conn, "main") as copy:
                    copy.step()
            return run_private(conn, guard, text, time.monotonic() + timeout_s, capture_state, max_rows, max_bytes)
        finally:
            conn.close()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
