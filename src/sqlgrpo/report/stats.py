"""The numbers of the reports: which metrics a run has, how they are written, and how sure a
difference between two runs is. No matplotlib and no HTML here (`charts` and `html` build on it).

`HEADLINE_METRICS` are the metrics.json keys every report shows (`CLASS_METRICS` per complexity
class; `MEAN_REWARD` is a score, not a fraction of samples), and `KIND_LABELS` the outcome kinds
that read better in words than as their key. `format_fraction`, `format_metric` and
`format_delta` write them; `proportion_diff_interval` (two independent samples) and
`paired_diff_interval` (the same samples, by McNemar's discordant counts) give the 95% interval of
a difference, and `within_noise` says whether it includes 0. `metric_deltas` turns two runs into
the rows of a comparison as plain data (the demo keeps them in demo_summary.json), and
`comparison_sentences` says them in plain words. Trends over training steps are in
`sqlgrpo.report.trends`.

Inputs may come from older runs: any metric may be missing or null, and renders as "–"; a metric
newer than the run (test-suite accuracy in a metrics.json written before test suites) renders as
"n/a" (`metric_text`).

    >>> format_fraction(0.42, 50)
    '42.0% (21/50)'
    >>> lo, hi = proportion_diff_interval(0.50, 50, 0.52, 50)
    >>> lo < 0 < hi  # one more right answer in 50 is noise
    True
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlgrpo.scoring.judge_rubric import SCORE_MAX, SCORE_MIN
from sqlgrpo.scoring.metrics import SHAPE_FEATURES, TAXONOMY
from sqlgrpo.scoring.verdict import SHOWN_DATA_ONLY

log = logging.getLogger(__name__)

MISSING = "–"  # what a missing or null value renders as
NOT_MEASURED = "n/a"  # what a metric renders as in a run that predates it
Z_95 = 1.96  # two-sided 95% quantile of the normal distribution
MINUS = "\u2212"  # a real minus sign: as wide as "+", so signed columns line up

# The judge's scores as the keys of metrics.json's judge distribution: "1" to "5".
SCORE_LABELS = tuple(str(score) for score in range(SCORE_MIN, SCORE_MAX + 1))

# Outcome kinds in reading order: the metric's own taxonomy. Unknown kinds (older runs) follow.
ERROR_KIND_ORDER = TAXONOMY
# Kinds whose key does not say what they mean; the others are shown as they are.
KIND_LABELS = {SHOWN_DATA_ONLY: "right on the shown data only"}


@dataclass(frozen=True)
class Metric:
    """One headline number: its key in metrics.json, how to show it, and how to compare it."""

    key: str
    label: str
    unit: str = "fraction"  # fraction | tokens | seconds | rate | score
    per_sample: str | None = None  # the boolean result field this fraction is the mean of
    higher_is_better: bool | None = True  # None: neither direction is better (answer length)
    optional: bool = False  # shown only when the run computed it
    absent: str = MISSING  # shown for a run without the key at all
    legacy_per_sample: str | None = None  # the field that held it in results without `per_sample`


HEADLINE_METRICS = (
    # Results written before test suites have no `shown_correct`: their `correct` was this match.
    Metric("execution_accuracy", "Execution accuracy", per_sample="shown_correct", legacy_per_sample="correct"),
    # Right on every database of the record's suite too; older runs did not measure it.
    Metric("test_suite_accuracy", "Test-suite accuracy", per_sample="correct", absent=NOT_MEASURED),
    Metric("strict_execution_accuracy", "Strict execution accuracy", per_sample="strict_correct"),
    Metric("exact_match", "Exact match", per_sample="exact_match"),
    Metric("valid_sql_rate", "Valid SQL rate", per_sample="valid_sql"),
    Metric("format_compliance", "Format compliance", per_sample="format_strict"),
    Metric("soft_format_rate", "Soft format rate", per_sample="format_soft"),
    Metric("pass_at_k", "pass@k", optional=True),
    Metric("self_consistency_accuracy", "Self-consistency accuracy", optional=True),
    Metric("tokens_mean", "Tokens per answer (mean)", unit="tokens", higher_is_better=None),
    Metric("latency_mean_s", "Latency per answer (mean)", unit="seconds", higher_is_better=False),
    Metric("tokens_per_s", "Generation speed", unit="rate"),
)
CLASS_METRICS = tuple(m for m in HEADLINE_METRICS if m.unit == "fraction" and not m.optional)
# The weighted sum of the GRPO rewards on the eval answers: a plain number, and not a mean of
# booleans, so it gets a difference between runs but no interval.
MEAN_REWARD = Metric("mean_reward", "Mean reward", unit="score")
# GRPO rewards a comparison weighs too, each the mean of per-answer scores in [0, 1] (metrics.json's
# reward_means; each result's rewards), its interval paired on the answers: the complexity-alignment
# reward says whether answers that run more often got there by dropping the gold's structure.
REWARD_METRICS = (Metric("complexity_reward", "Complexity-alignment reward", unit="score"),)
METRIC_BY_KEY = {m.key: m for m in HEADLINE_METRICS + (MEAN_REWARD,) + REWARD_METRICS}
# What "What changed" must always speak to, in the order a model learns them: the answer format
# first, then SQL that runs, then SQL that returns the right rows, on the shown data and on its
# test-suite variants.
CHANGE_METRICS = ("format_compliance", "valid_sql_rate", "execution_accuracy", "test_suite_accuracy")


# --- numbers ---------------------------------------------------------------------------------

def as_number(value: Any) -> float | None:
    """A finite number, or None for anything else (missing, null, NaN, a string)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def as_count(value: Any) -> int | None:
    """A count (a number of samples): a finite number ≥ 0 as an int, or None."""
    number = as_number(value)
    return int(number) if number is not None and number >= 0 else None


