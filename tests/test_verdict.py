"""The one verdict (`sqlgrpo.scoring.verdict`) and what is built on it: the execution reward,
eval's per-answer records and rates, the held-out check, the near-miss verification.

Real SQLite throughout; an executor spy counts how often each answer really runs.
"""

from __future__ import annotations


import pytest

from sqlgrpo.scoring import near_misses as near_miss_module
from sqlgrpo.scoring import rewards
from sqlgrpo.scoring import verdict as verdict_module
from sqlgrpo.scoring.answers import parse_answer
from sqlgrpo.scoring.metrics import METRICS, SHAPE_FEATURES, compute_metrics, heldout_metrics, score_records
from sqlgrpo.scoring.near_misses import near_misses
from sqlgrpo.scoring.rewards import execution_reward
from sqlgrpo.scoring.verdict import (CORRECT, EXEC_FAILED, EXEC_MATCH, EXEC_RAN_WRONG, GOLD_FAILED, NO_SQL,
                                     WRONG_RESULT, WRONG_STATEMENT_KIND, verdict, verdicts)
from sqlgrpo.stages.eval import score_generations

CTX = ("CREATE TABLE pets (id INTEGER PRIMARY KEY, name TEXT, species TEXT, age INTEGER); "
       "INSERT INTO pets VALUES (1, 'Rex', 'dog', 3), (2, 'Tom', 'cat', 5), (3, 'Bo', 'dog', 8);")
GOLD = "SELECT name, age FROM pets WHERE species = 'dog'"
ORDERED_GOLD = "SELECT name FROM pets ORDER BY age DESC"
RECORD = {"id": "dogs", "sql_prompt": "Name and age of every dog?", "sql_context": CTX, "sql": GOLD}


def answer(sql: str) -> str:
    return f"<reasoning>\nThe pets table holds name, age and species.\n</reasoning>\n<sql>\n{sql}\n</sql>"


# --- the verdict itself ---------------------------------------------------------------------

@pytest.mark.parametrize("sql, score, kind", [
    # Other aliases, columns swapped: Spider semantics call it the same answer.
    ("SELECT age AS a, name AS n FROM pets WHERE species = 'dog'", EXEC_MATCH, CORRECT),
    # Runs, but returns the cat.
    ("SELECT name, age FROM pets WHERE species = 'cat'", EXEC_RAN_WRONG, WRONG_RESULT),
    # Deleting the dogs does not answer "which dogs", whatever it returns.
    ("DELETE FROM pets WHERE species = 'dog'", EXEC_FAILED, WRONG_STATEMENT_KIND),
    # The engine's own error kind for SQL that does not run.
    ("SELECT name, colour FROM pets", EXEC_FAILED, "missing_column"),
    ("SELECT name FRM pets", EXEC_FAILED, "syntax"),
    (None, EXEC_FAILED, NO_SQL),
])
def test_verdict_scores_and_names_each_outcome(sql, score, kind):
    found = verdict(sql, GOLD, CTX)
    assert (found.score, found.kind) == (score, kind)
    assert found.correct is (kind == CORRECT)


def test_strict_correctness_needs_the_columns_in_order():
    # Columns swapped: correct by test-suite semantics, not by BIRD's strict sets.
    swapped = verdict("SELECT age, name FROM pets WHERE species = 'dog'", GOLD, CTX)
    assert swapped.correct and not swapped.strict_correct
    assert verdict("SELECT name, age FROM pets WHERE species = 'dog'", GOLD, CTX).strict_correct


def test_row_order_counts_only_when_the_gold_orders():
    # The same names in the other order: wrong against an ORDER BY gold, right against a plain one.
    ascending = "SELECT name FROM pets ORDER BY age"
    assert verdict(ascending, ORDERED_GOLD, CTX).kind == WRONG_RESULT
    assert verdict(ascending, "SELECT name FROM pets", CTX).correct


def test_a_gold_that_fails_judges_nothing_but_the_answer_still_runs():
    # No gold outcome: score None (never a fake 0); the answer's own result is still known.
    found = verdict("SELECT name FROM pets", "SELECT nope FROM pets", CTX)
    assert found.score is None and found.kind == GOLD_FAILED and found.ran
    assert verdict(None, "SELECT nope FROM pets", CTX).score is None


def test_the_outcome_key_groups_answers_with_the_same_rows():
    a = verdict("SELECT name, age FROM pets WHERE species = 'dog'", GOLD, CTX)
    b = verdict("SELECT age, name FROM pets WHERE age <> 5", GOLD, CTX)
    c = verdict("SELECT name, age FROM pets", GOLD, CTX)
    assert a.outcome == b.outcome != c.outcome
    assert verdict(None, GOLD, CTX).outcome is None


# --- each answer runs once ------------------------------------------------------------------

def test_each_eval_answer_runs_once(runs):
    # The eval stage scores every answer (accuracy, strict accuracy, outcome, the training
    # rewards of mean_reward) from one execution of it; the gold runs once for all of them.
    answers = ["SELECT name, age FROM pets WHERE species = 'dog'", "SELECT name FROM pets",
               "SELECT name, age FROM pets WHERE species = 'cat'", "DELETE FROM pets"]
    records = [{**RECORD, "id": f"q{i}"} for i in range(2)]
    generations = [{"outputs": [answer(answers[0]), answer(answers[1])]},
                   {"outputs": [answer(answers[2]), answer(answers[3])]}]
    results, metrics = score_generations(records, generations, "sqlite", dict(rewards.DEFAULT_WEIGHTS))
    assert {sql: runs[sql] for sql in answers} == dict.fromkeys(answers, 1)
    assert runs[GOLD] == 1
    assert metrics["execution_accuracy_count"] == 1 and metrics["mean_reward"] is not None


