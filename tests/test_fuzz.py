"""Fuzzed variants of an example database (`sqlgrpo.sql.fuzz`): what the candidates hold, and
that they build.

Every check builds the candidate's database with the real executor (SQLite, and DuckDB where
said) and asks it with SQL, rather than reading the delta's text.
"""

from __future__ import annotations

from contextlib import closing

import pytest

from sqlgrpo.scoring import suites as suites_module
from sqlgrpo.scoring.suites import build_suite
from sqlgrpo.sql import build_example_db
from sqlgrpo.sql.fuzz import MAX_TABLE_ROWS, Candidate, candidates, like_samples, variant_context

SEEDS = range(5)  # a property of every draw, not of one lucky seed


def _built(context: str, candidate: Candidate, backend: str = "sqlite"):
    return closing(build_example_db(variant_context(context, candidate.delta), backend))


def _one(db, sql: str):
    result = db.run(sql)
    assert result.ok, result.error
    return result.rows[0]


def _added_rows(candidate: Candidate, table: str) -> list[tuple]:
    return [row for t, row in candidate.ops if row is not None and t.name == table]


def _final_rows(candidate: Candidate, table: str) -> list[tuple]:
    """A table's rows in the candidate: the original rows, then the delta's DELETEs and INSERTs."""
    return candidate.final_rows()[table]


def _values(found: list[Candidate], column: int) -> set:
    return {row[column] for c in found for _, row in c.ops if row is not None}


# --- keys and constraints -----------------------------------------------------------------------

KEYED_CTX = ("CREATE TABLE items (id INT PRIMARY KEY, sku TEXT UNIQUE, label TEXT NOT NULL, note TEXT, qty INT); "
             "INSERT INTO items VALUES (1, 'a1', 'bolt', NULL, 3), (2, 'b2', 'nut', 'spare', 5), "
             "(3, NULL, 'gear', 'x', 3);")
# Literals on the key columns themselves: the draws aim at values that already exist there.
KEYED_GOLD = "SELECT label FROM items WHERE id = 2 OR sku = 'a1' OR qty = 3"
KEY_CHECK = ("SELECT COUNT(*) - COUNT(DISTINCT id), COUNT(*) - COUNT(id), COUNT(sku) - COUNT(DISTINCT sku), "
             "COUNT(*) - COUNT(label) FROM items")


@pytest.mark.parametrize("seed", SEEDS)
def test_generated_rows_keep_single_column_keys_unique_and_not_null(seed):
    # Every candidate builds as written (no row refused: SQLite enforces UNIQUE and NOT NULL) and
    # SQL finds no duplicate or NULL id (SQLite lets a non-INTEGER PRIMARY KEY hold NULLs, so
    # only the fuzzer keeps it clean), no duplicate sku and no NULL label.
    found = candidates(KEYED_CTX, KEYED_GOLD, seed=seed)
    assert found
    for candidate in found:
        with _built(KEYED_CTX, candidate) as db:
            assert db.ok, (candidate.kind, db.error)
            assert _one(db, KEY_CHECK) == (0, 0, 0, 0), candidate.kind


COMPOSITE_CTX = ("CREATE TABLE enrol (student INT, course TEXT, grade INT, UNIQUE (student, course)); "
                 "INSERT INTO enrol VALUES (1, 'math', 90), (1, 'art', 70), (2, 'math', 80);")


def test_generated_rows_keep_composite_keys_unique():
    # The module promises that no row breaks a declared UNIQUE; a table-level UNIQUE over two
    # columns is one. A duplicated pair is refused by the engine, so the candidate does not build.
    for candidate in candidates(COMPOSITE_CTX, "SELECT student FROM enrol WHERE course = 'math'", seed=0):
        with _built(COMPOSITE_CTX, candidate) as db:
            assert db.ok, (candidate.kind, db.error)


CHECKED_CTX = ("CREATE TABLE scores (id INT PRIMARY KEY, points INT CHECK (points >= 0)); "
               "INSERT INTO scores VALUES (1, 0), (2, 4);")
CHECKED_GOLD = "SELECT id FROM scores WHERE points = 0"  # its neighbour -1 breaks the CHECK


