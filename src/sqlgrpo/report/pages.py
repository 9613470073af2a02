"""Self-contained HTML reports for the eval stage: one run, or two runs compared.

`sqlgrpo.eval` writes `metrics.json` and `evaluation_results.json` into a run folder and calls
`render_eval_report(metrics, results, out_path)`; comparing two run folders calls
`render_compare_report(metrics_a, metrics_b, out_path, ...)`. `sqlgrpo demo` evaluates the model
after each stage and calls `render_demo_report(summary, out_path, ...)`: the runs side by side,
what changed between them in plain words (`metric_deltas`), and the training curves of each stage
(`render_training_curves` for GRPO's rewards, `render_loss_curves` for the supervised losses).

Each report is one HTML file that works offline: inline CSS, a few lines of inline JavaScript for
the failure filter, and plots embedded as base64 PNG images (matplotlib, Agg backend), so it can be
attached to a CI run or opened on a laptop without the run folder.

Everything in the inputs that came from a dataset or a model (questions, SQL, raw outputs, error
messages, judge explanations, and ids and class names too) is untrusted and HTML-escaped.
Inputs may come from older runs: any metric may be missing or null, and renders as "–".

    >>> format_fraction(0.42, 50)
    '42.0% (21/50)'
    >>> lo, hi = proportion_diff_interval(0.50, 50, 0.52, 50)
    >>> lo < 0 < hi  # one more right answer in 50 is noise
    True
"""

from __future__ import annotations

import base64
import html
import io
import logging
import json
import math
import os
import textwrap
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable, Mapping

log = logging.getLogger(__name__)

MISSING = "–"  # what a missing or null value renders as
Z_95 = 1.96  # two-sided 95% quantile of the normal distribution

FIGURE_DPI = 110  # sharp on a laptop screen, a few tens of kB per plot
# Figures are drawn at about the size they are shown (inches × FIGURE_DPI ≈ CSS pixels), so that
# the browser does not shrink their text: a half-page column is ~570 px, the full page ~1150 px.
CHART_WIDTH_IN = 5.2
WIDE_CHART_WIDTH_IN = 10.5
WIDE_CHART_HEIGHT_IN = 3.4
BAR_ROW_IN = 0.42  # height per bar of a horizontal bar chart
CHART_PAD_IN = 1.0  # axis label and margins of a horizontal bar chart
MAX_CHART_LABEL_CHARS = 32  # class names and error kinds are data: a long one must not squash the axes
MAX_MARKED_POINTS = 60  # curves with more logged steps are drawn without point markers
INSIDE_LABEL_SHARE = 0.82  # a bar longer than this share of the axis carries its label inside

LONG_TEXT_CHARS = 140  # longer texts (and multi-line ones) are folded into <details>
LONG_TEXT_LINES = 3
LONG_CODE_CHARS = 400  # SQL reads best unfolded: fold only what would make a row a page tall
LONG_CODE_LINES = 10
MAX_TICK_LABEL_LINE = 18  # class names under a vertical bar chart are wrapped at this width
PREVIEW_CHARS = 70  # the <summary> line of a folded text
MAX_TEXT_CHARS = 6000  # a runaway model output must not make the page unloadable
MAX_TABLE_ROWS = 2000  # failure and flip tables: beyond this the browser filter gets sluggish

JUDGE_DIMENSIONS = ("sql_score", "reasoning_score", "format_score", "educational_score", "overall_score")
JUDGE_SCORES = ("1", "2", "3", "4", "5")

# Outcome kinds in reading order (eval's TAXONOMY, written out so that importing this module
# does not load the SQL engines): right, then wrong, then failures from the earliest stage (no
# SQL at all) to the latest (it ran out of time), then the executor's refusals. Unknown kinds follow.
ERROR_KIND_ORDER = ("correct", "wrong_result", "no_sql", "syntax", "missing_table", "missing_column",
                    "runtime", "timeout", "too_large", "forbidden", "wrong_statement_kind")

COLOR_ACCENT = "#3b6fb6"
COLOR_B = "#e8893a"
COLOR_CORRECT = "#2e8b57"
COLOR_WRONG = "#e0a030"
COLOR_ERROR = "#c8553d"
COLOR_BETTER = "#1a7f37"
COLOR_WORSE = "#cf222e"
MINUS = "\u2212"  # a real minus sign: as wide as "+", so signed columns line up


@dataclass(frozen=True)
class Metric:
    """One headline number: its key in metrics.json, how to show it, and how to compare it."""

    key: str
    label: str
    unit: str = "fraction"  # fraction | tokens | seconds | rate | score
    per_sample: str | None = None  # the boolean result field this fraction is the mean of
    higher_is_better: bool | None = True  # None: neither direction is better (answer length)
    optional: bool = False  # shown only when the run computed it


