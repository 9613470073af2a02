"""Tests for the executor on database files (Spider, BIRD): `sqlgrpo.sql.file_engine` behind
`sqlgrpo.sql.executor`, on real SQLite files written here with the standard `sqlite3` module.

A file context (`file_context(path)`) must give the guarantees of a text context: rows of a
SELECT, DML compared by the state it leaves, nothing leaking from one answer to the next, the
time limit, the caps, no ATTACH/PRAGMA; and on top of them: the file is never written, it is
opened once (not per query), and a bad file is an error naming it, never an exception.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from sqlgrpo.scoring.verdict import verdict, verdicts
from sqlgrpo.sql import ErrorKind, SQLExecutor, build_example_db, file_context
from sqlgrpo.sql import file_engine

SHORT_TIMEOUT_S = 0.5  # long enough for every honest query below, short enough to wait for
TIMEOUT_MARGIN_S = 1.5  # a limit "fires" when the run returns within timeout + this margin
N_ROWS = 300  # rows of `singer`: several pages, and a cartesian square above MAX_RESULT_ROWS
INFINITE_CTE = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r, concert"


def write_db(path: Path, rows: int = N_ROWS) -> Path:
    """A small Spider-like database file: two tables, an index, a view."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE singer (singer_id INTEGER PRIMARY KEY, name TEXT NOT NULL, country TEXT, age INT);"
        "CREATE TABLE concert (concert_id INTEGER PRIMARY KEY, singer_id INT REFERENCES singer, year INT);"
        "CREATE INDEX concert_year ON concert (year);"
        "CREATE VIEW french AS SELECT name, age FROM singer WHERE country = 'France';")
    conn.executemany("INSERT INTO singer VALUES (?, ?, ?, ?)",
                     [(i, f"singer {i}", ("France", "Japan", "Peru")[i % 3], 20 + i % 40) for i in range(rows)])
    conn.executemany("INSERT INTO concert VALUES (?, ?, ?)", [(i, i % rows, 2000 + i % 20) for i in range(rows)])
    conn.commit()
    conn.close()
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def db_file(tmp_path) -> Path:
    return write_db(tmp_path / "database" / "concert_singer" / "concert_singer.sqlite")


@pytest.fixture
def ctx(db_file) -> str:
    return file_context(db_file)


def elapsed(fn, *args, **kwargs):
    start = time.monotonic()
    result = fn(*args, **kwargs)
    return result, time.monotonic() - start


# --------------------------------------------------------------------------------------------
# Reading

def test_select_on_a_file_gives_its_rows(ctx):
    r = SQLExecutor().run("SELECT country, count(*) FROM singer GROUP BY country ORDER BY country", ctx)
    # 300 singers, one country in three each: the rows come from the file itself.
    assert (r.ok, r.columns, r.rows) == (True, ("country", "count(*)"), (("France", 100), ("Japan", 100),
                                                                         ("Peru", 100))), r.error
    assert r.statement_kinds == ("select",) and r.state is None


def test_schema_of_a_file_lists_tables_and_views_with_columns(ctx):
    db = SQLExecutor().database(ctx)
    assert db.ok, db.error
    # As for a context: tables and views by name, columns in order (the index is not a table).
    assert db.schema == {"concert": ["concert_id", "singer_id", "year"], "french": ["name", "age"],
                         "singer": ["singer_id", "name", "country", "age"]}


def test_a_path_with_uri_characters_opens_the_right_file(tmp_path):
    # The file is opened through a URI: '?', '#', '%' and spaces in its path must be quoted, or
    # SQLite would open another file (or none).
    path = write_db(tmp_path / "odd dir %20 #1" / "db?x=1.sqlite", rows=7)
    r = SQLExecutor().run("SELECT count(*) FROM singer", file_context(path))
    assert (r.ok, r.rows) == (True, ((7,),)), r.error


