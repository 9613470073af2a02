"""Hostile completions against every reward: each returns in time, gives a score (never raises),
writes no file, and leaves the database of the next completion as it was.

Each completion of `HOSTILE` is scored once (by every reward in `REWARDS`, as the first completion
of a batch whose second is the correct answer, inside an empty working directory) and the record
is shared by the tests below, one property each. `{TARGET}` in a completion is replaced by an
absolute path inside that directory, so ATTACH / VACUUM INTO aim at a file we can look for.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sqlgrpo.scoring.rewards import REWARDS, execution_reward
from sqlgrpo.scoring.verdict import EXEC_MATCH
from sqlgrpo.sql import QUERY_TIMEOUT_S, execute

TIME_MARGIN_S = 3.0  # scheduling noise on a shared machine, on top of the query time limit
N_ROWS = 20  # 20^6 = 64M rows for a 6-way self-join: far beyond the time limit

CTX = ("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, city TEXT); "
       "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INT, total REAL, status TEXT); "
       "INSERT INTO customers (id, name, city) VALUES "
       + ", ".join(f"({i}, 'cust{i}', 'city{i % 3}')" for i in range(1, N_ROWS + 1)) + "; "
       "INSERT INTO orders (id, customer_id, total, status) VALUES "
       + ", ".join(f"({i}, {i % 7 + 1}, {i * 1.5}, '{'paid' if i % 2 else 'open'}')" for i in range(1, N_ROWS + 1))
       + ";")
GOLD = ("SELECT c.name, SUM(o.total) FROM customers c JOIN orders o ON o.customer_id = c.id "
        "WHERE o.status = 'paid' GROUP BY c.name")
CORRECT = ("<reasoning>Join orders to customers on customer_id, keep the paid orders and sum total per "
           "customer name.</reasoning>\n<sql>SELECT SUM(orders.total), customers.name FROM orders JOIN customers "
           "ON customers.id = orders.customer_id WHERE orders.status = 'paid' GROUP BY customers.name</sql>")

MB = 1_000_000
SIX_ORDERS = ", ".join(f"orders o{i}" for i in range(6))
INFINITE_CTE = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) "


def _sql(text: str) -> str:
    return f"<reasoning>Use the orders table.</reasoning><sql>{text}</sql>"


HOSTILE: list[tuple[str, object]] = [
    # --- time: the executor's limit must fire (these cost the full QUERY_TIMEOUT_S each)
    ("infinite recursive CTE", _sql(INFINITE_CTE + "SELECT COUNT(*) FROM r")),
    ("cartesian 6x self-join, counted",
     _sql(f"SELECT COUNT(*) FROM {SIX_ORDERS} WHERE o0.id + o1.id + o2.id + o3.id + o4.id + o5.id > o0.total")),
    # --- size: caps must fire at once
    ("infinite recursive CTE, every row", _sql(INFINITE_CTE + "SELECT n FROM r")),
    ("cartesian 6x self-join, every row", _sql(f"SELECT * FROM {SIX_ORDERS}")),
    ("1 MB string literal", _sql("SELECT '" + "x" * MB + "'")),
    ("90 KB string literal", _sql("SELECT length('" + "x" * 90_000 + "')")),
    ("randomblob huge", _sql("SELECT randomblob(900000000)")),
    ("zeroblob huge", _sql("SELECT length(zeroblob(900000000))")),
    ("printf width 9e8", _sql("SELECT printf('%.*c', 900000000, 'x')")),
    ("replace amplification", _sql("SELECT length(replace(hex(zeroblob(400000)), '0', 'aaaaaaaaaa'))")),
    ("group_concat over a cartesian product",
     _sql("SELECT length(group_concat(a.name || b.name || c.name)) FROM customers a, customers b, customers c, "
          "customers d")),
    ("GLOB with many stars on a long string",
     _sql("SELECT printf('%.*c', 900000, 'a') GLOB '" + "*a" * 300 + "b'")),
    ("LIKE pattern over the length limit", _sql("SELECT 'a' LIKE '" + "%a" * 5_000 + "'")),
    ("insert 60k rows (state snapshot cap)",
     _sql("INSERT INTO orders SELECT n + 100, 1, 1.0, 'paid' FROM "
          "(WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 60000) SELECT n FROM r)")),
    ("500 UNION ALL terms", _sql(" UNION ALL ".join(["SELECT 1"] * 600))),
    ("10,000 statements", _sql("SELECT 1; " * 10_000)),
    # --- depth
    ("10,000 nested parentheses", _sql("SELECT " + "(" * 10_000 + "1" + ")" * 10_000)),
    ("1+1+... 20,000 terms", _sql("SELECT " + "+".join(["1"] * 20_000))),
    ("3,000 nested function calls", _sql("SELECT " + "abs(" * 3_000 + "1" + ")" * 3_000)),
    ("300 nested scalar subqueries", _sql("SELECT " + "(SELECT " * 300 + "1" + ")" * 300)),
    ("deep JSON", _sql("SELECT json('" + "[" * 50_000 + "]" * 50_000 + "')")),
    # --- files, extensions, pragmas
    ("ATTACH absolute path", _sql("ATTACH DATABASE '{TARGET}' AS x; CREATE TABLE x.t (a); SELECT 1")),
    ("ATTACH relative path", _sql("ATTACH DATABASE 'pwned.db' AS x; CREATE TABLE x.t (a)")),
    ("ATTACH memory then DETACH", _sql("ATTACH DATABASE ':memory:' AS m; DETACH DATABASE m; " + GOLD)),
    ("ATTACH via URI", _sql("ATTACH DATABASE 'file:{TARGET}?mode=rwc' AS u; CREATE TABLE u.t (a)")),
    ("VACUUM INTO absolute path", _sql("VACUUM INTO '{TARGET}'")),
    ("VACUUM INTO after a comment and a SELECT", _sql("SELECT 1; /* c */ vacuum into '{TARGET}'")),
    ("VACUUM INTO relative path", _sql("VACUUM INTO 'pwned.db'")),
    ("VACUUM", _sql("VACUUM")),
    ("load_extension", _sql("SELECT load_extension('/tmp/evil.so')")),
    ("writefile", _sql("SELECT writefile('{TARGET}', 'x')")),
    ("PRAGMA writable_schema",
     _sql("PRAGMA writable_schema = ON; UPDATE sqlite_master SET sql = 'CREATE TABLE orders (x)' "
          "WHERE name = 'orders'")),
    ("PRAGMA journal_mode", _sql("PRAGMA journal_mode = WAL")),
    ("PRAGMA user_version", _sql("PRAGMA user_version = 7")),
    ("PRAGMA temp_store_directory", _sql("PRAGMA temp_store = FILE; SELECT * FROM orders ORDER BY random()")),
    ("virtual table", _sql("CREATE VIRTUAL TABLE v USING fts5(x); INSERT INTO v VALUES ('a')")),
    # --- destruction of the schema's data, then the correct query
    ("DROP TABLE then the gold", _sql("DROP TABLE orders; " + GOLD)),
    ("DELETE all", _sql("DELETE FROM orders; DELETE FROM customers")),
    ("UPDATE all", _sql("UPDATE orders SET total = -1, status = 'paid'")),
    ("DROP and recreate with other data",
     _sql("DROP TABLE orders; CREATE TABLE orders (id INT, customer_id INT, total REAL, status TEXT); "
          "INSERT INTO orders VALUES (1, 1, 1e9, 'paid')")),
    ("ALTER TABLE rename and a view in its place",
     _sql("ALTER TABLE orders RENAME TO old_orders; CREATE VIEW orders AS SELECT * FROM old_orders WHERE 0")),
    ("INSERT AUTOINCREMENT bookkeeping", _sql("CREATE TABLE z (id INTEGER PRIMARY KEY AUTOINCREMENT); "
                                              "INSERT INTO z DEFAULT VALUES")),
    # --- transactions
    ("BEGIN without COMMIT", _sql("BEGIN; DELETE FROM orders")),
    ("BEGIN IMMEDIATE without COMMIT", _sql("BEGIN IMMEDIATE; UPDATE customers SET name = 'x'")),
    ("COMMIT without BEGIN", _sql("COMMIT; DELETE FROM orders")),
    ("SAVEPOINT released", _sql("SAVEPOINT a; DELETE FROM orders; RELEASE a")),
    ("SAVEPOINT left open", _sql("SAVEPOINT a; DROP TABLE customers")),
    # --- shadowing
    ("temp table shadowing orders", _sql("CREATE TEMP TABLE orders AS SELECT * FROM orders WHERE 0; " + GOLD)),
    ("temp view shadowing customers",
     _sql("CREATE TEMP VIEW customers AS SELECT 1 AS id, 'x' AS name, 'y' AS city; " + GOLD)),
    ("trigger modifying another table",
     _sql("CREATE TRIGGER t AFTER INSERT ON customers BEGIN DELETE FROM orders; END; "
          "INSERT INTO customers (id, name, city) VALUES (99, 'z', 'z')")),
    ("temp trigger on a main table",
     _sql("CREATE TEMP TRIGGER t AFTER UPDATE ON orders BEGIN DELETE FROM customers; END; "
          "UPDATE orders SET total = 0 WHERE id = 1")),
    ("recursive trigger", _sql("CREATE TRIGGER t AFTER INSERT ON orders BEGIN INSERT INTO orders (total) "
                               "VALUES (1); END; INSERT INTO orders (total) VALUES (1)")),
    # --- statements hidden from a naive reader
    ("several statements", _sql("SELECT 1; SELECT 2; INSERT INTO orders VALUES (99, 1, 1e9, 'paid'); " + GOLD)),
    ("line comment hiding a DROP", _sql("SELECT 1; -- \n DROP TABLE orders")),
    ("block comment with a semicolon", _sql("/* ; */ DROP TABLE orders")),
    ("semicolon inside a string", _sql("SELECT ';DROP TABLE orders;' FROM orders")),
    ("unterminated string", _sql("SELECT 'abc FROM orders")),
    ("unterminated block comment", _sql("SELECT 1 /* never closed")),
    ("unterminated quoted identifier", _sql('SELECT "abc FROM orders')),
    # --- text that is not text
    ("NUL byte in SQL", _sql("SELECT 1\x00; DROP TABLE orders")),
    ("NUL bytes in reasoning", "<reasoning>\x00\x00orders\x00</reasoning><sql>" + GOLD + "</sql>"),
    ("lone surrogates", "<reasoning>\ud800 orders</reasoning><sql>SELECT '\udfff' FROM orders</sql>"),
    ("control characters and RTL marks", _sql("SELECT\u202e name\u200b FROM\x07 customers\x1b")),
    ("empty", ""),
    ("whitespace only", " \n\t\r\n  "),
    # --- tags
    ("nested sql tags", f"<reasoning>r</reasoning><sql><sql>{GOLD}</sql></sql>"),
    ("1,000 repeated sql blocks", "<sql>SELECT 1</sql>" * 1_000),
    ("unclosed sql tag", "<reasoning>r</reasoning><sql>" + GOLD),
    ("20,000 unclosed reasoning tags", "<reasoning>" * 20_000),
    ("20,000 unclosed sql tags", "<sql>" * 20_000),
    ("a megabyte without tags", "lorem ipsum dolor sit amet " * 40_000),
    ("a megabyte of SELECT", "SELECT " * 150_000),
    ("a megabyte of unclosed fences", "```sql\n" * 150_000),
    ("8,000 invented identifiers in reasoning",
     "<reasoning>" + " ".join(f"tbl_{i}.col_{i}" for i in range(8_000)) + "</reasoning><sql>" + GOLD + "</sql>"),
    ("15 KB of PostgreSQL casts (transpile path)",
     _sql("SELECT " + ", ".join(f"id::text::int::text AS c{i}" for i in range(500)) + " FROM orders")),
    # --- not a string at all
    ("None", None),
    ("an int", 42),
    ("a dict without content", {"role": "assistant"}),
    ("a list of non-dicts", [1, "two", None]),
    ("a message whose content is None", [{"role": "assistant", "content": None}]),
    ("a message whose content is a list", [{"role": "assistant", "content": [{"type": "text", "text": GOLD}]}]),
    ("bytes", b"<sql>SELECT 1</sql>"),
    ("50,000 messages", [{"role": "assistant", "content": "<sql>SELECT 1</sql>"}] * 50_000),
]

assert len(HOSTILE) >= 45 and len({n for n, _ in HOSTILE}) == len(HOSTILE)
NAMES = [n for n, _ in HOSTILE]


def _with_target(completion: object, target: Path) -> object:
    return completion.replace("{TARGET}", str(target)) if isinstance(completion, str) else completion


@dataclass
class Scored:
    """What happened when one hostile completion was scored by every reward."""

    workdir: Path
    target: Path
    outputs: dict[str, object] = field(default_factory=dict)  # reward -> list, or the exception raised
    elapsed: dict[str, float] = field(default_factory=dict)
    files_after: list[str] = field(default_factory=list)
    later_execution: list | None = None


def _call(name: str, completions: list) -> list:
    n = len(completions)
    return REWARDS[name](completions, sql=[GOLD] * n, sql_context=[CTX] * n)


@pytest.fixture(scope="module")
def baseline() -> dict[str, list]:
    """Every reward's score of the correct completion alone, on a clean database."""
    out = {name: _call(name, [CORRECT]) for name in REWARDS}
    assert out["execution_reward"] == [EXEC_MATCH]  # the scenario itself is sound
    return out


