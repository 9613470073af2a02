"""The demo report (`sqlgrpo.report.demo_page.render_demo_report`) and its pieces: the per-metric deltas
between two runs, the trend of GRPO's reward (`trends.reward_trend`, `trends.grpo_learning`), and the
loss curves of the supervised stages.

Synthetic runs of 16 questions, built so that the flips between two runs are known: question i is
in the answer format when i < format_k, runs when i < valid_k and is right when i < correct_k.
Pages are read back with the HTML parser of test_report (visible text, rows of named tables)."""

from __future__ import annotations

import math

import pytest

from sqlgrpo.report.charts import render_loss_curves
from sqlgrpo.report.demo_page import render_demo_report
from sqlgrpo.report.stats import comparison_sentences, metric_deltas
from sqlgrpo.report.trends import grpo_learning, reward_trend, t_quantile_975
from test_report import PNG_SIGNATURE, _Page, _pngs

N = 16
RUN_LABELS = {"base": "base model", "sft": "after SFT", "contrastive": "after contrastive (DPO)",
              "tuned": "after GRPO"}
# (format_k, valid_k, correct_k, mean reward) of each run: format 0 → 10 of 16 from base to GRPO,
# and GRPO's own step over contrastive is one more question run and right.
RUN_SHAPES = {"base": (0, 0, 0, 0.05), "sft": (8, 5, 3, 0.9), "contrastive": (9, 6, 4, 1.1),
              "tuned": (10, 7, 5, 1.3)}


def _results(format_k: int, valid_k: int, correct_k: int, n: int = N) -> list[dict]:
    """evaluation_results.json of a run, reversed so that matching has to go by id."""
    rows = [{"id": f"q{i}", "format_strict": i < format_k, "format_soft": i < format_k, "valid_sql": i < valid_k,
             "correct": i < correct_k, "strict_correct": i < correct_k, "exact_match": False,
             "question": f"question {i}", "reward": 0.0} for i in range(n)]
    return rows[::-1]


def _metrics(results: list[dict], mean_reward: float | None = None) -> dict:
    """metrics.json as eval.py writes it, from `results` so the two agree."""
    n = len(results)
    fields = {"execution_accuracy": "correct", "strict_execution_accuracy": "strict_correct",
              "exact_match": "exact_match", "valid_sql_rate": "valid_sql", "format_compliance": "format_strict",
              "soft_format_rate": "format_soft"}
    return {"n": n, **{key: sum(r[field] for r in results) / n for key, field in fields.items()},
            "mean_reward": mean_reward, "reward_means": {}, "model": "embedded", "eval_file": "eval.jsonl"}


def _demo(runs=("base", "sft", "contrastive", "tuned")) -> tuple[dict, dict]:
    """demo_summary.json and each run's results, as `sqlgrpo demo` would write them."""
    results = {name: _results(*RUN_SHAPES[name][:3]) for name in runs}
    summary = {"quick": True, "runs": ["base", "sft", "contrastive", "tuned"], "labels": RUN_LABELS,
               "model": "embedded", "eval_file": "eval.jsonl", "total_seconds": 75.25,
               "stages": [{"name": "prepare", "seconds": 1.24, "reused": True,
                           "detail": "452 rows → 407 train, 45 eval"},
                          {"name": "eval base", "seconds": 20.0, "reused": False, "detail": ""},
                          {"name": "sft", "seconds": 54.01, "reused": False, "detail": "40 steps"}],
               "settings": {"sft": {"max_steps": 40, "learning_rate": 0.001}, "eval": {"limit": N}},
               "reports": {name: f"eval_{name}/report.html" for name in runs}}
    for name in runs:
        summary[name] = {**_metrics(results[name], RUN_SHAPES[name][3]), "eval_seconds": 20.04,
                         "train_seconds": None if name == "base" else 50.0}
    pairs = [(b, a) for a, b in zip(runs, runs[1:])] + [(runs[-1], runs[0])]
    summary["comparisons"] = {f"{b} vs {a}": metric_deltas(summary[a], summary[b], results[a], results[b])
                              for b, a in pairs}
    return summary, results


# GRPO's total reward and share of all-tied groups per step in the demo page's log history: the
# reward is the hand-computed series of test_reward_trend_interval_matches_the_t_quantile.
GRPO_REWARDS = (1.0, 2.0, 2.0, 4.0, 5.0)
GRPO_ZERO_STD = (0.5, 0.25, 0.25, 0.0, 0.0)  # mean 0.2


