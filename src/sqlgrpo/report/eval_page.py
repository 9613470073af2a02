"""The HTML report of one eval run: `render_eval_report(metrics, results, out_path)`.

`sqlgrpo.stages.eval` writes `metrics.json` and `evaluation_results.json` into a run folder and
calls it with both as loaded. The page: the headline metrics (each fraction with its count;
test-suite accuracy beside execution accuracy, with how many questions had a suite), accuracy
by complexity class, the outcomes (error taxonomy), the LLM judge's scores when a judge ran, and
every failing sample in a table that filters by text and error kind. A sample right on the shown
database only (wrong on a variant of its test suite) is a failure, tagged as such. The header
names the comparison behind `correct` (`match`: ours, or Spider's or BIRD's official rule, also
on the execution-accuracy card), where the answers came from when they were read from a
predictions file, and how many questions were not scored because their gold fails.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlgrpo.report.charts import accuracy_by_class_chart, judge_chart, taxonomy_chart
from sqlgrpo.report.html import (FILTER_JS, MAX_TABLE_ROWS, escape, html_document, img, kind_tag, meta_list,
                                 report_date, sub_details, text_cell, write_page)
from sqlgrpo.report.stats import (CLASS_METRICS, HEADLINE_METRICS, MISSING, SCORE_LABELS, as_count, as_number,
                                  format_value, kind_label, metric_label, metric_present, metric_text, sorted_classes,
                                  sorted_taxonomy)
from sqlgrpo.scoring.judge_rubric import SCORE_FIELDS, SCORE_MAX, SCORE_MIN
from sqlgrpo.scoring.matching import MATCH_RULES, OURS
from sqlgrpo.scoring.verdict import SHOWN_DATA_ONLY

TEST_SUITE_KEY = "test_suite_accuracy"
SUITE_RECORDS_KEY = "test_suite_records"  # questions with a non-empty suite (the eval stage counts them)


def _convention(metrics: Mapping) -> str:
    """The comparison the run's `correct` follows ("ours" for runs written before there was a choice)."""
    match = metrics.get("match")
    return match if isinstance(match, str) and match else OURS


def _suite_note(metrics: Mapping, n: int | None) -> str:
    """Under the test-suite card: how many questions had a suite, so that a reader knows whether
    the number can differ from execution accuracy at all."""
    if _convention(metrics) != OURS:
        return (f'<div class="sub">the {escape(_convention(metrics))} comparison applies no test suite: equal to '
                "execution accuracy by construction</div>")
    with_suite = as_count(metrics.get(SUITE_RECORDS_KEY))
    if with_suite is None:
        return ""
    if with_suite == 0:
        return '<div class="sub">no question had a test suite: equal to execution accuracy by construction</div>'
    of = f"/{n}" if n else ""
    return f'<div class="sub">{with_suite}{of} questions had a test suite</div>'


def _headline_cards(metrics: Mapping) -> str:
    n = as_count(metrics.get("n"))
    cards = []
    for metric in HEADLINE_METRICS:
        if not metric_present(metric, metrics):
            continue
        value = metrics.get(metric.key)
        if metric.unit == "fraction":
            text = metric_text(metric, metrics, n)
            big, _, rest = text.partition(" ")
            count = f' <span class="count">{escape(rest)}</span>' if rest else ""
        else:
            big = format_value(metric, value)
            count = f' <span class="count">(n={n})</span>' if n and as_number(value) is not None else ""
            if metric.unit == "rate":
                count = ""  # a rate over the whole run, not a mean of samples
        main = " main" if metric.key == "execution_accuracy" else ""
        note = _suite_note(metrics, n) if metric.key == TEST_SUITE_KEY else ""
        label = metric_label(metric, metrics)
        if metric.key == "execution_accuracy" and _convention(metrics) != OURS:
            label += f" ({_convention(metrics)} rules)"
        cards.append(f'<div class="card{main}" data-metric="{metric.key}"><div class="label">'
                     f'{escape(label)}</div><div class="value">{escape(big)}{count}</div>'
                     f'{note}</div>')
    return f'<div class="cards">{"".join(cards)}</div>'