HEADLINE_METRICS = (
    Metric("execution_accuracy", "Execution accuracy", per_sample="correct"),
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


# --- numbers ---------------------------------------------------------------------------------

def _number(value: Any) -> float | None:
    """A finite number, or None for anything else (missing, null, NaN, a string)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _count(value: Any) -> int | None:
    number = _number(value)
    return int(number) if number is not None and number >= 0 else None


def format_fraction(fraction: Any, n: Any = None) -> str:
    """"42.0% (21/50)": a fraction with the count it stands for; "–" when it is missing.

    The count is rounded from fraction × n, which is exact for a mean of n booleans.
    """
    value, total = _number(fraction), _count(n)
    if value is None:
        return MISSING
    if not total:
        return f"{100 * value:.1f}%"
    return f"{100 * value:.1f}% ({_fraction_count(value, total)}/{total})"


def _fraction_count(fraction: float | None, n: int | None) -> int | None:
    """How many of n samples a fraction stands for (exact for a mean of n booleans)."""
    return None if fraction is None or not n else round(fraction * n)


def _format_value(metric: Metric, value: Any) -> str:
    number = _number(value)
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


def _signed(value: float, digits: int, suffix: str = "") -> str:
    text = f"{abs(value):.{digits}f}"
    if float(text) == 0:
        return f"±{text}{suffix}"  # "−0.0 pp" would claim a direction that rounding erased
    return f"{'+' if value > 0 else MINUS}{text}{suffix}"


def _format_delta(metric: Metric, delta: float) -> str:
    if metric.unit == "fraction":
        return _signed(100 * delta, 1, " pp")
    if metric.unit == "seconds":
        return _signed(delta, 2, " s")
    if metric.unit == "score":
        return _signed(delta, 3)
    return _signed(delta, 1)


def _format_interval(interval: tuple[float, float]) -> str:
    lo, hi = interval
    return f"[{_signed(100 * lo, 1)}, {_signed(100 * hi, 1)}] pp"


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


def _clamped(delta: float, se: float) -> tuple[float, float]:
    """delta ± Z_95·se, cut to [−1, 1]: Wald intervals on small classes overshoot what a
    difference of two proportions can be."""
    return max(delta - Z_95 * se, -1.0), min(delta + Z_95 * se, 1.0)


def _within_noise(interval: tuple[float, float]) -> bool:
    lo, hi = interval
    return lo <= 0 <= hi


# --- plots -----------------------------------------------------------------------------------

def _pyplot():
    """pyplot on the Agg backend, imported on first use so `import sqlgrpo.report` stays cheap."""
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and CI; must come before the pyplot import
    import matplotlib.pyplot as plt

    return plt


def figure_data_uri(fig) -> str:
    """A matplotlib figure as a `data:image/png;base64,...` URI; the figure is closed."""
    plt = _pyplot()
    try:
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=FIGURE_DPI, bbox_inches="tight", facecolor="white")
    finally:
        plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _integer_ticks():
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(integer=True)


def _chart_label(text: Any) -> str:
    """A data string made safe for a matplotlib label: shortened, and `$` escaped so that a class
    name cannot switch on mathtext (which would render oddly or raise)."""
    text = str(text)
    if len(text) > MAX_CHART_LABEL_CHARS:
        text = text[: MAX_CHART_LABEL_CHARS - 1] + "…"
    return text.replace("$", r"\$")


def _markers(points: int) -> dict:
    """Point markers for a curve of few logged steps; a long curve reads better as a plain line."""
    return {"marker": "o", "markersize": 3} if points <= MAX_MARKED_POINTS else {}


def _style_axes(ax, grid_axis: str) -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.grid(axis=grid_axis, alpha=0.3)
    ax.set_axisbelow(True)


def _bar_labels(ax, bars, texts: list[str], axis_max: float) -> None:
    """Value labels at the end of horizontal bars; inside the bar when it nearly fills the axis."""
    for bar, text in zip(bars, texts):
        width = bar.get_width()
        y = bar.get_y() + bar.get_height() / 2
        if width > INSIDE_LABEL_SHARE * axis_max:
            ax.text(width - 0.01 * axis_max, y, text, va="center", ha="right", color="white", fontsize=9)
        else:
            # white backing: the label stays readable where it crosses a reference line
            ax.text(width + 0.01 * axis_max, y, text, va="center", ha="left", fontsize=9,
                    bbox={"boxstyle": "square,pad=0.1", "facecolor": "white", "edgecolor": "none"})


def _accuracy_by_class_chart(classes: list[tuple[str, Mapping]], overall: float | None) -> str:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(CHART_WIDTH_IN, CHART_PAD_IN + BAR_ROW_IN * len(classes)), layout="constrained")
    values = [_number(m.get("execution_accuracy")) for _, m in classes]
    labels = [f"{_chart_label(name)} (n={_count(m.get('n')) if _count(m.get('n')) is not None else '?'})"
              for name, m in classes]
    bars = ax.barh(range(len(classes)), [100 * (v or 0) for v in values], color=COLOR_ACCENT)
    ax.set_yticks(range(len(classes)), labels)
    ax.invert_yaxis()  # largest class on top, as in the table
    ax.set_xlim(0, 100)
    ax.set_xlabel("execution accuracy (%)")
    _bar_labels(ax, bars, [MISSING if v is None else f"{100 * v:.1f}%" for v in values], 100)
    if overall is not None:
        ax.axvline(100 * overall, color="#555555", linestyle="--", linewidth=1, zorder=0.5,
                   label=f"all classes: {100 * overall:.1f}%")
        ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=9)
    _style_axes(ax, "x")
    return figure_data_uri(fig)


def _kind_color(kind: str) -> str:
    return {"correct": COLOR_CORRECT, "wrong_result": COLOR_WRONG}.get(kind, COLOR_ERROR)


def _taxonomy_chart(kinds: list[tuple[str, int]]) -> str:
    plt = _pyplot()
    total = sum(count for _, count in kinds)
    fig, ax = plt.subplots(figsize=(CHART_WIDTH_IN, CHART_PAD_IN + BAR_ROW_IN * len(kinds)), layout="constrained")
    bars = ax.barh(range(len(kinds)), [c for _, c in kinds], color=[_kind_color(k) for k, _ in kinds])
    ax.set_yticks(range(len(kinds)), [_chart_label(k) for k, _ in kinds])
    ax.invert_yaxis()
    axis_max = max([c for _, c in kinds] + [1]) * 1.18  # room for the labels right of the bars
    ax.set_xlim(0, axis_max)
    ax.set_xlabel("samples")
    ax.xaxis.set_major_locator(_integer_ticks())  # counts: no "0.5 samples" ticks on small runs
    _bar_labels(ax, bars, [f"{c} ({100 * c / total:.0f}%)" if total else str(c) for _, c in kinds], axis_max)
    _style_axes(ax, "x")
    return figure_data_uri(fig)


def _judge_chart(distribution: Mapping, means: Mapping) -> str:
    plt = _pyplot()
    dims = [d for d in JUDGE_DIMENSIONS if isinstance(distribution.get(d), Mapping)]
    dims += [d for d in distribution if d not in dims and isinstance(distribution[d], Mapping)]
    fig, axes = plt.subplots(1, len(dims), figsize=(WIDE_CHART_WIDTH_IN, 2.6), sharey=True, squeeze=False)
    for ax, dim in zip(axes[0], dims):
        counts = [_count(distribution[dim].get(s)) or 0 for s in JUDGE_SCORES]
        ax.bar(range(1, 6), counts, color=COLOR_ACCENT)
        mean = _number(means.get(dim)) if isinstance(means, Mapping) else None
        name = _chart_label(dim.removesuffix("_score"))
        ax.set_title(name if mean is None else f"{name}: mean {mean:.2f}", fontsize=10)
        ax.set_xticks(range(1, 6))
        ax.set_xlabel("score")
        _style_axes(ax, "y")
    axes[0][0].set_ylabel("samples")
    axes[0][0].yaxis.set_major_locator(_integer_ticks())
    fig.tight_layout()
    return figure_data_uri(fig)


def _compare_chart(rows: list[dict], label_a: str, label_b: str) -> str:
    """Grouped vertical bars, A beside B per class: full page width, so that eight classes and
    their wrapped names fit without shrinking the text."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(WIDE_CHART_WIDTH_IN, WIDE_CHART_HEIGHT_IN + 0.4), layout="constrained")
    width = 0.38  # two bars of 0.38 per class leave a gap of 0.24 between classes
    positions = range(len(rows))
    for offset, key, color, label in ((-width / 2, "a", COLOR_ACCENT, label_a), (width / 2, "b", COLOR_B, label_b)):
        values = [r[key] for r in rows]
        bars = ax.bar([p + offset for p in positions], [100 * (v or 0) for v in values], width, color=color,
                      label=_chart_label(label))
        for bar, value in zip(bars, values):
            ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height() + 1.5,
                    MISSING if value is None else f"{100 * value:.0f}%", ha="center", va="bottom", fontsize=8)
    ticks = ["\n".join(textwrap.wrap(_chart_label(r["name"]), MAX_TICK_LABEL_LINE)) + f"\nn={r['n_label']}"
             for r in rows]
    ax.set_xticks(list(positions), ticks, fontsize=9)
    ax.set_ylim(0, 110)  # headroom for the value labels above 100%
    ax.set_yticks(range(0, 101, 20))
    ax.set_ylabel("execution accuracy (%)")
    ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), frameon=False, ncol=2)
    _style_axes(ax, "y")
    return figure_data_uri(fig)


