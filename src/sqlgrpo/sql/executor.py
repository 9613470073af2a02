"""The one SQL executor: example databases built from a schema context, and SQL run inside them.

Every stage that runs SQL (cleansing, rewards, evaluation, contrastive) goes through this module;
nothing else opens a database connection. Model-written SQL is treated as hostile.

    >>> ex = SQLExecutor("sqlite")
    >>> ctx = "CREATE TABLE t (x INT); INSERT INTO t VALUES (1), (2);"
    >>> r = ex.run("SELECT SUM(x) FROM t", ctx)
    >>> (r.ok, r.columns, r.rows, r.dialect)
    (True, ('SUM(x)',), ((3,),), 'as_written')
    >>> ex.run("SELECT nope FROM t", ctx).error_kind
    'missing_column'

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
  sees them; DuckDB gets a memory cap and never spills to disk.
- Size: caps on result rows and bytes (`MAX_RESULT_ROWS`, `MAX_RESULT_BYTES`), on the SQL text
  (`MAX_SQL_CHARS`) and on the database state snapshot taken after DML.
- Files, network, extensions: no ATTACH/DETACH, no PRAGMA, no VACUUM, no extension loading, no
  virtual tables (SQLite authorizer + `SQLITE_LIMIT_ATTACHED = 0`); DuckDB runs with external
  access disabled, extension autoload/autoinstall off, no temp directory, and only SELECT/
  INSERT/UPDATE/DELETE/CREATE/DROP/ALTER statements.
- Any input text (NUL bytes, lone surrogates, megabytes) gives an `ExecResult` with an error
  kind; `run` never raises.

What it does not guard: memory used while a query runs within its time limit (a cartesian
product may allocate hundreds of MB for up to the time limit); CPU spent inside one engine-side
function call that neither checks the interrupt nor hits a length limit (DuckDB's
`repeat('x', 1e9)` or `list_sort(range(1e8))` run for seconds); SQLite's own anonymous temp
files for large sorts (unlinked when created, bounded by the time limit); the host process
itself (it runs in-process, not in a sandbox). Run untrusted workloads in a container as well.

Dialects: SQL runs as written first; only when that fails in a way a dialect can explain (a
syntax error, an unknown table, column or function; never a data error) is it transpiled with
sqlglot (read as PostgreSQL, then MySQL, written in the backend's dialect) and tried again. Which form ran is
recorded in `ExecResult.dialect`. sqlglot is never a gate: SQL that runs as written is never
rejected because sqlglot cannot parse it. Contexts follow the same rule, statement by statement.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable

import apsw

from sqlgrpo.sql.dialects import BACKENDS, FALLBACK_DIALECTS

log = logging.getLogger(__name__)

QUERY_TIMEOUT_S = 2.0  # a rollout's query must not stall a GRPO step; gold queries run in ms
CONTEXT_TIMEOUT_S = 10.0  # building a context runs trusted-ish dataset SQL, once per context
MAX_SQL_CHARS = 100_000  # no real answer is longer; bounds the cost of splitting and parsing
MAX_CONTEXT_CHARS = 5_000_000  # contexts carry INSERT data, so they may be much larger
MAX_NESTING_DEPTH = 200  # parentheses; DuckDB's parser is quadratic in unclosed ones
MAX_TRANSPILE_CHARS = 20_000
TRANSPILE_CACHE_SIZE = 4_096  # transpiled forms of recent texts (each at most MAX_TRANSPILE_CHARS)  # sqlglot parsing is the slow path; beyond this, no fallback
MAX_RESULT_ROWS = 10_000  # results of a text-to-SQL answer are small; a cartesian one is not
MAX_RESULT_BYTES = 8_000_000  # same bound, for wide rows or huge values
MAX_STATE_ROWS = 50_000  # the whole-database snapshot taken after DML
SQLITE_MAX_VALUE_BYTES = 1_000_000  # one string/blob; randomblob(9e8) must fail, not allocate
SQLITE_MAX_LIKE_PATTERN = 1_000  # LIKE matching can be super-linear in the pattern length
SQLITE_MAX_EXPR_DEPTH = 200  # deeply nested expressions recurse inside the parser
SQLITE_MAX_VDBE_OPS = 250_000  # program size of one statement
SQLITE_CACHE_KIB = 16_000  # page cache per connection; also the in-memory sort chunk size
SQLITE_PROGRESS_OPS = 1_000  # VM steps between deadline checks (~tens of microseconds)
DUCKDB_MAX_MEMORY = "512MB"  # per example database; DuckDB spills or fails beyond it
CONTEXT_CACHE_SIZE = 2_048  # pristine databases kept per executor (each is tens of KB): an epoch
# over a few thousand prompts comes back to warm databases

TRANSPILE_FROM = FALLBACK_DIALECTS
AS_WRITTEN = "as_written"


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


_DIALECT_RUNTIME_HINTS = ("no such function", "does not exist", "no function matches", "not implemented",
                          "unknown function", "not supported")


def _dialect_may_fix(failure_kind: str | None, message: str) -> bool:
    if failure_kind in ErrorKind.DIALECT_KINDS:
        return True
    low = message.lower()
    return failure_kind == ErrorKind.RUNTIME and any(h in low for h in _DIALECT_RUNTIME_HINTS)


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


class _Failure(Exception):
    """Internal: a statement failed with a classified error kind."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind
        self.message = message


