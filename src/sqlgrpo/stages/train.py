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

import contextlib
import functools
import json
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlgrpo.data.records import read_records
from sqlgrpo.scoring.rewards import get_reward
from sqlgrpo.scoring.suites import TEST_SUITE_FIELD, record_suite
from sqlgrpo.stages.config import StageConfig, TrainConfig
from sqlgrpo.stages.training import (FINAL_ADAPTER, TRAINER_STATE, TrainingError, check_unsloth_versions, fsdp_enabled,
                                     keeps_adapter_dtype, lora_config, precision, save_final, start_stage, trainer_kwargs,
                                     trim_heap_each_step, weights_dtype, weights_sharded)

log = logging.getLogger(__name__)

CHECKPOINT_PATTERN = re.compile(r"^checkpoint-(\d+)$")
# What a checkpoint must hold to be resumed from; a kill during save leaves some of it missing.
# transformers 5.24 (Trainer._save_optimizer_and_scheduler) writes one of three formats:
# - one process or plain data parallelism: optimizer.pt, scheduler.pt and the weights;
# - FSDP (accelerate's save_fsdp_optimizer / save_fsdp_model): optimizer.bin, or a folder
#   optimizer_0/ with a sharded state dict, scheduler.pt, and the weights (the adapter, or
#   pytorch_model_fsdp.bin / a pytorch_model_fsdp_0/ folder);
# - DeepSpeed (engine.save_checkpoint): a folder global_stepN/ with the model and optimizer
#   states (the scheduler's too), and a file `latest` naming that folder, written last.
SCHEDULER_FILE = "scheduler.pt"
CHECKPOINT_REQUIRED = (TRAINER_STATE, "optimizer.pt", SCHEDULER_FILE)
CHECKPOINT_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin", "model.safetensors", "pytorch_model.bin")
FSDP_OPTIMIZER_FILE, FSDP_OPTIMIZER_DIR = "optimizer.bin", "optimizer_0"
FSDP_WEIGHTS = ("pytorch_model_fsdp.bin", "pytorch_model_fsdp_0")
DEEPSPEED_LATEST = "latest"
TESTED_TRL = "1.16.0"  # the TRL whose private GRPOTrainer methods the step timers wrap
# Methods of TRL's GRPOTrainer timed inside each step, and the log key of each.
TIMED_METHODS = (("_generate_single_turn", "time/generation_s"), ("_calculate_rewards", "time/rewards_s"),
                 ("training_step", "time/micro_step_s"))


class TrainError(TrainingError):
    """The run cannot start or go on; the message says why and what to change."""


# --------------------------------------------------------------------------------------------
# Configuration objects (unit-tested without a GPU)

def reward_setup(weights: dict[str, float]) -> tuple[list[Callable], list[float], list[str]]:
    """Reward functions, their weights and names, in one order; unknown names list the valid."""
    names = list(weights)
    return [get_reward(n) for n in names], [float(weights[n]) for n in names], names


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