@pytest.fixture(scope="module")
def scored(tmp_path_factory, baseline) -> Callable[[str], Scored]:
    """Score each hostile completion once, lazily, and share the record between tests. Depends on
    `baseline` so that the baseline is taken before any hostile completion has run."""
    cache: dict[str, Scored] = {}
    completions = dict(HOSTILE)

    def score(name: str) -> Scored:
        if name in cache:
            return cache[name]
        workdir = tmp_path_factory.mktemp("hostile")
        record = Scored(workdir, workdir / "pwned.db")
        hostile = _with_target(completions[name], record.target)
        with pytest.MonkeyPatch.context() as mp:
            mp.chdir(workdir)  # relative paths (ATTACH 'pwned.db') would land here
            for reward in REWARDS:
                start = time.monotonic()
                try:
                    record.outputs[reward] = _call(reward, [hostile, CORRECT])
                except Exception as e:  # noqa: BLE001 - recorded, and reported by the tests
                    record.outputs[reward] = e
                record.elapsed[reward] = time.monotonic() - start
            record.later_execution = _call("execution_reward", [CORRECT])
        record.files_after = sorted(os.listdir(workdir))
        cache[name] = record
        return record

    return score


@pytest.mark.parametrize("name", NAMES)
def test_every_reward_returns_within_the_time_limit(name, scored):
    # The executor's limit (QUERY_TIMEOUT_S) bounds the query; parsing and extraction are bounded by
    # caps on text length. Nothing may hold a GRPO step longer than that plus scheduling noise.
    record = scored(name)
    slow = {r: round(s, 2) for r, s in record.elapsed.items() if s > QUERY_TIMEOUT_S + TIME_MARGIN_S}
    assert not slow


