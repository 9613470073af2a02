"""Tests for sqlgrpo.sql, the one SQL executor, on real SQLite (apsw) and real DuckDB.

Model-written SQL is hostile: every test here either checks a result the pipeline relies on
(columns, rows, error kinds, the state after DML) or a guard (isolation, time, size, files).
Timeouts are short (0.5 s) so that the tests that wait for a time limit to fire stay quick.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
import sqlglot

from sqlgrpo.sql import (
    AS_WRITTEN,
    BACKENDS,
    MAX_SQL_CHARS,
    ErrorKind,
    ExampleDatabase,
    ExecResult,
    SQLExecutor,
    build_example_db,
    execute,
    split_statements,
)

SHORT_TIMEOUT_S = 0.5  # long enough for every honest query below, short enough to wait for
TIMEOUT_MARGIN_S = 1.5  # a limit "fires" when the run returns within timeout + this margin
FAST_FAIL_S = 1.0  # single calls that a length limit must stop at once, far below any timeout

# A small context valid as written on both engines: a keyed table with rows, an empty table and
# a 10-row table for cartesian products.
CTX = (
    "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL, v INT);"
    "INSERT INTO t VALUES (1, 'a', 10), (2, 'b', 20), (3, 'c', 30);"
    "CREATE TABLE u (k INT);"
    "CREATE TABLE d (x INT);"
    "INSERT INTO d VALUES " + ", ".join(f"({i})" for i in range(10)) + ";"
)
PRISTINE_T = ((1, "a", 10), (2, "b", 20), (3, "c", 30))
CARTESIAN_5 = "SELECT a.x FROM d a, d b, d c, d e, d f"  # 10^5 rows, above MAX_RESULT_ROWS
INFINITE_CTE = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r"

ALL_KINDS = {ErrorKind.SYNTAX, ErrorKind.MISSING_TABLE, ErrorKind.MISSING_COLUMN, ErrorKind.RUNTIME,
             ErrorKind.TIMEOUT, ErrorKind.TOO_LARGE, ErrorKind.FORBIDDEN, ErrorKind.EMPTY,
             ErrorKind.CONTEXT}


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def db(backend) -> ExampleDatabase:
    """A fresh pristine database of CTX (fresh, so a broken isolation shows in one test only)."""
    database = build_example_db(CTX, backend)
    assert database.ok, database.error
    yield database
    database.close()


def sorted_state(result: ExecResult) -> dict[str, tuple]:
    """The state as {table: sorted rows}, for comparing outcomes regardless of storage order."""
    assert result.state is not None
    return {s.name: tuple(sorted(s.rows)) for s in result.state}


def elapsed(fn, *args, **kwargs):
    start = time.monotonic()
    out = fn(*args, **kwargs)
    return out, time.monotonic() - start


# --------------------------------------------------------------------------------------------
# Results

def test_select_returns_columns_and_rows(db):
    # Passes when the executor hands back the engine's column names and rows as tuples.
    r = db.run("SELECT id, name FROM t ORDER BY id")
    assert (r.ok, r.columns, r.rows) == (True, ("id", "name"), ((1, "a"), (2, "b"), (3, "c")))


def test_several_statements_return_the_last_result_set(db):
    # The first SELECT has a different column and rows; only the last one may be reported.
    r = db.run("SELECT 1 AS first; SELECT name FROM t WHERE id = 2")
    assert (r.ok, r.columns, r.rows) == (True, ("name",), (("b",),))


def test_last_result_set_follows_dml_in_the_same_text(db):
    # The SELECT sees the DELETE before it (same private copy), and its rows are the result.
    r = db.run("DELETE FROM t WHERE id = 1; SELECT count(*) AS n FROM t")
    assert (r.ok, r.columns, r.rows) == (True, ("n",), ((2,),))


def test_empty_result_keeps_its_columns(db):
    # No row matches; the columns must still be those of the SELECT, not ().
    r = db.run("SELECT id, v FROM t WHERE id > 99")
    assert (r.ok, r.columns, r.rows) == (True, ("id", "v"), ())


def test_empty_last_result_keeps_its_columns_after_a_nonempty_one(db):
    # The earlier SELECT returned rows; the last returned none: the result is the last one's.
    r = db.run("SELECT name FROM t; SELECT id, v FROM t WHERE id > 99")
    assert (r.ok, r.columns, r.rows) == (True, ("id", "v"), ())


# --------------------------------------------------------------------------------------------
# Error kinds

@pytest.mark.parametrize(("sql", "kind"), [
    pytest.param("SELEC 1", ErrorKind.SYNTAX, id="misspelled-keyword"),
    pytest.param("SELECT * FROM nope", ErrorKind.MISSING_TABLE, id="missing-table"),
    pytest.param("SELECT nope FROM t", ErrorKind.MISSING_COLUMN, id="missing-column"),
    pytest.param("INSERT INTO t VALUES (1, 'dup', 0)", ErrorKind.RUNTIME, id="primary-key-violation"),
    pytest.param("INSERT INTO t (id) VALUES (9)", ErrorKind.RUNTIME, id="not-null-violation"),
    pytest.param("", ErrorKind.EMPTY, id="blank"),
    pytest.param("   \n\t ", ErrorKind.EMPTY, id="whitespace"),
    pytest.param("-- just a comment\n/* and another */", ErrorKind.EMPTY, id="comments-only"),
    pytest.param(";; ;", ErrorKind.EMPTY, id="separators-only"),
    pytest.param(CARTESIAN_5, ErrorKind.TOO_LARGE, id="cartesian-10^5-rows"),
    pytest.param("SELECT 1" + " " * MAX_SQL_CHARS, ErrorKind.TOO_LARGE, id="oversized-text"),
    pytest.param("ATTACH ':memory:' AS m", ErrorKind.FORBIDDEN, id="attach"),
    pytest.param("PRAGMA table_info('t')", ErrorKind.FORBIDDEN, id="pragma"),
])
def test_error_kind(db, sql, kind):
    # Each text fails for exactly one reason, which the kind must name.
    r = db.run(sql)
    assert (r.ok, r.error_kind) == (False, kind), r.error
    assert r.error  # a message for the logs, whatever the kind


def test_row_cap_is_a_parameter(db):
    # t has 3 rows; with max_rows=2 the same honest query is too large.
    r = db.run("SELECT * FROM t", max_rows=2)
    assert (r.ok, r.error_kind) == (False, ErrorKind.TOO_LARGE)


REPEAT_X_1000 = {"sqlite": "printf('%.1000c', 'x')", "duckdb": "repeat('x', 1000)"}


def test_byte_cap_is_a_parameter(db):
    # 3 rows of 1,000-character strings exceed a 2,000-byte cap.
    r = db.run(f"SELECT {REPEAT_X_1000[db.backend]} FROM t", max_bytes=2_000)
    assert (r.ok, r.error_kind) == (False, ErrorKind.TOO_LARGE)


BROKEN_CTX = "CREATE TABLE t (id INT); INSERT INTO t VALUES (1); INSERT INTO nope VALUES (2);"


def test_broken_context_names_the_failing_statement(backend):
    # Statement 3 inserts into a table that does not exist; the error must say so.
    broken = build_example_db(BROKEN_CTX, backend)
    assert not broken.ok
    assert "statement 3" in broken.error and "nope" in broken.error, broken.error


@pytest.mark.parametrize("sql", ["SELECT 1", "SELECT * FROM t", "SELEC 1", ""])
def test_every_query_on_a_broken_context_is_a_context_error(backend, sql):
    # Even a query that needs no table (or is blank) cannot be judged without the database.
    r = build_example_db(BROKEN_CTX, backend).run(sql)
    assert (r.ok, r.error_kind) == (False, ErrorKind.CONTEXT)
    assert "statement 3" in r.error


def test_executor_returns_context_error_for_a_broken_context(backend):
    # The same through the cached executor: the cached failure is reported, not re-raised.
    r = SQLExecutor(backend).run("SELECT 1", BROKEN_CTX)
    assert (r.ok, r.error_kind) == (False, ErrorKind.CONTEXT)


def test_context_build_is_time_limited(backend):
    # A context that never finishes (infinite recursive CTE) fails on the build's own limit.
    ctx = "CREATE TABLE t AS WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT n FROM r;"
    broken, took = elapsed(build_example_db, ctx, backend, timeout_s=SHORT_TIMEOUT_S)
    assert not broken.ok and "timeout" in broken.error, broken.error
    assert took < SHORT_TIMEOUT_S + TIMEOUT_MARGIN_S


def test_unknown_backend_is_refused_by_name():
    # A config typo must name the bad value and the valid ones, not fall back silently.
    with pytest.raises(ValueError, match="postgresql.*sqlite.*duckdb"):
        build_example_db(CTX, "postgresql")


# --------------------------------------------------------------------------------------------
# Never raises

HOSTILE_INPUTS = [
    pytest.param("SELECT 'a\x00b'", id="nul-byte"),
    pytest.param("SELECT '\ud800'", id="lone-surrogate"),
    pytest.param("SELECT 1 " + "x " * 500_000, id="1MB-text"),
    pytest.param(None, id="none"),
    pytest.param(42, id="int"),
    pytest.param(b"\x89PNG\r\n\x1a\n\xff\xd8", id="bytes"),
    pytest.param(b"\x89PNG\r\n\x1a\n\xff\xd8".decode("utf-8", "surrogateescape"), id="binary-as-str"),
    pytest.param(bytes(range(1, 256)).decode("latin-1"), id="all-byte-values"),
    pytest.param("SELECT 'unterminated", id="unterminated-string"),
    pytest.param('SELECT "unterminated', id="unterminated-identifier"),
    pytest.param("SELECT `unterminated", id="unterminated-backtick"),
    pytest.param("SELECT /* unterminated", id="unterminated-comment"),  # SQLite ends a trailing comment
    pytest.param("SELECT " + "(" * 300, id="unbalanced-parens"),  # see the DuckDB parser test below
]


@pytest.mark.parametrize("sql", HOSTILE_INPUTS)
def test_hostile_query_text_gives_an_error_result(db, sql):
    # `run` never raises: any text that is not valid SQL comes back as a classified failure.
    r = db.run(sql)
    assert isinstance(r, ExecResult)
    assert r.ok is False and r.error_kind in ALL_KINDS, (r.error_kind, r.error)


@pytest.mark.parametrize("ctx", HOSTILE_INPUTS)
def test_hostile_context_gives_a_failed_database(backend, ctx):
    # build_example_db never raises either; the database is not ok and queries say "context".
    broken = build_example_db(ctx, backend)
    assert broken.ok is False and broken.error
    assert broken.run("SELECT 1").error_kind == ErrorKind.CONTEXT


# --------------------------------------------------------------------------------------------
# Dialect fallback

@pytest.mark.parametrize(("backend", "sql", "rows"), [
    # MySQL's DATE_FORMAT exists on neither engine; sqlglot rewrites it to strftime.
    ("sqlite", "SELECT DATE_FORMAT('2020-01-02', '%Y')", (("2020",),)),
    ("duckdb", "SELECT DATE_FORMAT('2020-01-02', '%Y')", (("2020",),)),
    # MySQL's CURDATE() exists on neither engine; it becomes CURRENT_DATE.
    ("sqlite", "SELECT CURDATE() IS NOT NULL", ((1,),)),
    ("duckdb", "SELECT CURDATE() IS NOT NULL", ((True,),)),
    # PostgreSQL's :: cast is unknown to SQLite; sqlglot writes CAST(... AS TEXT).
    ("sqlite", "SELECT name::TEXT FROM t ORDER BY id", (("a",), ("b",), ("c",))),
    # MySQL's CONVERT(v, CHAR) is a different function on DuckDB; it becomes a CAST.
    ("duckdb", "SELECT CONVERT(v, CHAR) FROM t ORDER BY id", (("10",), ("20",), ("30",))),
])
def test_foreign_dialect_runs_after_transpiling(backend, sql, rows):
    # Fails as written on the engine, so it may only run in a rewritten form, which is recorded.
    r = build_example_db(CTX, backend).run(sql)
    assert (r.ok, r.rows) == (True, rows), r.error
    assert r.dialect in ("mysql", "postgres")
    assert r.executed_sql != sql  # the text that actually ran is the rewritten one


@pytest.mark.parametrize(("backend", "sql", "unparsable_as", "rows"), [
    # SQLite takes any words as a type name; sqlglot cannot parse them in any dialect.
    ("sqlite", "SELECT CAST(id AS FOO BAR BAZ) FROM t ORDER BY id", ("sqlite", "postgres", "mysql"),
     ((1,), (2,), (3,))),
    ("sqlite", "SELECT CAST(v AS VARYING CHARACTER(10)) FROM t ORDER BY id", ("sqlite", "postgres", "mysql"),
     (("10",), ("20",), ("30",))),  # a CHAR type name: text affinity
    # DuckDB's integer division: sqlglot reads it as DuckDB, but not as either fallback flavour
    # (no DuckDB construct found that sqlglot's DuckDB reader rejects).
    ("duckdb", "SELECT 7 // 2", ("postgres", "mysql"), ((3,),)),
])
def test_sql_that_runs_as_written_is_not_gated_by_sqlglot(backend, sql, unparsable_as, rows):
    for dialect in unparsable_as:  # precondition: sqlglot really cannot parse it
        with pytest.raises(Exception):  # noqa: B017 - any sqlglot failure will do: it is the precondition
            sqlglot.parse_one(sql, read=dialect)
    # Passes when the engine's own answer wins: as written, untouched by the transpiler.
    r = build_example_db(CTX, backend).run(sql)
    assert (r.ok, r.rows, r.dialect, r.executed_sql) == (True, rows, AS_WRITTEN, sql), r.error


def test_sqlite_context_sqlglot_cannot_parse_builds_as_written():
    ctx = "CREATE TABLE s (a ANY) STRICT; INSERT INTO s VALUES (1);"
    with pytest.raises(Exception):  # noqa: B017 - precondition: STRICT tables are beyond sqlglot
        sqlglot.parse_one("CREATE TABLE s (a ANY) STRICT", read="sqlite")
    built = build_example_db(ctx, "sqlite")
    # SQLite runs it; sqlglot never gets a say.
    assert (built.ok, built.dialect, built.statement_dialects) == (True, AS_WRITTEN, (AS_WRITTEN, AS_WRITTEN))


def test_context_with_mysql_table_options_builds_transpiled(backend):
    # ENGINE=/CHARSET= table options are MySQL-only; neither engine takes them as written.
    ctx = ("CREATE TABLE a (id INT PRIMARY KEY, d DATETIME, name VARCHAR(10)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;"
           "INSERT INTO a VALUES (1, '2020-01-01 00:00:00', 'x');")
    built = build_example_db(ctx, backend)
    assert built.ok, built.error
    assert built.statement_dialects[0] in ("mysql", "postgres") and built.dialect == built.statement_dialects[0]
    assert built.run("SELECT id, name FROM a").rows == ((1, "x"),)


ENUM_CTX = "CREATE TABLE e (id INT, kind ENUM('a', 'b')); INSERT INTO e VALUES (1, 'a'), (2, 'b');"
SERIAL_CTX = "CREATE TABLE s (id SERIAL PRIMARY KEY, name VARCHAR(10)); INSERT INTO s (name) VALUES ('x'), ('y');"


@pytest.mark.parametrize("backend", [
    "sqlite",
    "duckdb",  # DuckDB has a native ENUM type: builds as written
])
def test_context_with_enum_column_builds(backend):
    built = build_example_db(ENUM_CTX, backend)
    assert built.ok, built.error
    assert built.run("SELECT id, kind FROM e ORDER BY id").rows == ((1, "a"), (2, "b"))


@pytest.mark.parametrize("backend", [
    "sqlite",  # SQLite takes SERIAL as a type name: builds as written
    "duckdb",
])
def test_context_with_serial_column_builds(backend):
    built = build_example_db(SERIAL_CTX, backend)
    assert built.ok, built.error
    assert built.run("SELECT name FROM s ORDER BY name").rows == (("x",), ("y",))


def test_runtime_failure_is_not_answered_by_a_reinterpretation():
    # The text is valid SQLite; it fails only because '{a' is not JSON. Its honest result is
    # an error: a "successful" run would compare as a real answer in rewards and metrics.
    r = build_example_db(CTX, "sqlite").run("SELECT json('{' || name) FROM t")
    assert (r.ok, r.error_kind) == (False, ErrorKind.RUNTIME), (r.dialect, r.executed_sql, r.rows)


# --------------------------------------------------------------------------------------------
# Isolation

DML_THEN_CHECK = [
    pytest.param("DELETE FROM t", id="delete"),
    pytest.param("UPDATE t SET v = 0, name = 'z'", id="update"),
    pytest.param("INSERT INTO t VALUES (4, 'd', 40)", id="insert"),
    pytest.param("DROP TABLE t", id="drop-table"),
    pytest.param("ALTER TABLE t ADD COLUMN w INT", id="alter-table"),
    pytest.param("CREATE TEMP TABLE t (id INT); INSERT INTO t VALUES (7)", id="temp-table-shadow"),
    pytest.param("CREATE VIEW vt AS SELECT 1 AS x; DROP TABLE d", id="create-view-drop-other"),
]


@pytest.mark.parametrize("sql", DML_THEN_CHECK)
def test_changes_never_reach_the_next_run(db, sql):
    first = db.run(sql)
    assert first.ok, first.error  # the change really happened on the private copy
    # Passes when the next run sees the pristine table: same columns, same rows.
    r = db.run("SELECT * FROM t ORDER BY id")
    assert (r.columns, r.rows) == (("id", "name", "v"), PRISTINE_T)


@pytest.mark.parametrize("sql", [
    pytest.param("BEGIN; DELETE FROM t", id="open-transaction"),
    pytest.param("BEGIN; DELETE FROM t; COMMIT", id="committed-transaction"),
    pytest.param("SAVEPOINT s; DELETE FROM t; RELEASE s", id="savepoint"),
])
def test_sqlite_transactions_never_reach_the_next_run(sql):
    db = build_example_db(CTX, "sqlite")
    first = db.run(sql + "; SELECT count(*) FROM t")
    assert (first.ok, first.rows) == (True, ((0,),)), first.error  # deleted on the copy
    # An open or committed transaction on the copy must leave the pristine database as it was.
    assert db.run("SELECT count(*) FROM t").rows == ((3,),)


def test_temp_table_shadow_is_seen_within_its_own_run(db):
    # Precondition for the shadowing case above: the temp table really hid t in that run.
    r = db.run("CREATE TEMP TABLE t (id INT); SELECT count(*) FROM t")
    assert (r.ok, r.rows) == (True, ((0,),)), r.error


def test_executor_cached_database_stays_pristine(backend):
    ex = SQLExecutor(backend)
    assert ex.run("DELETE FROM t", CTX).ok
    # The second run goes to the same cached pristine database; it still has all rows.
    assert ex.run("SELECT count(*) FROM t", CTX).rows == ((3,),)


def test_concurrent_runs_see_the_pristine_database(backend):
    # 8 threads x 20 runs on one cached context, half DELETEs: each SELECT runs on its own
    # copy (SQLite) or transaction (DuckDB), so it always counts the pristine 3 rows.
    ex = SQLExecutor(backend)
    ex.database(CTX)
    counts: Counter = Counter()
    start = threading.Barrier(8)

    def worker(i: int) -> None:
        start.wait()
        for j in range(20):
            if (i + j) % 2:
                ex.run("DELETE FROM t", CTX)
            else:
                r = ex.run("SELECT count(*) FROM t", CTX)
                counts[r.rows if r.ok else r.error] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert counts == Counter({((3,),): 80})


@pytest.mark.parametrize("backend", [
    "sqlite",
    "duckdb",
])
def test_concurrent_dml_on_one_context_all_succeed(backend):
    # The same DELETE from 8 threads at once: each has its own copy, so each deletes 2 rows.
    ex = SQLExecutor(backend)
    ex.database(CTX)
    outcomes: Counter = Counter()
    start = threading.Barrier(8)

    def worker() -> None:
        start.wait()
        for _ in range(10):
            r = ex.run("DELETE FROM t WHERE id > 1", CTX)
            outcomes[(r.ok, r.rows_changed) if r.ok else r.error[:80]] += 1

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert outcomes == Counter({(True, 2): 80})


def test_duckdb_sequence_values_do_not_leak_between_runs():
    ctx = "CREATE SEQUENCE s; CREATE TABLE q (id INT DEFAULT nextval('s'), v INT); INSERT INTO q (v) VALUES (1);"
    db = build_example_db(ctx, "duckdb")
    assert db.ok, db.error
    sql = "INSERT INTO q (v) VALUES (2); SELECT max(id) FROM q"
    # Every run starts from the pristine database, so every run inserts id 2.
    assert [db.run(sql).rows for _ in range(3)] == [((2,),)] * 3


# --------------------------------------------------------------------------------------------
# DML outcome

def test_state_holds_every_table_after_dml(db):
    r = db.run("DELETE FROM t WHERE id = 1")
    # Every table of the schema is in the state; t lost its first row, the others are untouched.
    assert sorted_state(r) == {
        "t": PRISTINE_T[1:],
        "u": (),
        "d": tuple((i,) for i in range(10)),
    }
    assert next(s for s in r.state if s.name == "t").columns == ("id", "name", "v")


def test_state_includes_tables_the_text_created(db):
    # A table created by the text is part of the outcome, with its rows.
    r = db.run("CREATE TABLE z (a INT); INSERT INTO z VALUES (5)")
    assert sorted_state(r)["z"] == ((5,),)


def test_different_updates_leave_different_states(db):
    # v+1 and v*2 change the same rows to different values: the outcomes must differ.
    a = db.run("UPDATE t SET v = v + 1")
    b = db.run("UPDATE t SET v = v * 2")
    assert sorted_state(a) != sorted_state(b)


def test_equivalent_updates_leave_equal_states(db):
    # Written differently (predicate, operand order, subquery), the same rows get the same value.
    a = db.run("UPDATE t SET v = v + 1")
    b = db.run("UPDATE t SET v = 1 + v WHERE id IN (SELECT id FROM t WHERE v IS NOT NULL)")
    assert sorted_state(a) == sorted_state(b)


@pytest.mark.parametrize(("sql", "changed"), [
    ("DELETE FROM t WHERE id > 1", 2),
    ("UPDATE t SET v = 0", 3),
    ("INSERT INTO u VALUES (1), (2)", 2),
    ("INSERT INTO u SELECT id FROM t; DELETE FROM u WHERE k = 1", 4),  # 3 inserted + 1 deleted
    ("UPDATE t SET v = 0 WHERE id > 99", 0),
    ("SELECT * FROM t", 0),
])
def test_rows_changed_counts(db, sql, changed):
    # Counts the rows every DML statement of the text touched, summed.
    r = db.run(sql)
    assert (r.ok, r.rows_changed) == (True, changed), r.error


@pytest.mark.parametrize(("sql", "kinds"), [
    ("SELECT 1", ("select",)),
    ("INSERT INTO u VALUES (1); UPDATE u SET k = 2; DELETE FROM u; SELECT * FROM u",
     ("insert", "update", "delete", "select")),
    ("CREATE TABLE z (a INT); DROP TABLE z", ("ddl", "ddl")),
    ("DROP TABLE t", ("ddl",)),  # a DDL, even though dropping deletes rows
    ("CREATE TABLE z AS SELECT * FROM t", ("ddl",)),  # a DDL, even though it inserts rows
    ("ALTER TABLE t ADD COLUMN w INT", ("ddl",)),
])
def test_statement_kinds(db, sql, kinds):
    # One kind per statement, in order.
    r = db.run(sql)
    assert (r.ok, r.statement_kinds) == (True, kinds), r.error


def test_sqlite_statement_kinds_of_a_transaction():
    # BEGIN/COMMIT are "transaction" statements around the DELETE.
    r = build_example_db(CTX, "sqlite").run("BEGIN; DELETE FROM t; COMMIT")
    assert r.statement_kinds == ("transaction", "delete", "transaction")


def test_select_takes_no_state_unless_asked(db):
    # Snapshots cost a full read of the database: a pure SELECT skips it by default.
    assert db.run("SELECT 1").state is None


def test_state_of_a_select_when_asked_is_the_pristine_database(db):
    # capture_state=True forces the snapshot; nothing changed, so it is the pristine data.
    r = db.run("SELECT 1", capture_state=True)
    assert sorted_state(r)["t"] == PRISTINE_T


def test_dml_takes_no_state_when_told_not_to(db):
    assert db.run("DELETE FROM t", capture_state=False).state is None


@pytest.mark.parametrize("backend", [
    "sqlite",
    "duckdb",
])
def test_temp_table_shadow_does_not_change_the_reported_state(backend):
    db = build_example_db(CTX, backend)
    pristine = db.run("SELECT 1", capture_state=True).state
    # The real tables are untouched; the state is defined as the schema's tables, so it must
    # equal the pristine one whatever temp table the text created.
    r = db.run("CREATE TEMP TABLE t AS SELECT id FROM t WHERE 1 = 0")
    assert r.ok, r.error
    assert r.state == pristine


# --------------------------------------------------------------------------------------------
# Safety: SQLite

@pytest.mark.parametrize("sql", [
    "ATTACH ':memory:' AS m",
    "ATTACH DATABASE 'file:x?mode=memory' AS m",
    "DETACH DATABASE temp",
    "DETACH main",
    "VACUUM",
    "/* hidden */ vacuum",
    "PRAGMA journal_mode = WAL",
    "PRAGMA writable_schema = ON",
    "SELECT * FROM pragma_table_info('t')",  # table-valued pragma: still a PRAGMA
    "SELECT load_extension('/tmp/evil.so')",
    "SELECT fts3_tokenizer('simple')",
    "CREATE VIRTUAL TABLE vt USING fts5(a)",
])
def test_sqlite_refuses(sql):
    # The authorizer (or the VACUUM check) refuses each one before it runs.
    r = build_example_db(CTX, "sqlite").run(sql)
    assert (r.ok, r.error_kind) == (False, ErrorKind.FORBIDDEN), r.error


def test_sqlite_attach_creates_no_file(tmp_path):
    target = tmp_path / "attached.db"
    r = build_example_db(CTX, "sqlite").run(f"ATTACH DATABASE '{target}' AS a")
    # Refused, and SQLite never opened (so never created) the file.
    assert r.error_kind == ErrorKind.FORBIDDEN
    assert not target.exists()


def test_sqlite_vacuum_into_creates_no_file(tmp_path):
    target = tmp_path / "copy.db"
    r = build_example_db(CTX, "sqlite").run(f"VACUUM INTO '{target}'")
    # The authorizer does not see VACUUM; the statement trace must stop it before it runs.
    assert r.error_kind == ErrorKind.FORBIDDEN
    assert not target.exists()


@pytest.mark.parametrize("sql", [
    "SELECT randomblob(900000000)",
    "SELECT printf('%.*c', 900000000, 'x')",
    "SELECT zeroblob(2000000000)",
    "SELECT length(zeroblob(2000000000))",
    "SELECT replace(hex(zeroblob(400000)), '0', '00')",  # grows past the value limit
])
def test_sqlite_huge_values_fail_at_once(sql):
    # One function call that no interrupt stops: the length limit must stop it, well before
    # the timeout (asserting the limit fires, not measuring speed).
    r, took = elapsed(build_example_db(CTX, "sqlite").run, sql, timeout_s=10.0)
    assert (r.ok, r.error_kind) == (False, ErrorKind.TOO_LARGE), r.error
    assert took < FAST_FAIL_S


def test_sqlite_like_pattern_is_capped():
    # LIKE with a long many-wildcard pattern can be super-linear; the pattern length is capped.
    r = build_example_db(CTX, "sqlite").run("SELECT 'a' LIKE '" + "%a" * 1000 + "'")
    assert r.ok is False and r.error_kind in ALL_KINDS


@pytest.mark.parametrize("sql", [
    pytest.param("SELECT " + "(" * 5000 + "1" + ")" * 5000, id="5000-nested-parens"),
    pytest.param("SELECT " + "+".join(["1"] * 40_000), id="40k-term-sum"),
    pytest.param("SELECT " + "+".join(["1"] * 100_000), id="100k-term-sum"),  # beyond MAX_SQL_CHARS
])
def test_deeply_nested_expression_fails_cleanly(db, sql):
    # Parser recursion must end in a classified failure (depth limit), not a crash or a stall.
    r, took = elapsed(db.run, sql, timeout_s=SHORT_TIMEOUT_S)
    assert r.ok is False and r.error_kind in ALL_KINDS, r.error
    assert took < SHORT_TIMEOUT_S + TIMEOUT_MARGIN_S


def test_infinite_recursive_cte_times_out(db):
    r, took = elapsed(db.run, INFINITE_CTE, timeout_s=SHORT_TIMEOUT_S)
    # The engine is interrupted at the limit: a timeout, not before it, and not long after it.
    assert (r.ok, r.error_kind, r.timed_out) == (False, ErrorKind.TIMEOUT, True)
    assert r.elapsed_s >= SHORT_TIMEOUT_S and took < SHORT_TIMEOUT_S + TIMEOUT_MARGIN_S


def test_cartesian_explosion_with_order_by_is_stopped(db):
    # 10^7 rows to sort: either the row cap or the time limit stops it, within the margin.
    sql = "SELECT a.x FROM d a, d b, d c, d e, d f, d g, d h ORDER BY random()"
    r, took = elapsed(db.run, sql, timeout_s=SHORT_TIMEOUT_S)
    assert r.ok is False and r.error_kind in (ErrorKind.TIMEOUT, ErrorKind.TOO_LARGE)
    assert took < SHORT_TIMEOUT_S + TIMEOUT_MARGIN_S


def test_sqlite_time_limit_fires_during_a_large_sort():
    db = build_example_db(CTX, "sqlite")
    # Feeding the sorter takes a few ms; comparing the long case-insensitive keys is the cost.
    sql = ("SELECT a.x FROM d a, d b, d c, d e, d f "
           "ORDER BY printf('%.900c%d', 'x', random()) COLLATE NOCASE")
    r, took = elapsed(db.run, sql, timeout_s=0.2)
    assert r.ok is False
    assert took < 0.2 + 0.3  # the limit fires soon after the deadline (checks every 1,000 VM steps)


def test_run_returns_within_its_timeout_when_every_attempt_fails_late():
    db = build_example_db(CTX, "sqlite")
    cte = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 600000) "
    # Calibrate on this machine: the same work, succeeding, takes `work` seconds.
    ok, work = elapsed(db.run, cte + "SELECT max(n) FROM r", timeout_s=30.0)
    assert ok.ok
    limit = work / 0.6  # each attempt fits in the limit; three of them do not
    # The same work, then a runtime error (not JSON) that every dialect's rewrite keeps.
    r, took = elapsed(db.run, cte + "SELECT json(printf('x%d', max(n))) FROM r", timeout_s=limit)
    assert r.ok is False
    assert took < limit * 1.25


# --------------------------------------------------------------------------------------------
# Safety: DuckDB

@pytest.mark.parametrize("sql", [
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_text('/etc/passwd')",
    "SELECT * FROM glob('/etc/*')",
    "CREATE TABLE x AS SELECT * FROM read_text('/etc/passwd')",
    "ATTACH ':memory:' AS m",
    "DETACH main",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SET enable_external_access = true",
    "SET threads = 4",
    "PRAGMA enable_profiling",
    "CALL pragma_version()",
    "BEGIN",
    "COMMIT",
    "BEGIN TRANSACTION; DELETE FROM t; COMMIT",
    "EXPORT DATABASE '/tmp/sqlgrpo_export'",
    "VACUUM",
])
def test_duckdb_refuses(sql):
    # Statement allowlist or disabled external access: each one is forbidden before it acts.
    r = build_example_db(CTX, "duckdb").run(sql)
    assert (r.ok, r.error_kind) == (False, ErrorKind.FORBIDDEN), r.error


def test_duckdb_unbalanced_parentheses_fail_within_the_time_limit():
    db = build_example_db(CTX, "duckdb")
    # A 2.4 KB text: the run must end (as a syntax error) on the same clock as any query.
    r, took = elapsed(db.run, "SELECT " + "(" * 2400, timeout_s=SHORT_TIMEOUT_S)
    assert r.ok is False
    assert took < SHORT_TIMEOUT_S + TIMEOUT_MARGIN_S


def test_duckdb_copy_to_creates_no_file(tmp_path):
    target = tmp_path / "x.csv"
    r = build_example_db(CTX, "duckdb").run(f"COPY t TO '{target}'")
    assert r.error_kind == ErrorKind.FORBIDDEN
    assert not target.exists()


def test_duckdb_attach_creates_no_file(tmp_path):
    target = tmp_path / "other.duckdb"
    r = build_example_db(CTX, "duckdb").run(f"ATTACH '{target}' AS other")
    assert r.error_kind == ErrorKind.FORBIDDEN
    assert not target.exists()


# --------------------------------------------------------------------------------------------
# No files written

HOSTILE_FILE_SQL = {
    "sqlite": [
        "ATTACH 'a.db' AS a",
        "ATTACH 'file:b.db?mode=rwc' AS b",
        "VACUUM INTO 'v.db'",
        "SELECT load_extension('./x')",
        "PRAGMA temp_store_directory = '.'",
        "CREATE TEMP TABLE z AS SELECT a.x FROM d a, d b, d c, d e; SELECT count(*) FROM z",
        "SELECT a.x FROM d a, d b, d c, d e, d f, d g ORDER BY random()",  # a big sort
        "DELETE FROM t; UPDATE d SET x = x + 1",  # journals stay in memory
        INFINITE_CTE,
    ],
    "duckdb": [
        "COPY t TO 'x.csv'",
        "COPY (SELECT 1) TO 'y.parquet' (FORMAT parquet)",
        "EXPORT DATABASE 'exported'",
        "ATTACH 'd.duckdb' AS other",
        "CREATE TABLE z AS SELECT * FROM read_csv('x.csv')",
        "INSTALL httpfs",
        "SET temp_directory = '.'",
        "CREATE SECRET s (TYPE s3)",
        "SELECT a.x FROM d a, d b, d c, d e, d f, d g ORDER BY random()",  # a sort within memory
        "DELETE FROM t; UPDATE d SET x = x + 1",
        INFINITE_CTE,
    ],
}


def test_hostile_set_writes_no_file(backend, tmp_path, monkeypatch):
    # Relative paths land in the cwd; with the cwd an empty tmp dir, any file would show.
    monkeypatch.chdir(tmp_path)
    db = build_example_db(CTX, backend)
    for sql in HOSTILE_FILE_SQL[backend]:
        r = db.run(sql, timeout_s=SHORT_TIMEOUT_S)
        assert isinstance(r, ExecResult)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_duckdb_memory_spill_writes_no_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    db = build_example_db(CTX, "duckdb")
    try:
        # ~800 MB of strings in a table: more than the memory cap holds.
        db.run("CREATE TABLE big AS SELECT repeat('x', 4000) || range AS s FROM range(200000)",
               timeout_s=10.0, capture_state=False)
        # Checked while the database is open: DuckDB removes its spill directory on close.
        assert sorted(p.name for p in tmp_path.iterdir()) == []
    finally:
        db.close()


# --------------------------------------------------------------------------------------------
# split_statements

@pytest.mark.parametrize(("text", "pieces"), [
    ("SELECT ';'; SELECT 2", ["SELECT ';';", "SELECT 2"]),  # ; in a string
    ("SELECT 'it''s; ok'; SELECT 2", ["SELECT 'it''s; ok';", "SELECT 2"]),  # escaped quote
    ('SELECT 1 AS "a;b"; SELECT 2', ['SELECT 1 AS "a;b";', "SELECT 2"]),  # ; in a quoted identifier
    ("SELECT `a;b` FROM t; SELECT 2", ["SELECT `a;b` FROM t;", "SELECT 2"]),  # MySQL identifier
    ("SELECT 1 -- c; d\n; SELECT 2", ["SELECT 1 -- c; d\n;", "SELECT 2"]),  # ; in a line comment
    ("SELECT /* ; */ 1; SELECT 2", ["SELECT /* ; */ 1;", "SELECT 2"]),  # ; in a block comment
    ("SELECT a - b / c; SELECT 1", ["SELECT a - b / c;", "SELECT 1"]),  # lone - and / are code
])
def test_split_only_on_top_level_semicolons(text, pieces):
    assert split_statements(text) == pieces


def test_split_drops_comment_only_pieces():
    # Only comments and separators before the SELECT: nothing to run, nothing kept.
    assert split_statements("-- c\n; /* d */ ; ;; SELECT 1; -- tail") == ["SELECT 1;"]


def test_split_keeps_a_trigger_body_in_one_statement():
    # The inner ';' (and the CASE ... END;) do not end the trigger; only its own END; does.
    trigger = ("CREATE TRIGGER tr AFTER INSERT ON t BEGIN "
               "UPDATE t SET v = CASE WHEN new.v > 0 THEN 1 END; DELETE FROM u; END;")
    assert split_statements(trigger + " SELECT 1") == [trigger, "SELECT 1"]


def test_trigger_from_split_runs_in_sqlite():
    # The kept-together trigger really is one statement to SQLite: it is created and fires.
    r = build_example_db(CTX, "sqlite").run(
        "CREATE TEMP TRIGGER tr AFTER INSERT ON u BEGIN UPDATE t SET v = 0; DELETE FROM d; END; "
        "INSERT INTO u VALUES (1); SELECT sum(v) FROM t")
    assert (r.ok, r.rows) == (True, ((0,),)), r.error


def test_split_is_prompt_on_an_unclosed_trigger_of_semicolons():
    # 50,000 ';' after an unclosed trigger: each would re-check the body if the split were
    # quadratic; linear behaviour returns in milliseconds (2 s is a generous bound).
    text = "CREATE TRIGGER x BEGIN" + ";" * 50_000
    pieces, took = elapsed(split_statements, text)
    assert took < 2.0
    assert pieces and pieces[0].startswith("CREATE TRIGGER x BEGIN")


# --------------------------------------------------------------------------------------------
# SQLExecutor cache, schema, execute

def test_executor_reuses_the_database_of_a_context(backend):
    ex = SQLExecutor(backend)
    # Same context string: built once, the same object afterwards.
    assert ex.database(CTX) is ex.database(CTX)


def test_executor_cache_is_bounded_lru(backend):
    ex = SQLExecutor(backend, cache_size=2)
    ctx_a, ctx_b, ctx_c = (f"CREATE TABLE t{i} (x INT);" for i in range(3))
    first_a = ex.database(ctx_a)
    ex.database(ctx_b)
    ex.database(ctx_c)  # a is the least recently used of three: evicted
    assert ex.database(ctx_a) is not first_a


def test_executor_cache_keeps_the_recently_used(backend):
    ex = SQLExecutor(backend, cache_size=2)
    ctx_a, ctx_b, ctx_c = (f"CREATE TABLE t{i} (x INT);" for i in range(3))
    first_a = ex.database(ctx_a)
    ex.database(ctx_b)
    ex.database(ctx_a)  # touching a makes b the least recently used
    ex.database(ctx_c)
    assert ex.database(ctx_a) is first_a


def test_schema_lists_tables_and_columns(db):
    assert db.schema == {"t": ["id", "name", "v"], "u": ["k"], "d": ["x"]}


def test_schema_of_a_broken_context_is_empty(backend):
    assert build_example_db(BROKEN_CTX, backend).schema == {}


def test_execute_shortcut_runs_on_the_context(backend):
    # The module-level shortcut goes through the shared executor and gives the same result.
    r = execute("SELECT name FROM t WHERE id = 3", CTX, backend)
    assert (r.ok, r.rows) == (True, (("c",),))
