"""Reward functions for GRPO, in TRL's signature, built on the metric's verdict.

Each function is `f(completions, **kwargs) -> list[float | None]`: `completions` are strings or
chat-message lists (TRL's conversational format); the dataset's columns arrive as keyword lists
(`sql` is the gold, `sql_context` the schema context, `backend` optionally the engine). `None`
means the reward cannot judge that sample (its gold fails), never a fake 0. No function raises
on a completion, whatever its text; work per completion is bounded (linear-time extraction, a
capped parse, the executor's time limit).

    from trl import GRPOConfig, GRPOTrainer
    from sqlgrpo.scoring.rewards import REWARDS, DEFAULT_WEIGHTS
    names = list(DEFAULT_WEIGHTS)
    GRPOTrainer(..., reward_funcs=[REWARDS[n] for n in names],
                args=GRPOConfig(..., reward_weights=[DEFAULT_WEIGHTS[n] for n in names]))

The execution reward is the score of `sqlgrpo.scoring.verdict.verdict`, the function execution
accuracy is computed with, so what the model is rewarded for is exactly what it is measured on.
The answer is read by `sqlgrpo.scoring.answers` (tags, else a fenced block, else a bare
statement); only the format rewards insist on the tags.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from sqlglot import exp

from sqlgrpo.common.cache import LRUCache
from sqlgrpo.common.errors import SqlgrpoError
from sqlgrpo.scoring.answers import is_strict_format, parse_answer, soft_format_score
from sqlgrpo.scoring.suites import TEST_SUITE_FIELD, suite_of
from sqlgrpo.scoring.verdict import EXEC_FAILED, clear_gold_caches, executor_for, gold_outcome, gold_trees, verdicts
from sqlgrpo.sql.analysis import parse_statements, references, statement_kinds, structure_features

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------
# Reward values (named so that tests, docs and the audit speak of the same numbers; the
# execution reward's own are the verdict's EXEC_MATCH, EXEC_RAN_WRONG and EXEC_FAILED)

FORMAT_FULL = 1.0

REASONING_LENGTH_BAND = (8, 250)  # words; shorter says nothing, longer rambles
REASONING_HALLUCINATION_PENALTY = 0.25  # per identifier-looking name that exists nowhere

COMPLETION_CACHE_SIZE = 8_192  # analyses of completion SQL (features, names used) and verdict scores


class UnknownRewardError(SqlgrpoError, KeyError):
    """A reward name that is not in `REWARDS`; the message lists the valid ones."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ""


# --------------------------------------------------------------------------------------------
# Format

def strict_format_reward(completions: Sequence[Any], **kwargs: Any) -> list[float]:
    """1.0 for exactly the answer format, else 0.0.

    >>> strict_format_reward(["<reasoning>\\nuse t\\n</reasoning>\\n<sql>\\nSELECT 1;\\n</sql>", "SELECT 1"])
    [1.0, 0.0]
    """
    return [FORMAT_FULL if _safe(is_strict_format, c, False) else 0.0 for c in completions]



def soft_format_reward(completions: Sequence[Any], **kwargs: Any) -> list[float]:
    """Partial credit for the tags (see `soft_format_score`), in [0, 1].

    >>> soft_format_reward(["<reasoning>r</reasoning><sql>SELECT 1</sql>", "<sql>SELECT 1</sql>", "no tags"])
    [1.0, 0.5, 0.0]
    """
    return [_safe(soft_format_score, c, 0.0) for c in completions]


def _safe(fn: Callable[[Any], Any], arg: Any, fallback: Any) -> Any:
    try:
        return fn(arg)
    except Exception:  # noqa: BLE001 - a reward never raises on a completion
        log.debug("reward helper %s failed", getattr(fn, "__name__", fn), exc_info=True)
        return fallback



# --------------------------------------------------------------------------------------------
# Caches shared by the rewards

# The same completion SQL is analysed by several rewards (complexity, reasoning, schema
# linking) and recurs within a group: parse it once.
_COMPLETION_ANALYSIS = LRUCache(COMPLETION_CACHE_SIZE)
# Execution scores of recent (prediction, gold, context, backend): GRPO samples the same answers
# again and again; a score is deterministic given the four (timeouts are not kept).
_EXECUTION_SCORES = LRUCache(COMPLETION_CACHE_SIZE)
_GOLD_SHAPES = LRUCache(COMPLETION_CACHE_SIZE)  # statement kinds, features and names of golds
_MISSING = object()


