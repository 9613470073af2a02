"""The eval stage with test suites: execution accuracy (the shown database) beside test-suite
accuracy (every variant too), through the stage's own scoring and writing, without a model.

Every question sums `x` over a two-row table. Its suite is one hand-written variant that adds a
negative row, so that a filter `x > 0` matches the gold on the shown data (1 + 2 = 3) but not on
the variant (3 against the gold's −2). The answers are given as generations, scored by
`score_generations` and written by `write_outputs`, as `evaluate` does after generating.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from html.parser import HTMLParser

import pytest

from sqlgrpo.scoring import rewards
from sqlgrpo.scoring.verdict import EXEC_MATCH, EXEC_RAN_WRONG, SHOWN_DATA_ONLY
from sqlgrpo.sql import ExampleDatabase
from sqlgrpo.stages.eval import CSV_FILE, METRICS_FILE, REPORT_FILE, RESULTS_FILE, score_generations, write_outputs

CONTEXT = "CREATE TABLE t (x INT); INSERT INTO t VALUES (1),(2);"
GOLD = "SELECT SUM(x) FROM t"
SUITE = ["INSERT INTO t VALUES (-5);"]  # a variant the filter below gets wrong
SUMS = {"id": "sums", "sql_prompt": "What is the total of x?", "sql_context": CONTEXT, "sql": GOLD,
        "sql_complexity": "aggregation", "test_suite": SUITE}
WEIGHTS = {"execution_reward": 1.0}


def answer(sql: str) -> dict:
    """A generation of one answer in the trained format."""
    return {"outputs": [f"<reasoning>\nadd up x over t\n</reasoning>\n<sql>\n{sql}\n</sql>"], "tokens": [12],
            "latency_s": [0.1]}


POSITIVE_ONLY = answer("SELECT SUM(x) FROM t WHERE x > 0")  # right on the shown rows only
RIGHT = answer("SELECT SUM(x) AS total FROM t")  # the gold's logic, written otherwise: it runs on the variant


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One question answered with the filter, scored and written as the eval stage writes it."""
    out = tmp_path_factory.mktemp("eval-suite")
    results, metrics = score_generations([dict(SUMS)], [POSITIVE_ONLY], "sqlite", WEIGHTS)
    write_outputs(out, results, metrics)
    return out


def _metrics(run) -> dict:
    return json.loads((run / METRICS_FILE).read_text(encoding="utf-8"))


def test_an_answer_right_on_the_shown_data_only_is_ex_correct_and_ts_wrong(run):
    # 3 = 3 on the shown rows (EX counts it); on the variant 3 ≠ −2 (TS does not).
    metrics = _metrics(run)
    assert (metrics["execution_accuracy"], metrics["execution_accuracy_count"]) == (1.0, 1)
    assert (metrics["test_suite_accuracy"], metrics["test_suite_accuracy_count"]) == (0.0, 0)


def test_both_accuracies_are_given_per_class(run):
    # The one question's class carries the same split as the whole run.
    by_class = _metrics(run)["by_complexity"]["aggregation"]
    assert (by_class["execution_accuracy"], by_class["test_suite_accuracy"]) == (1.0, 0.0)


def test_the_taxonomy_counts_it_as_shown_data_only(run):
    # Not "correct" (a variant disagrees) and not "wrong_result" (the shown data agree).
    assert _metrics(run)["error_taxonomy"] == {SHOWN_DATA_ONLY: 1}


def test_the_execution_reward_is_the_suite_aware_verdict(run):
    # The reward reuses the verdict that judged the variant: a wrong result's 0.1, not a match's 1.0.
    result = json.loads((run / RESULTS_FILE).read_text(encoding="utf-8"))[0]
    assert result["rewards"]["execution_reward"] == EXEC_RAN_WRONG
    assert _metrics(run)["reward_means"]["execution_reward"] == EXEC_RAN_WRONG


def test_the_csv_keeps_both_verdicts(run):
    # A spreadsheet reader sees the split per question: right on the shown data, wrong on the suite.
    with open(run / CSV_FILE, newline="", encoding="utf-8") as f:
        row = next(csv.DictReader(f))
    assert (row["correct"], row["shown_correct"], row["error_kind"]) == ("False", "True", SHOWN_DATA_ONLY)


class _Cards(HTMLParser):
    """The text of each headline card of a report, by its data-metric."""

    def __init__(self, page: str):
        super().__init__(convert_charrefs=True)
        self.cards: dict[str, str] = {}
        self._card: str | None = None
        self._depth = 0
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "div" and self._card is None and attrs.get("data-metric"):
            self._card, self._depth = attrs["data-metric"], 0
            self.cards[self._card] = ""
        if self._card is not None and tag == "div":
            self._depth += 1

    def handle_endtag(self, tag):
        if self._card is not None and tag == "div":
            self._depth -= 1
            if self._depth == 0:
                self.cards[self._card] = " ".join(self.cards[self._card].split())
                self._card = None

    def handle_data(self, data):
        if self._card is not None:
            self.cards[self._card] += " " + data


def test_the_report_shows_test_suite_accuracy_beside_execution_accuracy(run):
    # Two cards, side by side in the headline, with the one question's split and its suite count.
    cards = _Cards((run / REPORT_FILE).read_text(encoding="utf-8")).cards
    assert list(cards).index("test_suite_accuracy") == list(cards).index("execution_accuracy") + 1
    assert cards["execution_accuracy"] == "Execution accuracy 100.0% (1/1)"
    assert cards["test_suite_accuracy"] == "Test-suite accuracy 0.0% (0/1) 1/1 questions had a test suite"


def test_the_gold_s_logic_written_otherwise_passes_the_suite():
    # Control: the suite does not fail everything; an alias changes nothing on either database.
    results, metrics = score_generations([dict(SUMS)], [RIGHT], "sqlite", WEIGHTS)
    assert (metrics["execution_accuracy"], metrics["test_suite_accuracy"]) == (1.0, 1.0)
    assert (results[0]["suite_checked"], results[0]["rewards"]["execution_reward"]) == (1, EXEC_MATCH)


def test_test_suite_records_counts_only_questions_with_a_suite():
    # The second question has an empty suite: judged on the shown rows alone, so its filter is
    # correct there, and it is not counted among the questions with a suite.
    plain = {**SUMS, "id": "plain", "test_suite": []}
    _, metrics = score_generations([dict(SUMS), plain], [POSITIVE_ONLY, POSITIVE_ONLY], "sqlite", WEIGHTS)
    assert metrics["test_suite_records"] == 1
    assert (metrics["execution_accuracy"], metrics["test_suite_accuracy"]) == (1.0, 0.5)


def test_an_answer_runs_once_per_database_of_its_suite(monkeypatch):
    # Scoring with every training reward: the filter runs on the shown database and on the one
    # variant, inside the verdict; the rewards (execution's included) reuse that verdict.
    counted: Counter = Counter()
    real_run = ExampleDatabase.run

    def spy(self, sql, **kwargs):
        counted[sql] += 1
        return real_run(self, sql, **kwargs)

    monkeypatch.setattr(ExampleDatabase, "run", spy)
    sql = "SELECT SUM(x) FROM t WHERE x >= 1"  # a text no other test runs: no cache hides a run
    weights = {**rewards.DEFAULT_WEIGHTS, "executable_reward": 1.0, "result_similarity_reward": 1.0}  # off the verdict
    score_generations([dict(SUMS)], [answer(sql)], "sqlite", weights)
    assert counted[sql] == 2