def format_fraction(fraction: Any, n: Any = None) -> str:
    """"42.0% (21/50)": a fraction with the count it stands for; "–" when it is missing.

    The count is rounded from fraction × n, which is exact for a mean of n booleans.
    """
    value, total = as_number(fraction), as_count(n)
    if value is None:
        return MISSING
    if not total:
        return f"{100 * value:.1f}%"
    return f"{100 * value:.1f}% ({fraction_count(value, total)}/{total})"


def fraction_count(fraction: float | None, n: int | None) -> int | None:
    """How many of n samples a fraction stands for (exact for a mean of n booleans)."""
    return None if fraction is None or not n else round(fraction * n)


def format_value(metric: Metric, value: Any) -> str:
    """A metric's value in its unit ("42.0%", "1.25 s", "31.0 tok/s"); "–" when it is missing."""
    number = as_number(value)
    if number is None:
        return MISSING
    if metric.unit == "fraction":
        return f"{100 * number:.1f}%"
    if metric.unit == "seconds":
        return f"{number:.2f} s"
    if metric.unit == "rate":
        return f"{number:.1f} tok/s"
    if metric.unit == "score":
        return f"{number:.3f}"
    return f"{number:.1f}"


def format_metric(metric: Metric, value: Any, n: int | None) -> str:
    """A metric's value as the tables show it: a fraction with its count of n, anything else in its unit."""
    return format_fraction(value, n) if metric.unit == "fraction" else format_value(metric, value)


def metric_text(metric: Metric, values: Mapping, n: int | None) -> str:
    """A metric of a run (or of one class of it) as the tables show it: `format_metric`, or
    `metric.absent` when `values` lacks the key (a run that predates the metric)."""
    if not isinstance(values, Mapping) or metric.key not in values:
        return metric.absent
    return format_metric(metric, values.get(metric.key), n)


SHAPE_LABELS = {"join": "joins", "aggregate": "aggregates", "group_by": "GROUP BY", "order_by": "ORDER BY"}