def test_reads_never_copy_the_file_even_when_repeated(ctx, monkeypatch):
    copies = []
    real_connect = file_engine.sqlite_connect
    monkeypatch.setattr(file_engine, "sqlite_connect", lambda *a: copies.append(a) or real_connect(*a))
    ex = SQLExecutor()
    # The same texts again and again on a pooled connection: a statement served from a cache
    # would not pass the authorizer that tells reads from writes, and would be copied.
    for _ in range(3):
        for sql in ("SELECT count(*) FROM singer", "SELECT name, age FROM french ORDER BY age LIMIT 2",
                    "WITH c AS (SELECT year FROM concert) SELECT max(year) FROM c", "VALUES (1)"):
            assert ex.run(sql, ctx).ok
    assert copies == []
    assert ex.run("DELETE FROM singer", ctx).ok and len(copies) == 1  # a write does copy


def test_the_open_connection_is_reused_not_reopened_per_query(ctx, monkeypatch):
    opened = []
    real_open = file_engine.open_file_connection
    monkeypatch.setattr(file_engine, "open_file_connection", lambda *a: opened.append(a) or real_open(*a))
    ex = SQLExecutor()
    for i in range(30):
        assert ex.run(f"SELECT name FROM singer WHERE singer_id = {i}", ctx).rows == ((f"singer {i}",),)
    assert ex.run("UPDATE singer SET age = 0", ctx).ok  # a write copies from the same connection
    # One connection, opened (and checked) when the file was first used; 31 queries reused it.
    assert len(opened) == 1
    assert ex.database(ctx) is ex.database(ctx)


# --------------------------------------------------------------------------------------------
# Writing: never the file, always a private copy

WRITES = [
    "UPDATE singer SET age = age + 1",
    "DELETE FROM concert",
    "INSERT INTO singer VALUES (1000, 'new', 'Chile', 30)",
    "DROP TABLE concert",
    "CREATE TABLE extra (x INT); INSERT INTO extra VALUES (1)",
    "ALTER TABLE singer ADD COLUMN genre TEXT",
    "CREATE INDEX singer_age ON singer (age)",
    "BEGIN; DELETE FROM singer; COMMIT",
    "BEGIN; DELETE FROM singer",
    "CREATE TEMP TABLE singer (x INT)",
    "ANALYZE",
    "REINDEX",
]


def test_the_file_is_byte_for_byte_unchanged_after_writes(db_file, ctx):
    before, listing = sha256(db_file), sorted(os.listdir(db_file.parent))
    ex = SQLExecutor()
    results = {sql: ex.run(sql, ctx) for sql in WRITES}
    assert {sql: r.error for sql, r in results.items() if not r.ok} == {}  # each ran, on its copy
    # Same bytes, and no journal, -wal or -shm file beside it.
    assert sha256(db_file) == before
    assert sorted(os.listdir(db_file.parent)) == listing


@pytest.mark.parametrize("sql", WRITES)
def test_a_write_never_reaches_the_next_answer(ctx, sql):
    ex = SQLExecutor()
    pristine = ex.run("SELECT * FROM singer ORDER BY singer_id", ctx)
    assert ex.run(sql, ctx).ok
    # The next answer reads the file as it was: the same columns (no added one), the same rows,
    # no temp table standing in for `singer`, no open transaction.
    after = ex.run("SELECT * FROM singer ORDER BY singer_id", ctx)
    assert (after.ok, after.columns, after.rows) == (True, pristine.columns, pristine.rows), after.error
    assert ex.run("SELECT count(*) FROM concert", ctx).rows == ((N_ROWS,),)


def test_a_temp_table_of_one_answer_is_gone_for_the_next(ctx):
    ex = SQLExecutor()
    assert ex.run("CREATE TEMP TABLE scratch AS SELECT 1 AS x", ctx).ok
    r = ex.run("SELECT * FROM scratch", ctx)
    assert (r.ok, r.error_kind) == (False, ErrorKind.MISSING_TABLE)


def test_a_write_and_its_reads_run_together_on_the_copy(ctx):
    # The DELETE is seen before it runs; the whole text then runs on one copy, so the count after
    # it is that of the copy (0), and the count before it is the file's.
    r = SQLExecutor().run("SELECT count(*) FROM concert; DELETE FROM concert; SELECT count(*) FROM concert", ctx)
    assert (r.ok, r.rows, r.statement_kinds) == (True, ((0,),), ("select", "delete", "select")), r.error
    assert r.rows_changed == N_ROWS


