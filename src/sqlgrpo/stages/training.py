"""What the three trainer stages (sft, contrastive, train) share: hardware checks, the
TrainingArguments fields they set the same way, the LoRA adapter, the start and the end of a
stage, and the name of the adapter they leave behind.

    out, args, records = start_stage(stage, lambda: SFTConfig(**sft_config_kwargs(stage)), SftError)
    ...  # build the trainer, trainer.train()
    save_final(trainer, tokenizer, out, summary, "sft_summary.json")

Every trainer stage leaves `final_adapter/` (a PEFT adapter with its tokenizer),
`trainer_state.json` (TRL's log history) and a `<stage>_summary.json` in its output folder.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlgrpo.common.errors import SqlgrpoError
from sqlgrpo.common.files import write_json
from sqlgrpo.data.records import read_records
from sqlgrpo.stages.config import StageConfig

log = logging.getLogger(__name__)

FINAL_ADAPTER = "final_adapter"
MERGED_MODEL = "merged"
TRAINER_STATE = "trainer_state.json"

# (section field, package it needs besides a GPU, what it is): each only runs on CUDA.
GPU_OPTIONS = (("use_vllm", "vllm", "vLLM generation"),
               ("load_in_4bit", "bitsandbytes", "4-bit QLoRA"),
               ("use_unsloth", "unsloth", "the Unsloth backend"))
# Unsloth pins older TRL/transformers/datasets than sqlgrpo does, so it cannot be installed beside
# sqlgrpo's pins (pip backtracks to an Unsloth of 2024 that imports a module transformers 5
# removed); it gets an environment of its own, the versions below, read off their metadata.
UNSLOTH_PACKAGES = ("unsloth", "unsloth_zoo")
UNSLOTH_ENVIRONMENT = ("pip install torch==2.13.0 && pip install -r configs/unsloth-requirements.txt && "
                       "pip install --no-deps -e . (unsloth 2026.10.9 with trl 1.15.0, transformers 5.17.0, "
                       "datasets 4.8.5; README.md, \"GPU environments\")")


class TrainingError(SqlgrpoError, RuntimeError):
    """A trainer stage cannot start or go on; the message says why and what to change."""


# --------------------------------------------------------------------------------------------
# Hardware

def gpu_available() -> bool:
    import torch

    return torch.cuda.is_available()


def importable(module: str) -> bool:
    """Whether a package is installed (without importing it: vLLM takes seconds)."""
    return importlib.util.find_spec(module) is not None


def check_hardware(section: Any, error: type[Exception] = TrainingError, *, has_gpu: bool | None = None) -> None:
    """Fail early, naming the option, when a GPU-only option of the section (those it has of
    `GPU_OPTIONS`) meets a machine without a GPU or without the package it needs."""
    has_gpu = gpu_available() if has_gpu is None else has_gpu
    for option, package, what in GPU_OPTIONS:
        if not getattr(section, option, False):
            continue
        flag = "--" + option.replace("_", "-")
        if not has_gpu:
            raise error(f"{flag} ({what}) needs a CUDA GPU and this machine has none; "
                        f"set {option}: false (or use configs/cpu-demo.yaml) to train on the CPU")
        if package and not importable(package):
            install = UNSLOTH_ENVIRONMENT if package == "unsloth" else "pip install -e '.[gpu]'"
            raise error(f"{flag} ({what}) needs the '{package}' package: {install}")



def unsloth_conflicts(packages: tuple[str, ...] = UNSLOTH_PACKAGES) -> list[str]:
    """Where the installed packages break what Unsloth's own metadata requires (its Requires-Dist
    and unsloth_zoo's): e.g. "trl 1.16.0 is installed; unsloth 2026.x needs trl<=1.15". Empty when
    everything fits or Unsloth is not installed."""
    from importlib import metadata

    from packaging.requirements import InvalidRequirement, Requirement

    conflicts = []
    for package in packages:
        try:
            own, requires = metadata.version(package), metadata.requires(package) or []
        except metadata.PackageNotFoundError:
            continue
        for text in requires:
            try:
                req = Requirement(text)
            except InvalidRequirement:
                continue
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue  # an optional extra's requirement, or one for another platform
            try:
                installed = metadata.version(req.name)
            except metadata.PackageNotFoundError:
                continue
            if req.specifier and not req.specifier.contains(installed, prereleases=True):
                conflicts.append(f"{req.name} {installed} is installed; {package} {own} needs {req}")
    return conflicts


def check_unsloth_versions(error: type[Exception] = TrainingError) -> None:
    """Fail before anything loads when the installed TRL/transformers/datasets are not the ones
    Unsloth supports: sqlgrpo's pins are newer than current Unsloth allows, so Unsloth needs an
    environment of its own (README.md, "GPU environments")."""
    conflicts = unsloth_conflicts()
    if conflicts:
        raise error("use_unsloth: the installed packages do not fit Unsloth: " + "; ".join(conflicts)
                    + f". Unsloth needs its own environment: {UNSLOTH_ENVIRONMENT}")

# --------------------------------------------------------------------------------------------
# Precision

def cpu_bf16_supported() -> bool:
    """Whether this CPU has bfloat16 matrix instructions (AVX512_BF16 or AMX), on which oneDNN
    runs bf16 matmuls natively; elsewhere torch emulates them, slower than fp32."""
    import torch

    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")  # torch.cpu, torch >= 2.1
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in probes)


def precision(bf16: bool, *, has_gpu: bool | None = None, cpu_bf16: bool | None = None) -> str:
    """What `bf16: true` means on this machine: "bf16" on a GPU (weights and compute in bf16),
    "bf16-autocast" on a CPU with bf16 instructions (fp32 weights and optimizer, the forward and
    backward under torch.autocast: measured 1.8x faster on 2 AVX512_BF16 cores), "fp32" on any
    other CPU or when bf16 is off."""
    if not bf16:
        return "fp32"
    if gpu_available() if has_gpu is None else has_gpu:
        return "bf16"
    return "bf16-autocast" if (cpu_bf16_supported() if cpu_bf16 is None else cpu_bf16) else "fp32"


def weights_dtype(bf16: bool, *, has_gpu: bool | None = None) -> str | None:
    """The dtype the model's weights load in for training: bf16 on a GPU; on a CPU fp32 (None),
    also under autocast, whose fp32 master weights keep the small LoRA updates."""
    return "bfloat16" if precision(bf16, has_gpu=has_gpu, cpu_bf16=False) == "bf16" else None


def log_precision(bf16: bool) -> None:
    mode = precision(bf16)
    if bf16 and mode == "fp32":
        log.warning("bf16: this CPU has no bfloat16 instructions (AVX512_BF16 or AMX), where bf16 would be "
                    "slower than fp32: training in fp32")
    else:
        log.info("precision: %s", {"bf16": "bfloat16 on the GPU",
                                   "bf16-autocast": "bfloat16 autocast on the CPU (AVX512_BF16/AMX), fp32 weights",
                                   "fp32": "float32"}[mode])


# --------------------------------------------------------------------------------------------
# Memory on a CPU

def _malloc_trim() -> Callable[[int], Any] | None:
    """glibc's malloc_trim, or None where there is no glibc (macOS, musl). The lookup runs
    `ldconfig`: look it up once, not at every step."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return getattr(libc, "malloc_trim", None) if libc is not None else None