def shape_rows(runs: Mapping[str, Any]) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """(column labels, rows) of what the answers are built of: for each run (label → its
    metrics), how many of its n answers have each of SHAPE_FEATURES, then a row of the golds
    (from the first run that counted them); a run that did not count them shows MISSING. No
    rows when no run counted them (runs from before the answers' structure was counted).

    >>> shape_rows({"SFT": {"answer_shapes": {"n": 2, "join": {"answers": 1, "golds": 2}}}, "old": {}})
    (['joins', 'aggregates', 'GROUP BY', 'ORDER BY'], [('SFT', ['1/2', '–', '–', '–']), ('old', ['–', '–', '–', '–']), ('golds', ['2/2', '–', '–', '–'])])
    """
    labels = [SHAPE_LABELS.get(f, f) for f in SHAPE_FEATURES]

    def cells(shapes: Any, side: str) -> list[str]:
        shapes = shapes if isinstance(shapes, Mapping) else {}
        n = as_count(shapes.get("n"))
        out = []
        for feature in SHAPE_FEATURES:
            counts = shapes.get(feature)
            count = as_count(counts.get(side)) if isinstance(counts, Mapping) else None
            out.append(MISSING if count is None or n is None else f"{count}/{n}")
        return out

    shapes_of = {label: m.get("answer_shapes") if isinstance(m, Mapping) else None for label, m in runs.items()}
    golds = next((s for s in shapes_of.values() if isinstance(s, Mapping)), None)
    if golds is None:
        return labels, []
    return labels, [(label, cells(shapes, "answers")) for label, shapes in shapes_of.items()] + [
        ("golds", cells(golds, "golds"))]


def kind_label(kind: Any) -> str:
    """An outcome kind as a reader sees it ("right on the shown data only"); unknown kinds as they are."""
    return KIND_LABELS.get(str(kind), str(kind))


def signed(value: float, digits: int, suffix: str = "") -> str:
    """`value` with its sign (a real minus) and `digits` decimals; "±0.0" when it rounds to zero."""
    text = f"{abs(value):.{digits}f}"
    if float(text) == 0:
        return f"±{text}{suffix}"  # "−0.0 pp" would claim a direction that rounding erased
    return f"{'+' if value > 0 else MINUS}{text}{suffix}"


def format_delta(metric: Metric, delta: float) -> str:
    """A difference B − A in the metric's unit: percentage points for fractions."""
    if metric.unit == "fraction":
        return signed(100 * delta, 1, " pp")
    if metric.unit == "seconds":
        return signed(delta, 2, " s")
    if metric.unit == "score":
        return signed(delta, 3)
    return signed(delta, 1)


def format_interval(interval: tuple[float, float], metric: Metric | None = None) -> str:
    """An interval of a difference of fractions, in percentage points: "[−2.1, +6.3] pp"; of
    scores (`metric` a score) as they are: "[−0.110, +0.014]"."""
    lo, hi = interval
    if metric is not None and metric.unit == "score":
        return f"[{signed(lo, 3)}, {signed(hi, 3)}]"
    return f"[{signed(100 * lo, 1)}, {signed(100 * hi, 1)}] pp"


def points_interval(interval: tuple[float, float]) -> str:
    """An interval of a difference of fractions in words: "−2.1 to +6.3" (points)."""
    lo, hi = interval
    return f"{signed(100 * lo, 1)} to {signed(100 * hi, 1)}"


# --- intervals -------------------------------------------------------------------------------

def proportion_diff_interval(p_a: float, n_a: int, p_b: float, n_b: int) -> tuple[float, float]:
    """95% interval of p_b − p_a for two independent samples (normal approximation, Wald).

    Simple on purpose: it is a guard against reading a 1-sample difference as progress, not a
    test to publish. With 0% or 100% on both sides the interval is a point.
    """
    if n_a <= 0 or n_b <= 0:
        raise ValueError(f"sample sizes must be positive, got n_a={n_a}, n_b={n_b}")
    se = math.sqrt(p_a * (1 - p_a) / n_a + p_b * (1 - p_b) / n_b)
    return _clamped(p_b - p_a, se)


