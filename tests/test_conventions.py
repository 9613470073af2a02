"""The comparison conventions by name (`sqlgrpo.scoring.matching.MATCH_CONVENTIONS`): Spider's and
BIRD's official execution match next to ours, through the one verdict and the eval's records.

Real SQLite throughout, on gretel-like records (a CREATE + INSERT context): a `pets` table with
two dogs, so that DISTINCT, duplicates and row order change results.
"""

from __future__ import annotations

import dataclasses

import pytest

from sqlgrpo.scoring.matching import (MATCH_CONVENTIONS, bird_results_match, check_convention, remove_distinct,
                                      spider_order_matters, spider_results_match)
from sqlgrpo.scoring.metrics import DIFFICULTY_ORDER, compute_metrics, score_questions, score_records
from sqlgrpo.scoring.verdict import (CORRECT, GOLD_FAILED, NOT_AS_WRITTEN, SHOWN_DATA_ONLY, WRONG_RESULT,
                                     verdict)
from sqlgrpo.sql import execute
from sqlgrpo.stages.config import ConfigError, EvalConfig, resolve

CTX = ("CREATE TABLE pets (id INTEGER PRIMARY KEY, name TEXT, species TEXT, age INTEGER); "
       "INSERT INTO pets VALUES (1, 'Rex', 'dog', 3), (2, 'Tom', 'cat', 5), (3, 'Bo', 'dog', 8);")


def kinds(pred: str, gold: str, context: str = CTX, suite: tuple[str, ...] = ()) -> dict[str, str]:
    """The verdict's kind under each convention."""
    return {m: verdict(pred, gold, context, suite=suite, match=m).kind for m in MATCH_CONVENTIONS}


# --- the names ---------------------------------------------------------------------------------

def test_an_unknown_convention_is_named_with_the_valid_ones():
    # A typo must fail at once and say what would have been valid, in the verdict too.
    with pytest.raises(ValueError, match="unknown match convention 'sipder'.*ours, spider, bird"):
        check_convention("sipder")
    with pytest.raises(ValueError, match="sipder"):
        verdict("SELECT 1", "SELECT 1", CTX, match="sipder")


def test_the_eval_flag_offers_exactly_the_conventions():
    # config.py spells the names out (it must not import the scoring layer): they must agree.
    field = next(f for f in dataclasses.fields(EvalConfig) if f.name == "match")
    assert field.default == "ours" and field.metadata["choices"] == MATCH_CONVENTIONS
    assert resolve("eval", overrides={"match": "spider"}).section.match == "spider"
    with pytest.raises(ConfigError, match="match is 'sipder'; expected one of ours, spider, bird"):
        resolve("eval", overrides={"match": "sipder"})


# --- spider: DISTINCT removed from both queries --------------------------------------------------

def test_a_prediction_without_the_golds_distinct_is_right_by_spider_only():
    # The gold lists each species once; the answer lists the dog twice. Spider runs both without
    # DISTINCT (same rows); ours keeps it (two dogs are not one); BIRD compares sets (same set).
    assert kinds("SELECT species FROM pets", "SELECT DISTINCT species FROM pets") == {
        "ours": WRONG_RESULT, "spider": CORRECT, "bird": CORRECT}


def test_a_prediction_with_a_distinct_the_gold_lacks_is_right_by_spider_too():
    # The other way round: the answer's own DISTINCT is removed before it runs.
    assert kinds("SELECT DISTINCT species FROM pets", "SELECT species FROM pets")["spider"] == CORRECT
    assert kinds("SELECT DISTINCT species FROM pets", "SELECT species FROM pets")["ours"] == WRONG_RESULT


def test_distinct_inside_count_is_removed_too():
    # COUNT(DISTINCT species) is 2 and COUNT(species) is 3; without DISTINCT the gold counts 3 as
    # well. BIRD keeps the DISTINCT and sees {(2,)} against {(3,)}.
    assert kinds("SELECT COUNT(species) FROM pets", "SELECT COUNT(DISTINCT species) FROM pets") == {
        "ours": WRONG_RESULT, "spider": CORRECT, "bird": WRONG_RESULT}


def test_without_duplicates_distinct_changes_nothing_under_any_convention():
    # Names are unique: with or without DISTINCT, the same three rows, right everywhere.
    assert set(kinds("SELECT DISTINCT name FROM pets", "SELECT name FROM pets").values()) == {CORRECT}