def test_dml_state_on_a_file_is_the_state_of_the_same_database_as_a_context(tmp_path, db_file, ctx):
    # The same database written as CREATE + INSERT text: the same UPDATE must leave the same state,
    # so that matching compares file and context DML alike.
    rows = sqlite3.connect(db_file).execute("SELECT * FROM singer").fetchall()
    concerts = sqlite3.connect(db_file).execute("SELECT * FROM concert").fetchall()
    text_ctx = ("CREATE TABLE singer (singer_id INTEGER PRIMARY KEY, name TEXT NOT NULL, country TEXT, age INT);"
                "CREATE TABLE concert (concert_id INTEGER PRIMARY KEY, singer_id INT REFERENCES singer, year INT);"
                f"INSERT INTO singer VALUES {', '.join(repr(r) for r in rows)};"
                f"INSERT INTO concert VALUES {', '.join(repr(r) for r in concerts)};")
    sql = "UPDATE singer SET age = 99 WHERE country = 'Peru'"
    on_file, on_text = SQLExecutor().run(sql, ctx), SQLExecutor().run(sql, text_ctx)
    assert on_file.ok and on_text.ok, (on_file.error, on_text.error)
    assert on_file.state == on_text.state and on_file.rows_changed == on_text.rows_changed == 100


def test_verdict_of_an_equivalent_update_on_a_file_is_correct(ctx):
    gold = "UPDATE singer SET country = 'FR' WHERE country = 'France'"
    # Another text, the same state: correct by state, as for a context.
    v = verdict("UPDATE singer SET country = 'FR' WHERE singer_id % 3 = 0", gold, ctx)
    assert (v.kind, v.score) == ("correct", 1.0), v.error


def test_verdict_of_a_different_update_on_a_file_is_wrong_result(ctx):
    gold = "UPDATE singer SET country = 'FR' WHERE country = 'France'"
    # One singer fewer changed: another state.
    v = verdict("UPDATE singer SET country = 'FR' WHERE country = 'France' AND singer_id > 0", gold, ctx)
    assert (v.kind, v.score) == ("wrong_result", 0.1), v.error


def test_a_write_on_a_file_over_the_copy_limit_runs_in_a_rolled_back_transaction(db_file, ctx, monkeypatch):
    # The limit is looked up at run time: a small one makes this 40 KB file "large", so the write
    # runs inside a transaction on the file that is always rolled back, never on a copy.
    monkeypatch.setattr(file_engine, "MAX_FILE_COPY_BYTES", 1_000)
    before, listing = sha256(db_file), sorted(os.listdir(db_file.parent))
    ex = SQLExecutor()
    r = ex.run("DELETE FROM singer", ctx)
    assert r.ok, r.error
    assert {t.name: len(t.rows) for t in r.state}["singer"] == 0  # the state after the DELETE
    # Nothing stays: the next answer sees every row, and the file is byte for byte the same,
    # with no journal or -wal file beside it.
    assert ex.run("SELECT count(*) FROM singer", ctx).rows == ((N_ROWS,),)
    assert sha256(db_file) == before and sorted(os.listdir(db_file.parent)) == listing


def test_a_rolled_back_write_matches_the_same_write_on_a_copy(ctx, monkeypatch):
    # The two paths of a write give one state: the verdict compares them alike.
    gold = "UPDATE singer SET country = 'FR' WHERE country = 'France'"
    on_copy = SQLExecutor().run(gold, ctx)
    monkeypatch.setattr(file_engine, "MAX_FILE_COPY_BYTES", 1_000)
    rolled_back = SQLExecutor().run(gold, ctx)
    assert on_copy.ok and rolled_back.ok and on_copy.state == rolled_back.state


@pytest.mark.parametrize("sql", ["DELETE FROM singer; COMMIT", "BEGIN; DELETE FROM singer; COMMIT",
                                 "SAVEPOINT s; DELETE FROM singer; RELEASE s", "DELETE FROM singer; END"])