def paired_diff_interval(a_only: int, b_only: int, n: int) -> tuple[float, float]:
    """95% interval of the accuracy difference B − A on the same n samples (paired, Wald).

    `a_only` samples are right in A only, `b_only` right in B only (McNemar's discordant counts);
    samples both runs get right or wrong say nothing about the difference, which is why pairing
    gives a narrower interval than `proportion_diff_interval` on the same data.
    """
    if n <= 0:
        raise ValueError(f"number of paired samples must be positive, got n={n}")
    delta = (b_only - a_only) / n
    variance = max((a_only + b_only) / n - delta * delta, 0.0) / n
    return _clamped(delta, math.sqrt(variance))


def paired_mean_interval(differences: list[float]) -> tuple[float, float]:
    """95% interval of the mean of per-sample differences B − A of scores in [0, 1] (the same
    samples; normal approximation with the sample variance). One difference gives a point.

    >>> lo, hi = paired_mean_interval([0.5, -0.5, 0.25, 0.0])
    >>> lo < 0 < hi
    True
    """
    n = len(differences)
    if n <= 0:
        raise ValueError("no paired differences")
    mean = sum(differences) / n
    variance = sum((d - mean) ** 2 for d in differences) / (n - 1) if n > 1 else 0.0
    return _clamped(mean, math.sqrt(variance / n))


def _clamped(delta: float, se: float) -> tuple[float, float]:
    """delta ± Z_95·se, cut to [−1, 1]: Wald intervals on small classes overshoot what a
    difference of two proportions can be."""
    return max(delta - Z_95 * se, -1.0), min(delta + Z_95 * se, 1.0)


def within_noise(interval: tuple[float, float]) -> bool:
    """Whether a 95% interval of a difference includes 0: a change that small could be luck."""
    lo, hi = interval
    return lo <= 0 <= hi


# --- what a run measured ---------------------------------------------------------------------

def metric_label(metric: Metric, metrics: Mapping) -> str:
    """The metric's name in a run's tables: pass@k and self-consistency name their k."""
    k = as_count(metrics.get("num_samples"))
    if metric.key == "pass_at_k" and k:
        return f"pass@{k}"
    if metric.key == "self_consistency_accuracy" and k:
        return f"Self-consistency (maj@{k})"
    return metric.label


def metric_present(metric: Metric, metrics: Mapping) -> bool:
    """Whether a report shows `metric` for a run: always, unless it is optional and the run lacks it."""
    return not metric.optional or as_number(metrics.get(metric.key)) is not None


def sorted_classes(by_complexity: Any) -> list[tuple[str, Mapping]]:
    """Complexity classes, largest first (ties by name): the order of every per-class view."""
    if not isinstance(by_complexity, Mapping):
        return []
    classes = [(str(name), m) for name, m in by_complexity.items() if isinstance(m, Mapping)]
    return sorted(classes, key=lambda item: (-(as_count(item[1].get("n")) or 0), item[0]))


def sorted_taxonomy(taxonomy: Any) -> list[tuple[str, int]]:
    """Outcome kinds with their counts, in `ERROR_KIND_ORDER`; unknown kinds last, largest first."""
    if not isinstance(taxonomy, Mapping):
        return []
    counts = {str(k): as_count(v) for k, v in taxonomy.items()}
    counts = {k: v for k, v in counts.items() if v is not None}
    known = [(k, counts[k]) for k in ERROR_KIND_ORDER if k in counts]
    others = sorted(((k, v) for k, v in counts.items() if k not in ERROR_KIND_ORDER), key=lambda kv: (-kv[1], kv[0]))
    return known + others


# --- differences between two runs ------------------------------------------------------------

