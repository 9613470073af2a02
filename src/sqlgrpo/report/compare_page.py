"""The HTML report of two eval runs side by side: `render_compare_report(run_a, run_b, out_path, ...)`.

`sqlgrpo.stages.compare.compare_runs` calls it with two runs' metrics.json (and their
evaluation_results.json when found). Deltas are B − A, each headline fraction with its 95%
interval, paired when both runs hold the same samples (`sqlgrpo.report.stats`); then accuracy per
complexity class (execution, and test-suite when either run measured it), and the samples that
flipped between the runs, matched by id. A run whose metrics.json predates test suites shows
"n/a" for test-suite accuracy, and no difference.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from sqlgrpo.report.charts import compare_chart
from sqlgrpo.report.html import (MAX_TABLE_ROWS, delta_row, delta_table, escape, html_document, img, kind_tag,
                                 meta_list, report_date, text_cell, verdict_cell, write_page)
from sqlgrpo.report.stats import (HEADLINE_METRICS, METRIC_BY_KEY, MISSING, Delta, Metric, as_count, as_number,
                                  delta_class, format_delta, format_interval, fraction_delta, match_by_id,
                                  metric_label, metric_present, metric_text, sorted_classes, unpaired_delta,
                                  within_noise)

EXECUTION = METRIC_BY_KEY["execution_accuracy"]
TEST_SUITE = METRIC_BY_KEY["test_suite_accuracy"]


def _compare_headline(run_a: Mapping, run_b: Mapping, pairs: list[tuple[Mapping, Mapping]] | None,
                      label_a: str, label_b: str) -> str:
    n_a, n_b = as_count(run_a.get("n")), as_count(run_b.get("n"))
    rows = []
    for metric in HEADLINE_METRICS:
        if not (metric_present(metric, run_a) or metric_present(metric, run_b)):
            continue
        v_a, v_b = as_number(run_a.get(metric.key)), as_number(run_b.get(metric.key))
        if metric.unit == "fraction":
            d = fraction_delta(metric, v_a, n_a, v_b, n_b, pairs)
        else:
            d = Delta(None if v_a is None or v_b is None else v_b - v_a)
        rows.append(delta_row(metric, metric_label(metric, run_b), metric_text(metric, run_a, n_a),
                               metric_text(metric, run_b, n_b), d))
    return delta_table("headline-compare", label_a, label_b, rows)


def _class_rows(run_a: Mapping, run_b: Mapping, metric: Metric = EXECUTION) -> list[dict]:
    classes_a = dict(sorted_classes(run_a.get("by_complexity")))
    classes_b = dict(sorted_classes(run_b.get("by_complexity")))
    names = list(dict.fromkeys([n for n, _ in sorted_classes({**classes_b, **classes_a})]))
    rows = []
    for name in names:
        m_a, m_b = classes_a.get(name, {}), classes_b.get(name, {})
        n_a, n_b = as_count(m_a.get("n")), as_count(m_b.get("n"))
        a, b = as_number(m_a.get(metric.key)), as_number(m_b.get(metric.key))
        n_label = (MISSING if n_a is None else str(n_a)) if n_a == n_b else \
            f"{MISSING if n_a is None else n_a}/{MISSING if n_b is None else n_b}"
        rows.append({"name": name, "n_a": n_a, "n_b": n_b, "a": a, "b": b, "n_label": n_label,
                     "a_text": metric_text(metric, m_a, n_a), "b_text": metric_text(metric, m_b, n_b),
                     "d": unpaired_delta(a, n_a, b, n_b)})
    return rows


def _measured_by_class(run: Mapping, metric: Metric) -> bool:
    return any(metric.key in m for _, m in sorted_classes(run.get("by_complexity")))


def _class_delta_table(rows: list[dict], label_a: str, label_b: str, metric: Metric = EXECUTION,
                       table_id: str = "class-compare") -> str:
    body = []
    for r in rows:
        d = r["d"]
        noise = d.interval is not None and within_noise(d.interval)
        body.append(
            f'<tr data-class="{escape(r["name"])}"><td>{escape(r["name"])}</td>'
            f'<td class="num">{escape(MISSING if r["n_a"] is None else r["n_a"])}</td>'
            f'<td class="num">{escape(MISSING if r["n_b"] is None else r["n_b"])}</td>'
            f'<td class="num">{escape(r["a_text"])}</td><td class="num">{escape(r["b_text"])}</td>'
            f'<td class="num delta {delta_class(metric, d.delta, noise)}">'
            f'{escape(MISSING if d.delta is None else format_delta(metric, d.delta))}</td>'
            f'<td class="num">{MISSING if d.interval is None else format_interval(d.interval)}</td>'
            f'<td class="verdict">{verdict_cell(d)}</td></tr>')
    return (f'<table id="{table_id}"><thead><tr><th>class</th><th class="num">n {escape(label_a)}</th>'
            f'<th class="num">n {escape(label_b)}</th><th class="num">{escape(label_a)}</th>'
            f'<th class="num">{escape(label_b)}</th>'
            f'<th class="num">Δ</th><th class="num">95% interval of Δ</th><th>verdict</th></tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


def _flip_table(table_id: str, pairs: list[tuple[Mapping, Mapping]], label_a: str, label_b: str) -> str:
    if not pairs:
        return '<p class="note">None.</p>'
    rows = []
    for a, b in pairs[:MAX_TABLE_ROWS]:
        rows.append(
            f'<tr data-id="{escape(a.get("id"))}"><td>{escape(a.get("id"))}</td>'
            f'<td>{escape(a.get("sql_complexity") or MISSING)}</td>'
            f'<td>{text_cell(a.get("question"))}</td><td>{text_cell(a.get("gold"), code=True)}</td>'
            f'<td>{kind_tag(a.get("error_kind"))}{text_cell(a.get("extracted_sql"), code=True)}</td>'
            f'<td>{kind_tag(b.get("error_kind"))}{text_cell(b.get("extracted_sql"), code=True)}</td></tr>')
    cut = (f'<p class="note">Showing the first {MAX_TABLE_ROWS} of {len(pairs)}.</p>'
           if len(pairs) > MAX_TABLE_ROWS else "")
    colgroup = ('<colgroup><col style="width:7%"><col style="width:10%"><col style="width:20%">'
                '<col style="width:21%"><col style="width:21%"><col style="width:21%"></colgroup>')
    return (f'{cut}<table id="{table_id}" class="samples">{colgroup}<thead><tr><th>id</th><th>class</th><th>question</th>'
            f'<th>gold SQL</th><th>{escape(label_a)} SQL</th><th>{escape(label_b)} SQL</th></tr></thead>'
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
        f'<div><h3>{escape(label)}</h3>' + meta_list([
            ("model", run.get("model")), ("adapter", run.get("adapter") or "none (base model)"),
            ("eval file", run.get("eval_file")), ("samples (n)", run.get("n"))]) + "</div>"
        for label, run in ((label_a, run_a), (label_b, run_b))) + "</div>")
    warnings = []
    if run_a.get("eval_file") and run_b.get("eval_file") and run_a.get("eval_file") != run_b.get("eval_file"):
        warnings.append("The runs were evaluated on different files: the deltas compare different samples.")

    pairs, mismatch = match_by_id(results_a, results_b, label_a, label_b)
    same_samples = bool(pairs) and mismatch is None
    if mismatch:
        warnings.append(mismatch)
    warning_html = "".join(f'<p class="warn">{escape(w)}</p>' for w in warnings)
    header = (f"<section><h1>{escape(title)}</h1><p class=\"note\">report date {escape(report_date())}</p>"
              f"{runs}{warning_html}</section>")

    headline = (f'<section id="headline"><h2>Headline metrics</h2>'
                f'{_compare_headline(run_a, run_b, pairs if same_samples else None, label_a, label_b)}'
                '<p class="note">Δ is in percentage points for rates. "Within noise": the 95% interval of Δ '
                "includes 0 (normal approximation; paired on matched samples when both runs' results are given). "
                "Green is better, red is worse, faded when within noise.</p></section>")

    class_rows = _class_rows(run_a, run_b)
    if class_rows:
        chart = img(compare_chart(class_rows, label_a, label_b), "execution accuracy by class, A vs B")
        suite = ""
        if _measured_by_class(run_a, TEST_SUITE) or _measured_by_class(run_b, TEST_SUITE):
            suite_rows = _class_rows(run_a, run_b, TEST_SUITE)
            suite = (f"<h3>Per-class delta of {TEST_SUITE.label.lower()}</h3>"
                     f'{_class_delta_table(suite_rows, label_a, label_b, TEST_SUITE, "class-compare-test-suite")}')
        classes = (f'<section id="classes"><h2>Execution accuracy by complexity class</h2>{chart}'
                   f'<h3>Per-class delta</h3>{_class_delta_table(class_rows, label_a, label_b)}{suite}'
                   '<p class="note">Per-class intervals are unpaired; small classes rarely show a difference '
                   'beyond noise.</p></section>')
    else:
        classes = '<section id="classes"><h2>By complexity class</h2><p class="note">No per-class metrics.</p></section>'

    flips = ""
    if pairs:
        fixed = [(a, b) for a, b in pairs if a.get("correct") is not True and b.get("correct") is True]
        broken = [(a, b) for a, b in pairs if a.get("correct") is True and b.get("correct") is not True]
        flips = (f'<section id="flips"><h2>Samples that flipped ({len(pairs)} matched by id)</h2>'
                 f'<details open class="group"><summary>{escape(label_a)} wrong → {escape(label_b)} right ({len(fixed)})'
                 f'</summary>{_flip_table("flips-fixed", fixed, label_a, label_b)}</details>'
                 f'<details open class="group"><summary>{escape(label_a)} right → {escape(label_b)} wrong ({len(broken)})'
                 f'</summary>{_flip_table("flips-broken", broken, label_a, label_b)}</details></section>')
    page = html_document(title, header + headline + classes + flips)
    return write_page(out_path, page, "compare report")