@pytest.mark.parametrize("name", NAMES)
def test_every_reward_returns_a_score_per_completion(name, scored):
    # No exception escapes; each reward gives a float (or None) for both completions.
    record = scored(name)
    for reward, out in record.outputs.items():
        assert isinstance(out, list), f"{reward} raised {out!r}"
        assert len(out) == 2 and all(v is None or type(v) is float for v in out), (reward, out)


@pytest.mark.parametrize("name", NAMES)
def test_no_file_is_written(name, scored):
    # The working directory stays empty and the absolute ATTACH / VACUUM INTO target never appears.
    record = scored(name)
    assert record.files_after == []
    assert not record.target.exists()


@pytest.mark.parametrize("name", NAMES)
def test_correct_answer_in_the_same_batch_still_matches(name, scored):
    # The hostile completion ran first, on its own copy: the correct one sees the pristine database.
    assert scored(name).outputs["execution_reward"][1] == EXEC_MATCH


@pytest.mark.parametrize("name", NAMES)
def test_correct_answer_scores_as_if_alone(name, scored, baseline):
    # Not only execution: schema-reading rewards (reasoning, schema linking) see the same schema.
    record = scored(name)
    assert {r: out[1] for r, out in record.outputs.items()} == {r: out[0] for r, out in baseline.items()}


