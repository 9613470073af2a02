"""The `contrastive` stage: the right query against the almost-right one, learned with DPO.

    sqlgrpo contrastive --config configs/cpu-demo.yaml --max-steps 2
    sqlgrpo train --config configs/cpu-demo.yaml --init-adapter outputs/contrastive/final_adapter

For each training question, the chosen answer is the gold in the `<reasoning>`/`<sql>` format
(a short reasoning built from its tables and columns) and each rejected answer is a verified
near-miss in the same format: one sqlglot AST edit away from the gold and checked by execution
to give another outcome (`sqlgrpo.scoring.near_misses`, verified with the metric's own verdict),
or another question's gold on the same schema whose outcome differs. With the record's test
suite (`sqlgrpo.scoring.suites`), an edit or another gold that agrees with the gold on the shown
database but not on a variant is a rejected answer too (kind `suite_proven`), and comes first:
nothing in the prompt's rows tells it from the gold. TRL's DPOTrainer trains a
LoRA adapter on these pairs (this module is the one place that builds a DPOTrainer); with a PEFT
model the reference is the base model with the adapter switched off.

Outputs in the output folder: `preferences.jsonl` (TRL's prompt/chosen/rejected plus the kind
of negative, the edit that made it and the question id, for inspection), `resolved_config.yaml`, checkpoints, `final_adapter/`
and `trainer_state.json`.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from sqlgrpo.common.files import write_jsonl
from sqlgrpo.llm.prompts import build_messages
from sqlgrpo.scoring.answers import target_answer
from sqlgrpo.scoring.near_misses import SUITE_PROVEN, near_misses
from sqlgrpo.scoring.near_misses import question_contrast as other_question_negatives
from sqlgrpo.scoring.suites import record_suite
from sqlgrpo.stages.config import StageConfig
from sqlgrpo.stages.training import (FINAL_ADAPTER, TrainingError, keeps_adapter_dtype, lora_config, save_final, start_stage,
                                     trainer_kwargs, trim_heap_each_step, weights_dtype)

log = logging.getLogger(__name__)

PREFERENCES_FILE = "preferences.jsonl"


class ContrastiveError(TrainingError):
    """The stage cannot run; the message says why and what to change."""


def build_preferences(records: list[dict], *, backend: str = "sqlite", pairs_per_question: int = 2,
                      question_contrast: bool = True, template: str | None = None, include_inserts: bool = False,
                      progress: bool = True) -> list[dict]:
    """Preference pairs (prompt, chosen, rejected, kind, edit, id) in TRL's conversational format:
    per question its near-misses first (one of each kind in turn, a suite-proven one leading each
    round), then other questions' golds, `pairs_per_question` in all. Each record's test suite
    (`record_suite`) decides which negatives are suite-proven."""
    from tqdm.auto import tqdm

    suites = [record_suite(record) for record in records]
    others: dict[str, list[dict]] = {}
    if question_contrast:
        for item in other_question_negatives(records, backend=backend, suites=suites):
            others.setdefault(str(item["id"]), []).append(item)
    pairs = []
    for record, suite in tqdm(zip(records, suites), total=len(records), desc="near-misses", unit="question",
                              disable=not progress):
        gold, context = record["sql"], record["sql_context"]
        negatives = _round_robin(near_misses(gold, context, backend, suite=suite))[:pairs_per_question]
        negatives += others.get(str(record.get("id")), [])[:max(pairs_per_question - len(negatives), 0)]
        if not negatives:
            continue
        prompt = build_messages(record, template=template, backend=backend, include_inserts=include_inserts)
        chosen = [{"role": "assistant", "content": target_answer(gold, context, backend)}]
        for negative in negatives:
            pairs.append({"prompt": prompt, "chosen": chosen,
                          "rejected": [{"role": "assistant", "content": target_answer(negative["sql"], context, backend)}],
                          "kind": negative["kind"], "edit": negative.get("edit", negative["kind"]),
                          "id": str(record.get("id", ""))})
    return pairs


def kind_counts(pairs: list[dict]) -> dict[str, int]:
    """Preference pairs per kind of negative (an edit's name, `suite_proven`, `other_question`),
    sorted by kind: what the stage logs and writes into its summary."""
    kinds: dict[str, int] = {}
    for pair in pairs:
        kinds[pair["kind"]] = kinds.get(pair["kind"], 0) + 1
    return dict(sorted(kinds.items()))


def _round_robin(items: list[dict]) -> list[dict]:
    """Near-misses interleaved by kind (one of each kind, then the seconds, ...), so that a small
    quota mixes kinds instead of taking the registry's first ones every time; suite-proven ones
    lead each round, being the hardest negatives (they agree with the gold on the prompt's rows)."""
    by_kind: dict[str, list[dict]] = {SUITE_PROVEN: []}
    for item in items:
        by_kind.setdefault(item["kind"], []).append(item)
    out = []
    while any(by_kind.values()):
        for queue in by_kind.values():
            if queue:
                out.append(queue.pop(0))
    return out


def dpo_config_kwargs(stage: StageConfig, *, has_gpu: bool | None = None) -> dict[str, Any]:
    """TRL DPOConfig keyword arguments for this run (testable without a GPU)."""
    cfg = stage.section
    losses = {"loss_type": [cfg.loss_type]}
    if cfg.sft_weight > 0:
        # Plain DPO on a small model lowers the chosen answer's likelihood too (only the margin is
        # rewarded); in the demo that cost the format it had learned in SFT (32 -> 12 of 45).
        losses = {"loss_type": [cfg.loss_type, "sft"], "loss_weights": [1.0, cfg.sft_weight]}
    return dict(**trainer_kwargs(stage, has_gpu=has_gpu), beta=cfg.beta, **losses,
                max_length=stage.shared.max_seq_length)


def run_contrastive(stage: StageConfig, *, progress: bool = True) -> dict:
    """Build the preference pairs, write them, train DPO; returns a summary."""
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    from sqlgrpo.llm.models import load_model

    shared, cfg = stage.shared, stage.section
    out, args, records = start_stage(stage, lambda: DPOConfig(**dpo_config_kwargs(stage)), ContrastiveError,
                                     cfg.max_questions)
    pairs = build_preferences(records, backend=shared.backend, pairs_per_question=cfg.pairs_per_question,
                              question_contrast=cfg.question_contrast, template=shared.system_prompt,
                              include_inserts=shared.include_inserts, progress=progress)
    write_jsonl(out / PREFERENCES_FILE, pairs)
    if not pairs:
        raise ContrastiveError(f"no preference pair could be built from {len(records)} questions (no verified "
                               f"near-miss); check the train file")
    kinds = kind_counts(pairs)
    log.info("%d preference pairs from %d questions: %s", len(pairs), len(records),
             ", ".join(f"{k} {v}" for k, v in kinds.items()))

    model, tokenizer = load_model(shared.model, adapter=cfg.init_adapter, for_training=True,
                                  dtype=weights_dtype(cfg.bf16),
                                  autocast_adapter_dtype=not keeps_adapter_dtype(args, quantized=False))
    peft_config = None if cfg.init_adapter else lora_config(cfg)
    dataset = Dataset.from_list([{k: p[k] for k in ("prompt", "chosen", "rejected")} for p in pairs])
    trainer = DPOTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                         peft_config=peft_config)
    trim_heap_each_step(trainer)
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    summary = {"output_dir": str(out), "pairs": len(pairs), "questions": len(records), "kinds": kinds,
               "steps": trainer.state.global_step, "seconds": round(seconds, 1),
               "final_adapter": str(out / FINAL_ADAPTER)}
    save_final(trainer, tokenizer, out, summary, "contrastive_summary.json")
    return summary