def _results_by_id(results: list | None, label: str) -> dict[str, Mapping] | None:
    """Results keyed by str(id), or None when they cannot be matched (an id missing or repeated)."""
    if not results:
        return None
    by_id: dict[str, Mapping] = {}
    for r in results:
        key = r.get("id") if isinstance(r, Mapping) else None
        if key is None or str(key) in by_id:
            log.warning("results of %s: %s id %r, samples will not be matched between runs", label,
                        "missing" if key is None else "repeated", key)
            return None
        by_id[str(key)] = r
    return by_id


@dataclass
class Delta:
    """B − A of one metric, and the 95% interval of it when one can be given."""

    delta: float | None = None
    interval: tuple[float, float] | None = None
    paired_n: int | None = None  # set when the interval comes from matched samples


def unpaired_delta(p_a: float | None, n_a: int | None, p_b: float | None, n_b: int | None) -> Delta:
    """B − A of two fractions, with the unpaired interval when both sample counts are known."""
    if p_a is None or p_b is None:
        return Delta()
    if not n_a or not n_b:
        return Delta(p_b - p_a)
    return Delta(p_b - p_a, proportion_diff_interval(p_a, n_a, p_b, n_b))


def sample_flag(metric: Metric, sample: Mapping) -> bool | None:
    """The per-sample boolean a fraction is the mean of (from `legacy_per_sample` in results
    that predate `per_sample`); None when the sample has neither."""
    if not metric.per_sample:
        return None
    field = metric.per_sample if metric.per_sample in sample or not metric.legacy_per_sample \
        else metric.legacy_per_sample
    value = sample.get(field)
    return value if isinstance(value, bool) else None


def paired_delta(metric: Metric, pairs: list[tuple[Mapping, Mapping]]) -> Delta | None:
    """The paired interval from per-sample booleans, or None when a sample lacks the field."""
    flags = [(sample_flag(metric, a), sample_flag(metric, b)) for a, b in pairs]
    if not flags or any(a is None or b is None for a, b in flags):
        return None
    a_only = sum(1 for a, b in flags if a and not b)
    b_only = sum(1 for a, b in flags if b and not a)
    interval = paired_diff_interval(a_only, b_only, len(pairs))
    return Delta((b_only - a_only) / len(pairs), interval, len(pairs))


def delta_class(metric: Metric, delta: float | None, noise: bool) -> str:
    """"better", "worse" or "same" for a change of `delta` in `metric` (" noise" added when
    `noise`): the CSS classes of a delta cell, and the verdict of `metric_deltas`."""
    if delta is None or metric.higher_is_better is None or round(delta, 6) == 0:
        return "same"
    better = (delta > 0) == metric.higher_is_better
    return ("better" if better else "worse") + (" noise" if noise else "")


def sample_reward(sample: Mapping, key: str) -> float | None:
    """One answer's score of the reward `key` (its result's `rewards`), None when not scored."""
    rewards = sample.get("rewards")
    return as_number(rewards.get(key)) if isinstance(rewards, Mapping) else None


def reward_mean(run: Mapping, key: str) -> float | None:
    """A run's mean of reward `key` over its answers (metrics.json's reward_means)."""
    means = run.get("reward_means")
    return as_number(means.get(key)) if isinstance(means, Mapping) else None


def reward_delta(key: str, v_a: float, v_b: float, pairs: list[tuple[Mapping, Mapping]] | None) -> Delta:
    """B − A of the means `v_a`, `v_b` of reward `key`, with its interval paired on the answers
    both runs scored when `pairs` are the same samples."""
    scored = [(sample_reward(a, key), sample_reward(b, key)) for a, b in pairs or []]
    differences = [b - a for a, b in scored if a is not None and b is not None]
    if not differences:
        return Delta(v_b - v_a)
    return Delta(v_b - v_a, paired_mean_interval(differences), len(differences))