def clear_caches(*, predictions_only: bool = False) -> None:
    """Forget cached scores and analyses of completions and, unless `predictions_only`, gold
    outcomes, parsed golds and the executor's databases: for benchmarks that measure a cold
    start (or new answers to known prompts), or after a dataset changes."""
    for cache in (_COMPLETION_ANALYSIS, _EXECUTION_SCORES):
        cache.clear()
    if predictions_only:
        return
    _GOLD_SHAPES.clear()
    clear_gold_caches()
    for backend in ("sqlite", "duckdb"):
        executor_for(backend).clear()


def _per_sample(kwargs: dict, name: str, n: int, default: Any = None) -> list:
    value = kwargs.get(name)
    if value is None:
        return [default] * n
    if isinstance(value, (list, tuple)):
        return list(value) + [default] * (n - len(value))
    return [value] * n  # one value for the whole batch


def _columns(n: int, sql: Any, sql_context: Any, kwargs: dict, *,
             missing_context: str | None = "") -> tuple[list, list, list[str]]:
    """The dataset's columns for `n` samples as TRL passes them: golds, contexts, backends
    (SQLite where unset)."""
    golds = _per_sample({"sql": sql}, "sql", n, "")
    contexts = _per_sample({"sql_context": sql_context}, "sql_context", n, missing_context)
    backends = [b or "sqlite" for b in _per_sample(kwargs, "backend", n, "sqlite")]
    return golds, contexts, backends


def _answer_sql(completion: Any) -> str | None:
    try:
        return parse_answer(completion).sql
    except Exception:  # noqa: BLE001 - never raise on a completion
        log.debug("could not read a completion", exc_info=True)
        return None


# --------------------------------------------------------------------------------------------
# Execution

def execution_reward(completions: Sequence[Any], sql: Sequence[str], sql_context: Sequence[str],
                     **kwargs: Any) -> list[float | None]:
    """The verdict's score of each completion's SQL: EXEC_MATCH (1.0) for the gold's outcome
    (rows as multisets, columns in any order, order only when the gold has ORDER BY; DML by the
    whole database state), EXEC_RAN_WRONG (0.1) for SQL that runs with another outcome,
    EXEC_FAILED (0.0) for no SQL, SQL that fails, or statements of another kind than the gold's
    (DML for a question, a bare SELECT for an update). None where the gold itself fails. Each
    distinct answer runs once, in parallel, each under the executor's time limit.

    With a `test_suite` column (the record's suite, written by `prepare`), full credit needs the
    gold's outcome on every variant too; an answer right on the shown database only gets
    EXEC_RAN_WRONG. The variants run only for answers that match on the shown database, and one
    answer's runs on all of them share one time budget. Without the column (or with an empty
    suite) the answer is judged on the shown database alone.

    >>> ctx = "CREATE TABLE t (x INT); INSERT INTO t VALUES (1), (2);"
    >>> execution_reward(["<sql>SELECT SUM(x) AS total FROM t</sql>", "<sql>SELECT MAX(x) FROM t</sql>",
    ...                   "<sql>DELETE FROM t</sql>", "no sql here"], sql=["SELECT SUM(x) FROM t"] * 4,
    ...                  sql_context=[ctx] * 4)
    [1.0, 0.1, 0.0, 0.0]
    """
    return [score for score, _ in _verdict_scores(_execution_items(completions, sql, sql_context, kwargs))]


def _verdict_scores(items: list[tuple]) -> list[tuple[float | None, float | None]]:
    """(score, result_similarity) of each item's verdict; each distinct item judged once and
    kept in the shared cache (not when its verdict may reflect a busy machine)."""
    scores = {item: _EXECUTION_SCORES.get(item, _MISSING) for item in items}
    todo = [item for item, score in scores.items() if score is _MISSING]
    for item, found in zip(todo, verdicts(todo)):
        scores[item] = (found.score, found.result_similarity)
        if found.cacheable:
            _EXECUTION_SCORES.put(item, scores[item])
    return [scores[item] for item in items]


