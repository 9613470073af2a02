"""Test suites (`sqlgrpo.scoring.suites`) and what runs on them: the verdict with a suite, the
execution reward with a `test_suite` column, `attach_suites` and the prepare stage.

Real SQLite (and DuckDB where said); an executor spy records which database each text ran on.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import pytest

from sqlgrpo.common import paths
from sqlgrpo.scoring import rewards
from sqlgrpo.scoring import suites as suites_module
from sqlgrpo.scoring import verdict as verdict_module
from sqlgrpo.scoring.answers import parse_answer
from sqlgrpo.scoring.rewards import execution_reward
from sqlgrpo.scoring.suites import (MAX_VARIANTS, NO_SUITE_DISABLED, NO_SUITE_FILE_DATABASE, NO_SUITE_GOLD_FAILS,
                                    NO_SUITE_NOT_FUZZABLE, TEST_SUITE_FIELD, build_suite)
from sqlgrpo.scoring.verdict import BUDGET_QUERY_LIMITS, EXEC_MATCH, EXEC_RAN_WRONG, SHOWN_DATA_ONLY, verdict
from sqlgrpo.sql import QUERY_TIMEOUT_S, ExampleDatabase, SQLExecutor
from sqlgrpo.sql.fuzz import MAX_TABLE_ROWS, Candidate, candidates, variant_context
from sqlgrpo.stages.prepare import PrepareOptions, prepare
from sqlgrpo.stages.suites import attach_suites
from test_rewards_hostile import CORRECT as HOSTILE_CORRECT
from test_rewards_hostile import CTX as HOSTILE_CTX
from test_rewards_hostile import GOLD as HOSTILE_GOLD
from test_rewards_hostile import HOSTILE, TIME_MARGIN_S  # the corpus and its noise margin

PEOPLE_CTX = ("CREATE TABLE people (id INT PRIMARY KEY, name TEXT, country TEXT, score INT); "
              "INSERT INTO people VALUES (1, 'Ann', 'USA', 5), (2, 'Bob', 'USA', 7), (3, 'Cy', 'USA', 9);")
USA_GOLD = "SELECT name FROM people WHERE country = 'USA'"
NO_WHERE = "SELECT name FROM people"  # the gold's single-edit neighbour: every shown row is USA


def answer(sql: str) -> str:
    return f"<reasoning>\nThe people table holds name and country.\n</reasoning>\n<sql>\n{sql}\n</sql>"


# --- what a suite tells apart -------------------------------------------------------------------

def test_a_neighbour_that_agrees_on_the_shown_database_is_wrong_on_the_suite():
    # Dropping the WHERE returns the gold's rows on the shown database (all rows are USA); the
    # suite holds a variant with a row from elsewhere, where it returns one name too many.
    assert verdict(NO_WHERE, USA_GOLD, PEOPLE_CTX).correct
    built = build_suite(USA_GOLD, PEOPLE_CTX)
    assert built.agreeing >= 1 and built.told_apart >= 1
    found = verdict(NO_WHERE, USA_GOLD, PEOPLE_CTX, suite=built.variants)
    assert (found.kind, found.score, found.shown_correct) == (SHOWN_DATA_ONLY, EXEC_RAN_WRONG, True)


def test_a_suite_built_on_duckdb_tells_the_neighbour_apart_too():
    # The same on the other engine: the variants build and run on DuckDB.
    built = build_suite(USA_GOLD, PEOPLE_CTX, "duckdb")
    assert built.variants
    assert verdict(NO_WHERE, USA_GOLD, PEOPLE_CTX, "duckdb", suite=built.variants).kind == SHOWN_DATA_ONLY


TIES_CTX = ("CREATE TABLE people (id INT PRIMARY KEY, name TEXT, country TEXT, score INT); "
            "INSERT INTO people VALUES (1, 'Ann', 'USA', 5), (2, 'Bob', 'UK', 7), (3, 'Cy', 'USA', 9);")


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("gold, limit", [("SELECT name FROM people ORDER BY score LIMIT 1", 1),
                                         ("SELECT name FROM people ORDER BY score DESC LIMIT 2", 2)])
def test_an_order_dependent_gold_keeps_no_variant_where_ties_decide(gold, limit, seed, monkeypatch):
    # A variant with a tie on score at the LIMIT makes the gold return whichever tied row comes
    # first physically, so it is dropped (the precondition: it was). On the kept variants the
    # gold's rows do not depend on ties, so breaking ties by id either way gives the gold's rows.
    natural = candidates(TIES_CTX, gold, seed=seed)
    people = natural[0].tables[0]
    # A row tying with the last one the LIMIT keeps, under another name: that variant must go.
    tie = Candidate("satisfying", ((people, (4, "Dee", "UK", 5 if limit == 1 else 7)),), natural[0].tables)
    monkeypatch.setattr(suites_module, "candidates", lambda *args, **kwargs: natural + [tie])
    built = build_suite(gold, TIES_CTX, seed=seed)
    assert built.dropped.get("gold_order_dependent", 0) >= 1 and built.variants
    assert tie.delta not in built.variants
    order = "score" if "DESC" not in gold else "score DESC"
    for tie_break in ("id", "id DESC"):
        rewritten = f"SELECT name FROM people ORDER BY {order}, {tie_break} LIMIT {limit}"
        assert verdict(rewritten, gold, TIES_CTX, suite=built.variants).correct, tie_break


PRODUCTS_CTX = ("CREATE TABLE products (id INT PRIMARY KEY, name TEXT, category TEXT, price REAL, stock INT); "
                "INSERT INTO products VALUES (1, 'ball', 'toys', 12.5, 3), (2, 'kite', 'toys', 7.0, 0), "
                "(3, 'chess', 'games', 20.0, 4), (4, 'lamp', 'home', 31.0, 2);")


@pytest.mark.parametrize("gold, rewritten", [
    # A table alias renamed.
    ("SELECT p.name FROM products AS p WHERE p.price > 10", "SELECT q.name FROM products AS q WHERE q.price > 10"),
    # A column alias renamed (columns are compared by position, not name).
    ("SELECT category, COUNT(*) AS n FROM products GROUP BY category",
     "SELECT category, COUNT(*) AS how_many FROM products GROUP BY category"),
    # Conjuncts commuted.
    ("SELECT name FROM products WHERE category = 'toys' AND stock > 0",
     "SELECT name FROM products WHERE stock > 0 AND category = 'toys'"),
    # BETWEEN as its two bounds.
    ("SELECT name FROM products WHERE price BETWEEN 7 AND 20", "SELECT name FROM products WHERE price >= 7 AND price <= 20"),
    # IN as a disjunction.
    ("SELECT name FROM products WHERE category IN ('toys', 'games')",
     "SELECT name FROM products WHERE category = 'toys' OR category = 'games'"),
])
def test_equivalent_rewrites_of_the_gold_stay_correct_on_its_suite(gold, rewritten):
    # The same query written otherwise gives the gold's outcome on any database: no variant may
    # call it wrong. (A suite that held one would have been built from a variant the gold misreads.)
    built = build_suite(gold, PRODUCTS_CTX)
    assert built.variants
    found = verdict(rewritten, gold, PRODUCTS_CTX, suite=built.variants)
    assert found.correct and found.variants_checked == len(built.variants)


def test_a_gold_that_fails_on_the_shown_database_gets_no_suite():
    # No outcome to fuzz against: the reason says so, and no candidate was even drawn.
    built = build_suite("SELECT nope FROM people", PEOPLE_CTX)
    assert (built.variants, built.reason, built.candidates) == ((), NO_SUITE_GOLD_FAILS, 0)


DML = [
    # Every shown row is USA (or scores under 10): the WHERE-less statement leaves the same state.
    ("UPDATE people SET score = score + 1 WHERE country = 'USA'", "UPDATE people SET score = score + 1"),
    ("DELETE FROM people WHERE score < 10", "DELETE FROM people"),
]


@pytest.mark.parametrize("gold, wrong", DML)
def test_dml_golds_get_suites(gold, wrong):
    # A suite compares the state the statement leaves; DML golds are fuzzed like questions.
    built = build_suite(gold, PEOPLE_CTX)
    assert built.reason == "" and built.variants


@pytest.mark.parametrize("gold, wrong", DML)
def test_a_wrong_dml_that_agrees_on_the_shown_database_is_caught_by_its_state(gold, wrong):
    # Same state on the shown database (correct without a suite); on a variant with a row the
    # WHERE excludes, the wrong statement changes it too.
    assert verdict(wrong, gold, PEOPLE_CTX).correct
    found = verdict(wrong, gold, PEOPLE_CTX, suite=build_suite(gold, PEOPLE_CTX).variants)
    assert found.kind == SHOWN_DATA_ONLY


@pytest.mark.parametrize("max_variants", [1, 2, 3])
def test_a_suite_never_exceeds_max_variants(max_variants):
    # The default suite of this gold is larger than each cap (so the cap is what binds).
    assert len(build_suite(USA_GOLD, PEOPLE_CTX).variants) > max_variants
    assert 1 <= len(build_suite(USA_GOLD, PEOPLE_CTX, max_variants=max_variants).variants) <= max_variants


@pytest.mark.parametrize("gold", [USA_GOLD, "SELECT COUNT(*) FROM people", "DELETE FROM people WHERE score < 10",
                                  "SELECT name FROM people ORDER BY score LIMIT 1"])
def test_a_default_suite_holds_at_most_max_variants(gold):
    # The default cap, over golds of different shapes.
    assert 1 <= len(build_suite(gold, PEOPLE_CTX).variants) <= MAX_VARIANTS


# --- the verdict on a suite ---------------------------------------------------------------------

SUM_CTX = "CREATE TABLE t (id INT, x INT); INSERT INTO t VALUES (1, 5), (2, 7);"
SUM_GOLD = "SELECT SUM(x) FROM t"
NEGATIVE_ROWS = tuple(f"-- negative {i}\nINSERT INTO t VALUES ({10 + i}, {-5 - i});" for i in range(3))


@pytest.fixture
def ran_on(monkeypatch) -> Counter:
    """(context, SQL) of every text run on an example database."""
    counted: Counter = Counter()
    real_run = ExampleDatabase.run

    def spy(self, sql, **kwargs):
        counted[(self.context, sql)] += 1
        return real_run(self, sql, **kwargs)

    rewards.clear_caches()
    monkeypatch.setattr(ExampleDatabase, "run", spy)
    return counted


def _variants_run(counted: Counter, sql: str) -> list[str]:
    return [ctx for (ctx, text) in counted if text == sql and ctx != SUM_CTX]


def test_an_answer_wrong_on_the_shown_database_never_runs_on_the_variants(ran_on):
    # MAX(x) is already wrong on the shown database: the suite is not looked at.
    assert verdict("SELECT MAX(x) FROM t", SUM_GOLD, SUM_CTX, suite=NEGATIVE_ROWS).kind == "wrong_result"
    assert ran_on[(SUM_CTX, "SELECT MAX(x) FROM t")] == 1
    assert _variants_run(ran_on, "SELECT MAX(x) FROM t") == []


def test_an_answer_right_on_the_shown_database_runs_on_every_variant(ran_on):
    # The control of the test above: a correct answer runs once on each database of the suite.
    right = "SELECT SUM(x) AS total FROM t"
    found = verdict(right, SUM_GOLD, SUM_CTX, suite=NEGATIVE_ROWS)
    assert found.correct and found.variants_checked == len(NEGATIVE_ROWS)
    assert sorted(_variants_run(ran_on, right)) == sorted(variant_context(SUM_CTX, d) for d in NEGATIVE_ROWS)


def test_the_verdict_stops_at_the_first_mismatching_variant(ran_on):
    # Ignoring negative numbers agrees on the shown database and differs on the first variant:
    # variants 2 and 3 are never run.
    agreeing = "SELECT SUM(x) FROM t WHERE x > 0"
    found = verdict(agreeing, SUM_GOLD, SUM_CTX, suite=NEGATIVE_ROWS)
    assert found.kind == SHOWN_DATA_ONLY and found.variants_checked == 0
    assert _variants_run(ran_on, agreeing) == [variant_context(SUM_CTX, NEGATIVE_ROWS[0])]


def _slow_on_variants(count_to: int) -> str:
    """COUNT(*) of t, after counting to `count_to` when t has more than its 2 shown rows."""
    return ("WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < "
            f"CASE WHEN (SELECT COUNT(*) FROM t) > 2 THEN {count_to} ELSE 1 END) "
            "SELECT COUNT(*) FROM t WHERE (SELECT MAX(n) FROM r) > 0")


COUNT_GOLD = "SELECT COUNT(*) FROM t"
MANY_VARIANTS = tuple(f"-- one more row {i}\nINSERT INTO t VALUES ({10 + i}, {i});" for i in range(40))
SMALL_TIMEOUT_S = 0.5  # the per-query limit of the private executor below
BUDGET_MARGIN_S = 1.0  # building the variants and scheduling noise, on top of the budget


@pytest.fixture
def small_timeout(monkeypatch) -> SQLExecutor:
    """The verdict's executor replaced by a private one with a short per-query limit."""
    executor = SQLExecutor("sqlite", timeout_s=SMALL_TIMEOUT_S)
    monkeypatch.setattr(verdict_module, "executor_for", lambda backend: executor)
    verdict_module.clear_gold_caches()
    return executor