def match_by_id(results_a: list | None, results_b: list | None, label_a: str,
                 label_b: str) -> tuple[list[tuple[Mapping, Mapping]], str | None]:
    """The samples of two runs matched by id, and a warning when the runs hold different samples.

    Intervals may be paired only on the same samples: pairs and no warning. With a warning, the
    pairs are the samples the runs have in common (enough to list flips, not to pair intervals).
    """
    by_id_a, by_id_b = _results_by_id(results_a, label_a), _results_by_id(results_b, label_b)
    if by_id_a is None or by_id_b is None:
        return [], None
    common = [k for k in by_id_a if k in by_id_b]
    pairs = [(by_id_a[k], by_id_b[k]) for k in common]
    if not pairs or len(common) == len(by_id_a) == len(by_id_b):
        return pairs, None
    return pairs, (f"The results hold different samples ({len(by_id_a)} in {label_a}, {len(by_id_b)} in "
                   f"{label_b}, {len(common)} in both): intervals are unpaired, flips cover the common ones.")


def fraction_delta(metric: Metric, v_a: float | None, n_a: int | None, v_b: float | None, n_b: int | None,
                    pairs: list[tuple[Mapping, Mapping]] | None) -> Delta:
    """B − A of a headline fraction, with its interval paired when the samples match; no
    difference when a run lacks the metric (its samples' fields may mean something else)."""
    if v_a is None or v_b is None:
        return Delta()
    d = (pairs and paired_delta(metric, pairs)) or unpaired_delta(v_a, n_a, v_b, n_b)
    d.delta = v_b - v_a  # show the headline difference; the interval may be paired
    return d


def metric_deltas(run_a: Mapping, run_b: Mapping, results_a: list | None = None,
                  results_b: list | None = None) -> list[dict]:
    """B − A for each headline fraction both runs measured, then the mean reward, then the
    REWARD_METRICS both runs scored: the rows of a comparison as plain data (JSON-ready; `sqlgrpo
    demo` keeps them in demo_summary.json).

    A fraction's 95% interval is paired (McNemar's discordant counts) when both results lists hold
    the same sample ids with the per-sample field, unpaired otherwise; `within_noise` says whether
    it includes 0. The mean reward gets its difference only (`interval` and `within_noise` None);
    a reward of REWARD_METRICS its interval paired on the per-answer scores, when the results
    are the same samples. `verdict` is "better", "worse" or "same", with " (within noise)" when
    it is.
    """
    run_a = run_a if isinstance(run_a, Mapping) else {}
    run_b = run_b if isinstance(run_b, Mapping) else {}
    pairs, mismatch = match_by_id(results_a, results_b, "A", "B")
    if mismatch:
        log.warning("%s", mismatch)
    n_a, n_b = as_count(run_a.get("n")), as_count(run_b.get("n"))
    rows = []
    for metric in HEADLINE_METRICS + (MEAN_REWARD,) + REWARD_METRICS:
        if metric.unit not in ("fraction", "score"):
            continue
        fraction, reward = metric.unit == "fraction", metric in REWARD_METRICS
        v_a, v_b = ((reward_mean(run_a, metric.key), reward_mean(run_b, metric.key)) if reward
                    else (as_number(run_a.get(metric.key)), as_number(run_b.get(metric.key))))
        if v_a is None or v_b is None:
            continue
        matched = None if mismatch else pairs
        if reward:
            d = reward_delta(metric.key, v_a, v_b, matched)
        else:
            d = fraction_delta(metric, v_a, n_a, v_b, n_b, matched) if fraction else Delta(v_b - v_a)
        noise = None if d.interval is None else within_noise(d.interval)
        rows.append({
            "metric": metric.key, "label": metric_label(metric, run_b), "a": v_a, "b": v_b,
            "a_count": fraction_count(v_a, n_a) if fraction else None,
            "b_count": fraction_count(v_b, n_b) if fraction else None, "n_a": n_a, "n_b": n_b,
            "delta": round(d.delta, 6), "interval": None if d.interval is None else [round(x, 6) for x in d.interval],
            "paired": d.paired_n is not None, "within_noise": noise,
            "verdict": delta_class(metric, d.delta, False) + (" (within noise)" if noise else ""),
        })
    return rows