def test_a_text_cannot_commit_its_write_on_a_large_file(db_file, ctx, monkeypatch, sql):
    # Inside the rolled-back transaction a COMMIT would keep the write: transaction statements
    # are refused there, and the file keeps every row.
    monkeypatch.setattr(file_engine, "MAX_FILE_COPY_BYTES", 1_000)
    before = sha256(db_file)
    ex = SQLExecutor()
    r = ex.run(sql, ctx)
    assert (r.ok, r.error_kind) == (False, ErrorKind.FORBIDDEN), r.error
    assert ex.run("SELECT count(*) FROM singer", ctx).rows == ((N_ROWS,),)
    assert sha256(db_file) == before


def test_the_time_limit_stops_a_rolled_back_write(db_file, ctx, monkeypatch):
    # A write that never ends is interrupted and rolled back; the file is untouched.
    monkeypatch.setattr(file_engine, "MAX_FILE_COPY_BYTES", 1_000)
    before = sha256(db_file)
    r = SQLExecutor().run("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
                          "UPDATE singer SET age = (SELECT max(x) FROM c)", ctx, timeout_s=0.3)
    assert (r.ok, r.error_kind) == (False, ErrorKind.TIMEOUT)
    assert sha256(db_file) == before


# --------------------------------------------------------------------------------------------
# Guards

@pytest.mark.parametrize("sql", [
    "ATTACH DATABASE '{dir}/other.sqlite' AS other",
    "PRAGMA table_info(singer)",
    "PRAGMA writable_schema = ON",
    "SELECT * FROM pragma_table_info('singer')",
    "VACUUM INTO '{dir}/copy.sqlite'",
    "SELECT load_extension('x')",
])
def test_attach_pragma_vacuum_and_extensions_are_refused_on_a_file(db_file, ctx, sql):
    listing = sorted(os.listdir(db_file.parent))
    r = SQLExecutor().run(sql.format(dir=db_file.parent), ctx)
    # Refused before running, on the file's connection (the authorizer), not copied and run.
    assert (r.ok, r.error_kind) == (False, ErrorKind.FORBIDDEN), r
    assert sorted(os.listdir(db_file.parent)) == listing  # no file created


def test_time_limit_fires_on_a_slow_query_over_a_file(ctx):
    r, took = elapsed(SQLExecutor().run, INFINITE_CTE, ctx, timeout_s=SHORT_TIMEOUT_S)
    assert (r.ok, r.error_kind, r.timed_out) == (False, ErrorKind.TIMEOUT, True)
    assert took < SHORT_TIMEOUT_S + TIMEOUT_MARGIN_S


def test_time_limit_fires_on_a_slow_write_over_a_file(ctx):
    sql = "UPDATE singer SET age = (" + INFINITE_CTE.replace("SELECT count(*) FROM r, concert",
                                                             "SELECT count(*) FROM r") + ")"
    r, took = elapsed(SQLExecutor().run, sql, ctx, timeout_s=SHORT_TIMEOUT_S)
    assert (r.ok, r.error_kind) == (False, ErrorKind.TIMEOUT)
    assert took < SHORT_TIMEOUT_S + TIMEOUT_MARGIN_S


def test_a_timeout_leaves_nothing_on_the_pooled_connection(ctx):
    ex = SQLExecutor()
    assert ex.run(INFINITE_CTE, ctx, timeout_s=0.2).error_kind == ErrorKind.TIMEOUT
    # The same connection serves the next answers: its deadline and timeout flag were reset, so
    # a syntax error is a syntax error (not a timeout) and a quick query runs to its end.
    assert ex.run("SELEC 1", ctx).error_kind == ErrorKind.SYNTAX
    assert ex.run("SELECT count(*) FROM singer", ctx, timeout_s=5.0).rows == ((N_ROWS,),)


def test_result_row_cap_applies_on_a_file(ctx):
    r = SQLExecutor().run("SELECT a.singer_id FROM singer a, singer b", ctx)  # 90,000 rows
    assert (r.ok, r.error_kind) == (False, ErrorKind.TOO_LARGE)
    assert "rows" in r.error