def test_one_time_budget_bounds_an_answer_slow_on_every_variant(small_timeout):
    # Each variant alone takes ~0.6 of the per-query limit and gives the right count, so nothing
    # stops the answer but the budget: 40 of them would take ~12 s, the budget is 2 limits.
    roomy = SQLExecutor("sqlite", timeout_s=30)
    probe = roomy.run(_slow_on_variants(20_000), variant_context(SUM_CTX, MANY_VARIANTS[0]))
    assert probe.ok and probe.rows == ((3,),)
    count_to = max(int(20_000 * 0.6 * SMALL_TIMEOUT_S / probe.elapsed_s), 20_000)
    slow = _slow_on_variants(count_to)
    budget = BUDGET_QUERY_LIMITS * SMALL_TIMEOUT_S
    assert len(MANY_VARIANTS) * 0.6 * SMALL_TIMEOUT_S > budget + BUDGET_MARGIN_S  # unbudgeted, this fails
    start = time.monotonic()
    found = verdict(slow, COUNT_GOLD, SUM_CTX, suite=MANY_VARIANTS)
    elapsed = time.monotonic() - start
    assert found.kind == SHOWN_DATA_ONLY and found.shown_correct
    assert found.variants_checked < len(MANY_VARIANTS)
    assert elapsed <= budget + BUDGET_MARGIN_S