def render_training_curves(log_history: list[dict], out_png_or_none: str | Path | None = None) -> str:
    """The GRPO reward curves of a TRL `trainer_state.json` `log_history`, as a PNG data URI.

    Left: the total reward ("reward", with a ±1 std band when "reward_std" is logged) per "step";
    right: each reward function's "rewards/<name>/mean". Entries without any reward (eval and
    end-of-training summaries) are skipped. Also writes the PNG to `out_png_or_none` when given.

    Raises ValueError when no entry has a reward (an empty history, or a run that never reached
    its first logging step): the caller decides whether a report without curves is acceptable.
    """
    points = []
    for index, entry in enumerate(log_history or []):
        if not isinstance(entry, Mapping):
            continue
        rewards = {k: _number(v) for k, v in entry.items()
                   if k == "reward" or (k.startswith("rewards/") and k.endswith("/mean"))}
        rewards = {k: v for k, v in rewards.items() if v is not None}
        if rewards:
            step = _number(entry.get("step"))
            points.append((index if step is None else step, rewards, _number(entry.get("reward_std"))))
    if not points:
        raise ValueError("log_history has no entry with 'reward' or 'rewards/<name>/mean' "
                         f"({len(log_history or [])} entries): train until the first logging step "
                         "(logging_steps) or pass trainer_state.json's log_history")
    components = sorted({k for _, rewards, _ in points for k in rewards if k != "reward"})
    marker = _markers(len(points))
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2 if components else 1, figsize=(WIDE_CHART_WIDTH_IN, WIDE_CHART_HEIGHT_IN),
                             squeeze=False)
    total_ax = axes[0][0]
    total = [(s, r["reward"], std) for s, r, std in points if "reward" in r]
    if total:
        steps = [s for s, _, _ in total]
        total_ax.plot(steps, [v for _, v, _ in total], color=COLOR_ACCENT, **marker)
        if all(std is not None for _, _, std in total):
            total_ax.fill_between(steps, [v - std for _, v, std in total], [v + std for _, v, std in total],
                                  color=COLOR_ACCENT, alpha=0.15, linewidth=0, label="±1 std over completions")
            total_ax.legend(frameon=False, fontsize=8)
    total_ax.set_title("total reward (weighted sum)", fontsize=10)
    total_ax.set_xlabel("step")
    _style_axes(total_ax, "y")
    if components:
        ax = axes[0][1]
        for key in components:
            series = [(s, r[key]) for s, r, _ in points if key in r]
            name = key.removeprefix("rewards/").removesuffix("/mean")
            ax.plot([s for s, _ in series], [v for _, v in series], label=_chart_label(name), **marker)
        ax.set_title("reward functions (mean per step)", fontsize=10)
        ax.set_xlabel("step")
        ax.legend(frameon=False, fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
        _style_axes(ax, "y")
    fig.tight_layout()
    uri = figure_data_uri(fig)
    if out_png_or_none is not None:
        out = Path(out_png_or_none)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(base64.b64decode(uri.split(",", 1)[1]))
        log.info("training curves written to %s", out)
    return uri


def _logged(log_history: Any, key: str) -> list[tuple[float, float]]:
    """(step, value) of each log entry with a finite `key`; an entry without a step goes by its index."""
    points = []
    for index, entry in enumerate(log_history if isinstance(log_history, list) else []):
        value = _number(entry.get(key)) if isinstance(entry, Mapping) else None
        if value is not None:
            step = _number(entry.get("step"))
            points.append((index if step is None else step, value))
    return points


def render_loss_curves(histories: Mapping[str, list[dict]]) -> str:
    """The training loss per step of the supervised stages, as a PNG data URI.

    `histories` maps a stage label ("SFT", "contrastive (DPO)") to its TRL `trainer_state.json`
    `log_history`; entries without "loss" (eval logs, the end-of-training summary, whose loss is
    "train_loss") are skipped. When a history logs DPO's "rewards/margins" or
    "rewards/accuracies", a second panel shows them: is the model learning to prefer the chosen
    answer? A stage keeps its colour in both panels.

    Raises ValueError when no history has a loss entry.
    """
    histories = histories if isinstance(histories, Mapping) else {}
    colors = {label: f"C{i}" for i, label in enumerate(histories)}
    losses = {label: points for label, h in histories.items() if (points := _logged(h, "loss"))}
    if not losses:
        stages = ", ".join(map(str, histories)) or "none"
        raise ValueError(f"no log_history has an entry with 'loss' (stages: {stages}): train until the first "
                         "logging step (logging_steps) or pass trainer_state.json's log_history")
    margins = {label: points for label, h in histories.items() if (points := _logged(h, "rewards/margins"))}
    accuracies = {label: points for label, h in histories.items() if (points := _logged(h, "rewards/accuracies"))}
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2 if margins or accuracies else 1, figsize=(WIDE_CHART_WIDTH_IN, WIDE_CHART_HEIGHT_IN),
                             squeeze=False)
    ax = axes[0][0]
    for label, points in losses.items():
        ax.plot([s for s, _ in points], [v for _, v in points], color=colors[label], label=_chart_label(label),
                **_markers(len(points)))
    ax.set_title("training loss", fontsize=10)
    ax.set_xlabel("step")
    ax.xaxis.set_major_locator(_integer_ticks())  # steps: no "1.5" tick on a short run
    ax.legend(frameon=False, fontsize=8)
    _style_axes(ax, "y")
    if margins or accuracies:
        ax = axes[0][1]
        for label, points in margins.items():
            ax.plot([s for s, _ in points], [v for _, v in points], color=colors[label],
                    label=_chart_label(f"{label}: margin"), **_markers(len(points)))
        # accuracy is a share (0-1) and margins are log-ratio units: one y axis each
        acc_ax = ax.twinx() if margins else ax
        for label, points in accuracies.items():
            acc_ax.plot([s for s, _ in points], [v for _, v in points], color=colors[label], linestyle="--",
                        label=_chart_label(f"{label}: accuracy"), **_markers(len(points)))
        acc_ax.set_ylim(0, 1.05)
        acc_ax.set_ylabel("preference accuracy", fontsize=9)
        if margins:
            ax.set_ylabel("reward margin (chosen − rejected)", fontsize=9)
        handles = [h for a in dict.fromkeys((ax, acc_ax)) for h in a.get_legend_handles_labels()[0]]
        ax.legend(handles=handles, frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.12, 1.0))
        ax.set_title("preference stage: chosen vs rejected", fontsize=10)
        ax.set_xlabel("step")
        ax.xaxis.set_major_locator(_integer_ticks())
        _style_axes(ax, "y")
    fig.tight_layout()
    return figure_data_uri(fig)


# --- HTML pieces -----------------------------------------------------------------------------

CSS = """
*{box-sizing:border-box}
body{margin:0;background:#f4f5f7;color:#1f2328;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1240px;margin:0 auto;padding:20px 24px 48px}
h1{font-size:22px;margin:0 0 6px}
h2{font-size:17px;margin:0 0 12px}
h3{font-size:14px;margin:14px 0 8px}
section{background:#fff;border:1px solid #d8dee4;border-radius:8px;padding:16px 18px;margin:16px 0}
.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:0}
.meta dt{color:#59636e}.meta dd{margin:0;overflow-wrap:anywhere}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(175px,1fr));gap:10px}
.card{border:1px solid #d8dee4;border-radius:6px;padding:10px 12px;background:#fafbfc;display:flex;flex-direction:column;justify-content:space-between}
.card .label{color:#59636e;font-size:12px;text-transform:uppercase;letter-spacing:.03em}
.card .value{font-size:24px;font-weight:600}
.card .count{color:#59636e;font-size:13px;font-weight:400}
.card.main{border-color:#3b6fb6;background:#f0f5fc}
.grid2{display:grid;grid-template-columns:1fr 1fr;gap:18px;align-items:start}
@media (max-width:900px){.grid2{grid-template-columns:1fr}}
img{max-width:100%;height:auto;display:block}
table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid #e5e8eb;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa;font-weight:600;font-size:13px}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.muted{color:#8b949e}
.note{color:#59636e;font-size:13px;margin:8px 0 0}
.warn{background:#fff8e1;border:1px solid #f0d58c;border-radius:6px;padding:8px 12px;margin:10px 0 0}
.better{color:#1a7f37;font-weight:600}.worse{color:#cf222e;font-weight:600}.same{color:#59636e}
.noise{opacity:.55;font-weight:400}
.verdict{white-space:nowrap}
.tag{display:inline-block;border-radius:10px;padding:0 7px;font-size:12px;background:#eaeef2;white-space:nowrap}
.tag.k-correct{background:#dafbe1}.tag.k-wrong_result{background:#fff1cc}
pre{margin:0;white-space:pre-wrap;overflow-wrap:anywhere;font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
.txt{overflow-wrap:anywhere}
details summary{cursor:pointer;color:#3b6fb6;overflow-wrap:anywhere}
details[open] summary{margin-bottom:4px}
details.group{margin:10px 0}details.group>summary{font-weight:600;font-size:14px;color:#1f2328;margin-bottom:8px}
details.sub{margin-top:6px}details.sub summary{font-size:12px}
table.samples{table-layout:fixed;font-size:13px}
table.samples td{overflow-wrap:anywhere}
.filters{display:flex;gap:10px;align-items:center;margin:0 0 10px;flex-wrap:wrap}
.filters input{flex:1;min-width:220px;padding:6px 8px;border:1px solid #d0d7de;border-radius:6px;font:inherit}
.filters select{padding:6px 8px;border:1px solid #d0d7de;border-radius:6px;font:inherit}
"""

FILTER_JS = """
(function () {
  var text = document.getElementById('failure-text');
  var kind = document.getElementById('failure-kind');
  var shown = document.getElementById('failure-shown');
  var rows = Array.prototype.slice.call(document.querySelectorAll('#failures tbody tr'));
  function apply() {
    var query = text.value.toLowerCase(), wanted = kind.value, visible = 0;
    rows.forEach(function (row) {
      var ok = (!wanted || row.getAttribute('data-kind') === wanted) &&
               (!query || row.textContent.toLowerCase().indexOf(query) >= 0);
      row.style.display = ok ? '' : 'none';
      if (ok) { visible += 1; }
    });
    shown.textContent = visible + ' of ' + rows.length + ' shown';
  }
  text.addEventListener('input', apply);
  kind.addEventListener('change', apply);
  apply();
})();
"""


def _e(value: Any) -> str:
    """HTML-escaped text of any value (quotes too, so it is safe in attributes)."""
    return html.escape("" if value is None else str(value), quote=True)


def _page(title: str, body: str, script: str = "") -> str:
    script_tag = f"<script>{script}</script>" if script else ""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{_e(title)}</title><style>{CSS}</style></head>"
            f"<body><main>{body}</main>{script_tag}</body></html>\n")


def _img(uri: str, alt: str) -> str:
    return f'<img src="{uri}" alt="{_e(alt)}">'


def _meta_list(items: Iterable[tuple[str, Any]]) -> str:
    rows = "".join(f"<dt>{_e(k)}</dt><dd>{_e(MISSING if v is None or v == '' else v)}</dd>" for k, v in items)
    return f'<dl class="meta">{rows}</dl>'


def _truncated(text: str) -> str:
    if len(text) <= MAX_TEXT_CHARS:
        return text
    return text[:MAX_TEXT_CHARS] + f"\n… ({len(text) - MAX_TEXT_CHARS} more characters not shown)"


def _is_long(text: str, code: bool) -> bool:
    if code:
        return len(text) > LONG_CODE_CHARS or text.count("\n") >= LONG_CODE_LINES
    return len(text) > LONG_TEXT_CHARS or text.count("\n") >= LONG_TEXT_LINES