def _execution_items(completions: Sequence[Any], sql: Any, sql_context: Any, kwargs: dict) -> list[tuple]:
    golds, contexts, backends = _columns(len(completions), sql, sql_context, kwargs)
    suites = [suite_of(s) for s in _per_sample(kwargs, TEST_SUITE_FIELD, len(completions), ())]
    return [(_answer_sql(c), g, ctx, b, suite)
            for c, g, ctx, b, suite in zip(completions, golds, contexts, backends, suites)]


def result_similarity_reward(completions: Sequence[Any], sql: Sequence[str], sql_context: Sequence[str],
                             **kwargs: Any) -> list[float | None]:
    """Graded credit from execution: how close the answer's result on the shown database comes
    to the gold's (`sqlgrpo.scoring.matching.outcome_similarity`: the result's shape, columns
    and rows, and the F1 of its values), 1.0 for the gold's result, 0.0 for SQL that does not run
    or is of another kind, and 0.0 for an answer that reads no table where the gold reads one
    (`SELECT 1` has the shape of a count). A one-column lookup answering a count or an average
    earns little of it, whatever it earns for running. None where the gold fails. Read off the
    execution reward's verdicts (one run per distinct answer, shared cache).

    >>> ctx = "CREATE TABLE t (a INT, b INT); INSERT INTO t VALUES (1, 2), (1, 3), (2, 4);"
    >>> scores = result_similarity_reward(
    ...     ["<sql>SELECT COUNT(*) FROM t WHERE a = 1</sql>", "<sql>SELECT COUNT(*) FROM t</sql>",
    ...      "<sql>SELECT b FROM t WHERE a = 1</sql>", "<sql>SELECT 5</sql>", "<sql>SELECT c FROM t</sql>"],
    ...     sql=["SELECT COUNT(*) FROM t WHERE a = 1"] * 5, sql_context=[ctx] * 5)
    >>> [round(x, 3) for x in scores]
    [1.0, 0.5, 0.583, 0.0, 0.0]
    """
    items = _execution_items(completions, sql, sql_context, kwargs)
    return [result_similarity_score(similarity, item[0], item[1], item[3])
            for item, (_, similarity) in zip(items, _verdict_scores(items))]


def result_similarity_score(similarity: float | None, answer_sql: str | None, gold: str,
                            backend: str = "sqlite") -> float | None:
    """The result similarity reward of an answer from its verdict's `result_similarity`: 0.0
    for an answer that reads no table where the gold reads one."""
    if not similarity or similarity == 1.0:
        return similarity
    reads = _COMPLETION_ANALYSIS.get_or_compute(("reads", backend, answer_sql), lambda: _reads_table(answer_sql, backend))
    gold_reads = _GOLD_SHAPES.get_or_compute(("reads", backend, gold), lambda: _reads_table(gold, backend))
    return 0.0 if gold_reads and not reads else similarity


def _reads_table(sql_text: str | None, backend: str) -> bool:
    trees = parse_statements(sql_text, backend) if sql_text else None
    return bool(trees) and any(tree.find(exp.Table) is not None for tree in trees)


def executable_reward(completions: Sequence[Any], sql: Sequence[str], sql_context: Sequence[str],
                      **kwargs: Any) -> list[float | None]:
    """1.0 for SQL that runs on the database as a statement of the gold's kind, right or wrong,
    0.0 for no SQL, SQL that fails (a syntax error, a table or column that does not exist) or a
    statement of another kind; None where the gold fails. SQL-R1's executability reward: a small
    model whose answers mostly name columns that do not exist gets from the execution reward
    alone only EXEC_RAN_WRONG (0.1) for grounding them. Read off the execution reward's verdicts
    (one run per distinct answer, shared cache), so it never disagrees with it. Flat credit for
    running pays a query that ignores the question as much as one that tries: measured with it
    at weight 1.0, 60 GRPO steps of the demo drift into one-column lookups that run (README,
    bench_learning). `shaped_executable_reward` scales the credit by the answer's structure.

    >>> ctx = "CREATE TABLE t (x INT); INSERT INTO t VALUES (1), (2);"
    >>> executable_reward(["<sql>SELECT MAX(x) FROM t</sql>", "<sql>SELECT y FROM t</sql>", "<sql>DELETE FROM t</sql>"],
    ...                   sql=["SELECT SUM(x) FROM t"] * 3, sql_context=[ctx] * 3)
    [1.0, 0.0, 0.0]

    Under GRPO (TRL passes `prompts` and `log_metric`), it also logs `EXECUTABLE_TIED_METRIC`:
    the share of groups whose answers all run or all fail, which teach the policy nothing about
    running SQL whatever the other rewards add (`tied_group_share`).
    """
    scores = [executable_score(score) for score in execution_reward(completions, sql, sql_context, **kwargs)]
    log_metric, prompts = kwargs.get("log_metric"), kwargs.get("prompts")
    if callable(log_metric) and isinstance(prompts, Sequence) and len(prompts) == len(scores):
        share = tied_group_share(prompts, scores)
        if share is not None:
            log_metric(EXECUTABLE_TIED_METRIC, share)
    return scores