def _class_table(classes: list[tuple[str, Mapping]]) -> str:
    head = "".join(f'<th class="num">{escape(m.label)}</th>' for m in CLASS_METRICS)
    rows = []
    for name, m in classes:
        n = as_count(m.get("n"))
        cells = "".join(f'<td class="num">{escape(metric_text(x, m, n))}</td>' for x in CLASS_METRICS)
        rows.append(f'<tr data-class="{escape(name)}"><td>{escape(name)}</td>'
                    f'<td class="num">{escape(MISSING if n is None else n)}</td>{cells}</tr>')
    return (f'<table id="by-class"><thead><tr><th>class</th><th class="num">n</th>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>')


def _taxonomy_table(kinds: list[tuple[str, int]]) -> str:
    total = sum(c for _, c in kinds)
    rows = "".join(f'<tr data-kind="{escape(k)}"><td>{kind_tag(k)}</td><td class="num">{c}</td>'
                   f'<td class="num">{f"{100 * c / total:.1f}%" if total else MISSING}</td></tr>' for k, c in kinds)
    return (f'<table id="taxonomy"><thead><tr><th>outcome</th><th class="num">samples</th>'
            f'<th class="num">share</th></tr></thead><tbody>{rows}</tbody></table>')


def _taxonomy_note(kinds: list[tuple[str, int]]) -> str:
    count = dict(kinds).get(SHOWN_DATA_ONLY)
    if not count:
        return ""
    return (f'<p class="note">{escape(kind_label(SHOWN_DATA_ONLY))}: the gold\'s result on the database the '
            "question shows, another on a variant of it from the question's test suite; scored as a wrong result.</p>")


def _judge_cell(judge: Any) -> str:
    if not isinstance(judge, Mapping):
        return f'<span class="muted">{MISSING}</span>'
    if judge.get("ok") is False:
        return f'<span class="muted">judge failed:</span> {text_cell(judge.get("error"))}'
    parts = []
    overall = as_number(judge.get("overall_score"))
    if overall is not None:
        parts.append(f"overall <strong>{overall:g}/{SCORE_MAX}</strong>")
    if judge.get("error_type"):
        parts.append(kind_tag(judge.get("error_type")))
    head = " ".join(parts)
    return f"{head}{text_cell(judge.get('explanation'))}" if head else text_cell(judge.get("explanation"))


def _judge_section(judge: Mapping) -> str:
    means = judge.get("mean") if isinstance(judge.get("mean"), Mapping) else {}
    distribution = judge.get("distribution") if isinstance(judge.get("distribution"), Mapping) else {}
    summary = meta_list([
        ("judge model", judge.get("model")),
        ("judged", judge.get("judged")),
        ("failed", judge.get("failed")),
        ("prompt tokens", judge.get("prompt_tokens")),
        ("completion tokens", judge.get("completion_tokens")),
    ])
    dims = [d for d in SCORE_FIELDS if d in means or d in distribution]
    dims += [d for d in list(means) + list(distribution) if d not in dims]
    rows = []
    for dim in dict.fromkeys(dims):
        mean = as_number(means.get(dim))
        dist = distribution.get(dim) if isinstance(distribution.get(dim), Mapping) else {}
        counts = "".join(f'<td class="num">{escape(MISSING if as_count(dist.get(s)) is None else as_count(dist.get(s)))}</td>'
                         for s in SCORE_LABELS)
        rows.append(f'<tr><td>{escape(dim)}</td><td class="num">{MISSING if mean is None else f"{mean:.2f}"}</td>'
                    f'{counts}</tr>')
    score_heads = "".join(f'<th class="num">{s}</th>' for s in SCORE_LABELS)
    table = (f'<table><thead><tr><th>dimension</th><th class="num">mean ({SCORE_MIN}–{SCORE_MAX})</th>{score_heads}'
             f'</tr></thead><tbody>{"".join(rows)}</tbody></table>') if rows else \
        '<p class="note">No judge scores recorded.</p>'
    has_distribution = any(isinstance(v, Mapping) for v in distribution.values())
    chart = img(judge_chart(distribution, means), "judge score distributions") if has_distribution else ""
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
    options = "".join(f'<option value="{escape(k)}">{escape(kind_label(k))} ({c})</option>'
                      for k, c in sorted_taxonomy(kind_counts))
    shown = failures[:MAX_TABLE_ROWS]
    rows = []
    for r in shown:
        kind = str(r.get("error_kind") or "unknown")
        model_sql = text_cell(r.get("extracted_sql"), code=True) + sub_details("raw output", r.get("raw_output"))
        marked = ' class="shown-data-only"' if kind == SHOWN_DATA_ONLY else ""
        rows.append(
            f'<tr data-id="{escape(r.get("id"))}" data-kind="{escape(kind)}"{marked}>'
            f'<td>{escape(r.get("id"))}</td><td>{escape(r.get("sql_complexity") or MISSING)}</td><td>{kind_tag(kind)}</td>'
            f'<td>{text_cell(r.get("question"))}{sub_details("schema", r.get("context"))}</td>'
            f'<td>{text_cell(r.get("gold"), code=True)}</td><td>{model_sql}</td>'
            f'<td>{text_cell(r.get("error"))}</td><td>{_judge_cell(r.get("judge"))}</td></tr>')
    cut = (f'<p class="note">Showing the first {MAX_TABLE_ROWS} of {len(failures)} failures; '
           "evaluation_results.json has them all.</p>") if len(failures) > MAX_TABLE_ROWS else ""
    shown_only = kind_counts.get(SHOWN_DATA_ONLY, 0)
    if shown_only:
        cut += (f'<p class="note">{shown_only} of them {"is" if shown_only == 1 else "are"} '
                f'{escape(kind_label(SHOWN_DATA_ONLY))}: execution accuracy counts '
                f'{"it" if shown_only == 1 else "them"} as right, test-suite accuracy does not.</p>')
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