def test_a_verdict_cut_by_a_timeout_is_not_cacheable(small_timeout):
    # Counting to 10^12 never ends within the limit on a variant: the answer may only have met
    # a busy machine, so caches must try it again.
    found = verdict(_slow_on_variants(10**12), COUNT_GOLD, SUM_CTX, suite=MANY_VARIANTS[:3])
    assert found.kind == SHOWN_DATA_ONLY and "timeout" in found.error
    assert found.cacheable is False


def test_a_verdict_told_apart_by_a_variant_is_cacheable():
    # The control: a mismatch on a variant is a fact about the answer, and is kept.
    found = verdict("SELECT SUM(x) FROM t WHERE x > 0", SUM_GOLD, SUM_CTX, suite=NEGATIVE_ROWS)
    assert found.kind == SHOWN_DATA_ONLY and found.cacheable is True


# --- the execution reward with a test_suite column ----------------------------------------------

def _trl_call(completions: list[str], **columns) -> list:
    # TRL passes every dataset column as a keyword list, besides prompts and completion ids.
    n = len(completions)
    return execution_reward(completions=completions, prompts=["Who is from the USA?"] * n,
                            completion_ids=[[1, 2, 3]] * n, sql=[USA_GOLD] * n, sql_context=[PEOPLE_CTX] * n,
                            **columns)


