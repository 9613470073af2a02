"""The `sft` stage: a supervised warm-up on gold answers in the target format.

    sqlgrpo sft --config configs/cpu-demo.yaml --max-steps 2
    sqlgrpo train --config configs/cpu-demo.yaml --init-adapter outputs/sft/final_adapter

A small base model may never write the `<reasoning>`/`<sql>` tags (the embedded one wrote them 0
times in 16 tries), so every completion of a GRPO group scores the same and GRPO learns nothing.
This stage trains a LoRA adapter with TRL's SFTTrainer on prompt/completion pairs: the prompt the
other stages use, and as completion the gold in the target format with a short reasoning built
from the query's tables and columns (`sqlgrpo.scoring.answers.target_answer`); the loss is on the
completion only. Outputs: `resolved_config.yaml`, checkpoints, `final_adapter/`,
`trainer_state.json`.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from sqlgrpo.llm.prompts import build_messages
from sqlgrpo.scoring.answers import target_answer
from sqlgrpo.stages.config import StageConfig
from sqlgrpo.stages.training import (FINAL_ADAPTER, TrainingError, lora_config, save_final, start_stage, trainer_kwargs,
                                     trim_heap_each_step, weights_dtype)

log = logging.getLogger(__name__)


class SftError(TrainingError):
    """The stage cannot run; the message says why and what to change."""


def sft_examples(records: list[dict], *, backend: str = "sqlite", template: str | None = None,
                 include_inserts: bool = False) -> list[dict]:
    """TRL prompt/completion examples (conversational) for the supervised warm-up."""
    return [{"prompt": build_messages(r, template=template, backend=backend, include_inserts=include_inserts),
             "completion": [{"role": "assistant", "content": target_answer(r["sql"], r["sql_context"], backend)}]}
            for r in records]


def sft_config_kwargs(stage: StageConfig, *, has_gpu: bool | None = None) -> dict[str, Any]:
    """TRL SFTConfig keyword arguments for this run (testable without a GPU)."""
    return dict(**trainer_kwargs(stage, has_gpu=has_gpu), max_length=stage.shared.max_seq_length,
                completion_only_loss=True)


def run_sft(stage: StageConfig) -> dict:
    """Train the warm-up adapter; returns a summary."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from sqlgrpo.llm.models import load_model

    shared, cfg = stage.shared, stage.section
    out, args, records = start_stage(stage, lambda: SFTConfig(**sft_config_kwargs(stage)), SftError, cfg.max_questions)
    examples = sft_examples(records, backend=shared.backend, template=shared.system_prompt,
                            include_inserts=shared.include_inserts)
    model, tokenizer = load_model(shared.model, for_training=True, dtype=weights_dtype(cfg.bf16))
    trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(examples),
                         processing_class=tokenizer, peft_config=lora_config(cfg))
    trim_heap_each_step(trainer)
    log.info("SFT on %d examples, %d steps", len(examples), cfg.max_steps)
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    summary = {"output_dir": str(out), "examples": len(examples), "steps": trainer.state.global_step,
               "seconds": round(seconds, 1), "final_adapter": str(out / FINAL_ADAPTER)}
    save_final(trainer, tokenizer, out, summary, "sft_summary.json")
    return summary