def test_result_byte_cap_applies_on_a_file(ctx):
    # 300 rows of 100 KB: 30 MB, above the byte cap, far below the row cap.
    r = SQLExecutor().run("SELECT printf('%.100000c', 'x') FROM singer", ctx)
    assert (r.ok, r.error_kind) == (False, ErrorKind.TOO_LARGE)
    assert "bytes" in r.error


# --------------------------------------------------------------------------------------------
# Bad files: an error naming the file, never an exception

def _missing(tmp_path: Path) -> Path:
    return tmp_path / "database" / "nope" / "nope.sqlite"


def _not_sqlite(tmp_path: Path) -> Path:
    path = tmp_path / "notes.sqlite"
    path.write_text("CREATE TABLE t (x INT);")  # a SQL script saved as .sqlite: no header
    return path


def _header_then_garbage(tmp_path: Path) -> Path:
    path = tmp_path / "garbage.sqlite"
    path.write_bytes(b"SQLite format 3\x00" + b"\x01" * 8_000)
    return path


def _truncated(tmp_path: Path) -> Path:
    path = write_db(tmp_path / "truncated.sqlite")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _broken_pages(tmp_path: Path) -> Path:
    path = write_db(tmp_path / "broken.sqlite", rows=2_000)
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    for start in range(3 * page, len(data), page):  # every page after the catalog, overwritten
        data[start:start + 64] = b"\xff" * 64
    path.write_bytes(bytes(data))
    return path


def _directory(tmp_path: Path) -> Path:
    path = tmp_path / "dir.sqlite"
    path.mkdir()
    return path


@pytest.mark.parametrize("make_bad, reason", [
    pytest.param(_missing, "not found", id="missing"),
    pytest.param(_not_sqlite, "not an SQLite database file", id="not-sqlite"),
    pytest.param(_header_then_garbage, "corrupt", id="header-then-garbage"),
    pytest.param(_truncated, "corrupt", id="truncated"),
    pytest.param(_broken_pages, "corrupt", id="broken-pages"),
    pytest.param(_directory, "not found", id="a-directory"),
])
def test_a_bad_file_gives_a_clean_error_naming_it(tmp_path, make_bad, reason):
    path = make_bad(tmp_path)
    db = build_example_db(file_context(path))
    # Not an exception, not an empty database that answers: ok=False, the file and the reason.
    assert db.ok is False and str(path) in db.error and reason in db.error, db.error
    r = SQLExecutor().run("SELECT count(*) FROM singer", file_context(path))
    assert (r.ok, r.error_kind) == (False, ErrorKind.CONTEXT) and str(path) in r.error


def test_corruption_found_by_a_query_names_the_file(tmp_path, monkeypatch):
    # A large file is not fully checked at open (quick_check reads every page): the query that
    # meets the broken page reports it as the file's fault, naming it.
    monkeypatch.setattr(file_engine, "QUICK_CHECK_MAX_BYTES", 0)
    path = _broken_pages(tmp_path)
    r = SQLExecutor().run("SELECT count(*), max(name) FROM singer", file_context(path))
    assert (r.ok, r.error_kind) == (False, ErrorKind.CONTEXT), r
    assert str(path) in r.error and "malformed" in r.error


def test_duckdb_backend_with_a_file_says_files_run_on_sqlite(ctx, db_file):
    db = build_example_db(ctx, "duckdb")
    assert db.ok is False and "SQLite" in db.error and str(db_file) in db.error
    assert SQLExecutor("duckdb").run("SELECT 1", ctx).error_kind == ErrorKind.CONTEXT


def test_a_file_changed_on_disk_is_read_again(tmp_path):
    path = write_db(tmp_path / "db.sqlite", rows=5)
    ex = SQLExecutor()
    assert ex.run("SELECT count(*) FROM singer", file_context(path)).rows == ((5,),)
    # Replaced in place by a bigger database: an immutable connection would read a torn file;
    # the change (size, mtime) is seen and the file opened again.
    path.unlink()
    write_db(path, rows=50)
    assert ex.run("SELECT count(*) FROM singer", file_context(path)).rows == ((50,),)


