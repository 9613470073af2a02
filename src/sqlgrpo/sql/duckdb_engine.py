"""The DuckDB engine of the executor: one pristine in-memory database per context, and each text
run on a cursor inside a transaction that is always rolled back.

DuckDB runs with external access disabled, extension autoload/autoinstall off, no temp directory,
a memory cap, and only SELECT/INSERT/UPDATE/DELETE/CREATE/DROP/ALTER statements (parsed by
DuckDB itself before anything runs). `duckdb` is imported lazily: SQLite users never pay for it.

`DuckdbEngine` implements the engine interface of `sqlgrpo.sql.executor` (`Engine`); nothing but
the executor uses it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

from sqlgrpo.sql.guard import quote_ident
from sqlgrpo.sql.result import (DDL, DELETE, DML_KINDS, INSERT, MAX_RESULT_BYTES, MAX_RESULT_ROWS, MAX_STATE_ROWS,
                                SELECT, UPDATE, ErrorKind, ExecFailure, RunOutcome, TableState, collect_capped,
                                wants_state)

DUCKDB_MAX_MEMORY = "512MB"  # per example database; DuckDB spills or fails beyond it

_DUCKDB_ALLOWED = {"SELECT": SELECT, "INSERT": INSERT, "UPDATE": UPDATE, "DELETE": DELETE,
                   "CREATE": DDL, "DROP": DDL, "ALTER": DDL}


def _duckdb():
    import duckdb  # imported lazily: SQLite users never pay for it

    return duckdb


def _duckdb_connect() -> Any:
    return _duckdb().connect(":memory:", config={
        "enable_external_access": False,  # no files, no network, no ATTACH of files
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "threads": 1,  # parallelism comes from running many queries, not one wide one
        "max_memory": DUCKDB_MAX_MEMORY,
        "temp_directory": "",  # never spill to disk: beyond max_memory a query fails (too_large)
    })


def _classify_duckdb_error(exc: BaseException) -> tuple[str, str]:
    duckdb = _duckdb()
    msg = str(exc)
    low = msg.lower()
    if isinstance(exc, duckdb.InterruptException) or "interrupted" in low:
        return ErrorKind.TIMEOUT, "query exceeded the time limit"
    if isinstance(exc, (duckdb.OutOfMemoryException, MemoryError)):
        return ErrorKind.TOO_LARGE, msg
    if isinstance(exc, duckdb.PermissionException):
        return ErrorKind.FORBIDDEN, msg
    if isinstance(exc, duckdb.ParserException):
        return ErrorKind.SYNTAX, msg
    if isinstance(exc, duckdb.CatalogException) and ("table" in low or "view" in low):
        return ErrorKind.MISSING_TABLE, msg
    if isinstance(exc, duckdb.BinderException) and "column" in low and (
            "not found" in low or "does not have a column" in low or "does not exist" in low):
        return ErrorKind.MISSING_COLUMN, msg
    return ErrorKind.RUNTIME, msg


def _duckdb_statements(text: str) -> list[tuple[str, str]]:
    """(kind, statement) pairs, parsed by DuckDB itself; refuses anything outside the allowlist."""
    duckdb = _duckdb()
    try:
        parsed = duckdb.extract_statements(text)
    except (duckdb.Error, RuntimeError, ValueError, UnicodeError) as e:
        kind, msg = _classify_duckdb_error(e)
        raise ExecFailure(kind if kind != ErrorKind.RUNTIME else ErrorKind.SYNTAX, msg) from None
    out = []
    for st in parsed:
        name = st.type.name
        if name == "TRANSACTION":
            raise ExecFailure(ErrorKind.FORBIDDEN, "transaction statements are not allowed")
        if name not in _DUCKDB_ALLOWED:
            raise ExecFailure(ErrorKind.FORBIDDEN, f"{name} statements are not allowed")
        out.append((_DUCKDB_ALLOWED[name], st.query))
    return out


def _fetch_capped(cursor: Any, max_rows: int, max_bytes: int) -> tuple[tuple, ...]:
    """All rows of a DB-API cursor, fetched in batches, capped as `collect_capped`."""
    batches = iter(lambda: cursor.fetchmany(256), [])
    return collect_capped((row for batch in batches for row in batch), max_rows, max_bytes)


def _duckdb_run_statements(cur: Any, statements: list[tuple[str, str]], max_rows: int,
                           max_bytes: int) -> tuple[tuple, tuple, list[str], int]:
    duckdb = _duckdb()
    columns: tuple = ()
    rows: tuple = ()
    changes = 0
    for kind, stmt in statements:
        try:
            cur.execute(stmt)
            if cur.description is not None:
                fetched = _fetch_capped(cur, max_rows, max_bytes)
                if kind in DML_KINDS:
                    # DuckDB answers DML with one row holding the count of changed rows.
                    changes += int(fetched[0][0]) if fetched and fetched[0] else 0
                elif kind == SELECT:  # DDL answers with a status row, which is no result
                    columns = tuple(d[0] for d in cur.description)
                    rows = fetched
        except ExecFailure:
            raise
        except (duckdb.Error, RuntimeError, ValueError, OverflowError, MemoryError, RecursionError) as e:
            kind_, msg = _classify_duckdb_error(e)
            raise ExecFailure(kind_, msg) from None
    return columns, rows, [k for k, _ in statements], changes


def _duckdb_tables(cur: Any) -> tuple[str, list[str]]:
    cur.execute("SELECT current_database()")
    (database,) = cur.fetchone()
    cur.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
                "AND schema_name = 'main' AND NOT temporary ORDER BY table_name")
    return database, [n for (n,) in cur.fetchall()]


def _duckdb_state(cur: Any) -> tuple[TableState, ...]:
    tables = []
    budget = MAX_STATE_ROWS
    database, names = _duckdb_tables(cur)
    for name in names:
        # fully qualified: a temp table of the same name must not stand in for it
        cur.execute(f"SELECT * FROM {quote_ident(database)}.main.{quote_ident(name)}")
        rows = _fetch_capped(cur, budget, MAX_RESULT_BYTES)
        budget -= len(rows)
        tables.append(TableState(name, tuple(d[0] for d in cur.description), rows))
    return tuple(tables)


def _duckdb_attempt(conn: Any, statements: list[tuple[str, str]], timeout_s: float, capture_state: bool | None,
                    max_rows: int, max_bytes: int) -> RunOutcome:
    """Run statements in a transaction on a cursor of `conn` that is always rolled back."""
    cur = conn.cursor()
    timer = threading.Timer(timeout_s, cur.interrupt)
    try:
        cur.execute("BEGIN TRANSACTION")
        timer.start()
        columns, rows, kinds, changes = _duckdb_run_statements(cur, statements, max_rows, max_bytes)
        timer.cancel()
        state = _duckdb_state(cur) if wants_state(capture_state, kinds) else None
        return RunOutcome(columns, rows, kinds, changes, state)
    finally:
        timer.cancel()
        with contextlib.suppress(Exception):  # an aborted transaction is rolled back already
            cur.execute("ROLLBACK")
        cur.close()


class DuckdbEngine:
    """One pristine DuckDB database; every text runs in a transaction that is always rolled
    back, with transaction statements refused. Texts that write take turns, and on a context
    with sequences (which DuckDB does not roll back) a writing text gets a database of its own,
    rebuilt from the context's statements as they ran."""

    # Built statement by statement from the start: DuckDB is not given the whole context at once.
    runs_whole_context = False

    def __init__(self) -> None:
        self._conn: Any = None
        self._deadline = float("inf")
        self._lock = threading.Lock()  # one schema read at a time
        self._write_lock = threading.Lock()
        self._replay: list[str] = []  # the context's statements as they ran
        self._sequences = False

    def open(self, deadline: float) -> None:
        """Open a new, empty pristine connection; context texts run on it until `deadline`."""
        self._deadline = deadline
        self._replay = []
        self._conn = _duckdb_connect()

    def run_context_text(self, text: str) -> None:
        """Run one text of the context on the pristine connection, and keep it for replays."""
        cur = self._conn.cursor()
        timer = threading.Timer(max(self._deadline - time.monotonic(), 0.01), cur.interrupt)
        timer.start()
        try:
            _duckdb_run_statements(cur, _duckdb_statements(text), MAX_RESULT_ROWS, MAX_RESULT_BYTES)
        finally:
            timer.cancel()
            cur.close()
        self._replay.append(text)

    def finish_build(self) -> None:
        (count,) = self._conn.execute("SELECT count(*) FROM duckdb_sequences()").fetchone()
        self._sequences = count > 0

    def read_schema(self) -> dict[str, list[str]]:
        """Tables (and views) with their column names, read from the engine's catalog."""
        with self._lock:
            cur = self._conn.cursor()
            try:
                cur.execute("SELECT table_name, column_name FROM duckdb_columns() "  # information_schema is 5x slower
                            "WHERE schema_name = 'main' AND NOT internal ORDER BY table_name, column_index")
                schema: dict[str, list[str]] = {}
                for table, column in cur.fetchall():
                    schema.setdefault(table, []).append(column)
                return schema
            finally:
                cur.close()

    def prepare(self, text: str) -> list[tuple[str, str]]:
        """The (kind, statement) pairs of `text`; refuses a text outside the allowlist."""
        return _duckdb_statements(text)

    def run_copy(self, statements: list[tuple[str, str]], timeout_s: float, capture_state: bool | None,
                 max_rows: int, max_bytes: int) -> RunOutcome:
        """Run prepared statements in a rolled-back transaction within `timeout_s`."""
        writes = any(kind != SELECT for kind, _ in statements)
        if writes and self._sequences:
            # Sequences are not transactional in DuckDB: a rolled-back INSERT still advances
            # them. A text that writes gets a database of its own, rebuilt from the context.
            conn = _duckdb_connect()
            try:
                for statement in self._replay:
                    conn.execute(statement)
                return _duckdb_attempt(conn, statements, timeout_s, capture_state, max_rows, max_bytes)
            finally:
                conn.close()
        if writes:
            # Concurrent writers on one DuckDB database conflict ("Conflict on tuple deletion"),
            # so texts that write take turns; read-only texts run side by side.
            with self._write_lock:
                return _duckdb_attempt(self._conn, statements, timeout_s, capture_state, max_rows, max_bytes)
        return _duckdb_attempt(self._conn, statements, timeout_s, capture_state, max_rows, max_bytes)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
