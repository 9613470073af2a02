"""The train stage: hardware checks, the GRPOConfig/LoRA/4-bit objects, checkpoints, data, and
real GRPO runs of the embedded model (one plain run, a kill and resume, two processes).

Fast tests build configuration objects and fake checkpoint folders. Slow tests run the real
`sqlgrpo train` (TRL GRPOTrainer + LoRA on SmolLM2-135M) in subprocesses with a tiny setup:
2 completions of 8 tokens per step, ~10 s a step on one thread (OMP_NUM_THREADS=1, see `_env`).
Each slow scenario runs ONCE in a module-scoped fixture and several tests read its outputs.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import yaml

from sqlgrpo.data.records import RecordsError, read_records
from sqlgrpo.scoring.rewards import REWARDS
from sqlgrpo.stages.config import StageConfig, resolve
from sqlgrpo.stages.train import (
    CHECKPOINT_REQUIRED,
    TIMED_METHODS,
    TrainError,
    install_fast_generation,
    install_step_timers,
    grpo_config_kwargs,
    last_complete_checkpoint,
    quantization_config,
    reward_setup,
    train,
)
from sqlgrpo.stages.training import (
    FINAL_ADAPTER,
    TRAINER_STATE,
    TrainingError,
    check_hardware,
    ensure_train_file,
    lora_config,
    precision,
    trainer_kwargs,
    weights_dtype,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
CPU_DEMO = REPO_ROOT / "configs" / "cpu-demo.yaml"
VENV_BIN = Path(sys.executable).parent
TRAIN_TIMEOUT_S = 600  # ~40 s alone, ~100 s with the other cores busy; never hang CI
RESUME_BUDGET_S = 600  # wait at most this long for the first checkpoint of the run to kill
ACCELERATE_TIMEOUT_S = 900  # two processes share 2 cores
POLL_S = 0.5
TINY_MAX_PROMPTS = 8
TINY_GENERATIONS = 2
# The flags that make a step cheap: 2 completions (one GRPO group) of 8 tokens, a checkpoint each step.
TINY_FLAGS = ["--per-device-train-batch-size", "2", "--num-generations", str(TINY_GENERATIONS),
              "--max-completion-length", "8", "--max-prompts", str(TINY_MAX_PROMPTS), "--save-steps", "1"]
GPU_OPTIONS = [("use_vllm", "vllm"), ("load_in_4bit", "bitsandbytes"), ("use_unsloth", "unsloth")]


def _stage(config_file: Path | None = None, **overrides) -> StageConfig:
    return resolve("train", config_file, overrides)


def _write_lines(path: Path, lines: list) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines), encoding="utf-8")
    return path


def _record(i: int = 0) -> dict:
    return {"sql_prompt": f"How many pets? ({i})", "sql_context": "CREATE TABLE pets (id INT);",
            "sql": "SELECT COUNT(*) FROM pets;"}


# --- check_hardware ------------------------------------------------------------------------

@pytest.mark.parametrize("option", ["use_vllm", "load_in_4bit", "use_unsloth"])
def test_gpu_option_without_gpu_names_the_option(option):
    # Each of these only works on CUDA: the error must name the flag and the config key to turn off.
    flag = "--" + option.replace("_", "-")
    with pytest.raises(TrainingError, match=rf"{flag} .*needs a CUDA GPU.*set {option}: false"):
        check_hardware(_stage(**{option: True}).section, has_gpu=False)


@pytest.mark.parametrize("option, package", GPU_OPTIONS)
def test_gpu_option_without_its_package_names_the_package(option, package):
    # A GPU is there but the package is not (vllm, bitsandbytes, unsloth are not installed here).
    import importlib.util

    if importlib.util.find_spec(package) is not None:
        pytest.skip(f"{package} is installed here; the missing-package path cannot be reached")
    flag = "--" + option.replace("_", "-")
    with pytest.raises(TrainingError, match=rf"{flag} .*needs the '{package}' package: pip install"):
        check_hardware(_stage(**{option: True}).section, has_gpu=True)


@pytest.mark.parametrize("bf16, has_gpu, cpu_bf16, expected", [
    (False, True, True, "fp32"), (False, False, True, "fp32"),
    (True, True, False, "bf16"),               # a GPU: weights and compute in bf16
    (True, False, True, "bf16-autocast"),      # AVX512_BF16/AMX: fp32 weights, bf16 matmuls
    (True, False, False, "fp32"),              # another CPU: emulated bf16 is slower than fp32
])
def test_bf16_means_what_the_machine_can_do(bf16, has_gpu, cpu_bf16, expected):
    assert precision(bf16, has_gpu=has_gpu, cpu_bf16=cpu_bf16) == expected


def test_bf16_on_a_cpu_is_autocast_over_fp32_weights(monkeypatch):
    # No refusal without a GPU any more; TRL gets bf16=True (accelerate's CPU autocast) only where
    # the CPU has the instructions, and the weights load in bf16 only on a GPU.
    import sqlgrpo.stages.training as training_module

    stage = _stage(bf16=True)
    check_hardware(stage.section, has_gpu=False)
    for supported in (True, False):
        monkeypatch.setattr(training_module, "cpu_bf16_supported", lambda supported=supported: supported)
        assert trainer_kwargs(stage, has_gpu=False)["bf16"] is supported
    assert weights_dtype(True, has_gpu=False) is None
    assert weights_dtype(True, has_gpu=True) == "bfloat16" and weights_dtype(False, has_gpu=True) is None


def test_bf16_on_a_cpu_without_the_instructions_says_so(monkeypatch, caplog):
    import logging

    import sqlgrpo.stages.training as training_module

    monkeypatch.setattr(training_module, "gpu_available", lambda: False)
    monkeypatch.setattr(training_module, "cpu_bf16_supported", lambda: False)
    with caplog.at_level(logging.INFO, logger="sqlgrpo.stages.training"):
        training_module.log_precision(True)
    assert "no bfloat16 instructions" in caplog.text and "fp32" in caplog.text


class _FakePeft(torch.nn.Module):
    """What install_fast_generation touches of a PEFT model: merge, unmerge, its parameters."""

    def __init__(self):
        super().__init__()
        self.merged = False
        self.weight = torch.nn.Parameter(torch.ones(2, 2))

    def merge_adapter(self):
        self.merged = True

    def unmerge_adapter(self):
        self.merged = False


def _fake_trainer(model, seen):
    import types

    def generate(*args, **kwargs):
        seen.append((model.merged, model.weight.dtype))
        if kwargs.get("fail"):
            raise RuntimeError("generation failed")
        return "ids"

    return types.SimpleNamespace(accelerator=types.SimpleNamespace(unwrap_model=lambda m: m), model=model,
                                 _generate_single_turn=generate)


def test_rollouts_run_with_the_adapter_merged_and_bf16_weights(monkeypatch):
    import sqlgrpo.stages.train as train_module

    monkeypatch.setattr(train_module, "precision", lambda bf16: "bf16-autocast" if bf16 else "fp32")
    model, seen = _FakePeft(), []
    trainer = _fake_trainer(model, seen)
    args = type("Args", (), {"fsdp": None, "deepspeed_plugin": None})()
    weights = model.weight.data_ptr()
    assert install_fast_generation(trainer, _stage(bf16=True).section, args) == ["merged LoRA", "bf16 weights"]
    assert trainer._generate_single_turn() == "ids"
    assert seen == [(True, torch.bfloat16)] and model.merged is False  # merged for the rollout, taken out after
    assert model.weight.data_ptr() == weights and model.weight.dtype == torch.float32  # the fp32 weights the loss trains, given back
    with pytest.raises(RuntimeError):
        trainer._generate_single_turn(fail=True)
    assert model.merged is False and model.weight.dtype == torch.float32


@pytest.mark.parametrize("overrides", [{"use_vllm": True}, {"load_in_4bit": True}])
def test_rollouts_are_left_alone_where_a_merge_is_wrong(overrides):
    # vLLM generates with its own engine; a merge into 4-bit weights would round them.
    model, seen = _FakePeft(), []
    trainer = _fake_trainer(model, seen)
    generate = trainer._generate_single_turn
    args = type("Args", (), {"fsdp": None, "deepspeed_plugin": None})()
    assert install_fast_generation(trainer, _stage(bf16=True, **overrides).section, args) == []
    assert trainer._generate_single_turn is generate


def test_bf16_with_a_gpu_needs_no_package():
    # bfloat16 is torch's own: a GPU is all it needs, so this must not raise.
    check_hardware(_stage(bf16=True).section, has_gpu=True)


def test_cpu_demo_config_passes_the_check_without_gpu():
    # The CPU demo asks for no GPU-only option, so it must start on this machine.
    check_hardware(_stage(CPU_DEMO).section, has_gpu=False)


# --- grpo_config_kwargs --------------------------------------------------------------------

def test_reward_weights_follow_the_order_of_reward_setup():
    # TRL pairs reward_funcs[i] with reward_weights[i]; a non-default order must stay paired.
    weights = {"execution_reward": 2.0, "strict_format_reward": 0.0, "soft_format_reward": 0.5}
    funcs, _, names = reward_setup(weights)
    kwargs = grpo_config_kwargs(_stage(reward_weights=weights), has_gpu=False)
    assert names == list(weights)
    assert [f.__name__ for f in funcs] == names  # TRL logs rewards/<function name>/mean
    assert kwargs["reward_weights"] == [weights[n] for n in names]


def test_cpu_demo_kwargs_build_a_grpo_config_that_keeps_every_value(tmp_path):
    # Every key must be a GRPOConfig argument TRL keeps as given (no rename, no silent coercion).
    from trl import GRPOConfig

    kwargs = grpo_config_kwargs(_stage(CPU_DEMO, output_dir=str(tmp_path / "out")), has_gpu=False)
    args = GRPOConfig(**kwargs)
    changed = {k: (v, getattr(args, k)) for k, v in kwargs.items() if getattr(args, k) != v}
    assert changed == {}


def test_warmup_ratio_becomes_a_share_of_max_steps(tmp_path):
    # transformers 5 reads a warmup_steps float below 1 as a ratio: 0.25 of 100 steps is 25 steps.
    from trl import GRPOConfig

    stage = _stage(output_dir=str(tmp_path / "out"), max_steps=100, warmup_ratio=0.25)
    args = GRPOConfig(**grpo_config_kwargs(stage, has_gpu=False))
    assert args.get_warmup_steps(args.max_steps) == 25


@pytest.mark.parametrize("has_gpu, use_cpu", [(False, True), (True, False)])
def test_use_cpu_is_set_exactly_when_there_is_no_gpu(has_gpu, use_cpu):
    # Without it, TRL/accelerate would try CUDA on a CPU machine; with it, a GPU would sit idle.
    assert grpo_config_kwargs(_stage(), has_gpu=has_gpu)["use_cpu"] is use_cpu


@pytest.mark.parametrize("report_to, expected", [
    (["none"], "none"),                          # explicit none
    ([], "none"),                                # an empty list means nothing too
    (["tensorboard", "none"], ["tensorboard"]),  # 'none' beside a real integration is dropped
    (["wandb", ""], ["wandb"]),                  # an empty item (YAML `- `) is dropped
])
def test_report_to_none_handling(report_to, expected):
    assert grpo_config_kwargs(_stage(report_to=report_to), has_gpu=False)["report_to"] == expected


def test_report_to_none_builds_a_config_that_reports_nowhere(tmp_path):
    # TRL turns the string 'none' into no integration at all (not an integration called 'none').
    from trl import GRPOConfig

    stage = _stage(output_dir=str(tmp_path / "out"), report_to=["none"])
    assert GRPOConfig(**grpo_config_kwargs(stage, has_gpu=False)).report_to == []


def test_vllm_colocate_sets_memory_share_and_no_server():
    kwargs = grpo_config_kwargs(_stage(use_vllm=True, vllm_mode="colocate", vllm_gpu_memory_utilization=0.4,
                                       bf16=True), has_gpu=True)
    assert (kwargs["use_vllm"], kwargs["vllm_mode"], kwargs["vllm_gpu_memory_utilization"]) == (True, "colocate", 0.4)
    # Colocated vLLM runs in-process: a server address would be meaningless.
    assert "vllm_server_host" not in kwargs and "vllm_server_port" not in kwargs


def test_vllm_server_sets_address_and_no_memory_share():
    kwargs = grpo_config_kwargs(_stage(use_vllm=True, vllm_mode="server", vllm_server_host="10.0.0.2",
                                       vllm_server_port=8123, bf16=True), has_gpu=True)
    assert (kwargs["use_vllm"], kwargs["vllm_mode"]) == (True, "server")
    assert (kwargs["vllm_server_host"], kwargs["vllm_server_port"]) == ("10.0.0.2", 8123)
    # The server owns its GPU memory (`trl vllm-serve`), the trainer must not claim a share of it.
    assert "vllm_gpu_memory_utilization" not in kwargs


def test_no_vllm_fields_without_vllm():
    # TRL's default (use_vllm False) must win: generation through transformers.
    assert not any(k.startswith("vllm") or k == "use_vllm" for k in grpo_config_kwargs(_stage(), has_gpu=False))


@pytest.mark.parametrize("mode", ["colocate", "server"])
def test_vllm_context_is_capped_to_max_seq_length(mode):
    # Otherwise vLLM reserves KV cache for the model's whole context (32k tokens for Qwen2.5).
    kwargs = grpo_config_kwargs(_stage(use_vllm=True, vllm_mode=mode, max_seq_length=1536, bf16=True), has_gpu=True)
    assert kwargs["vllm_max_model_length"] == 1536


def test_gpu_config_asks_for_bf16_on_the_gpu():
    # Not constructed: GRPOConfig refuses bf16 with use_cpu False on a machine without CUDA.
    kwargs = grpo_config_kwargs(_stage(bf16=True, use_vllm=True), has_gpu=True)
    assert (kwargs["bf16"], kwargs["use_cpu"]) == (True, False)


@pytest.mark.parametrize("overrides", [
    {},
    {"use_vllm": True, "vllm_mode": "colocate", "bf16": True, "load_in_4bit": True},
    {"use_vllm": True, "vllm_mode": "server", "bf16": True},
], ids=["cpu", "gpu-colocate", "gpu-server"])
def test_every_key_is_a_grpo_config_field(overrides):
    # The GPU dicts cannot be constructed here, but a misspelled key would fail on the GPU box.
    from trl import GRPOConfig

    fields = {f.name for f in dataclasses.fields(GRPOConfig)}
    assert set(grpo_config_kwargs(_stage(**overrides), has_gpu=True)) - fields == set()


# --- quantization_config and lora_config ---------------------------------------------------

def test_no_quantization_without_load_in_4bit():
    assert quantization_config(_stage().section) is None


def test_load_in_4bit_builds_an_nf4_config():
    # QLoRA: 4-bit NF4 with double quantization, computing in bfloat16.
    from transformers import BitsAndBytesConfig

    q = quantization_config(_stage(load_in_4bit=True).section)
    assert isinstance(q, BitsAndBytesConfig)
    assert (q.load_in_4bit, q.load_in_8bit, q.bnb_4bit_quant_type) == (True, False, "nf4")
    assert q.bnb_4bit_use_double_quant is True and q.bnb_4bit_compute_dtype == torch.bfloat16


def test_4bit_weights_are_stored_as_bf16():
    # FSDP shards one dtype: 4-bit weights packed in bf16 storage shard like the bf16 ones.

    assert quantization_config(_stage(load_in_4bit=True).section).bnb_4bit_quant_storage == torch.bfloat16


def test_lora_config_carries_rank_alpha_dropout_and_targets():
    from peft import LoraConfig

    cfg = _stage(lora_r=8, lora_alpha=16, lora_dropout=0.1, lora_target_modules=["q_proj", "v_proj"]).section
    lora = lora_config(cfg)
    assert isinstance(lora, LoraConfig)
    assert (lora.r, lora.lora_alpha, lora.lora_dropout) == (8, 16, 0.1)
    assert set(lora.target_modules) == {"q_proj", "v_proj"}  # PEFT stores the list as a set
    assert lora.task_type == "CAUSAL_LM"


# --- last_complete_checkpoint --------------------------------------------------------------

COMPLETE_FILES = (*CHECKPOINT_REQUIRED, "adapter_model.safetensors")


def _checkpoint(out: Path, step: int, *, missing: tuple[str, ...] = (), state: str | None = None,
                weights: str = "adapter_model.safetensors") -> Path:
    """A fake `checkpoint-<step>` with the files a resume needs, except `missing`."""
    folder = out / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    for name in (*CHECKPOINT_REQUIRED, weights):
        if name in missing:
            continue
        text = state if (name == "trainer_state.json" and state is not None) else (
            json.dumps({"global_step": step}) if name == "trainer_state.json" else "x")
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_picks_the_newest_complete_checkpoint_by_number(tmp_path):
    # Numeric order: checkpoint-10 is newer than checkpoint-9 although "9" > "1" as text.
    for step in (2, 9, 10):
        _checkpoint(tmp_path, step)
    assert last_complete_checkpoint(tmp_path) == tmp_path / "checkpoint-10"


@pytest.mark.parametrize("missing", COMPLETE_FILES)
def test_skips_a_newer_checkpoint_missing_a_file(tmp_path, missing):
    # A kill during save leaves the newest checkpoint without some file: resume from the one before.
    _checkpoint(tmp_path, 2)
    _checkpoint(tmp_path, 3, missing=(missing,))
    assert last_complete_checkpoint(tmp_path) == tmp_path / "checkpoint-2"


def test_skips_a_checkpoint_with_a_truncated_trainer_state(tmp_path):
    # trainer_state.json is written last and not atomically: half of it is not a checkpoint.
    _checkpoint(tmp_path, 2)
    _checkpoint(tmp_path, 3, state='{"global_step": 3, "log_hi')
    assert last_complete_checkpoint(tmp_path) == tmp_path / "checkpoint-2"


def test_full_model_weights_count_as_weights(tmp_path):
    # A run without LoRA saves model.safetensors instead of an adapter; that checkpoint is complete.
    _checkpoint(tmp_path, 4, weights="model.safetensors")
    assert last_complete_checkpoint(tmp_path) == tmp_path / "checkpoint-4"


def test_skipped_checkpoint_is_named_in_a_warning(tmp_path, caplog):
    # The user should learn why the newest folder was not used.
    _checkpoint(tmp_path, 1)
    _checkpoint(tmp_path, 2, missing=("optimizer.pt",))
    with caplog.at_level("WARNING", logger="sqlgrpo.stages.train"):
        last_complete_checkpoint(tmp_path)
    assert any("checkpoint-2" in r.getMessage() and r.levelname == "WARNING" for r in caplog.records)


def test_only_partial_checkpoints_gives_none(tmp_path):
    _checkpoint(tmp_path, 5, missing=("scheduler.pt",))
    assert last_complete_checkpoint(tmp_path) is None


def test_empty_output_dir_gives_none(tmp_path):
    assert last_complete_checkpoint(tmp_path) is None


def test_missing_output_dir_gives_none(tmp_path):
    # The first `--resume` of a run that never started: nothing to resume, no error.
    assert last_complete_checkpoint(tmp_path / "never-created") is None


def test_folders_not_named_checkpoint_n_are_ignored(tmp_path):
    # runs/ (TensorBoard), final_adapter/, a hand-named copy, and a *file* named checkpoint-7.
    for name in ("runs", FINAL_ADAPTER, "checkpoint-final", "checkpoint-3-backup"):
        (tmp_path / name).mkdir()
        for f in COMPLETE_FILES:
            (tmp_path / name / f).write_text("{}", encoding="utf-8")
    (tmp_path / "checkpoint-7").write_text("not a folder", encoding="utf-8")
    assert last_complete_checkpoint(tmp_path) is None


# --- install_step_timers -------------------------------------------------------------------

class _FakeTrainer:
    """What install_step_timers needs of TRL's GRPOTrainer: the timed methods and _metrics."""

    def __init__(self):
        self._metrics = {"train": __import__("collections").defaultdict(list), "eval": {}}

    def _generate_single_turn(self, *args):
        return "generated"

    def _calculate_rewards(self, *args):
        return "scored"

    def training_step(self, *args):
        return self._generate_single_turn() + "+" + self._calculate_rewards()


