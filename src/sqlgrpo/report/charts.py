"""The reports' charts: matplotlib figures turned into `data:image/png;base64,...` URIs, so that
a page embeds its plots and works offline.

pyplot is imported on the first chart, on the Agg backend (no display on servers and CI), so
importing the reports costs nothing until something is drawn. The bar charts take the rows a
page also tabulates (`stats.sorted_classes`, `stats.sorted_taxonomy`, the judge's distribution);
`render_training_curves` draws GRPO's reward curves and `render_loss_curves` the losses of the
supervised stages, both from TRL's `trainer_state.json` log_history. Data strings (class names,
error kinds, stage labels) are shortened and have `$` escaped before they become labels.
"""

from __future__ import annotations

import base64
import io
import logging
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlgrpo.report.stats import MISSING, SCORE_LABELS, as_count, as_number, kind_label
from sqlgrpo.report.trends import logged_series
from sqlgrpo.scoring.verdict import CORRECT, SHOWN_DATA_ONLY, WRONG_RESULT
from sqlgrpo.scoring.judge_rubric import SCORE_FIELDS, SCORE_MAX, SCORE_MIN

log = logging.getLogger(__name__)

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
MAX_TICK_LABEL_LINE = 18  # class names under a vertical bar chart are wrapped at this width

COLOR_ACCENT = "#3b6fb6"
COLOR_B = "#e8893a"
COLOR_CORRECT = "#2e8b57"
COLOR_WRONG = "#e0a030"
COLOR_ERROR = "#c8553d"
COLOR_SUITE = "#8250df"  # test-suite accuracy, and the answers it alone tells apart (shown data only)
GROUPED_BARS_SHARE = 0.8  # of a class's row, taken by its bars when there are two series


# --- figures ---------------------------------------------------------------------------------

def _pyplot():
    """pyplot on the Agg backend, imported on first use so importing the report pages stays cheap."""
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


# --- bar charts ------------------------------------------------------------------------------

def accuracy_by_class_chart(classes: list[tuple[str, Mapping]], overall: float | None,
                            suite_overall: float | None = None) -> str:
    """Execution accuracy per complexity class (`stats.sorted_classes`), a bar each, with the
    accuracy over all classes as a dashed line; when the run measured test-suite accuracy (any
    class has it), a second bar per class and a dotted line for it."""
    plt = _pyplot()
    series = [("execution_accuracy", "execution", COLOR_ACCENT, "--", overall)]
    if suite_overall is not None or any(as_number(m.get("test_suite_accuracy")) is not None for _, m in classes):
        series.append(("test_suite_accuracy", "test-suite", COLOR_SUITE, ":", suite_overall))
    height = BAR_ROW_IN * len(classes) * (1 if len(series) == 1 else 1.6)  # two bars need a taller row
    fig, ax = plt.subplots(figsize=(CHART_WIDTH_IN, CHART_PAD_IN + height), layout="constrained")
    labels = [f"{_chart_label(name)} (n={as_count(m.get('n')) if as_count(m.get('n')) is not None else '?'})"
              for name, m in classes]
    bar_height = 0.8 if len(series) == 1 else GROUPED_BARS_SHARE / len(series)
    for index, (key, name, color, line, whole) in enumerate(series):
        values = [as_number(m.get(key)) for _, m in classes]
        offset = 0.0 if len(series) == 1 else (index - (len(series) - 1) / 2) * bar_height
        bars = ax.barh([row + offset for row in range(len(classes))], [100 * (v or 0) for v in values],
                       height=bar_height, color=color, label=f"{name} accuracy" if len(series) > 1 else None)
        _bar_labels(ax, bars, [MISSING if v is None else f"{100 * v:.1f}%" for v in values], 100)
        if whole is not None:
            ax.axvline(100 * whole, color="#555555", linestyle=line, linewidth=1, zorder=0.5,
                       label=f"all classes{'' if len(series) == 1 else f', {name}'}: {100 * whole:.1f}%")
    ax.set_yticks(range(len(classes)), labels)
    ax.invert_yaxis()  # largest class on top, as in the table
    ax.set_xlim(0, 100)
    ax.set_xlabel("accuracy (%)" if len(series) > 1 else "execution accuracy (%)")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=9,
                  ncol=2 if len(series) > 1 else 1)
    _style_axes(ax, "x")
    return figure_data_uri(fig)


def _kind_color(kind: str) -> str:
    return {CORRECT: COLOR_CORRECT, SHOWN_DATA_ONLY: COLOR_SUITE, WRONG_RESULT: COLOR_WRONG}.get(kind, COLOR_ERROR)


def taxonomy_chart(kinds: list[tuple[str, int]]) -> str:
    """Samples per outcome kind (`stats.sorted_taxonomy`, named by `stats.kind_label`): green
    right, purple right on the shown data only, amber wrong result, red the failures."""
    plt = _pyplot()
    total = sum(count for _, count in kinds)
    fig, ax = plt.subplots(figsize=(CHART_WIDTH_IN, CHART_PAD_IN + BAR_ROW_IN * len(kinds)), layout="constrained")
    bars = ax.barh(range(len(kinds)), [c for _, c in kinds], color=[_kind_color(k) for k, _ in kinds])
    ax.set_yticks(range(len(kinds)), [_chart_label(kind_label(k)) for k, _ in kinds])
    ax.invert_yaxis()
    axis_max = max([c for _, c in kinds] + [1]) * 1.18  # room for the labels right of the bars
    ax.set_xlim(0, axis_max)
    ax.set_xlabel("samples")
    ax.xaxis.set_major_locator(_integer_ticks())  # counts: no "0.5 samples" ticks on small runs
    _bar_labels(ax, bars, [f"{c} ({100 * c / total:.0f}%)" if total else str(c) for _, c in kinds], axis_max)
    _style_axes(ax, "x")
    return figure_data_uri(fig)


def judge_chart(distribution: Mapping, means: Mapping) -> str:
    """For each judge dimension, how many samples got each score (metrics.json's
    `judge.distribution`), titled with the mean score."""
    plt = _pyplot()
    dims = [d for d in SCORE_FIELDS if isinstance(distribution.get(d), Mapping)]
    dims += [d for d in distribution if d not in dims and isinstance(distribution[d], Mapping)]
    fig, axes = plt.subplots(1, len(dims), figsize=(WIDE_CHART_WIDTH_IN, 2.6), sharey=True, squeeze=False)
    for ax, dim in zip(axes[0], dims):
        counts = [as_count(distribution[dim].get(s)) or 0 for s in SCORE_LABELS]
        ax.bar(range(SCORE_MIN, SCORE_MAX + 1), counts, color=COLOR_ACCENT)
        mean = as_number(means.get(dim)) if isinstance(means, Mapping) else None
        name = _chart_label(dim.removesuffix("_score"))
        ax.set_title(name if mean is None else f"{name}: mean {mean:.2f}", fontsize=10)
        ax.set_xticks(range(SCORE_MIN, SCORE_MAX + 1))
        ax.set_xlabel("score")
        _style_axes(ax, "y")
    axes[0][0].set_ylabel("samples")
    axes[0][0].yaxis.set_major_locator(_integer_ticks())
    fig.tight_layout()
    return figure_data_uri(fig)


def compare_chart(rows: list[dict], label_a: str, label_b: str) -> str:
    """Grouped vertical bars, A beside B per class: full page width, so that eight classes and
    their wrapped names fit without shrinking the text. `rows` hold each class's "name", "n_label"
    and the accuracies "a" and "b"."""
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


# --- training curves -------------------------------------------------------------------------

def render_training_curves(log_history: list[dict], out_png_or_none: str | Path | None = None, *,
                           trend: Mapping | None = None) -> str:
    """The GRPO reward curves of a TRL `trainer_state.json` `log_history`, as a PNG data URI.

    Left: the total reward ("reward", with a ±1 std band when "reward_std" is logged) per "step",
    and the fitted straight line of `trend` (a `trends.reward_trend`) across those steps when given;
    right: each reward function's "rewards/<name>/mean". Entries without any reward (eval and
    end-of-training summaries) are skipped. Also writes the PNG to `out_png_or_none` when given.

    Raises ValueError when no entry has a reward (an empty history, or a run that never reached
    its first logging step): the caller decides whether a report without curves is acceptable.
    """
    points = []
    for index, entry in enumerate(log_history or []):
        if not isinstance(entry, Mapping):
            continue
        rewards = {k: as_number(v) for k, v in entry.items()
                   if k == "reward" or (k.startswith("rewards/") and k.endswith("/mean"))}
        rewards = {k: v for k, v in rewards.items() if v is not None}
        if rewards:
            step = as_number(entry.get("step"))
            points.append((index if step is None else step, rewards, as_number(entry.get("reward_std"))))
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
        _trend_line(total_ax, trend, min(steps), max(steps))
        if total_ax.get_legend_handles_labels()[0]:
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


def _trend_line(ax, trend: Mapping | None, first_step: float, last_step: float) -> None:
    """The straight line of a `trends.reward_trend` from `first_step` to `last_step`, dashed, with
    its verdict as the legend label; nothing when there is no trend (or it was read back broken)."""
    slope = as_number(trend.get("slope")) if isinstance(trend, Mapping) else None
    intercept = as_number(trend.get("intercept")) if isinstance(trend, Mapping) else None
    if slope is None or intercept is None:
        return
    ax.plot([first_step, last_step], [intercept + slope * first_step, intercept + slope * last_step],
            color=COLOR_B, linestyle="--", linewidth=1.5, label=f"trend: {_chart_label(trend.get('verdict') or 'fit')}")


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
    losses = {label: points for label, h in histories.items() if (points := logged_series(h, "loss"))}
    if not losses:
        stages = ", ".join(map(str, histories)) or "none"
        raise ValueError(f"no log_history has an entry with 'loss' (stages: {stages}): train until the first "
                         "logging step (logging_steps) or pass trainer_state.json's log_history")
    margins = {label: points for label, h in histories.items() if (points := logged_series(h, "rewards/margins"))}
    accuracies = {label: points for label, h in histories.items() if (points := logged_series(h, "rewards/accuracies"))}
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