@pytest.mark.parametrize("sql, expected", [
    # The keyword goes, everything else stays as written (the double space is the official's too).
    ("SELECT DISTINCT name FROM t", "SELECT  name FROM t"),
    ("select count(distinct(name)) from t", "select count((name)) from t"),
    # A string, a quoted identifier and a comment that hold the word are not the keyword.
    ("SELECT 'distinct', \"distinct\" FROM t -- distinct", "SELECT 'distinct', \"distinct\" FROM t -- distinct"),
    ("SELECT distinct_id FROM t", "SELECT distinct_id FROM t"),
    # As the official token rule does, IS NOT DISTINCT FROM loses its DISTINCT (and no longer
    # runs): the official text rule, not a sqlglot tree, is the convention.
    ("SELECT a FROM t WHERE a IS NOT DISTINCT FROM b", "SELECT a FROM t WHERE a IS NOT  FROM b"),
    # Nothing to remove: the very same string; an unclosed quote cannot be tokenized: as written.
    ("SELECT name FROM t", "SELECT name FROM t"),
    ("SELECT 'open FROM t", "SELECT 'open FROM t"),
])
def test_remove_distinct_cuts_only_the_keyword(sql, expected):
    assert remove_distinct(sql) == expected


# --- spider: row order only when the gold's text says "order by" --------------------------------

ORDERED_INSIDE = "SELECT name FROM (SELECT name, age FROM pets ORDER BY age DESC LIMIT 3)"


def test_an_order_by_anywhere_in_the_gold_makes_spider_compare_order():
    # The gold orders only in a subquery (oldest first); the answer lists the same three names
    # youngest first. Ours orders only by a top-level ORDER BY (same multiset: right); Spider's
    # text rule sees "order by" (reversed: wrong); BIRD never looks at order.
    assert kinds("SELECT name FROM pets ORDER BY age", ORDERED_INSIDE) == {
        "ours": CORRECT, "spider": WRONG_RESULT, "bird": CORRECT}


def test_without_order_by_in_the_gold_spider_ignores_row_order():
    # The gold has no ORDER BY: the answer's own order is free.
    assert kinds("SELECT name FROM pets ORDER BY name DESC", "SELECT name FROM pets")["spider"] == CORRECT


@pytest.mark.parametrize("gold, ordered", [
    ("SELECT name FROM pets ORDER BY age", True),
    ("select name from pets order by age", True),
    # The official test is the text "order by": other whitespace between the words is not it.
    ("SELECT name FROM pets ORDER\n BY age", False),
    ("SELECT name FROM pets", False),
])
def test_spider_order_is_a_text_rule(gold, ordered):
    assert spider_order_matters(gold) is ordered


# --- spider: values as Python compares them, columns in any order --------------------------------

def test_spider_compares_values_as_python_does():
    # SQLite's 0.1 + 0.2 is not 0.3 to Python; ours absorbs the float noise.
    assert kinds("SELECT 0.1 + 0.2", "SELECT 0.3") == {"ours": CORRECT, "spider": WRONG_RESULT, "bird": WRONG_RESULT}
    # 3 and 3.0 are equal to Python; the text '3' is not the number 3.
    assert spider_results_match([(3,)], [(3.0,)], order_matters=False)
    assert not spider_results_match([(3,)], [("3",)], order_matters=False)


def test_spider_accepts_columns_in_any_order_and_counts_duplicates():
    gold = [(1, "a"), (1, "a"), (2, "b")]
    # The same rows with the columns swapped and the rows shuffled: equal.
    assert spider_results_match(gold, [("b", 2), ("a", 1), ("a", 1)], order_matters=False)
    # The same set of rows, another multiplicity: not equal.
    assert not spider_results_match(gold, [("a", 1), ("b", 2), ("b", 2)], order_matters=False)
    # Ordered: swapped columns are fine, another row order is not.
    assert spider_results_match(gold, [("a", 1), ("a", 1), ("b", 2)], order_matters=True)
    assert not spider_results_match(gold, [("b", 2), ("a", 1), ("a", 1)], order_matters=True)


def test_two_empty_results_are_equal_to_spider_whatever_their_columns():
    assert spider_results_match([], [], order_matters=True)
    gold, pred = execute("SELECT name FROM pets WHERE age > 99", CTX), execute("SELECT id, age FROM pets WHERE 0", CTX)
    assert gold.ok and pred.ok and len(gold.columns) != len(pred.columns)
    assert kinds("SELECT id, age FROM pets WHERE 0", "SELECT name FROM pets WHERE age > 99")["spider"] == CORRECT


def test_spider_keeps_the_official_quick_rejection_of_mixed_int_and_float_rows():
    # The official sorts each row's values by their text and type before a first comparison:
    # (1, 1.5) becomes (1.5, 1) and (1.0, 1.5) stays, so the two rows, equal to Python, are told
    # apart. Kept so that the numbers are the official ones; a lone value is never affected.
    assert not spider_results_match([(1, 1.5)], [(1.0, 1.5)], order_matters=False)
    assert spider_results_match([(1,)], [(1.0,)], order_matters=False)


# --- bird: sets of rows, columns in order --------------------------------------------------------

def test_bird_ignores_duplicates_and_row_order():
    assert bird_results_match([(1,), (2,)], [(2,), (1,), (2,)])
    # The dogs twice against the distinct species: the same set.
    assert kinds("SELECT species FROM pets", "SELECT DISTINCT species FROM pets")["bird"] == CORRECT