# --- a comparison in plain words -------------------------------------------------------------

def record_delta(row: Mapping) -> Delta:
    """The Delta of a `metric_deltas` row read back from JSON."""
    interval = row.get("interval")
    if isinstance(interval, (list, tuple)) and len(interval) == 2 and all(as_number(x) is not None for x in interval):
        interval = (float(interval[0]), float(interval[1]))
    else:
        interval = None
    paired_n = as_count(row.get("n_a")) if row.get("paired") is True and interval is not None else None
    return Delta(as_number(row.get("delta")), interval, paired_n)


def row_metric(row: Mapping) -> Metric:
    """The Metric of a `metric_deltas` row; a key this version does not know is shown as a score."""
    key = str(row.get("metric"))
    return METRIC_BY_KEY.get(key) or Metric(key, str(row.get("label") or key), unit="score")


def _change_sentence(metric: Metric, row: Mapping | None) -> str:
    """One metric of one comparison in plain words, e.g. "Format compliance 0.0% (0/45) → 62.2%
    (28/45), +62.2 points, beyond noise (95% interval +47.1 to +77.3, paired on 45 questions)."."""
    name = metric.label  # already sentence case; lower-casing would turn "SQL" into "sql"
    if row is None:
        return f"{name}: not measured in both runs."
    d = record_delta(row)
    a, b = as_number(row.get("a")), as_number(row.get("b"))
    n_a, n_b = as_count(row.get("n_a")), as_count(row.get("n_b"))
    if d.delta is None:
        return f"{name}: {format_metric(metric, a, n_a)} → {format_metric(metric, b, n_b)}."
    if metric.unit != "fraction":
        shown = f"{name} {format_metric(metric, a, n_a)} → {format_metric(metric, b, n_b)}"
        if d.interval is None:
            return f"{shown} ({format_delta(metric, d.delta)})."
        lo, hi = d.interval
        how = f"paired on {d.paired_n} answers" if d.paired_n else "unpaired"
        return (f"{shown}, {format_delta(metric, d.delta)}, {'within' if within_noise(d.interval) else 'beyond'} "
                f"noise (95% interval {signed(lo, 3)} to {signed(hi, 3)}, {how}).")
    change = "no change" if round(100 * d.delta, 1) == 0 else signed(100 * d.delta, 1, " points")
    a_count, b_count = as_count(row.get("a_count")), as_count(row.get("b_count"))
    if a_count is not None and b_count is not None and n_a == n_b and a_count != b_count:
        net = abs(b_count - a_count)
        change += f" ({net} question{'' if net == 1 else 's'})"
    if d.interval is None:
        noise = "no interval (the sample counts are unknown)"
    else:
        how = f"paired on {d.paired_n} questions" if d.paired_n else "unpaired"
        noise = (f"{'within' if within_noise(d.interval) else 'beyond'} noise "
                 f"(95% interval {points_interval(d.interval)} points, {how})")
    return f"{name} {format_fraction(a, n_a)} → {format_fraction(b, n_b)}, {change}, {noise}."


def comparison_sentences(rows: list[Mapping]) -> list[str]:
    """The rows of one `metric_deltas` comparison in plain words: format compliance, valid SQL
    rate, execution accuracy and test-suite accuracy (each with its counts, change and noise
    verdict, or "not measured in both runs"), then the mean reward and the REWARD_METRICS both
    runs scored. The demo prints them and its report shows them."""
    by_key = {str(r.get("metric")): r for r in rows if isinstance(r, Mapping)}
    sentences = [_change_sentence(METRIC_BY_KEY[key], by_key.get(key)) for key in CHANGE_METRICS]
    sentences += [_change_sentence(metric, by_key[metric.key]) for metric in (MEAN_REWARD,) + REWARD_METRICS
                  if metric.key in by_key]
    return sentences
