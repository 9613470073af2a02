"""The supervised warm-up: gold answers in the target format, loss on the answer only."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sqlgrpo.scoring.rewards import REWARDS
from sqlgrpo.stages.config import resolve
from sqlgrpo.stages.sft import sft_config_kwargs, sft_examples

REPO = Path(__file__).resolve().parents[1]
RECORD = {"sql_prompt": "How many dogs are there?", "sql": "SELECT COUNT(*) FROM pets WHERE kind = 'dog'",
          "sql_context": "CREATE TABLE pets (id INT, kind TEXT); INSERT INTO pets VALUES (1, 'dog'), (2, 'cat');"}


def test_examples_are_trl_prompt_completion_pairs():
    # TRL's SFTTrainer takes conversational prompt/completion pairs and, with
    # completion_only_loss, puts the loss on the completion only.
    (example,) = sft_examples([RECORD])
    assert [m["role"] for m in example["prompt"]] == ["system", "user"]
    assert [m["role"] for m in example["completion"]] == ["assistant"]


def test_the_target_answer_earns_every_reward():
    # What the warm-up teaches must be what GRPO rewards: full marks from each reward.
    (example,) = sft_examples([RECORD])
    answer = example["completion"][0]["content"]
    for name, reward in REWARDS.items():
        assert reward([answer], sql=[RECORD["sql"]], sql_context=[RECORD["sql_context"]]) == [1.0], name


def test_schema_shows_create_statements_only():
    # INSERT rows cost tokens and the answer must not depend on them.
    (example,) = sft_examples([RECORD])
    user = example["prompt"][1]["content"]
    assert "CREATE TABLE pets" in user and "INSERT" not in user


def test_sft_config_builds_on_cpu_with_completion_only_loss():
    from trl import SFTConfig

    stage = resolve("sft", REPO / "configs" / "cpu-demo.yaml", {"output_dir": "/tmp/x", "max_steps": 3})
    args = SFTConfig(**sft_config_kwargs(stage, has_gpu=False))
    assert args.max_steps == 3 and args.completion_only_loss and args.use_cpu


@pytest.mark.slow
def test_sft_adapter_loads_onto_the_embedded_model(tmp_path):
    from sqlgrpo.llm.models import load_model, model_name_of_adapter

    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    run = subprocess.run([sys.executable, "-m", "sqlgrpo.cli", "sft", "--config", "configs/cpu-demo.yaml",
                          "--output-dir", str(tmp_path / "S"), "--max-steps", "1", "--max-questions", "4",
                          "--per-device-train-batch-size", "2", "--report-to", "none",
                          f"--train-file={tmp_path}/data/cleaned_train_queries.jsonl",
                          f"--eval-file={tmp_path}/data/cleaned_eval_queries.jsonl"],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    adapter = tmp_path / "S" / "final_adapter"
    assert model_name_of_adapter(adapter) == "embedded"
    model, _ = load_model("embedded", adapter=adapter)
    assert type(model).__name__ == "PeftModelForCausalLM"
