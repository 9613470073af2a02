"""Reward functions for GRPO, in TRL's signature, that judge SQL by running it.

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

The answer format is `<reasoning>…</reasoning>` then `<sql>…</sql>`. SQL is taken from the
`<sql>` tags, else from a fenced ```sql block, else from a bare statement, so a model that has
not learned the tags still gets an execution signal; only the format rewards insist on them.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Hashable, Sequence

from sqlglot import exp

from sqlgrpo.sql.analysis import parse_statements, references
from sqlgrpo.scoring.matching import modifies, outcomes_match
from sqlgrpo.sql import ExecResult, SQLExecutor, default_executor

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------
# Reward values (named so that tests, docs and the audit speak of the same numbers)

EXEC_MATCH = 1.0  # same outcome as the gold
EXEC_RAN_WRONG = 0.1  # runs, same kind of statement, different outcome: better than broken SQL
EXEC_FAILED = 0.0  # no SQL, does not run, or a statement of another kind than the gold's

FORMAT_FULL = 1.0
SOFT_FORMAT_PART = 0.25  # each of: reasoning block, sql block, in order, non-empty SQL

REASONING_LENGTH_BAND = (8, 250)  # words; shorter says nothing, longer rambles
REASONING_HALLUCINATION_PENALTY = 0.25  # per identifier-looking name that exists nowhere

MAX_COMPLETION_CHARS = 200_000  # beyond this a completion is cut before any scanning
GOLD_CACHE_SIZE = 4_096  # gold outcomes and parsed golds kept across steps
COMPLETION_CACHE_SIZE = 8_192  # analyses of completion SQL (features, names used)
PARALLEL_MIN_COMPLETIONS = 4  # fewer than this: threads cost more than they save

# --------------------------------------------------------------------------------------------
# Reading a completion


def completion_text(completion: Any) -> str:
    """The text of a completion: a string, or TRL's chat format (a list of messages, or one
    message dict), whose assistant contents are joined. Anything else gives ""."""
    if isinstance(completion, str):
        text = completion
    elif isinstance(completion, dict):
        text = completion.get("content") if isinstance(completion.get("content"), str) else ""
    elif isinstance(completion, (list, tuple)):
        parts = []
        for message in completion:
            if isinstance(message, dict) and message.get("role", "assistant") == "assistant" \
                    and isinstance(message.get("content"), str):
                parts.append(message["content"])
        text = "\n".join(parts)
    else:
        text = ""
    return text[:MAX_COMPLETION_CHARS]


@dataclass(frozen=True)
class ParsedAnswer:
    """What a completion contains, found in one linear pass over its text."""

    text: str
    reasoning: str | None
    sql: str | None
    sql_source: str  # "tags", "fence", "bare" or "none"


_FENCE = re.compile(r"```[ \t]*(?:sql|sqlite|postgresql|postgres|mysql)?[ \t]*\n(.*?)```", re.IGNORECASE | re.DOTALL)
# A bare statement starts at a SQL keyword; WITH only when a CTE follows ("with the table" is prose).
_BARE_START = re.compile(
    r"(?:^|[\s(])((?:SELECT|INSERT|UPDATE|DELETE)\b|WITH\s+(?:RECURSIVE\s+)?[\w\"`]+\s*(?:\([^()]{0,500}\)\s*)?AS\s*\()",
    re.IGNORECASE)


def _between(text: str, lower: str, open_tag: str, close_tag: str) -> str | None:
    """The content of the first open_tag…close_tag pair (or to the end when unclosed)."""
    start = lower.find(open_tag)
    if start < 0:
        return None
    start += len(open_tag)
    end = lower.find(close_tag, start)
    return text[start:] if end < 0 else text[start:end]


def parse_answer(completion: Any) -> ParsedAnswer:
    """Reasoning and SQL of a completion: `<sql>` tags, else a fenced block, else a bare
    statement (from the first SQL keyword to the end of the paragraph). Linear in the text."""
    text = completion_text(completion)
    lower = text.lower()
    reasoning = _between(text, lower, "<reasoning>", "</reasoning>")
    sql = _between(text, lower, "<sql>", "</sql>")
    source = "tags"
    if sql is not None:
        sql = _strip_fence(sql)
    if sql is None or not sql.strip():
        source, sql = "none", None
        fence = _FENCE.search(text) if "```" in text else None
        if fence is not None and fence.group(1).strip():
            source, sql = "fence", fence.group(1)
        else:
            bare = _BARE_START.search(text)
            if bare is not None:
                rest = text[bare.start(1):]
                cut = rest.find("\n\n")  # prose usually follows after a blank line
                source, sql = "bare", rest if cut < 0 else rest[:cut]
    if sql is not None:
        sql = sql.strip()
        sql = sql or None
    return ParsedAnswer(text, reasoning.strip() if reasoning is not None else None, sql,
                        source if sql is not None else "none")


def _strip_fence(sql: str) -> str:
    """`<sql>```sql …```</sql>`: models sometimes fence inside the tags."""
    if "```" not in sql:
        return sql
    m = _FENCE.search(sql if sql.lstrip().startswith("```") else sql)
    return m.group(1) if m else sql.replace("```", "")


def extract_sql(completion: Any) -> str | None:
    """The SQL of a completion, or None.

    >>> extract_sql("<reasoning>count</reasoning><sql>SELECT 1;</sql>")
    'SELECT 1;'
    >>> extract_sql("Here it is:\\n```sql\\nSELECT 2\\n```")
    'SELECT 2'
    >>> extract_sql("The answer is SELECT 3 FROM t") is None
    False
    """
    return parse_answer(completion).sql


# --------------------------------------------------------------------------------------------
# Format

_TAGS = ("<reasoning>", "</reasoning>", "<sql>", "</sql>")


def _tag_positions(lower: str) -> dict[str, list[int]]:
    positions: dict[str, list[int]] = {}
    for tag in _TAGS:
        found, start = [], 0
        while len(found) < 2:  # one occurrence is right; a second already means "repeated"
            i = lower.find(tag, start)
            if i < 0:
                break
            found.append(i)
            start = i + len(tag)
        positions[tag] = found
    return positions


def is_strict_format(completion: Any) -> bool:
    """Exactly `<reasoning>…</reasoning>` then `<sql>…</sql>`, each tag once, both non-empty,
    nothing but whitespace outside them."""
    text = completion_text(completion)
    lower = text.lower()
    pos = _tag_positions(lower)
    if any(len(p) != 1 for p in pos.values()):
        return False
    r_open, r_close, s_open, s_close = (pos[t][0] for t in _TAGS)
    if not r_open < r_close < s_open < s_close:
        return False
    return (not text[:r_open].strip() and not text[r_close + len("</reasoning>"):s_open].strip()
            and not text[s_close + len("</sql>"):].strip()
            and bool(text[r_open + len("<reasoning>"):r_close].strip())
            and bool(text[s_open + len("<sql>"):s_close].strip()))


def strict_format_reward(completions: Sequence[Any], **kwargs: Any) -> list[float]:
    """1.0 for exactly the answer format, else 0.0.

    >>> strict_format_reward(["<reasoning>\\nuse t\\n</reasoning>\\n<sql>\\nSELECT 1;\\n</sql>", "SELECT 1"])
    [1.0, 0.0]
    """
    return [FORMAT_FULL if _safe(is_strict_format, c, False) else 0.0 for c in completions]


def soft_format_score(completion: Any) -> float:
    """Partial credit, a quarter each: a closed reasoning block, a closed sql block, reasoning
    before sql, non-empty SQL inside the tags."""
    lower = completion_text(completion).lower()
    pos = _tag_positions(lower)
    score = 0.0
    has_reasoning = bool(pos["<reasoning>"]) and bool(pos["</reasoning>"]) and pos["<reasoning>"][0] < pos["</reasoning>"][0]
    has_sql = bool(pos["<sql>"]) and bool(pos["</sql>"]) and pos["<sql>"][0] < pos["</sql>"][0]
    if has_reasoning:
        score += SOFT_FORMAT_PART
    if has_sql:
        score += SOFT_FORMAT_PART
    if has_reasoning and has_sql and pos["</reasoning>"][0] < pos["<sql>"][0]:
        score += SOFT_FORMAT_PART
    if has_sql and lower[pos["<sql>"][0] + len("<sql>"):pos["</sql>"][0]].strip():
        score += SOFT_FORMAT_PART
    return score


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
# Execution

class _LRU:
    """A small thread-safe LRU cache."""

    def __init__(self, size: int):
        self.size = size
        self._data: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def get_or_compute(self, key: Hashable, compute: Callable[[], Any],
                       keep: Callable[[Any], bool] | None = None) -> Any:
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
        value = compute()
        if keep is not None and not keep(value):
            return value
        with self._lock:
            self._data[key] = value
            while len(self._data) > self.size:
                self._data.popitem(last=False)
        return value


_GOLD_OUTCOMES = _LRU(GOLD_CACHE_SIZE)
_GOLD_TREES = _LRU(GOLD_CACHE_SIZE)
# The same completion SQL is analysed by several rewards (complexity, reasoning, schema
# linking) and recurs within a group: parse it once.
_COMPLETION_ANALYSIS = _LRU(COMPLETION_CACHE_SIZE)
# Execution scores of recent (backend, context, gold, prediction): GRPO samples the same
# answers again and again; a score is deterministic given the four (timeouts are not kept).
_PRED_SCORES = _LRU(COMPLETION_CACHE_SIZE)
_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def clear_caches(*, predictions_only: bool = False) -> None:
    """Forget cached scores and analyses of completions and, unless `predictions_only`, gold
    outcomes, parsed golds and the executor's databases: for benchmarks that measure a cold
    start (or new answers to known prompts), or after a dataset changes."""
    for cache in (_COMPLETION_ANALYSIS, _PRED_SCORES):
        cache.clear()
    if predictions_only:
        return
    for cache in (_GOLD_OUTCOMES, _GOLD_TREES):
        cache.clear()
    for backend in ("sqlite", "duckdb"):
        default_executor(backend).clear()


def _pool() -> ThreadPoolExecutor:
    """Threads for running queries in parallel: the engine releases the GIL while a query runs,
    and each query has its own time limit, so one slow query never holds up the others."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
            _POOL = ThreadPoolExecutor(max_workers=max(workers, 1), thread_name_prefix="sqlgrpo-reward")
        return _POOL