EXECUTABLE_TIED_METRIC = "frac_executable_zero_std"  # beside TRL's frac_reward_zero_std in the log

# What the shaped executable reward weighs a structure feature by where it is not 1.0: WHERE at
# half. A one-table lookup that runs has a WHERE as most golds do; counted in full, it earned half
# the credit of a WHERE-and-one-aggregate gold's shape and the demo's policy drifted into lookups;
# not counted, dropping the filter cost nothing and the answers lost their WHERE (README).
SHAPED_FEATURE_WEIGHTS: Mapping[str, float] = MappingProxyType({"where": 0.5})
# The share of the shaped executable credit an answer that runs keeps whatever its structure.
EXECUTABLE_SHAPE_FLOOR = 0.25


def shaped_executable_reward(completions: Sequence[Any], sql: Sequence[str], sql_context: Sequence[str],
                             **kwargs: Any) -> list[float | None]:
    """Credit for SQL that runs, in proportion to how much of the gold's structure it has:
    `shaped_executable_score` of the executable reward and `clause_similarity` (the gold's
    joins, aggregates, GROUP BY, ORDER BY, subqueries..., its WHERE at half weight: Σ w·min /
    Σ w·max of their counts, so a kitchen-sink query loses as a bare lookup does). An answer that
    runs keeps EXECUTABLE_SHAPE_FLOOR for naming real tables and columns; a lookup that runs earns
    it all where the gold is a lookup and little more than the floor where the gold aggregates or
    joins. None where the gold fails.

    >>> ctx = "CREATE TABLE t (a INT, b INT); INSERT INTO t VALUES (1, 2), (1, 3);"
    >>> scores = shaped_executable_reward(
    ...     ["<sql>SELECT b, COUNT(*) FROM t GROUP BY b</sql>", "<sql>SELECT b FROM t WHERE a = 1</sql>",
    ...      "<sql>SELECT b, COUNT(*) FROM t</sql>", "<sql>SELECT c FROM t</sql>"],
    ...     sql=["SELECT a, COUNT(*) FROM t WHERE b > 1 GROUP BY a"] * 4, sql_context=[ctx] * 4)
    >>> [round(x, 3) for x in scores]
    [0.85, 0.4, 0.55, 0.0]
    """
    executable = [executable_score(s) for s in execution_reward(completions, sql, sql_context, **kwargs)]
    shapes = clause_similarity(completions, sql, sql_context, **kwargs)
    return [shaped_executable_score(e, c) for e, c in zip(executable, shapes)]


def shaped_executable_score(executable: float | None, structure: float | None) -> float | None:
    """The shaped executable reward of an answer from its executable reward and its
    `clause_similarity`; an answer that runs against a gold sqlglot cannot parse (no structure
    to compare) keeps its whole executable credit."""
    if not executable or structure is None:  # None (the gold fails), 0.0 (it does not run), no structure
        return executable
    return executable * (EXECUTABLE_SHAPE_FLOOR + (1.0 - EXECUTABLE_SHAPE_FLOOR) * structure)


def tied_group_share(prompts: Sequence[Any], scores: Sequence[float | None]) -> float | None:
    """The share of groups whose scores all tie: a group is a run of consecutive completions of
    one prompt (TRL generates a prompt's completions side by side); scores that are None (the
    gold fails) are left out, and a group left with fewer than two scores is not counted. None
    when no group counts. Under several processes each sees its own slice of the groups.

    >>> tied_group_share(["a", "a", "b", "b", "c", "c"], [1.0, 1.0, 0.0, 1.0, 0.0, 0.0])
    0.6666666666666666
    """
    tied = counted = 0
    start = 0
    for end in range(1, len(prompts) + 1):
        if end < len(prompts) and prompts[end] == prompts[start]:
            continue
        group = [s for s in scores[start:end] if s is not None]
        if len(group) >= 2:
            counted += 1
            tied += all(s == group[0] for s in group)
        start = end
    return tied / counted if counted else None


