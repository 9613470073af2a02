"""HTML reports of the eval stage (`sqlgrpo.report`), read back with a real HTML parser.

The reports are checked as a reader sees them: the visible text (tags stripped), the rows of a
named table, and the embedded images decoded back to PNG bytes. Looking at the rendered page is
a manual step (headless chromium), not a test."""

from __future__ import annotations

import base64
import re
import subprocess
import sys
from html.parser import HTMLParser

import pytest

from sqlgrpo.report.charts import figure_data_uri, render_training_curves
from sqlgrpo.report.compare_page import render_compare_report
from sqlgrpo.report.eval_page import render_eval_report
from sqlgrpo.report.html import MAX_TEXT_CHARS
from sqlgrpo.report.stats import format_fraction, paired_diff_interval, proportion_diff_interval

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DATA_URI = re.compile(r"data:image/png;base64,([A-Za-z0-9+/=]+)")
SCRIPT_PAYLOAD = "<script>alert(1)</script>"
METRIC_KEYS = ("execution_accuracy", "strict_execution_accuracy", "exact_match", "valid_sql_rate",
               "format_compliance", "soft_format_rate")


# --- synthetic runs --------------------------------------------------------------------------

def _sample(sample_id, complexity, kind, **fields):
    correct = kind == "correct"
    shown_correct = kind in ("correct", "shown_data_only")  # the gold's rows on the shown database
    sample = {
        "id": sample_id, "question": f"How many orders did customer {sample_id} place?",
        "context": "CREATE TABLE orders (id INT, customer_id INT);", "gold": "SELECT COUNT(*) FROM orders",
        "sql_complexity": complexity, "raw_output": "<sql>SELECT COUNT(*) FROM orders</sql>",
        "extracted_sql": None if kind == "no_sql" else "SELECT COUNT(*) FROM orders", "reasoning": "",
        "error_kind": kind, "error": "" if kind in ("correct", "wrong_result", "shown_data_only") else f"{kind} error",
        "correct": correct, "shown_correct": shown_correct, "strict_correct": correct, "exact_match": correct,
        "format_strict": kind != "no_sql", "tokens": 40, "latency_s": 0.5,
        "judge": {"ok": True, "sql_score": 4 if correct else 2, "overall_score": 4 if correct else 2,
                  "explanation": "counts every order, not the customer's", "error_type": "logic"},
    }
    sample.update(fields)
    return sample


def _results():
    """10 samples in 3 classes: 6 correct, 4 failures of 4 different kinds, one hostile output."""
    return [
        _sample("s1", "basic SQL", "correct"),
        _sample("s2", "basic SQL", "correct"),
        _sample("s3", "basic SQL", "correct"),
        _sample("s4", "basic SQL", "wrong_result", raw_output=SCRIPT_PAYLOAD),
        _sample("s5", "aggregation", "correct"),
        _sample("s6", "aggregation", "correct"),
        _sample("s7", "aggregation", "syntax"),
        _sample("s8", "single join", "correct"),
        _sample("s9", "single join", "missing_column"),
        _sample("s10", "single join", "no_sql"),
    ]


def _fractions(results):
    n = len(results)
    valid = sum(r["error_kind"] in ("correct", "wrong_result", "shown_data_only") for r in results)
    return {"execution_accuracy": sum(r["shown_correct"] for r in results) / n,
            "test_suite_accuracy": sum(r["correct"] for r in results) / n,
            "strict_execution_accuracy": sum(r["strict_correct"] for r in results) / n,
            "exact_match": sum(r["exact_match"] for r in results) / n, "valid_sql_rate": valid / n,
            "format_compliance": sum(r["format_strict"] for r in results) / n, "soft_format_rate": 1.0}


