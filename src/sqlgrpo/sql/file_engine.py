"""The engine of database files (Spider, BIRD): SQL run on a `.sqlite` file that is never written.

A record whose `sql_context` is a file reference (`sqlgrpo.sql.database_files.file_context`) is
opened by the executor (`sqlgrpo.sql.executor.build_example_db`) as the file itself, on
`SqliteFileEngine`, which implements the executor's engine interface (`Engine`) on the guards of
the SQLite engine (`sqlgrpo.sql.sqlite_engine`: limits, authorizer, progress handler, the text
runner and the state snapshot). Nothing but the executor uses it.

- Reading: the file is opened read-only and immutable (`file:...?mode=ro&immutable=1`: no
  journal, no lock, no -wal/-shm file, nothing written beside it). A text whose statements only
  read runs on such a connection directly: a SELECT never copies the file. Connections are
  pooled per file: a query takes one for itself (its deadline and progress handler are its own,
  whichever thread it runs in) and hands it back; at most `MAX_IDLE_FILE_CONNECTIONS` idle ones
  stay open over all files, and one that goes idle with more than `IDLE_CACHE_BYTES` of page
  cache releases it.
- Writing: a statement that would write (DML, DDL, temp tables, transactions, ANALYZE) is seen
  once it is prepared and before it runs (the statement tracer classifies it from the
  authorizer's actions); the whole text then runs on a private in-memory copy of the file (the
  backup API), as a context's text does, and its state is taken as for contexts. A file over
  `MAX_FILE_COPY_BYTES` is never copied: a text that writes on it runs inside a transaction on a
  read-write connection that is always rolled back, its journal in memory and its dirty pages
  never spilled (the file is not written even if the process dies), its own transaction
  statements refused, one such writer per file at a time (a file in WAL mode is refused). Its
  state is the whole database, as for contexts, so on a large file it meets the snapshot cap
  (`MAX_STATE_ROWS`) unless the caller asks for no state.
- Bad files: a missing file, one without the SQLite header, a corrupt one (found when it is
  opened: the catalog is read, and `PRAGMA quick_check` runs on files up to
  `QUICK_CHECK_MAX_BYTES`; or later, by a query) give an error naming the file, never an
  exception.
- A file that changes on disk while open (size, mtime or inode) is opened again: an immutable
  connection would read a torn file. Writes still in a `-wal` file are not seen (logged).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import urllib.parse
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import apsw

from sqlgrpo.sql.database_files import SQLITE_HEADER, is_sqlite_file
from sqlgrpo.sql.result import SELECT, TRANSACTION, ErrorKind, ExecFailure, RunOutcome, wants_state
from sqlgrpo.sql.sqlite_engine import (SqliteGuard, classify_sqlite_error, guard_connection, run_private,
                                       run_sqlite_text, sqlite_connect, sqlite_schema, sqlite_state)

log = logging.getLogger(__name__)

MAX_FILE_COPY_BYTES = 64 * 2**20  # a text that writes runs on an in-memory copy: its size in memory
# per concurrent writer and ~1 ms per MB of copying, per text. Spider's and gretel-sized databases
# are far below it; a larger file's state would not fit the snapshot that DML is compared by
# (`MAX_STATE_ROWS`) anyway, and a 500 MB BIRD database must never be copied per query.
QUICK_CHECK_MAX_BYTES = 32 * 2**20  # `PRAGMA quick_check` at open reads every page (~0.1 s for
# 32 MB, once per file and process); larger files are only checked by the queries that read them
MAX_IDLE_FILE_CONNECTIONS = 64  # idle read-only connections kept over all files: each holds a file
# descriptor and up to SQLITE_CACHE_KIB of page cache; beyond it the least recently used closes
IDLE_CACHE_BYTES = 4 * 2**20  # a connection whose page cache is over this when its query ends
# releases it: a query still gets the full SQLITE_CACHE_KIB, but 64 idle connections do not hold
# ~1 GB; released pages are read again from the OS's file cache (benchmarks/bench_files.py: 20 open
# 112 MB files hold 0.1 MB of SQLite heap each after an aggregate, 16 MB each without the release)
ROLLED_BACK_PRAGMAS = ("PRAGMA journal_mode=MEMORY", "PRAGMA cache_spill=OFF", "PRAGMA temp_store=MEMORY")
# a write on a file too large to copy: the journal in memory, dirty pages never spilled to the
# file before the (always) rollback, temp tables in memory: nothing is written beside or into it
BACKUP_STEP_PAGES = 1_024  # pages copied between two deadline checks while copying a file
_WAL_MODE = 2  # header bytes 18-19 of a database in WAL mode
_CORRUPTION_MESSAGES = ("database disk image is malformed", "file is not a database", "disk i/o error",
                        "unable to open database file")  # SQLite's words for a broken file, not a bad query


def open_file_connection(path: str, guard: SqliteGuard) -> apsw.Connection:
    """A read-only, immutable connection to a database file, under `guard`."""
    uri = "file:" + urllib.parse.quote(path) + "?mode=ro&immutable=1"
    # No statement cache: a cached statement is not prepared again, so the authorizer, which
    # tells a read from a write, would not see it the next time (pooled connections run many texts).
    conn = apsw.Connection(uri, flags=apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI, statementcachesize=0)
    try:
        return guard_connection(conn, guard)  # its first statement reads the file's header
    except BaseException:
        conn.close()
        raise


class _RolledBackGuard(SqliteGuard):
    """The SQLite guard, refusing transaction statements: on a file, the text runs inside our
    own transaction, which must be the one that ends it (always by a rollback)."""

    def trace(self, cursor: Any, sql: str, bindings: Any) -> bool:
        if not super().trace(cursor, sql, bindings):
            return False
        if self.kinds[-1] == TRANSACTION:
            self.forbidden = "transaction statements are not allowed on a database file"
            return False
        return True


def _in_wal_mode(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            header = f.read(20)
    except OSError:
        return False
    return len(header) == 20 and header[18] == _WAL_MODE


class _ReadOnlyGuard(SqliteGuard):
    """The SQLite guard, stopping a text at its first statement that is not a plain read: that
    text runs again on a private copy (`writes` says so)."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = False

    def trace(self, cursor: Any, sql: str, bindings: Any) -> bool:
        if not super().trace(cursor, sql, bindings):
            return False  # refused (VACUUM): an error, not a reason to copy
        if self.kinds[-1] != SELECT:
            self.writes = True
            self.forbidden = "writes to the database"
            return False
        return True