def _grpo_history() -> list[dict]:
    """A GRPO trainer_state.json log_history: a log per step, then the end-of-training summary."""
    steps = [{"step": s, "reward": r, "frac_reward_zero_std": z, "rewards/execution_reward/mean": r / 5,
              "rewards/format_reward/mean": 0.8}
             for s, r, z in zip(range(1, 6), GRPO_REWARDS, GRPO_ZERO_STD)]
    return steps + [{"step": 5, "train_runtime": 12.3, "train_loss": 0.01}]


def _loss_histories() -> dict:
    sft = [{"step": s, "loss": 2.0 / s} for s in (1, 2, 3)] + [{"step": 3, "train_loss": 1.1}]
    dpo = [{"step": s, "loss": 0.69 - s / 20, "rewards/margins": s / 10, "rewards/accuracies": 0.5 + s / 10}
           for s in (1, 2, 3)]
    return {"SFT": sft, "contrastive (DPO)": dpo}


@pytest.fixture(scope="module")
def demo_page(tmp_path_factory):
    summary, _ = _demo()
    out = render_demo_report(summary, tmp_path_factory.mktemp("demo") / "demo.html",
                             grpo_history=_grpo_history(), loss_histories=_loss_histories())
    return out.read_text(encoding="utf-8")


def _run_rows(page: _Page) -> list[tuple[dict, list[str]]]:
    return [(attrs, cells) for attrs, cells in page.tables["demo-runs"] if "data-run" in attrs]


def _change_item(page: str, heading: str) -> str:
    """The visible text of one comparison in "What changed"."""
    section = page.split('id="what-changed"', 1)[1].split("</section>", 1)[0]
    item = next(li for li in section.split("<li>") if f"<strong>{heading}</strong>" in li)
    return " ".join(_Page(item).visible.split())


# --- metric_deltas ---------------------------------------------------------------------------

def _row(rows: list[dict], key: str) -> dict:
    return next(r for r in rows if r["metric"] == key)


def test_pairing_counts_only_the_questions_that_flipped():
    # 8 → 12 of 16, every change a fix: unpaired the two proportions overlap (interval spans 0),
    # paired the 4 discordant questions all go B's way (interval above 0). Same delta either way.
    a, b = _results(16, 16, 8), _results(16, 16, 12)
    paired = _row(metric_deltas(_metrics(a), _metrics(b), a, b), "execution_accuracy")
    unpaired = _row(metric_deltas(_metrics(a), _metrics(b)), "execution_accuracy")
    assert paired["delta"] == unpaired["delta"] == 0.25
    assert (paired["paired"], paired["within_noise"], paired["interval"][0] > 0) == (True, False, True)
    assert (unpaired["paired"], unpaired["within_noise"], unpaired["interval"][0] < 0) == (False, True, True)


@pytest.mark.parametrize("right_after, within_noise, verdict", [
    (1, True, "better (within noise)"),  # one flip in 16 could be luck
    (10, False, "better"),  # ten flips from zero cannot
])
def test_flips_from_zero_are_noise_or_not_by_their_number(right_after, within_noise, verdict):
    a, b = _results(16, 16, 0), _results(16, 16, right_after)
    row = _row(metric_deltas(_metrics(a), _metrics(b), a, b), "execution_accuracy")
    assert row["delta"] == pytest.approx(right_after / N)
    assert (row["a_count"], row["b_count"], row["n_a"], row["n_b"]) == (0, right_after, N, N)
    assert (row["within_noise"], row["verdict"], row["paired"]) == (within_noise, verdict, True)
    assert (row["interval"][0] <= 0 <= row["interval"][1]) == within_noise


def test_results_of_different_questions_are_not_paired():
    # B answered other questions (ids q8..q23): matching by id would compare different samples.
    a, b = _results(16, 16, 0), _results(16, 16, 10)
    for r in b:
        r["id"] = f"q{int(r['id'][1:]) + 8}"
    row = _row(metric_deltas(_metrics(a), _metrics(b), a, b), "execution_accuracy")
    assert row["paired"] is False and row["interval"] is not None


def test_a_worse_run_gets_a_worse_verdict():
    # 10 → 0 format-compliant answers: the sign and the verdict follow B − A.
    a, b = _results(10, 16, 0), _results(0, 16, 0)
    row = _row(metric_deltas(_metrics(a), _metrics(b), a, b), "format_compliance")
    assert row["delta"] == pytest.approx(-10 / N) and row["verdict"] == "worse"