# --------------------------------------------------------------------------------------------
# Statement splitting. Not SQL parsing: a lexer that only knows quotes and comments, so that a
# ';' inside a string never splits a statement. The engine parses each piece.

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
MAX_TRIGGER_CHARS = 20_000  # a trigger body longer than this is split like any other text


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


def _check_text(text: Any, max_chars: int) -> _Failure | None:
    """Reject texts no engine should see: not a string, too long, NUL bytes, invalid Unicode."""
    if not isinstance(text, str):
        return _Failure(ErrorKind.SYNTAX, f"SQL must be a string, got {type(text).__name__}")
    if len(text) > max_chars:
        return _Failure(ErrorKind.TOO_LARGE, f"SQL text of {len(text)} characters exceeds {max_chars}")
    if "\x00" in text:
        return _Failure(ErrorKind.SYNTAX, "SQL text contains a NUL byte")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as e:
            return _Failure(ErrorKind.SYNTAX, f"SQL text is not valid Unicode: {e.reason} at {e.start}")
    return None


def _nesting_depth(text: str) -> int:
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


@functools.lru_cache(maxsize=TRANSPILE_CACHE_SIZE)
def _transpiled(text: str, read: str, write: str) -> str | None:
    """The text rewritten by sqlglot from `read` into `write`, or None when sqlglot can't.
    Cached: the same failing text recurs across a GRPO group and across steps."""
    if len(text) > MAX_TRANSPILE_CHARS:
        return None
    try:
        import sqlglot

        logging.getLogger("sqlglot").setLevel(logging.ERROR)  # its fallback warnings are noise here
        trees = [t for t in sqlglot.parse(text, read=read) if t is not None]
        out = [stmt.sql(dialect=write) for t in trees for stmt in _adapt_types(t, write)]
    except Exception:  # noqa: BLE001 - ParseError, TokenError, RecursionError, internal errors
        return None
    out = [s for s in out if s and s.strip()]
    if not out:
        return None
    return ";\n".join(out) + ";"


def _same_text(text: str) -> str:
    """A form of a text for spotting that a transpiled version is the original again."""
    return " ".join(text.split()).rstrip(";").strip().lower()


# Column types sqlglot passes through that the backend rejects, and what to use instead.
_TYPE_FALLBACKS = {"sqlite": {"ENUM": "TEXT", "SET": "TEXT"}, "duckdb": {"SET": "TEXT"}}
# Auto-numbered column types; on DuckDB they become an integer fed by a sequence.
_SERIAL_TYPES = {"SERIAL": "INT", "SMALLSERIAL": "SMALLINT", "BIGSERIAL": "BIGINT"}


