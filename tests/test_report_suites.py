"""Test-suite accuracy in the reports: beside execution accuracy in the eval, compare and demo
pages, the `shown_data_only` outcome named in words and marked per sample, and older runs (whose
metrics.json predates test suites) shown as "n/a" rather than crashing or faking a difference.

Pages are read back with the HTML parser of test_report; the synthetic eval run is test_report's,
with one correct sample turned into one right on the shown data only.
"""

from __future__ import annotations

import re

import pytest

from sqlgrpo.report.compare_page import render_compare_report
from sqlgrpo.report.eval_page import render_eval_report
from sqlgrpo.report.stats import NOT_MEASURED, metric_deltas
from test_report import _metrics, _Page, _pngs, _results, _run, _sample

SHOWN_ONLY_LABEL = "right on the shown data only"


def _suite_results():
    """test_report's 10 samples, s3 right on the shown data but wrong on a suite variant:
    execution accuracy 6/10, test-suite accuracy 5/10 (basic SQL: 3/4 against 2/4)."""
    return [_sample("s3", "basic SQL", "shown_data_only", error="another outcome on test-suite variant 1 of 2")
            if r["id"] == "s3" else r for r in _results()]


def _page(tmp_path, metrics, results=()) -> str:
    return render_eval_report(metrics, list(results), tmp_path / "r.html").read_text(encoding="utf-8")


@pytest.fixture
def suite_page(tmp_path):
    results = _suite_results()
    return _page(tmp_path, {**_metrics(results), "test_suite_records": 10}, results)


def _without_test_suite(metrics: dict) -> dict:
    """metrics.json as an eval written before test suites has it: no test-suite key anywhere."""
    old = {k: v for k, v in metrics.items() if not k.startswith("test_suite")}
    old["by_complexity"] = {c: {k: v for k, v in m.items() if k != "test_suite_accuracy"}
                            for c, m in old["by_complexity"].items()}
    return old


# --- the eval report -------------------------------------------------------------------------

def test_headline_shows_test_suite_accuracy_right_after_execution_accuracy(suite_page):
    # s3 counts for execution accuracy (6/10) and not for test-suite accuracy (5/10).
    assert "Execution accuracy 60.0% (6/10) Test-suite accuracy 50.0% (5/10)" in _Page(suite_page).visible


def test_class_table_gives_test_suite_accuracy_per_class(suite_page):
    # basic SQL holds s3: 3 of 4 right on the shown data, 2 of 4 on the suites too.
    page = _Page(suite_page)
    assert page.tables["by-class"][0][1][2:4] == ["Execution accuracy", "Test-suite accuracy"]
    assert page.row("by-class", "data-class", "basic SQL")[2:4] == ["75.0% (3/4)", "50.0% (2/4)"]


def test_taxonomy_names_the_new_kind_in_words(suite_page):
    # The key "shown_data_only" would not tell a reader what happened; its label does.
    assert _Page(suite_page).row("taxonomy", "data-kind", "shown_data_only")[:2] == [SHOWN_ONLY_LABEL, "1"]


def test_a_sample_right_on_the_shown_data_only_is_a_marked_failure(suite_page):
    # s3 is not correct, so it is listed; its row and tag are marked, s4's (a plain wrong result) are not.
    page = _Page(suite_page)
    rows = {attrs["data-id"]: (attrs, cells) for attrs, cells in page.body_rows("failures")}
    assert rows["s3"][0].get("class") == "shown-data-only" and rows["s3"][1][2] == SHOWN_ONLY_LABEL
    assert rows["s4"][0].get("class") is None
    assert any(tag == "span" and "k-shown_data_only" in attrs.get("class", "") for tag, attrs in page.tags)


def test_failure_filter_names_the_new_kind_in_words(suite_page):
    # The option filters on the key and reads as the label.
    assert f'<option value="shown_data_only">{SHOWN_ONLY_LABEL} (1)</option>' in suite_page


@pytest.mark.parametrize("with_suite, note", [
    (0, "no question had a test suite: equal to execution accuracy by construction"),  # TS = EX, and says why
    (4, "4/10 questions had a test suite"),
])
def test_test_suite_card_says_how_many_questions_had_a_suite(tmp_path, with_suite, note):
    results = _suite_results()
    page = _page(tmp_path, {**_metrics(results), "test_suite_records": with_suite}, results)
    assert note in _Page(page).visible


def test_an_older_run_shows_n_a_for_test_suite_accuracy(tmp_path):
    # metrics.json from before test suites: the card and the class column say n/a, not 0% or "None",
    # and no suite count is claimed.
    results = _results()
    page = _Page(_page(tmp_path, _without_test_suite(_metrics(results)), results))
    assert f"Test-suite accuracy {NOT_MEASURED}" in page.visible
    assert page.row("by-class", "data-class", "basic SQL")[3] == NOT_MEASURED
    assert "had a test suite" not in page.visible


