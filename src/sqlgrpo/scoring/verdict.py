"""The one verdict: how an answer's SQL compares with the gold, from executing the answer once.

The metric is the ground truth and the reward is built on it: evaluation's execution accuracy,
strict accuracy, error taxonomy and majority vote (`sqlgrpo.scoring.metrics`), the held-out
check during training, the execution reward (`sqlgrpo.scoring.rewards`), the near-miss
verification of the contrastive stage and the reward audit all read a `Verdict`. Nothing else
runs an answer to judge it.

    >>> ctx = "CREATE TABLE t (x INT); INSERT INTO t VALUES (1), (2);"
    >>> v = verdict("SELECT SUM(x) AS total FROM t", "SELECT SUM(x) FROM t", ctx)
    >>> v.score, v.kind, v.correct, v.prediction.rows
    (1.0, 'correct', True, ((3,),))
    >>> [verdict(s, "SELECT SUM(x) FROM t", ctx).kind for s in ("SELECT MAX(x) FROM t", "DELETE FROM t", None)]
    ['wrong_result', 'wrong_statement_kind', 'no_sql']

With a test suite (`suite`: variants of the database, `sqlgrpo.sql.fuzz`), an answer that
matches on the shown database is run on each variant too, and is correct only when it matches
there as well; one that matches on the shown database alone is `SHOWN_DATA_ONLY`, with the
credit of a wrong result. The variants run only for answers that match on the shown database,
in the suite's order, stopping at the first mismatch, all within one time budget per answer
(`BUDGET_QUERY_LIMITS` times the executor's per-query limit).

    >>> suite = ("INSERT INTO t VALUES (-5);",)
    >>> v = verdict("SELECT SUM(x) FROM t WHERE x > 0", "SELECT SUM(x) FROM t", ctx, suite=suite)
    >>> v.kind, v.score, v.shown_correct
    ('shown_data_only', 0.1, True)

The comparison is `sqlgrpo.scoring.matching.outcomes_match` (test-suite semantics: rows as
multisets, order only when the gold has a top-level ORDER BY, columns in any order, DML by the
state it leaves); strict correctness is BIRD-like (sets of rows, columns in order, numbers by
ours' tolerance; `match="bird"` below is BIRD's official rule itself).
The gold runs once per (backend, context, gold) and is cached; an answer whose text is the
gold's own (up to whitespace and a final semicolon) is the same program and is not run again.

`match` names the comparison (`sqlgrpo.scoring.matching.MATCH_CONVENTIONS`). The default, `ours`,
is all of the above, and the execution reward always uses it. `spider` and `bird` are the
benchmarks' official rules, for evaluation: on the shown database only (no suite), the prediction
run as written (one that runs only once transpiled from another dialect is `NOT_AS_WRITTEN`,
as the benchmark's script would fail on it), Spider's DISTINCT removed from both queries first.

    >>> dup = "CREATE TABLE t (x INT); INSERT INTO t VALUES (1), (1), (2);"
    >>> [verdict("SELECT x FROM t", "SELECT DISTINCT x FROM t", dup, match=m).kind for m in ("ours", "spider")]
    ['wrong_result', 'correct']
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from sqlgrpo.common.cache import LRUCache
from sqlgrpo.common.text import statement_key
from sqlgrpo.scoring.matching import (OURS, SPIDER, check_convention, convention_outcomes_match, modifies,
                                     outcome_key, outcome_similarity, outcomes_match, remove_distinct,
                                     spider_order_matters)
from sqlgrpo.sql import AS_WRITTEN, BACKENDS, GOLD_TIMEOUT_S, ErrorKind, ExecResult, SQLExecutor, default_executor
from sqlgrpo.sql.analysis import is_ordered, parse_any
from sqlgrpo.sql.fuzz import variant_context

log = logging.getLogger(__name__)

# Scores (the execution reward's values; named so that tests, docs and the audit speak of them).
EXEC_MATCH = 1.0  # same outcome as the gold
EXEC_RAN_WRONG = 0.1  # runs, same kind of statement, different outcome: better than broken SQL
EXEC_FAILED = 0.0  # no SQL, does not run, or a statement of another kind than the gold's

# Kinds of verdict besides the executor's error kinds (`sqlgrpo.sql.ErrorKind`).
CORRECT = "correct"
WRONG_RESULT = "wrong_result"
WRONG_STATEMENT_KIND = "wrong_statement_kind"  # DML for a question, a SELECT for an update
NO_SQL = "no_sql"
GOLD_FAILED = "gold_failed"  # the answer ran, the gold did not: nothing to compare with
SHOWN_DATA_ONLY = "shown_data_only"  # the gold's outcome on the shown database, not on a variant of it
NOT_AS_WRITTEN = "not_as_written"  # runs only transpiled from another dialect: a benchmark's script runs it as written

GOLD_CACHE_SIZE = 4_096  # gold outcomes and parsed golds kept across steps
PARALLEL_MIN_ANSWERS = 4  # fewer distinct answers than this: threads cost more than they save
BUDGET_QUERY_LIMITS = 2  # one answer's time on all the databases of its suite, in per-query
# limits: nine databases must not mean nine times the limit for one rollout

Suite = tuple[str, ...]  # variants of the shown database, as `sqlgrpo.sql.fuzz` writes them
Item = tuple  # (answer SQL or None, gold, context, backend[, suite])


@dataclass(frozen=True)
class Verdict:
    """One answer against its gold.

    `score` is EXEC_MATCH, EXEC_RAN_WRONG or EXEC_FAILED, None when the gold fails. `kind` is
    CORRECT, WRONG_RESULT, WRONG_STATEMENT_KIND, NO_SQL, GOLD_FAILED or the executor's error kind
    of an answer that did not run; `error` says it in words. `prediction` is the answer's
    execution (None without SQL); `gold` the gold's, when the two could be compared. `cacheable`
    is False when the verdict may only reflect a busy machine (a timeout), so that caches try
    again.
    """

    score: float | None
    kind: str
    error: str = ""
    prediction: ExecResult | None = None
    same_kind: bool = False  # both ran, and both modify the database or neither does
    cacheable: bool = True
    shown_correct: bool = False  # the gold's outcome on the shown database (plain execution match)
    variants_checked: int = 0  # suite variants the answer matched on
    gold: ExecResult | None = field(default=None, repr=False, compare=False)  # for strict_correct

    @property
    def correct(self) -> bool:
        return self.score == EXEC_MATCH

    @property
    def ran(self) -> bool:
        """Whether the answer's SQL ran (whatever its outcome); under a benchmark's convention, as
        written."""
        return self.prediction is not None and self.prediction.ok and self.kind != NOT_AS_WRITTEN

    @functools.cached_property
    def strict_correct(self) -> bool:
        """Correct by a BIRD-like rule too: the same set of rows, columns in the same order (row
        order never counts), numbers within ours' tolerance. Computed when asked: the reward never
        needs it."""
        return self.same_kind and self.gold is not None and outcomes_match(self.gold, self.prediction, strict=True)

    @functools.cached_property
    def result_similarity(self) -> float | None:
        """How close the answer's outcome on the shown database comes to the gold's
        (`outcome_similarity`): 1.0 when it is the gold's there (a suite's variants aside), 0.0
        for an answer that did not run or is of another kind, None when the gold fails."""
        if self.score is None:
            return None
        if self.shown_correct:
            return 1.0
        if not self.same_kind or self.gold is None or self.prediction is None:
            return 0.0
        return outcome_similarity(self.gold, self.prediction)

    @functools.cached_property
    def outcome(self) -> tuple | None:
        """The answer's outcome as a hashable key for majority voting; None when it did not run."""
        return outcome_key(self.prediction) if self.prediction is not None else None


