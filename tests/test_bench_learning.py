"""benchmarks/bench_learning.py: the learning-curve table built from TRL's log history (no training)."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import load_script

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_learning.py"

bench = load_script(SCRIPT)

SHAPES = ("join_rate", "aggregate_rate", "group_by_rate", "order_by_rate")  # heldout_metrics' answer structure
HELDOUT = ("execution_accuracy", "test_suite_accuracy", "valid_sql_rate", "format_compliance", "missing_column_rate",
           *SHAPES)
START = {"n": 40, "execution_accuracy": 0.025, "test_suite_accuracy": 0.0, "valid_sql_rate": 0.2,
         "format_compliance": 0.7, "missing_column_rate": 0.5, **dict.fromkeys(SHAPES, 0.1),
         "gold_join_rate": 0.25, "gold_aggregate_rate": 0.5, "gold_group_by_rate": 0.3, "gold_order_by_rate": 0.2,
         "seconds": 100.0}


def _step(step: int, heldout: dict | None = None) -> dict:
    """One step's log entry as GRPOTrainer writes it: the reward grows by 1 a step, so a block's
    mean is the mean of its step numbers; schema linking is logged only on even steps."""
    entry = {"step": step, "loss": 0.0, "reward": float(step), "reward_std": 0.5, "frac_reward_zero_std": 0.1 * step,
             "frac_executable_zero_std": 1.0 - 0.01 * step, "rewards/execution_reward/mean": 2.0 * step, "rewards/execution_reward/std": 99.0, "step_time": 40.0}
    if step % 2 == 0:
        entry["rewards/schema_linking_reward/mean"] = 1.0
    if heldout:
        entry.update({f"heldout/{k}": v for k, v in heldout.items()})
    return entry


def _checked(step: int) -> dict:
    # held-out shares that tell the checks apart: step 10 -> 0.1 for every metric, 20 -> 0.2
    return dict.fromkeys(HELDOUT, step / 100)


def _history(last: int, every: int = 10, skip: tuple[int, ...] = ()) -> list[dict]:
    history = [_step(s, _checked(s) if s % every == 0 and s not in skip else None) for s in range(1, last + 1)]
    # the run's final entry: no reward, and must not count as a step of the last block
    history.append({"step": last, "train_runtime": 1000.0, "train_loss": 0.0})
    return history


def test_rows_are_step_zero_every_check_and_the_last_step():
    # 25 steps, a check every 10: rows at 0, 10, 20 and 25 (the last step, not a multiple).
    rows = bench.learning_table(START, _history(25), 10)
    assert [r["step"] for r in rows] == [0, 10, 20, 25]


def test_a_last_step_on_a_check_is_not_listed_twice():
    # 30 steps: the last step is the third check; one row for it.
    rows = bench.learning_table(START, _history(30), 10)
    assert [r["step"] for r in rows] == [0, 10, 20, 30]


def test_heldout_shares_are_copied_from_the_log_at_their_step():
    rows = {r["step"]: r for r in bench.learning_table(START, _history(20), 10)}
    assert rows[10]["heldout"] == dict.fromkeys(HELDOUT, 0.1)
    assert rows[20]["heldout"] == dict.fromkeys(HELDOUT, 0.2)


def test_counts_are_the_shares_of_n():
    # n = 40: a share of 0.1 is 4 questions, of 0.2 is 8; step 0's 0.025 is 1 question.
    rows = {r["step"]: r for r in bench.learning_table(START, _history(20), 10)}
    assert rows[0]["counts"]["execution_accuracy"] == 1
    assert rows[10]["counts"] == dict.fromkeys(HELDOUT, 4)
    assert rows[20]["counts"]["format_compliance"] == 8


def test_a_count_is_rounded_not_cut_off():
    # 13/45 * 45 is 12.999... in floating point: a count taken by truncation would say 12.
    rows = bench.learning_table({**START, "n": 45, "execution_accuracy": 13 / 45}, _history(10), 10)
    assert rows[0]["counts"]["execution_accuracy"] == 13


def test_step_zero_is_the_start_metrics_and_has_no_training():
    row = bench.learning_table(START, _history(20), 10)[0]
    assert row["heldout"] == {name: START[name] for name in HELDOUT}
    assert row["training"] is None


def test_training_means_cover_each_block_of_steps():
    # reward = step: block 1-10 averages to 5.5, 11-20 to 15.5; execution = 2 * step; the
    # final train_runtime entry at step 20 is not one of the block's steps.
    rows = {r["step"]: r for r in bench.learning_table(START, _history(20), 10)}
    first, second = rows[10]["training"], rows[20]["training"]
    assert first["steps"] == [1, 10] and first["logged_steps"] == 10
    assert first["means"]["reward"] == pytest.approx(5.5)
    assert first["means"]["frac_reward_zero_std"] == pytest.approx(0.55)
    assert first["means"]["frac_executable_zero_std"] == pytest.approx(1.0 - 0.055)
    assert first["means"]["rewards/execution_reward/mean"] == pytest.approx(11.0)
    assert second["steps"] == [11, 20] and second["means"]["reward"] == pytest.approx(15.5)


def test_a_last_partial_block_averages_only_its_own_steps():
    # steps 21-25: reward mean 23.
    training = bench.learning_table(START, _history(25), 10)[-1]["training"]
    assert training["steps"] == [21, 25] and training["logged_steps"] == 5
    assert training["means"]["reward"] == pytest.approx(23.0)


def test_a_reward_logged_on_some_steps_is_averaged_over_those():
    # schema linking is logged on the even steps only (1.0 each): its mean is 1.0, not 0.5.
    means = bench.learning_table(START, _history(10), 10)[1]["training"]["means"]
    assert means["rewards/schema_linking_reward/mean"] == pytest.approx(1.0)
    assert "rewards/execution_reward/std" not in means  # the std columns are not means of the block


def test_a_missing_check_is_none_not_zero():
    # the check at step 20 never logged (an interrupted check): its row says not measured.
    rows = {r["step"]: r for r in bench.learning_table(START, _history(30, skip=(20,)), 10)}
    assert rows[20]["heldout"] is None and rows[20]["counts"] is None
    assert rows[20]["training"]["means"]["reward"] == pytest.approx(15.5)  # the training numbers stay
    assert rows[30]["heldout"]["execution_accuracy"] == pytest.approx(0.3)


def test_a_metric_a_check_did_not_log_is_none():
    # an older run logged no valid_sql_rate or missing_column_rate: those cells are None.
    history = _history(10)
    del history[9]["heldout/valid_sql_rate"], history[9]["heldout/missing_column_rate"]
    row = bench.learning_table(START, history, 10)[1]
    assert row["heldout"]["valid_sql_rate"] is None and row["counts"]["missing_column_rate"] is None
    assert row["heldout"]["format_compliance"] == pytest.approx(0.1)


def test_without_start_metrics_step_zero_is_not_measured_and_there_are_no_counts():
    # --from-state without --start-json: no step 0, no n, shares only.
    rows = bench.learning_table({}, _history(10), 10)
    assert rows[0]["heldout"] is None
    assert rows[1]["heldout"]["execution_accuracy"] == pytest.approx(0.1)
    assert rows[1]["counts"]["execution_accuracy"] is None


def test_an_every_below_one_is_refused():
    with pytest.raises(ValueError, match="every"):
        bench.learning_table(START, _history(10), 0)


def test_the_summary_divides_the_wall_time_by_the_steps():
    # 20 steps in TRL's train_runtime of 1000 s: 50 s a step; step_time is 40 s every step.
    summary = bench.run_summary(_history(20))
    assert summary["steps"] == 20 and summary["wall_s"] == 1000.0
    assert summary["seconds_per_step"] == pytest.approx(50.0)
    assert summary["mean_step_time_s"] == pytest.approx(40.0)


def test_the_printed_table_shows_counts_of_n_and_dashes_for_missing_checks():
    rows = bench.learning_table(START, _history(30, skip=(20,)), 10)
    text = bench.render_table(rows, 40, bench.run_summary(_history(30)), start=START)
    lines = {line.split("|")[0].strip(): line for line in text.splitlines() if "|" in line}
    assert "4/40  10.0%" in lines["10"]
    # the answers' structure has its columns, the golds' stands under the table
    assert [c.strip() for c in lines["step"].split("|")][-4:] == ["joins", "aggregates", "GROUP BY", "ORDER BY"]
    assert [c.strip() for c in lines["30"].split("|")][-1] == "12/40  30.0%"
    assert ("the golds: joins 10/40  25.0%, aggregates 20/40  50.0%, GROUP BY 12/40  30.0%, ORDER BY 8/40  20.0%"
            in text.splitlines())
    # without step-0 metrics of the golds (an older start_metrics.json) the line is left out
    assert "the golds" not in bench.render_table(rows, 40, start={"n": 40})
    assert all(cell.strip() == "-" for cell in lines["20"].split("|")[1:])  # the check that never logged
    assert lines["11-20"].split("|")[1].strip() == "15.500"  # the block's mean reward
    header = next(line for line in text.splitlines() if line.startswith("steps"))
    assert [c.strip() for c in header.split("|")][:4] == ["steps", "reward", "zero-std groups", "runs-tied groups"]
    assert lines["11-20"].split("|")[3].strip() == f"{1.0 - 0.155:.3f}"  # the block's runs-tied share