def test_mean_reward_is_a_plain_difference():
    # A weighted sum of rewards is not a mean of booleans: a delta, no interval, no noise verdict.
    a, b = _results(0, 0, 0), _results(16, 16, 16)
    row = _row(metric_deltas(_metrics(a, 0.25), _metrics(b, 1.75), a, b), "mean_reward")
    assert (row["delta"], row["interval"], row["within_noise"], row["verdict"]) == (1.5, None, None, "better")


def _with_complexity(results: list[dict], scores: list[float | None]) -> dict:
    """Give each answer (by id q0, q1, ...) its complexity reward; metrics.json with their mean."""
    for r in results:
        r["rewards"] = {"complexity_reward": scores[int(r["id"][1:])]}
    metrics = _metrics(results)
    scored = [x for x in scores if x is not None]
    metrics["reward_means"] = {"complexity_reward": sum(scored) / len(scored)}
    return metrics


def test_the_complexity_reward_is_compared_paired_on_the_answers():
    # Every answer loses 0.5 of its structure: a fall beyond noise, though the two means are
    # close to where unpaired noise would put them; a run that lost it on one answer only is
    # within noise. An answer one run did not score (None: its gold fails) is left out.
    a, b, c = _results(16, 16, 0), _results(16, 16, 0), _results(16, 16, 0)
    run_a = _with_complexity(a, [1.0, 0.5] * 8)
    run_b = _with_complexity(b, [0.5, 0.0] * 8)
    run_c = _with_complexity(c, [0.0] + [0.5, 1.0] * 7 + [None])  # a's but one lost, one not scored
    fall = _row(metric_deltas(run_a, run_b, a, b), "complexity_reward")
    assert (fall["a"], fall["b"], fall["delta"]) == (0.75, 0.25, -0.5)
    assert fall["interval"] == [-0.5, -0.5] and fall["paired"] and fall["verdict"] == "worse"
    one = _row(metric_deltas(run_a, run_c, a, c), "complexity_reward")
    assert one["paired"] and one["within_noise"] is True and one["verdict"] == "worse (within noise)"
    assert one["interval"][0] < -1 / 15 < one["interval"][1] < 0.1  # the mean of 15 differences: −1, 0, ..., 0
    assert comparison_sentences(metric_deltas(run_a, run_b, a, b))[-1] == (
        "Complexity-alignment reward 0.750 → 0.250, −0.500, beyond noise (95% interval −0.500 to −0.500, "
        "paired on 16 answers).")
    # Without per-answer scores: the plain difference, no interval; without reward_means, no row.
    plain = _row(metric_deltas(run_a, run_b), "complexity_reward")
    assert (plain["delta"], plain["interval"], plain["within_noise"]) == (-0.5, None, None)
    assert "complexity_reward" not in [r["metric"] for r in metric_deltas(_metrics(a), run_b, a, b)]


def test_the_demo_prints_the_complexity_reward_change_beside_format_and_valid_sql(capsys):
    from sqlgrpo.report.console import print_demo_summary

    summary, results = _demo()
    for name, scores in (("contrastive", [1.0, 0.5] * 8), ("tuned", [0.5, 0.0] * 8)):
        summary[name]["reward_means"] = _with_complexity(results[name], scores)["reward_means"]
    summary["comparisons"]["tuned vs contrastive"] = metric_deltas(summary["contrastive"], summary["tuned"],
                                                                   results["contrastive"], results["tuned"])
    print_demo_summary({**summary, "this_run_seconds": 80.0, "output_dir": "outputs/demo"})
    out = " ".join(capsys.readouterr().out.split())
    line = out.split("after GRPO vs after contrastive (DPO):", 1)[1].split("after GRPO vs base model", 1)[0]
    assert "valid SQL +6.2 pts (6/16 -> 7/16, within noise)" in line
    assert "complexity reward -0.500 (0.750 -> 0.250, beyond noise)" in line
    assert "complexity reward" not in out.split("after SFT vs base model:", 1)[1].split("after contrastive", 1)[0]


def test_metric_missing_in_either_run_is_left_out():
    # An older run without strict accuracy or a mean reward: those rows are skipped, not zeroed.
    a, b = _metrics(_results(0, 0, 0)), _metrics(_results(16, 16, 16), 1.0)
    del a["strict_execution_accuracy"]
    keys = [r["metric"] for r in metric_deltas(a, b)]
    assert "strict_execution_accuracy" not in keys and "mean_reward" not in keys
    assert "execution_accuracy" in keys


