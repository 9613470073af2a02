"""The contrastive stage: preference pairs from verified near-misses, and DPO on them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sqlgrpo.scoring.rewards import execution_reward, strict_format_reward
from sqlgrpo.stages.config import resolve
from sqlgrpo.stages.contrastive import build_preferences, dpo_config_kwargs, kind_counts

REPO = Path(__file__).resolve().parents[1]
CTX = ("CREATE TABLE orders (id INT, customer TEXT, total REAL, status TEXT); "
       "INSERT INTO orders VALUES (1, 'ana', 10.0, 'paid'), (2, 'bo', 25.5, 'open'), (3, 'ana', 7.25, 'paid');")
RECORD = {"id": "q1", "sql_prompt": "What is the total of paid orders?", "sql_context": CTX,
          "sql": "SELECT SUM(total) FROM orders WHERE status = 'paid'"}


def _pairs() -> list[dict]:
    return build_preferences([RECORD], pairs_per_question=3, question_contrast=False, progress=False)


def test_pairs_are_in_trl_conversational_format():
    # TRL's DPOTrainer reads prompt/chosen/rejected as chat messages.
    pair = _pairs()[0]
    assert [m["role"] for m in pair["prompt"]] == ["system", "user"]
    assert [m["role"] for m in pair["chosen"]] == ["assistant"]
    assert [m["role"] for m in pair["rejected"]] == ["assistant"]
    assert pair["kind"] and pair["id"] == "q1"


def test_chosen_is_the_gold_in_the_answer_format_and_rejected_is_wrong():
    # The chosen answer must earn every format and execution point; the rejected one must not
    # execute to the gold's outcome (that is what makes it a negative).
    pairs = _pairs()
    assert len(pairs) == 3  # three near-misses exist for this gold: the loop below checks each
    kw = {"sql": [RECORD["sql"]], "sql_context": [CTX]}
    for pair in pairs:
        chosen, rejected = pair["chosen"][0]["content"], pair["rejected"][0]["content"]
        assert strict_format_reward([chosen]) == [1.0] and strict_format_reward([rejected]) == [1.0]
        assert execution_reward([chosen], **kw) == [1.0]
        assert execution_reward([rejected], **kw)[0] < 1.0


def test_pairs_per_question_caps_the_rejected_answers():
    assert len(build_preferences([RECORD], pairs_per_question=1, question_contrast=False, progress=False)) == 1


def test_question_whose_gold_cannot_be_edited_gives_no_pair():
    # SQLite runs this gold but sqlglot cannot parse it: no AST edit, so no near-miss and no
    # pair; nothing is made up to fill the quota.
    record = {**RECORD, "sql": "SELECT total FROM orders WHERE CAST(id AS FOO BAR BAZ) = 1"}
    assert build_preferences([record], pairs_per_question=2, question_contrast=False, progress=False) == []


# Both shown rows have c = 'a': dropping the WHERE agrees with the gold there, and only the
# record's suite (a 'b' row of 5) proves it wrong.
SUITE_RECORD = {"id": "s1", "sql_prompt": "What is the total of x for category a?",
                "sql_context": "CREATE TABLE t (x INT, c TEXT); INSERT INTO t VALUES (1, 'a'), (2, 'a');",
                "sql": "SELECT SUM(x) FROM t WHERE c = 'a'", "test_suite": ["INSERT INTO t VALUES (5, 'b');"]}


def test_a_suite_proven_near_miss_is_the_first_rejected_answer():
    # With one pair per question the hardest negative is taken: the edit only the suite tells apart.
    pairs = build_preferences([SUITE_RECORD], pairs_per_question=1, question_contrast=False, progress=False)
    assert [(p["kind"], p["edit"]) for p in pairs] == [("suite_proven", "drop_where")]
    assert pairs[0]["rejected"][0]["content"].endswith("<sql>\nSELECT SUM(x) FROM t\n</sql>")


def test_the_record_suite_decides_whether_a_pair_is_suite_proven():
    # Without its test_suite field the same record has no suite-proven pair: the shown rows alone
    # cannot tell the edit from the gold.
    plain = {k: v for k, v in SUITE_RECORD.items() if k != "test_suite"}
    assert "suite_proven" in kind_counts(build_preferences([SUITE_RECORD], pairs_per_question=5,
                                                           question_contrast=False, progress=False))
    assert "suite_proven" not in kind_counts(build_preferences([plain], pairs_per_question=5, question_contrast=False,
                                                               progress=False))


def test_a_suite_proven_rejected_answer_earns_full_credit_only_without_the_suite():
    # Why it is the hardest negative: the execution reward on the shown rows cannot tell it from
    # the gold; with the suite it is a wrong result.
    pair = build_preferences([SUITE_RECORD], pairs_per_question=1, question_contrast=False, progress=False)[0]
    kw = {"sql": [SUITE_RECORD["sql"]], "sql_context": [SUITE_RECORD["sql_context"]]}
    rejected = [pair["rejected"][0]["content"]]
    assert execution_reward(rejected, **kw) == [1.0]
    assert execution_reward(rejected, **kw, test_suite=[SUITE_RECORD["test_suite"]]) == [0.1]


def test_other_questions_golds_read_each_records_suite():
    # s2's gold agrees with s1's on s1's shown rows (3) but not on s1's suite (8 against 3): a
    # suite-proven rejected answer for s1. s2 has no suite, and s1's gold agrees on its rows: none.
    other = {**SUITE_RECORD, "id": "s2", "sql": "SELECT SUM(x) FROM t WHERE x > 0", "test_suite": []}
    pairs = build_preferences([SUITE_RECORD, other], pairs_per_question=10, progress=False)
    found = [(p["id"], p["kind"], p["rejected"][0]["content"]) for p in pairs if p["edit"] == "other_question"]
    assert [(i, kind) for i, kind, _ in found] == [("s1", "suite_proven")]
    assert found[0][2].endswith("<sql>\nSELECT SUM(x) FROM t WHERE x > 0\n</sql>")


def test_kind_counts_name_every_kind_of_negative():
    # The stage's log and summary count pairs per kind, the suite-proven ones among them.
    pairs = [{"kind": "suite_proven"}, {"kind": "drop_where"}, {"kind": "suite_proven"}, {"kind": "other_question"}]
    assert kind_counts(pairs) == {"drop_where": 1, "other_question": 1, "suite_proven": 2}


def test_dpo_config_builds_on_cpu():
    from trl import DPOConfig

    stage = resolve("contrastive", REPO / "configs" / "cpu-demo.yaml", {"output_dir": "/tmp/x", "max_steps": 3})
    args = DPOConfig(**dpo_config_kwargs(stage, has_gpu=False))
    assert args.max_steps == 3 and args.beta == stage.section.beta and args.use_cpu


def test_sft_weight_adds_trl_sft_loss_on_the_chosen_answer():
    # sft_weight > 0 is RPO: DPO's loss plus the chosen answer's NLL, weighted; 0 is plain DPO.
    from trl import DPOConfig

    plain = resolve("contrastive", None, {"output_dir": "/tmp/x"})
    assert dpo_config_kwargs(plain, has_gpu=False)["loss_type"] == ["sigmoid"]
    rpo = resolve("contrastive", None, {"output_dir": "/tmp/x", "sft_weight": 0.5})
    args = DPOConfig(**dpo_config_kwargs(rpo, has_gpu=False))
    assert args.loss_type == ["sigmoid", "sft"] and args.loss_weights == [1.0, 0.5]


@pytest.mark.slow
def test_contrastive_adapter_starts_grpo(tmp_path):
    # The check: `sqlgrpo contrastive` finishes on CPU and its adapter starts `train --init-adapter`.
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    data = [f"--train-file={tmp_path}/data/cleaned_train_queries.jsonl",
            f"--eval-file={tmp_path}/data/cleaned_eval_queries.jsonl"]
    out = tmp_path / "C"
    run = subprocess.run([sys.executable, "-m", "sqlgrpo.cli", "contrastive", "--config", "configs/cpu-demo.yaml",
                          "--output-dir", str(out), "--max-steps", "1", "--max-questions", "6",
                          "--per-device-train-batch-size", "2", "--report-to", "none", *data],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    assert (out / "final_adapter" / "adapter_config.json").is_file()
    lines = (out / "preferences.jsonl").read_text(encoding="utf-8").splitlines()
    assert lines and {"prompt", "chosen", "rejected", "kind"} <= set(json.loads(lines[0]))
    grpo = subprocess.run([sys.executable, "-m", "sqlgrpo.cli", "train", "--config", "configs/cpu-demo.yaml",
                           "--output-dir", str(tmp_path / "T"), "--init-adapter", str(out / "final_adapter"),
                           "--max-steps", "1", "--per-device-train-batch-size", "2", "--num-generations", "2",
                           "--max-completion-length", "8", "--max-prompts", "4", "--report-to", "none", *data],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert grpo.returncode == 0, grpo.stderr[-3000:]
    assert "starting from adapter" in grpo.stderr + grpo.stdout
    state = json.loads((tmp_path / "T" / "trainer_state.json").read_text(encoding="utf-8"))
    assert state["global_step"] == 1
