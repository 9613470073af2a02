"""The `demo` stage: the whole pipeline on the embedded model and data, on a laptop CPU.

    sqlgrpo demo [--quick] [--output-dir outputs/demo]

Read `run_demo` top to bottom for the pipeline in order: prepare the embedded sample, make sure
the embedded model is converted, evaluate the base model, supervised warm-up (SFT), evaluate,
contrastive stage (DPO) from the SFT adapter, evaluate, GRPO from the contrastive adapter,
evaluate, then `demo_summary.json` and `report.html` (the four runs side by side, each step's
difference with its 95% interval, the training curves, the time of every stage).

The settings live in `sqlgrpo/data/demo.yaml` (the usual config file: shared fields, a section
per stage) and `--quick` shrinks steps and samples (`QUICK`). Every stage records what it ran with
in `<stage folder>/demo_stage.json`; a rerun with the same settings and the same upstream results
reuses a finished stage instead of redoing it, resumes an interrupted GRPO run or evaluation
from what it saved, and redoes everything downstream of a stage that changed. On Linux each stage
that loads the model runs in a forked child process (`Pipeline.isolate`): the memory it used goes
back to the system when it ends, and the stage table gives each one's peak.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from sqlgrpo import __version__
from sqlgrpo.common import paths
from sqlgrpo.common.errors import SqlgrpoError
from sqlgrpo.common.parallel import fork_available, run_in_child
from sqlgrpo.common.files import atomic_write_text, read_json, write_json
from sqlgrpo.stages.config import StageConfig, resolve

log = logging.getLogger(__name__)

SUMMARY_FILE = "demo_summary.json"
REPORT_FILE = "report.html"
STAGE_RECORD = "demo_stage.json"
CONFIG_COPY = "demo_config.yaml"
DEFAULT_OUTPUT_DIR = "demo"  # under the outputs root: outputs/demo

RUNS = ("base", "sft", "contrastive", "tuned")
LABELS = {"base": "base model", "sft": "after SFT", "contrastive": "after contrastive (DPO)", "tuned": "after GRPO"}
# Each comparison is (later run, earlier run): the step each stage adds, then the whole pipeline.
COMPARISONS = (("sft", "base"), ("contrastive", "sft"), ("tuned", "contrastive"), ("tuned", "base"))

# --quick: the same pipeline with fewer steps and samples, within 10 minutes on 2 cores.
# SFT keeps most of its steps: it is what teaches the format (12 steps: 4 of 16 answers in format).
QUICK: dict[str, dict[str, Any]] = {
    "sft": {"max_steps": 14},
    "contrastive": {"max_steps": 2, "max_questions": 8},
    "train": {"max_steps": 1},
    "eval": {"limit": 12},
}


class DemoError(SqlgrpoError, RuntimeError):
    """A stage of the demo failed; the message names the stage and the cause."""


def demo_config_path() -> Path:
    """The demo's config file, shipped inside the package."""
    return Path(str(resources.files("sqlgrpo") / "data" / "demo.yaml"))


@dataclass
class StageResult:
    name: str
    seconds: float
    reused: bool
    detail: str = ""
    output: str = ""
    value: dict = field(default_factory=dict)
    key: str = ""  # the stage's fingerprint: the stages built on it include it in theirs
    peak_mb: float | None = None  # the peak resident memory of its own process (stages run in theirs)

    def to_dict(self) -> dict:
        return {"name": self.name, "seconds": round(self.seconds, 1), "reused": self.reused,
                "detail": self.detail, "output": self.output, "peak_mb": self.peak_mb}