# --- render_demo_report ----------------------------------------------------------------------

def test_runs_table_lists_the_four_runs_in_pipeline_order(demo_page):
    rows = _run_rows(_Page(demo_page))
    assert [attrs["data-run"] for attrs, _ in rows] == ["base", "sft", "contrastive", "tuned"]
    assert [cells[0] for _, cells in rows] == list(RUN_LABELS.values())


def test_runs_table_shows_fractions_with_their_counts(demo_page):
    # Column 1 is format compliance: 0 of 16 before training, 10 of 16 after GRPO.
    rows = {attrs["data-run"]: cells for attrs, cells in _run_rows(_Page(demo_page))}
    assert rows["base"][1] == "0.0% (0/16)"
    assert rows["tuned"][1] == "62.5% (10/16)"
    assert rows["tuned"][6:] == ["1.300", "16", "20.0", "50.0"]  # mean reward, n, eval s, training s
    assert rows["base"][-1] == "–"  # the base model was not trained


def test_runs_table_shows_test_suite_accuracy_beside_execution_accuracy(tmp_path):
    # Column 4 follows execution accuracy (column 3): the tuned run measured it (4 of 16 right on
    # every suite variant), the others' metrics.json predate test suites and say n/a.
    summary, _ = _demo()
    summary["tuned"]["test_suite_accuracy"] = 0.25
    page = _Page(render_demo_report(summary, tmp_path / "demo.html").read_text(encoding="utf-8"))
    assert page.tables["demo-runs"][0][1][3:5] == ["Execution accuracy", "Test-suite accuracy"]
    rows = {attrs["data-run"]: cells for attrs, cells in _run_rows(page)}
    assert (rows["tuned"][3], rows["tuned"][4]) == ("31.2% (5/16)", "25.0% (4/16)")
    assert rows["base"][4] == "n/a"


def test_the_answers_structure_stands_beside_the_golds(tmp_path, demo_page):
    # GRPO's answers lose the joins and aggregates the SFT answers had; the base run's metrics.json
    # predates the count and shows dashes; the golds' row comes from a run that counted them.
    summary, _ = _demo()
    def shapes(join, aggregate):
        return {"n": N, "join": {"answers": join, "golds": 6}, "aggregate": {"answers": aggregate, "golds": 9},
                "group_by": {"answers": 0, "golds": 5}, "order_by": {"answers": 1, "golds": 4}}
    summary["sft"]["answer_shapes"], summary["tuned"]["answer_shapes"] = shapes(3, 7), shapes(0, 1)
    page = _Page(render_demo_report(summary, tmp_path / "demo.html").read_text(encoding="utf-8"))
    rows = page.tables["demo-shapes"]
    assert rows[0][1] == ["answers", "joins", "aggregates", "GROUP BY", "ORDER BY"]
    assert [cells for _, cells in rows[1:]] == [
        ["base model", "–", "–", "–", "–"], ["after SFT", "3/16", "7/16", "0/16", "1/16"],
        ["after contrastive (DPO)", "–", "–", "–", "–"], ["after GRPO", "0/16", "1/16", "0/16", "1/16"],
        ["golds", "6/16", "9/16", "5/16", "4/16"]]
    # Runs that counted nothing get no such section.
    assert "demo-shapes" not in demo_page


def test_what_changed_says_when_test_suite_accuracy_was_not_measured(demo_page):
    # None of the fixture's runs measured it: said in words, rather than left out or shown as 0.
    assert "Test-suite accuracy: not measured in both runs." in _change_item(demo_page, "After GRPO vs base model")


def test_what_changed_calls_a_large_gain_beyond_noise(demo_page):
    # GRPO vs base: format 0/16 → 10/16, paired on 16 questions, far from 0.
    item = _change_item(demo_page, "After GRPO vs base model")
    assert "Format compliance 0.0% (0/16) → 62.5% (10/16), +62.5 points (10 questions), beyond noise" in item
    assert "paired on 16 questions" in item


def test_what_changed_calls_one_question_within_noise(demo_page):
    # GRPO's own step: one more question right out of 16, which the report must not sell as progress.
    item = _change_item(demo_page, "After GRPO vs after contrastive (DPO)")
    assert "Execution accuracy 25.0% (4/16) → 31.2% (5/16), +6.2 points (1 question), within noise" in item