def _metrics(results, judge=True):
    """metrics.json as eval.py writes it, computed from `results` so the two agree."""
    classes = sorted({r["sql_complexity"] for r in results})
    taxonomy = {}
    for r in results:
        taxonomy[r["error_kind"]] = taxonomy.get(r["error_kind"], 0) + 1
    metrics = {
        "n": len(results), **_fractions(results),
        "by_complexity": {c: {"n": len(rs), **_fractions(rs)}
                          for c in classes for rs in [[r for r in results if r["sql_complexity"] == c]]},
        "error_taxonomy": taxonomy, "tokens_mean": 40.0, "latency_mean_s": 0.5, "tokens_per_s": 80.0,
        "num_samples": 1, "pass_at_k": None, "self_consistency_accuracy": None,
        "model": "HuggingFaceTB/SmolLM2-135M-Instruct", "adapter": "runs/grpo/adapter", "eval_file": "eval.jsonl",
        "judge": None,
    }
    if judge:
        metrics["judge"] = {
            "model": "judge-model", "judged": 10, "failed": 0,
            "mean": {"sql_score": 3.2, "reasoning_score": 3.0, "format_score": 4.1, "educational_score": 2.5,
                     "overall_score": 3.2},
            "distribution": {d: {"1": 1, "2": 3, "3": 2, "4": 3, "5": 1}
                             for d in ("sql_score", "reasoning_score", "format_score", "educational_score",
                                       "overall_score")},
            "prompt_tokens": 12000, "completion_tokens": 3000,
        }
    return metrics


# --- reading a page back ---------------------------------------------------------------------

INLINE_TAGS = {"span", "strong", "small", "code", "a", "b", "i", "em"}


class _Page(HTMLParser):
    """Visible text, the rows of every table with an id, and the start tags of a page.

    Block elements separate words, as a browser lays them out; inline ones do not."""

    def __init__(self, page: str):
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.tags: list[tuple[str, dict]] = []
        self.tables: dict[str, list[tuple[dict, list[str]]]] = {}
        self._skip = 0
        self._table: str | None = None
        self._cell: list[str] | None = None
        self.feed(page)
        self.visible = " ".join("".join(self.text).split())

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag not in INLINE_TAGS:
            self.handle_data(" ")
        if tag in ("script", "style"):
            self._skip += 1
        elif tag == "table" and attrs.get("id"):
            self._table = attrs["id"]
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append((attrs, []))
        elif tag in ("td", "th") and self._table:
            self._cell = []

    def handle_endtag(self, tag):
        if tag not in INLINE_TAGS:
            self.handle_data(" ")
        if tag in ("script", "style"):
            self._skip -= 1
        elif tag == "table":
            self._table = None
        elif tag in ("td", "th") and self._table and self._cell is not None:
            self.tables[self._table][-1][1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data):
        if not self._skip:
            self.text.append(data)
            if self._cell is not None:
                self._cell.append(data)

    def body_rows(self, table_id: str) -> list[tuple[dict, list[str]]]:
        """Rows of a table without its header row."""
        return [(attrs, cells) for attrs, cells in self.tables[table_id] if "data-id" in attrs
                or "data-metric" in attrs or "data-class" in attrs]

    def row(self, table_id: str, attr: str, value: str) -> list[str]:
        return next(cells for attrs, cells in self.tables[table_id] if attrs.get(attr) == value)


def _pngs(page: str) -> list[bytes]:
    return [base64.b64decode(m, validate=True) for m in DATA_URI.findall(page)]


@pytest.fixture
def eval_page(tmp_path):
    results = _results()
    out = render_eval_report(_metrics(results), results, tmp_path / "report.html")
    return out.read_text(encoding="utf-8")


# --- the eval report -------------------------------------------------------------------------

def test_eval_report_is_written_where_asked(tmp_path):
    # Parent folders are created and the returned path is the file written.
    out = render_eval_report(_metrics(_results()), _results(), tmp_path / "run" / "eval" / "report.html")
    assert out == tmp_path / "run" / "eval" / "report.html"
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_headline_numbers_show_the_sample_count(eval_page):
    # 6 of 10 correct, 7 of 10 valid SQL (+ the wrong result), 9 of 10 in format (all but no_sql).
    visible = _Page(eval_page).visible
    assert "60.0% (6/10)" in visible
    assert "70.0% (7/10)" in visible
    assert "90.0% (9/10)" in visible