def test_step_timers_log_each_timed_method():
    trainer = _FakeTrainer()
    install_step_timers(trainer)
    assert trainer.training_step() == "generated+scored"  # the wrapped methods still return their values
    assert {key: len(v) for key, v in trainer._metrics["train"].items()} == {key: 1 for _, key in TIMED_METHODS}


@pytest.mark.parametrize("missing", [name for name, _ in TIMED_METHODS])
def test_a_renamed_trl_method_is_an_error_not_a_silent_skip(missing):
    # Were TRL to rename a timed method, the timings would vanish from the logs unseen: refuse.
    class Renamed(_FakeTrainer):
        pass

    setattr(Renamed, missing, None)
    with pytest.raises(TrainError, match=rf"no {missing} to time.*trl=="):
        install_step_timers(Renamed())


def test_a_trainer_without_metrics_is_an_error():
    trainer = _FakeTrainer()
    del trainer._metrics
    with pytest.raises(TrainError, match=r"no _metrics\['train'\]"):
        install_step_timers(trainer)


# --- read_records --------------------------------------------------------------------------

def test_broken_json_names_file_and_physical_line(tmp_path):
    # The blank line 2 is skipped but still counted, so the editor's line number is reported.
    path = _write_lines(tmp_path / "train.jsonl", [_record(1), "", '{"sql_prompt": "q", '])
    with pytest.raises(RecordsError, match=rf"{re.escape(str(path))}, line 3: not JSON"):
        read_records(path)