def test_bird_counts_column_order():
    # Ours and Spider accept any order of the columns; BIRD's tuples must be equal as they are.
    assert kinds("SELECT age, name FROM pets", "SELECT name, age FROM pets") == {
        "ours": CORRECT, "spider": CORRECT, "bird": WRONG_RESULT}


# --- the benchmarks' conventions: the shown database, the prediction as written ------------------

def test_the_test_suite_applies_under_ours_only():
    # Right on the shown database (all ages are positive), wrong on the suite's variant with a
    # negative age: ours says so; the benchmarks judge on the shown database only.
    suite = ("INSERT INTO pets VALUES (4, 'Neg', 'dog', -5);",)
    assert kinds("SELECT SUM(age) FROM pets WHERE age > 0", "SELECT SUM(age) FROM pets", suite=suite) == {
        "ours": SHOWN_DATA_ONLY, "spider": CORRECT, "bird": CORRECT}


def test_a_prediction_that_runs_only_transpiled_is_wrong_for_the_benchmarks():
    # `name::TEXT` is PostgreSQL; our executor transpiles it and it runs. The official scripts
    # run the prediction as written on SQLite, where it fails.
    assert execute("SELECT name::TEXT FROM pets", CTX).dialect == "postgres"
    found = kinds("SELECT name::TEXT FROM pets", "SELECT name FROM pets")
    assert found == {"ours": CORRECT, "spider": NOT_AS_WRITTEN, "bird": NOT_AS_WRITTEN}
    assert not verdict("SELECT name::TEXT FROM pets", "SELECT name FROM pets", CTX, match="bird").ran


def test_a_gold_that_fails_is_not_judged_under_any_convention():
    found = {m: verdict("SELECT name FROM pets", "SELECT nope FROM pets", CTX, match=m) for m in MATCH_CONVENTIONS}
    assert {m: (v.score, v.kind) for m, v in found.items()} == dict.fromkeys(MATCH_CONVENTIONS, (None, GOLD_FAILED))


# --- what eval records from it -------------------------------------------------------------------

RECORD = {"id": "species", "sql_prompt": "Which species are there?", "sql_context": CTX,
          "sql": "SELECT DISTINCT species FROM pets", "sql_complexity": "easy"}


def test_correct_follows_the_convention_and_the_reward_stays_ours():
    # Under spider the answer is correct, and execution_accuracy counts it; its execution reward
    # is still ours (0.1: it runs, another outcome), as in training.
    ours, = score_records([RECORD], [["SELECT species FROM pets"]])[0]
    spider, = score_records([RECORD], [["SELECT species FROM pets"]], match="spider")[0]
    assert (ours["correct"], ours["shown_correct"], ours["execution_score"]) == (False, False, 0.1)
    assert (spider["correct"], spider["shown_correct"], spider["execution_score"]) == (True, True, 0.1)
    assert compute_metrics([spider])["execution_accuracy"] == 1.0


def test_n_counts_only_the_questions_whose_gold_runs():
    # Three questions, one with a gold that fails: two are scored, one right of two.
    broken = {**RECORD, "id": "broken", "sql": "SELECT nope FROM pets"}
    answers = ["SELECT DISTINCT species FROM pets", "SELECT name FROM pets", "SELECT species FROM pets"]
    metrics = compute_metrics(score_questions([RECORD, broken, RECORD], [{"outputs": [a]} for a in answers]))
    assert (metrics["n"], metrics["gold_failed"]) == (2, 1)
    assert (metrics["execution_accuracy"], metrics["execution_accuracy_count"]) == (0.5, 1)
    assert GOLD_FAILED not in metrics["error_taxonomy"]
    assert metrics["by_complexity"]["easy"]["n"] == 2


def test_difficulty_classes_come_easiest_first():
    # Spider's ladder in its own order (not alphabetical: extra is the hardest), others after.
    records = [{"sql_complexity": c, "error_kind": "correct", "correct": True} for c in ("extra", "hard", "zzz", "easy")]
    assert list(compute_metrics(records)["by_complexity"]) == ["easy", "hard", "extra", "zzz"]
    assert DIFFICULTY_ORDER.index("extra") > DIFFICULTY_ORDER.index("hard")


def test_a_benchmark_convention_reuses_the_run_of_the_same_text(runs):
    # BIRD runs the answer as written, as ours did for its reward: one execution for both verdicts.
    score_records([RECORD], [["SELECT species FROM pets ORDER BY species"]], match="bird")
    assert runs["SELECT species FROM pets ORDER BY species"] == 1


def test_spider_runs_an_answer_again_only_when_removing_distinct_changed_it(runs):
    # With DISTINCT: ours runs the text as written, Spider the text without it; each once.
    score_records([RECORD], [["SELECT DISTINCT name FROM pets"]], match="spider")
    assert (runs["SELECT DISTINCT name FROM pets"], runs["SELECT  name FROM pets"]) == (1, 1)
    # The gold, too, runs once per form: as written (ours) and without DISTINCT (spider).
    assert (runs[RECORD["sql"]], runs["SELECT  species FROM pets"]) == (1, 1)