def test_a_file_removed_after_opening_gives_a_clean_error(tmp_path):
    path = write_db(tmp_path / "db.sqlite", rows=5)
    ex = SQLExecutor()
    assert ex.run("SELECT 1", file_context(path)).ok
    path.unlink()
    r = ex.run("SELECT count(*) FROM singer", file_context(path))
    assert (r.ok, r.error_kind) == (False, ErrorKind.CONTEXT) and str(path) in r.error


# --------------------------------------------------------------------------------------------
# Threads

def test_many_verdicts_on_one_file_at_once_are_right(ctx):
    # verdicts spreads distinct answers over the cores: reads and writes on the same file run in
    # parallel threads, each on its own connection or copy; every kind must be the expected one.
    items, expected = [], []
    for k in range(60):
        gold = f"SELECT count(*) FROM singer WHERE age < {20 + k % 40}"
        items += [(f"SELECT count(name) FROM singer WHERE {20 + k % 40} > age AND {k} = {k}", gold, ctx, "sqlite"),
                  (f"SELECT count(*) FROM singer WHERE age <= {20 + k % 40} AND {k} = {k}", gold, ctx, "sqlite")]
        expected += ["correct", "wrong_result"]
        dml = f"UPDATE singer SET name = 'x' WHERE singer_id = {k}"
        items += [(f"UPDATE singer SET name = 'x' WHERE singer_id IN ({k})", dml, ctx, "sqlite"),
                  (f"UPDATE singer SET name = 'x' WHERE singer_id IN ({k}, {k + 1})", dml, ctx, "sqlite")]
        expected += ["correct", "wrong_result"]
    assert [v.kind for v in verdicts(items)] == expected


def test_concurrent_reads_and_writes_on_one_file_see_the_file(ctx):
    # 8 threads x 20 runs on one file, half of them DELETEs: every SELECT counts the file's rows,
    # every DELETE deletes them all on its own copy.
    ex = SQLExecutor()
    ex.database(ctx)
    outcomes: Counter = Counter()
    start = threading.Barrier(8)

    def worker(i: int) -> None:
        start.wait()
        for j in range(20):
            sql = "DELETE FROM singer" if (i + j) % 2 else "SELECT count(*) FROM singer"
            r = ex.run(sql, ctx)
            outcomes[(sql.split()[0], r.rows, r.rows_changed) if r.ok else r.error] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert outcomes == Counter({("SELECT", ((N_ROWS,),), 0): 80, ("DELETE", (), N_ROWS): 80})


def test_a_slow_query_in_one_thread_does_not_stop_another(ctx):
    # Each running query has its own connection and deadline: a query that times out in one
    # thread neither interrupts nor delays a quick one running at the same time.
    ex = SQLExecutor()
    ex.database(ctx)
    slow = threading.Thread(target=ex.run, args=(INFINITE_CTE, ctx), kwargs={"timeout_s": 1.0})
    slow.start()
    time.sleep(0.1)
    r, took = elapsed(ex.run, "SELECT count(*) FROM concert", ctx)
    slow.join()
    assert (r.ok, r.rows) == (True, ((N_ROWS,),)) and took < 0.5


def test_idle_connections_over_all_files_are_capped(tmp_path, monkeypatch):
    # Each idle connection holds a file descriptor: over many files (Spider has ~200 databases)
    # only the most recently used stay open, and a file whose connection was closed opens again.
    monkeypatch.setattr(file_engine.IDLE_READERS, "limit", 2)
    ex = SQLExecutor()
    contexts = [file_context(write_db(tmp_path / f"db{k}.sqlite", rows=k + 1)) for k in range(5)]
    for k, c in enumerate(contexts):
        assert ex.run("SELECT count(*) FROM singer", c).rows == ((k + 1,),)
    assert len(file_engine.IDLE_READERS) == 2
    assert ex.run("SELECT count(*) FROM singer", contexts[0]).rows == ((1,),)