def test_the_execution_reward_gives_full_credit_only_on_every_variant():
    # The gold rewritten: 1.0. The WHERE-less neighbour, right on the shown data only: 0.1.
    suite = list(build_suite(USA_GOLD, PEOPLE_CTX).variants)
    completions = [answer("SELECT p.name FROM people p WHERE p.country = 'USA'"), answer(NO_WHERE)]
    assert _trl_call(completions, test_suite=[suite, suite]) == [EXEC_MATCH, EXEC_RAN_WRONG]


def test_a_record_without_a_test_suite_is_scored_on_the_shown_database():
    # No column (or an empty suite): the WHERE-less neighbour is indistinguishable, as before.
    completions = [answer("SELECT p.name FROM people p WHERE p.country = 'USA'"), answer(NO_WHERE)]
    assert _trl_call(completions) == [EXEC_MATCH, EXEC_MATCH]
    assert _trl_call(completions, test_suite=[[], []]) == [EXEC_MATCH, EXEC_MATCH]


@pytest.fixture(scope="module")
def hostile_suite() -> list[str]:
    """The suite of the hostile corpus's record; the corpus's correct answer passes on it."""
    suite = list(build_suite(HOSTILE_GOLD, HOSTILE_CTX).variants)
    assert suite
    assert verdict(parse_answer(HOSTILE_CORRECT).sql, HOSTILE_GOLD, HOSTILE_CTX, suite=tuple(suite)).correct
    return suite