def test_a_row_the_check_refuses_is_dropped_and_the_variant_kept(monkeypatch):
    # The fuzzer knows nothing of CHECK constraints, so a near-literal candidate writes points = -1.
    # build_suite builds it, reads which statement failed (`failed_statement`), drops that row and
    # builds again: the kept variant is the candidate without exactly its refused rows. (Given only
    # that candidate, the suite must keep it: its extra points = 0 rows change the gold's outcome.)
    refused = [c for c in candidates(CHECKED_CTX, CHECKED_GOLD, seed=0)
               if any(row is not None and row[1] is not None and row[1] < 0 for _, row in c.ops)]
    candidate = next(c for c in refused if c.kind == "near_literals")
    with _built(CHECKED_CTX, candidate) as db:
        assert not db.ok and db.failed_statement > 2  # a delta row, after the context's 2 statements
    kept_ops = [(t, row) for t, row in candidate.ops if row is None or row[1] is None or row[1] >= 0]
    monkeypatch.setattr(suites_module, "candidates", lambda *args, **kwargs: [candidate])
    built = build_suite(CHECKED_GOLD, CHECKED_CTX)
    assert len(built.variants) == 1 and built.chosen[0].ops == tuple(kept_ops)
    assert built.variants[0] == built.chosen[0].delta
    assert not built.dropped


# --- where values come from ---------------------------------------------------------------------

SHOP_CTX = ("CREATE TABLE customers (code TEXT PRIMARY KEY, name TEXT); "
            "CREATE TABLE orders (id INT PRIMARY KEY, customer_code TEXT{ref}, total INT); "
            "INSERT INTO customers VALUES ('ann', 'Ann'), ('bob', 'Bob'); "
            "INSERT INTO orders VALUES (10, 'ann', 5), (11, 'bob', 7);")
SHOP_GOLD = ("SELECT c.name, o.total FROM customers c JOIN orders o ON o.customer_code = c.code "
             "WHERE o.total > 6")


def test_a_join_in_the_gold_links_new_child_rows_to_new_parent_rows():
    # No key is declared; the join alone links orders.customer_code to customers.code. New
    # customers get fresh codes ('v123'), so an order carrying one of those can only have drawn
    # it from the parent's current values. Each candidate that draws new rows into both tables
    # has one (the copying kinds, duplicates and groups, keep the copied rows' keys instead).
    context = SHOP_CTX.format(ref="")
    drawn = [c for c in candidates(context, SHOP_GOLD, seed=0)
             if c.kind in ("satisfying", "near_literals", "nulls", "random_rows")]
    assert len(drawn) == 8  # two per kind: the kinds all drew rows
    for candidate in drawn:
        new_codes = {row[0] for row in _added_rows(candidate, "customers")} - {"ann", "bob"}
        assert any(row[1] in new_codes for row in _added_rows(candidate, "orders")), candidate.kind


def test_declared_foreign_key_rows_never_dangle():
    # With a declared REFERENCES, every added order should name a customer of the same candidate
    # (DuckDB refuses the others). Over 30 seeds some do not.
    context = SHOP_CTX.format(ref=" REFERENCES customers(code)")
    dangling = []
    for seed in range(30):
        for candidate in candidates(context, SHOP_GOLD, seed=seed):
            codes = {row[0] for row in _final_rows(candidate, "customers")}
            dangling += [(seed, candidate.kind, row) for row in _added_rows(candidate, "orders")
                         if row[1] is not None and row[1] not in codes]
    assert dangling == []


SALES_CTX = ("CREATE TABLE sales (id INT PRIMARY KEY, region TEXT, qty INT, day DATE, product TEXT); "
             "INSERT INTO sales VALUES (1, 'Europe', 3, '2024-01-05', 'Widget'), "
             "(2, 'Americas', 20, '2024-02-10', 'Gadget');")
REGION, QTY, DAY, PRODUCT = 1, 2, 3, 4


def test_the_golds_literal_appears_in_candidate_rows():
    # 'Asia-Pacific' is in no row of the shown database: only the gold can have put it there.
    with closing(build_example_db(SALES_CTX)) as db:
        assert _one(db, "SELECT COUNT(*) FROM sales WHERE region = 'Asia-Pacific'") == (0,)
    found = candidates(SALES_CTX, "SELECT id FROM sales WHERE region = 'Asia-Pacific'", seed=0)
    assert "Asia-Pacific" in _values([c for c in found if c.kind == "satisfying"], REGION)