# --------------------------------------------------------------------------------------------
# The gold, run once

_GOLD_OUTCOMES = LRUCache(GOLD_CACHE_SIZE)
_GOLD_TREES = LRUCache(GOLD_CACHE_SIZE)


def executor_for(backend: str | None) -> SQLExecutor:
    """The process-wide executor of a backend (SQLite for anything unknown: a reward column
    holding junk must not raise)."""
    return default_executor(backend if backend in BACKENDS else "sqlite")


def gold_outcome(gold: str, context: str, backend: str = "sqlite") -> ExecResult:
    """The gold's execution, computed once per (backend, context, gold) and cached."""
    # A gold that timed out may only have met a busy machine: try it again next time.
    return _GOLD_OUTCOMES.get_or_compute((backend, context, gold),
                                         lambda: executor_for(backend).run(gold, context, timeout_s=GOLD_TIMEOUT_S),
                                         keep=lambda result: not result.timed_out)


def gold_trees(gold: str, backend: str = "sqlite") -> list | None:
    """The gold's statements parsed by sqlglot (cached), None when no dialect parses them."""
    return _GOLD_TREES.get_or_compute((backend, gold), lambda: parse_any(gold, backend))


def gold_is_ordered(gold: str, backend: str = "sqlite") -> bool:
    """Whether the gold's final result is ordered (a top-level ORDER BY): then row order counts."""
    return is_ordered(gold_trees(gold, backend))


