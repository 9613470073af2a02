"""The `train` stage: GRPO with TRL's GRPOTrainer and a LoRA adapter (PEFT), rewards by execution.

    sqlgrpo train --config configs/cpu-demo.yaml --max-steps 2 --output-dir outputs/try
    accelerate launch --num_processes 2 -m sqlgrpo.cli train --config configs/gpu-7b.yaml

The same code runs the embedded model on 2 CPU cores and Qwen2.5-Coder-7B on several GPUs
(vLLM generation, 4-bit QLoRA, Unsloth, DeepSpeed/FSDP through accelerate): GPU-only options
fail early, with a message, on a machine without one.

Outputs in the output folder: `resolved_config.yaml` (at the start), `checkpoint-N/` every
`save_steps` (at most `save_total_limit`), TensorBoard logs in `runs/` (transformers' default under output_dir), and at the end
`final_adapter/` (a PEFT adapter), `trainer_state.json` (TRL's log history: `rewards/<name>/mean`
and `/std` per reward, loss, KL, timings) and, when asked, `merged/`.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

from sqlgrpo.stages.config import StageConfig, TrainConfig
from sqlgrpo.scoring.rewards import get_reward

log = logging.getLogger(__name__)

CHECKPOINT_PATTERN = re.compile(r"^checkpoint-(\d+)$")
# What a checkpoint must hold to be resumed from; a kill during save leaves some of it missing.
CHECKPOINT_REQUIRED = ("trainer_state.json", "optimizer.pt", "scheduler.pt")
CHECKPOINT_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin", "model.safetensors", "pytorch_model.bin")
FINAL_ADAPTER = "final_adapter"
TRAINER_STATE = "trainer_state.json"


class TrainError(RuntimeError):
    """The run cannot start or go on; the message says why and what to change."""


# --------------------------------------------------------------------------------------------
# Hardware checks and configuration objects (unit-tested without a GPU)

def gpu_available() -> bool:
    import torch

    return torch.cuda.is_available()


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def check_hardware(cfg: TrainConfig, *, has_gpu: bool | None = None) -> None:
    """Fail early, naming the option, when a GPU-only option meets a machine without a GPU or
    without the package it needs."""
    has_gpu = gpu_available() if has_gpu is None else has_gpu
    needs = [("use_vllm", cfg.use_vllm, "vllm", "vLLM generation"),
             ("load_in_4bit", cfg.load_in_4bit, "bitsandbytes", "4-bit QLoRA"),
             ("use_unsloth", cfg.use_unsloth, "unsloth", "the Unsloth backend"),
             ("bf16", cfg.bf16, None, "bfloat16 training")]
    for option, wanted, package, what in needs:
        if not wanted:
            continue
        if not has_gpu:
            raise TrainError(f"--{option.replace('_', '-')} ({what}) needs a CUDA GPU and this machine has none; "
                             f"set {option}: false (or use configs/cpu-demo.yaml) to train on the CPU")
        if package and not _importable(package):
            raise TrainError(f"--{option.replace('_', '-')} ({what}) needs the '{package}' package: "
                             f"pip install -e '.[gpu]'{' unsloth' if package == 'unsloth' else ''}")


def reward_setup(weights: dict[str, float]) -> tuple[list[Callable], list[float], list[str]]:
    """Reward functions, their weights and names, in one order; unknown names list the valid."""
    names = list(weights)
    return [get_reward(n) for n in names], [float(weights[n]) for n in names], names


def trainer_kwargs(stage: StageConfig, *, has_gpu: bool | None = None) -> dict[str, Any]:
    """The TrainingArguments fields every training stage (sft, contrastive, train) sets the same
    way from its section: steps, schedule, batch, logging, checkpoints, seed, device."""
    shared, cfg = stage.shared, stage.section
    has_gpu = gpu_available() if has_gpu is None else has_gpu
    report_to = [r for r in cfg.report_to if r and r != "none"]
    return dict(
        output_dir=cfg.output_dir,
        max_steps=cfg.max_steps,
        learning_rate=cfg.learning_rate,
        lr_scheduler_type=cfg.lr_scheduler_type,
        warmup_steps=cfg.warmup_ratio,  # transformers 5: a float in [0, 1) is a ratio of max_steps
        per_device_train_batch_size=cfg.per_device_train_batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        logging_steps=cfg.logging_steps,
        save_strategy="steps",
        save_steps=cfg.save_steps,
        save_total_limit=cfg.save_total_limit,
        report_to=report_to or "none",
        seed=shared.seed,
        bf16=cfg.bf16,
        use_cpu=not has_gpu,
        # TRL turns activation checkpointing on by default: a third more compute per step, which a
        # small model on CPU pays for nothing. Off unless the section asks for it.
        activation_checkpointing=cfg.gradient_checkpointing,
    )


def grpo_config_kwargs(stage: StageConfig, *, has_gpu: bool | None = None) -> dict[str, Any]:
    """The keyword arguments of TRL's GRPOConfig for this run (a plain dict, testable on CPU)."""
    shared, cfg = stage.shared, stage.section
    _, weights, _ = reward_setup(cfg.reward_weights)
    kwargs: dict[str, Any] = dict(
        **trainer_kwargs(stage, has_gpu=has_gpu),
        num_generations=cfg.num_generations,
        max_completion_length=cfg.max_completion_length,
        temperature=cfg.temperature,
        top_p=cfg.top_p,
        beta=cfg.beta,
        loss_type=cfg.loss_type,
        scale_rewards=cfg.scale_rewards,
        num_iterations=cfg.num_iterations,
        epsilon=cfg.epsilon,
        reward_weights=weights,
        log_completions=cfg.log_completions,
        num_completions_to_print=2,
        remove_unused_columns=False,  # the rewards read the dataset's sql / sql_context columns
    )
    if cfg.use_vllm:
        # vllm_max_model_length: otherwise vLLM reserves KV cache for the model's full context (32k)
        kwargs.update(use_vllm=True, vllm_mode=cfg.vllm_mode, vllm_max_model_length=shared.max_seq_length)
        if cfg.vllm_mode == "colocate":
            kwargs.update(vllm_gpu_memory_utilization=cfg.vllm_gpu_memory_utilization)
        else:
            kwargs.update(vllm_server_host=cfg.vllm_server_host, vllm_server_port=cfg.vllm_server_port)
    return kwargs