def trim_heap() -> bool:
    """Hand the heap's free pages back to the system (glibc's malloc_trim(0), over every arena);
    False where there is no glibc, where it does nothing."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
    return trim is not None


def trim_heap_each_step(trainer: Any, *, has_gpu: bool | None = None) -> bool:
    """On a CPU, trim the heap after every optimizer step (`trim_heap`): each step allocates
    activations and logits of another sequence length, and glibc keeps the freed blocks resident,
    so the resident memory climbs with the steps (the demo's SFT: 1.9 GB after its first step,
    4.6 GB after 30; trimmed, 3.3 GB after 20, for ~9% more time). Not on a GPU, where the
    activations live in CUDA's own allocator, nor without glibc. Returns whether it is installed."""
    trim = None if (gpu_available() if has_gpu is None else has_gpu) else _malloc_trim()
    if trim is None:
        return False
    from transformers import TrainerCallback

    class TrimHeap(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            trim(0)

    trainer.add_callback(TrimHeap())
    return True


# --------------------------------------------------------------------------------------------
# How the run is distributed (read off TRL's config, which is built before the model loads)

def zero3_enabled(args: Any) -> bool:
    """Whether the run shards its weights with DeepSpeed ZeRO-3. transformers builds the
    DeepSpeed plugin inside TrainingArguments (from `--deepspeed` or the ACCELERATE_* variables
    `accelerate launch` sets), so this holds as soon as TRL's config exists."""
    plugin = getattr(args, "deepspeed_plugin", None)
    return plugin is not None and getattr(plugin, "zero_stage", None) == 3


def fsdp_enabled(args: Any) -> bool:
    """Whether the run shards its weights with FSDP (`--fsdp` or an accelerate FSDP config)."""
    return bool(getattr(args, "fsdp", None)) or os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true"


def weights_sharded(args: Any) -> bool:
    """Whether the run shards the weights across processes (DeepSpeed ZeRO-3 or FSDP)."""
    return zero3_enabled(args) or fsdp_enabled(args)


def pin_reentrant_checkpointing(args: Any) -> None:
    """PEFT under ZeRO-3 with activation checkpointing needs reentrant checkpointing (TRL issue
    #2514; DeepSpeed PR #8130). TRL's trainers force `use_reentrant=True` into
    `gradient_checkpointing_kwargs`, but in transformers 5.24 that name is a deprecated alias that
    TrainingArguments resolved when it was built, and the Trainer reads only
    `activation_checkpointing_kwargs`, whose default is `use_reentrant=False`: TRL's setting is
    lost. Both names get one shared dict here, so TRL's later edit lands on it too."""
    if not (zero3_enabled(args) and getattr(args, "activation_checkpointing", False)):
        return
    kwargs = {**(getattr(args, "activation_checkpointing_kwargs", None) or {}), "use_reentrant": True}
    args.activation_checkpointing_kwargs = kwargs
    args.gradient_checkpointing_kwargs = kwargs


def keeps_adapter_dtype(args: Any, quantized: bool) -> bool:
    """Whether a saved adapter must be loaded in the base model's dtype instead of PEFT's default
    fp32 (`autocast_adapter_dtype=False`): under ZeRO-3 a bf16 base beside fp32 LoRA weights fails
    with a TypeError at the first optimizer step (DeepSpeed issue #8072). TRL does the same for
    the adapters it creates; for QLoRA it casts them itself, so the default stays there."""
    return zero3_enabled(args) and not quantized


# --------------------------------------------------------------------------------------------
# Configuration objects (unit-tested without a GPU)

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
        bf16=precision(cfg.bf16, has_gpu=has_gpu) != "fp32",  # on a CPU: accelerate's bf16 autocast
        use_cpu=not has_gpu,
        # TRL turns activation checkpointing on by default: a third more compute per step, which a
        # small model on CPU pays for nothing. Off unless the section asks for it.
        activation_checkpointing=cfg.gradient_checkpointing,
    )