def _per_sample(kwargs: dict, name: str, n: int, default: Any = None) -> list:
    value = kwargs.get(name)
    if value is None:
        return [default] * n
    if isinstance(value, (list, tuple)):
        return list(value) + [default] * (n - len(value))
    return [value] * n  # one value for the whole batch


def _executor(backend: Any) -> SQLExecutor:
    return default_executor(backend if backend in ("sqlite", "duckdb") else "sqlite")


def gold_outcome(gold: str, context: str, backend: str = "sqlite") -> ExecResult:
    """The gold's execution, computed once per (backend, context, gold) and cached."""
    # A gold that timed out may only have met a busy machine: try it again next time.
    return _GOLD_OUTCOMES.get_or_compute((backend, context, gold), lambda: _executor(backend).run(gold, context),
                                         keep=lambda result: not result.timed_out)


def gold_is_ordered(gold: str, backend: str = "sqlite") -> bool:
    """Whether the gold's final result is ordered (a top-level ORDER BY): then row order counts."""
    trees = _gold_trees(gold, backend)
    if not trees:
        return False
    last = trees[-1]
    return isinstance(last, (exp.Select, exp.SetOperation)) and last.args.get("order") is not None


def _gold_trees(gold: str, backend: str) -> list[exp.Expression] | None:
    return _GOLD_TREES.get_or_compute(("trees", backend, gold), lambda: parse_statements(gold, backend)
                                      or parse_statements(gold, "postgres") or parse_statements(gold, "mysql"))