def executable_score(execution_score: float | None) -> float | None:
    """The executable reward of an answer from its execution reward (the verdict's score)."""
    return None if execution_score is None else (1.0 if execution_score > EXEC_FAILED else 0.0)


# --------------------------------------------------------------------------------------------
# Structure and schema

def structure_similarity(a: dict[str, int], b: dict[str, int], weights: Mapping[str, float] | None = None) -> float:
    """Σ w·min / Σ w·max over the feature counts, each feature weighed by `weights` (1.0 where it
    names none; 0.0 leaves a feature out); 1.0 when neither has a weighed feature.

    >>> structure_similarity({"aggregate": 1, "where": 0}, {"aggregate": 1, "where": 1}, {"where": 0.5})
    0.6666666666666666
    """
    weight = (weights or {}).get
    top = sum(weight(k, 1.0) * min(a[k], b[k]) for k in a)
    bottom = sum(weight(k, 1.0) * max(a[k], b[k]) for k in a)
    return 1.0 if bottom == 0 else top / bottom


def complexity_reward(completions: Sequence[Any], sql: Sequence[str], sql_context: Sequence[str] | None = None,
                      **kwargs: Any) -> list[float | None]:
    """How close the predicted query's structure is to the gold's (joins, subqueries, aggregates,
    GROUP BY/HAVING, windows, CTEs, set operations, CASE, ORDER BY/LIMIT, DISTINCT, WHERE), in
    [0, 1]. 0.0 for no SQL, SQL sqlglot cannot parse, or statements of other kinds than the
    gold's (a DELETE has no structure credit for a question); None when the gold cannot be
    parsed, or fails to run when `sql_context` is given.

    >>> complexity_reward(["<sql>SELECT a, COUNT(*) FROM t GROUP BY a</sql>", "<sql>SELECT a FROM t</sql>"],
    ...                   sql=["SELECT b, COUNT(*) FROM t GROUP BY b"] * 2)
    [1.0, 0.0]
    """
    return _structure_scores(completions, sql, sql_context, kwargs, None)


def clause_similarity(completions: Sequence[Any], sql: Sequence[str], sql_context: Sequence[str] | None = None,
                      **kwargs: Any) -> list[float | None]:
    """The complexity reward's comparison with the features weighed by SHAPED_FEATURE_WEIGHTS
    (WHERE at half): what `shaped_executable_reward` scales the credit for running by.

    >>> clause_similarity(["<sql>SELECT a FROM t WHERE b = 1</sql>", "<sql>SELECT COUNT(*) FROM t</sql>",
    ...                    "<sql>SELECT a FROM t</sql>"], sql=["SELECT COUNT(*) FROM t WHERE b = 2"] * 3)
    [0.3333333333333333, 0.6666666666666666, 0.0]
    """
    return _structure_scores(completions, sql, sql_context, kwargs, SHAPED_FEATURE_WEIGHTS)


def _structure_scores(completions: Sequence[Any], sql: Sequence[str], sql_context: Sequence[str] | None,
                      kwargs: dict[str, Any], weights: Mapping[str, float] | None) -> list[float | None]:
    """`structure_similarity` of each answer to its gold with the features weighed by `weights`,
    as `complexity_reward` describes."""
    n = len(completions)
    golds, contexts, backends = _columns(n, sql, sql_context, kwargs, missing_context=None)
    out: list[float | None] = []
    for i in range(n):
        try:
            backend = backends[i]
            parsed_gold = gold_trees(golds[i], backend)
            if not parsed_gold or (contexts[i] is not None and not gold_outcome(golds[i], contexts[i], backend).ok):
                out.append(None)
                continue
            gold_shape = _GOLD_SHAPES.get_or_compute(("shape", backend, golds[i]),
                                                    lambda trees=parsed_gold: (statement_kinds(trees), structure_features(trees)))
            pred_shape = _cached_shape(parse_answer(completions[i]).sql, backend)
            if pred_shape is None or pred_shape[0] != gold_shape[0]:
                out.append(0.0)
            else:
                out.append(structure_similarity(pred_shape[1], gold_shape[1], weights))
        except Exception:  # noqa: BLE001
            log.debug("structure scoring failed on sample %d", i, exc_info=True)
            out.append(0.0)
    return out