@pytest.mark.parametrize("name", [n for n, _ in HOSTILE])
def test_a_hostile_completion_with_a_suite_returns_within_the_budget(name, hostile_suite, tmp_path, monkeypatch):
    # Whatever a completion does on the shown database and the variants, its runs share one
    # budget of BUDGET_QUERY_LIMITS per-query limits; the correct answer beside it still gets 1.0.
    monkeypatch.chdir(tmp_path)
    hostile = dict(HOSTILE)[name]
    if isinstance(hostile, str):
        hostile = hostile.replace("{TARGET}", str(tmp_path / "pwned.db"))
    start = time.monotonic()
    scores = execution_reward([hostile, HOSTILE_CORRECT], sql=[HOSTILE_GOLD] * 2, sql_context=[HOSTILE_CTX] * 2,
                              test_suite=[hostile_suite] * 2)
    elapsed = time.monotonic() - start
    assert elapsed <= BUDGET_QUERY_LIMITS * QUERY_TIMEOUT_S + TIME_MARGIN_S
    assert scores[1] == EXEC_MATCH and scores[0] in (0.0, EXEC_RAN_WRONG, EXEC_MATCH)


# --- attach_suites and prepare -----------------------------------------------------------------

BIG_CTX = ("CREATE TABLE n (id INT PRIMARY KEY, v INT); INSERT INTO n SELECT x, x % 7 FROM "
           f"(WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r WHERE x < {MAX_TABLE_ROWS + 1}) "
           "SELECT x FROM r);")


def _records() -> list[dict]:
    return [
        {"id": "usa", "sql": USA_GOLD, "sql_context": PEOPLE_CTX},  # a suite
        {"id": "count", "sql": "SELECT COUNT(*) FROM people", "sql_context": PEOPLE_CTX},  # a suite
        {"id": "broken", "sql": "SELECT nope FROM people", "sql_context": PEOPLE_CTX},  # gold_fails
        {"id": "big", "sql": "SELECT id FROM n WHERE v = 3", "sql_context": BIG_CTX},  # not_fuzzable
        {"id": "file", "sql": USA_GOLD, "sql_context": PEOPLE_CTX, "db_path": "bird/dev.sqlite"},  # a file
    ]


def test_attach_suites_counts_records_with_and_without_suites_and_why():
    # Two suites, three records without one, each for its own reason.
    records = _records()
    section = attach_suites(records, workers=1, progress=False)
    assert (section["records_with_suite"], section["records_without_suite"]) == (2, 3)
    assert section["no_suite"] == {NO_SUITE_GOLD_FAILS: 1, NO_SUITE_NOT_FUZZABLE: 1, NO_SUITE_FILE_DATABASE: 1}
    assert sum(section["variants_per_record"].values()) == len(records)
    assert [bool(r[TEST_SUITE_FIELD]) for r in records] == [True, True, False, False, False]


def test_attach_suites_disabled_gives_every_record_an_empty_suite():
    # --no-test-suite: nothing is built, every record says why.
    records = _records()
    section = attach_suites(records, enabled=False, workers=1, progress=False)
    assert [r[TEST_SUITE_FIELD] for r in records] == [[]] * len(records)
    assert section["no_suite"] == {NO_SUITE_DISABLED: len(records)} and section["records_with_suite"] == 0