def lora_config(cfg: Any) -> Any:
    """A fresh LoRA adapter as a section's lora_* fields describe it (sft, contrastive, train)."""
    from peft import LoraConfig

    return LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=list(cfg.lora_target_modules), task_type="CAUSAL_LM", bias="none")


def quantization_config(cfg: TrainConfig) -> Any:
    """The 4-bit NF4 config of QLoRA, or None."""
    if not cfg.load_in_4bit:
        return None
    import torch
    from transformers import BitsAndBytesConfig

    # quant_storage bf16: lets FSDP shard the 4-bit weights like the bf16 ones (QLoRA + FSDP)
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=torch.bfloat16, bnb_4bit_quant_storage=torch.bfloat16)


# --------------------------------------------------------------------------------------------
# Checkpoints

def _is_complete(checkpoint: Path) -> bool:
    if not all((checkpoint / name).is_file() for name in CHECKPOINT_REQUIRED):
        return False
    if not any((checkpoint / name).is_file() for name in CHECKPOINT_WEIGHTS):
        return False
    try:
        json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return True


def last_complete_checkpoint(output_dir: str | Path) -> Path | None:
    """The newest `checkpoint-N` that holds everything a resume needs; a checkpoint left
    half-written by a kill during save is skipped (with a warning)."""
    out = Path(output_dir)
    if not out.is_dir():
        return None
    found = sorted(((int(m.group(1)), p) for p in out.iterdir() if p.is_dir() and (m := CHECKPOINT_PATTERN.match(p.name))),
                   reverse=True)
    for step, path in found:
        if _is_complete(path):
            return path
        log.warning("skipping incomplete checkpoint %s (interrupted while saving?)", path)
    return None