def _adapt_types(tree: Any, backend: str) -> list[Any]:
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


def _dialect_attempts(text: str, backend: str) -> list[tuple[str, Callable[[], str | None]]]:
    """The forms of a text to try in order: as written, then transpiled from each flavour."""
    attempts: list[tuple[str, Callable[[], str | None]]] = [(AS_WRITTEN, lambda: text)]
    for read in TRANSPILE_FROM:
        attempts.append((read, lambda read=read: _transpiled(text, read, backend)))
    return attempts


# --------------------------------------------------------------------------------------------
# Result fetching, shared by both backends.

def _value_size(value: Any) -> int:
    if isinstance(value, (str, bytes, bytearray)):
        return len(value)
    return 8


def _collect_capped(rows_iter: Any, max_rows: int, max_bytes: int) -> tuple[tuple, ...]:
    """All rows of an iterable, or a TOO_LARGE failure once either cap is passed."""
    rows: list[tuple] = []
    size = 0
    for row in rows_iter:
        row = tuple(row)
        size += sum(_value_size(v) for v in row)
        rows.append(row)
        if len(rows) > max_rows:
            raise _Failure(ErrorKind.TOO_LARGE, f"result has more than {max_rows} rows")
        if size > max_bytes:
            raise _Failure(ErrorKind.TOO_LARGE, f"result is larger than {max_bytes} bytes")
    return tuple(rows)


def _fetch_capped(cursor: Any, max_rows: int, max_bytes: int) -> tuple[tuple, ...]:
    """All rows of a DB-API cursor, fetched in batches, capped as `_collect_capped`."""
    batches = iter(lambda: cursor.fetchmany(256), [])
    return _collect_capped((row for batch in batches for row in batch), max_rows, max_bytes)


# --------------------------------------------------------------------------------------------
# SQLite, through apsw: it bundles a current SQLite (3.54) whose printf stops at the length
# limit (the system's 3.40 keeps looping for seconds on printf('%.*c', 9e8, 'x')), and it
# exposes limits, the authorizer, the progress handler, the backup API and the engine's own
# statement splitting.

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
_SQLITE_INTERNAL_PREFIX = "sqlite_"


def _classify_sqlite_error(exc: BaseException) -> tuple[str, str]:
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


class _SqliteGuard:
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


def _sqlite_connect(guard: _SqliteGuard) -> apsw.Connection:
    conn = apsw.Connection(":memory:")
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


def starts_with_keyword(statement: str, keyword: str) -> bool:
    """Whether the statement's first word, after comments, is `keyword`."""
    for m in _TOKEN.finditer(statement):
        tok = m.group()
        if tok.startswith(("--", "/*")) or not tok.strip():
            continue
        return tok.lstrip().upper().startswith(keyword)
    return False