def convention_gold(gold: str, match: str = OURS, backend: str = "sqlite") -> str:
    """The gold's text as a convention runs it: Spider's without DISTINCT, the others' as written."""
    return remove_distinct(gold, backend) if match == SPIDER else gold


def clear_gold_caches() -> None:
    """Forget gold outcomes and parsed golds (benchmarks of a cold start, a changed dataset)."""
    _GOLD_OUTCOMES.clear()
    _GOLD_TREES.clear()


# --------------------------------------------------------------------------------------------
# One verdict

def verdict(pred_sql: str | None, gold: str, context: str, backend: str = "sqlite", suite: Suite = (),
            match: str = OURS, *, ran: ExecResult | None = None) -> Verdict:
    """Compare one answer's SQL with the gold on the context's database (running the answer at
    most once there) and, when it matches, on each database of `suite`, under the convention
    `match`. `ran` may hold the answer's execution as the executor ran its text (an `ours`
    verdict's prediction): a benchmark convention that runs the same text reuses it. Never
    raises on the answer, whatever its text."""
    backend = backend if backend in BACKENDS else "sqlite"
    if check_convention(match) != OURS:
        return _benchmark_verdict(pred_sql, gold, context, backend, match, ran)
    gold_result = gold_outcome(gold, context, backend)
    if not pred_sql:
        return Verdict(EXEC_FAILED if gold_result.ok else None, NO_SQL, "no SQL found in the answer")
    if gold_result.ok and statement_key(pred_sql) == statement_key(gold):
        # The gold's own text: the same program, the same outcome everywhere; no need to run it.
        return Verdict(EXEC_MATCH, CORRECT, prediction=gold_result, same_kind=True, gold=gold_result,
                       shown_correct=True, variants_checked=len(suite))
    pred = executor_for(backend).run(pred_sql, context)
    unjudged = _failed_run(pred, gold_result) or _not_comparable(pred, gold_result)
    if unjudged is not None:
        return unjudged
    if not same_outcome(gold_result, pred, gold, backend):
        return Verdict(EXEC_RAN_WRONG, WRONG_RESULT, "runs, but its outcome differs from the gold's",
                       prediction=pred, same_kind=True, gold=gold_result)
    budget = BUDGET_QUERY_LIMITS * executor_for(backend).timeout_s - pred.elapsed_s
    checked, why, cacheable = _check_suite(pred_sql, gold, context, backend, suite, budget)
    if why:
        return Verdict(EXEC_RAN_WRONG, SHOWN_DATA_ONLY, why, prediction=pred, same_kind=True, gold=gold_result,
                       cacheable=cacheable, shown_correct=True, variants_checked=checked)
    return Verdict(EXEC_MATCH, CORRECT, prediction=pred, same_kind=True, gold=gold_result, shown_correct=True,
                   variants_checked=checked)