class Pipeline:
    """Runs the demo's stages in order, each reused when already done with the same inputs."""

    def __init__(self, out: Path, *, config_file: str | Path, quick: bool, force: bool,
                 overrides: dict[str, dict] | None, progress: bool, isolate: bool | None = None):
        self.out, self.quick, self.force, self.progress = out, quick, force, progress
        # Each stage in a child process where fork is safe: what a stage allocated goes back to
        # the system when it ends, so the demo's peak is its largest stage's, not their sum.
        self.isolate = fork_available() if isolate is None else isolate
        self.overrides = {name: {**(QUICK.get(name, {}) if quick else {}), **(overrides or {}).get(name, {})}
                          for name in ("sft", "contrastive", "train", "eval")}
        for section in self.overrides:  # a typo fails now, named in the user's file, not after an hour
            resolve(section, config_file, self.overrides[section])
        # A copy of the config as the run starts: editing the file during a run does not change the
        # stages still to come, and the copy documents what ran.
        self.config_file = out / CONFIG_COPY
        text = Path(config_file).read_text(encoding="utf-8")
        if not self.config_file.is_file() or self.config_file.read_text(encoding="utf-8") != text:
            out.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.config_file, text)
        self.stages: list[StageResult] = []
        self.data_key = ""  # fingerprint of the prepared data: every later stage depends on it
        self.total = 9

    # --- configuration -----------------------------------------------------------------------

    def config(self, stage: str, folder: str, **fields: Any) -> StageConfig:
        """The stage's config: demo.yaml, then --quick, then the demo's own paths and links."""
        data = self.out / "data"
        values = {"train_file": str(data / paths.TRAIN_FILE_NAME), "eval_file": str(data / paths.EVAL_FILE_NAME),
                  "prepare_input": None, **self.overrides[stage], "output_dir": str(self.out / folder), **fields}
        return resolve(stage, self.config_file, values)

    # --- running one stage with reuse ----------------------------------------------------------

    def run(self, name: str, folder: Path, key_parts: Any, done: Callable[[Path], bool],
            work: Callable[[bool], dict], describe: Callable[[dict], str]) -> StageResult:
        """Run `work(resume)` in `folder` unless a finished run with the same key is there.

        The key hashes `key_parts` (the resolved config and the keys of the stages it builds
        on): a changed setting or a redone upstream stage redoes this one. `resume` is true when
        an earlier run with the same key was interrupted, so that GRPO and eval can continue
        from their checkpoints and saved generations."""
        index = len(self.stages) + 1
        key = _fingerprint(key_parts)
        record_path = folder / STAGE_RECORD
        record = read_json(record_path) or {}
        same = record.get("key") == key and not self.force
        if same and record.get("status") == "done" and done(folder):
            log.info("[%d/%d] %s: reused from %s (%.0f s when it ran)", index, self.total, name, folder,
                     record.get("seconds", 0.0))
            value = record.get("value") or {}
            result = StageResult(name, float(record.get("seconds", 0.0)), True, describe(value), str(folder), value, key,
                                 record.get("peak_mb"))
            self.stages.append(result)
            return result
        resume = same and record.get("status") == "running"
        if not resume and folder.exists():
            shutil.rmtree(folder)  # another config's leftovers (checkpoints, generations) must not leak in
        folder.mkdir(parents=True, exist_ok=True)
        write_json(record_path, {"key": key, "status": "running", "sqlgrpo": __version__})
        log.info("[%d/%d] %s%s", index, self.total, name, " (resuming)" if resume else "")
        start = time.perf_counter()
        try:
            value, peak = run_in_child(_measured, work, resume) if self.isolate else (work(resume), None)
        except Exception as e:  # noqa: BLE001 - any stage failure ends the demo with its name
            if getattr(e, "child_traceback", ""):
                log.debug("stage %s failed in its process:\n%s", name, e.child_traceback)
            raise DemoError(f"stage {name!r} failed: {e}") from e
        seconds = time.perf_counter() - start
        if not self.isolate:
            release_memory()  # the stage ran in this process: the next must not start on its heap
        value = _json_ready(value)
        write_json(record_path, {"key": key, "status": "done", "seconds": round(seconds, 1), "value": value,
                                  "peak_mb": peak, "sqlgrpo": __version__})
        result = StageResult(name, seconds, False, describe(value), str(folder), value, key, peak)
        log.info("[%d/%d] %s done in %.0f s: %s", index, self.total, name, seconds, result.detail)
        self.stages.append(result)
        return result


def _measured(work: Callable[[bool], dict], resume: bool) -> tuple[dict, float]:
    """`work(resume)` and the peak memory of the process it ran in (a stage's own child)."""
    return work(resume), peak_memory_mb()["process"]


def release_memory() -> None:
    """Hand the memory a finished stage freed back to the system when the stages share the demo's
    process (no fork): a collection for the model and trainer objects left in reference cycles,
    then `training.trim_heap`. It only narrows the gap: with all stages in one process, the demo
    peaked at 6.6 GB without it and a --quick run at 4.1 GB with it, for stages of at most 3.2 GB
    alone. A no-op where there is no glibc."""
    import gc

    from sqlgrpo.stages.training import trim_heap

    gc.collect()
    trim_heap()


