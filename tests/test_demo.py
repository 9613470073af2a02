"""`sqlgrpo demo`: the stage order, the reuse of finished stages, the summary and the report."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from sqlgrpo.stages.config import SECTIONS, resolve
from sqlgrpo.common.parallel import fork_available
from sqlgrpo.stages.demo import QUICK, RUNS, STAGE_RECORD, DemoError, Pipeline, demo_config_path

REPO = Path(__file__).resolve().parents[1]


def _pipeline(tmp_path: Path, **kwargs) -> Pipeline:
    # In this process by default: the fakes below record their calls in this process's lists.
    options = {"config_file": demo_config_path(), "quick": False, "force": False, "overrides": None, "progress": False,
               "isolate": False}
    return Pipeline(tmp_path, **{**options, **kwargs})


def test_shipped_demo_config_resolves_for_every_stage():
    # The demo config ships inside the package; a typo in it must fail here, not after minutes of SFT.
    for stage in SECTIONS:
        assert resolve(stage, demo_config_path()).shared.model == "embedded"


def test_a_bad_config_fails_before_any_stage_naming_the_file(tmp_path):
    from sqlgrpo.stages.config import ConfigError

    bad = tmp_path / "bad.yaml"
    bad.write_text("model: embedded\nsft: {max_stepz: 3}\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: sft: unknown key 'max_stepz'"):
        _pipeline(tmp_path / "out", config_file=bad)
    assert not (tmp_path / "out").exists()  # nothing was run or written


def test_the_run_keeps_a_copy_of_its_config(tmp_path):
    # Editing the config file mid-run must not change the stages still to come.
    config = tmp_path / "c.yaml"
    config.write_text("model: embedded\nsft: {max_steps: 3}\n")
    p = _pipeline(tmp_path / "out", config_file=config)
    config.write_text("model: embedded\nsft: {max_steps: 99}\n")
    assert p.config("sft", "sft").section.max_steps == 3


def test_quick_shrinks_steps_and_samples(tmp_path):
    full, quick = _pipeline(tmp_path), _pipeline(tmp_path, quick=True)
    for section, values in QUICK.items():
        folder = "grpo" if section == "train" else section
        for key, value in values.items():
            assert getattr(quick.config(section, folder).section, key) == value
            assert getattr(full.config(section, folder).section, key) != value, (section, key)


def test_stage_config_points_at_the_demo_folder(tmp_path):
    # Every stage reads the demo's own prepared data and writes under the demo folder.
    cfg = _pipeline(tmp_path).config("contrastive", "contrastive", init_adapter="A")
    assert cfg.section.output_dir == str(tmp_path / "contrastive")
    assert cfg.section.init_adapter == "A"
    assert cfg.shared.train_file == str(tmp_path / "data" / "cleaned_train_queries.jsonl")


def _fake_stage(calls: list, fail: bool = False):
    def work(resume: bool) -> dict:
        calls.append(resume)
        if fail:
            raise RuntimeError("boom")
        return {"steps": 3}
    return work


def _done(folder: Path) -> bool:
    return (folder / "out.txt").is_file()


def _run(p: Pipeline, folder: Path, key: object, calls: list, fail: bool = False):
    def work(resume: bool) -> dict:
        result = _fake_stage(calls, fail)(resume)
        (folder / "out.txt").write_text("x")
        return result
    return p.run("stage", folder, key, _done, work, lambda v: f"{v.get('steps')} steps")


def test_a_finished_stage_with_the_same_key_is_reused(tmp_path):
    calls: list = []
    _run(_pipeline(tmp_path), tmp_path / "s", {"lr": 1}, calls)
    second = _run(_pipeline(tmp_path), tmp_path / "s", {"lr": 1}, calls)
    assert calls == [False]  # the second run did no work
    assert second.reused and second.value["steps"] == 3 and second.detail == "3 steps"


def test_a_changed_key_redoes_the_stage_and_clears_its_folder(tmp_path):
    calls: list = []
    _run(_pipeline(tmp_path), tmp_path / "s", {"lr": 1}, calls)
    (tmp_path / "s" / "checkpoint-5").mkdir()  # leftovers of the other settings
    result = _run(_pipeline(tmp_path), tmp_path / "s", {"lr": 2}, calls)
    assert calls == [False, False] and not result.reused
    assert not (tmp_path / "s" / "checkpoint-5").exists()


def test_force_redoes_a_finished_stage(tmp_path):
    calls: list = []
    _run(_pipeline(tmp_path), tmp_path / "s", {"lr": 1}, calls)
    _run(_pipeline(tmp_path, force=True), tmp_path / "s", {"lr": 1}, calls)
    assert calls == [False, False]


def test_an_interrupted_stage_resumes_and_keeps_its_folder(tmp_path):
    # A stage that started with the same key and never finished keeps its checkpoints and is
    # told to resume (GRPO from its last checkpoint, eval from its saved generations).
    folder = tmp_path / "s"
    folder.mkdir()
    from sqlgrpo.stages.demo import _fingerprint

    (folder / STAGE_RECORD).write_text(json.dumps({"key": _fingerprint({"lr": 1}), "status": "running"}))
    (folder / "checkpoint-4").mkdir()
    calls: list = []
    _run(_pipeline(tmp_path), folder, {"lr": 1}, calls)
    assert calls == [True] and (folder / "checkpoint-4").is_dir()


def test_a_finished_record_without_its_outputs_is_redone(tmp_path):
    calls: list = []
    _run(_pipeline(tmp_path), tmp_path / "s", {"lr": 1}, calls)
    (tmp_path / "s" / "out.txt").unlink()  # the adapter or metrics were deleted by hand
    _run(_pipeline(tmp_path), tmp_path / "s", {"lr": 1}, calls)
    assert calls == [False, False]


def test_a_failing_stage_names_itself_and_is_not_marked_done(tmp_path):
    from sqlgrpo.stages.demo import DemoError

    calls: list = []
    with pytest.raises(DemoError, match="stage 'stage' failed: boom"):
        _run(_pipeline(tmp_path), tmp_path / "s", {"lr": 1}, calls, fail=True)
    assert json.loads((tmp_path / "s" / STAGE_RECORD).read_text())["status"] == "running"


TINY_CONFIG = """\
model: embedded
max_seq_length: 640
sft: {max_steps: 1, learning_rate: 1.0e-3, per_device_train_batch_size: 2, max_questions: 4, report_to: [none], save_steps: 100}
contrastive: {max_steps: 1, per_device_train_batch_size: 1, max_questions: 2, pairs_per_question: 1, report_to: [none], save_steps: 100}
train: {max_steps: 1, per_device_train_batch_size: 2, num_generations: 2, max_completion_length: 16, max_prompts: 4,
        report_to: [none], save_steps: 100, log_completions: false, bf16: true}
