"""The `eval` stage: answers on held-out questions, scored by execution, optionally judged.

    sqlgrpo eval --model embedded --limit 10 --no-judge --output-dir outputs/eval-base
    sqlgrpo eval --adapter outputs/train/final_adapter --num-samples 4
    sqlgrpo eval ... --judge-base-url http://127.0.0.1:8000/v1 --judge-model my-local-model

Generation is batched (left padding) through transformers, greedy unless `num_samples` > 1;
generations are appended to `generations.jsonl` as they are made, so `--resume` continues an
interrupted run without regenerating, and judge verdicts are cached on disk. Every metric is one
function of the per-sample records; execution accuracy calls the same comparison as the
execution reward (`sqlgrpo.rewards.execution_score` → `sqlgrpo.matching.outcomes_match`).

Outputs in the output folder: `evaluation_results.json` (one object per sample),
`evaluation_summary.csv`, `evaluation_summary.txt`, `metrics.json`, `report.html`,
`resolved_config.yaml`.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Callable

from sqlgrpo.stages.config import StageConfig
from sqlgrpo.scoring.matching import modifies, outcome_key, outcomes_match
from sqlgrpo.scoring.rewards import (EXEC_MATCH, execution_score, gold_is_ordered, gold_outcome, is_strict_format, parse_answer,
                      soft_format_score)
from sqlgrpo.sql import ErrorKind, default_executor

log = logging.getLogger(__name__)

GENERATIONS_FILE = "generations.jsonl"
RESULTS_FILE = "evaluation_results.json"
CSV_FILE = "evaluation_summary.csv"
SUMMARY_FILE = "evaluation_summary.txt"
METRICS_FILE = "metrics.json"
REPORT_FILE = "report.html"
JUDGE_CACHE_DIR = "judge_cache"

# The error taxonomy of a sample, in the order reports list it.
CORRECT, WRONG_RESULT, NO_SQL = "correct", "wrong_result", "no_sql"
TAXONOMY = (CORRECT, WRONG_RESULT, NO_SQL, ErrorKind.SYNTAX, ErrorKind.MISSING_TABLE, ErrorKind.MISSING_COLUMN,
            ErrorKind.RUNTIME, ErrorKind.TIMEOUT, ErrorKind.TOO_LARGE, ErrorKind.FORBIDDEN, "wrong_statement_kind")
RATE_KEYS = ("execution_accuracy", "strict_execution_accuracy", "exact_match", "valid_sql_rate",
             "format_compliance", "soft_format_rate")


class EvalError(RuntimeError):
    """The evaluation cannot run; the message says why and what to change."""


# --------------------------------------------------------------------------------------------
# Per-sample scoring (pure functions of one answer)

def exact_match(pred_sql: str | None, gold: str, backend: str = "sqlite") -> bool:
    """Same query after sqlglot normalization (identifier case, whitespace, quoting, keyword
    case); False when either side cannot be parsed."""
    from sqlgrpo.sql.analysis import parse_statements

    if not pred_sql:
        return False
    pred_trees, gold_trees = parse_statements(pred_sql, backend), parse_statements(gold, backend)
    if not pred_trees or not gold_trees:
        return False
    return _normalized_sql(pred_trees, backend) == _normalized_sql(gold_trees, backend)


def _normalized_sql(trees: list, backend: str) -> str:
    """Statements rendered with identifiers unquoted and case-folded (`"Name"`, `name` and
    `NAME` are the same column to SQLite), keywords and whitespace normalized."""
    from sqlglot import exp

    out = []
    for tree in trees:
        tree = tree.copy()
        for ident in tree.find_all(exp.Identifier):
            ident.set("quoted", False)
        out.append(tree.sql(dialect=backend, normalize=True, pretty=False))
    return ";".join(out)


def score_answer(raw_output: str, record: dict, backend: str = "sqlite") -> dict:
    """Everything measured about one answer: extraction, execution, correctness, format."""
    answer = parse_answer(raw_output)
    gold, context = record["sql"], record["sql_context"]
    gold_result = gold_outcome(gold, context, backend)
    out: dict[str, Any] = {"raw_output": raw_output, "extracted_sql": answer.sql, "reasoning": answer.reasoning,
                           "sql_source": answer.sql_source, "format_strict": is_strict_format(raw_output),
                           "format_soft": soft_format_score(raw_output) >= 1.0, "gold_ok": gold_result.ok}
    if answer.sql is None:
        return {**out, "valid_sql": False, "correct": False, "strict_correct": False, "exact_match": False,
                "error_kind": NO_SQL, "error": "no SQL found in the answer", "outcome": None}
    pred = default_executor(backend).run(answer.sql, context)
    correct = execution_score(answer.sql, gold, context, backend) == EXEC_MATCH
    same_kind = pred.ok and gold_result.ok and modifies(pred) == modifies(gold_result)
    strict = same_kind and outcomes_match(gold_result, pred, strict=True,
                                          order_matters=gold_is_ordered(gold, backend))
    if correct:
        kind, error = CORRECT, ""
    elif not pred.ok:
        kind, error = pred.error_kind or ErrorKind.RUNTIME, pred.error
    elif not same_kind:
        kind, error = "wrong_statement_kind", "modifies the database where the gold does not, or the reverse"
    else:
        kind, error = WRONG_RESULT, "runs, but its outcome differs from the gold's"
    preview = [list(map(_json_safe, row)) for row in pred.rows[:5]] if pred.ok else []
    return {**out, "valid_sql": pred.ok, "correct": correct, "strict_correct": bool(strict),
            "exact_match": exact_match(answer.sql, gold, backend), "error_kind": kind, "error": error,
            "columns": list(pred.columns), "rows_preview": preview, "execution_s": round(pred.elapsed_s, 4),
            "outcome": outcome_key(pred)}


def _json_safe(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<{len(bytes(value))} bytes>"
    return str(value)


def self_consistent(samples: list[dict]) -> bool:
    """Majority vote over execution outcomes (SQL-R1): the most common outcome among the
    answers that ran; correct when that outcome's answers are correct. Ties: the earliest."""
    groups: dict[Any, list[dict]] = {}
    for s in samples:
        if s.get("outcome") is not None:
            groups.setdefault(_hashable(s["outcome"]), []).append(s)
    if not groups:
        return False
    best = max(groups.values(), key=len)
    return bool(best[0]["correct"])