def test_missing_field_names_file_line_and_field(tmp_path):
    row = _record(2)
    del row["sql"]
    path = _write_lines(tmp_path / "train.jsonl", [_record(1), row])
    with pytest.raises(RecordsError, match=rf"{re.escape(str(path))}, line 2: missing sql;"):
        read_records(path)


def test_field_of_the_wrong_type_counts_as_missing(tmp_path):
    # A number where the SQL text should be cannot be run by the rewards.
    path = _write_lines(tmp_path / "train.jsonl", [{**_record(), "sql_context": 5}])
    with pytest.raises(RecordsError, match=r"line 1: missing sql_context;"):
        read_records(path)


def test_json_line_that_is_not_an_object_names_file_and_line(tmp_path):
    # `[1, 2]` is JSON but not a record; the error must still name the file and line (and the CLI
    # only catches user errors, so an AttributeError is a traceback).
    path = _write_lines(tmp_path / "train.jsonl", [_record(1), [1, 2]])
    with pytest.raises(RecordsError, match=rf"{re.escape(str(path))}, line 2"):
        read_records(path)


def test_limit_keeps_the_first_records(tmp_path):
    # --max-prompts reads the head of the file, and stops before a broken line further down.
    path = _write_lines(tmp_path / "train.jsonl", [_record(1), _record(2), _record(3), "{broken"])
    assert [r["sql_prompt"] for r in read_records(path, limit=2)] == ["How many pets? (1)", "How many pets? (2)"]


