"""The metrics: what is measured about each answer, and the rates over a set of answers.

Every answer gets one record (`score_answer`, or `score_records` for many at once), built from
its `Verdict` (the answer is executed once, in `sqlgrpo.scoring.verdict`) and from reading its
format; every metric is one function of those records. Evaluation and the held-out check during
training (`heldout_metrics`) use the same definitions, over the same denominator: every answer.

    >>> ctx = "CREATE TABLE t (x INT); INSERT INTO t VALUES (1), (2);"
    >>> record = {"sql": "SELECT SUM(x) FROM t", "sql_context": ctx}
    >>> scored = [score_answer(o, record) for o in ("<reasoning>add</reasoning><sql>SELECT SUM(x) FROM t</sql>",
    ...                                             "SELECT MAX(x) FROM t", "no idea")]
    >>> [s["error_kind"] for s in scored]
    ['correct', 'wrong_result', 'no_sql']
    >>> rates = compute_metrics(scored)
    >>> rates["execution_accuracy_count"], rates["valid_sql_rate_count"], rates["format_compliance_count"]
    (1, 2, 1)
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from sqlglot import exp

from sqlgrpo.common.files import json_safe
from sqlgrpo.scoring.answers import ParsedAnswer, is_strict_format, parse_answer, soft_format_score
from sqlgrpo.scoring.suites import record_suite
from sqlgrpo.scoring.verdict import (CORRECT, GOLD_FAILED, NO_SQL, SHOWN_DATA_ONLY, WRONG_RESULT, WRONG_STATEMENT_KIND, Verdict,
                                     gold_outcome, verdicts)
from sqlgrpo.sql import ErrorKind
from sqlgrpo.sql.analysis import parse_statements

# The error taxonomy of a sample, in the order reports list it: right, then wrong, then failures
# from the earliest stage (no SQL at all) to the latest (it ran out of time), then the executor's
# refusals. Kinds outside it (a gold that failed) follow.
TAXONOMY = (CORRECT, SHOWN_DATA_ONLY, WRONG_RESULT, NO_SQL, ErrorKind.SYNTAX, ErrorKind.MISSING_TABLE, ErrorKind.MISSING_COLUMN,
            ErrorKind.RUNTIME, ErrorKind.TIMEOUT, ErrorKind.TOO_LARGE, ErrorKind.FORBIDDEN, WRONG_STATEMENT_KIND,
            GOLD_FAILED)

# Each headline rate is the share of answers whose record has this field true.
METRICS: dict[str, str] = {
    "execution_accuracy": "shown_correct",  # the gold's outcome on the shown database (EX)
    "test_suite_accuracy": "correct",  # ... and on every variant of its test suite (TS)
    "strict_execution_accuracy": "strict_correct",
    "exact_match": "exact_match",
    "valid_sql_rate": "valid_sql",
    "format_compliance": "format_strict",
    "soft_format_rate": "format_soft",
}
RATE_KEYS = tuple(METRICS)
PREVIEW_ROWS = 5  # result rows kept per answer for the report: enough to see what it returned
SAMPLE_FIELDS = ("raw_output", "extracted_sql", "correct", "shown_correct", "error_kind", "outcome")  # kept per extra sample


# --------------------------------------------------------------------------------------------
# One answer

def exact_match(pred_sql: str | None, gold: str, backend: str = "sqlite") -> bool:
    """Same query after sqlglot normalization (identifier case, whitespace, quoting, keyword
    case); False when either side cannot be parsed."""
    if not pred_sql:
        return False
    pred_trees, gold_trees = parse_statements(pred_sql, backend), parse_statements(gold, backend)
    if not pred_trees or not gold_trees:
        return False
    return _normalized_sql(pred_trees, backend) == _normalized_sql(gold_trees, backend)


def _normalized_sql(trees: list, backend: str) -> str:
    """Statements rendered with identifiers unquoted and case-folded (`"Name"`, `name` and
    `NAME` are the same column to SQLite), keywords and whitespace normalized."""
    out = []
    for tree in trees:
        tree = tree.copy()
        for ident in tree.find_all(exp.Identifier):
            ident.set("quoted", False)
        out.append(tree.sql(dialect=backend, normalize=True, pretty=False))
    return ";".join(out)


def answer_record(raw_output: str, answer: ParsedAnswer, found: Verdict, gold: str, gold_ok: bool,
                  backend: str = "sqlite") -> dict:
    """Everything measured about one answer, from its reading and its verdict."""
    out: dict[str, Any] = {"raw_output": raw_output, "extracted_sql": answer.sql, "reasoning": answer.reasoning,
                           "sql_source": answer.sql_source, "format_strict": is_strict_format(raw_output),
                           "format_soft": soft_format_score(raw_output) >= 1.0, "gold_ok": gold_ok,
                           "valid_sql": found.ran, "correct": found.correct, "shown_correct": found.shown_correct,
                           "suite_checked": found.variants_checked, "strict_correct": found.strict_correct,
                           "exact_match": exact_match(answer.sql, gold, backend), "error_kind": found.kind,
                           "error": found.error, "outcome": found.outcome, "execution_score": found.score}
    if found.prediction is not None:
        pred = found.prediction
        out.update(columns=list(pred.columns), execution_s=round(pred.elapsed_s, 4),
                   rows_preview=[list(map(json_safe, row)) for row in pred.rows[:PREVIEW_ROWS]] if pred.ok else [])
    return out


def score_answer(raw_output: str, record: dict, backend: str = "sqlite") -> dict:
    """The record of one answer to one question (`record` holds `sql` and `sql_context`, and
    `test_suite` when prepare built one)."""
    return score_records([record], [[raw_output]], backend)[0][0]


def score_records(records: Sequence[dict], outputs: Sequence[Sequence[str]], backend: str = "sqlite") -> list[list[dict]]:
    """For each question, the records of its answers (`outputs[i]` answer `records[i]`). All
    verdicts are taken at once: each distinct answer runs once, in parallel."""
    answers = [[parse_answer(text) for text in texts] for texts in outputs]
    items = [(a.sql, r["sql"], r["sql_context"], backend, record_suite(r)) for r, row in zip(records, answers) for a in row]
    found = iter(verdicts(items))
    out = []
    for record, texts, row in zip(records, outputs, answers):
        gold_ok = gold_outcome(record["sql"], record["sql_context"], backend).ok
        out.append([answer_record(text, answer, next(found), record["sql"], gold_ok, backend)
                    for text, answer in zip(texts, row)])
    return out


def question_record(record: dict, samples: list[dict], generation: dict) -> dict:
    """The result of one question: its first answer's record with the question's fields, and
    with several answers their pass@k and majority vote."""
    tokens = generation.get("tokens") or [None]
    latency = generation.get("latency_s") or [None]
    result = {"id": str(record["id"]), "question": record["sql_prompt"], "context": record["sql_context"],
              "gold": record["sql"], "sql_complexity": record.get("sql_complexity"), **samples[0],
              "tokens": tokens[0], "latency_s": latency[0], "judge": None}
    if len(samples) > 1:
        result["samples"] = [{k: s[k] for k in SAMPLE_FIELDS} for s in samples]
        result["pass_at_k"] = any(s["correct"] for s in samples)
        result["self_consistency_correct"] = self_consistent(samples)
    return result


def score_questions(records: Sequence[dict], generations: Sequence[dict], backend: str = "sqlite") -> list[dict]:
    """One result per question from its generation (`{"outputs": [...], "tokens": [...],
    "latency_s": [...]}`), every answer scored once."""
    outputs = [generation.get("outputs") or [""] for generation in generations]
    return [question_record(record, samples, generation)
            for record, samples, generation in zip(records, score_records(records, outputs, backend), generations)]


def self_consistent(samples: list[dict]) -> bool:
    """Majority vote over execution outcomes (SQL-R1): the most common outcome among the
    answers that ran; correct when that outcome's answers are correct. Ties: the earliest."""
    groups: dict[Any, list[dict]] = {}
    for s in samples:
        if s.get("outcome") is not None:
            groups.setdefault(_hashable(s["outcome"]), []).append(s)
    if not groups:
        return False
    best = max(groups.values(), key=len)
    return bool(best[0]["correct"])