def lora_config(cfg: Any) -> Any:
    """A fresh LoRA adapter as a section's lora_* fields describe it (sft, contrastive, train)."""
    from peft import LoraConfig

    return LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=list(cfg.lora_target_modules), task_type="CAUSAL_LM", bias="none")


# --------------------------------------------------------------------------------------------
# Data

def ensure_train_file(stage: StageConfig, error: type[Exception] = TrainingError) -> Path:
    """The train file, prepared first from `prepare_input` when it does not exist yet. Under
    several processes the main one prepares while the others wait, then find the file."""
    from accelerate import PartialState

    with PartialState().main_process_first():
        return _ensure_train_file(stage, error)


def _ensure_train_file(stage: StageConfig, error: type[Exception]) -> Path:
    shared = stage.shared
    path = Path(shared.train_file)
    if path.is_file():
        return path
    if not shared.prepare_input:
        raise error(f"training file {path} does not exist; run `sqlgrpo prepare` first, or set "
                    f"prepare_input (e.g. 'embedded') in the config to prepare it automatically")
    from sqlgrpo.stages.prepare import PrepareOptions, prepare

    log.info("training file %s does not exist yet: preparing %s first", path, shared.prepare_input)
    prepare(PrepareOptions(input=shared.prepare_input, output_dir=str(path.parent), backend=shared.backend,
                           seed=shared.seed), progress=True)
    if not path.is_file():
        raise error(f"prepare wrote no {path.name} into {path.parent}; set train_file to "
                    f"{path.parent}/cleaned_train_queries.jsonl")
    return path