@pytest.mark.parametrize("name", NAMES)
def test_correct_answer_in_a_later_call_still_matches(name, scored):
    # Nothing the hostile completion did survives into the next reward call.
    assert scored(name).later_execution == [EXEC_MATCH]


def test_hostile_batch_in_parallel_leaves_every_correct_answer_matching():
    # Batches of 4+ run in a thread pool: destructive completions running at the same time as
    # correct ones, on the same context, must not reach them.
    destructive = ["DROP TABLE orders", "DELETE FROM orders", "UPDATE orders SET status = 'open'",
                   "BEGIN; DELETE FROM customers", "CREATE TEMP TABLE orders AS SELECT * FROM orders WHERE 0",
                   "ALTER TABLE orders RENAME TO gone"]
    completions = [c for d in destructive for c in (_sql(d), CORRECT)]
    out = execution_reward(completions, sql=[GOLD] * len(completions), sql_context=[CTX] * len(completions))
    assert out[1::2] == [EXEC_MATCH] * len(destructive)
    assert out[0::2] == [0.0] * len(destructive)  # none of them answers the question


# --- DuckDB: one shared connection, a rolled-back transaction per query ---------------------------

DUCKDB_HOSTILE = [
    "DROP TABLE orders",
    "DELETE FROM orders; DELETE FROM customers",
    "UPDATE orders SET total = -1, status = 'paid'",
    "CREATE OR REPLACE TABLE orders AS SELECT 1 AS x",
    "ALTER TABLE orders RENAME TO gone",
    "CREATE TEMP TABLE orders AS SELECT * FROM orders WHERE 0",
    "CREATE TEMP VIEW customers AS SELECT 1 AS id, 'x' AS name, 'y' AS city",
    "CREATE MACRO total(x) AS -x",
    "BEGIN; DELETE FROM orders",
    "COMMIT; DELETE FROM orders",
    "SET threads = 64",
    "ATTACH '{TARGET}' AS x",
    "COPY orders TO '{TARGET}'",
    "SELECT * FROM read_csv('/etc/passwd')",
    "INSTALL httpfs; LOAD httpfs",
    "CHECKPOINT",
]