def render_eval_report(metrics: dict, results: list[dict], out_path: str | Path, *, title: str | None = None) -> Path:
    """Write the HTML report of one eval run (`metrics.json` and `evaluation_results.json` as
    loaded) to `out_path`; returns the path. Missing or null metrics render as "–"; the judge
    section appears only when a judge ran."""
    metrics = metrics if isinstance(metrics, Mapping) else {}
    results = [r for r in (results or []) if isinstance(r, Mapping)]
    title = title or f"sqlgrpo eval: {metrics.get('model') or 'unknown model'}"
    predictions = metrics.get("predictions") if isinstance(metrics.get("predictions"), Mapping) else None
    rule = metrics.get("match_rule") or MATCH_RULES.get(_convention(metrics))
    header = (f"<section><h1>{escape(title)}</h1>" + meta_list([
        ("model", metrics.get("model")),
        ("adapter", metrics.get("adapter") or "none (base model)"),
        *([("predictions", f"{predictions.get('file')} ({predictions.get('format')} format, matched by "
                           f"{predictions.get('matched_by')})")] if predictions else []),
        ("eval file", metrics.get("eval_file")),
        ("comparison", f"{_convention(metrics)}: {rule}" if rule else _convention(metrics)),
        ("samples (n)", metrics.get("n")),
        *([("not scored (gold fails)", metrics.get("gold_failed"))] if metrics.get("gold_failed") else []),
        ("report date", report_date()),
    ]) + "</section>")
    headline = f'<section id="headline"><h2>Headline</h2>{_headline_cards(metrics)}</section>'

    classes = sorted_classes(metrics.get("by_complexity"))
    kinds = sorted_taxonomy(metrics.get("error_taxonomy"))
    if classes:
        class_chart = img(accuracy_by_class_chart(classes, as_number(metrics.get("execution_accuracy")),
                                                  as_number(metrics.get(TEST_SUITE_KEY))),
                          "execution and test-suite accuracy by complexity class")
    else:
        class_chart = '<p class="note">No per-class metrics in this run.</p>'
    if kinds:
        taxonomy = img(taxonomy_chart(kinds), "error taxonomy") + _taxonomy_table(kinds) + _taxonomy_note(kinds)
    else:
        taxonomy = '<p class="note">No error taxonomy in this run.</p>'
    breakdown = ('<section id="breakdown"><div class="grid2">'
                 f'<div><h2>Accuracy by complexity class</h2>{class_chart}</div>'
                 f'<div><h2>Outcomes (error taxonomy)</h2>{taxonomy}</div></div>'
                 + (f'<h3>All metrics by class</h3>{_class_table(classes)}' if classes else "") + "</section>")

    judge = metrics.get("judge")
    judge_section = _judge_section(judge) if isinstance(judge, Mapping) else ""
    failures = _failures_section(results)
    script = FILTER_JS if 'id="failures"' in failures else ""
    page = html_document(title, header + headline + breakdown + judge_section + failures, script)
    return write_page(out_path, page, "eval report")