def _sqlite_run_text(conn: apsw.Connection, guard: _SqliteGuard, text: str,
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
            size += sum(_value_size(v) for v in row)
            if len(rows) > max_rows:
                raise _Failure(ErrorKind.TOO_LARGE, f"result has more than {max_rows} rows")
            if size > max_bytes:
                raise _Failure(ErrorKind.TOO_LARGE, f"result is larger than {max_bytes} bytes")
    except _Failure:
        raise
    except apsw.ExecTraceAbort:
        raise _Failure(ErrorKind.FORBIDDEN, guard.forbidden or "statement refused") from None
    except (apsw.Error, ValueError, OverflowError, MemoryError, RecursionError, UnicodeError) as e:
        kind, msg = _classify_sqlite_error(e)
        if guard.timed_out:
            kind, msg = ErrorKind.TIMEOUT, "query exceeded the time limit"
        raise _Failure(kind, msg) from None
    finally:
        cur.close()
    if guard.kinds and len(guard.kinds) != current_statement and guard.columns:
        # the last statement with a result set returned no rows
        columns, rows = guard.columns, []
    return columns, tuple(rows), list(guard.kinds), conn.total_changes() - changes_before


def _sqlite_tables(conn: apsw.Connection) -> list[str]:
    names = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").fetchall()
    return [n for (n,) in names if not n.startswith(_SQLITE_INTERNAL_PREFIX)]


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sqlite_state(conn: apsw.Connection) -> tuple[TableState, ...]:
    tables = []
    budget = MAX_STATE_ROWS
    for name in _sqlite_tables(conn):
        # apsw has no description for a statement that returned no rows: ask the catalog, of the
        # main schema only (a temp table of the same name must not stand in for it)
        columns = tuple(row[1] for row in conn.execute(f"PRAGMA main.table_info({_quote_ident(name)})"))
        rows = _collect_capped(conn.execute(f"SELECT * FROM main.{_quote_ident(name)}"), budget, MAX_RESULT_BYTES)
        budget -= len(rows)
        tables.append(TableState(name, columns, rows))
    return tuple(tables)


# --------------------------------------------------------------------------------------------
# DuckDB

def _duckdb():
    import duckdb  # imported lazily: SQLite users never pay for it

    return duckdb


_DUCKDB_ALLOWED = {"SELECT": SELECT, "INSERT": INSERT, "UPDATE": UPDATE, "DELETE": DELETE,
                   "CREATE": DDL, "DROP": DDL, "ALTER": DDL}


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
        raise _Failure(kind if kind != ErrorKind.RUNTIME else ErrorKind.SYNTAX, msg) from None
    out = []
    for st in parsed:
        name = st.type.name
        if name == "TRANSACTION":
            raise _Failure(ErrorKind.FORBIDDEN, "transaction statements are not allowed")
        if name not in _DUCKDB_ALLOWED:
            raise _Failure(ErrorKind.FORBIDDEN, f"{name} statements are not allowed")
        out.append((_DUCKDB_ALLOWED[name], st.query))
    return out


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
        except _Failure:
            raise
        except (duckdb.Error, RuntimeError, ValueError, OverflowError, MemoryError, RecursionError) as e:
            kind_, msg = _classify_duckdb_error(e)
            raise _Failure(kind_, msg) from None
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
        cur.execute(f"SELECT * FROM {_quote_ident(database)}.main.{_quote_ident(name)}")
        rows = _fetch_capped(cur, budget, MAX_RESULT_BYTES)
        budget -= len(rows)
        tables.append(TableState(name, tuple(d[0] for d in cur.description), rows))
    return tuple(tables)


# --------------------------------------------------------------------------------------------
# Example databases

@dataclass
class ExampleDatabase:
    """A pristine database built from one schema context; queries run on private copies of it.

    `ok` is False when the context did not build; then `error` says which statement failed and
    why, and every query on it returns `ErrorKind.CONTEXT`.
    """

    backend: str
    context: str
    ok: bool = False
    error: str = ""
    dialect: str = AS_WRITTEN  # AS_WRITTEN, or the flavour of the first transpiled statement
    statement_dialects: tuple[str, ...] = ()
    build_s: float = 0.0
    _conn: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _write_lock: threading.Lock = field(default_factory=threading.Lock)
    _duckdb_replay: list[str] = field(default_factory=list)  # the context's statements as they ran
    _duckdb_sequences: bool = False
    _schema: dict[str, list[str]] | None = None

    @property
    def schema(self) -> dict[str, list[str]]:
        """Tables and views of the pristine database with their column names (empty if not ok).

        Read from the engine's catalog on first use: on DuckDB that read costs ~20 ms, which
        queries that never look at the schema should not pay.
        """
        if self._schema is None:
            with self._lock:
                self._schema = _read_schema(self) if self.ok and self._conn is not None else {}
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
        return _with_elapsed(result, time.monotonic() - start)

    def _run(self, sql: str, timeout_s: float, capture_state: bool | None, max_rows: int,
             max_bytes: int) -> ExecResult:
        if not self.ok:
            return ExecResult(ok=False, error_kind=ErrorKind.CONTEXT, error=self.error)
        bad = _check_text(sql, MAX_SQL_CHARS)
        if bad is not None:
            return ExecResult(ok=False, error_kind=bad.kind, error=bad.message)
        if not split_statements(sql, self.backend):
            return ExecResult(ok=False, error_kind=ErrorKind.EMPTY, error="no SQL statement (blank or comments only)")
        if _nesting_depth(sql) > MAX_NESTING_DEPTH:
            return ExecResult(ok=False, error_kind=ErrorKind.TOO_LARGE,
                              error=f"parentheses nested deeper than {MAX_NESTING_DEPTH}")
        # One time budget for all attempts: a text that fails late is not given it three times.
        deadline = time.monotonic() + timeout_s
        first: ExecResult | None = None
        tried = set()
        for dialect, make_text in _dialect_attempts(sql, self.backend):
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
            if not _dialect_may_fix(result.error_kind, result.error):
                break
        assert first is not None  # the as-written attempt always runs
        return first

    def _attempt(self, text: str, dialect: str, timeout_s: float, capture_state: bool | None,
                 max_rows: int, max_bytes: int) -> ExecResult:
        if self.backend == "sqlite":
            guard = _SqliteGuard()
            conn = _sqlite_connect(guard)
            try:
                with self._lock:  # one backup at a time reads the shared pristine connection
                    with conn.backup("main", self._conn, "main") as copy:
                        copy.step()
                guard.deadline = time.monotonic() + timeout_s
                columns, rows, kinds, changes = _sqlite_run_text(conn, guard, text, max_rows, max_bytes)
                state = None
                if capture_state or (capture_state is None and any(k != SELECT for k in kinds)):
                    guard.deadline = float("inf")
                    conn.authorizer = None
                    state = _sqlite_state(conn)
            except _Failure as f:
                return ExecResult(ok=False, error_kind=f.kind, error=f.message, timed_out=f.kind == ErrorKind.TIMEOUT,
                                  dialect=dialect, executed_sql=text)
            finally:
                conn.close()
        else:
            try:
                statements_d = _duckdb_statements(text)
            except _Failure as f:
                return ExecResult(ok=False, error_kind=f.kind, error=f.message, dialect=dialect, executed_sql=text)
            writes = any(kind != SELECT for kind, _ in statements_d)
            if writes and self._duckdb_sequences:
                # Sequences are not transactional in DuckDB: a rolled-back INSERT still advances
                # them. A text that writes gets a database of its own, rebuilt from the context.
                conn = _duckdb_connect()
                try:
                    for statement in self._duckdb_replay:
                        conn.execute(statement)
                    outcome = _duckdb_attempt(conn, statements_d, timeout_s, capture_state, max_rows, max_bytes)
                finally:
                    conn.close()
            elif writes:
                # Concurrent writers on one DuckDB database conflict ("Conflict on tuple deletion"),
                # so texts that write take turns; read-only texts run side by side.
                with self._write_lock:
                    outcome = _duckdb_attempt(self._conn, statements_d, timeout_s, capture_state, max_rows, max_bytes)
            else:
                outcome = _duckdb_attempt(self._conn, statements_d, timeout_s, capture_state, max_rows, max_bytes)
            if isinstance(outcome, _Failure):
                return ExecResult(ok=False, error_kind=outcome.kind, error=outcome.message,
                                  timed_out=outcome.kind == ErrorKind.TIMEOUT, dialect=dialect, executed_sql=text)
            columns, rows, kinds, changes, state = outcome
        return ExecResult(ok=True, columns=columns, rows=rows, dialect=dialect, statement_kinds=tuple(kinds),
                          rows_changed=changes, state=state, executed_sql=text)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _duckdb_attempt(conn: Any, statements: list[tuple[str, str]], timeout_s: float, capture_state: bool | None,
                    max_rows: int, max_bytes: int) -> tuple | _Failure:
    """Run statements in a transaction on a cursor of `conn` that is always rolled back."""
    cur = conn.cursor()
    timer = threading.Timer(timeout_s, cur.interrupt)
    try:
        cur.execute("BEGIN TRANSACTION")
        timer.start()
        columns, rows, kinds, changes = _duckdb_run_statements(cur, statements, max_rows, max_bytes)
        timer.cancel()
        state = None
        if capture_state or (capture_state is None and any(k != SELECT for k in kinds)):
            state = _duckdb_state(cur)
        return columns, rows, kinds, changes, state
    except _Failure as f:
        return f
    finally:
        timer.cancel()
        try:
            cur.execute("ROLLBACK")
        except Exception:  # noqa: BLE001 - an aborted transaction is rolled back already
            pass
        cur.close()


def _with_elapsed(result: ExecResult, elapsed: float) -> ExecResult:
    from dataclasses import replace

    return replace(result, elapsed_s=elapsed)


def build_example_db(context: str, backend: str = "sqlite", *, timeout_s: float = CONTEXT_TIMEOUT_S) -> ExampleDatabase:
    """Build the pristine database of a schema context (CREATE TABLE + INSERT statements).

    Each statement runs as written; a statement that fails is transpiled from PostgreSQL, then
    MySQL, and tried again. The first statement that fails every form stops the build and
    `ok` is False. Never raises.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    db = ExampleDatabase(backend=backend, context=context if isinstance(context, str) else "")
    start = time.monotonic()
    try:
        _build(db, context, timeout_s)
    except Exception as e:  # noqa: BLE001 - never raise on a dataset's text
        log.debug("context build internal error", exc_info=True)
        db.ok, db.error = False, f"internal error: {e!r}"
    db.build_s = time.monotonic() - start
    return db


def _duckdb_connect() -> Any:
    return _duckdb().connect(":memory:", config={
        "enable_external_access": False,  # no files, no network, no ATTACH of files
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "threads": 1,  # parallelism comes from running many queries, not one wide one
        "max_memory": DUCKDB_MAX_MEMORY,
        "temp_directory": "",  # never spill to disk: beyond max_memory a query fails (too_large)
    })


def _context_runner(db: ExampleDatabase, deadline: float) -> Callable[[str], None]:
    """Open the pristine connection of `db` and return a function that runs one text on it."""
    if db.backend == "sqlite":
        guard = _SqliteGuard()
        guard.deadline = deadline
        db._conn = conn = _sqlite_connect(guard)

        def run_sqlite(text: str) -> None:
            _sqlite_run_text(conn, guard, text, MAX_RESULT_ROWS, MAX_RESULT_BYTES)

        return run_sqlite

    db._conn = conn = _duckdb_connect()

    def run_duckdb(text: str) -> None:
        cur = conn.cursor()
        timer = threading.Timer(max(deadline - time.monotonic(), 0.01), cur.interrupt)
        timer.start()
        try:
            _duckdb_run_statements(cur, _duckdb_statements(text), MAX_RESULT_ROWS, MAX_RESULT_BYTES)
        finally:
            timer.cancel()
            cur.close()

    return run_duckdb


def _build(db: ExampleDatabase, context: str, timeout_s: float) -> None:
    bad = _check_text(context, MAX_CONTEXT_CHARS)
    if bad is not None:
        db.error = f"{bad.kind}: {bad.message}"
        return
    statements = split_statements(context, db.backend)
    if not statements:
        db.error = "context has no SQL statement"
        return
    if _nesting_depth(context) > MAX_NESTING_DEPTH:
        db.error = f"context nests parentheses deeper than {MAX_NESTING_DEPTH}"
        return
    deadline = time.monotonic() + timeout_s
    if db.backend == "sqlite":
        # Fast path: the whole context as written, in one call (SQLite splits it). On failure
        # a fresh database is built statement by statement, transpiling only where needed.
        run = _context_runner(db, deadline)
        try:
            run(context)
            _finish_build(db, [AS_WRITTEN] * len(statements))
            return
        except _Failure as f:
            db.close()
            if not _dialect_may_fix(f.kind, f.message):
                db.error = f"context failed ({f.kind}): {f.message}"
                return
    run = _context_runner(db, deadline)
    dialects = []
    for i, stmt in enumerate(statements, 1):
        error = None
        for dialect, make_text in _dialect_attempts(stmt, db.backend):
            text = make_text()
            if text is None:
                continue
            try:
                run(text)
            except _Failure as f:
                error = error or f
                if not _dialect_may_fix(f.kind, f.message):
                    break
                continue
            dialects.append(dialect)
            db._duckdb_replay.append(text)
            error = None
            break
        if error is not None:
            db.error = f"context statement {i} failed ({error.kind}): {error.message}"
            db.close()
            return
    _finish_build(db, dialects)


def _finish_build(db: ExampleDatabase, dialects: list[str]) -> None:
    db.statement_dialects = tuple(dialects)
    db.dialect = next((d for d in dialects if d != AS_WRITTEN), AS_WRITTEN)
    if db.backend == "duckdb":
        (count,) = db._conn.execute("SELECT count(*) FROM duckdb_sequences()").fetchone()
        db._duckdb_sequences = count > 0
    else:
        db._duckdb_replay = []
        db._conn.set_progress_handler(None, 0)  # the build deadline must not outlive the build
    db.ok = True


def _read_schema(db: ExampleDatabase) -> dict[str, list[str]]:
    """Tables (and views) with their column names, read from the engine's catalog."""
    if db.backend == "sqlite":
        conn = db._conn
        conn.authorizer = None  # our own catalog reads (pragma_table_info), not the model's;
        # queries run on copies, which carry their own authorizer
        schema = {}
        for name, kind in conn.execute(
                "SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view') ORDER BY name"):
            if name.startswith(_SQLITE_INTERNAL_PREFIX):
                continue
            cols = conn.execute("SELECT name FROM pragma_table_info(?)", (name,)).fetchall()
            schema[name] = [c for (c,) in cols]
        return schema
    cur = db._conn.cursor()
    try:
        cur.execute("SELECT table_name, column_name FROM duckdb_columns() "  # information_schema is 5x slower
                    "WHERE schema_name = 'main' AND NOT internal ORDER BY table_name, column_index")
        schema: dict[str, list[str]] = {}
        for table, column in cur.fetchall():
            schema.setdefault(table, []).append(column)
        return schema
    finally:
        cur.close()


class SQLExecutor:
    """Runs SQL against example databases built from contexts, with a bounded cache of them.

    Thread-safe: queries on the same context may run from several threads at once (each gets
    its own private copy). One executor per process is the intended use.
    """

    def __init__(self, backend: str = "sqlite", *, timeout_s: float = QUERY_TIMEOUT_S,
                 cache_size: int = CONTEXT_CACHE_SIZE):
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")
        self.backend = backend
        self.timeout_s = timeout_s
        self.cache_size = cache_size
        self._cache: OrderedDict[str, ExampleDatabase] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._building: dict[str, threading.Lock] = {}

    def database(self, context: str) -> ExampleDatabase:
        """The pristine database of a context, built on first use and cached (LRU)."""
        key = context if isinstance(context, str) else repr(context)
        with self._cache_lock:
            db = self._cache.get(key)
            if db is not None:
                self._cache.move_to_end(key)
                return db
            build_lock = self._building.setdefault(key, threading.Lock())
        with build_lock:  # two threads asking for the same new context build it once
            with self._cache_lock:
                db = self._cache.get(key)
            if db is None:
                db = build_example_db(context, self.backend)
                with self._cache_lock:
                    self._cache[key] = db
                    self._building.pop(key, None)
                    while len(self._cache) > self.cache_size:
                        _, old = self._cache.popitem(last=False)
                        old.close()
        return db

    def run(self, sql: str, context: str, *, timeout_s: float | None = None,
            capture_state: bool | None = None) -> ExecResult:
        """Run `sql` on a private copy of the context's database; never raises."""
        return self.database(context).run(sql, timeout_s=self.timeout_s if timeout_s is None else timeout_s,
                                          capture_state=capture_state)

    def clear(self) -> None:
        with self._cache_lock:
            for db in self._cache.values():
                db.close()
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
