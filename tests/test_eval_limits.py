"""The eval stage's per-query time limit on answers (`query_timeout_s`): BIRD's official
evaluation gives a query 30 s where a rollout gets 2; eval may say which it wants."""

from __future__ import annotations

import pytest

from sqlgrpo.sql import QUERY_TIMEOUT_S, default_executor
from sqlgrpo.stages.eval import EvalError, answer_time_limit, score_generations

CONTEXT = "CREATE TABLE t (x INT); INSERT INTO t VALUES (1), (2);"
# Counts to a million before answering the gold's 3: about a second on SQLite, never instant.
SLOW_RIGHT = ("WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 1000000) "
              "SELECT SUM(x) FROM t WHERE (SELECT max(n) FROM c) > 0")
RECORD = {"id": "q", "sql_prompt": "total of x?", "sql_context": CONTEXT, "sql": "SELECT SUM(x) FROM t"}


def score(timeout_s):
    results, metrics = score_generations([dict(RECORD)], [{"outputs": [f"<sql>{SLOW_RIGHT}</sql>"]}], "sqlite",
                                         {"execution_reward": 1.0}, timeout_s=timeout_s)
    return results[0], metrics


def test_a_short_limit_stops_a_slow_answer():
    # 0.05 s is far below the answer's own time: the limit fires, and the answer is a timeout.
    result, metrics = score(0.05)
    assert result["error_kind"] == "timeout" and metrics["query_timeout_s"] == 0.05


def test_a_long_limit_lets_the_same_answer_finish():
    # With BIRD's 30 s the same answer runs to its end and matches the gold.
    result, metrics = score(30.0)
    assert result["correct"] and metrics["query_timeout_s"] == 30.0


def test_the_limit_is_restored_after_scoring():
    # The process-wide executor is shared with training: eval's limit must not outlive it.
    score(0.05)
    assert default_executor("sqlite").timeout_s == QUERY_TIMEOUT_S


def test_a_limit_that_is_not_positive_is_refused():
    with pytest.raises(EvalError, match="query_timeout_s"):
        with answer_time_limit("sqlite", 0):
            pass