eval: {limit: 2, max_new_tokens: 16, batch_size: 2, judge: false}
"""


@pytest.mark.slow
def test_demo_runs_every_stage_then_reuses_them(tmp_path):
    # The whole pipeline on the real embedded model with one step per stage: the summary holds
    # the four runs with their metrics and times, the report its curves; a second run reuses all.
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY_CONFIG)
    out = tmp_path / "demo"
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    command = [sys.executable, "-m", "sqlgrpo.cli", "demo", "--config", str(config), "--output-dir", str(out)]
    first = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1200)
    assert first.returncode == 0, first.stderr[-4000:]

    summary = json.loads((out / "demo_summary.json").read_text())
    metrics_keys = set(json.loads((out / "eval_base" / "metrics.json").read_text()))
    for run in RUNS:
        assert metrics_keys <= set(summary[run]), run
        assert summary[run]["n"] == 2 and summary[run]["eval_seconds"] > 0
    assert summary["base"]["train_seconds"] is None and summary["tuned"]["train_seconds"] > 0
    assert [s["name"] for s in summary["stages"]][:3] == ["prepare", "model", "eval base"]
    assert len(summary["stages"]) == 9 and "tuned vs base" in summary["comparisons"]
    report = (out / "report.html").read_text()
    assert report.count('data-run="') >= 4 and "data:image/png;base64" in report
    assert "after GRPO" in first.stdout and str(out / "report.html") in first.stdout
    # What each run's answers are built of, beside the golds: printed and on the page.
    assert "answers with joins, aggregates, GROUP BY, ORDER BY:" in first.stdout and 'id="demo-shapes"' in report
    assert summary["tuned"]["answer_shapes"]["n"] == 2
    # The peak memory is measured and printed; GRPO's per-step rewards are in the summary (one
    # step: no trend can be fitted), its rollouts ran with the adapter merged.
    assert summary["peak_memory_mb"]["process"] > 100 and "peak memory:" in first.stdout
    if fork_available():  # each stage that loads the model ran in its own process, its peak recorded
        assert summary["peak_memory_mb"]["stages_in_own_process"] is True
        peaks = {s["name"]: s["peak_mb"] for s in summary["stages"]}
        assert all(peaks[name] > 100 for name in peaks if name not in ("prepare", "model")), peaks
        assert summary["peak_memory_mb"]["largest_child"] >= max(v for v in peaks.values() if v)
    assert len(summary["grpo_learning"]["reward"]) == 1 and summary["grpo_learning"]["trend"] is None
    assert "rollouts generated with merged LoRA" in first.stderr + first.stdout

    second = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-4000:]
    again = json.loads((out / "demo_summary.json").read_text())
    assert set(again["reused_stages"]) == {s["name"] for s in again["stages"]}  # nothing redone
    assert again["tuned"]["execution_accuracy"] == summary["tuned"]["execution_accuracy"]


needs_fork = pytest.mark.skipif(not fork_available(), reason="stages run in their own process only where fork is safe")


@needs_fork
def test_a_stage_runs_in_its_own_process_and_records_its_peak_memory(tmp_path):
    # The default where fork is safe: the work runs in a child (another pid), its value and its
    # process's peak come back, and what it allocated is not this process's.
    p = _pipeline(tmp_path, isolate=None)
    assert p.isolate

    def work(resume: bool) -> dict:
        ballast = bytearray(300 * 2**20)  # 300 MB touched in the child only
        ballast[::4096] = b"x" * len(ballast[::4096])
        return {"pid": os.getpid(), "resume": resume}

    result = p.run("stage", tmp_path / "s", {"lr": 1}, lambda folder: True, work, str)
    assert result.value == {"pid": result.value["pid"], "resume": False} and result.value["pid"] != os.getpid()
    assert result.peak_mb is not None and result.peak_mb > 300
    record = json.loads((tmp_path / "s" / STAGE_RECORD).read_text())
    assert record["status"] == "done" and record["peak_mb"] == result.peak_mb
    # Reused, the stage keeps the peak it was measured at.
    again = _pipeline(tmp_path, isolate=True).run("stage", tmp_path / "s", {"lr": 1}, lambda folder: True, work, str)
    assert again.reused and again.peak_mb == result.peak_mb


@needs_fork
def test_a_stage_failing_in_its_process_names_itself_and_its_error(tmp_path):
    def work(resume: bool) -> dict:
        raise ValueError("no training prompt fits")

    with pytest.raises(DemoError, match="stage 'stage' failed: ValueError: no training prompt fits"):
        _pipeline(tmp_path, isolate=True).run("stage", tmp_path / "s", {"lr": 1}, lambda folder: True, work, str)
    assert json.loads((tmp_path / "s" / STAGE_RECORD).read_text())["status"] == "running"


@needs_fork
def test_a_stage_whose_process_dies_is_reported_with_the_signal(tmp_path):
    # Killed from outside (the OOM killer sends SIGKILL): no answer, and the message says how it ended.
    def work(resume: bool) -> dict:
        os.kill(os.getpid(), signal.SIGKILL)
        return {}

    with pytest.raises(DemoError, match="killed by SIGKILL .*out of memory"):
        _pipeline(tmp_path, isolate=True).run("stage", tmp_path / "s", {"lr": 1}, lambda folder: True, work, str)


def test_each_finished_stage_hands_its_memory_back(tmp_path, monkeypatch):
    # Without a process per stage (no fork), all stages share one: after each, a collection and
    # glibc's malloc_trim(0), so the next stage does not start on top of the freed heap of the last.
    import ctypes
    import ctypes.util

    import sqlgrpo.stages.demo as demo

    trims: list = []

    class FakeLibc:
        def malloc_trim(self, pad):
            trims.append(pad)

    monkeypatch.setattr(ctypes, "CDLL", lambda name: FakeLibc())
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: "libc.so.6")
    p = _pipeline(tmp_path)
    p.run("stage", tmp_path / "s", {"lr": 1}, lambda folder: True, lambda resume: {"ok": 1}, str)
    assert trims == [0]
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)  # no libc (not Linux): nothing to trim
    demo.release_memory()
    assert trims == [0]