@dataclass(eq=False)  # pooled by identity
class _Reader:
    """One read-only connection to a file and its own guard."""

    conn: apsw.Connection
    guard: _ReadOnlyGuard
    generation: int  # the version of the file it was opened on (the file may change on disk)
    pid: int  # a connection inherited through fork() is not used in the child


class _IdleReaders:
    """Idle read-only connections of every open file, least recently used first; past `limit`
    the oldest is closed. One lock over all files: taking and giving back cost microseconds."""

    def __init__(self, limit: int):
        self.limit = limit
        self._lock = threading.Lock()
        self._lru: OrderedDict[_Reader, SqliteFileEngine] = OrderedDict()
        self._of: dict[SqliteFileEngine, list[_Reader]] = {}

    def take(self, engine: SqliteFileEngine) -> _Reader | None:
        """An idle connection to `engine`'s file (of its current version), or None."""
        stale, found = [], None
        with self._lock:
            readers = self._of.get(engine, [])
            while readers and found is None:
                reader = readers.pop()
                del self._lru[reader]
                if reader.generation == engine.generation and reader.pid == os.getpid():
                    found = reader
                else:
                    stale.append(reader)
            if not readers:
                self._of.pop(engine, None)  # no entry kept for a file with no idle connection
        _close(stale)
        return found

    def give(self, engine: SqliteFileEngine, reader: _Reader) -> None:
        """Keep a connection that finished its query (closed instead when it is out of date)."""
        to_close = []
        if reader.conn.status(apsw.SQLITE_DBSTATUS_CACHE_USED)[0] > IDLE_CACHE_BYTES:
            reader.conn.release_memory()  # still the caller's own connection: outside the lock
        with self._lock:
            if engine.closed or reader.generation != engine.generation or reader.pid != os.getpid():
                to_close.append(reader)
            else:
                self._of.setdefault(engine, []).append(reader)
                self._lru[reader] = engine
            while len(self._lru) > self.limit:
                old, owner = self._lru.popitem(last=False)
                self._of[owner].remove(old)
                if not self._of[owner]:
                    del self._of[owner]
                to_close.append(old)
        _close(to_close)

    def discard(self, engine: SqliteFileEngine) -> None:
        """Close the idle connections of one file."""
        with self._lock:
            readers = self._of.pop(engine, [])
            for reader in readers:
                del self._lru[reader]
        _close(readers)

    def __len__(self) -> int:
        return len(self._lru)