def test_format_fraction_rounds_the_count_and_marks_missing_values():
    # 0.42 of 50 is 21 samples; without n there is no count; None is missing, not 0%.
    assert format_fraction(0.42, 50) == "42.0% (21/50)"
    assert format_fraction(0.42) == "42.0%"
    assert format_fraction(None, 50) == "–"


def test_eval_report_embeds_valid_pngs(eval_page):
    # Accuracy by class, error taxonomy and judge scores: three plots, each a real PNG inline.
    pngs = _pngs(eval_page)
    assert len(pngs) >= 3
    assert all(png.startswith(PNG_SIGNATURE) for png in pngs)


def test_eval_report_loads_nothing_from_outside(eval_page):
    # Offline by construction: no src/href pointing at another file or host.
    external = [(tag, attrs) for tag, attrs in _Page(eval_page).tags
                for key in ("src", "href") if attrs.get(key) and not attrs[key].startswith("data:")]
    assert external == []


def test_script_in_model_output_is_escaped(eval_page):
    # s4's raw output is a script tag: it must show as text, and the only script is the filter's.
    assert SCRIPT_PAYLOAD not in eval_page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in eval_page
    assert eval_page.count("<script") == 1


def test_hostile_id_cannot_leave_its_attribute(tmp_path):
    # An id with a quote would otherwise close data-id="..." and add an event handler.
    results = _results()
    results[3]["id"] = 'x" onmouseover="alert(1)'
    page = _Page(render_eval_report(_metrics(results), results, tmp_path / "r.html").read_text(encoding="utf-8"))
    assert not any("onmouseover" in attrs for _, attrs in page.tags)
    assert any(attrs.get("data-id") == 'x" onmouseover="alert(1)' for _, attrs in page.tags)


def test_failures_table_lists_exactly_the_failing_samples(eval_page):
    # s4, s7, s9 and s10 are the samples with correct=False; nothing else, none twice.
    ids = [attrs["data-id"] for attrs, _ in _Page(eval_page).body_rows("failures")]
    assert sorted(ids) == ["s10", "s4", "s7", "s9"]


def test_failure_filter_offers_the_failing_error_kinds(eval_page):
    # The select lists the kinds present among the failures, plus "all"; "correct" is not one.
    options = [attrs.get("value") for tag, attrs in _Page(eval_page).tags if tag == "option"]
    assert sorted(options) == ["", "missing_column", "no_sql", "syntax", "wrong_result"]


def test_sample_without_correct_field_counts_as_a_failure(tmp_path):
    # An older run's sample with only an id: it was not shown to be correct, so it is listed.
    out = render_eval_report({}, [{"id": "old-1"}], tmp_path / "r.html")
    ids = [attrs["data-id"] for attrs, _ in _Page(out.read_text(encoding="utf-8")).body_rows("failures")]
    assert ids == ["old-1"]


def test_empty_inputs_render(tmp_path):
    # No metrics and no results: a page that says what is missing, no plots to draw.
    page = render_eval_report({}, [], tmp_path / "r.html").read_text(encoding="utf-8")
    visible = _Page(page).visible
    assert "No per-class metrics" in visible and "No per-sample results" in visible
    assert _pngs(page) == []


def test_null_metrics_render_as_dash(tmp_path):
    # Every key present but null (an older eval): each headline card shows "–", never "None".
    metrics = dict.fromkeys(("n", *METRIC_KEYS, "tokens_mean", "latency_mean_s", "tokens_per_s", "by_complexity", "error_taxonomy", "model", "adapter", "judge"))
    page = _Page(render_eval_report(metrics, [], tmp_path / "r.html").read_text(encoding="utf-8"))
    assert "None" not in page.visible
    assert page.visible.count("–") >= len(METRIC_KEYS)