def test_what_changed_covers_format_validity_and_accuracy_in_every_comparison(demo_page):
    summary, _ = _demo()
    for name in summary["comparisons"]:
        b, a = name.split(" vs ")
        item = _change_item(demo_page, f"{RUN_LABELS[b][0].upper()}{RUN_LABELS[b][1:]} vs {RUN_LABELS[a]}")
        assert all(phrase in item for phrase in ("Format compliance", "Valid SQL rate", "Execution accuracy")), item


def test_each_comparison_gets_a_delta_table(demo_page):
    page = _Page(demo_page)
    row = page.row("compare-tuned-vs-base", "data-metric", "format_compliance")
    assert row[3] == "+62.5 pp" and row[-1] == "beyond noise (95%)"


def test_grpo_and_loss_curves_are_embedded(demo_page):
    # Two real PNGs: GRPO's rewards and the supervised losses.
    pngs = _pngs(demo_page)
    assert len(pngs) == 2 and all(png.startswith(PNG_SIGNATURE) for png in pngs)
    assert 'id="no-grpo-curves"' not in demo_page


@pytest.mark.parametrize("history", [None, [], [{"step": 1, "loss": 0.2}]])
def test_grpo_curves_become_a_note_when_there_is_nothing_to_draw(tmp_path, history):
    # No history, an empty one, or one without rewards: a note, no image, no crash.
    summary, _ = _demo()
    page = render_demo_report(summary, tmp_path / "demo.html", grpo_history=history).read_text(encoding="utf-8")
    assert 'id="no-grpo-curves"' in page and _pngs(page) == []


# --- GRPO's reward trend --------------------------------------------------------------------

# Zero-mean wiggles, repeated every 8 steps: the noise of a 24-step reward curve.
NOISE = (0.04, -0.03, 0.05, -0.06, 0.01, -0.02, 0.03, -0.04)


def _noisy(slope: float, n: int = 24) -> list[float]:
    return [0.4 + slope * step + NOISE[(step - 1) % len(NOISE)] for step in range(1, n + 1)]


@pytest.mark.parametrize(("slope", "verdict"), [(0.01, "rising beyond noise"), (-0.01, "falling beyond noise")])
def test_reward_trend_of_a_clear_slope_is_beyond_noise_with_its_sign(slope, verdict):
    # 0.01 per step against wiggles of ±0.06: the interval stays on the slope's side of 0.
    trend = reward_trend(_noisy(slope))
    lo, hi = trend["interval"]
    assert trend["verdict"] == verdict and trend["beyond_noise"] is True
    assert (lo > 0) if slope > 0 else (hi < 0)


def test_reward_trend_of_a_flat_noisy_series_is_within_noise():
    # No drift under the wiggles: the fitted slope is not 0, but its interval straddles 0.
    trend = reward_trend(_noisy(0.0))
    lo, hi = trend["interval"]
    assert trend["slope"] != 0 and lo < 0 < hi
    assert trend["verdict"] == "flat within noise" and trend["beyond_noise"] is False


def test_reward_trend_interval_matches_the_t_quantile():
    # By hand for [1, 2, 2, 4, 5] at steps 1..5: slope 10/10 = 1, intercept 2.8 − 3 = −0.2, residuals
    # (0.2, 0.2, −0.8, 0.2, 0.2) so s² = 0.8/3 and se = √(s²/10); t(0.975, df 3) = 3.182.
    trend = reward_trend([1, 2, 2, 4, 5])
    half = 3.182 * math.sqrt(0.8 / 3 / 10)
    assert trend["steps"] == 5
    assert trend["slope"] == pytest.approx(1.0) and trend["intercept"] == pytest.approx(-0.2)
    assert trend["interval"] == pytest.approx((1 - half, 1 + half))  # (0.480, 1.520)


def test_reward_trend_fits_the_steps_given():
    # The same values logged every 2nd step: half the slope per step, and half the interval.
    trend = reward_trend([1, 2, 2, 4, 5], steps=[2, 4, 6, 8, 10])
    half = 3.182 * math.sqrt(0.8 / 3 / 10) / 2
    assert trend["slope"] == pytest.approx(0.5) and trend["interval"] == pytest.approx((0.5 - half, 0.5 + half))