# --------------------------------------------------------------------------------------------
# Start and end of a stage

def start_stage(stage: StageConfig, make_args: Callable[[], Any], error: type[Exception],
                limit: int | None = None) -> tuple[Path, Any, list[dict]]:
    """The common start of a trainer stage: refuse GPU-only options without a GPU, write the
    resolved config into the output folder, build TRL's config with `make_args` (its ValueError
    raised as `error`: TRL checks batch sizes, which should fail before minutes of loading), and
    read at most `limit` training records. Returns (output folder, TRL config, records)."""
    cfg = stage.section
    check_hardware(cfg, error)
    log_precision(cfg.bf16)
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    stage.write(out)
    try:
        args = make_args()
    except ValueError as e:
        raise error(f"TRL refused the configuration: {e}") from None
    pin_reentrant_checkpointing(args)
    return out, args, read_records(ensure_train_file(stage, error), limit)


def save_final(trainer: Any, tokenizer: Any, out: Path, summary: dict, summary_name: str, *,
               merge_onto: str | None = None, merge_dtype: str | None = None) -> None:
    """The end of a trainer stage: the adapter in out/final_adapter (saved on every process:
    DeepSpeed/FSDP gather the weights there), then, on the main process, its tokenizer,
    trainer_state.json, the base model `merge_onto` with the adapter merged into out/merged
    when given (`merge_adapter`), and the stage's summary file."""
    trainer.save_model(str(out / FINAL_ADAPTER))
    if not trainer.is_world_process_zero():
        return
    tokenizer.save_pretrained(str(out / FINAL_ADAPTER))
    trainer.state.save_to_json(str(out / TRAINER_STATE))
    if merge_onto is not None:
        summary["merged"] = str(merge_adapter(merge_onto, out / FINAL_ADAPTER, out / MERGED_MODEL, dtype=merge_dtype))
    write_json(out / summary_name, summary)


def merge_adapter(model: str, adapter: str | Path, target: str | Path, *, dtype: str | None = None) -> Path:
    """Save `model` with `adapter` merged into it as a plain checkpoint folder `target`.

    The merge is made from the saved adapter on a fresh copy of the base model in host RAM, not
    on the trained model: under ZeRO-3 or FSDP the main process holds only its shard of the
    weights, and a QLoRA model's base is 4-bit, which a merge would round; the fresh base is
    loaded in `dtype` (the training's, bfloat16 or float32) instead."""
    from sqlgrpo.llm.models import load_model

    merged, tokenizer = load_model(model, adapter=adapter, dtype=dtype, device_map="cpu")
    merged = merged.merge_and_unload()
    merged.save_pretrained(str(target))
    tokenizer.save_pretrained(str(target))
    log.info("saved %s with %s merged into %s", model, adapter, target)
    return Path(target)