def test_a_group_repeating_an_answer_runs_it_once(runs):
    # A GRPO group of four with one answer three times: two executions, four scores.
    texts = [answer("SELECT name FROM pets")] * 3 + [answer("SELECT age FROM pets")]
    scores = execution_reward(texts, sql=[GOLD] * 4, sql_context=[CTX] * 4)
    assert scores == [EXEC_RAN_WRONG] * 4
    assert runs["SELECT name FROM pets"] == 1 and runs["SELECT age FROM pets"] == 1


def test_the_gold_text_itself_is_not_run_again(runs):
    # The gold's own text (up to whitespace and a final semicolon) is the gold's program.
    found = verdict(GOLD + " ;", GOLD, CTX)
    assert found.correct and found.prediction.rows
    assert runs[GOLD] == 1 and runs[GOLD + " ;"] == 0


# --- one definition for reward, eval and held-out -------------------------------------------

MIXED = [answer(GOLD), answer("SELECT name FROM pets"), "no SQL at all", answer("SELECT colour FROM pets"),
         "SELECT name, age FROM pets WHERE species = 'dog'"]


def test_the_execution_reward_is_the_verdict_score():
    expected = [v.score for v in verdicts([(parse_answer(t).sql, GOLD, CTX, "sqlite") for t in MIXED])]
    assert execution_reward(MIXED, sql=[GOLD] * len(MIXED), sql_context=[CTX] * len(MIXED)) == expected
    assert expected == [EXEC_MATCH, EXEC_RAN_WRONG, EXEC_FAILED, EXEC_FAILED, EXEC_MATCH]


def test_heldout_rates_are_eval_rates_over_every_answer():
    # Two right of five (one without SQL, one that fails): 2/5 by both, never 2/3 or 2/4.
    records = [RECORD] * len(MIXED)
    scored = [samples[0] for samples in score_records(records, [[t] for t in MIXED])]
    evaluated = compute_metrics(scored)
    held = heldout_metrics(MIXED, records)
    # No suite in these records: test-suite accuracy is plain execution accuracy.
    # Three run (the gold, a wrong one, the bare gold); one names a column pets does not have.
    rates = {"execution_accuracy": 0.4, "test_suite_accuracy": 0.4, "valid_sql_rate": 0.6,
             "format_compliance": evaluated["format_compliance"], "missing_column_rate": 0.2}
    assert {k: held[k] for k in rates} == rates
    assert evaluated["execution_accuracy"] == 0.4 and evaluated["valid_sql_rate"] == 0.6
    assert evaluated["error_taxonomy"]["missing_column"] == 1
    assert set(rates) - {"missing_column_rate"} <= set(METRICS)
    # Neither the gold nor any answer joins, aggregates, groups or orders.
    assert {k: v for k, v in held.items() if k not in rates} == {f"{side}{name}_rate": 0.0 for name in SHAPE_FEATURES
                                                                 for side in ("", "gold_")}


def test_heldout_and_eval_count_the_answers_shapes_beside_the_golds():
    # A drift into lookups that run: valid SQL up, the gold's aggregates and GROUP BY gone.
    grouped = {"sql": "SELECT species, COUNT(*) FROM pets GROUP BY species ORDER BY species", "sql_context": CTX}
    failing = {"sql": "SELECT nope FROM pets", "sql_context": CTX}  # not scored: neither side is counted
    texts = [answer("SELECT species, COUNT(*) FROM pets GROUP BY species"), answer("SELECT name FROM pets WHERE age = 3"),
             "no SQL at all", answer("SELECT p.name FROM pets p JOIN pets q ON p.age = q.age GROUP BY p.name")]
    records = [grouped, grouped, grouped, failing]
    held = heldout_metrics(texts, records)
    assert {k: round(v, 4) for k, v in held.items() if k.split("_")[0] in ("join", "aggregate", "group", "order", "gold")} == {
        "join_rate": 0.0, "aggregate_rate": 0.3333, "group_by_rate": 0.3333, "order_by_rate": 0.0,
        "gold_join_rate": 0.0, "gold_aggregate_rate": 1.0, "gold_group_by_rate": 1.0, "gold_order_by_rate": 1.0}
    scored = [samples[0] | {"gold": r["sql"]} for samples, r in zip(score_records(records, [[t] for t in texts]), records)]
    shapes = compute_metrics(scored)["answer_shapes"]
    assert shapes == {"n": 3, "join": {"answers": 0, "golds": 0}, "aggregate": {"answers": 1, "golds": 3},
                      "group_by": {"answers": 1, "golds": 3}, "order_by": {"answers": 0, "golds": 3}}


def test_every_kept_near_miss_was_judged_wrong_by_the_verdict(monkeypatch):
    # The near-miss verification asks the verdict; each kept candidate ran and was not correct.
    judged = {}
    real = verdict_module.verdict

    def spy(pred_sql, gold, context, backend="sqlite", suite=()):
        judged[pred_sql] = real(pred_sql, gold, context, backend, suite)
        return judged[pred_sql]

    monkeypatch.setattr(near_miss_module, "verdict", spy)
    misses = near_misses("SELECT SUM(age) FROM pets WHERE species = 'dog'", CTX)
    assert misses
    assert all(judged[m["sql"]].ran and not judged[m["sql"]].correct for m in misses)


def test_a_candidate_the_verdict_calls_correct_is_never_a_near_miss(monkeypatch):
    # With a verdict that finds every candidate correct, nothing is verified as a negative.
    real = verdict_module.verdict
    monkeypatch.setattr(near_miss_module, "verdict",
                        lambda pred, gold, ctx, backend="sqlite", suite=(): real(gold, gold, ctx, backend, suite))
    assert near_misses("SELECT SUM(age) FROM pets WHERE species = 'dog'", CTX) == []