def _close(readers: list[_Reader]) -> None:
    for reader in readers:
        reader.conn.close()


IDLE_READERS = _IdleReaders(MAX_IDLE_FILE_CONNECTIONS)


def _signature(path: str) -> tuple[int, int, int, int]:
    """What tells that a file changed on disk; raises `ExecFailure` when it is gone."""
    try:
        st = os.stat(path)
    except (OSError, ValueError) as e:  # ValueError: a NUL byte in the path
        reason = e.strerror if isinstance(e, OSError) else str(e)
        raise ExecFailure(ErrorKind.CONTEXT, f"database file not found: {path} ({reason})") from None
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def _file_failure(path: str, failure: ExecFailure) -> ExecFailure:
    """A failure that comes from the file (corrupt, unreadable) names it and is a CONTEXT error;
    one that comes from the query stays as it is."""
    if failure.kind in (ErrorKind.RUNTIME, ErrorKind.CONTEXT) and any(
            m in failure.message.lower() for m in _CORRUPTION_MESSAGES):
        if path in failure.message:
            return ExecFailure(ErrorKind.CONTEXT, failure.message)
        return ExecFailure(ErrorKind.CONTEXT, f"corrupt or unreadable SQLite database file {path}: {failure.message}")
    return failure


class SqliteFileEngine:
    """The engine of one database file: reads on pooled read-only connections to the file,
    writes on a private in-memory copy of it (files up to `MAX_FILE_COPY_BYTES`)."""

    # There is no context text to run: the database is the file (the executor opens it with
    # `open` alone and never calls `run_context_text`).
    runs_whole_context = False

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(path)
        self.generation = 0  # bumped when the file changes on disk
        self.closed = False
        self._signature: tuple[int, int, int, int] | None = None
        self._lock = threading.Lock()  # guards the signature and the generation
        self._write_lock = threading.Lock()  # one rolled-back write transaction on the file at a time

    @property
    def size(self) -> int:
        """The file's size in bytes, as last seen."""
        return self._signature[2] if self._signature is not None else 0

    def open(self, deadline: float) -> None:
        """Open the file and check it (header, catalog, and `quick_check` when small); raises
        `ExecFailure` (CONTEXT) with a message naming the file."""
        self._signature = _signature(self.path)
        if not os.path.isfile(self.path):
            raise ExecFailure(ErrorKind.CONTEXT, f"database file not found (not a file): {self.path}")
        if not is_sqlite_file(self.path):
            raise ExecFailure(ErrorKind.CONTEXT, f"not an SQLite database file (no {SQLITE_HEADER[:15].decode()!r} "
                                                 f"header): {self.path}")
        reader = self._open_reader()
        try:
            self._check(reader, deadline)
        except BaseException:
            reader.conn.close()
            raise
        IDLE_READERS.give(self, reader)
        _warn_if_wal_pending(self.path)

    def _check(self, reader: _Reader, deadline: float) -> None:
        conn = reader.conn
        conn.authorizer = None  # our own checks (a PRAGMA), not the model's
        reader.guard.deadline = deadline
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchall()  # parses the whole schema
            if self.size <= QUICK_CHECK_MAX_BYTES:
                problems = [msg for (msg,) in conn.execute("PRAGMA quick_check(3)")]
                if problems != ["ok"]:
                    raise ExecFailure(ErrorKind.CONTEXT, f"corrupt SQLite database file {self.path}: "
                                                         + "; ".join(problems))
        except apsw.Error as e:
            kind, msg = classify_sqlite_error(e)
            if kind == ErrorKind.TIMEOUT:
                raise ExecFailure(ErrorKind.CONTEXT, f"checking database file {self.path} took over the "
                                                     "context time limit") from None
            raise ExecFailure(ErrorKind.CONTEXT, f"corrupt or unreadable SQLite database file {self.path}: "
                                                 f"{msg}") from None
        finally:
            reader.guard.deadline = float("inf")
            conn.authorizer = reader.guard.authorize

    def _open_reader(self) -> _Reader:
        guard = _ReadOnlyGuard()
        try:
            conn = open_file_connection(self.path, guard)
        except (apsw.CorruptError, apsw.NotADBError) as e:
            raise ExecFailure(ErrorKind.CONTEXT, f"corrupt SQLite database file {self.path}: {e}") from None
        except apsw.Error as e:
            raise ExecFailure(ErrorKind.CONTEXT, f"cannot open database file {self.path}: {e}") from None
        return _Reader(conn, guard, self.generation, os.getpid())

    def _take(self) -> _Reader:
        """A connection of this query's own: an idle one, else a new one. A file changed on
        disk since it was opened makes every older connection out of date first."""
        signature = _signature(self.path)
        if signature != self._signature:
            with self._lock:
                if signature != self._signature:
                    log.info("database file changed on disk; opened again: %s", self.path)
                    self._signature = signature
                    self.generation += 1
            IDLE_READERS.discard(self)
        return IDLE_READERS.take(self) or self._open_reader()

    def run_context_text(self, text: str) -> None:
        raise ExecFailure(ErrorKind.CONTEXT, f"a database file takes no context text: {self.path}")

    def finish_build(self) -> None:
        """Nothing to lift: the checks at open ran under their own deadline."""

    def read_schema(self) -> dict[str, list[str]]:
        """Tables and views of the file with their column names ({} if the file became unreadable)."""
        try:
            reader = self._take()
        except ExecFailure as f:
            log.warning("cannot read the schema: %s", f.message)
            return {}
        try:
            reader.conn.authorizer = None  # our own catalog reads, not the model's
            return sqlite_schema(reader.conn)
        except apsw.Error as e:
            log.warning("cannot read the schema of database file %s: %s", self.path, e)
            return {}
        finally:
            reader.conn.authorizer = reader.guard.authorize
            IDLE_READERS.give(self, reader)

    def prepare(self, text: str) -> str:
        """The text as `run_copy` takes it: SQLite splits and checks it while running."""
        return text

    def run_copy(self, text: str, timeout_s: float, capture_state: bool | None, max_rows: int,
                 max_bytes: int) -> RunOutcome:
        """Run `text` within `timeout_s`: on the file when it only reads, else on a private copy."""
        deadline = time.monotonic() + timeout_s
        try:
            reader = self._take()
            try:
                return self._run(reader, text, deadline, capture_state, max_rows, max_bytes)
            finally:
                IDLE_READERS.give(self, reader)
        except ExecFailure as f:
            raise _file_failure(self.path, f) from None

    def _run(self, reader: _Reader, text: str, deadline: float, capture_state: bool | None, max_rows: int,
             max_bytes: int) -> RunOutcome:
        conn, guard = reader.conn, reader.guard
        guard.deadline, guard.timed_out, guard.writes = deadline, False, False
        try:
            try:
                columns, rows, kinds, changes = run_sqlite_text(conn, guard, text, max_rows, max_bytes)
            except ExecFailure:
                if not guard.writes:
                    raise
                return self._run_on_copy(conn, text, deadline, capture_state, max_rows, max_bytes)
            state = None
            if wants_state(capture_state, kinds):  # asked for (a SELECT compared with a DML gold)
                guard.deadline = float("inf")
                conn.authorizer = None  # the snapshot reads the catalog (a PRAGMA to the authorizer)
                try:
                    state = sqlite_state(conn)
                except apsw.Error as e:
                    raise ExecFailure(*classify_sqlite_error(e)) from None
                finally:
                    conn.authorizer = guard.authorize
            return RunOutcome(columns, rows, kinds, changes, state)
        finally:
            guard.deadline = float("inf")  # an idle connection carries no deadline

    def _run_on_copy(self, source: apsw.Connection, text: str, deadline: float, capture_state: bool | None,
                     max_rows: int, max_bytes: int) -> RunOutcome:
        if self.size > MAX_FILE_COPY_BYTES:
            return self._run_rolled_back(text, deadline, capture_state, max_rows, max_bytes)
        guard = SqliteGuard()
        conn = sqlite_connect(guard)
        try:
            try:
                with conn.backup("main", source, "main") as copy:
                    while not copy.step(BACKUP_STEP_PAGES):
                        if time.monotonic() > deadline:
                            raise ExecFailure(ErrorKind.TIMEOUT, "query exceeded the time limit")
            except apsw.Error as e:
                raise ExecFailure(*classify_sqlite_error(e)) from None
            return run_private(conn, guard, text, deadline, capture_state, max_rows, max_bytes)
        finally:
            conn.close()

    def _run_rolled_back(self, text: str, deadline: float, capture_state: bool | None, max_rows: int,
                         max_bytes: int) -> RunOutcome:
        """A text that writes, on a file too large to copy: inside a transaction on a read-write
        connection that is always rolled back. The journal is kept in memory and dirty pages are
        never spilled, so the file itself is not written, even if the process dies mid-way; the
        text's own transaction statements are refused (a COMMIT would keep its changes). One
        writer per file at a time; a file in WAL mode (whose writes would go to a -wal file) is
        refused."""
        if _in_wal_mode(self.path):
            raise ExecFailure(ErrorKind.TOO_LARGE, (
                f"DML on a database file in WAL mode over {MAX_FILE_COPY_BYTES // 2**20} MB is not supported: "
                f"{os.path.basename(self.path)}"))
        with self._write_lock:
            guard = _RolledBackGuard()
            uri = "file:" + urllib.parse.quote(self.path) + "?mode=rw"
            try:
                conn = apsw.Connection(uri, flags=apsw.SQLITE_OPEN_READWRITE | apsw.SQLITE_OPEN_URI,
                                       statementcachesize=0)
            except apsw.Error as e:
                raise ExecFailure(ErrorKind.TOO_LARGE, f"DML on {os.path.basename(self.path)} needs a writable "
                                                       f"file to roll back on, and it is not: {e}") from None
            try:
                for pragma in ROLLED_BACK_PRAGMAS:  # before the guard, which refuses PRAGMA
                    conn.execute(pragma).fetchall()
                guard_connection(conn, guard)
                conn.authorizer = None
                conn.execute("BEGIN")
                conn.authorizer = guard.authorize
                try:
                    return run_private(conn, guard, text, deadline, capture_state, max_rows, max_bytes)
                finally:
                    conn.authorizer = None
                    if not conn.getautocommit():
                        conn.execute("ROLLBACK")
            except apsw.Error as e:
                raise ExecFailure(*classify_sqlite_error(e)) from None
            finally:
                conn.close()

    def close(self) -> None:
        """Close the idle connections; those running a query close when it ends (idempotent)."""
        self.closed = True
        IDLE_READERS.discard(self)


def _warn_if_wal_pending(path: str) -> None:
    """An immutable connection ignores a `-wal` file: say so when one holds writes."""
    try:
        with open(path, "rb") as f:
            header = f.read(20)
        wal_bytes = os.path.getsize(path + "-wal") if os.path.exists(path + "-wal") else 0
    except OSError:
        return
    if len(header) == 20 and header[18] == _WAL_MODE and wal_bytes:
        log.warning("%s is in WAL mode and %s-wal holds %d bytes that read-only use ignores; checkpoint it "
                    "(sqlite3 %s 'PRAGMA wal_checkpoint(TRUNCATE)') to see them", path, path, wal_bytes, path)