@pytest.mark.parametrize("values", [[], [0.3], [0.3, 0.5], [0.3, None, float("nan"), 0.5]])
def test_reward_trend_needs_three_points(values):
    # Under 3 numbers (the last case: 2 once None and NaN are left out) no residual measures the noise.
    assert reward_trend(values) is None


def test_reward_trend_of_a_constant_reward_is_exactly_flat():
    # Every group scored 0.1: slope 0 and a point interval. At steps 1, 2, 4 the mean's rounding
    # error alone would give a slope of ~1e-33 with an interval of ~±1e-17.
    trend = reward_trend([0.1] * 3, steps=[1, 2, 4])
    assert trend["slope"] == 0 and trend["interval"] == (0.0, 0.0) and trend["verdict"] == "flat within noise"


def test_reward_trend_of_a_single_step_is_none():
    # All values logged at the same step: there is no line through them.
    assert reward_trend([0.1, 0.2, 0.3], steps=[4, 4, 4]) is None


@pytest.mark.parametrize(("df", "exact"), [(31, 2.0395), (40, 2.0211), (60, 2.0003), (1000, 1.9623)])
def test_t_quantile_goes_on_smoothly_past_the_table(df, exact):
    # Past df 30 the Cornish-Fisher expansion takes over; the exact quantiles (to 4 decimals) are
    # those of Student's t, and falling back to the normal 1.96 at df 31 would miss by 0.08.
    assert t_quantile_975(df) == pytest.approx(exact, abs=2e-4)


def test_grpo_learning_reads_the_reward_steps_of_a_log_history():
    # The end-of-training summary and an eval log carry no "reward"; a null share is skipped.
    history = _grpo_history()
    history[2]["frac_reward_zero_std"] = None
    history.insert(3, {"step": 3, "eval_reward": 0.9, "eval_loss": 0.2})
    learning = grpo_learning(history)
    assert learning["reward"] == list(zip(range(1, 6), GRPO_REWARDS))
    assert learning["trend"]["steps"] == 5 and learning["trend"]["slope"] == pytest.approx(1.0)
    assert [s for s, _ in learning["frac_reward_zero_std"]] == [1, 2, 4, 5]
    assert learning["frac_reward_zero_std_mean"] == pytest.approx(0.75 / 4)
    assert sorted(learning["rewards"]) == ["execution_reward", "format_reward"]
    assert learning["rewards"]["execution_reward"] == [(s, r / 5) for s, r in zip(range(1, 6), GRPO_REWARDS)]


@pytest.mark.parametrize("history", [None, [], [{"step": 1, "loss": 0.2}, {"step": 1, "train_loss": 0.2}]])
def test_grpo_learning_without_a_reward_is_none(history):
    # Nothing logged a reward: no learning to describe (the page shows its no-curves note instead).
    assert grpo_learning(history) is None


def test_demo_page_states_the_reward_trend_and_the_tied_share(demo_page):
    # The history's rewards are [1, 2, 2, 4, 5]: slope 1 per step, 95% interval 1 ± 0.520; the share
    # of all-tied groups averages 0.2 over 5 steps.
    page = _Page(demo_page).visible
    assert "slope +1.000 per step [95%: +0.480, +1.520] over 5 steps: rising beyond noise" in page
    assert "Groups whose rewards all tie: 20.0% on average over 5 steps" in page
    assert "teach nothing" in page


def test_demo_page_uses_the_summarys_grpo_learning(tmp_path):
    # demo_summary.json read back: the interval is a JSON list; no log history is needed for the sentences.
    summary, _ = _demo()
    summary["grpo_learning"] = {"reward": [[s, 0.0] for s in range(1, 25)], "frac_reward_zero_std_mean": 0.5,
                                "trend": {"steps": 24, "slope": -0.0004, "intercept": 0.3,
                                          "interval": [-0.0011, 0.0003], "verdict": "flat within noise"}}
    page = _Page(render_demo_report(summary, tmp_path / "demo.html").read_text(encoding="utf-8")).visible
    # bounds under 0.01 get the decimals of two significant digits of the larger one, not "±0.000"
    assert "slope −0.0004 per step [95%: −0.0011, +0.0003] over 24 steps: flat within noise" in page
    assert "Groups whose rewards all tie: 50.0% on average" in page
    assert "grpo-executable-tied" not in page  # not logged (an older run): no sentence


