"""The one SQL executor: example databases built from a schema context or opened from a database
file, and SQL run inside them.

Every stage that runs SQL (cleansing, rewards, evaluation, contrastive) goes through this module;
nothing else opens a database connection. Model-written SQL is treated as hostile.

    >>> ex = SQLExecutor("sqlite")
    >>> ctx = "CREATE TABLE t (x INT); INSERT INTO t VALUES (1), (2);"
    >>> r = ex.run("SELECT SUM(x) FROM t", ctx)
    >>> (r.ok, r.columns, r.rows, r.dialect)
    (True, ('SUM(x)',), ((3,),), 'as_written')
    >>> ex.run("SELECT nope FROM t", ctx).error_kind
    'missing_column'

This module holds the flow (checks, dialect attempts, the build, the cache); the rest lives in
`sqlgrpo.sql.result` (`ExecResult`, error and statement kinds, result caps), `sqlgrpo.sql.guard`
(text checks and the quote/comment-aware lexer), `sqlgrpo.sql.dialects` (transpiling),
and the engines behind one interface (`Engine`): `sqlgrpo.sql.sqlite_engine` and
`sqlgrpo.sql.duckdb_engine` for contexts, picked by backend name from `ENGINES`, and
`sqlgrpo.sql.file_engine` for a context that names a database file
(`sqlgrpo.sql.database_files.file_context`: Spider, BIRD), which runs on SQLite only.

What it guards:
- Isolation: the context is built once into a pristine database (cached, bounded LRU); each
  query runs on a private copy (SQLite: the backup API into a fresh in-memory database; DuckDB: a
  cursor inside a transaction that is always rolled back, with transaction statements refused;
  texts that write take turns, and on a context with sequences, which DuckDB does not roll back,
  a writing text gets a database rebuilt from the context). DML, DDL, temp tables and open
  transactions never reach the next query, nor the reported state (read from the main schema).
- Time: one wall-time limit per run (default `QUERY_TIMEOUT_S`), shared by the dialect attempts
  and enforced inside the engine (SQLite progress handler, DuckDB interrupt), covering execution
  and fetching. SQLite sorts in bounded chunks so that large sorts stay interruptible.
- Single function calls that no interrupt stops: SQLite `setlimit` caps string/blob length,
  LIKE pattern length, expression depth, SQL length and program size, so `randomblob(9e8)` fails
  at once; parentheses nested deeper than `MAX_NESTING_DEPTH` are refused before any parser
  sees them (`sqlgrpo.sql.guard`); DuckDB gets a memory cap and never spills to disk.
- Size: caps on result rows and bytes (`MAX_RESULT_ROWS`, `MAX_RESULT_BYTES`), on the SQL text
  (`MAX_SQL_CHARS`) and on the database state snapshot taken after DML (`MAX_STATE_ROWS`).
- Files, network, extensions: no ATTACH/DETACH, no PRAGMA, no VACUUM, no extension loading, no
  virtual tables (SQLite authorizer + `SQLITE_LIMIT_ATTACHED = 0`); DuckDB runs with external
  access disabled, extension autoload/autoinstall off, no temp directory, and only SELECT/
  INSERT/UPDATE/DELETE/CREATE/DROP/ALTER statements.
- Any input text (NUL bytes, lone surrogates, megabytes) gives an `ExecResult` with an error
  kind; `run` never raises.

Database files get the same guards (the same limits, authorizer, progress handler and caps, on
SQLite), and these:
- No write reaches the file: it is opened read-only and immutable (no journal, lock, -wal or
  -shm file). A text whose statements only read runs on such a connection directly (the file is
  never copied for a SELECT); connections are pooled per file, one per running query, so that
  threads never share a deadline. A text with a statement that writes (DML, DDL, temp tables,
  transactions: seen when the statement is prepared, before it runs) runs instead on a private
  in-memory copy of the file, its state taken as for a context; files over
  `MAX_FILE_COPY_BYTES` are never copied, and a writing text on them fails (`too_large`).
- Opening is cached per file as any context is (the LRU below); a file that changes on disk is
  opened again. A missing file, one that is not SQLite, or a corrupt one gives `ok=False` with an
  error naming the file; `backend="duckdb"` on a file too (files run on SQLite).

What it does not guard: memory used while a query runs within its time limit (a cartesian
product may allocate hundreds of MB for up to the time limit); CPU spent inside one engine-side
function call that neither checks the interrupt nor hits a length limit (DuckDB's
`repeat('x', 1e9)` or `list_sort(range(1e8))` run for seconds); SQLite's own anonymous temp
files for large sorts (unlinked when created, bounded by the time limit); the host process
itself (it runs in-process, not in a sandbox). Run untrusted workloads in a container as well.
On database files: writes still in a `-wal` file beside one (an immutable connection does not
see them; logged), a file rewritten on disk while a query reads it, and DML whose state exceeds
the snapshot cap (on a file as on a context, a `too_large` failure, not a comparison).

Dialects: SQL runs as written first; only when that fails in a way a dialect can explain (a
syntax error, an unknown table, column or function; never a data error) is it transpiled with
sqlglot (read in each of `FALLBACK_DIALECTS`, PostgreSQL then MySQL, written in the backend's
dialect) and tried again. Which form ran is recorded in `ExecResult.dialect`. sqlglot is never a
gate: SQL that runs as written is never rejected because sqlglot cannot parse it. Contexts follow
the same rule, statement by statement.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace
from typing import Any, Protocol

from sqlgrpo.common.cache import LRUCache
from sqlgrpo.common.text import statement_key
from sqlgrpo.sql.database_files import context_file
from sqlgrpo.sql.dialects import AS_WRITTEN, BACKENDS, dialect_attempts, dialect_may_fix
from sqlgrpo.sql.duckdb_engine import DuckdbEngine
from sqlgrpo.sql.file_engine import SqliteFileEngine
from sqlgrpo.sql.guard import (MAX_CONTEXT_CHARS, MAX_NESTING_DEPTH, MAX_SQL_CHARS, check_text, nesting_depth,
                               split_statements)
from sqlgrpo.sql.result import MAX_RESULT_BYTES, MAX_RESULT_ROWS, ErrorKind, ExecFailure, ExecResult, RunOutcome
from sqlgrpo.sql.sqlite_engine import SqliteEngine

log = logging.getLogger(__name__)

QUERY_TIMEOUT_S = 2.0  # a rollout's query must not stall a GRPO step; gold queries run in ms
CONTEXT_TIMEOUT_S = 10.0  # building a context runs trusted-ish dataset SQL, once per context
GOLD_TIMEOUT_S = 30.0  # a gold is dataset SQL, run once per database and cached: BIRD's golds on
# their large files take seconds (BIRD's own evaluation gives each query 30 s)
CONTEXT_CACHE_SIZE = 2_048  # pristine databases kept per executor (each is tens of KB; an open
# database file holds no data, only its idle connections, capped over all files in file_engine):
# an epoch over a few thousand prompts comes back to warm databases
REFUSAL_CACHE_SIZE = 8_192  # texts whose pre-checks are remembered (each at most the size below)
REFUSAL_CACHE_MAX_CHARS = 4_000  # longer texts are checked every time: the cache stays small


class Engine(Protocol):
    """What the executor asks of an engine. One instance holds the pristine database of one
    context (`SqliteEngine`, `DuckdbEngine`) or one database file (`SqliteFileEngine`, which
    opens and checks its file in `open` and takes no context text)."""

    # Whether the whole context may run in one call first (the engine splits it itself); on
    # failure, and always when False, the context is built statement by statement.
    runs_whole_context: bool

    def open(self, deadline: float) -> None:
        """Open a new, empty pristine database; context texts run on it until `deadline`."""

    def run_context_text(self, text: str) -> None:
        """Run one text of the context on the pristine database; raises `ExecFailure`."""

    def finish_build(self) -> None:
        """The context is built: lift the build deadline, note what queries need to know."""

    def read_schema(self) -> dict[str, list[str]]:
        """Tables and views of the pristine database with their column names."""

    def prepare(self, text: str) -> Any:
        """`text` in the form `run_copy` takes; raises `ExecFailure` for a text the engine
        refuses before running anything."""

    def run_copy(self, prepared: Any, timeout_s: float, capture_state: bool | None, max_rows: int,
                 max_bytes: int) -> RunOutcome:
        """Run a prepared text on a private copy of the pristine database, within `timeout_s`
        and the row/byte caps; raises `ExecFailure`."""

    def close(self) -> None:
        """Release the pristine database (idempotent)."""


ENGINES: dict[str, type[Engine]] = {"sqlite": SqliteEngine, "duckdb": DuckdbEngine}


def _check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")


def _same_text(text: str) -> str:
    """A form of a text for spotting that a transpiled version is the original again."""
    return statement_key(text, casefold=True)


@dataclass
class ExampleDatabase:
    """A pristine database built from one schema context, or a database file opened read-only;
    queries run on private copies of it (on a file: only those that write).

    `ok` is False when the context did not build (or the file did not open); then `error` says
    which statement failed and why (which file, and why), and every query on it returns
    `ErrorKind.CONTEXT`.
    """

    backend: str
    context: str
    ok: bool = False
    error: str = ""
    dialect: str = AS_WRITTEN  # AS_WRITTEN, or the flavour of the first transpiled statement
    statement_dialects: tuple[str, ...] = ()
    build_s: float = 0.0
    failed_statement: int = 0  # 1-based number of the context statement that failed (0: none)
    _engine: Engine | None = None  # holds the pristine database; None once closed
    _schema: dict[str, list[str]] | None = None

    @property
    def schema(self) -> dict[str, list[str]]:
        """Tables and views of the pristine database with their column names (empty if not ok).

        Read from the engine's catalog on first use: on DuckDB that read costs ~20 ms, which
        queries that never look at the schema should not pay.
        """
        if self._schema is None:
            engine = self._engine
            self._schema = engine.read_schema() if self.ok and engine is not None else {}
        return self._schema

    def run(self, sql: str, *, timeout_s: float = QUERY_TIMEOUT_S, capture_state: bool | None = None,
            max_rows: int = MAX_RESULT_ROWS, max_bytes: int = MAX_RESULT_BYTES) -> ExecResult:
        """Run `sql` (one or more statements) on a private copy; never raises.

        capture_state: take the whole-database snapshot after the text ran; None means only
        when the text contains DML or DDL.
        """
        start = time.monotonic()
        try:
            result = self._run(sql, timeout_s, capture_state, max_rows, max_bytes)
        except Exception as e:  # noqa: BLE001 - the contract is an ExecResult for every input
            log.debug("executor internal error on %r", sql[:200] if isinstance(sql, str) else sql, exc_info=True)
            result = ExecResult(ok=False, error_kind=ErrorKind.RUNTIME, error=f"internal error: {e!r}")
        return replace(result, elapsed_s=time.monotonic() - start)

    def _run(self, sql: str, timeout_s: float, capture_state: bool | None, max_rows: int,
             max_bytes: int) -> ExecResult:
        if not self.ok:
            return ExecResult(ok=False, error_kind=ErrorKind.CONTEXT, error=self.error)
        refused = _refusal(sql, self.backend)
        if refused is not None:
            return ExecResult(ok=False, error_kind=refused[0], error=refused[1])
        # One time budget for all attempts: a text that fails late is not given it three times.
        deadline = time.monotonic() + timeout_s
        first: ExecResult | None = None
        tried = set()
        for dialect, make_text in dialect_attempts(sql, self.backend):
            remaining = deadline - time.monotonic()
            if first is not None and remaining <= 0:
                break
            text = make_text()
            if text is None or _same_text(text) in tried:
                continue
            tried.add(_same_text(text))
            result = self._attempt(text, dialect, max(remaining, 0.0), capture_state, max_rows, max_bytes)
            if result.ok:
                return result
            if first is None:
                first = result
            if not dialect_may_fix(result.error_kind, result.error):
                break
        assert first is not None  # the as-written attempt always runs
        return first

    def _attempt(self, text: str, dialect: str, timeout_s: float, capture_state: bool | None,
                 max_rows: int, max_bytes: int) -> ExecResult:
        engine = self._engine
        try:
            prepared = engine.prepare(text)
        except ExecFailure as f:  # refused before running: not a timeout, whatever its kind
            return ExecResult(ok=False, error_kind=f.kind, error=f.message, dialect=dialect, executed_sql=text)
        try:
            out = engine.run_copy(prepared, timeout_s, capture_state, max_rows, max_bytes)
        except ExecFailure as f:
            return ExecResult(ok=False, error_kind=f.kind, error=f.message, timed_out=f.kind == ErrorKind.TIMEOUT,
                              dialect=dialect, executed_sql=text)
        return ExecResult(ok=True, columns=out.columns, rows=out.rows, dialect=dialect,
                          statement_kinds=tuple(out.kinds), rows_changed=out.changes, state=out.state,
                          executed_sql=text)

    def close(self) -> None:
        engine, self._engine = self._engine, None
        if engine is not None:
            engine.close()


_REFUSALS = LRUCache(REFUSAL_CACHE_SIZE)


def _refusal(sql: str, backend: str) -> tuple[str, str] | None:
    """(error kind, message) for a text refused before any engine sees it, else None. Cached
    for short texts: an answer checked on every database of its suite is read once."""
    if not isinstance(sql, str) or len(sql) > REFUSAL_CACHE_MAX_CHARS:
        return _check_refusal(sql, backend)
    return _REFUSALS.get_or_compute((backend, sql), lambda: _check_refusal(sql, backend))


def _check_refusal(sql: str, backend: str) -> tuple[str, str] | None:
    bad = check_text(sql, MAX_SQL_CHARS)
    if bad is not None:
        return bad.kind, bad.message
    if not split_statements(sql, backend):
        return ErrorKind.EMPTY, "no SQL statement (blank or comments only)"
    if nesting_depth(sql) > MAX_NESTING_DEPTH:
        return ErrorKind.TOO_LARGE, f"parentheses nested deeper than {MAX_NESTING_DEPTH}"
    return None


def build_example_db(context: str, backend: str = "sqlite", *, timeout_s: float = CONTEXT_TIMEOUT_S) -> ExampleDatabase:
    """Build the pristine database of a schema context (CREATE TABLE + INSERT statements), or
    open the database file a context names (`sqlgrpo.sql.database_files.file_context`).

    Each statement runs as written; a statement that fails is transpiled from PostgreSQL, then
    MySQL, and tried again. The first statement that fails every form stops the build and
    `ok` is False. A file is opened and checked (`sqlgrpo.sql.file_engine`); one that is
    missing, not SQLite or corrupt gives `ok` False and an error naming it. Never raises.
    """
    _check_backend(backend)
    db = ExampleDatabase(backend=backend, context=context if isinstance(context, str) else "")
    start = time.monotonic()
    path = context_file(context)
    try:
        if path is None:
            _build(db, context, timeout_s)
        else:
            _open_file(db, path, timeout_s)
    except Exception as e:  # noqa: BLE001 - never raise on a dataset's text
        log.debug("context build internal error", exc_info=True)
        db.ok, db.error = False, f"internal error: {e!r}" + (f" (database file {path})" if path else "")
    db.build_s = time.monotonic() - start
    return db


def _build(db: ExampleDatabase, context: str, timeout_s: float) -> None:
    bad = check_text(context, MAX_CONTEXT_CHARS)
    if bad is not None:
        db.error = f"{bad.kind}: {bad.message}"
        return
    statements = split_statements(context, db.backend)
    if not statements:
        db.error = "context has no SQL statement"
        return
    if nesting_depth(context) > MAX_NESTING_DEPTH:
        db.error = f"context nests parentheses deeper than {MAX_NESTING_DEPTH}"
        return
    deadline = time.monotonic() + timeout_s
    db._engine = engine = ENGINES[db.backend]()
    if engine.runs_whole_context:
        # Fast path: the whole context as written, in one call (the engine splits it). On failure
        # a fresh database is built statement by statement, transpiling only where needed.
        engine.open(deadline)
        try:
            engine.run_context_text(context)
            _finish_build(db, engine, [AS_WRITTEN] * len(statements))
            return
        except ExecFailure:
            # Built again statement by statement: a dialect may fix the failing one, and if none
            # does, the error names it (a test-suite variant drops that row and builds again).
            engine.close()
    engine.open(deadline)
    dialects = []
    for i, stmt in enumerate(statements, 1):
        error = None
        for dialect, make_text in dialect_attempts(stmt, db.backend):
            text = make_text()
            if text is None:
                continue
            try:
                engine.run_context_text(text)
            except ExecFailure as f:
                error = error or f
                if not dialect_may_fix(f.kind, f.message):
                    break
                continue
            dialects.append(dialect)
            error = None
            break
        if error is not None:
            db.error = f"context statement {i} failed ({error.kind}): {error.message}"
            db.failed_statement = i
            db.close()
            return
    _finish_build(db, engine, dialects)


def _open_file(db: ExampleDatabase, path: str, timeout_s: float) -> None:
    if db.backend != "sqlite":
        # DuckDB reads SQLite files only through its sqlite extension, and extensions are off.
        db.error = f"database files run on SQLite only, not {db.backend}: {path} (use backend 'sqlite')"
        return
    engine = SqliteFileEngine(path)
    try:
        engine.open(time.monotonic() + timeout_s)
    except ExecFailure as f:
        engine.close()
        db.error = f.message
        return
    db._engine = engine
    _finish_build(db, engine, [])


def _finish_build(db: ExampleDatabase, engine: Engine, dialects: list[str]) -> None:
    db.statement_dialects = tuple(dialects)
    db.dialect = next((d for d in dialects if d != AS_WRITTEN), AS_WRITTEN)
    engine.finish_build()
    db.ok = True


class SQLExecutor:
    """Runs SQL against example databases built from contexts (or opened from the database
    files they name), with a bounded cache of them.

    Thread-safe: queries on the same context may run from several threads at once (each gets
    its own private copy; on a file, its own read-only connection). One executor per process is
    the intended use.
    """

    def __init__(self, backend: str = "sqlite", *, timeout_s: float = QUERY_TIMEOUT_S,
                 cache_size: int = CONTEXT_CACHE_SIZE):
        _check_backend(backend)
        self.backend = backend
        self.timeout_s = timeout_s
        # Two threads asking for the same new context build it once (the cache computes a
        # missing key once); an evicted database is closed.
        self._cache = LRUCache(cache_size, on_evict=ExampleDatabase.close)

    @property
    def cache_size(self) -> int:
        """How many pristine databases are kept (settable: a benchmark keeps them all)."""
        return self._cache.size

    @cache_size.setter
    def cache_size(self, size: int) -> None:
        self._cache.size = size

    def database(self, context: str) -> ExampleDatabase:
        """The pristine database of a context (or its file, opened), built on first use and
        cached (LRU)."""
        key = context if isinstance(context, str) else repr(context)
        return self._cache.get_or_compute(key, lambda: build_example_db(context, self.backend))

    def run(self, sql: str, context: str, *, timeout_s: float | None = None,
            capture_state: bool | None = None) -> ExecResult:
        """Run `sql` on a private copy of the context's database (on a file, on the file itself
        when it only reads); never raises."""
        return self.database(context).run(sql, timeout_s=self.timeout_s if timeout_s is None else timeout_s,
                                          capture_state=capture_state)

    def clear(self) -> None:
        self._cache.clear()


_DEFAULT_EXECUTORS: dict[str, SQLExecutor] = {}
_DEFAULT_LOCK = threading.Lock()


def default_executor(backend: str = "sqlite") -> SQLExecutor:
    """A process-wide executor per backend, so separate callers share the context cache."""
    with _DEFAULT_LOCK:
        if backend not in _DEFAULT_EXECUTORS:
            _DEFAULT_EXECUTORS[backend] = SQLExecutor(backend)
        return _DEFAULT_EXECUTORS[backend]


def execute(sql: str, context: str, backend: str = "sqlite", *, timeout_s: float = QUERY_TIMEOUT_S,
            capture_state: bool | None = None) -> ExecResult:
    """Run `sql` against the example database of `context` (shortcut over `default_executor`)."""
    return default_executor(backend).run(sql, context, timeout_s=timeout_s, capture_state=capture_state)