def checkpoint_format(checkpoint: Path) -> str | None:
    """Which format a checkpoint folder holds completely ("plain", "fsdp" or "deepspeed", see
    CHECKPOINT_REQUIRED), or None when no format is complete (a kill during save)."""
    try:
        json.loads((checkpoint / TRAINER_STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    weights = any((checkpoint / name).is_file() for name in CHECKPOINT_WEIGHTS)
    if all((checkpoint / name).is_file() for name in CHECKPOINT_REQUIRED) and weights:
        return "plain"
    fsdp_optimizer = (checkpoint / FSDP_OPTIMIZER_FILE).is_file() or (checkpoint / FSDP_OPTIMIZER_DIR).is_dir()
    fsdp_weights = weights or any((checkpoint / name).exists() for name in FSDP_WEIGHTS)
    if fsdp_optimizer and fsdp_weights and (checkpoint / SCHEDULER_FILE).is_file():
        return "fsdp"
    if _deepspeed_states_complete(checkpoint):
        return "deepspeed"
    return None


def _deepspeed_states_complete(checkpoint: Path) -> bool:
    try:
        tag = (checkpoint / DEEPSPEED_LATEST).read_text(encoding="utf-8").strip()
    except OSError:
        return False
    states = checkpoint / tag
    if not tag or states.parent != checkpoint or not states.is_dir():
        return False
    return any(states.glob("*model_states.pt")) and any(states.glob("*optim_states.pt"))


def last_complete_checkpoint(output_dir: str | Path) -> Path | None:
    """The newest `checkpoint-N` that holds everything a resume needs in one of the formats
    transformers writes (`checkpoint_format`); a checkpoint left half-written by a kill during
    save is skipped (with a warning)."""
    out = Path(output_dir)
    if not out.is_dir():
        return None
    found = sorted(((int(m.group(1)), p) for p in out.iterdir() if p.is_dir() and (m := CHECKPOINT_PATTERN.match(p.name))),
                   reverse=True)
    for _step, path in found:
        if checkpoint_format(path) is not None:
            return path
        log.warning("skipping incomplete checkpoint %s (interrupted while saving?)", path)
    return None


# --------------------------------------------------------------------------------------------
# Callbacks

def _trainer_metrics(trainer: Any) -> dict[str, list]:
    """The per-step numbers GRPOTrainer averages into its next log entry, beside the rewards:
    the one place where our own numbers land in trainer_state.json too. An error, not a silent
    no-op, when TRL no longer has it: the timings and the held-out check would vanish unseen."""
    metrics = getattr(trainer, "_metrics", None)
    if not isinstance(metrics, dict) or "train" not in metrics:
        raise TrainError("TRL's GRPOTrainer has no _metrics['train'] to log step timings and the held-out check "
                         f"into; sqlgrpo is tested with trl=={TESTED_TRL}: install that version")
    return metrics["train"]


def install_step_timers(trainer: Any) -> None:
    """Time generation and reward scoring inside each step, logged as `time/*_s` beside the
    rewards; what remains of the step (`time/micro_step_s`) is the loss forward and backward.
    Raises when TRL renamed a timed method (the timings would silently stop)."""
    missing = [attr for attr, _ in TIMED_METHODS if not callable(getattr(trainer, attr, None))]
    if missing:
        raise TrainError(f"TRL's GRPOTrainer has no {', '.join(missing)} to time; sqlgrpo is tested with "
                         f"trl=={TESTED_TRL}: install that version")
    _trainer_metrics(trainer)  # now, not at the first step

    def timed(method: Callable, key: str) -> Callable:
        @functools.wraps(method)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                _trainer_metrics(trainer)[key].append(time.perf_counter() - start)
        return wrapper

    for attr, key in TIMED_METHODS:
        setattr(trainer, attr, timed(getattr(trainer, attr), key))


def install_fast_generation(trainer: Any, cfg: TrainConfig, args: Any) -> list[str]:
    """Make TRL's rollouts (transformers generation) cheaper without changing the algorithm:
    the LoRA adapter merged into the weights while the policy samples and taken out after
    (`merged_adapter`: no per-layer low-rank matmuls), and, on a CPU with bf16 instructions under
    `bf16: true`, the (merged) weights held in bf16 while the policy samples (`bf16_weights`: the
    loss's autocast recasts fp32 weights at every decoded token; ~1.3x faster). Not with vLLM (its own
    engine), QLoRA (a merge rounds into 4-bit weights) or sharded weights (no process holds them
    whole). Returns what it turned on, for the log."""
    from sqlgrpo.llm.generation import bf16_weights, can_merge_adapter, merged_adapter

    if cfg.use_vllm or cfg.load_in_4bit or weights_sharded(args):
        return []
    model = trainer.accelerator.unwrap_model(trainer.model)
    merge = can_merge_adapter(model)
    in_bf16 = precision(cfg.bf16) == "bf16-autocast"
    if not merge and not in_bf16:
        return []
    generate = trainer._generate_single_turn

    @functools.wraps(generate)
    def fast(*a: Any, **k: Any) -> Any:
        with contextlib.ExitStack() as stack:
            if merge:  # merged in fp32 first, then cast: the bf16 weights carry the adapter
                stack.enter_context(merged_adapter(model))
            if in_bf16:
                stack.enter_context(bf16_weights(model))
            return generate(*a, **k)

    trainer._generate_single_turn = fast
    return [what for what, on in (("merged LoRA", merge), ("bf16 weights", in_bf16)) if on]


def heldout_callback(trainer_ref: dict, records: list[dict], tokenizer: Any, stage: StageConfig) -> Any:
    """Every `heldout_steps`, greedy answers on a fixed held-out subset, scored with the eval
    stage's own metrics (execution accuracy and format compliance over every answer); logged as
    `heldout/*` beside the rewards."""
    from transformers import TrainerCallback

    from sqlgrpo.llm.generation import generate_answers, merged_adapter
    from sqlgrpo.scoring.metrics import heldout_metrics

    cfg = stage.section

    class HeldoutCheck(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if not cfg.heldout_steps or state.global_step % cfg.heldout_steps or not records:
                return control
            trainer = trainer_ref["trainer"]
            if state.is_world_process_zero:
                model = trainer.accelerator.unwrap_model(trainer.model)
                with merged_adapter(model):
                    answers = generate_answers(model, tokenizer, [r["prompt"] for r in records],
                                               max_new_tokens=cfg.max_completion_length, batch_size=8)
                measured = heldout_metrics([a[0].text for a in answers], records, stage.shared.backend)
                logged = _trainer_metrics(trainer)
                for name, value in measured.items():
                    logged[f"heldout/{name}"].append(value)
            return control

    return HeldoutCheck()


# --------------------------------------------------------------------------------------------
# The run

def check_combinations(cfg: TrainConfig, args: Any) -> None:
    """Refuse, before the model loads, the GPU combinations that crash later in TRL or Unsloth;
    `args` is TRL's config, which knows how the run is distributed."""
    if cfg.load_in_4bit and cfg.use_vllm and not cfg.use_unsloth:
        # TRL starts vLLM with quantization="bitsandbytes" when it sees 4-bit layers, then after
        # each step pushes the merged packed 4-bit weights without their quantization state
        # (trl generation/vllm_generation.py, sync_weights; TRL issue #4973, open in trl 1.16).
        raise TrainError("load_in_4bit (QLoRA) with use_vllm crashes at TRL's first weight sync to vLLM "
                         "(huggingface/trl#4973): set use_vllm: false (configs/gpu-7b-qlora.yaml does) "
                         "or train in bf16 without load_in_4bit")
    if cfg.use_vllm and fsdp_enabled(args):
        # TRL's FSDP1 path sends vLLM the LoRA model's own parameter names (base_model.model.*,
        # *.base_layer.*, the lora_A/B weights) and merges the adapter on sharded weights; TRL marks
        # it "TODO: does this work with FSDP?" (vllm_generation.py, _iter_named_params).
        raise TrainError("use_vllm under FSDP with a LoRA adapter fails in TRL's weight sync to vLLM (no module "
                         "'base_model' in vLLM); use DeepSpeed ZeRO-3 (configs/accelerate/deepspeed_zero3.yaml) "
                         "for LoRA with vLLM, or FSDP with use_vllm: false")
    if cfg.use_unsloth and cfg.init_adapter:
        raise TrainError("init_adapter with use_unsloth is not supported: Unsloth makes its own LoRA adapter "
                         "(FastLanguageModel.get_peft_model) and would ignore it; merge the adapter into the base "
                         "model first (sqlgrpo train --merge-final leaves DIR/merged) and pass that as model, or "
                         "set use_unsloth: false")


def import_unsloth_first(cfg: TrainConfig) -> None:
    """Import Unsloth before TRL when it is asked for: it patches TRL's trainers (and parts of
    transformers and PEFT) as it is imported, so a GRPOTrainer imported earlier is TRL's own,
    which starts a second vLLM engine beside Unsloth's and never uses Unsloth's kernels."""
    if not cfg.use_unsloth:
        return
    import sys

    check_unsloth_versions(TrainError)
    early = [m for m in ("trl", "transformers", "peft") if m in sys.modules]
    if early:
        log.warning("%s imported before Unsloth: Unsloth's patches may not all apply (run through the "
                    "sqlgrpo command, which imports Unsloth first)", ", ".join(early))
    import unsloth  # noqa: F401  (GPU only; checked by check_hardware and check_unsloth_versions)


def _load_policy(stage: StageConfig, args: Any) -> tuple[Any, Any, Any]:
    """(model, tokenizer, peft_config for the trainer or None when the model has its adapter)."""
    shared, cfg = stage.shared, stage.section
    if cfg.use_unsloth:
        from unsloth import FastLanguageModel  # imported first by import_unsloth_first

        from sqlgrpo.llm.vllm_generation import max_lora_rank

        # fast_inference: Unsloth's own vLLM engine (model.vllm_engine), which its patched
        # GRPOTrainer generates with instead of starting TRL's (unsloth 2026.10.9,
        # rl_replacements.py); the one memory share goes to it, and a LoRA rank vLLM accepts
        # (Unsloth's default, 64, would waste memory on a rank-16 adapter and refuse a rank-128).
        vllm = dict(gpu_memory_utilization=cfg.vllm_gpu_memory_utilization,
                    max_lora_rank=max_lora_rank(cfg.lora_r)) if cfg.use_vllm else {}
        model, tokenizer = FastLanguageModel.from_pretrained(
            model_name=shared.model, max_seq_length=shared.max_seq_length, load_in_4bit=cfg.load_in_4bit,
            fast_inference=cfg.use_vllm, **vllm)
        model = FastLanguageModel.get_peft_model(
            model, r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
            target_modules=list(cfg.lora_target_modules), use_gradient_checkpointing="unsloth",
            random_state=shared.seed)
        return model, tokenizer, None
    from sqlgrpo.llm.models import load_model

    dtype = weights_dtype(cfg.bf16)
    model, tokenizer = load_model(shared.model, adapter=cfg.init_adapter, for_training=True, dtype=dtype,
                                  quantization_config=quantization_config(cfg),
                                  autocast_adapter_dtype=not keeps_adapter_dtype(args, cfg.load_in_4bit))
    if cfg.load_in_4bit:
        if weights_sharded(args):
            # prepare_model_for_kbit_training casts every bf16 parameter that is not 4-bit (norms,
            # embeddings, lm_head) to fp32; ZeRO-3 and FSDP1 cannot shard one unit of mixed dtypes.
            # What else it does is done anyway: PEFT freezes the base, TRL enables input gradients.
            log.info("QLoRA under ZeRO-3/FSDP: the non-quantized layers stay in bf16 (no fp32 upcast)")
        else:
            from peft import prepare_model_for_kbit_training

            model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg.gradient_checkpointing)
    if cfg.init_adapter:
        log.info("starting from adapter %s", cfg.init_adapter)
        return model, tokenizer, None
    return model, tokenizer, lora_config(cfg)


def train(stage: StageConfig) -> dict:
    """Run GRPO as configured; returns a summary (also what the CLI prints)."""
    from datasets import Dataset

    from sqlgrpo.llm.prompts import prompt_records

    shared, cfg = stage.shared, stage.section
    reward_funcs, _, _ = reward_setup(cfg.reward_weights)
    out = Path(cfg.output_dir)
    resume_from = None
    if cfg.resume:
        resume_from = last_complete_checkpoint(out)
        if resume_from is None:
            log.warning("--resume: no complete checkpoint in %s; starting from scratch", out)
        else:
            log.info("resuming from %s", resume_from)

    def grpo_config() -> Any:
        # After start_stage's hardware check and before anything imports TRL: Unsloth, if asked for.
        import_unsloth_first(cfg)
        from trl import GRPOConfig

        return GRPOConfig(**grpo_config_kwargs(stage))

    # TRL's config before the model: it sets up the distributed state (DeepSpeed ZeRO-3 must know
    # before the model loads) and checks batch sizes.
    out, args, records = start_stage(stage, grpo_config, TrainError, cfg.max_prompts)
    check_combinations(cfg, args)
    model, tokenizer, peft_config = _load_policy(stage, args)
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
    # The suite goes with each prompt, so that GRPO is rewarded as eval measures (an empty list
    # where a record has none: one column type for the whole dataset).
    dataset = Dataset.from_list([{**{k: r[k] for k in columns}, "backend": shared.backend,
                                  TEST_SUITE_FIELD: list(record_suite(r))} for r in kept])

    heldout: list[dict] = []
    if cfg.heldout_steps and weights_sharded(args):
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

    from trl import GRPOTrainer

    trainer_ref: dict[str, Any] = {}
    callbacks = [heldout_callback(trainer_ref, heldout, tokenizer, stage)] if heldout else []
    trainer = GRPOTrainer(model=model, processing_class=tokenizer, reward_funcs=reward_funcs, args=args,
                          train_dataset=dataset, peft_config=peft_config, callbacks=callbacks)
    trainer_ref["trainer"] = trainer
    fast = install_fast_generation(trainer, cfg, args)  # before the timers: they time what runs
    if fast:
        log.info("rollouts generated with %s", " and ".join(fast))
    install_step_timers(trainer)
    trim_heap_each_step(trainer)
    log.info("GRPO on %d prompts (%d dropped as too long), %d steps, %d process(es), rewards %s", len(kept), dropped,
             cfg.max_steps, args.world_size, ", ".join(f"{n}={w}" for n, w in cfg.reward_weights.items()))

    start = time.perf_counter()
    trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    seconds = time.perf_counter() - start

    summary: dict[str, Any] = {"output_dir": str(out), "steps": trainer.state.global_step, "seconds": round(seconds, 1),
                               "processes": args.world_size,
                               "prompts": len(kept), "prompts_dropped": dropped, "resumed_from": str(resume_from or "")}
    summary["final_adapter"] = str(out / FINAL_ADAPTER)
    summary["last_log"] = next((e for e in reversed(trainer.state.log_history)
                                if any(k.startswith("rewards/") for k in e)), {})
    save_final(trainer, tokenizer, out, summary, "train_summary.json",
               merge_onto=shared.model if cfg.merge_final else None, merge_dtype=weights_dtype(cfg.bf16))
    return summary