def _cached_shape(sql_text: str | None, backend: str) -> tuple[tuple[str, ...], dict[str, int]] | None:
    """(statement kinds, structure features) of a completion's SQL, or None if unparsable."""
    if not sql_text:
        return None

    def compute() -> tuple[tuple[str, ...], dict[str, int]] | None:
        trees = parse_statements(sql_text, backend)
        return (statement_kinds(trees), structure_features(trees)) if trees else None

    return _COMPLETION_ANALYSIS.get_or_compute(("shape", backend, sql_text), compute)


def _cached_used_names(sql_text: str | None, backend: str, context: str,
                       schema: dict[str, list[str]]) -> set[str] | None:
    if not sql_text:
        return None
    return _COMPLETION_ANALYSIS.get_or_compute(("names", backend, context, sql_text),
                                               lambda: _used_names(sql_text, backend, schema))


def _cached_aliases(sql_text: str | None, backend: str) -> dict[str, str]:
    """Table aliases of a completion's SQL (`FROM orders AS o` gives {"o": "orders"})."""
    if not sql_text:
        return {}

    def compute() -> dict[str, str]:
        trees = parse_statements(sql_text, backend) or []
        return {t.alias.lower(): t.name.lower() for tree in trees for t in tree.find_all(exp.Table) if t.alias}

    return _COMPLETION_ANALYSIS.get_or_compute(("aliases", backend, sql_text), compute)


def _schema_of(context: str, backend: str) -> dict[str, list[str]]:
    db = executor_for(backend).database(context)
    return db.schema if db.ok else {}


def _used_names(sql_text: str | None, backend: str, schema: dict[str, list[str]]) -> set[str] | None:
    """Tables and `table.column` names a query uses, or None when it cannot be parsed."""
    if not sql_text:
        return None
    refs = references(sql_text, backend, schema)
    if refs is None:
        return None
    return set(refs.tables) | {f"{t}.{c}" for t, c in refs.columns}


def schema_linking_reward(completions: Sequence[Any], sql: Sequence[str], sql_context: Sequence[str],
                          **kwargs: Any) -> list[float | None]:
    """Jaccard overlap of the tables and columns used by the prediction and by the gold.

    >>> ctx = "CREATE TABLE t (a INT, b INT);"
    >>> schema_linking_reward(["<sql>SELECT a FROM t</sql>", "<sql>SELECT b FROM t</sql>"],
    ...                       sql=["SELECT a FROM t"] * 2, sql_context=[ctx] * 2)
    [1.0, 0.3333333333333333]
    """
    n = len(completions)
    golds, contexts, backends = _columns(n, sql, sql_context, kwargs)
    out: list[float | None] = []
    for i in range(n):
        try:
            backend = backends[i]
            schema = _schema_of(contexts[i], backend)
            gold_names = _GOLD_SHAPES.get_or_compute(("names", backend, contexts[i], golds[i]),
                                                    lambda g=golds[i], b=backend, s=schema: _used_names(g, b, s))
            parsed_gold = gold_trees(golds[i], backend)
            if not gold_names or not parsed_gold or not gold_outcome(golds[i], contexts[i], backend).ok:
                out.append(None)
                continue
            pred_sql = parse_answer(completions[i]).sql
            pred_shape = _cached_shape(pred_sql, backend)
            if pred_shape is None or pred_shape[0] != statement_kinds(parsed_gold):
                out.append(0.0)  # unparsable, or a DROP/DELETE riding along: no linking credit
                continue
            pred_names = _cached_used_names(pred_sql, backend, contexts[i], schema)
            out.append(len(gold_names & pred_names) / len(gold_names | pred_names) if pred_names else 0.0)
        except Exception:  # noqa: BLE001
            log.debug("schema_linking_reward failed on sample %d", i, exc_info=True)
            out.append(0.0)
    return out


_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?")
_IDENTIFIER_LIKE = re.compile(r"[A-Za-z0-9]_[A-Za-z0-9]|\.|[a-z][A-Z]")  # snake_case, t.col, camelCase