def _hashable(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    return value


# --------------------------------------------------------------------------------------------
# Metrics (one function per metric over per-sample records)

def _rate(records: list[dict], key: str) -> float:
    return sum(1 for r in records if r.get(key)) / len(records) if records else 0.0


def execution_accuracy(records: list[dict]) -> float:
    return _rate(records, "correct")


def strict_execution_accuracy(records: list[dict]) -> float:
    return _rate(records, "strict_correct")


def exact_match_rate(records: list[dict]) -> float:
    return _rate(records, "exact_match")


def valid_sql_rate(records: list[dict]) -> float:
    return _rate(records, "valid_sql")


def format_compliance(records: list[dict]) -> float:
    return _rate(records, "format_strict")


def soft_format_rate(records: list[dict]) -> float:
    return _rate(records, "format_soft")


METRICS: dict[str, Callable[[list[dict]], float]] = {
    "execution_accuracy": execution_accuracy,
    "strict_execution_accuracy": strict_execution_accuracy,
    "exact_match": exact_match_rate,
    "valid_sql_rate": valid_sql_rate,
    "format_compliance": format_compliance,
    "soft_format_rate": soft_format_rate,
}


def compute_metrics(records: list[dict]) -> dict:
    """Headline rates overall and per `sql_complexity` class, with counts, plus the error
    taxonomy, tokens and latency, and pass@k / self-consistency when several answers were drawn."""
    metrics: dict[str, Any] = {"n": len(records)}
    for name, fn in METRICS.items():
        metrics[name] = round(fn(records), 4)
        metrics[f"{name}_count"] = sum(1 for r in records if r.get(_FIELD_OF[name]))
    by_class: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        by_class[str(r.get("sql_complexity") or "unlabelled")].append(r)
    metrics["by_complexity"] = {cls: {"n": len(rs), **{name: round(fn(rs), 4) for name, fn in METRICS.items()}}
                                for cls, rs in sorted(by_class.items())}
    taxonomy = Counter(r["error_kind"] for r in records)
    metrics["error_taxonomy"] = {k: taxonomy.get(k, 0) for k in TAXONOMY if taxonomy.get(k, 0)} | \
                                {k: v for k, v in taxonomy.items() if k not in TAXONOMY}
    tokens = [r["tokens"] for r in records if r.get("tokens") is not None]
    latency = [r["latency_s"] for r in records if r.get("latency_s") is not None]
    metrics["tokens_mean"] = round(sum(tokens) / len(tokens), 2) if tokens else None
    metrics["latency_mean_s"] = round(sum(latency) / len(latency), 4) if latency else None
    metrics["tokens_per_s"] = round(sum(tokens) / sum(latency), 2) if latency and sum(latency) > 0 else None
    k = max(1, max((len(r.get("samples") or []) for r in records), default=1))
    metrics["num_samples"] = k
    if k > 1:
        metrics["pass_at_k"] = round(_rate(records, "pass_at_k"), 4)
        metrics["self_consistency_accuracy"] = round(_rate(records, "self_consistency_correct"), 4)
    else:
        metrics["pass_at_k"] = metrics["self_consistency_accuracy"] = None
    return metrics


_FIELD_OF = {"execution_accuracy": "correct", "strict_execution_accuracy": "strict_correct",
             "exact_match": "exact_match", "valid_sql_rate": "valid_sql", "format_compliance": "format_strict",
             "soft_format_rate": "format_soft"}


def judge_metrics(verdicts: list[dict], judge_model: str, usage: dict | None = None) -> dict:
    ok = [v for v in verdicts if v.get("ok")]
    dims = ("sql_score", "reasoning_score", "format_score", "educational_score", "overall_score")
    mean = {d: round(sum(v[d] for v in ok) / len(ok), 3) if ok else None for d in dims}
    distribution = {d: {str(i): sum(1 for v in ok if v.get(d) is not None and round(v[d]) == i) for i in range(1, 6)}
                    for d in dims}
    usage = usage or {}
    return {"model": judge_model, "judged": len(ok), "failed": len(verdicts) - len(ok), "mean": mean,
            "distribution": distribution, "prompt_tokens": usage.get("prompt_tokens", 0),
            "completion_tokens": usage.get("completion_tokens", 0)}


# --------------------------------------------------------------------------------------------
# Generation with resume

def _read_generations(path: Path) -> dict[str, dict]:
    done: dict[str, dict] = {}
    if not path.is_file():
        return done
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a line cut by an interruption: that sample is generated again
            if isinstance(entry, dict) and "id" in entry and isinstance(entry.get("outputs"), list):
                done[str(entry["id"])] = entry
    return done


def _drop_cut_line(path: Path) -> None:
    """A kill mid-write leaves a last line without its newline: cut it off, so that the entry
    generated again starts on a line of its own."""
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        path.write_bytes(data[:data.rfind(b"\n") + 1])


def generate_all(records: list[dict], generate_batch: Callable[[list[dict]], list[dict]], path: Path,
                 batch_size: int, resume: bool, progress: bool = True) -> dict[str, dict]:
    """Generations for every record, appended to `path` batch by batch as they are made."""
    from tqdm.auto import tqdm

    done = _read_generations(path) if resume else {}
    if not resume and path.exists():
        path.unlink()
    if resume and path.exists():
        _drop_cut_line(path)
    todo = [r for r in records if str(r["id"]) not in done]
    if done:
        log.info("resuming: %d of %d generations already saved in %s", len(records) - len(todo), len(records), path)
    with open(path, "a", encoding="utf-8") as f, tqdm(total=len(todo), desc="generating", unit="question",
                                                      disable=not progress) as bar:
        for start in range(0, len(todo), batch_size):
            batch = todo[start:start + batch_size]
            for record, gen in zip(batch, generate_batch(batch)):
                entry = {"id": str(record["id"]), **gen}
                done[entry["id"]] = entry
                f.write(json.dumps(entry, ensure_ascii=True) + "\n")
            f.flush()
            os.fsync(f.fileno())  # an interruption loses at most the batch in flight
            bar.update(len(batch))
    return done


def transformers_generator(model: Any, tokenizer: Any, cfg: Any) -> Callable[[list[dict]], list[dict]]:
    from sqlgrpo.llm.generation import generate_answers

    def generate_batch(batch: list[dict]) -> list[dict]:
        sampling = cfg.num_samples > 1
        answers = generate_answers(model, tokenizer, [r["prompt"] for r in batch], max_new_tokens=cfg.max_new_tokens,
                                   batch_size=len(batch), do_sample=sampling, temperature=cfg.temperature,
                                   top_p=cfg.top_p, num_return_sequences=cfg.num_samples)
        return [{"outputs": [g.text for g in gens], "tokens": [g.new_tokens for g in gens],
                 "latency_s": [round(g.seconds, 4) for g in gens]} for gens in answers]

    return generate_batch


def vllm_generator(model_name: str, adapter: str | None, cfg: Any, tokenizer: Any) -> Callable[[list[dict]], list[dict]]:
    """Generation through vLLM (GPU): the base model with the adapter as a LoRA request."""
    from vllm import LLM, SamplingParams  # checked by check_eval_hardware
    from vllm.lora.request import LoRARequest

    llm = LLM(model=model_name, enable_lora=adapter is not None)
    sampling = cfg.num_samples > 1
    params = SamplingParams(n=cfg.num_samples, max_tokens=cfg.max_new_tokens,
                            temperature=cfg.temperature if sampling else 0.0, top_p=cfg.top_p if sampling else 1.0)
    lora = LoRARequest("adapter", 1, adapter) if adapter else None

    def generate_batch(batch: list[dict]) -> list[dict]:
        start = time.perf_counter()
        outs = llm.chat([r["prompt"] for r in batch], params, lora_request=lora, use_tqdm=False)
        per = (time.perf_counter() - start) / max(len(batch) * cfg.num_samples, 1)
        return [{"outputs": [c.text for c in o.outputs], "tokens": [len(c.token_ids) for c in o.outputs],
                 "latency_s": [round(per, 4)] * len(o.outputs)} for o in outs]

    return generate_batch


# --------------------------------------------------------------------------------------------
# The stage

def resolve_model(stage: StageConfig) -> str:
    """The model to evaluate: the one set explicitly, else the one the adapter was trained on,
    else the shared default."""
    from sqlgrpo.llm.models import model_name_of_adapter

    cfg = stage.section
    if "model" in stage.explicit or not cfg.adapter:
        return stage.shared.model
    trained_on = model_name_of_adapter(cfg.adapter)
    if trained_on is None:
        log.warning("adapter %s does not record its base model; using %s", cfg.adapter, stage.shared.model)
        return stage.shared.model
    return trained_on


def read_eval_records(path: str | Path, limit: int) -> list[dict]:
    from sqlgrpo.stages.train import TrainError, read_records

    try:
        records = read_records(path, limit or None)
    except (OSError, TrainError) as e:
        raise EvalError(f"cannot read eval file {path}: {e}") from None
    for i, r in enumerate(records):
        r.setdefault("id", f"row-{i + 1}")
        r["id"] = str(r["id"])
    return records


def evaluate(stage: StageConfig, *, progress: bool = True) -> dict:
    """Run the stage; returns the metrics (also written to metrics.json)."""
    from sqlgrpo.llm.prompts import prompt_records

    shared, cfg = stage.shared, stage.section
    if cfg.num_samples < 1:
        raise EvalError(f"--num-samples must be at least 1, got {cfg.num_samples}")
    check_reward_weights(cfg.reward_weights)
    if cfg.use_vllm:
        from sqlgrpo.stages.train import _importable, gpu_available

        if not gpu_available() or not _importable("vllm"):
            raise EvalError("--use-vllm needs a CUDA GPU and the vllm package (pip install -e '.[gpu]')")
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    model_name = resolve_model(stage)
    eval_path = Path(shared.eval_file)
    if not eval_path.is_file():
        raise EvalError(f"eval file {eval_path} does not exist; run `sqlgrpo prepare` first (it writes "
                        f"data/cleaned_eval_queries.jsonl) or pass --eval-file")
    records = read_eval_records(eval_path, cfg.limit)
    if not records:
        raise EvalError(f"eval file {eval_path} has no records")
    stage.write(out)

    from sqlgrpo.llm.models import load_model

    model, tokenizer = load_model(model_name, adapter=cfg.adapter)
    budget = shared.max_seq_length  # prompts longer than the model's budget are dropped, as in training
    kept, dropped = prompt_records(records, tokenizer, budget, template=shared.system_prompt, backend=shared.backend,
                                   include_inserts=shared.include_inserts)
    if cfg.use_vllm:
        del model
        generate_batch = vllm_generator(model_name, cfg.adapter, cfg, tokenizer)
    else:
        generate_batch = transformers_generator(model, tokenizer, cfg)
    start = time.perf_counter()
    generations = generate_all(kept, generate_batch, out / GENERATIONS_FILE, cfg.batch_size, cfg.resume, progress)
    generation_s = time.perf_counter() - start

    results = [_sample_record(r, generations[str(r["id"])], shared.backend) for r in kept]
    metrics = compute_metrics(results)
    metrics.update(score_rewards(results, cfg.reward_weights, shared.backend))
    metrics.update({"model": model_name, "adapter": cfg.adapter, "eval_file": str(eval_path),
                    "prompts_dropped": dropped, "generation_seconds": round(generation_s, 2),
                    "backend": shared.backend})
    _run_judge(stage, results, metrics, out, progress)
    write_outputs(out, results, metrics)
    return metrics


def check_reward_weights(weights: dict[str, float]) -> None:
    from sqlgrpo.scoring.rewards import REWARDS

    unknown = [name for name in weights if name not in REWARDS]
    if unknown:
        raise EvalError(f"unknown reward {unknown[0]!r} in reward_weights; valid rewards: {', '.join(REWARDS)}")


def score_rewards(results: list[dict], weights: dict[str, float], backend: str = "sqlite") -> dict:
    """The training rewards on each result's (first) answer: sets `reward` (the weighted sum, as
    GRPO adds them up) and `rewards` (per function) on every result, and returns `mean_reward`
    and `reward_means` for metrics.json. A reward that cannot judge a sample (None) adds nothing
    to its sum, as in TRL."""
    from sqlgrpo.scoring.rewards import get_reward

    check_reward_weights(weights)
    if not results:
        return {"mean_reward": None, "reward_means": {}, "reward_weights": dict(weights)}
    columns = {"sql": [r["gold"] for r in results], "sql_context": [r["context"] for r in results],
               "backend": [backend] * len(results)}
    completions = [r.get("raw_output") or "" for r in results]
    scores = {name: get_reward(name)(completions, **columns) for name in weights}
    means = {}
    for name, values in scores.items():
        judged = [v for v in values if v is not None]
        means[name] = round(sum(judged) / len(judged), 4) if judged else None
    for i, r in enumerate(results):
        r["rewards"] = {name: values[i] for name, values in scores.items()}
        r["reward"] = round(sum(weights[name] * v for name, v in r["rewards"].items() if v is not None), 4)
    return {"mean_reward": round(sum(r["reward"] for r in results) / len(results), 4), "reward_means": means,
            "reward_weights": dict(weights)}


def _sample_record(record: dict, generation: dict, backend: str) -> dict:
    outputs = generation.get("outputs") or [""]
    samples = [score_answer(text, record, backend) for text in outputs]
    first = samples[0]
    tokens = generation.get("tokens") or [None]
    latency = generation.get("latency_s") or [None]
    result = {"id": str(record["id"]), "question": record["sql_prompt"], "context": record["sql_context"],
              "gold": record["sql"], "sql_complexity": record.get("sql_complexity"), **first,
              "tokens": tokens[0], "latency_s": latency[0], "judge": None}
    if len(samples) > 1:
        result["samples"] = [{k: s[k] for k in ("raw_output", "extracted_sql", "correct", "error_kind", "outcome")}
                             for s in samples]
        result["pass_at_k"] = any(s["correct"] for s in samples)
        result["self_consistency_correct"] = self_consistent(samples)
    return result


def _run_judge(stage: StageConfig, results: list[dict], metrics: dict, out: Path, progress: bool) -> None:
    cfg = stage.section
    if not cfg.judge:
        metrics["judge"] = None
        return
    from sqlgrpo.scoring.judge import Judge, judge_configuration

    usable, reason = judge_configuration(cfg.judge_model, cfg.judge_base_url)
    if not usable:
        log.info("%s", reason)
        metrics["judge"] = None
        return
    judge = Judge(cfg.judge_model, cfg.judge_base_url, cache_dir=out / JUDGE_CACHE_DIR,
                  concurrency=cfg.judge_concurrency)
    samples = [{"id": r["id"], "question": r["question"], "context": r["context"], "gold": r["gold"],
                "output": r["raw_output"]} for r in results]
    verdicts = judge.judge_many(samples, progress=progress)
    for r, v in zip(results, verdicts):
        r["judge"] = v.to_dict()
    metrics["judge"] = judge_metrics([r["judge"] for r in results], cfg.judge_model, judge.usage)
    metrics["judge"]["requests_sent"] = judge.requests_sent


CSV_COLUMNS = ("id", "sql_complexity", "correct", "strict_correct", "exact_match", "valid_sql", "format_strict",
               "format_soft", "error_kind", "tokens", "latency_s", "question", "gold", "extracted_sql", "error",
               "judge_overall_score")


def summary_text(metrics: dict) -> str:
    """The summary table printed at the end and saved as evaluation_summary.txt."""
    n = metrics["n"]
    lines = [f"model: {metrics.get('model')}" + (f" + adapter {metrics['adapter']}" if metrics.get("adapter") else ""),
             f"eval file: {metrics.get('eval_file')} ({n} samples)", ""]
    for key in RATE_KEYS:
        count = metrics.get(f"{key}_count", round(metrics[key] * n))
        lines.append(f"{key:28s} {100 * metrics[key]:6.1f}%  ({count}/{n})")
    if metrics.get("pass_at_k") is not None:
        k = metrics["num_samples"]
        lines.append(f"{f'pass@{k}':28s} {100 * metrics['pass_at_k']:6.1f}%")
        lines.append(f"{'self_consistency_accuracy':28s} {100 * metrics['self_consistency_accuracy']:6.1f}%")
    if metrics.get("mean_reward") is not None:
        parts = ", ".join(f"{k.removesuffix('_reward')} {v}" for k, v in (metrics.get("reward_means") or {}).items())
        lines.append(f"{'mean_reward':28s} {metrics['mean_reward']:7.3f}  ({parts})")
    lines.append("")
    lines.append("by complexity: " + ", ".join(f"{cls} {100 * m['execution_accuracy']:.0f}% (n={m['n']})"
                                               for cls, m in metrics["by_complexity"].items()))
    lines.append("errors: " + ", ".join(f"{k} {v}" for k, v in metrics["error_taxonomy"].items()))
    if metrics.get("tokens_mean") is not None:
        lines.append(f"tokens/answer {metrics['tokens_mean']}, latency/answer {metrics['latency_mean_s']} s, "
                     f"{metrics['tokens_per_s']} tokens/s")
    judge = metrics.get("judge")
    if judge:
        mean = judge["mean"]
        lines.append(f"judge {judge['model']}: {judge['judged']} judged, {judge['failed']} unreadable; overall "
                     f"{mean.get('overall_score')}, sql {mean.get('sql_score')}, reasoning {mean.get('reasoning_score')}; "
                     f"tokens {judge['prompt_tokens']}+{judge['completion_tokens']}")
    return "\n".join(lines) + "\n"


def write_outputs(out: Path, results: list[dict], metrics: dict) -> None:
    from sqlgrpo.report.pages import render_eval_report

    serializable = [{k: v for k, v in r.items() if k != "outcome"} for r in results]
    for r in serializable:
        for s in r.get("samples") or []:
            s.pop("outcome", None)
    atomic_write(out / RESULTS_FILE, json.dumps(serializable, indent=1, ensure_ascii=True) + "\n")
    atomic_write(out / METRICS_FILE, json.dumps(metrics, indent=2, ensure_ascii=True) + "\n")
    atomic_write(out / SUMMARY_FILE, summary_text(metrics))
    tmp = out / (CSV_FILE + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for r in serializable:
            judge = r.get("judge") or {}
            writer.writerow({**r, "judge_overall_score": judge.get("overall_score")})
    os.replace(tmp, out / CSV_FILE)
    render_eval_report(metrics, serializable, out / REPORT_FILE)


def atomic_write(path: Path, text: str) -> None:
    """Write `text` to a file beside `path`, then rename it into place: readers never see half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def load_run(run_dir: str | Path) -> tuple[dict, list[dict]]:
    """metrics.json and evaluation_results.json of an eval run folder."""
    run = Path(run_dir)
    try:
        metrics = json.loads((run / METRICS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise EvalError(f"{run} is not an eval run folder (no readable {METRICS_FILE}: {e})") from None
    try:
        results = json.loads((run / RESULTS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        results = []
    return metrics, results


def compare_runs(run_a: str | Path, run_b: str | Path, output_dir: str | Path) -> Path:
    """An HTML report of two eval runs side by side (B − A), with per-class deltas."""
    from sqlgrpo.report.pages import render_compare_report

    metrics_a, results_a = load_run(run_a)
    metrics_b, results_b = load_run(run_b)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    return render_compare_report(metrics_a, metrics_b, out / "compare.html", label_a=Path(run_a).name or str(run_a),
                                 label_b=Path(run_b).name or str(run_b), results_a=results_a, results_b=results_b)


def ask(question: str, schema: str, *, model: str, adapter: str | None = None, backend: str = "sqlite",
        max_new_tokens: int = 256, system_prompt: str | None = None) -> dict:
    """One answer to one question about a schema, with its SQL run on the schema when it holds
    data (INSERT rows)."""
    from sqlgrpo.llm.generation import generate_answers
    from sqlgrpo.llm.models import load_model
    from sqlgrpo.llm.prompts import build_messages

    llm, tokenizer = load_model(model, adapter=adapter)
    record = {"sql_prompt": question, "sql_context": schema}
    gen = generate_answers(llm, tokenizer, [build_messages(record, template=system_prompt, backend=backend)],
                           max_new_tokens=max_new_tokens)[0][0]
    answer = parse_answer(gen.text)
    result: dict[str, Any] = {"raw_output": gen.text, "reasoning": answer.reasoning, "sql": answer.sql,
                              "tokens": gen.new_tokens, "seconds": round(gen.seconds, 2)}
    if answer.sql:
        run = default_executor(backend).run(answer.sql, schema)
        result.update({"ok": run.ok, "error": run.error, "columns": list(run.columns),
                       "rows": [list(map(_json_safe, r)) for r in run.rows[:20]]})
    return result