def test_grpo_learning_and_the_page_report_groups_whose_sql_all_runs_or_all_fails(tmp_path):
    # The executable reward's tied share is logged beside TRL's: with continuous rewards in the
    # total, TRL's share stays 0 while most groups say nothing about running SQL.
    history = _grpo_history()
    for entry, share in zip(history, (1.0, 0.75, 0.5, 0.5, 0.25)):
        entry["frac_executable_zero_std"] = share
    learning = grpo_learning(history)
    assert learning["frac_executable_zero_std"] == list(zip(range(1, 6), (1.0, 0.75, 0.5, 0.5, 0.25)))
    assert learning["frac_executable_zero_std_mean"] == pytest.approx(0.6)
    summary, _ = _demo()
    summary["grpo_learning"] = learning
    page = _Page(render_demo_report(summary, tmp_path / "demo.html").read_text(encoding="utf-8")).visible
    assert "Groups whose SQL all runs or all fails: 60.0% on average" in page
    assert "Groups whose rewards all tie: 20.0% on average" in page


def test_demo_page_says_when_there_are_too_few_steps_for_a_trend(tmp_path):
    # Two logged steps: curves, but no line through them.
    summary, _ = _demo()
    history = _grpo_history()[:2]
    page = render_demo_report(summary, tmp_path / "demo.html", grpo_history=history).read_text(encoding="utf-8")
    assert "No trend of the reward: 2 logged steps, a fit needs 3." in _Page(page).visible
    assert 'id="no-grpo-curves"' not in page


def test_stage_table_rounds_seconds_and_totals(demo_page):
    rows = {attrs["data-stage"]: cells for attrs, cells in _Page(demo_page).tables["demo-stages"]
            if "data-stage" in attrs}
    assert rows["prepare"][:3] == ["prepare", "1.2", "yes"]
    assert rows["sft"][1:3] == ["54.0", "no"]
    assert rows["total"][:2] == ["total", "75.2"]  # the summary's total_seconds, 1 decimal


def test_links_go_to_each_run_report_and_refuse_scripts(tmp_path):
    summary, _ = _demo()
    summary["reports"]["tuned"] = "javascript:alert(1)"
    page = render_demo_report(summary, tmp_path / "demo.html").read_text(encoding="utf-8")
    assert 'href="eval_base/report.html"' in page
    assert 'href="javascript' not in page  # shown as text, not as a link


def test_missing_run_is_named_and_the_rest_still_renders(tmp_path):
    # The contrastive stage failed: its row says so; without stored comparisons the report pairs
    # the neighbours that exist (tuned vs sft) from the results given.
    summary, results = _demo(runs=("base", "sft", "tuned"))
    del summary["comparisons"]
    page_text = render_demo_report(summary, tmp_path / "demo.html", results=results).read_text(encoding="utf-8")
    page = _Page(page_text)
    rows = {attrs["data-run"]: cells for attrs, cells in _run_rows(page)}
    assert list(rows) == ["base", "sft", "contrastive", "tuned"]
    assert "missing" in rows["contrastive"][1]
    assert "No eval of after contrastive (DPO)" in page.visible
    assert "compare-tuned-vs-sft" in page.tables and "compare-contrastive-vs-sft" not in page.tables
    assert "compare-tuned-vs-base" in page.tables  # and the whole pipeline, last run against the first
    assert "paired on 16 questions" in _change_item(page_text, "After GRPO vs after SFT")


def test_untrusted_text_is_escaped(tmp_path):
    # Stage details and settings come from data and config: a script in them stays text.
    summary, _ = _demo()
    summary["stages"][0]["detail"] = "<script>alert(1)</script>"
    page = render_demo_report(summary, tmp_path / "demo.html").read_text(encoding="utf-8")
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page


# --- render_loss_curves ----------------------------------------------------------------------

@pytest.mark.parametrize("histories", [{}, {"SFT": []}, {"SFT": [{"step": 3, "train_loss": 1.1}],
                                                          "contrastive (DPO)": [{"step": 1, "rewards/margins": 0.1}]}])
def test_loss_curves_reject_histories_without_loss(histories):
    # Nothing logged "loss" (only the end-of-training "train_loss", or DPO margins): nothing to draw.
    with pytest.raises(ValueError, match="'loss'"):
        render_loss_curves(histories)


def test_loss_curves_are_a_png_data_uri():
    uri = render_loss_curves(_loss_histories())
    assert uri.startswith("data:image/png;base64,")
    assert _pngs(uri)[0].startswith(PNG_SIGNATURE)