def _benchmark_verdict(pred_sql: str | None, gold: str, context: str, backend: str, match: str,
                       ran: ExecResult | None) -> Verdict:
    """The verdict of a benchmark's convention: the shown database only, the prediction as written."""
    gold_text = convention_gold(gold, match, backend)
    gold_result = gold_outcome(gold_text, context, backend)
    if not pred_sql:
        return Verdict(EXEC_FAILED if gold_result.ok else None, NO_SQL, "no SQL found in the answer")
    pred_text = remove_distinct(pred_sql, backend) if match == SPIDER else pred_sql
    if gold_result.ok and statement_key(pred_text) == statement_key(gold_text):
        pred = gold_result  # the gold's own text: its outcome, and the dialect it ran in
    elif ran is not None and pred_text == pred_sql:
        pred = ran
    else:
        pred = executor_for(backend).run(pred_text, context)
    failed = _failed_run(pred, gold_result)
    if failed is not None:
        return failed
    if pred.dialect not in (AS_WRITTEN, None):
        return Verdict(EXEC_FAILED if gold_result.ok else None, NOT_AS_WRITTEN,
                       f"runs only when transpiled from {pred.dialect}; the {match} evaluation runs the prediction "
                       f"as written, and as written it fails", prediction=pred)
    unjudged = _not_comparable(pred, gold_result)
    if unjudged is not None:
        return unjudged
    if not convention_outcomes_match(gold_result, pred, match, order_matters=spider_order_matters(gold_text)):
        return Verdict(EXEC_RAN_WRONG, WRONG_RESULT, f"runs, but its outcome differs from the gold's ({match} rules)",
                       prediction=pred, same_kind=True, gold=gold_result)
    return Verdict(EXEC_MATCH, CORRECT, prediction=pred, same_kind=True, gold=gold_result, shown_correct=True)


def _failed_run(pred: ExecResult, gold_result: ExecResult) -> Verdict | None:
    """The verdict of an answer that did not run (no score when the gold does not run either)."""
    if pred.ok:
        return None
    return Verdict(EXEC_FAILED if gold_result.ok else None, pred.error_kind or ErrorKind.RUNTIME, pred.error,
                   prediction=pred, cacheable=not pred.timed_out)


def _not_comparable(pred: ExecResult, gold_result: ExecResult) -> Verdict | None:
    """The verdict of an answer that ran but cannot match: the gold does not run, or one of the
    two modifies the database and the other does not."""
    if not gold_result.ok:
        return Verdict(None, GOLD_FAILED, f"the gold does not run ({gold_result.error_kind}): {gold_result.error}",
                       prediction=pred, cacheable=not gold_result.timed_out)
    if modifies(gold_result) != modifies(pred):
        # A DELETE never answers a question; a SELECT never performs an update.
        return Verdict(EXEC_FAILED, WRONG_STATEMENT_KIND,
                       "modifies the database where the gold does not, or the reverse", prediction=pred)
    return None


def same_outcome(gold_result: ExecResult, pred: ExecResult, gold: str, backend: str = "sqlite") -> bool:
    """Whether a prediction gives the gold's outcome: both ran, the same kind of statement, the
    same rows or state (row order too when the gold orders its result)."""
    if not outcomes_match(gold_result, pred):
        return False
    # Same rows; whether their order must match too takes a parse of the gold, needed only here.
    return (modifies(gold_result) or len(gold_result.rows) <= 1 or not gold_is_ordered(gold, backend)
            or outcomes_match(gold_result, pred, order_matters=True))