def test_class_with_missing_metrics_still_charts(tmp_path):
    # A class whose accuracy is null and whose n is missing gets a bar labelled "–", no crash.
    metrics = {"n": 4, "execution_accuracy": 0.5,
               "by_complexity": {"basic SQL": {"n": 4, "execution_accuracy": 0.5}, "CTEs": {"execution_accuracy": None}}}
    page = render_eval_report(metrics, [], tmp_path / "r.html").read_text(encoding="utf-8")
    assert len(_pngs(page)) == 1


def test_judge_section_only_when_a_judge_ran(tmp_path):
    # Without a judge block there is no judge section and one plot fewer.
    results = _results()
    with_judge = render_eval_report(_metrics(results), results, tmp_path / "a.html").read_text(encoding="utf-8")
    without = render_eval_report(_metrics(results, judge=False), results, tmp_path / "b.html").read_text(encoding="utf-8")
    assert 'id="judge"' in with_judge and 'id="judge"' not in without
    assert len(_pngs(without)) == len(_pngs(with_judge)) - 1


def test_judge_means_and_tokens_are_shown(eval_page):
    # The rubric means (format 4.10) and the judge's prompt-token bill are in the judge section.
    visible = _Page(eval_page).visible
    assert "4.10" in visible and "12000" in visible


def test_failure_row_shows_the_judge_verdict(eval_page):
    # The last column of a failure is the judge's overall score and explanation for that sample.
    assert _Page(eval_page).row("failures", "data-id", "s7")[-1] == (
        "overall 2/5 logic counts every order, not the customer's")


def test_dollar_signs_in_class_names_do_not_break_plots(tmp_path):
    # "$\frac{$" would be parsed as (broken) mathtext by matplotlib if it reached a label unescaped.
    metrics = {"n": 2, "by_complexity": {"$\\frac{$": {"n": 2, "execution_accuracy": 0.5}},
               "error_taxonomy": {"$x$": 2}}
    page = render_eval_report(metrics, [], tmp_path / "r.html").read_text(encoding="utf-8")
    assert len(_pngs(page)) == 2