def test_class_chart_draws_when_one_class_lacks_test_suite_accuracy(tmp_path):
    # One class measured both, the other only execution accuracy: a bar labelled "–", no crash.
    metrics = {"n": 6, "execution_accuracy": 0.5, "test_suite_accuracy": 0.3,
               "by_complexity": {"basic SQL": {"n": 4, "execution_accuracy": 0.5, "test_suite_accuracy": 0.25},
                                 "CTEs": {"n": 2, "execution_accuracy": 0.5}}}
    assert len(_pngs(_page(tmp_path, metrics))) == 1


# --- the compare report ----------------------------------------------------------------------

def _old_results(right: int, n: int = 50) -> list[dict]:
    """evaluation_results.json before test suites: `correct` was the plain execution match."""
    return [{"id": i, "correct": i < right} for i in range(n)]


def _new_results(shown: int, suite: int, n: int = 50) -> list[dict]:
    return [{"id": i, "shown_correct": i < shown, "correct": i < suite, "suite_checked": 1} for i in range(n)]


def test_compare_with_an_older_run_shows_n_a_and_no_difference(tmp_path):
    # A lacks test-suite accuracy: its cell is n/a and no delta is made up, even though both
    # runs' samples have a `correct` field (A's meant something else).
    run_a, run_b = _run(execution_accuracy=0.5), _run(execution_accuracy=0.6, test_suite_accuracy=0.56)
    page = _Page(render_compare_report(run_a, run_b, tmp_path / "c.html", results_a=_old_results(25),
                                       results_b=_new_results(30, 28)).read_text(encoding="utf-8"))
    assert page.row("headline-compare", "data-metric", "test_suite_accuracy")[1:] == [
        NOT_MEASURED, "56.0% (28/50)", "–", "–", "–"]


def test_execution_accuracy_pairs_an_older_run_by_its_correct_field(tmp_path):
    # 25 → 30 of 50, every change B's way: beyond noise only if A's `correct` (its plain match) is
    # paired with B's `shown_correct`; B's `correct` (28 right) is the suite verdict, not this metric.
    run_a, run_b = _run(execution_accuracy=0.5), _run(execution_accuracy=0.6, test_suite_accuracy=0.56)
    page = _Page(render_compare_report(run_a, run_b, tmp_path / "c.html", results_a=_old_results(25),
                                       results_b=_new_results(30, 28)).read_text(encoding="utf-8"))
    row = page.row("headline-compare", "data-metric", "execution_accuracy")
    assert "paired, 50" in row[4] and row[-1] == "beyond noise (95%)"


@pytest.mark.parametrize("b_measured", [True, False])
def test_per_class_test_suite_table_only_when_a_run_measured_it(tmp_path, b_measured):
    # B measured it: a second per-class table, A's cell n/a. Neither did: no table of n/a cells.
    classes_b = {"CTEs": {"n": 20, "execution_accuracy": 0.4, **({"test_suite_accuracy": 0.3} if b_measured else {})}}
    run_a = _run(execution_accuracy=0.35, by_complexity={"CTEs": {"n": 20, "execution_accuracy": 0.35}})
    run_b = _run(execution_accuracy=0.4, by_complexity=classes_b)
    page = _Page(render_compare_report(run_a, run_b, tmp_path / "c.html").read_text(encoding="utf-8"))
    assert ("class-compare-test-suite" in page.tables) is b_measured
    if b_measured:
        assert page.row("class-compare-test-suite", "data-class", "CTEs")[3:6] == [NOT_MEASURED, "30.0% (6/20)", "–"]


def test_metric_deltas_pair_each_accuracy_on_its_own_field():
    # Same 16 questions: all right on the shown data in both runs (EX ±0), suite verdicts 8 → 12
    # (TS +25 points, paired on the 4 fixes).
    a, b = _new_results(16, 8, n=16), _new_results(16, 12, n=16)
    run_a = {"n": 16, "execution_accuracy": 1.0, "test_suite_accuracy": 0.5}
    run_b = {"n": 16, "execution_accuracy": 1.0, "test_suite_accuracy": 0.75}
    rows = {r["metric"]: r for r in metric_deltas(run_a, run_b, a, b)}
    assert (rows["execution_accuracy"]["delta"], rows["execution_accuracy"]["paired"]) == (0.0, True)
    assert (rows["test_suite_accuracy"]["delta"], rows["test_suite_accuracy"]["paired"]) == (0.25, True)
    assert rows["test_suite_accuracy"]["within_noise"] is False


def test_taxonomy_chart_and_failures_keep_an_unknown_kind_as_it_is(tmp_path):
    # Labels are for the kinds this version knows; another kind (a newer run) is shown by its key.
    results = [_sample("s1", "basic SQL", "some_new_kind")]
    page = _page(tmp_path, {"n": 1, "error_taxonomy": {"some_new_kind": 1}}, results)
    assert re.search(r'<span class="tag k-some_new_kind">some_new_kind</span>', page)