@pytest.mark.parametrize("gold, column, expected", [
    # ±1 around a number compared with >: 10 itself, and the values on either side of the bound.
    ("SELECT id FROM sales WHERE qty > 10", QTY, {9, 10, 11}),
    # The day before and after a date (2024 is a leap year: 29 February).
    ("SELECT id FROM sales WHERE day = '2024-03-01'", DAY, {"2024-02-29", "2024-03-02"}),
    # Strings that match the LIKE and one that does not (a truncated core).
    ("SELECT id FROM sales WHERE product LIKE '%Eco%'", PRODUCT, set(like_samples("%Eco%"))),
])
def test_neighbours_of_the_golds_literals_appear(gold, column, expected):
    # None of these values is in the shown rows; the candidates hold all of them.
    assert expected <= _values(candidates(SALES_CTX, gold, seed=0), column)


def test_like_samples_match_and_miss_the_pattern():
    # The samples are meant to straddle the pattern: checked by the engine, not by the fuzzer.
    samples = like_samples("%Eco%")
    with closing(build_example_db("CREATE TABLE s (v TEXT);")) as db:
        matched = {s: _one(db, f"SELECT '{s}' LIKE '%Eco%'")[0] for s in samples}
    assert set(matched.values()) == {0, 1}


# --- determinism, size, engines -----------------------------------------------------------------

def _deltas(seed: int) -> list[str]:
    return [c.delta for c in candidates(SALES_CTX, "SELECT id FROM sales WHERE qty > 10 AND region = 'Europe'",
                                        seed=seed)]


def test_the_same_seed_gives_the_same_deltas():
    # Everything is drawn from a seeded generator: two calls agree statement for statement.
    assert _deltas(0) == _deltas(0)


def test_another_seed_gives_other_deltas():
    # The seed is part of every draw: a different seed changes the candidates.
    assert _deltas(0) != _deltas(1)


def _numbers_context(rows: int) -> str:
    return ("CREATE TABLE n (id INT PRIMARY KEY, v INT); INSERT INTO n SELECT x, x % 7 FROM "
            f"(WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r WHERE x < {rows}) SELECT x FROM r);")


NUMBERS_GOLD = "SELECT id FROM n WHERE v = 3"


def test_a_table_over_the_row_limit_gets_no_candidates():
    # A variant rewrites whole tables: one row past MAX_TABLE_ROWS and there is nothing to fuzz,
    # nor a suite. The same context with 20 rows is fuzzed: the size, not the SQL, decides.
    too_large = _numbers_context(MAX_TABLE_ROWS + 1)
    assert candidates(too_large, NUMBERS_GOLD) == []
    assert build_suite(NUMBERS_GOLD, too_large).reason == suites_module.NO_SUITE_NOT_FUZZABLE
    assert candidates(_numbers_context(20), NUMBERS_GOLD)


@pytest.mark.slow  # ~5 s: the copying kinds check every new row's key against every row
def test_a_table_at_the_row_limit_is_still_fuzzed():
    # The limit is inclusive: MAX_TABLE_ROWS rows are read and fuzzed.
    assert candidates(_numbers_context(MAX_TABLE_ROWS), NUMBERS_GOLD)


def test_candidates_build_on_duckdb():
    # The delta is plain DELETE / INSERT that both engines read; DuckDB enforces the keys too.
    found = candidates(KEYED_CTX, KEYED_GOLD, "duckdb", seed=0)
    assert found
    for candidate in found:
        with _built(KEYED_CTX, candidate, "duckdb") as db:
            assert db.ok, (candidate.kind, db.error)
            assert _one(db, KEY_CHECK) == (0, 0, 0, 0), candidate.kind


def test_candidates_with_a_declared_foreign_key_build_on_duckdb():
    # Strategies never empty a table a foreign key points at; the twin deletes children first.
    context = SHOP_CTX.format(ref=" REFERENCES customers(code)")
    failed = []
    for candidate in candidates(context, SHOP_GOLD, "duckdb", seed=0):
        with _built(context, candidate, "duckdb") as db:
            if not db.ok:
                failed.append((candidate.kind, db.error[:80]))
    assert failed == []


def test_a_context_ending_in_a_line_comment_still_builds_its_variants():
    # The context builds (its last statement needs no semicolon); every variant of it should too.
    context = "CREATE TABLE t (id INT, x INT); INSERT INTO t VALUES (1, 5), (2, 7) -- two rows"
    with closing(build_example_db(context)) as db:
        assert db.ok
    for candidate in candidates(context, "SELECT id FROM t WHERE x > 6", seed=0):
        with _built(context, candidate) as db:
            assert db.ok, (candidate.kind, db.error)