def _same_statement_text(a: str, b: str) -> bool:
    """Equal up to whitespace and a trailing semicolon (case kept: 'Bob' is not 'bob')."""
    return " ".join(a.split()).rstrip(";").rstrip() == " ".join(b.split()).rstrip(";").rstrip()


def execution_score(pred_sql: str | None, gold: str, context: str, backend: str = "sqlite") -> float | None:
    """EXEC_MATCH, EXEC_RAN_WRONG or EXEC_FAILED for one prediction; None when the gold fails."""
    return _execution_verdict(pred_sql, gold, context, backend)[0]


def _execution_verdict(pred_sql: str | None, gold: str, context: str, backend: str) -> tuple[float | None, bool]:
    """(score, cacheable): a prediction that timed out may only have met a busy machine."""
    gold_result = gold_outcome(gold, context, backend)
    if not gold_result.ok:
        return None, False
    if not pred_sql:
        return EXEC_FAILED, True
    if _same_statement_text(pred_sql, gold):
        return EXEC_MATCH, True  # the gold's own text: same program, same outcome
    pred = _executor(backend).run(pred_sql, context)
    if not pred.ok:
        return EXEC_FAILED, not pred.timed_out
    if modifies(gold_result) != modifies(pred):
        return EXEC_FAILED, True  # a DELETE never answers a question; a SELECT never performs an update
    if not outcomes_match(gold_result, pred):
        return EXEC_RAN_WRONG, True  # not even the same rows: order cannot matter
    # Same rows; whether their order must match too takes a parse of the gold, needed only here.
    if (not modifies(gold_result) and len(gold_result.rows) > 1 and gold_is_ordered(gold, backend)
            and not outcomes_match(gold_result, pred, order_matters=True)):
        return EXEC_RAN_WRONG, True
    return EXEC_MATCH, True