def _fingerprint(parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode("utf-8")).hexdigest()[:16]


def _json_ready(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path.is_file() else "missing"


def _has_adapter(folder: Path) -> bool:
    return (folder / "final_adapter" / "adapter_config.json").is_file()


def _has_metrics(folder: Path) -> bool:
    from sqlgrpo.stages.eval import METRICS_FILE, RESULTS_FILE

    return (folder / METRICS_FILE).is_file() and (folder / RESULTS_FILE).is_file()


def _eval_detail(metrics: dict) -> str:
    n = metrics.get("n", 0)
    return (f"format {metrics.get('format_compliance_count', 0)}/{n}, valid SQL {metrics.get('valid_sql_rate_count', 0)}/{n}, "
            f"execution {metrics.get('execution_accuracy_count', 0)}/{n}, mean reward {metrics.get('mean_reward')}")


# --------------------------------------------------------------------------------------------
# The pipeline, in order

def run_demo(output_dir: str | Path | None = None, *, quick: bool = False, config_file: str | Path | None = None,
             force: bool = False, overrides: dict[str, dict] | None = None, progress: bool = True,
             isolate: bool | None = None) -> dict:
    """Run every stage on the embedded defaults; returns the summary written to demo_summary.json.

    `overrides` maps a section name (sft, contrastive, train, eval) to field values applied
    after the config file and --quick (tests use it to shrink the run further). `isolate` runs
    each stage that loads the model in a child process (default: where fork is safe, Linux), so
    that the demo holds one stage's memory at a time; this process then never runs a torch
    operation (a forked child would hang on libgomp's threads)."""
    from sqlgrpo.stages.contrastive import run_contrastive
    from sqlgrpo.stages.eval import evaluate
    from sqlgrpo.stages.prepare import PrepareOptions, prepare
    from sqlgrpo.stages.sft import run_sft
    from sqlgrpo.stages.train import train

    out = Path(output_dir) if output_dir else paths.output_dir(DEFAULT_OUTPUT_DIR)
    out.mkdir(parents=True, exist_ok=True)
    p = Pipeline(out, config_file=config_file or demo_config_path(), quick=quick, force=force, overrides=overrides,
                 progress=progress, isolate=isolate)
    started = time.perf_counter()
    evals: dict[str, StageResult] = {}
    trains: dict[str, StageResult] = {}
    try:
        # 1. Data: the embedded sample, cleansed and split (prepare reuses up-to-date outputs itself).
        shared = p.config("eval", "eval_base").shared
        start = time.perf_counter()
        report = prepare(PrepareOptions(input="embedded", output_dir=str(out / "data"), backend=shared.backend,
                                        seed=shared.seed, force=force), progress=progress)
        p.stages.append(StageResult("prepare", time.perf_counter() - start, bool(report.get("reused")),
                                    f"{report['input_rows']} rows: {report['train']} train, {report['eval']} eval",
                                    str(out / "data")))
        p.data_key = _fingerprint([_file_digest(out / "data" / paths.TRAIN_FILE_NAME),
                                   _file_digest(out / "data" / paths.EVAL_FILE_NAME)])
        log.info("[1/%d] prepare: %s%s", p.total, p.stages[-1].detail, " (reused)" if p.stages[-1].reused else "")

        # 2. The model: the embedded GGUF converted once into a cached checkpoint.
        p.stages.append(_model_stage(shared.model, p.total, p.isolate))

        # 3. The base model on the held-out questions.
        evals["base"] = _eval_stage(p, "eval base", "eval_base", None, "", evaluate)

        # 4. Supervised warm-up: the base model never writes the tags, so GRPO alone has no signal.
        sft_cfg = p.config("sft", "sft")
        trains["sft"] = p.run("sft (supervised warm-up)", out / "sft", [sft_cfg.to_dict(), p.data_key], _has_adapter,
                              lambda resume: run_sft(sft_cfg),
                              lambda v: f"{v.get('steps')} steps on {v.get('examples')} examples")
        evals["sft"] = _eval_stage(p, "eval after SFT", "eval_sft", out / "sft" / "final_adapter",
                                   trains["sft"].key, evaluate)

        # 5. Contrastive stage (DPO on gold vs verified near-miss SQL), continuing the SFT adapter.
        dpo_cfg = p.config("contrastive", "contrastive", init_adapter=str(out / "sft" / "final_adapter"))
        trains["contrastive"] = p.run(
            "contrastive (DPO)", out / "contrastive", [dpo_cfg.to_dict(), trains["sft"].key], _has_adapter,
            lambda resume: run_contrastive(dpo_cfg, progress=progress),
            lambda v: f"{v.get('steps')} steps on {v.get('pairs')} pairs from {v.get('questions')} questions")
        evals["contrastive"] = _eval_stage(p, "eval after contrastive", "eval_contrastive",
                                           out / "contrastive" / "final_adapter", trains["contrastive"].key,
                                           evaluate)

        # 6. GRPO with rewards computed by running SQL, from the contrastive adapter.
        grpo_cfg = p.config("train", "grpo", init_adapter=str(out / "contrastive" / "final_adapter"))

        def grpo(resume: bool) -> dict:
            grpo_cfg.section.resume = resume
            return train(grpo_cfg)

        trains["tuned"] = p.run("GRPO", out / "grpo", [grpo_cfg.to_dict(), trains["contrastive"].key],
                                _has_adapter, grpo, lambda v: f"{v.get('steps')} steps on {v.get('prompts')} prompts")
        evals["tuned"] = _eval_stage(p, "eval after GRPO", "eval_tuned", out / "grpo" / "final_adapter",
                                     trains["tuned"].key, evaluate)
        error = None
    except DemoError as e:
        error = str(e)
        log.error("%s", error)

    # 7. The summary and the report, also after a failure: what ran is not lost.
    summary = build_summary(p, evals, trains, time.perf_counter() - started, error)
    write_json(out / SUMMARY_FILE, summary)
    write_report(out, summary)
    if error:
        raise DemoError(error + f" (what ran is in {out / SUMMARY_FILE})")
    return summary


def _model_stage(model: str, total: int, isolate: bool) -> StageResult:
    """Convert (or find) the embedded model's checkpoint, timed on its own (the conversion in a
    child process when the stages run in theirs: it computes with torch)."""
    from sqlgrpo.llm.models import embedded_checkpoint_dir, embedded_checkpoint_ready

    start = time.perf_counter()
    if model != "embedded":
        return StageResult("model", 0.0, True, f"{model} (loaded by each stage)", model)
    ready = embedded_checkpoint_ready()
    folder = run_in_child(embedded_checkpoint_dir) if isolate and not ready else embedded_checkpoint_dir()
    seconds = time.perf_counter() - start
    log.info("[2/%d] model: embedded SmolLM2-135M-Instruct %s %s", total,
             "found in the cache at" if ready else "converted from GGUF into", folder)
    return StageResult("model", seconds, ready, "cached checkpoint" if ready else "converted from GGUF", str(folder))


def _eval_stage(p: Pipeline, name: str, folder: str, adapter: Path | None, upstream_key: str,
                evaluate: Callable[..., dict]) -> StageResult:
    train_weights = p.config("train", "grpo").section.reward_weights
    cfg = p.config("eval", folder, adapter=str(adapter) if adapter else None, judge=False)
    if "reward_weights" not in p.overrides["eval"] and not _section_sets(p.config_file, "eval", "reward_weights"):
        cfg.section.reward_weights = dict(train_weights)  # mean reward as GRPO counts it

    def work(resume: bool) -> dict:
        cfg.section.resume = resume
        return evaluate(cfg, progress=p.progress)

    parts = [cfg.to_dict(), p.data_key, upstream_key]  # before work() sets resume: the key ignores it
    return p.run(name, p.out / folder, parts, _has_metrics, work, _eval_detail)


def _section_sets(config_file: str | Path, section: str, key: str) -> bool:
    from sqlgrpo.stages.config import load_yaml

    return key in (load_yaml(config_file).get(section) or {})


# --------------------------------------------------------------------------------------------
# Summary and report

def build_summary(p: Pipeline, evals: dict[str, StageResult], trains: dict[str, StageResult], seconds: float,
                  error: str | None) -> dict:
    """demo_summary.json: one object per run (metrics.json keys, plus its eval and training
    seconds), the comparisons between runs, every stage's time, and the settings used."""
    from sqlgrpo.report.stats import metric_deltas
    from sqlgrpo.report.trends import grpo_learning
    from sqlgrpo.stages.eval import load_run

    summary: dict[str, Any] = {"quick": p.quick, "runs": [r for r in RUNS if r in evals], "labels": dict(LABELS),
                               "output_dir": str(p.out), "error": error}
    results: dict[str, list] = {}
    for run, stage in evals.items():
        metrics, results[run] = load_run(stage.output)
        training = trains.get(run)
        summary[run] = {**metrics, "eval_seconds": round(stage.seconds, 1),
                        "train_seconds": round(training.seconds, 1) if training else None}
    summary["comparisons"] = {
        f"{later} vs {earlier}": metric_deltas(summary[earlier], summary[later], results[earlier], results[later])
        for later, earlier in COMPARISONS if later in evals and earlier in evals}
    summary["stages"] = [s.to_dict() for s in p.stages]
    summary["stage_seconds"] = {s.name: round(s.seconds, 1) for s in p.stages}
    # The pipeline's time is the sum of its stages as they ran (a reused stage counts the time it
    # took when it ran); this_run_seconds is what this invocation took.
    summary["total_seconds"] = round(sum(s.seconds for s in p.stages), 1)
    summary["this_run_seconds"] = round(seconds, 1)
    summary["reused_stages"] = [s.name for s in p.stages if s.reused]
    summary["reports"] = {run: str(Path(stage.output).relative_to(p.out) / "report.html") for run, stage in evals.items()}
    settings = {}
    for section, folder in (("sft", "sft"), ("contrastive", "contrastive"), ("train", "grpo"), ("eval", "eval_base")):
        cfg = p.config(section, folder)
        settings[section] = {k: v for k, v in cfg.to_dict()[section].items()
                             if k in _SHOWN_SETTINGS and not (section == "eval" and k == "reward_weights")}
    summary["settings"] = settings
    summary["model"] = p.config("eval", "eval_base").shared.model
    summary["eval_file"] = str(p.out / "data" / paths.EVAL_FILE_NAME)
    grpo_state = (read_json(p.out / "grpo" / "trainer_state.json") or {}) if "tuned" in trains else {}
    summary["grpo_learning"] = grpo_learning(grpo_state.get("log_history") or [])
    summary["peak_memory_mb"] = {**peak_memory_mb(), "stages_in_own_process": p.isolate}
    return summary


def peak_memory_mb() -> dict[str, float]:
    """The peak resident memory so far, in MB, of this process and of the largest of its
    finished child processes (the stages', when they run in their own; SQL workers)."""
    import resource
    import sys

    scale = 1 / 2**20 if sys.platform == "darwin" else 1 / 1024  # ru_maxrss: bytes on macOS, KB on Linux
    return {who: round(resource.getrusage(which).ru_maxrss * scale, 1)
            for who, which in (("process", resource.RUSAGE_SELF), ("largest_child", resource.RUSAGE_CHILDREN))}


_SHOWN_SETTINGS = {"max_steps", "learning_rate", "per_device_train_batch_size", "gradient_accumulation_steps",
                   "num_generations", "max_completion_length", "temperature", "beta", "lora_r", "lora_alpha",
                   "pairs_per_question", "max_questions", "reward_weights", "loss_type", "limit", "max_new_tokens",
                   "batch_size"}


def write_report(out: Path, summary: dict) -> Path:
    """report.html beside demo_summary.json, with the training curves of the three stages."""
    from sqlgrpo.report.demo_page import render_demo_report
    from sqlgrpo.stages.eval import load_run

    results = {}
    for run in summary.get("runs", []):
        folder = out / Path(summary["reports"][run]).parent
        try:
            results[run] = load_run(folder)[1]
        except Exception:  # noqa: BLE001 - a missing run is shown as missing, not a crash
            continue
    grpo_history = (read_json(out / "grpo" / "trainer_state.json") or {}).get("log_history")
    losses = {label: (read_json(out / folder / "trainer_state.json") or {}).get("log_history") or []
              for label, folder in (("SFT", "sft"), ("contrastive (DPO)", "contrastive"))}
    return render_demo_report(summary, out / REPORT_FILE, results=results, grpo_history=grpo_history,
                              loss_histories={k: v for k, v in losses.items() if v})