def _preview(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= PREVIEW_CHARS else line[: PREVIEW_CHARS - 1] + "…"


def _text_cell(value: Any, *, code: bool = False) -> str:
    """A cell of untrusted text: escaped, cut at MAX_TEXT_CHARS, folded when long."""
    if value is None or str(value).strip() == "":
        return f'<span class="muted">{MISSING}</span>'
    text = _truncated(str(value))
    body = f"<pre>{_e(text)}</pre>" if code else f'<div class="txt">{_e(text)}</div>'
    if not _is_long(text, code):
        return body
    return f"<details><summary>{_e(_preview(text))}</summary>{body}</details>"


def _sub_details(label: str, value: Any) -> str:
    if value is None or str(value).strip() == "":
        return ""
    return f'<details class="sub"><summary>{_e(label)}</summary><pre>{_e(_truncated(str(value)))}</pre></details>'


def _kind_tag(kind: Any) -> str:
    kind = "unknown" if kind is None or kind == "" else str(kind)
    safe_class = "".join(c for c in kind if c.isalnum() or c == "_")
    return f'<span class="tag k-{safe_class}">{_e(kind)}</span>'


def _judge_cell(judge: Any) -> str:
    if not isinstance(judge, Mapping):
        return f'<span class="muted">{MISSING}</span>'
    if judge.get("ok") is False:
        return f'<span class="muted">judge failed:</span> {_text_cell(judge.get("error"))}'
    parts = []
    overall = _number(judge.get("overall_score"))
    if overall is not None:
        parts.append(f"overall <strong>{overall:g}/5</strong>")
    if judge.get("error_type"):
        parts.append(_kind_tag(judge.get("error_type")))
    head = " ".join(parts)
    return f"{head}{_text_cell(judge.get('explanation'))}" if head else _text_cell(judge.get("explanation"))


def _sorted_classes(by_complexity: Any) -> list[tuple[str, Mapping]]:
    """Complexity classes, largest first (ties by name): the order of every per-class view."""
    if not isinstance(by_complexity, Mapping):
        return []
    classes = [(str(name), m) for name, m in by_complexity.items() if isinstance(m, Mapping)]
    return sorted(classes, key=lambda item: (-(_count(item[1].get("n")) or 0), item[0]))


def _sorted_taxonomy(taxonomy: Any) -> list[tuple[str, int]]:
    if not isinstance(taxonomy, Mapping):
        return []
    counts = {str(k): _count(v) for k, v in taxonomy.items()}
    counts = {k: v for k, v in counts.items() if v is not None}
    known = [(k, counts[k]) for k in ERROR_KIND_ORDER if k in counts]
    others = sorted(((k, v) for k, v in counts.items() if k not in ERROR_KIND_ORDER), key=lambda kv: (-kv[1], kv[0]))
    return known + others


def _metric_label(metric: Metric, metrics: Mapping) -> str:
    k = _count(metrics.get("num_samples"))
    if metric.key == "pass_at_k" and k:
        return f"pass@{k}"
    if metric.key == "self_consistency_accuracy" and k:
        return f"Self-consistency (maj@{k})"
    return metric.label


def _present(metric: Metric, metrics: Mapping) -> bool:
    return not metric.optional or _number(metrics.get(metric.key)) is not None


# --- the eval report -------------------------------------------------------------------------

def _headline_cards(metrics: Mapping) -> str:
    n = _count(metrics.get("n"))
    cards = []
    for metric in HEADLINE_METRICS:
        if not _present(metric, metrics):
            continue
        value = metrics.get(metric.key)
        if metric.unit == "fraction":
            text = format_fraction(value, n)
            big, _, rest = text.partition(" ")
            count = f' <span class="count">{_e(rest)}</span>' if rest else ""
        else:
            big = _format_value(metric, value)
            count = f' <span class="count">(n={n})</span>' if n and _number(value) is not None else ""
            if metric.unit == "rate":
                count = ""  # a rate over the whole run, not a mean of samples
        main = " main" if metric.key == "execution_accuracy" else ""
        cards.append(f'<div class="card{main}" data-metric="{metric.key}"><div class="label">'
                     f'{_e(_metric_label(metric, metrics))}</div><div class="value">{_e(big)}{count}</div></div>')
    return f'<div class="cards">{"".join(cards)}</div>'


def _class_table(classes: list[tuple[str, Mapping]]) -> str:
    head = "".join(f'<th class="num">{_e(m.label)}</th>' for m in CLASS_METRICS)
    rows = []
    for name, m in classes:
        n = _count(m.get("n"))
        cells = "".join(f'<td class="num">{_e(format_fraction(m.get(x.key), n))}</td>' for x in CLASS_METRICS)
        rows.append(f"<tr><td>{_e(name)}</td><td class=\"num\">{_e(MISSING if n is None else n)}</td>{cells}</tr>")
    return f'<table><thead><tr><th>class</th><th class="num">n</th>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _taxonomy_table(kinds: list[tuple[str, int]]) -> str:
    total = sum(c for _, c in kinds)
    rows = "".join(f'<tr><td>{_kind_tag(k)}</td><td class="num">{c}</td>'
                   f'<td class="num">{f"{100 * c / total:.1f}%" if total else MISSING}</td></tr>' for k, c in kinds)
    return (f'<table><thead><tr><th>outcome</th><th class="num">samples</th><th class="num">share</th></tr></thead>'
            f'<tbody>{rows}</tbody></table>')


def _judge_section(judge: Mapping) -> str:
    means = judge.get("mean") if isinstance(judge.get("mean"), Mapping) else {}
    distribution = judge.get("distribution") if isinstance(judge.get("distribution"), Mapping) else {}
    summary = _meta_list([
        ("judge model", judge.get("model")),
        ("judged", judge.get("judged")),
        ("failed", judge.get("failed")),
        ("prompt tokens", judge.get("prompt_tokens")),
        ("completion tokens", judge.get("completion_tokens")),
    ])
    dims = [d for d in JUDGE_DIMENSIONS if d in means or d in distribution]
    dims += [d for d in list(means) + list(distribution) if d not in dims]
    rows = []
    for dim in dict.fromkeys(dims):
        mean = _number(means.get(dim))
        dist = distribution.get(dim) if isinstance(distribution.get(dim), Mapping) else {}
        counts = "".join(f'<td class="num">{_e(_count(dist.get(s)) if _count(dist.get(s)) is not None else MISSING)}</td>'
                         for s in JUDGE_SCORES)
        rows.append(f'<tr><td>{_e(dim)}</td><td class="num">{MISSING if mean is None else f"{mean:.2f}"}</td>{counts}</tr>')
    score_heads = "".join(f'<th class="num">{s}</th>' for s in JUDGE_SCORES)
    table = (f'<table><thead><tr><th>dimension</th><th class="num">mean (1–5)</th>{score_heads}</tr></thead>'
             f'<tbody>{"".join(rows)}</tbody></table>') if rows else '<p class="note">No judge scores recorded.</p>'
    has_distribution = any(isinstance(v, Mapping) for v in distribution.values())
    chart = _img(_judge_chart(distribution, means), "judge score distributions") if has_distribution else ""
    return (f'<section id="judge"><h2>LLM judge</h2>{chart}<div class="grid2" style="margin-top:12px">'
            f'<div>{table}</div><div>{summary}</div></div></section>')


def _failures_section(results: list[Mapping]) -> str:
    failures = [r for r in results if isinstance(r, Mapping) and r.get("correct") is not True]
    if not results:
        return '<section id="failures-section"><h2>Failures</h2><p class="note">No per-sample results.</p></section>'
    if not failures:
        return '<section id="failures-section"><h2>Failures</h2><p class="note">Every sample is correct.</p></section>'
    kind_counts: dict[str, int] = {}
    for r in failures:
        kind = str(r.get("error_kind") or "unknown")
        kind_counts[kind] = kind_counts.get(kind, 0) + 1
    options = "".join(f'<option value="{_e(k)}">{_e(k)} ({c})</option>'
                      for k, c in _sorted_taxonomy(kind_counts))
    shown = failures[:MAX_TABLE_ROWS]
    rows = []
    for r in shown:
        kind = str(r.get("error_kind") or "unknown")
        model_sql = _text_cell(r.get("extracted_sql"), code=True) + _sub_details("raw output", r.get("raw_output"))
        rows.append(
            f'<tr data-id="{_e(r.get("id"))}" data-kind="{_e(kind)}">'
            f'<td>{_e(r.get("id"))}</td><td>{_e(r.get("sql_complexity") or MISSING)}</td><td>{_kind_tag(kind)}</td>'
            f'<td>{_text_cell(r.get("question"))}{_sub_details("schema", r.get("context"))}</td>'
            f'<td>{_text_cell(r.get("gold"), code=True)}</td><td>{model_sql}</td>'
            f'<td>{_text_cell(r.get("error"))}</td><td>{_judge_cell(r.get("judge"))}</td></tr>')
    cut = (f'<p class="note">Showing the first {MAX_TABLE_ROWS} of {len(failures)} failures; '
           "evaluation_results.json has them all.</p>") if len(failures) > MAX_TABLE_ROWS else ""
    colgroup = ('<colgroup><col style="width:5%"><col style="width:8%"><col style="width:10%">'
                '<col style="width:17%"><col style="width:18%"><col style="width:17%"><col style="width:11%">'
                '<col style="width:14%"></colgroup>')
    return (f'<section id="failures-section"><h2>Failures ({len(failures)} of {len(results)} samples)</h2>'
            '<div class="filters"><input id="failure-text" type="search" placeholder="filter: any text in the row">'
            f'<select id="failure-kind"><option value="">all error kinds</option>{options}</select>'
            f'<span id="failure-shown" class="muted"></span></div>{cut}'
            f'<table id="failures" class="samples">{colgroup}<thead><tr><th>id</th><th>class</th><th>error kind</th>'
            '<th>question</th><th>gold SQL</th><th>model SQL</th><th>error</th><th>judge</th></tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></section>')


def _write(out_path: str | Path, page: str, what: str) -> Path:
    """Write a page atomically: a reader (or a browser refreshing) never sees half a report."""
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    # beside the target (os.replace is atomic within one file system); a plain write_text keeps the
    # usual file permissions, which mkstemp's private 0600 would not
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(page, encoding="utf-8")
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    log.info("%s written to %s (%.0f kB)", what, out, out.stat().st_size / 1024)
    return out


def _now() -> str:
    return datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")


def render_eval_report(metrics: dict, results: list[dict], out_path: str | Path, *, title: str | None = None) -> Path:
    """Write the HTML report of one eval run (`metrics.json` and `evaluation_results.json` as
    loaded) to `out_path`; returns the path. Missing or null metrics render as "–"; the judge
    section appears only when a judge ran."""
    metrics = metrics if isinstance(metrics, Mapping) else {}
    results = [r for r in (results or []) if isinstance(r, Mapping)]
    title = title or f"sqlgrpo eval: {metrics.get('model') or 'unknown model'}"
    header = (f"<section><h1>{_e(title)}</h1>" + _meta_list([
        ("model", metrics.get("model")),
        ("adapter", metrics.get("adapter") or "none (base model)"),
        ("eval file", metrics.get("eval_file")),
        ("samples (n)", metrics.get("n")),
        ("report date", _now()),
    ]) + "</section>")
    headline = f'<section id="headline"><h2>Headline</h2>{_headline_cards(metrics)}</section>'

    classes = _sorted_classes(metrics.get("by_complexity"))
    kinds = _sorted_taxonomy(metrics.get("error_taxonomy"))
    if classes:
        class_chart = _img(_accuracy_by_class_chart(classes, _number(metrics.get("execution_accuracy"))),
                           "execution accuracy by complexity class")
    else:
        class_chart = '<p class="note">No per-class metrics in this run.</p>'
    if kinds:
        taxonomy = _img(_taxonomy_chart(kinds), "error taxonomy") + _taxonomy_table(kinds)
    else:
        taxonomy = '<p class="note">No error taxonomy in this run.</p>'
    breakdown = ('<section id="breakdown"><div class="grid2">'
                 f'<div><h2>Execution accuracy by complexity class</h2>{class_chart}</div>'
                 f'<div><h2>Outcomes (error taxonomy)</h2>{taxonomy}</div></div>'
                 + (f'<h3>All metrics by class</h3>{_class_table(classes)}' if classes else "") + "</section>")

    judge = metrics.get("judge")
    judge_section = _judge_section(judge) if isinstance(judge, Mapping) else ""
    failures = _failures_section(results)
    script = FILTER_JS if 'id="failures"' in failures else ""
    page = _page(title, header + headline + breakdown + judge_section + failures, script)
    return _write(out_path, page, "eval report")


# --- the compare report ----------------------------------------------------------------------

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
class _Delta:
    delta: float | None = None
    interval: tuple[float, float] | None = None
    paired_n: int | None = None  # set when the interval comes from matched samples


def _unpaired(p_a: float | None, n_a: int | None, p_b: float | None, n_b: int | None) -> _Delta:
    if p_a is None or p_b is None:
        return _Delta()
    if not n_a or not n_b:
        return _Delta(p_b - p_a)
    return _Delta(p_b - p_a, proportion_diff_interval(p_a, n_a, p_b, n_b))


def _paired(metric: Metric, pairs: list[tuple[Mapping, Mapping]]) -> _Delta | None:
    """The paired interval from per-sample booleans, or None when a sample lacks the field."""
    field = metric.per_sample
    if not field or not pairs or not all(isinstance(a.get(field), bool) and isinstance(b.get(field), bool)
                                         for a, b in pairs):
        return None
    a_only = sum(1 for a, b in pairs if a[field] and not b[field])
    b_only = sum(1 for a, b in pairs if b[field] and not a[field])
    interval = paired_diff_interval(a_only, b_only, len(pairs))
    return _Delta((b_only - a_only) / len(pairs), interval, len(pairs))


def _delta_class(metric: Metric, delta: float | None, noise: bool) -> str:
    if delta is None or metric.higher_is_better is None or round(delta, 6) == 0:
        return "same"
    better = (delta > 0) == metric.higher_is_better
    return ("better" if better else "worse") + (" noise" if noise else "")


def _verdict(d: _Delta) -> str:
    if d.interval is None:
        return f'<span class="muted">{MISSING}</span>'
    if _within_noise(d.interval):
        return "within noise"
    return "beyond noise (95%)"


def _match_by_id(results_a: list | None, results_b: list | None, label_a: str,
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


def _fraction_delta(metric: Metric, v_a: float | None, n_a: int | None, v_b: float | None, n_b: int | None,
                    pairs: list[tuple[Mapping, Mapping]] | None) -> _Delta:
    """B − A of a headline fraction, with its interval paired when the samples match."""
    d = (pairs and _paired(metric, pairs)) or _unpaired(v_a, n_a, v_b, n_b)
    if v_a is not None and v_b is not None:
        d.delta = v_b - v_a  # show the headline difference; the interval may be paired
    return d


def _shown(metric: Metric, value: Any, n: int | None) -> str:
    return format_fraction(value, n) if metric.unit == "fraction" else _format_value(metric, value)


def _delta_row(metric: Metric, label: str, shown_a: str, shown_b: str, d: _Delta) -> str:
    noise = d.interval is not None and _within_noise(d.interval)
    delta_text = MISSING if d.delta is None else _format_delta(metric, d.delta)
    interval = MISSING if d.interval is None else _format_interval(d.interval)
    if d.paired_n:
        interval += f' <span class="muted">paired, {d.paired_n}</span>'
    return (f'<tr data-metric="{_e(metric.key)}"><td>{_e(label)}</td>'
            f'<td class="num">{_e(shown_a)}</td><td class="num">{_e(shown_b)}</td>'
            f'<td class="num delta {_delta_class(metric, d.delta, noise)}">{_e(delta_text)}</td>'
            f'<td class="num">{interval}</td><td class="verdict">{_verdict(d)}</td></tr>')


def _delta_table(table_id: str, label_a: str, label_b: str, rows: list[str]) -> str:
    return (f'<table id="{_e(table_id)}"><thead><tr><th>metric</th><th class="num">{_e(label_a)}</th>'
            f'<th class="num">{_e(label_b)}</th><th class="num">Δ ({_e(label_b)} − {_e(label_a)})</th>'
            f'<th class="num">95% interval of Δ</th><th>verdict</th></tr></thead><tbody>{"".join(rows)}</tbody></table>')


def _compare_headline(run_a: Mapping, run_b: Mapping, pairs: list[tuple[Mapping, Mapping]] | None,
                      label_a: str, label_b: str) -> str:
    n_a, n_b = _count(run_a.get("n")), _count(run_b.get("n"))
    rows = []
    for metric in HEADLINE_METRICS:
        if not (_present(metric, run_a) or _present(metric, run_b)):
            continue
        v_a, v_b = _number(run_a.get(metric.key)), _number(run_b.get(metric.key))
        if metric.unit == "fraction":
            d = _fraction_delta(metric, v_a, n_a, v_b, n_b, pairs)
        else:
            d = _Delta(None if v_a is None or v_b is None else v_b - v_a)
        rows.append(_delta_row(metric, _metric_label(metric, run_b), _shown(metric, v_a, n_a),
                               _shown(metric, v_b, n_b), d))
    return _delta_table("headline-compare", label_a, label_b, rows)


def metric_deltas(run_a: Mapping, run_b: Mapping, results_a: list | None = None,
                  results_b: list | None = None) -> list[dict]:
    """B − A for each headline fraction both runs measured, then the mean reward: the rows of a
    comparison as plain data (JSON-ready; `sqlgrpo demo` keeps them in demo_summary.json).

    A fraction's 95% interval is paired (McNemar's discordant counts) when both results lists hold
    the same sample ids with the per-sample field, unpaired otherwise; `within_noise` says whether
    it includes 0. The mean reward gets its difference only (`interval` and `within_noise` None).
    `verdict` is "better", "worse" or "same", with " (within noise)" when it is.
    """
    run_a = run_a if isinstance(run_a, Mapping) else {}
    run_b = run_b if isinstance(run_b, Mapping) else {}
    pairs, mismatch = _match_by_id(results_a, results_b, "A", "B")
    if mismatch:
        log.warning("%s", mismatch)
    n_a, n_b = _count(run_a.get("n")), _count(run_b.get("n"))
    rows = []
    for metric in HEADLINE_METRICS + (MEAN_REWARD,):
        if metric.unit not in ("fraction", "score"):
            continue
        v_a, v_b = _number(run_a.get(metric.key)), _number(run_b.get(metric.key))
        if v_a is None or v_b is None:
            continue
        fraction = metric.unit == "fraction"
        d = _fraction_delta(metric, v_a, n_a, v_b, n_b, None if mismatch else pairs) if fraction else _Delta(v_b - v_a)
        noise = None if d.interval is None else _within_noise(d.interval)
        rows.append({
            "metric": metric.key, "label": _metric_label(metric, run_b), "a": v_a, "b": v_b,
            "a_count": _fraction_count(v_a, n_a) if fraction else None,
            "b_count": _fraction_count(v_b, n_b) if fraction else None, "n_a": n_a, "n_b": n_b,
            "delta": round(d.delta, 6), "interval": None if d.interval is None else [round(x, 6) for x in d.interval],
            "paired": d.paired_n is not None, "within_noise": noise,
            "verdict": _delta_class(metric, d.delta, False) + (" (within noise)" if noise else ""),
        })
    return rows


def _class_rows(run_a: Mapping, run_b: Mapping) -> list[dict]:
    classes_a = dict(_sorted_classes(run_a.get("by_complexity")))
    classes_b = dict(_sorted_classes(run_b.get("by_complexity")))
    names = list(dict.fromkeys([n for n, _ in _sorted_classes({**classes_b, **classes_a})]))
    rows = []
    for name in names:
        m_a, m_b = classes_a.get(name, {}), classes_b.get(name, {})
        n_a, n_b = _count(m_a.get("n")), _count(m_b.get("n"))
        a, b = _number(m_a.get("execution_accuracy")), _number(m_b.get("execution_accuracy"))
        n_label = (MISSING if n_a is None else str(n_a)) if n_a == n_b else \
            f"{MISSING if n_a is None else n_a}/{MISSING if n_b is None else n_b}"
        rows.append({"name": name, "n_a": n_a, "n_b": n_b, "a": a, "b": b, "n_label": n_label,
                     "d": _unpaired(a, n_a, b, n_b)})
    return rows


def _class_delta_table(rows: list[dict], label_a: str, label_b: str) -> str:
    ex = HEADLINE_METRICS[0]
    body = []
    for r in rows:
        d = r["d"]
        noise = d.interval is not None and _within_noise(d.interval)
        body.append(
            f'<tr data-class="{_e(r["name"])}"><td>{_e(r["name"])}</td>'
            f'<td class="num">{_e(MISSING if r["n_a"] is None else r["n_a"])}</td>'
            f'<td class="num">{_e(MISSING if r["n_b"] is None else r["n_b"])}</td>'
            f'<td class="num">{_e(format_fraction(r["a"], r["n_a"]))}</td>'
            f'<td class="num">{_e(format_fraction(r["b"], r["n_b"]))}</td>'
            f'<td class="num delta {_delta_class(ex, d.delta, noise)}">{_e(MISSING if d.delta is None else _format_delta(ex, d.delta))}</td>'
            f'<td class="num">{MISSING if d.interval is None else _format_interval(d.interval)}</td>'
            f'<td class="verdict">{_verdict(d)}</td></tr>')
    return (f'<table id="class-compare"><thead><tr><th>class</th><th class="num">n {_e(label_a)}</th>'
            f'<th class="num">n {_e(label_b)}</th><th class="num">{_e(label_a)}</th><th class="num">{_e(label_b)}</th>'
            f'<th class="num">Δ</th><th class="num">95% interval of Δ</th><th>verdict</th></tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


def _flip_table(table_id: str, pairs: list[tuple[Mapping, Mapping]], label_a: str, label_b: str) -> str:
    if not pairs:
        return '<p class="note">None.</p>'
    rows = []
    for a, b in pairs[:MAX_TABLE_ROWS]:
        rows.append(
            f'<tr data-id="{_e(a.get("id"))}"><td>{_e(a.get("id"))}</td><td>{_e(a.get("sql_complexity") or MISSING)}</td>'
            f'<td>{_text_cell(a.get("question"))}</td><td>{_text_cell(a.get("gold"), code=True)}</td>'
            f'<td>{_kind_tag(a.get("error_kind"))}{_text_cell(a.get("extracted_sql"), code=True)}</td>'
            f'<td>{_kind_tag(b.get("error_kind"))}{_text_cell(b.get("extracted_sql"), code=True)}</td></tr>')
    cut = (f'<p class="note">Showing the first {MAX_TABLE_ROWS} of {len(pairs)}.</p>'
           if len(pairs) > MAX_TABLE_ROWS else "")
    colgroup = ('<colgroup><col style="width:7%"><col style="width:10%"><col style="width:20%">'
                '<col style="width:21%"><col style="width:21%"><col style="width:21%"></colgroup>')
    return (f'{cut}<table id="{table_id}" class="samples">{colgroup}<thead><tr><th>id</th><th>class</th><th>question</th>'
            f'<th>gold SQL</th><th>{_e(label_a)} SQL</th><th>{_e(label_b)} SQL</th></tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>')


def render_compare_report(run_a: dict, run_b: dict, out_path: str | Path, *, label_a: str = "A", label_b: str = "B",
                          results_a: list | None = None, results_b: list | None = None) -> Path:
    """Write an HTML report comparing two eval runs (their metrics dicts) to `out_path`.

    Deltas are B − A. Each headline fraction gets a 95% interval of its delta and "within noise"
    when the interval includes 0: from McNemar's discordant counts when both results lists are
    given and hold the same sample ids (paired), otherwise from the two proportions (unpaired).
    With both results lists, the samples that flipped between the runs are listed, matched by id.
    """
    run_a = run_a if isinstance(run_a, Mapping) else {}
    run_b = run_b if isinstance(run_b, Mapping) else {}
    title = f"sqlgrpo compare: {label_a} vs {label_b}"
    runs = ('<div class="grid2">' + "".join(
        f'<div><h3>{_e(label)}</h3>' + _meta_list([
            ("model", run.get("model")), ("adapter", run.get("adapter") or "none (base model)"),
            ("eval file", run.get("eval_file")), ("samples (n)", run.get("n"))]) + "</div>"
        for label, run in ((label_a, run_a), (label_b, run_b))) + "</div>")
    warnings = []
    if run_a.get("eval_file") and run_b.get("eval_file") and run_a.get("eval_file") != run_b.get("eval_file"):
        warnings.append("The runs were evaluated on different files: the deltas compare different samples.")

    pairs, mismatch = _match_by_id(results_a, results_b, label_a, label_b)
    same_samples = bool(pairs) and mismatch is None
    if mismatch:
        warnings.append(mismatch)
    warning_html = "".join(f'<p class="warn">{_e(w)}</p>' for w in warnings)
    header = f"<section><h1>{_e(title)}</h1><p class=\"note\">report date {_e(_now())}</p>{runs}{warning_html}</section>"

    headline = (f'<section id="headline"><h2>Headline metrics</h2>'
                f'{_compare_headline(run_a, run_b, pairs if same_samples else None, label_a, label_b)}'
                '<p class="note">Δ is in percentage points for rates. "Within noise": the 95% interval of Δ '
                "includes 0 (normal approximation; paired on matched samples when both runs' results are given). "
                "Green is better, red is worse, faded when within noise.</p></section>")

    class_rows = _class_rows(run_a, run_b)
    if class_rows:
        chart = _img(_compare_chart(class_rows, label_a, label_b), "execution accuracy by class, A vs B")
        classes = (f'<section id="classes"><h2>Execution accuracy by complexity class</h2>{chart}'
                   f'<h3>Per-class delta</h3>{_class_delta_table(class_rows, label_a, label_b)}'
                   '<p class="note">Per-class intervals are unpaired; small classes rarely show a difference '
                   'beyond noise.</p></section>')
    else:
        classes = '<section id="classes"><h2>By complexity class</h2><p class="note">No per-class metrics.</p></section>'

    flips = ""
    if pairs:
        fixed = [(a, b) for a, b in pairs if a.get("correct") is not True and b.get("correct") is True]
        broken = [(a, b) for a, b in pairs if a.get("correct") is True and b.get("correct") is not True]
        flips = (f'<section id="flips"><h2>Samples that flipped ({len(pairs)} matched by id)</h2>'
                 f'<details open class="group"><summary>{_e(label_a)} wrong → {_e(label_b)} right ({len(fixed)})'
                 f'</summary>{_flip_table("flips-fixed", fixed, label_a, label_b)}</details>'
                 f'<details open class="group"><summary>{_e(label_a)} right → {_e(label_b)} wrong ({len(broken)})'
                 f'</summary>{_flip_table("flips-broken", broken, label_a, label_b)}</details></section>')
    page = _page(title, header + headline + classes + flips)
    return _write(out_path, page, "compare report")


# --- the demo report -------------------------------------------------------------------------

DEMO_RUNS = ("base", "sft", "contrastive", "tuned")  # the demo's eval runs, in pipeline order
DEMO_RUN_METRICS = ("format_compliance", "valid_sql_rate", "execution_accuracy", "strict_execution_accuracy")
# What "What changed" must always speak to, in the order a model learns them: the answer format
# first, then SQL that runs, then SQL that returns the right rows.
CHANGE_METRICS = ("format_compliance", "valid_sql_rate", "execution_accuracy")
_METRIC_BY_KEY = {m.key: m for m in HEADLINE_METRICS + (MEAN_REWARD,)}


def _record_delta(row: Mapping) -> _Delta:
    """The _Delta of a `metric_deltas` row read back from JSON."""
    interval = row.get("interval")
    if isinstance(interval, (list, tuple)) and len(interval) == 2 and all(_number(x) is not None for x in interval):
        interval = (float(interval[0]), float(interval[1]))
    else:
        interval = None
    paired_n = _count(row.get("n_a")) if row.get("paired") is True and interval is not None else None
    return _Delta(_number(row.get("delta")), interval, paired_n)


def _row_metric(row: Mapping) -> Metric:
    key = str(row.get("metric"))
    return _METRIC_BY_KEY.get(key) or Metric(key, str(row.get("label") or key), unit="score")


def _points_interval(interval: tuple[float, float]) -> str:
    lo, hi = interval
    return f"{_signed(100 * lo, 1)} to {_signed(100 * hi, 1)}"


def _change_sentence(metric: Metric, row: Mapping | None) -> str:
    """One metric of one comparison in plain words, e.g. "Format compliance 0.0% (0/45) → 62.2%
    (28/45), +62.2 points, beyond noise (95% interval +47.1 to +77.3, paired on 45 questions)."."""
    name = metric.label  # already sentence case; lower-casing would turn "SQL" into "sql"
    if row is None:
        return f"{name}: not measured in both runs."
    d = _record_delta(row)
    a, b = _number(row.get("a")), _number(row.get("b"))
    n_a, n_b = _count(row.get("n_a")), _count(row.get("n_b"))
    if d.delta is None:
        return f"{name}: {_shown(metric, a, n_a)} → {_shown(metric, b, n_b)}."
    if metric.unit != "fraction":
        return f"{name} {_shown(metric, a, n_a)} → {_shown(metric, b, n_b)} ({_format_delta(metric, d.delta)})."
    change = "no change" if round(100 * d.delta, 1) == 0 else _signed(100 * d.delta, 1, " points")
    a_count, b_count = _count(row.get("a_count")), _count(row.get("b_count"))
    if a_count is not None and b_count is not None and n_a == n_b and a_count != b_count:
        net = abs(b_count - a_count)
        change += f" ({net} question{'' if net == 1 else 's'})"
    if d.interval is None:
        noise = "no interval (the sample counts are unknown)"
    else:
        how = f"paired on {d.paired_n} questions" if d.paired_n else "unpaired"
        noise = (f"{'within' if _within_noise(d.interval) else 'beyond'} noise "
                 f"(95% interval {_points_interval(d.interval)} points, {how})")
    return f"{name} {format_fraction(a, n_a)} → {format_fraction(b, n_b)}, {change}, {noise}."


def _comparison_labels(name: str, labels: Mapping) -> tuple[str, str]:
    """(label of A, label of B) of a comparison named "B vs A"."""
    b, sep, a = str(name).partition(" vs ")
    if not sep:
        return "A", "B"
    return str(labels.get(a) or a), str(labels.get(b) or b)


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def _default_comparisons(summary: Mapping, runs: list[str], results: Mapping) -> dict[str, list[dict]]:
    """Each stage against the one before it, then the last against the first: computed here when
    the summary carries no comparisons (paired when `results` holds both runs' samples)."""
    present = [r for r in runs if isinstance(summary.get(r), Mapping)]
    names = [(b, a) for a, b in zip(present, present[1:])]
    if len(present) > 2:
        names.append((present[-1], present[0]))
    return {f"{b} vs {a}": metric_deltas(summary[a], summary[b], results.get(a), results.get(b)) for b, a in names}


def comparison_sentences(rows: list[Mapping]) -> list[str]:
    """The rows of one `metric_deltas` comparison in plain words: format compliance, valid SQL
    rate and execution accuracy (each with its counts, change and noise verdict), then the mean
    reward. The demo prints them and its report shows them."""
    by_key = {str(r.get("metric")): r for r in rows if isinstance(r, Mapping)}
    sentences = [_change_sentence(_METRIC_BY_KEY[key], by_key.get(key)) for key in CHANGE_METRICS]
    if MEAN_REWARD.key in by_key:
        sentences.append(_change_sentence(MEAN_REWARD, by_key[MEAN_REWARD.key]))
    return sentences


def _what_changed(comparisons: Mapping, labels: Mapping) -> str:
    items = []
    for name, rows in comparisons.items():
        label_a, label_b = _comparison_labels(name, labels)
        head = f"<strong>{_e(_capitalised(label_b))} vs {_e(label_a)}</strong>: "
        rows = [r for r in rows if isinstance(r, Mapping)] if isinstance(rows, list) else []
        if not rows:
            items.append(f"<li>{head}no comparison: a run is missing or measured nothing.</li>")
            continue
        items.append(f"<li>{head}{_e(' '.join(comparison_sentences(rows)))}</li>")
    if not items:
        return '<p class="note">No comparisons: fewer than two runs finished.</p>'
    return (f'<ul>{"".join(items)}</ul><p class="note">"Within noise": the 95% interval of the change '
            "includes 0, so a difference that small could be the luck of which questions were asked. Paired "
            "intervals count only the questions that flipped between the two runs.</p>")


def _comparison_tables(comparisons: Mapping, labels: Mapping) -> str:
    parts = []
    for name, rows in comparisons.items():
        label_a, label_b = _comparison_labels(name, labels)
        rows = [r for r in rows if isinstance(r, Mapping)] if isinstance(rows, list) else []
        slug = "".join(c if c.isalnum() else "-" for c in str(name))
        body = [_delta_row(metric, str(r.get("label") or metric.label),
                           _shown(metric, r.get("a"), _count(r.get("n_a"))),
                           _shown(metric, r.get("b"), _count(r.get("n_b"))), _record_delta(r))
                for r in rows for metric in [_row_metric(r)]]
        table = _delta_table(f"compare-{slug}", label_a, label_b, body) if body else '<p class="note">No metrics.</p>'
        parts.append(f"<h3>{_e(_capitalised(label_b))} vs {_e(label_a)}</h3>{table}")
    return "".join(parts) or '<p class="note">No comparisons.</p>'


def _seconds(value: Any) -> str:
    number = _number(value)
    return MISSING if number is None else f"{number:.1f}"


def _runs_table(summary: Mapping, runs: list[str], labels: Mapping) -> str:
    metrics = [_METRIC_BY_KEY[k] for k in DEMO_RUN_METRICS]
    head = "".join(f'<th class="num">{_e(m.label)}</th>' for m in metrics)
    rows = []
    for name in runs:
        run = summary.get(name)
        label = f"<td>{_e(labels.get(name) or name)}</td>"
        if not isinstance(run, Mapping):
            rows.append(f'<tr data-run="{_e(name)}">{label}<td colspan="{len(metrics) + 5}" class="muted">'
                        "missing: the stage failed or was skipped</td></tr>")
            continue
        n = _count(run.get("n"))
        cells = "".join(f'<td class="num">{_e(format_fraction(run.get(m.key), n))}</td>' for m in metrics)
        rows.append(f'<tr data-run="{_e(name)}">{label}{cells}'
                    f'<td class="num">{_e(_format_value(MEAN_REWARD, run.get(MEAN_REWARD.key)))}</td>'
                    f'<td class="num">{_e(MISSING if n is None else n)}</td>'
                    f'<td class="num">{_e(_seconds(run.get("eval_seconds")))}</td>'
                    f'<td class="num">{_e(_seconds(run.get("train_seconds")))}</td></tr>')
    return (f'<table id="demo-runs"><thead><tr><th>run</th>{head}<th class="num">{MEAN_REWARD.label}</th>'
            '<th class="num">n</th><th class="num">eval seconds</th><th class="num">training seconds</th></tr>'
            f'</thead><tbody>{"".join(rows)}</tbody></table>')


def _stages_table(stages: Any, total: Any) -> str:
    stages = [s for s in stages if isinstance(s, Mapping)] if isinstance(stages, list) else []
    if not stages:
        return '<p class="note">No stage timings recorded.</p>'
    rows = []
    for stage in stages:
        reused = stage.get("reused")
        rows.append(f'<tr data-stage="{_e(stage.get("name"))}"><td>{_e(stage.get("name") or MISSING)}</td>'
                    f'<td class="num">{_e(_seconds(stage.get("seconds")))}</td>'
                    f'<td>{"yes" if reused is True else "no" if reused is False else MISSING}</td>'
                    f'<td>{_text_cell(stage.get("detail"))}</td></tr>')
    if _number(total) is None:  # an interrupted demo: the sum of what ran
        total = sum(_number(s.get("seconds")) or 0.0 for s in stages)
    rows.append(f'<tr data-stage="total"><td><strong>total</strong></td><td class="num"><strong>{_e(_seconds(total))}'
                "</strong></td><td></td><td></td></tr>")
    return (f'<table id="demo-stages"><thead><tr><th>stage</th><th class="num">seconds</th><th>reused</th>'
            f'<th>detail</th></tr></thead><tbody>{"".join(rows)}</tbody></table>')


def _setting_value(value: Any) -> str:
    if isinstance(value, (Mapping, list, tuple)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return MISSING if value is None else str(value)


def _settings_section(settings: Any) -> str:
    if not isinstance(settings, Mapping) or not settings:
        return '<section id="settings"><h2>Settings</h2><p class="note">No settings recorded.</p></section>'
    blocks = []
    for stage, values in settings.items():
        if isinstance(values, Mapping):
            rows = "".join(f"<tr><td>{_e(k)}</td><td>{_text_cell(_setting_value(v), code=True)}</td></tr>"
                           for k, v in values.items())
            body = f"<table><tbody>{rows}</tbody></table>"
        else:
            body = _text_cell(_setting_value(values), code=True)
        blocks.append(f'<div data-settings="{_e(stage)}"><h3>{_e(stage)}</h3>{body}</div>')
    return f'<section id="settings"><h2>Settings</h2><div class="grid2">{"".join(blocks)}</div></section>'


def _relative_href(path: Any) -> str | None:
    """A link target the demo wrote (relative to the report); anything with a scheme
    ("javascript:", "http:") or an absolute path is refused and shown as text."""
    text = str(path or "")
    if not text or text.startswith(("/", "\\")) or ":" in text.split("/", 1)[0]:
        return None
    return text


def _reports_section(reports: Any, runs: list[str], labels: Mapping) -> str:
    reports = reports if isinstance(reports, Mapping) else {}
    names = [r for r in runs if r in reports] + [r for r in reports if r not in runs]
    items = []
    for name in names:
        href = _relative_href(reports[name])
        target = (f'<a href="{_e(href)}">{_e(href)}</a>' if href else _e(reports[name]))
        items.append(f"<li>{_e(labels.get(name) or name)}: {target}</li>")
    body = f'<ul>{"".join(items)}</ul>' if items else '<p class="note">No eval reports recorded.</p>'
    return f'<section id="reports"><h2>Eval reports of each run</h2>{body}</section>'


def _curves_section(grpo_history: list[dict] | None, loss_histories: Mapping[str, list[dict]] | None) -> str:
    parts = []
    try:
        parts.append("<h3>GRPO: reward per step</h3>"
                     + _img(render_training_curves(grpo_history or []), "GRPO reward curves"))
    except ValueError as error:
        log.warning("demo report without GRPO curves: %s", error)
        what = "no GRPO log history was given" if not grpo_history else "the GRPO log history has no reward entry"
        parts.append(f'<h3>GRPO: reward per step</h3><p class="note" id="no-grpo-curves">No GRPO curves: {what}.</p>')
    if loss_histories:
        try:
            parts.append("<h3>Supervised stages: loss per step</h3>"
                         + _img(render_loss_curves(loss_histories), "training loss of the supervised stages"))
        except ValueError as error:
            log.warning("demo report without loss curves: %s", error)
            parts.append('<h3>Supervised stages: loss per step</h3><p class="note" id="no-loss-curves">'
                         "No loss curves: the SFT and contrastive log histories have no loss entry.</p>")
    return f'<section id="curves"><h2>Training curves</h2>{"".join(parts)}</section>'


def render_demo_report(summary: Mapping, out_path: str | Path, *, results: Mapping[str, list] | None = None,
                       grpo_history: list[dict] | None = None,
                       loss_histories: Mapping[str, list[dict]] | None = None) -> Path:
    """Write the HTML report of `sqlgrpo demo` (demo_summary.json as loaded) to `out_path`.

    The page: what changed between the runs in plain words (from `summary["comparisons"]`, the
    `metric_deltas` rows; computed from the runs when absent, paired when `results` maps a run
    name to its evaluation_results.json), the runs side by side, one delta table per comparison,
    the GRPO reward curves (`grpo_history`: GRPO's trainer_state.json log_history) and the loss
    curves of the supervised stages (`loss_histories`: stage label → log_history), stage timings,
    settings, and links to each run's eval report. A run that is missing (a failed or skipped
    stage) is named as missing; a curve that cannot be drawn becomes a note. Returns the path.
    """
    summary = summary if isinstance(summary, Mapping) else {}
    results = results if isinstance(results, Mapping) else {}
    runs = [str(r) for r in summary.get("runs") or DEMO_RUNS]
    labels = summary.get("labels") if isinstance(summary.get("labels"), Mapping) else {}
    present = [r for r in runs if isinstance(summary.get(r), Mapping)]
    missing = [r for r in runs if r not in present]

    title = "sqlgrpo demo"
    first = summary[present[0]] if present else {}
    total = _number(summary.get("total_seconds"))
    quick = summary.get("quick")
    sizes = {r: MISSING if _count(summary[r].get("n")) is None else _count(summary[r].get("n")) for r in present}
    header = (f"<section><h1>{_e(title)}</h1>" + _meta_list([
        ("model", summary.get("model") or first.get("model")),
        ("eval file", summary.get("eval_file") or first.get("eval_file")),
        ("questions per run (n)", ", ".join(f"{r} {sizes[r]}" for r in present) or None),
        ("mode", "quick (small settings: a smoke run)" if quick is True else "full" if quick is False else None),
        ("total time", None if total is None else f"{total:.1f} s ({total / 60:.1f} min), the sum of the stages "
                                                   "as they ran"),
        ("this run", None if _number(summary.get("this_run_seconds")) is None else
         f"{_number(summary.get('this_run_seconds')):.1f} s" + (f" (reused: {', '.join(summary['reused_stages'])})"
                                                                if summary.get("reused_stages") else "")),
        ("report date", _now()),
    ]) + "".join(f'<p class="warn">No eval of {_e(labels.get(r) or r)} ({_e(r)}): the stage failed or was '
                 "skipped; see the stage timings below.</p>" for r in missing) + "</section>")

    comparisons = summary.get("comparisons")
    if not isinstance(comparisons, Mapping):
        comparisons = _default_comparisons(summary, runs, results)
    changed = f'<section id="what-changed"><h2>What changed</h2>{_what_changed(comparisons, labels)}</section>'
    runs_section = f'<section id="runs"><h2>The runs</h2>{_runs_table(summary, runs, labels)}</section>'
    compare_section = (f'<section id="comparisons"><h2>Comparisons</h2>{_comparison_tables(comparisons, labels)}'
                       '<p class="note">Δ is in percentage points for rates. Green is better, red is worse, '
                       "faded when within noise.</p></section>")
    stages = (f'<section id="stages"><h2>Stage timings</h2>'
              f'{_stages_table(summary.get("stages"), summary.get("total_seconds"))}</section>')
    body = (header + changed + runs_section + compare_section + _curves_section(grpo_history, loss_histories)
            + stages + _settings_section(summary.get("settings"))
            + _reports_section(summary.get("reports"), runs, labels))
    return _write(out_path, _page(title, body), "demo report")