def execution_reward(completions: Sequence[Any], sql: Sequence[str], sql_context: Sequence[str],
                     **kwargs: Any) -> list[float | None]:
    """Run each completion's SQL and the gold on the example database; compare outcomes.

    EXEC_MATCH (1.0) for the gold's outcome (rows as multisets, columns in any order, order only
    when the gold has ORDER BY; DML by the whole database state), EXEC_RAN_WRONG (0.1) for SQL
    that runs with another outcome, EXEC_FAILED (0.0) for no SQL, SQL that fails, or statements
    of another kind than the gold's (DML for a question, a bare SELECT for an update). None where
    the gold itself fails. Queries run in parallel, each under the executor's time limit.

    >>> ctx = "CREATE TABLE t (x INT); INSERT INTO t VALUES (1), (2);"
    >>> execution_reward(["<sql>SELECT SUM(x) AS total FROM t</sql>", "<sql>SELECT MAX(x) FROM t</sql>",
    ...                   "<sql>DELETE FROM t</sql>", "no sql here"], sql=["SELECT SUM(x) FROM t"] * 4,
    ...                  sql_context=[ctx] * 4)
    [1.0, 0.1, 0.0, 0.0]
    """
    n = len(completions)
    golds = _per_sample({"sql": sql}, "sql", n, "")
    contexts = _per_sample({"sql_context": sql_context}, "sql_context", n, "")
    backends = _per_sample(kwargs, "backend", n, "sqlite")

    # Gold outcomes first, once per distinct gold (a GRPO group shares one).
    for key in dict.fromkeys(zip(golds, contexts, backends)):
        gold_outcome(key[0], key[1], key[2] or "sqlite")
    # Then each distinct (prediction, gold, context) once: a group often repeats an answer.
    keys = []
    for i in range(n):
        try:
            pred_sql = parse_answer(completions[i]).sql
        except Exception:  # noqa: BLE001 - never raise on a completion
            log.debug("execution_reward could not read sample %d", i, exc_info=True)
            pred_sql = None
        keys.append((backends[i] or "sqlite", contexts[i], golds[i], pred_sql))
    distinct = list(dict.fromkeys(keys))

    def score(key: tuple) -> float | None:
        backend, context, gold, pred_sql = key
        try:
            verdict = _PRED_SCORES.get_or_compute(key, lambda: _execution_verdict(pred_sql, gold, context, backend),
                                                  keep=lambda v: v[1])
            return verdict[0]
        except Exception:  # noqa: BLE001 - never raise on a completion
            log.debug("execution_reward failed on %r", (pred_sql or "")[:200], exc_info=True)
            return EXEC_FAILED

    workers = _pool()._max_workers
    if len(distinct) < PARALLEL_MIN_COMPLETIONS or workers <= 1:
        scores = {key: score(key) for key in distinct}
    else:
        # One contiguous chunk per core: per-item tasks cost more in handoffs than they gain.
        bounds = [(len(distinct) * k // workers, len(distinct) * (k + 1) // workers) for k in range(workers)]
        chunks = _pool().map(lambda b: [(key, score(key)) for key in distinct[b[0]:b[1]]], bounds)
        scores = dict(pair for chunk in chunks for pair in chunk)
    return [scores[key] for key in keys]


# --------------------------------------------------------------------------------------------
# Structure and schema

# Structural elements counted by `structure_features`: feature name -> sqlglot node types.
_STRUCTURE_NODES: dict[str, tuple[type, ...]] = {
    "join": (exp.Join,),
    "subquery": (exp.Subquery, exp.Exists),  # IN (...), scalar, derived tables, EXISTS
    "aggregate": (exp.Count, exp.Sum, exp.Avg, exp.Min, exp.Max),
    "group_by": (exp.Group,),
    "having": (exp.Having,),
    "window": (exp.Window,),
    "cte": (exp.CTE,),
    "set_op": (exp.SetOperation,),
    "case": (exp.Case,),
    "order_by": (exp.Order,),
    "limit": (exp.Limit,),
    "distinct": (exp.Distinct,),
    "where": (exp.Where,),
}


def statement_kinds(trees: list[exp.Expression]) -> tuple[str, ...]:
    """The kind of each statement: select, insert, update, delete or other (DDL, commands)."""
    kinds = []
    for tree in trees:
        if isinstance(tree, (exp.Select, exp.SetOperation, exp.Subquery)):
            kinds.append("select")
        elif isinstance(tree, exp.Insert):
            kinds.append("insert")
        elif isinstance(tree, exp.Update):
            kinds.append("update")
        elif isinstance(tree, exp.Delete):
            kinds.append("delete")
        else:
            kinds.append("other")
    return tuple(kinds)


def structure_features(trees: list[exp.Expression]) -> dict[str, int]:
    """Counts of structural elements, from the sqlglot AST (never from substrings)."""
    feats = dict.fromkeys(_STRUCTURE_NODES, 0)
    for tree in trees:
        for node in tree.walk():
            for name, node_types in _STRUCTURE_NODES.items():
                if isinstance(node, node_types):
                    feats[name] += 1
                    break
    return feats


def structure_similarity(a: dict[str, int], b: dict[str, int]) -> float:
    """Σ min / Σ max over the feature counts (1.0 when both are plain)."""
    top = sum(min(a[k], b[k]) for k in a)
    bottom = sum(max(a[k], b[k]) for k in a)
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
    n = len(completions)
    golds = _per_sample({"sql": sql}, "sql", n, "")
    contexts = _per_sample({"sql_context": sql_context}, "sql_context", n, None)
    backends = _per_sample(kwargs, "backend", n, "sqlite")
    out: list[float | None] = []
    for i in range(n):
        try:
            backend = backends[i] or "sqlite"
            gold_trees = _gold_trees(golds[i], backend)
            if not gold_trees or (contexts[i] is not None and not gold_outcome(golds[i], contexts[i], backend).ok):
                out.append(None)
                continue
            gold_shape = _GOLD_TREES.get_or_compute(("shape", backend, golds[i]),
                                                    lambda: (statement_kinds(gold_trees), structure_features(gold_trees)))
            pred_shape = _cached_shape(parse_answer(completions[i]).sql, backend)
            if pred_shape is None or pred_shape[0] != gold_shape[0]:
                out.append(0.0)
            else:
                out.append(structure_similarity(pred_shape[1], gold_shape[1]))
        except Exception:  # noqa: BLE001
            log.debug("complexity_reward failed on sample %d", i, exc_info=True)
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
    db = _executor(backend).database(context)
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
    golds = _per_sample({"sql": sql}, "sql", n, "")
    contexts = _per_sample({"sql_context": sql_context}, "sql_context", n, "")
    backends = _per_sample(kwargs, "backend", n, "sqlite")
    out: list[float | None] = []
    for i in range(n):
        try:
            backend = backends[i] or "sqlite"
            schema = _schema_of(contexts[i], backend)
            gold_names = _GOLD_TREES.get_or_compute(("names", backend, contexts[i], golds[i]),
                                                    lambda: _used_names(golds[i], backend, schema))
            gold_trees = _gold_trees(golds[i], backend)
            if not gold_names or not gold_trees or not gold_outcome(golds[i], contexts[i], backend).ok:
                out.append(None)
                continue
            pred_sql = parse_answer(completions[i]).sql
            pred_shape = _cached_shape(pred_sql, backend)
            if pred_shape is None or pred_shape[0] != statement_kinds(gold_trees):
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
    contexts = _per_sample({"sql_context": sql_context}, "sql_context", n, "")
    backends = _per_sample(kwargs, "backend", n, "sqlite")
    out = []
    for i in range(n):
        try:
            backend = backends[i] or "sqlite"
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
}


def get_reward(name: str) -> Callable[..., list[float | None]]:
    """The reward function registered under `name`; an unknown name lists the valid ones."""
    try:
        return REWARDS[name]
    except KeyError:
        raise KeyError(f"unknown reward {name!r}; valid rewards: {', '.join(REWARDS)}") from None