def _check_suite(pred_sql: str, gold: str, context: str, backend: str, suite: Suite,
                 budget: float) -> tuple[int, str, bool]:
    """Run an answer that matched on the shown database on each variant, in order, until one
    disagrees or the answer's time budget (seconds of its own runs; the gold's are not
    counted) is spent: (variants matched, why it is not correct or "", whether the verdict may
    be cached)."""
    executor = executor_for(backend)
    checked = 0
    for number, delta in enumerate(suite, 1):
        variant = variant_context(context, delta)
        gold_result = gold_outcome(gold, variant, backend)
        if not gold_result.ok:
            # Prepare keeps only variants the gold runs on; one from an edited file proves nothing.
            log.debug("gold fails on suite variant %d (%s): skipped", number, gold_result.error_kind)
            continue
        remaining = budget
        if remaining <= 0:
            return checked, (f"right on the shown database; the time budget ran out "
                             f"before test-suite variant {number} of {len(suite)}"), False
        pred = executor.run(pred_sql, variant, timeout_s=min(executor.timeout_s, remaining))
        budget -= pred.elapsed_s
        if not pred.ok:
            return checked, (f"right on the shown database, fails on test-suite variant {number} of {len(suite)} "
                             f"({pred.error_kind}): {pred.error}"), not pred.timed_out
        if not same_outcome(gold_result, pred, gold, backend):
            return checked, (f"right on the shown database, another outcome than the gold's on test-suite "
                             f"variant {number} of {len(suite)}"), True
        checked += 1
    return checked, "", True


def safe_verdict(item: Item, match: str = OURS, ran: ExecResult | None = None) -> Verdict:
    """`verdict` of one item; an internal error becomes a failed verdict, never an exception."""
    pred_sql, gold, context, backend, *rest = item
    try:
        return verdict(pred_sql, gold, context, backend, tuple(rest[0]) if rest and rest[0] else (), match, ran=ran)
    except Exception as e:  # noqa: BLE001 - never raise on an answer
        log.debug("verdict failed on %r", (pred_sql or "")[:200], exc_info=True)
        return Verdict(EXEC_FAILED, ErrorKind.RUNTIME, f"internal error: {e!r}", cacheable=False)


# --------------------------------------------------------------------------------------------
# Many verdicts, in parallel

_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    """Threads for running answers in parallel: the engine releases the GIL while a query runs,
    and each query has its own time limit, so one slow query never holds up the others."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
            _POOL = ThreadPoolExecutor(max_workers=max(workers, 1), thread_name_prefix="sqlgrpo-verdict")
        return _POOL


def verdicts(items: Sequence[Item], match: str = OURS, ran: Sequence[ExecResult | None] | None = None) -> list[Verdict]:
    """The verdict of each (answer SQL, gold, context, backend[, suite]), in order (a suite is
    a tuple of variants, so that items hash), under the convention `match`; `ran[i]`, when
    given, is item i's execution as `verdict` may reuse it. Each distinct gold runs once, then
    each distinct item once (a GRPO group often repeats an answer), spread over the cores."""
    check_convention(match)
    for gold, context, backend in dict.fromkeys(item[1:4] for item in items):
        backend = backend if backend in BACKENDS else "sqlite"
        gold_outcome(convention_gold(gold, match, backend), context, backend)
    runs: dict = {}
    for item, result in zip(items, ran or ()):
        runs.setdefault(item, result)
    distinct = list(dict.fromkeys(items))
    workers = _pool()._max_workers
    if len(distinct) < PARALLEL_MIN_ANSWERS or workers <= 1:
        found = {item: safe_verdict(item, match, runs.get(item)) for item in distinct}
    else:
        # One contiguous chunk per core: per-item tasks cost more in handoffs than they gain.
        bounds = [(len(distinct) * k // workers, len(distinct) * (k + 1) // workers) for k in range(workers)]
        chunks = _pool().map(lambda b: [(item, safe_verdict(item, match, runs.get(item)))
                                        for item in distinct[b[0]:b[1]]], bounds)
        found = dict(pair for chunk in chunks for pair in chunk)
    return [found[item] for item in items]