def reasoning_score(reasoning: str | None, pred_sql: str | None, schema: dict[str, list[str]], backend: str,
                    context: str = "") -> float:
    """In [0, 1]: half for the share of schema names the reasoning mentions that the SQL really
    uses (precision, so that a query using more columns is never worse off than one using
    fewer), a quarter for a length within `REASONING_LENGTH_BAND`, a quarter for naming nothing
    that exists nowhere in the schema (minus `REASONING_HALLUCINATION_PENALTY` per invented
    identifier)."""
    if not reasoning:
        return 0.0
    words = _WORD.findall(reasoning[:20_000])
    tables = {t.lower() for t in schema}
    columns = {c.lower() for cols in schema.values() for c in cols}
    known = tables | columns
    aliases = _cached_aliases(pred_sql, backend)  # `o.total` names orders.total when o aliases orders
    mentioned = set()
    invented = set()
    for w in words:
        low = w.lower()
        parts = [aliases.get(p, p) for p in low.split(".")]
        if all(p in known for p in parts):
            mentioned.update(parts)
        elif all(len(p) <= 2 for p in parts):
            continue  # "i.e.", "e.g.", "a", "is": too short to be a claimed identifier
        elif _IDENTIFIER_LIKE.search(w):
            invented.add(low)
    used = _cached_used_names(pred_sql, backend, context, schema) or set()
    used_parts = {p for name in used for p in name.split(".")} & known
    linking = len(mentioned & used_parts) / len(mentioned) if mentioned else 0.0
    low_len, high_len = REASONING_LENGTH_BAND
    length = 1.0 if low_len <= len(words) <= high_len else 0.0
    honesty = max(0.0, 1.0 - REASONING_HALLUCINATION_PENALTY * len(invented))
    return 0.5 * linking + 0.25 * length + 0.25 * honesty


def reasoning_reward(completions: Sequence[Any], sql_context: Sequence[str], **kwargs: Any) -> list[float]:
    """Whether the reasoning names the tables and columns the SQL uses, without inventing
    identifiers, at a sensible length (see `reasoning_score`).

    >>> ctx = "CREATE TABLE orders (id INT, total REAL);"
    >>> good = "<reasoning>Sum the total column of the orders table over every row.</reasoning><sql>SELECT SUM(total) FROM orders</sql>"
    >>> bad = "<reasoning>Use the order_amounts table.</reasoning><sql>SELECT SUM(total) FROM orders</sql>"
    >>> reasoning_reward([good, bad], sql_context=[ctx] * 2)  # bad: no linking, too short, one invented name
    [1.0, 0.1875]
    """
    n = len(completions)
    _, contexts, backends = _columns(n, None, sql_context, kwargs)
    out = []
    for i in range(n):
        try:
            backend = backends[i]
            answer = parse_answer(completions[i])
            out.append(reasoning_score(answer.reasoning, answer.sql, _schema_of(contexts[i], backend), backend,
                                       contexts[i]))
        except Exception:  # noqa: BLE001
            log.debug("reasoning_reward failed on sample %d", i, exc_info=True)
            out.append(0.0)
    return out


# --------------------------------------------------------------------------------------------
# Registry

REWARDS: dict[str, Callable[..., list[float | None]]] = {
    "soft_format_reward": soft_format_reward,
    "strict_format_reward": strict_format_reward,
    "execution_reward": execution_reward,
    "executable_reward": executable_reward,
    "shaped_executable_reward": shaped_executable_reward,
    "result_similarity_reward": result_similarity_reward,
    "complexity_reward": complexity_reward,
    "reasoning_reward": reasoning_reward,
    "schema_linking_reward": schema_linking_reward,
}

# The original recipe's weights; weight 0 rewards are still computed and logged by TRL.
DEFAULT_WEIGHTS: dict[str, float] = {
    "soft_format_reward": 1.0,
    "execution_reward": 1.2,
    "complexity_reward": 0.6,
    "reasoning_reward": 0.7,
    "strict_format_reward": 0.0,
    "schema_linking_reward": 0.0,
    "executable_reward": 0.0,
    "shaped_executable_reward": 0.0,
    "result_similarity_reward": 0.0,
}


def get_reward(name: str) -> Callable[..., list[float | None]]:
    """The reward function registered under `name`; an unknown name lists the valid ones."""
    try:
        return REWARDS[name]
    except KeyError:
        raise UnknownRewardError(f"unknown reward {name!r}; valid rewards: {', '.join(REWARDS)}") from None
