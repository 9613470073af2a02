"""The `sft` stage: a supervised warm-up on gold answers in the target format.

    sqlgrpo sft --config configs/cpu-demo.yaml --max-steps 2
    sqlgrpo train --config configs/cpu-demo.yaml --init-adapter outputs/sft/final_adapter

A small base model may never write the `<reasoning>`/`<sql>` tags (the embedded one wrote them 0
times in 16 tries), so every completion of a GRPO group scores the same and GRPO learns nothing.
This stage trains a LoRA adapter with TRL's SFTTrainer on prompt/completion pairs: the prompt the
other stages use, and as completion the gold in the target format with a short reasoning built
from the query's tables and columns (`sqlgrpo.prompts.target_answer`); the loss is on the
completion only. Outputs: `resolved_config.yaml`, checkpoints, `final_adapter/`,
`trainer_state.json`.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from .config import StageConfig

log = logging.getLogger(__name__)

FINAL_ADAPTER = "final_adapter"


class SftError(RuntimeError):
    """The stage cannot run; the message says why and what to change."""


def sft_examples(records: list[dict], *, backend: str = "sqlite", template: str | None = None,
                 include_inserts: bool = False) -> list[dict]:
    """TRL prompt/completion examples (conversational) for the supervised warm-up."""
    from .prompts import build_messages, target_answer

    return [{"prompt": build_messages(r, template=template, backend=backend, include_inserts=include_inserts),
             "completion": [{"role": "assistant", "content": target_answer(r["sql"], r["sql_context"], backend)}]}
            for r in records]


def sft_config_kwargs(stage: StageConfig, *, has_gpu: bool | None = None) -> dict[str, Any]:
    """TRL SFTConfig keyword arguments for this run (testable without a GPU)."""
    from .train import gpu_available

    shared, cfg = stage.shared, stage.section
    has_gpu = gpu_available() if has_gpu is None else has_gpu
    report_to = [r for r in cfg.report_to if r and r != "none"]
    return dict(output_dir=cfg.output_dir, max_steps=cfg.max_steps, learning_rate=cfg.learning_rate,
                lr_scheduler_type=cfg.lr_scheduler_type, warmup_steps=cfg.warmup_ratio,
                per_device_train_batch_size=cfg.per_device_train_batch_size,
                gradient_accumulation_steps=cfg.gradient_accumulation_steps, max_length=shared.max_seq_length,
                completion_only_loss=True, logging_steps=cfg.logging_steps, save_strategy="steps",
                save_steps=cfg.save_steps, save_total_limit=cfg.save_total_limit, report_to=report_to or "none",
                seed=shared.seed, bf16=cfg.bf16, use_cpu=not has_gpu)


def run_sft(stage: StageConfig) -> dict:
    """Train the warm-up adapter; returns a summary."""
    from datasets import Dataset
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    from .models import load_model
    from .train import ensure_train_file, gpu_available, read_records

    shared, cfg = stage.shared, stage.section
    if cfg.bf16 and not gpu_available():
        raise SftError("--bf16 needs a CUDA GPU and this machine has none; set bf16: false")
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    stage.write(out)
    try:
        args = SFTConfig(**sft_config_kwargs(stage))
    except ValueError as e:
        raise SftError(f"TRL refused the configuration: {e}") from None
    records = read_records(ensure_train_file(stage), cfg.max_questions)
    examples = sft_examples(records, backend=shared.backend, template=shared.system_prompt,
                            include_inserts=shared.include_inserts)
    model, tokenizer = load_model(shared.model, for_training=True, dtype="bfloat16" if cfg.bf16 else None)
    peft_config = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                             target_modules=list(cfg.lora_target_modules), task_type="CAUSAL_LM", bias="none")
    trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(examples),
                         processing_class=tokenizer, peft_config=peft_config)
    log.info("SFT on %d examples, %d steps", len(examples), cfg.max_steps)
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    trainer.save_model(str(out / FINAL_ADAPTER))
    summary = {"output_dir": str(out), "examples": len(examples), "steps": trainer.state.global_step,
               "seconds": round(seconds, 1), "final_adapter": str(out / FINAL_ADAPTER)}
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(str(out / FINAL_ADAPTER))
        trainer.state.save_to_json(str(out / "trainer_state.json"))
        (out / "sft_summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary
