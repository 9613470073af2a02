"""The HTML report of `sqlgrpo demo`: `render_demo_report(summary, out_path, ...)`.

`sqlgrpo.stages.demo` evaluates the model after each stage, keeps the runs and the comparisons
between them (`stats.metric_deltas`) in demo_summary.json, and calls it with that summary. The
page: what changed between the runs in plain words (`stats.comparison_sentences`), the runs side
by side, what their answers are built of beside the golds (`stats.shape_rows`), a delta table
per comparison, the training curves of each stage (`charts.render_training_curves` for GRPO's rewards, with the trend of the total reward and
the share of all-tied groups from `trends.grpo_learning`; `charts.render_loss_curves` for the
supervised losses), stage timings, settings, and links to each run's eval report. Test-suite
accuracy stands beside execution accuracy; a run from before test suites shows "n/a" for it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlgrpo.report.charts import render_loss_curves, render_training_curves
from sqlgrpo.report.html import (delta_row, delta_table, escape, html_document, img, meta_list, report_date, text_cell,
                                 write_page)
from sqlgrpo.report.stats import (MEAN_REWARD, METRIC_BY_KEY, MISSING, as_count, as_number, comparison_sentences,
                                  format_fraction, format_metric, format_value, metric_deltas, metric_text,
                                  record_delta, row_metric, shape_rows)
from sqlgrpo.report.trends import grpo_learning, trend_sentence

log = logging.getLogger(__name__)

DEMO_RUNS = ("base", "sft", "contrastive", "tuned")  # the demo's eval runs, in pipeline order
DEMO_RUN_METRICS = ("format_compliance", "valid_sql_rate", "execution_accuracy", "test_suite_accuracy",
                    "strict_execution_accuracy")


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


def _what_changed(comparisons: Mapping, labels: Mapping) -> str:
    items = []
    for name, rows in comparisons.items():
        label_a, label_b = _comparison_labels(name, labels)
        head = f"<strong>{escape(_capitalised(label_b))} vs {escape(label_a)}</strong>: "
        rows = [r for r in rows if isinstance(r, Mapping)] if isinstance(rows, list) else []
        if not rows:
            items.append(f"<li>{head}no comparison: a run is missing or measured nothing.</li>")
            continue
        items.append(f"<li>{head}{escape(' '.join(comparison_sentences(rows)))}</li>")
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
        body = [delta_row(metric, str(r.get("label") or metric.label),
                           format_metric(metric, r.get("a"), as_count(r.get("n_a"))),
                           format_metric(metric, r.get("b"), as_count(r.get("n_b"))), record_delta(r))
                for r in rows for metric in [row_metric(r)]]
        table = delta_table(f"compare-{slug}", label_a, label_b, body) if body else '<p class="note">No metrics.</p>'
        parts.append(f"<h3>{escape(_capitalised(label_b))} vs {escape(label_a)}</h3>{table}")
    return "".join(parts) or '<p class="note">No comparisons.</p>'


def _seconds(value: Any) -> str:
    number = as_number(value)
    return MISSING if number is None else f"{number:.1f}"


def _runs_table(summary: Mapping, runs: list[str], labels: Mapping) -> str:
    metrics = [METRIC_BY_KEY[k] for k in DEMO_RUN_METRICS]
    head = "".join(f'<th class="num">{escape(m.label)}</th>' for m in metrics)
    rows = []
    for name in runs:
        run = summary.get(name)
        label = f"<td>{escape(labels.get(name) or name)}</td>"
        if not isinstance(run, Mapping):
            rows.append(f'<tr data-run="{escape(name)}">{label}<td colspan="{len(metrics) + 5}" class="muted">'
                        "missing: the stage failed or was skipped</td></tr>")
            continue
        n = as_count(run.get("n"))
        cells = "".join(f'<td class="num">{escape(metric_text(m, run, n))}</td>' for m in metrics)
        rows.append(f'<tr data-run="{escape(name)}">{label}{cells}'
                    f'<td class="num">{escape(format_value(MEAN_REWARD, run.get(MEAN_REWARD.key)))}</td>'
                    f'<td class="num">{escape(MISSING if n is None else n)}</td>'
                    f'<td class="num">{escape(_seconds(run.get("eval_seconds")))}</td>'
                    f'<td class="num">{escape(_seconds(run.get("train_seconds")))}</td></tr>')
    return (f'<table id="demo-runs"><thead><tr><th>run</th>{head}<th class="num">{MEAN_REWARD.label}</th>'
            '<th class="num">n</th><th class="num">eval seconds</th><th class="num">training seconds</th></tr>'
            f'</thead><tbody>{"".join(rows)}</tbody></table>')


def _shapes_section(summary: Mapping, runs: list[str], labels: Mapping) -> str:
    """How many answers of each run join, aggregate, group and order, beside the golds: a
    policy that drifts into lookups that run shows here while its valid-SQL rate rises."""
    present = {str(labels.get(r) or r): summary[r] for r in runs if isinstance(summary.get(r), Mapping)}
    columns, rows = shape_rows(present)
    if not rows:
        return ""  # runs from before the answers' structure was counted
    head = "".join(f'<th class="num">{escape(c)}</th>' for c in columns)
    body = "".join(f"<tr><td>{escape(label)}</td>" + "".join(f'<td class="num">{escape(c)}</td>' for c in cells) + "</tr>"
                   for label, cells in rows)
    return ('<section id="shapes"><h2>What the answers are built of</h2>'
            f'<table id="demo-shapes"><thead><tr><th>answers</th>{head}</tr></thead><tbody>{body}</tbody></table>'
            '<p class="note">Answers whose SQL has each element, of n (no SQL, or SQL that cannot be parsed, has none); '
            "the last row counts the golds. Valid SQL that rises while these fall away from the golds' is a "
            "policy answering simpler questions than were asked.</p></section>")


def _stages_table(stages: Any, total: Any) -> str:
    stages = [s for s in stages if isinstance(s, Mapping)] if isinstance(stages, list) else []
    if not stages:
        return '<p class="note">No stage timings recorded.</p>'
    rows = []
    for stage in stages:
        reused = stage.get("reused")
        rows.append(f'<tr data-stage="{escape(stage.get("name"))}"><td>{escape(stage.get("name") or MISSING)}</td>'
                    f'<td class="num">{escape(_seconds(stage.get("seconds")))}</td>'
                    f'<td>{"yes" if reused is True else "no" if reused is False else MISSING}</td>'
                    f'<td class="num">{escape(_gigabytes(stage.get("peak_mb")))}</td>'
                    f'<td>{text_cell(stage.get("detail"))}</td></tr>')
    if as_number(total) is None:  # an interrupted demo: the sum of what ran
        total = sum(as_number(s.get("seconds")) or 0.0 for s in stages)
    rows.append(f'<tr data-stage="total"><td><strong>total</strong></td><td class="num"><strong>{escape(_seconds(total))}'
                "</strong></td><td></td><td></td><td></td></tr>")
    return (f'<table id="demo-stages"><thead><tr><th>stage</th><th class="num">seconds</th><th>reused</th>'
            f'<th class="num">peak memory</th><th>detail</th></tr></thead><tbody>{"".join(rows)}</tbody></table>')


def _gigabytes(mb: Any) -> str:
    """"3.2 GB" for a stage's peak in MB; "-" where it was not measured (it ran in the demo's
    process, or before the demo measured it)."""
    value = as_number(mb)
    return MISSING if value is None else f"{value / 1024:.1f} GB"


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
            rows = "".join(f"<tr><td>{escape(k)}</td><td>{text_cell(_setting_value(v), code=True)}</td></tr>"
                           for k, v in values.items())
            body = f"<table><tbody>{rows}</tbody></table>"
        else:
            body = text_cell(_setting_value(values), code=True)
        blocks.append(f'<div data-settings="{escape(stage)}"><h3>{escape(stage)}</h3>{body}</div>')
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
        target = (f'<a href="{escape(href)}">{escape(href)}</a>' if href else escape(reports[name]))
        items.append(f"<li>{escape(labels.get(name) or name)}: {target}</li>")
    body = f'<ul>{"".join(items)}</ul>' if items else '<p class="note">No eval reports recorded.</p>'
    return f'<section id="reports"><h2>Eval reports of each run</h2>{body}</section>'


def _grpo_learning_notes(learning: Mapping | None) -> str:
    """The trend of GRPO's total reward in one sentence, and the mean share of groups whose
    rewards all tie; nothing without a `trends.grpo_learning`."""
    if not isinstance(learning, Mapping):
        return ""
    trend = learning.get("trend")
    sentence = trend_sentence(trend) if isinstance(trend, Mapping) else None
    if sentence is None:
        rewards = learning.get("reward")
        steps = len(rewards) if isinstance(rewards, list) else MISSING
        parts = [f'<p class="note" id="grpo-trend">No trend of the reward: {steps} logged steps, a fit needs 3.</p>']
    else:
        parts = [f'<p id="grpo-trend">Total reward per step: {escape(sentence)}.</p>']
    share = as_number(learning.get("frac_reward_zero_std_mean"))
    if share is None:
        parts.append('<p class="note" id="grpo-zero-std">The share of groups whose rewards all tie '
                     "(frac_reward_zero_std) was not logged.</p>")
    else:
        shares = learning.get("frac_reward_zero_std")
        over = f" over {len(shares)} steps" if isinstance(shares, list) else ""
        parts.append(f'<p id="grpo-zero-std">Groups whose rewards all tie: {format_fraction(share)} on average{over} '
                     "(TRL's frac_reward_zero_std). Groups whose completions all scored the same teach nothing: "
                     "GRPO's advantage is a completion's reward minus its group's mean, zero for each of them.</p>")
    runs_tied = as_number(learning.get("frac_executable_zero_std_mean"))
    if runs_tied is not None:
        parts.append(f'<p id="grpo-executable-tied">Groups whose SQL all runs or all fails: {format_fraction(runs_tied)} '
                     "on average (frac_executable_zero_std). Those groups carry no signal about writing SQL that "
                     "runs: what separates their completions is the other rewards.</p>")
    return "".join(parts)


def _curves_section(grpo_history: list[dict] | None, loss_histories: Mapping[str, list[dict]] | None,
                    learning: Mapping | None) -> str:
    grpo = "<h3>GRPO: reward per step</h3>" + _grpo_learning_notes(learning)
    trend = learning.get("trend") if isinstance(learning, Mapping) else None
    try:
        parts = [grpo + img(render_training_curves(grpo_history or [], trend=trend), "GRPO reward curves")]
    except ValueError as error:
        log.warning("demo report without GRPO curves: %s", error)
        what = "no GRPO log history was given" if not grpo_history else "the GRPO log history has no reward entry"
        parts = [grpo + f'<p class="note" id="no-grpo-curves">No GRPO curves: {what}.</p>']
    if loss_histories:
        try:
            parts.append("<h3>Supervised stages: loss per step</h3>"
                         + img(render_loss_curves(loss_histories), "training loss of the supervised stages"))
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
    the GRPO reward curves (`grpo_history`: GRPO's trainer_state.json log_history) with the trend
    of the total reward and the share of all-tied groups (`summary["grpo_learning"]`, else
    `trends.grpo_learning` of `grpo_history`), the loss curves of the supervised stages
    (`loss_histories`: stage label → log_history), stage timings, settings, and links to each
    run's eval report. A run that is missing (a failed or skipped
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
    total = as_number(summary.get("total_seconds"))
    quick = summary.get("quick")
    sizes = {r: MISSING if as_count(summary[r].get("n")) is None else as_count(summary[r].get("n")) for r in present}
    header = (f"<section><h1>{escape(title)}</h1>" + meta_list([
        ("model", summary.get("model") or first.get("model")),
        ("eval file", summary.get("eval_file") or first.get("eval_file")),
        ("questions per run (n)", ", ".join(f"{r} {sizes[r]}" for r in present) or None),
        ("mode", "quick (small settings: a smoke run)" if quick is True else "full" if quick is False else None),
        ("total time", None if total is None else f"{total:.1f} s ({total / 60:.1f} min), the sum of the stages "
                                                   "as they ran"),
        ("this run", None if as_number(summary.get("this_run_seconds")) is None else
         f"{as_number(summary.get('this_run_seconds')):.1f} s" + (f" (reused: {', '.join(summary['reused_stages'])})"
                                                                if summary.get("reused_stages") else "")),
        ("report date", report_date()),
    ]) + "".join(f'<p class="warn">No eval of {escape(labels.get(r) or r)} ({escape(r)}): the stage failed or was '
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
    learning = summary.get("grpo_learning")
    learning = learning if isinstance(learning, Mapping) else grpo_learning(grpo_history)
    body = (header + changed + runs_section + _shapes_section(summary, runs, labels) + compare_section
            + _curves_section(grpo_history, loss_histories, learning) + stages + _settings_section(summary.get("settings"))
            + _reports_section(summary.get("reports"), runs, labels))
    return write_page(out_path, html_document(title, body), "demo report")