def _hashable(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    return value


# --------------------------------------------------------------------------------------------
# Rates over many answers

def rate(records: Sequence[dict], field: str) -> float:
    """The share of records whose `field` is true (0.0 for no records)."""
    return sum(1 for r in records if r.get(field)) / len(records) if records else 0.0


def compute_metrics(records: list[dict]) -> dict:
    """Headline rates overall and per `sql_complexity` class, with counts, plus the error
    taxonomy, tokens and latency, and pass@k / self-consistency when several answers were drawn."""
    metrics: dict[str, Any] = {"n": len(records)}
    for name, field in METRICS.items():
        metrics[name] = round(rate(records, field), 4)
        metrics[f"{name}_count"] = sum(1 for r in records if r.get(field))
    by_class: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        by_class[str(r.get("sql_complexity") or "unlabelled")].append(r)
    metrics["by_complexity"] = {cls: {"n": len(rs), **{name: round(rate(rs, field), 4) for name, field in METRICS.items()}}
                                for cls, rs in sorted(by_class.items())}
    taxonomy = Counter(r["error_kind"] for r in records)
    metrics["error_taxonomy"] = {k: taxonomy.get(k, 0) for k in TAXONOMY if taxonomy.get(k, 0)} | \
                                {k: v for k, v in taxonomy.items() if k not in TAXONOMY}
    tokens = [r["tokens"] for r in records if r.get("tokens") is not None]
    latency = [r["latency_s"] for r in records if r.get("latency_s") is not None]
    metrics["tokens_mean"] = round(sum(tokens) / len(tokens), 2) if tokens else None
    metrics["latency_mean_s"] = round(sum(latency) / len(latency), 4) if latency else None
    metrics["tokens_per_s"] = round(sum(tokens) / sum(latency), 2) if latency and sum(latency) > 0 else None
    k = max(1, max((len(r.get("samples") or []) for r in records), default=1))
    metrics["num_samples"] = k
    if k > 1:
        metrics["pass_at_k"] = round(rate(records, "pass_at_k"), 4)
        metrics["self_consistency_accuracy"] = round(rate(records, "self_consistency_correct"), 4)
    else:
        metrics["pass_at_k"] = metrics["self_consistency_accuracy"] = None
    return metrics


def heldout_metrics(texts: Sequence[str], records: Sequence[dict], backend: str = "sqlite") -> dict[str, float]:
    """Execution accuracy and format compliance of one answer per record, as evaluation
    defines them (over every answer): what the held-out check logs during training."""
    scored = [samples[0] for samples in score_records(records, [[t] for t in texts], backend)]
    return {name: rate(scored, METRICS[name]) for name in ("execution_accuracy", "test_suite_accuracy",
                                                              "format_compliance")}