def test_a_record_with_a_database_file_gets_no_suite():
    # Its gold and context would get a suite (the first record); its database is a file, so not.
    records = [_records()[0], _records()[-1]]
    section = attach_suites(records, workers=1, progress=False)
    assert records[0][TEST_SUITE_FIELD] and records[1][TEST_SUITE_FIELD] == []
    assert section["no_suite"] == {NO_SUITE_FILE_DATABASE: 1}


PETS_CTX = ("CREATE TABLE pets (id INT, name TEXT, kind TEXT); "
            "INSERT INTO pets VALUES (1, 'Rex', 'dog'), (2, 'Tom', 'cat');")
REX_GOLD = "SELECT name FROM pets WHERE kind = 'dog' AND name = 'Rex'"
PETS_ROWS = [{"sql_prompt": "How many dogs?", "sql_context": PETS_CTX, "sql": "SELECT COUNT(*) FROM pets WHERE kind = 'dog'"},
             {"sql_prompt": "Names of cats?", "sql_context": PETS_CTX, "sql": "SELECT name FROM pets WHERE kind = 'cat'"},
             {"sql_prompt": "Is Rex a dog?", "sql_context": PETS_CTX, "sql": REX_GOLD}]


def _prepare(tmp_path: Path, **options) -> tuple[dict, list[dict], dict]:
    source = tmp_path / "pets.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in PETS_ROWS), encoding="utf-8")
    out = tmp_path / "out"
    report = prepare(PrepareOptions(input=str(source), output_dir=str(out), eval_fraction=0.0, **options),
                     progress=False)
    records = [json.loads(line) for name in (paths.TRAIN_FILE_NAME, paths.EVAL_FILE_NAME)
               for line in (out / name).read_text(encoding="utf-8").splitlines() if line.strip()]
    written = json.loads((out / paths.PREPARE_REPORT_NAME).read_text(encoding="utf-8"))
    return report, records, written


def test_prepare_writes_a_suite_into_every_clean_record(tmp_path):
    # Every kept record carries the column, these all with variants, and the written report
    # has the section.
    _, records, written = _prepare(tmp_path)
    assert len(records) == len(PETS_ROWS)
    assert all(r[TEST_SUITE_FIELD] for r in records)
    assert written["test_suites"]["records_with_suite"] == len(PETS_ROWS)


def test_prepare_without_test_suites_writes_empty_suites(tmp_path):
    # PrepareOptions(test_suite=False) is --no-test-suite: the column is there, and empty.
    _, records, written = _prepare(tmp_path, test_suite=False)
    assert [r[TEST_SUITE_FIELD] for r in records] == [[]] * len(PETS_ROWS)
    assert written["test_suites"]["enabled"] is False
    assert written["test_suites"]["no_suite"] == {NO_SUITE_DISABLED: len(PETS_ROWS)}


def test_a_prepared_suite_reaches_the_reward(tmp_path):
    # From the written file, as TRL reads the column (a JSON list): on the shown database the one
    # dog is Rex, so leaving out the name filter agrees; the record's suite tells it apart.
    _, records, _ = _prepare(tmp_path)
    record = next(r for r in records if r["sql"] == REX_GOLD)
    completions = [answer("SELECT name FROM pets WHERE name = 'Rex' AND kind = 'dog'"),
                   answer("SELECT name FROM pets WHERE kind = 'dog'")]
    scores = execution_reward(completions, sql=[record["sql"]] * 2, sql_context=[record["sql_context"]] * 2,
                              test_suite=[record[TEST_SUITE_FIELD]] * 2)
    assert scores == [EXEC_MATCH, EXEC_RAN_WRONG]


def test_a_database_file_gets_no_suite_even_when_asked_directly(tmp_path):
    # A file is never copied per variant: build_suite names the reason instead of fuzzing it.
    from sqlgrpo.sql import file_context
    assert build_suite("SELECT 1", file_context(tmp_path / "db.sqlite")).reason == NO_SUITE_FILE_DATABASE