def test_runaway_output_is_cut(tmp_path):
    # A model that never stops must not produce a page too large to open; the cut is announced.
    results = [_sample("s1", "basic SQL", "wrong_result", raw_output="x" * (10 * MAX_TEXT_CHARS))]
    page = render_eval_report({}, results, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "x" * (MAX_TEXT_CHARS + 1) not in page
    assert "more characters not shown" in page


# --- intervals -------------------------------------------------------------------------------

def test_unpaired_interval_matches_the_normal_approximation():
    # 0.52 − 0.50 ± 1.96·sqrt(0.25/50 + 0.2496/50) = 0.02 ± 0.1959.
    lo, hi = proportion_diff_interval(0.50, 50, 0.52, 50)
    assert lo == pytest.approx(-0.1759, abs=1e-4) and hi == pytest.approx(0.2159, abs=1e-4)


def test_paired_interval_uses_only_the_discordant_samples():
    # 5 samples right in B only, none in A only, of 50: 0.1 ± 1.96·sqrt((0.1 − 0.01)/50).
    lo, hi = paired_diff_interval(0, 5, 50)
    assert lo == pytest.approx(0.1 - 1.96 * 0.0424264, abs=1e-5)
    assert hi == pytest.approx(0.1 + 1.96 * 0.0424264, abs=1e-5)


def test_interval_stays_within_what_a_difference_can_be():
    # 1 of 3 against 3 of 3: the Wald upper bound would pass +100 pp.
    assert proportion_diff_interval(1 / 3, 3, 1.0, 3)[1] <= 1.0


def test_interval_rejects_empty_samples():
    # n = 0 has no proportion; the error names the sizes.
    with pytest.raises(ValueError, match="n_a=0"):
        proportion_diff_interval(0.5, 0, 0.5, 10)


# --- the compare report ----------------------------------------------------------------------

def _run(n=50, **metrics):
    return {"n": n, "model": "m", "eval_file": "eval.jsonl", **metrics}


@pytest.fixture
def compare_page(tmp_path):
    run_a = _run(execution_accuracy=0.50, strict_execution_accuracy=0.90, latency_mean_s=1.0,
                 by_complexity={"basic SQL": {"n": 30, "execution_accuracy": 0.6},
                                "CTEs": {"n": 20, "execution_accuracy": 0.35}})
    run_b = _run(execution_accuracy=0.52, strict_execution_accuracy=0.10, latency_mean_s=1.5,
                 by_complexity={"basic SQL": {"n": 30, "execution_accuracy": 0.6},
                                "CTEs": {"n": 20, "execution_accuracy": 0.4}})
    out = render_compare_report(run_a, run_b, tmp_path / "compare.html", label_a="base", label_b="grpo")
    return _Page(out.read_text(encoding="utf-8"))


def test_compare_deltas_are_signed(compare_page):
    # B − A: +2 pp for execution accuracy, −80 pp (a real minus sign) for strict accuracy.
    assert compare_page.row("headline-compare", "data-metric", "execution_accuracy")[3] == "+2.0 pp"
    assert compare_page.row("headline-compare", "data-metric", "strict_execution_accuracy")[3] == "\u221280.0 pp"


def test_small_difference_is_within_noise(compare_page):
    # 0.50 vs 0.52 on 50 samples each: one sample's difference, the interval spans 0.
    assert compare_page.row("headline-compare", "data-metric", "execution_accuracy")[-1] == "within noise"


def test_large_difference_is_beyond_noise(compare_page):
    # 0.90 vs 0.10 on 50 samples each: the interval is far from 0.
    assert compare_page.row("headline-compare", "data-metric", "strict_execution_accuracy")[-1] == "beyond noise (95%)"


def test_delta_colour_follows_the_metric_direction(tmp_path):
    # Latency going up is worse, accuracy going up is better (faded: it is within noise).
    page = render_compare_report(_run(execution_accuracy=0.5, latency_mean_s=1.0),
                                 _run(execution_accuracy=0.52, latency_mean_s=1.5), tmp_path / "c.html")
    html = page.read_text(encoding="utf-8")
    assert re.search(r'data-metric="latency_mean_s">(?:(?!</tr>).)*class="num delta worse"', html)
    assert re.search(r'data-metric="execution_accuracy">(?:(?!</tr>).)*class="num delta better noise"', html)


def test_per_class_table_shows_n_and_delta(compare_page):
    # CTEs: 20 samples in each run, 35% → 40% is +5 pp.
    cells = compare_page.row("class-compare", "data-class", "CTEs")
    assert cells[1:3] == ["20", "20"]
    assert cells[5] == "+5.0 pp"


def test_compare_embeds_the_per_class_chart(compare_page, tmp_path):
    # One grouped bar chart, a real PNG.
    html = (tmp_path / "compare.html").read_text(encoding="utf-8")
    pngs = _pngs(html)
    assert len(pngs) == 1 and pngs[0].startswith(PNG_SIGNATURE)


def _paired_results(a_right: int, b_only: int, n: int = 50):
    """Same n ids in both runs: the first a_right right in both, then b_only right in B only.
    B's list is reversed so that matching has to go by id, not position."""
    a = [{"id": i, "correct": i < a_right, "question": f"q{i}"} for i in range(n)]
    b = [{"id": i, "correct": i < a_right + b_only, "question": f"q{i}"} for i in range(n)]
    return a, b[::-1]


def test_paired_results_narrow_the_interval(tmp_path):
    # 25 → 30 of 50: unpaired it is noise, but every change is a fix (5 discordant, all B's way),
    # which pairing sees: the same deltas, beyond noise only with the results given.
    a, b = _paired_results(25, 5)
    run_a, run_b = _run(execution_accuracy=0.5), _run(execution_accuracy=0.6)
    unpaired = _Page(render_compare_report(run_a, run_b, tmp_path / "u.html").read_text(encoding="utf-8"))
    paired = _Page(render_compare_report(run_a, run_b, tmp_path / "p.html", results_a=a, results_b=b)
                   .read_text(encoding="utf-8"))
    assert unpaired.row("headline-compare", "data-metric", "execution_accuracy")[-1] == "within noise"
    assert paired.row("headline-compare", "data-metric", "execution_accuracy")[-1] == "beyond noise (95%)"


def test_flipped_samples_are_matched_by_id(tmp_path):
    # ids 0-1 are fixed by B, id 2 is broken by B, the rest agree; B's list is in another order.
    a = [{"id": i, "correct": i >= 2} for i in range(6)]
    b = [{"id": i, "correct": i != 2} for i in reversed(range(6))]
    page = _Page(render_compare_report(_run(n=6), _run(n=6), tmp_path / "c.html", results_a=a, results_b=b)
                 .read_text(encoding="utf-8"))
    assert [attrs["data-id"] for attrs, _ in page.body_rows("flips-fixed")] == ["0", "1"]
    assert [attrs["data-id"] for attrs, _ in page.body_rows("flips-broken")] == ["2"]


def test_compare_without_results_lists_no_flips(compare_page):
    # Flips need both runs' samples; with metrics only there is no flip section.
    assert "flips-fixed" not in compare_page.tables


def test_compare_of_empty_runs_renders(tmp_path):
    # Two empty metrics dicts (runs that crashed early): a page of dashes, no interval, no crash.
    page = _Page(render_compare_report({}, {}, tmp_path / "c.html").read_text(encoding="utf-8"))
    assert page.row("headline-compare", "data-metric", "execution_accuracy")[1:] == ["–"] * 5


# --- training curves and figures -------------------------------------------------------------

def _log_history():
    """A TRL trainer_state.json log_history: reward logs, plus the final summary without rewards."""
    history = [{"step": s, "loss": 0.1, "reward": 0.5 + s / 20, "reward_std": 0.2,
                "rewards/execution_reward/mean": s / 10, "rewards/format_reward/mean": 0.9} for s in (1, 2, 3, 4)]
    return history + [{"step": 4, "train_runtime": 12.3, "train_loss": 0.1}]


def test_training_curves_are_a_png_data_uri(tmp_path):
    # A data URI usable in <img src>, and the same PNG written to the path given.
    uri = render_training_curves(_log_history(), tmp_path / "curves.png")
    png = base64.b64decode(uri.removeprefix("data:image/png;base64,"), validate=True)
    assert uri.startswith("data:image/png;base64,") and png.startswith(PNG_SIGNATURE)
    assert (tmp_path / "curves.png").read_bytes() == png


def test_training_curves_plot_components_without_a_total(tmp_path):
    # A history that logs only per-function rewards still draws (one curve per function).
    history = [{"step": 1, "rewards/execution_reward/mean": 0.2}, {"step": 2, "rewards/execution_reward/mean": 0.4}]
    assert render_training_curves(history).startswith("data:image/png;base64,")


@pytest.mark.parametrize("history", [[], [{"step": 1, "loss": 0.3}, {"step": 1, "train_runtime": 3.0}]])
def test_training_curves_reject_a_history_without_rewards(history):
    # Empty, or only loss and summary entries: there is nothing to draw, and the error says what.
    with pytest.raises(ValueError, match="no entry with 'reward'"):
        render_training_curves(history)


def test_figure_data_uri_closes_the_figure():
    # Reports draw many figures; an unclosed one would pile up in pyplot's registry.
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    uri = figure_data_uri(fig)
    assert base64.b64decode(uri.split(",", 1)[1]).startswith(PNG_SIGNATURE)
    assert not plt.fignum_exists(fig.number)


def test_importing_the_module_does_not_import_pyplot():
    # The eval stage imports the report pages at start-up; pyplot (and a backend) load only when drawing.
    code = ("import sys, sqlgrpo.report.eval_page, sqlgrpo.report.compare_page, sqlgrpo.report.demo_page; "
            "print('matplotlib.pyplot' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
