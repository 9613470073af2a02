"""The metrics: what is measured about each answer, and the rates over a set of answers.

Every answer gets one record (`score_answer`, or `score_records` for many at once), built from
its `Verdict` (the answer is executed once, in `sqlgrpo.scoring.verdict`) and from reading its
format; every metric is one function of those records. Evaluation and the held-out check during
training (`heldout_metrics`) use the same definitions, over the same denominator: every answer to
a question whose gold runs (a question whose gold fails is not scored, and `n` does not count it).

`match` names the comparison behind `correct` and `shown_correct` (execution accuracy):
`sqlgrpo.scoring.matching.MATCH_CONVENTIONS`, default `ours`. Under a benchmark's convention
(`spider`, `bird`) each answer also gets the `ours` verdict, whose score is its execution reward
and whose strict match is `strict_correct`: what the model is trained on does not change with
what a report measures.

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
from sqlgrpo.scoring.matching import OURS, check_convention
from sqlgrpo.scoring.suites import record_suite
from sqlgrpo.scoring.verdict import (CORRECT, GOLD_FAILED, NO_SQL, NOT_AS_WRITTEN, SHOWN_DATA_ONLY, WRONG_RESULT,
                                     WRONG_STATEMENT_KIND, Verdict, convention_gold, gold_outcome, verdicts)
from sqlgrpo.sql import ErrorKind
from sqlgrpo.sql.analysis import parse_statements, structure_features

# The error taxonomy of a sample, in the order reports list it: right, then wrong, then failures
# from the earliest stage (no SQL at all) to the latest (it ran out of time), then the executor's
# refusals. Kinds outside it (a gold that failed) follow.
TAXONOMY = (CORRECT, SHOWN_DATA_ONLY, WRONG_RESULT, NO_SQL, ErrorKind.SYNTAX, ErrorKind.MISSING_TABLE, ErrorKind.MISSING_COLUMN,
            ErrorKind.RUNTIME, ErrorKind.TIMEOUT, ErrorKind.TOO_LARGE, ErrorKind.FORBIDDEN, NOT_AS_WRITTEN,
            WRONG_STATEMENT_KIND, GOLD_FAILED)
# The benchmarks' difficulty ladders (Spider's hardness, BIRD's difficulty), easiest first: the
# order of `by_complexity`; other classes follow by name.
DIFFICULTY_ORDER = ("easy", "medium", "hard", "extra", "simple", "moderate", "challenging")
GIVEN_SQL = "given"  # `sql_source` of an answer whose SQL came as SQL (predictions made elsewhere)

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
QUESTION_FIELDS = ("benchmark", "split", "source_index", "db_id")  # a benchmark question's place, kept in its result
# The structure counted in the answers beside the golds (`answer_shapes`): a policy that drifts
# into one-table lookups that run loses them while its valid-SQL rate rises.
SHAPE_FEATURES = ("join", "aggregate", "group_by", "order_by")


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
                  backend: str = "sqlite", reward_verdict: Verdict | None = None) -> dict:
    """Everything measured about one answer, from its reading and its verdict (`found`, under the
    eval's convention) and the `ours` verdict its reward and strict match come from
    (`reward_verdict`; `found` itself when that is the `ours` one)."""
    ours = reward_verdict or found
    out: dict[str, Any] = {"raw_output": raw_output, "extracted_sql": answer.sql, "reasoning": answer.reasoning,
                           "sql_source": answer.sql_source, "format_strict": is_strict_format(raw_output),
                           "format_soft": soft_format_score(raw_output) >= 1.0, "gold_ok": gold_ok,
                           "valid_sql": found.ran, "correct": found.correct, "shown_correct": found.shown_correct,
                           "suite_checked": found.variants_checked, "strict_correct": ours.strict_correct,
                           "exact_match": exact_match(answer.sql, gold, backend), "error_kind": found.kind,
                           "error": found.error, "outcome": found.outcome, "execution_score": ours.score,
                           "result_similarity": ours.result_similarity}
    if found.prediction is not None:
        pred = found.prediction
        out.update(columns=list(pred.columns), execution_s=round(pred.elapsed_s, 4),
                   rows_preview=[list(map(json_safe, row)) for row in pred.rows[:PREVIEW_ROWS]] if pred.ok else [])
    return out


def score_answer(raw_output: str, record: dict, backend: str = "sqlite", match: str = OURS) -> dict:
    """The record of one answer to one question (`record` holds `sql` and `sql_context`, and
    `test_suite` when prepare built one)."""
    return score_records([record], [[raw_output]], backend, match)[0][0]


def read_answer(raw_output: str, sql: str | None = None) -> ParsedAnswer:
    """The answer in an output; with `sql` given (a prediction made elsewhere), that SQL as it is,
    never searched for, and the output read only for its reasoning."""
    if sql is None:
        return parse_answer(raw_output)
    reasoning = parse_answer(raw_output).reasoning if raw_output != sql else None
    return ParsedAnswer(raw_output, reasoning, sql.strip() or None, GIVEN_SQL if sql.strip() else "none")


def score_records(records: Sequence[dict], outputs: Sequence[Sequence[str]], backend: str = "sqlite",
                  match: str = OURS, given_sql: Sequence[Sequence[str | None]] | None = None) -> list[list[dict]]:
    """For each question, the records of its answers (`outputs[i]` answer `records[i]`), `correct`
    under the convention `match`. `given_sql[i][j]`, when not None, is the SQL of output j of
    question i, given as it is (see `read_answer`). All verdicts are taken at once: each
    distinct answer runs once, in parallel (under a benchmark's convention, again only when that
    convention runs another text)."""
    check_convention(match)
    given = given_sql or [()] * len(records)
    answers = [[read_answer(text, sql) for text, sql in zip(texts, list(sqls) + [None] * (len(texts) - len(sqls)))]
               for texts, sqls in zip(outputs, given)]
    items = [(a.sql, r["sql"], r["sql_context"], backend, record_suite(r)) for r, row in zip(records, answers) for a in row]
    ours = verdicts(items)
    if match == OURS:
        found, rewarded = iter(ours), iter([None] * len(ours))
    else:
        plain = [(sql, gold, context, backend) for sql, gold, context, backend, _ in items]  # no suite
        found = iter(verdicts(plain, match, ran=[v.prediction for v in ours]))
        rewarded = iter(ours)
    out = []
    for record, texts, row in zip(records, outputs, answers):
        gold_ok = gold_outcome(convention_gold(record["sql"], match, backend), record["sql_context"], backend).ok
        out.append([answer_record(text, answer, next(found), record["sql"], gold_ok, backend, next(rewarded))
                    for text, answer in zip(texts, row)])
    return out


def question_record(record: dict, samples: list[dict], generation: dict) -> dict:
    """The result of one question: its first answer's record with the question's fields, and
    with several answers their pass@k and majority vote."""
    tokens = generation.get("tokens") or [None]
    latency = generation.get("latency_s") or [None]
    result = {"id": str(record["id"]), "question": record["sql_prompt"], "context": record["sql_context"],
              "gold": record["sql"], "sql_complexity": record.get("sql_complexity"),
              **{k: record[k] for k in QUESTION_FIELDS if k in record}, **samples[0],
              "tokens": tokens[0], "latency_s": latency[0], "judge": None}
    if len(samples) > 1:
        result["samples"] = [{k: s[k] for k in SAMPLE_FIELDS} for s in samples]
        result["pass_at_k"] = any(s["correct"] for s in samples)
        result["self_consistency_correct"] = self_consistent(samples)
    return result


def score_questions(records: Sequence[dict], generations: Sequence[dict], backend: str = "sqlite",
                    match: str = OURS) -> list[dict]:
    """One result per question from its generation (`{"outputs": [...], "tokens": [...],
    "latency_s": [...]}`, and `"given_sql": [...]` when a prediction made elsewhere gives an
    output's SQL as it is), every answer scored once, `correct` under the convention `match`."""
    outputs = [generation.get("outputs") or [""] for generation in generations]
    given = [generation.get("given_sql") or () for generation in generations]
    scored = score_records(records, outputs, backend, match, given)
    return [question_record(record, samples, generation)
            for record, samples, generation in zip(records, scored, generations)]


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


def scored_records(records: Sequence[dict]) -> list[dict]:
    """The records that are scored: those of questions whose gold runs (a record without
    `gold_ok` counts as scored)."""
    return [r for r in records if r.get("gold_ok", True) is not False]


def _class_order(name: str) -> tuple:
    return (DIFFICULTY_ORDER.index(name), "") if name in DIFFICULTY_ORDER else (len(DIFFICULTY_ORDER), name)


def compute_metrics(records: list[dict], backend: str = "sqlite") -> dict:
    """Headline rates overall and per `sql_complexity` class (difficulty ladders easiest first),
    with counts, plus the answers' shapes beside the golds' (`answer_shapes`), the error
    taxonomy, tokens and latency, and pass@k / self-consistency when several answers were drawn. Every rate is over the scored questions (`n`); `gold_failed`
    counts the others."""
    all_records, records = records, scored_records(records)
    metrics: dict[str, Any] = {"n": len(records), "gold_failed": len(all_records) - len(records)}
    for name, field in METRICS.items():
        metrics[name] = round(rate(records, field), 4)
        metrics[f"{name}_count"] = sum(1 for r in records if r.get(field))
    by_class: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        by_class[str(r.get("sql_complexity") or "unlabelled")].append(r)
    metrics["by_complexity"] = {cls: {"n": len(rs), **{name: round(rate(rs, field), 4) for name, field in METRICS.items()}}
                                for cls, rs in sorted(by_class.items(), key=lambda item: _class_order(item[0]))}
    metrics["answer_shapes"] = _answer_shapes_of(records, backend)
    taxonomy = Counter(r["error_kind"] for r in records)
    metrics["error_taxonomy"] = {k: taxonomy.get(k, 0) for k in TAXONOMY if taxonomy.get(k, 0)} | \
                                {k: v for k, v in taxonomy.items() if k not in TAXONOMY}
    # Generation cost is over every answer drawn, scored or not: it was paid for all of them.
    tokens = [r["tokens"] for r in all_records if r.get("tokens") is not None]
    latency = [r["latency_s"] for r in all_records if r.get("latency_s") is not None]
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


def answer_shapes(answers: Sequence[str | None], golds: Sequence[str], backend: str = "sqlite") -> dict[str, dict]:
    """For each of SHAPE_FEATURES, how many answers' SQL has it (`answers`: no SQL or SQL sqlglot
    cannot parse has none) and how many golds do (`golds`), out of `n`.

    >>> answer_shapes(["SELECT a FROM t WHERE b = 1", None], ["SELECT a, COUNT(*) FROM t GROUP BY a", "SELECT 1"])
    {'n': 2, 'join': {'answers': 0, 'golds': 0}, 'aggregate': {'answers': 0, 'golds': 1}, 'group_by': {'answers': 0, 'golds': 1}, 'order_by': {'answers': 0, 'golds': 0}}
    """
    def features(sql: str | None) -> dict[str, int]:
        trees = parse_statements(sql, backend) if sql else None
        return structure_features(trees) if trees else {}

    found = [features(a) for a in answers]
    wanted = [features(g) for g in golds]
    return {"n": len(answers), **{name: {"answers": sum(1 for f in found if f.get(name)),
                                         "golds": sum(1 for f in wanted if f.get(name))} for name in SHAPE_FEATURES}}


def _answer_shapes_of(records: Sequence[dict], backend: str) -> dict[str, dict]:
    """`answer_shapes` of answer records that carry their question's `gold`."""
    return answer_shapes([r.get("extracted_sql") for r in records], [r.get("gold") or "" for r in records], backend)


def heldout_metrics(texts: Sequence[str], records: Sequence[dict], backend: str = "sqlite") -> dict[str, float]:
    """Execution accuracy, test-suite accuracy, valid SQL rate, format compliance and the share
    of answers naming a column that does not exist (`missing_column_rate`), one answer per record,
    as evaluation defines them (over every answer to a question whose gold runs), and for each
    of SHAPE_FEATURES the share of answers (`join_rate`...) and of golds (`gold_join_rate`...)
    that have it: what the held-out check logs during training."""
    scored = scored_records([samples[0] | {"gold": record["sql"]}
                             for samples, record in zip(score_records(records, [[t] for t in texts], backend), records)])
    measured = {name: rate(scored, METRICS[name]) for name in ("execution_accuracy", "test_suite_accuracy",
                                                                  "valid_sql_rate", "format_compliance")}
    # the share of answers whose SQL names a column that does not exist: what a small model gets wrong most
    measured["missing_column_rate"] = (sum(1 for r in scored if r["error_kind"] == ErrorKind.MISSING_COLUMN) / len(scored)
                                       if scored else 0.0)
    # what the answers are built of, beside the golds: a drift into lookups that run shows here
    shapes = _answer_shapes_of(scored, backend)
    for name in SHAPE_FEATURES:
        measured[f"{name}_rate"] = shapes[name]["answers"] / len(scored) if scored else 0.0
        measured[f"gold_{name}_rate"] = shapes[name]["golds"] / len(scored) if scored else 0.0
    return measured