# --------------------------------------------------------------------------------------------
# Data

def ensure_train_file(stage: StageConfig) -> Path:
    """The train file, prepared first from `prepare_input` when it does not exist yet. Under
    several processes the main one prepares while the others wait, then find the file."""
    from accelerate import PartialState

    with PartialState().main_process_first():
        return _ensure_train_file(stage)


def _ensure_train_file(stage: StageConfig) -> Path:
    shared = stage.shared
    path = Path(shared.train_file)
    if path.is_file():
        return path
    if not shared.prepare_input:
        raise TrainError(f"training file {path} does not exist; run `sqlgrpo prepare` first, or set "
                         f"prepare_input (e.g. 'embedded') in the config to prepare it automatically")
    from sqlgrpo.stages.prepare import PrepareOptions, prepare

    log.info("training file %s does not exist yet: preparing %s first", path, shared.prepare_input)
    prepare(PrepareOptions(input=shared.prepare_input, output_dir=str(path.parent), backend=shared.backend,
                           seed=shared.seed), progress=True)
    if not path.is_file():
        raise TrainError(f"prepare wrote no {path.name} into {path.parent}; set train_file to "
                         f"{path.parent}/cleaned_train_queries.jsonl")
    return path


def read_records(path: str | Path, limit: int | None = None) -> list[dict]:
    """Prepared records from a JSONL file (the `prepare` stage's output)."""
    records = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as e:
                raise TrainError(f"{path}, line {number}: not JSON ({e}); is it a prepared file?") from None
            if not isinstance(record, dict):
                raise TrainError(f"{path}, line {number}: a JSON {type(record).__name__}, not an object; is it a "
                                 f"prepared file?")
            missing = [k for k in ("sql_prompt", "sql_context", "sql") if not isinstance(record.get(k), str)]
            if missing:
                raise TrainError(f"{path}, line {number}: missing {', '.join(missing)}; prepare the data with "
                                 f"`sqlgrpo prepare` first")
            records.append(record)
            if limit is not None and len(records) >= limit:
                break
    return records


# --------------------------------------------------------------------------------------------
# Callbacks

def _trainer_metrics(trainer: Any) -> dict[str, list]:
    # GRPOTrainer averages what is in its _metrics["train"] into the next log entry, beside the
    # rewards: the one place where our own per-step numbers land in trainer_state.json too.
    metrics = getattr(trainer, "_metrics", None)
    return metrics["train"] if metrics is not None else defaultdict(list)


def install_step_timers(trainer: Any) -> None:
    """Time generation and reward scoring inside each step, logged as `time/*_s` beside the
    rewards; what remains of the step (`time/step_s`) is the loss forward and backward."""
    def timed(method: Callable, key: str) -> Callable:
        @functools.wraps(method)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                _trainer_metrics(trainer)[key].append(time.perf_counter() - start)
        return wrapper

    for attr, key in (("_generate_single_turn", "time/generation_s"), ("_calculate_rewards", "time/rewards_s"),
                      ("training_step", "time/micro_step_s")):
        if hasattr(trainer, attr):
            setattr(trainer, attr, timed(getattr(trainer, attr), key))