@pytest.mark.parametrize("hostile", DUCKDB_HOSTILE)
def test_duckdb_hostile_leaves_the_next_completion_untouched(hostile, tmp_path, monkeypatch):
    # The DuckDB pristine database is shared by every query on the context: a transaction that is
    # always rolled back is what keeps it pristine. Then a separate call sees it intact too.
    monkeypatch.chdir(tmp_path)
    completion = _sql(hostile.replace("{TARGET}", str(tmp_path / "pwned.db")))
    same_batch = execution_reward([completion, CORRECT], sql=[GOLD] * 2, sql_context=[CTX] * 2, backend="duckdb")
    later = execution_reward([CORRECT], sql=[GOLD], sql_context=[CTX], backend="duckdb")
    assert same_batch == [0.0, EXEC_MATCH] and later == [EXEC_MATCH]
    assert list(tmp_path.iterdir()) == []


# --- the time limit covers a whole text, not each dialect attempt -------------------------------

SLOW_ROWS = ("WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < {N}) "
             "SELECT n, (SELECT COUNT(*) FROM orders a, orders b, customers x WHERE a.id + b.id + x.id > r.n - r.n) "
             "FROM r")


def test_time_limit_covers_all_dialect_attempts():
    # Statement 1 works for ~0.7 of the limit; statement 2 names a missing column, a failure a
    # dialect may fix, so the executor transpiles the whole text and runs it again (twice: from
    # PostgreSQL, from MySQL). With a limit per attempt that is ~2.1x the limit; with one budget
    # for the text it is the limit. Work per row is calibrated on this machine, without a failure.
    limit = 1.5
    probe = execute(SLOW_ROWS.replace("{N}", "100"), CTX, timeout_s=30)
    assert probe.ok
    rows = max(int(0.7 * limit / (probe.elapsed_s / 100)), 1)
    text = SLOW_ROWS.replace("{N}", str(rows)) + "; SELECT no_such_column FROM orders"
    start = time.monotonic()
    result = execute(text, CTX, timeout_s=limit)
    elapsed = time.monotonic() - start
    assert not result.ok
    assert elapsed <= limit + 0.5