# --- ensure_train_file ---------------------------------------------------------------------

def test_missing_train_file_without_prepare_input_is_an_error(tmp_path):
    # Nothing to prepare from: the error names the file and both ways out.
    path = tmp_path / "data" / "cleaned_train_queries.jsonl"
    with pytest.raises(TrainingError, match=rf"{re.escape(str(path))} does not exist; run `sqlgrpo prepare` first, or set prepare_input"):
        ensure_train_file(_stage(train_file=str(path), prepare_input=None))


def test_missing_train_file_is_prepared_from_the_embedded_sample(tmp_path):
    path = tmp_path / "data" / "cleaned_train_queries.jsonl"
    assert ensure_train_file(_stage(train_file=str(path), prepare_input="embedded")) == path
    # What came out is readable as training records (prepared, not just created).
    assert len(read_records(path)) > TINY_MAX_PROMPTS


def test_existing_train_file_is_used_as_is(tmp_path):
    # prepare_input only fills a gap: an existing file is never re-prepared or overwritten.
    path = _write_lines(tmp_path / "mine.jsonl", [_record(1)])
    before = path.read_bytes()
    assert ensure_train_file(_stage(train_file=str(path), prepare_input="embedded")) == path
    assert path.read_bytes() == before and not (tmp_path / "cleaned_train_queries.jsonl").exists()


def test_prepared_file_under_another_name_is_an_error(tmp_path):
    # prepare always writes cleaned_train_queries.jsonl; a train_file named otherwise stays missing.
    path = tmp_path / "data" / "my_train.jsonl"
    with pytest.raises(TrainingError, match=r"set train_file to .*cleaned_train_queries\.jsonl"):
        ensure_train_file(_stage(train_file=str(path), prepare_input="embedded"))


# --- train: what fails before any data or model is loaded --------------------------------

def test_batch_trl_refuses_fails_before_data_and_model(tmp_path):
    # 3 completions per step cannot form groups of 2. TRL's check runs first: had the data been
    # read first, the error would be the missing train file (prepare_input is None) instead.
    stage = _stage(output_dir=str(tmp_path / "out"), per_device_train_batch_size=3, gradient_accumulation_steps=1,
                   num_generations=2, train_file=str(tmp_path / "missing.jsonl"), prepare_input=None,
                   report_to=["none"])
    with pytest.raises(TrainError, match=r"TRL refused the configuration: .*divisible by num_generations"):
        train(stage)


def test_gpu_option_fails_before_writing_anything(tmp_path):
    # check_hardware is the first thing train does: a CPU machine gets no half-made output folder.
    with pytest.raises(TrainError, match=r"--use-vllm"):
        train(_stage(output_dir=str(tmp_path / "out"), use_vllm=True))
    assert not (tmp_path / "out").exists()


# --- slow: real GRPO runs of the embedded model --------------------------------------------

@dataclass
class Run:
    out: Path        # the run's --output-dir
    data: Path       # folder of the train/eval files
    returncode: int
    log: str         # stdout + stderr

    def tail(self, n: int = 4000) -> str:
        return self.log[-n:]

    def state(self) -> dict:
        return json.loads((self.out / TRAINER_STATE).read_text(encoding="utf-8"))


def _env() -> dict[str, str]:
    env = dict(os.environ)
    # Wide enough that rich does not wrap log lines (paths are asserted in them); no hub calls.
    env.update(COLUMNS="400", HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    # One torch thread: CI and dev boxes share the 2 cores with other jobs, and OpenMP threads
    # spinning for a busy core made a tiny step ~80 s instead of ~11 s (accelerate does the same).
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def _train_args(out: Path, data: Path, max_steps: int) -> list[str]:
    return ["train", "--config", str(CPU_DEMO), "--output-dir", str(out), "--max-steps", str(max_steps),
            *TINY_FLAGS, "--train-file", str(data / "cleaned_train_queries.jsonl"),
            "--eval-file", str(data / "cleaned_eval_queries.jsonl")]


def _run(cmd: list[str], out: Path, data: Path, timeout: float) -> Run:
    done = subprocess.run(cmd, cwd=REPO_ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=timeout)
    return Run(out, data, done.returncode, done.stdout)


def _ok(run: Run) -> None:
    assert run.returncode == 0, run.tail()


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Run:
    """`sqlgrpo train` for 2 tiny steps; the train file does not exist yet (prepare-first path)."""
    tmp = tmp_path_factory.mktemp("train")
    out, data = tmp / "D", tmp / "data"
    return _run([str(VENV_BIN / "sqlgrpo"), *_train_args(out, data, 2)], out, data, TRAIN_TIMEOUT_S)


@pytest.mark.slow
def test_tiny_run_exits_0(tiny_run):
    _ok(tiny_run)


@pytest.mark.slow
def test_tiny_run_prepared_the_missing_train_file_first(tiny_run):
    # cpu-demo has prepare_input: embedded, and the train file in tmp did not exist.
    _ok(tiny_run)
    assert len(read_records(tiny_run.data / "cleaned_train_queries.jsonl")) > TINY_MAX_PROMPTS


@pytest.mark.slow
def test_tiny_run_ran_exactly_max_steps(tiny_run):
    _ok(tiny_run)
    assert tiny_run.state()["global_step"] == 2


@pytest.mark.slow
def test_final_adapter_loads_onto_the_embedded_model(tiny_run):
    from peft import PeftModel

    from sqlgrpo.llm.models import load_model

    _ok(tiny_run)
    model, _ = load_model("embedded", adapter=tiny_run.out / FINAL_ADAPTER)
    assert isinstance(model, PeftModel)
    # The adapter has the config's LoRA rank (cpu-demo: lora_r 16), not PEFT's default of 8.
    assert model.peft_config["default"].r == 16


@pytest.mark.slow
def test_resolved_config_holds_flags_over_file_values(tiny_run):
    _ok(tiny_run)
    text = (tiny_run.out / "resolved_config.yaml").read_text(encoding="utf-8")
    resolved = yaml.safe_load(text)
    train = resolved["train"]
    # Flags override the file ...
    assert (train["max_steps"], train["per_device_train_batch_size"], train["num_generations"]) == (2, 2, 2)
    assert (train["max_completion_length"], train["max_prompts"], train["save_steps"]) == (8, TINY_MAX_PROMPTS, 1)
    assert train["output_dir"] == str(tiny_run.out)
    assert resolved["train_file"] == str(tiny_run.data / "cleaned_train_queries.jsonl")
    # ... and the file overrides the defaults (learning_rate 1e-4 in cpu-demo, 5e-6 by default).
    assert train["learning_rate"] == pytest.approx(1e-4) and resolved["model"] == "embedded"


@pytest.mark.slow
def test_trainer_state_logs_mean_and_std_of_every_reward(tiny_run):
    # All six rewards, weight 0 included (strict_format, schema_linking): TRL still computes them.
    _ok(tiny_run)
    logged = set().union(*tiny_run.state()["log_history"])
    missing = [f"rewards/{n}/{s}" for n in REWARDS for s in ("mean", "std") if f"rewards/{n}/{s}" not in logged]
    assert len(REWARDS) >= 4 and missing == []


@pytest.mark.slow
def test_trainer_state_logs_generation_time(tiny_run):
    # install_step_timers feeds TRL's metrics: every step's log holds each timing, and generation
    # and reward scoring happen inside a micro-step's time budget, not beside it.
    _ok(tiny_run)
    steps = [e for e in tiny_run.state()["log_history"] if "loss" in e or any(k.startswith("rewards/") for k in e)]
    assert len(steps) == 2
    for entry in steps:
        assert {key for _, key in TIMED_METHODS} <= set(entry), sorted(entry)
        assert all(entry[key] > 0 for _, key in TIMED_METHODS)


@pytest.mark.slow
def test_real_checkpoints_count_as_complete(tiny_run):
    # The files CHECKPOINT_REQUIRED names must be the ones transformers really writes.
    _ok(tiny_run)
    assert last_complete_checkpoint(tiny_run.out) == tiny_run.out / "checkpoint-2"


# --- slow: resume after a hard kill --------------------------------------------------------

def _complete(folder: Path) -> bool:
    """Independent of the code under test: trainer_state.json (written last) parses, and the
    optimizer, scheduler and adapter are there."""
    try:
        json.loads((folder / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return all((folder / f).is_file() for f in ("optimizer.pt", "scheduler.pt", "adapter_model.safetensors"))


def _newest_complete(out: Path) -> Path | None:
    found = sorted((int(p.name.split("-")[1]), p) for p in out.glob("checkpoint-*") if p.name.split("-")[1].isdigit())
    return next((p for _, p in reversed(found) if _complete(p)), None)


@dataclass
class ResumeRun:
    killed: Run             # the first run, SIGKILLed after its first complete checkpoint
    expected: Path          # the newest complete checkpoint the kill left behind
    resumed: Run


@pytest.fixture(scope="module")
def resume_run(tmp_path_factory) -> ResumeRun:
    tmp = tmp_path_factory.mktemp("resume")
    out, data = tmp / "D", tmp / "data"
    log_path = tmp / "killed.log"
    cmd = [str(VENV_BIN / "sqlgrpo"), *_train_args(out, data, 4)]
    with open(log_path, "w", encoding="utf-8") as log:  # a file, not a pipe: a full pipe would block the run
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=_env(), stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + RESUME_BUDGET_S
            while proc.poll() is None and time.monotonic() < deadline and _newest_complete(out) is None:
                time.sleep(POLL_S)
        finally:
            proc.send_signal(signal.SIGKILL)  # no-op if it already ended; never left running
            proc.wait(timeout=60)
    killed = Run(out, data, proc.returncode, log_path.read_text(encoding="utf-8"))
    expected = _newest_complete(out)
    if expected is None:
        pytest.fail(f"no complete checkpoint within {RESUME_BUDGET_S} s; log:\n{killed.tail()}")
    # A partial checkpoint newer than any real one: only an empty adapter file.
    (out / "checkpoint-99").mkdir()
    (out / "checkpoint-99" / "adapter_model.safetensors").write_bytes(b"")
    resumed = _run([str(VENV_BIN / "sqlgrpo"), *_train_args(out, data, 4), "--resume"], out, data, TRAIN_TIMEOUT_S)
    return ResumeRun(killed, expected, resumed)


@pytest.mark.slow
def test_kill_landed_before_the_run_finished(resume_run):
    # Otherwise the resume below would prove nothing: killed by our SIGKILL (-9), before step 4.
    assert resume_run.killed.returncode == -signal.SIGKILL, resume_run.killed.tail()
    assert resume_run.expected.name != "checkpoint-4"


@pytest.mark.slow
def test_resumed_run_exits_0(resume_run):
    _ok(resume_run.resumed)


@pytest.mark.slow
def test_resumed_from_the_newest_complete_checkpoint(resume_run):
    # checkpoint-99 is newer by number but partial: the run must go on from the real one.
    _ok(resume_run.resumed)
    assert f"resuming from {resume_run.expected}" in resume_run.resumed.log
    summary = json.loads((resume_run.resumed.out / "train_summary.json").read_text(encoding="utf-8"))
    assert summary["resumed_from"] == str(resume_run.expected)


@pytest.mark.slow
def test_partial_checkpoint_is_reported_as_skipped(resume_run):
    _ok(resume_run.resumed)
    assert "skipping incomplete checkpoint" in resume_run.resumed.log and "checkpoint-99" in resume_run.resumed.log
    assert "resuming from " + str(resume_run.resumed.out / "checkpoint-99") not in resume_run.resumed.log


@pytest.mark.slow
def test_resumed_run_reaches_max_steps(resume_run):
    # It went on from step N to 4 (not 4 more steps, not restarted from 0 and stopped early).
    _ok(resume_run.resumed)
    state = resume_run.resumed.state()
    assert state["global_step"] == 4
    steps = [e["step"] for e in state["log_history"] if "time/generation_s" in e]
    assert steps == [1, 2, 3, 4]  # the checkpoint's history up to N, then the resumed steps


# --- slow: two processes through accelerate ------------------------------------------------

@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory) -> Run:
    """2 CPU processes (gloo) through `accelerate launch`.

    `--cpu --num_processes 2` would start ONE process: accelerate's CPU launcher only goes
    multi-process through mpirun. `--multi_gpu` launches through torch.distributed.run, and the
    run itself picks the CPU (use_cpu: no GPU here). Global batch 2 x 2 processes = 4 completions,
    divisible by num_generations 2 as TRL requires.
    """
    from sqlgrpo.stages.prepare import PrepareOptions, prepare

    tmp = tmp_path_factory.mktemp("accelerate")
    out, data = tmp / "D", tmp / "data"
    # Prepared beforehand: every rank runs ensure_train_file, and two ranks preparing into one
    # folder at once is not what this test is about.
    prepare(PrepareOptions(input="embedded", output_dir=str(data)), progress=False)
    with socket.socket() as s:  # a free rendezvous port: 29500 may be taken by another run on this machine
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [str(VENV_BIN / "accelerate"), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
           "--main_process_port", str(port), "--mixed_precision", "no", "--dynamo_backend", "no",
           "-m", "sqlgrpo.cli", *_train_args(out, data, 2), "--no-log-completions"]
    return _run(cmd, out, data, ACCELERATE_TIMEOUT_S)


@pytest.mark.slow
def test_two_processes_exit_0(two_process_run):
    _ok(two_process_run)


@pytest.mark.slow
def test_two_processes_both_trained(two_process_run):
    # Each rank logs its own start line: one line would mean accelerate started a single process.
    _ok(two_process_run)
    assert two_process_run.log.count(f"GRPO on {TINY_MAX_PROMPTS} prompts") == 2


@pytest.mark.slow
def test_two_processes_form_one_world_of_two(two_process_run):
    # TRL/accelerate joined both ranks into one run (not two independent single-process runs).
    _ok(two_process_run)
    summary = json.loads((two_process_run.out / "train_summary.json").read_text(encoding="utf-8"))
    assert summary["processes"] == 2 and "2 process(es)" in two_process_run.log


@pytest.mark.slow
def test_two_processes_split_the_batch(two_process_run):
    # 8 prompts x 2 completions = 16 per epoch; 2 steps of 2 completions on each of 2 ranks = half
    # an epoch (one process would have covered a quarter).
    _ok(two_process_run)
    state = two_process_run.state()
    assert state["global_step"] == 2
    assert state["log_history"][-1]["epoch"] == pytest.approx(0.5)


@pytest.mark.slow
def test_two_processes_save_one_final_adapter(two_process_run):
    from peft import PeftConfig

    _ok(two_process_run)
    assert PeftConfig.from_pretrained(str(two_process_run.out / FINAL_ADAPTER)).r == 16


def test_on_a_cpu_every_trainer_trims_the_heap_after_each_step(monkeypatch):
    # The freed activations of one step's sequence length stay resident under glibc unless
    # trimmed: a callback trims after every optimizer step on a CPU, none on a GPU or without glibc.
    import ctypes
    import ctypes.util

    from transformers import TrainerCallback  # noqa: F401 - before ctypes.CDLL is faked: torch loads its libraries with it

    from sqlgrpo.stages import training

    trims: list = []

    class FakeLibc:
        def malloc_trim(self, pad):
            trims.append(pad)

    class FakeTrainer:
        def __init__(self):
            self.callbacks: list = []

        def add_callback(self, callback):
            self.callbacks.append(callback)

    monkeypatch.setattr(ctypes, "CDLL", lambda name: FakeLibc())
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: "libc.so.6")
    on_gpu = FakeTrainer()
    assert training.trim_heap_each_step(on_gpu, has_gpu=True) is False and on_gpu.callbacks == []
    trainer = FakeTrainer()
    assert training.trim_heap_each_step(trainer, has_gpu=False) is True
    trims.clear()
    for _ in range(3):
        trainer.callbacks[0].on_step_end(None, None, None)
    assert trims == [0, 0, 0]
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)  # no glibc: nothing to install
    assert training.trim_heap_each_step(FakeTrainer(), has_gpu=False) is False