def heldout_callback(trainer_ref: dict, records: list[dict], tokenizer: Any, stage: StageConfig) -> Any:
    """Every `heldout_steps`, greedy answers on a fixed held-out subset, scored for execution
    accuracy and strict format compliance; logged as `heldout/*` beside the rewards."""
    from transformers import TrainerCallback

    from sqlgrpo.llm.generation import generate_answers
    from sqlgrpo.scoring.rewards import execution_reward, strict_format_reward

    cfg = stage.section

    class HeldoutCheck(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if not cfg.heldout_steps or state.global_step % cfg.heldout_steps or not records:
                return control
            trainer = trainer_ref["trainer"]
            if state.is_world_process_zero:
                model = trainer.accelerator.unwrap_model(trainer.model)
                answers = generate_answers(model, tokenizer, [r["prompt"] for r in records],
                                           max_new_tokens=cfg.max_completion_length, batch_size=8)
                texts = [a[0].text for a in answers]
                kw = {"sql": [r["sql"] for r in records], "sql_context": [r["sql_context"] for r in records],
                      "backend": [stage.shared.backend] * len(records)}
                execution = [s for s in execution_reward(texts, **kw) if s is not None]
                fmt = strict_format_reward(texts)
                metrics = _trainer_metrics(trainer)
                metrics["heldout/execution_accuracy"].append(
                    sum(1 for s in execution if s >= 1.0) / len(execution) if execution else 0.0)
                metrics["heldout/format_compliance"].append(sum(fmt) / len(fmt))
            return control

    return HeldoutCheck()


# --------------------------------------------------------------------------------------------
# The run

def start_stage(stage: StageConfig, make_args: Callable[[], Any], error: type[Exception]) -> tuple[Path, Any, list[dict]]:
    """The common start of the sft and contrastive stages: refuse bf16 without a GPU, write the
    resolved config into the output folder, build TRL's config with `make_args` (its ValueError
    raised as `error`), and read the training records. Returns (output folder, TRL config, records)."""
    cfg = stage.section
    if cfg.bf16 and not gpu_available():
        raise error("--bf16 needs a CUDA GPU and this machine has none; set bf16: false")
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    stage.write(out)
    try:
        args = make_args()
    except ValueError as e:
        raise error(f"TRL refused the configuration: {e}") from None
    return out, args, read_records(ensure_train_file(stage), cfg.max_questions)


def save_final(trainer: Any, tokenizer: Any, out: Path, summary: dict, summary_name: str) -> None:
    """The end of a training stage: the adapter in out/final_adapter (saved on every process:
    DeepSpeed/FSDP gather the weights there), then, on the main process, its tokenizer,
    trainer_state.json and the stage's summary file."""
    trainer.save_model(str(out / FINAL_ADAPTER))
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(str(out / FINAL_ADAPTER))
        trainer.state.save_to_json(str(out / TRAINER_STATE))
        (out / summary_name).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")


def _weights_sharded(args: Any) -> bool:
    """Whether the run shards the weights across processes (DeepSpeed ZeRO-3 or FSDP)."""
    import os

    from transformers.integrations import is_deepspeed_zero3_enabled

    return (is_deepspeed_zero3_enabled() or bool(getattr(args, "fsdp", None))
            or os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true")


def _load_policy(stage: StageConfig) -> tuple[Any, Any, Any]:
    """(model, tokenizer, peft_config for the trainer or None when the model has its adapter)."""
    shared, cfg = stage.shared, stage.section
    if cfg.use_unsloth:
        from unsloth import FastLanguageModel  # GPU only; checked by check_hardware

        model, tokenizer = FastLanguageModel.from_pretrained(
            model_name=shared.model, max_seq_length=shared.max_seq_length, load_in_4bit=cfg.load_in_4bit,
            fast_inference=cfg.use_vllm)
        model = FastLanguageModel.get_peft_model(
            model, r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
            target_modules=list(cfg.lora_target_modules), use_gradient_checkpointing="unsloth",
            random_state=shared.seed)
        return model, tokenizer, None
    from sqlgrpo.llm.models import load_model

    dtype = "bfloat16" if cfg.bf16 else None
    model, tokenizer = load_model(shared.model, adapter=cfg.init_adapter, for_training=True, dtype=dtype,
                                  quantization_config=quantization_config(cfg))
    if cfg.load_in_4bit:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg.gradient_checkpointing)
    if cfg.init_adapter:
        log.info("starting from adapter %s", cfg.init_adapter)
        return model, tokenizer, None
    return model, tokenizer, lora_config(cfg)


def train(stage: StageConfig) -> dict:
    """Run GRPO as configured; returns a summary (also what the CLI prints)."""
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from sqlgrpo.llm.prompts import prompt_records

    shared, cfg = stage.shared, stage.section
    check_hardware(cfg)
    reward_funcs, _, names = reward_setup(cfg.reward_weights)
    out = Path(cfg.output_dir)
    resume_from = None
    if cfg.resume:
        resume_from = last_complete_checkpoint(out)
        if resume_from is None:
            log.warning("--resume: no complete checkpoint in %s; starting from scratch", out)
        else:
            log.info("resuming from %s", resume_from)
    stage.write(out)

    # TRL's config first: it sets up the distributed state (DeepSpeed ZeRO-3 must know before the
    # model loads) and checks batch sizes, which should fail before minutes of loading.
    try:
        args = GRPOConfig(**grpo_config_kwargs(stage))
    except ValueError as e:
        raise TrainError(f"TRL refused the configuration: {e}") from None
    train_path = ensure_train_file(stage)
    records = read_records(train_path, cfg.max_prompts)
    model, tokenizer, peft_config = _load_policy(stage)
    budget = shared.max_seq_length - cfg.max_completion_length
    if budget <= 0:
        raise TrainError(f"max_seq_length ({shared.max_seq_length}) leaves no room for prompts after "
                         f"max_completion_length ({cfg.max_completion_length})")
    kept, dropped = prompt_records(records, tokenizer, budget, template=shared.system_prompt, backend=shared.backend,
                                   include_inserts=shared.include_inserts)
    if not kept:
        raise TrainError(f"no training prompt fits in {budget} tokens ({dropped} dropped); raise max_seq_length "
                         f"or lower max_completion_length")
    columns = ("prompt", "sql", "sql_context")
    dataset = Dataset.from_list([{**{k: r[k] for k in columns}, "backend": shared.backend} for r in kept])

    heldout: list[dict] = []
    if cfg.heldout_steps and _weights_sharded(args):
        log.warning("heldout_steps is ignored under DeepSpeed ZeRO-3 / FSDP: generating on one process "
                    "would wait forever for the others to gather the sharded weights")
    elif cfg.heldout_steps:
        eval_path = Path(shared.eval_file)
        if eval_path.is_file():
            heldout, _ = prompt_records(read_records(eval_path, cfg.heldout_samples), tokenizer, budget,
                                        template=shared.system_prompt, backend=shared.backend,
                                        include_inserts=shared.include_inserts)
        else:
            log.warning("heldout_steps is set but %s does not exist: no held-out check", eval_path)

    trainer_ref: dict[str, Any] = {}
    callbacks = [heldout_callback(trainer_ref, heldout, tokenizer, stage)] if heldout else []
    trainer = GRPOTrainer(model=model, processing_class=tokenizer, reward_funcs=reward_funcs, args=args,
                          train_dataset=dataset, peft_config=peft_config, callbacks=callbacks)
    trainer_ref["trainer"] = trainer
    install_step_timers(trainer)
    log.info("GRPO on %d prompts (%d dropped as too long), %d steps, %d process(es), rewards %s", len(kept), dropped,
             cfg.max_steps, args.world_size, ", ".join(f"{n}={w}" for n, w in cfg.reward_weights.items()))

    start = time.perf_counter()
    trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    seconds = time.perf_counter() - start

    summary: dict[str, Any] = {"output_dir": str(out), "steps": trainer.state.global_step, "seconds": round(seconds, 1),
                               "processes": args.world_size,
                               "prompts": len(kept), "prompts_dropped": dropped, "resumed_from": str(resume_from or "")}
    trainer.save_model(str(out / FINAL_ADAPTER))  # on every process: DeepSpeed/FSDP gather the weights here
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(str(out / FINAL_ADAPTER))
        trainer.state.save_to_json(str(out / TRAINER_STATE))
        if cfg.merge_final:
            merged = trainer.accelerator.unwrap_model(trainer.model).merge_and_unload()
            merged.save_pretrained(str(out / "merged"))
            tokenizer.save_pretrained(str(out / "merged"))
        summary["final_adapter"] = str(out / FINAL_ADAPTER)
        summary["last_log"] = next((e for e in reversed(trainer.state.log_history) if any(k.startswith("rewards/") for k in e)), {})
        (out / "train_summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary
