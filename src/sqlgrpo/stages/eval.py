"""The `eval` stage: answers on held-out questions, scored by execution, optionally judged.

    sqlgrpo eval --model embedded --limit 10 --no-judge --output-dir outputs/eval-base
    sqlgrpo eval --adapter outputs/train/final_adapter --num-samples 4
    sqlgrpo eval ... --judge-base-url http://127.0.0.1:8000/v1 --judge-model my-local-model
    sqlgrpo eval --eval-file data/spider/cleaned_eval_queries.jsonl --predictions pred.sql --match spider
    sqlgrpo eval --generation-base-url http://127.0.0.1:8000/v1 --generation-model sql-lora --limit 0

Generation is batched (left padding) through transformers, greedy unless `num_samples` > 1;
generations are appended to `generations.jsonl` as they are made, so `--resume` continues an
interrupted run without regenerating, and judge verdicts are cached on disk. Scoring is
`sqlgrpo.scoring.metrics` (each answer executed once, through the verdict the execution reward
is built on); the training rewards of each answer (`mean_reward`) reuse that verdict's score.
An answer is run on the shown database and, when it matches there, on each variant of the
record's test suite (`test_suite`, written by prepare): `execution_accuracy` counts the match on
the shown database, `test_suite_accuracy` the match on all of them, and `test_suite_records` how
many questions had a suite (with none, the two are equal by construction).

`--match NAME` picks the comparison behind `correct` and `execution_accuracy`
(`sqlgrpo.scoring.matching.MATCH_CONVENTIONS`): `ours` (the above), or the official rule of
`spider` or `bird`, on the shown database only; metrics.json names it (`match`, `match_rule`),
and the rewards stay `ours`. `--predictions FILE` scores answers some other system produced
(`sqlgrpo.scoring.predictions`: Spider's .sql, BIRD's .json, JSONL) instead of generating: no
model is loaded, every question of the eval file is scored unless --limit is given, and
everything after generation is the same. `n` counts the scored questions: one whose gold fails
is kept in the results and left out of every rate (`gold_failed`).

`--generation-base-url URL --generation-model NAME` sends the prompts to a running
OpenAI-compatible server instead of loading the model (`sqlgrpo.llm.served`: concurrency-
limited, retried with backoff; an adapter is a name the server serves, so no --adapter); only
the model's tokenizer is loaded, when found locally, for the prompt budget. A question still
unanswered after its retries stops the run with an error naming it, the batches before it saved
for --resume; metrics.json names the server (`generation_server`) and the served model (`model`).

Outputs in the output folder: `evaluation_results.json` (one object per sample),
`evaluation_summary.csv`, `evaluation_summary.txt`, `metrics.json`, `report.html`,
`resolved_config.yaml`.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sqlgrpo.common.errors import SqlgrpoError
from sqlgrpo.common.files import atomic_write_text, write_json
from sqlgrpo.data.records import RecordsError, read_records
from sqlgrpo.scoring.matching import MATCH_RULES, OURS, check_convention
from sqlgrpo.scoring.metrics import compute_metrics, score_questions
from sqlgrpo.scoring.predictions import PredictionsError, align_predictions, read_predictions
from sqlgrpo.scoring.rewards import (REWARDS, clause_similarity, executable_score, get_reward, result_similarity_score,
                                     shaped_executable_score)
from sqlgrpo.scoring.suites import record_suite
from sqlgrpo.sql import BACKENDS, default_executor
from sqlgrpo.stages.config import StageConfig
from sqlgrpo.stages.training import gpu_available, importable, precision

log = logging.getLogger(__name__)

GENERATIONS_FILE = "generations.jsonl"
RESULTS_FILE = "evaluation_results.json"
CSV_FILE = "evaluation_summary.csv"
SUMMARY_FILE = "evaluation_summary.txt"
METRICS_FILE = "metrics.json"
REPORT_FILE = "report.html"
JUDGE_CACHE_DIR = "judge_cache"
EXECUTION_REWARD = "execution_reward"  # its score is the verdict's, already taken per answer
EXECUTABLE_REWARD = "executable_reward"  # read off that score too
SHAPED_EXECUTABLE_REWARD = "shaped_executable_reward"  # and off it with the clause similarity
RESULT_SIMILARITY_REWARD = "result_similarity_reward"  # off the verdict's result similarity


class EvalError(SqlgrpoError, RuntimeError):
    """The evaluation cannot run; the message says why and what to change."""


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


@contextlib.contextmanager
def in_generation_precision(model: Any, bf16: bool) -> Iterator[Any]:
    """The loaded (merged) model as eval generates with it, for the block: under `bf16` on a CPU
    with bf16 instructions its weights held in bfloat16 (`bf16_weights`, as GRPO's rollouts: decoding
    reads every weight once a token; buffers such as the rotary frequencies stay fp32) and given back
    after; on a GPU as `load_model` put it (bf16 already); fp32 elsewhere, logged when bf16 was asked."""
    mode = precision(bf16)
    if mode == "bf16-autocast":
        from sqlgrpo.llm.generation import bf16_weights

        log.info("eval: generating with bfloat16 weights on the CPU (AVX512_BF16/AMX)")
        with bf16_weights(model):
            yield model
        return
    if bf16 and mode == "fp32":
        log.warning("eval bf16: this CPU has no bfloat16 instructions (AVX512_BF16 or AMX): generating in fp32")
    yield model


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
    try:
        records = read_records(path, limit or None)
    except (OSError, RecordsError) as e:
        raise EvalError(f"cannot read eval file {path}: {e}") from None
    for i, r in enumerate(records):
        r.setdefault("id", f"row-{i + 1}")
        r["id"] = str(r["id"])
    return records


def _eval_path(stage: StageConfig) -> Path:
    eval_path = Path(stage.shared.eval_file)
    if not eval_path.is_file():
        raise EvalError(f"eval file {eval_path} does not exist; run `sqlgrpo prepare` first (it writes "
                        f"data/cleaned_eval_queries.jsonl) or pass --eval-file")
    return eval_path


def evaluate(stage: StageConfig, *, progress: bool = True) -> dict:
    """Run the stage; returns the metrics (also written to metrics.json)."""
    shared, cfg = stage.shared, stage.section
    check_convention(cfg.match)
    if cfg.generation_base_url or cfg.generation_model:
        return evaluate_served(stage, progress=progress)
    if cfg.predictions:
        return evaluate_predictions(stage, progress=progress)
    from sqlgrpo.llm.models import load_model
    from sqlgrpo.llm.prompts import prompt_records

    if cfg.num_samples < 1:
        raise EvalError(f"--num-samples must be at least 1, got {cfg.num_samples}")
    check_reward_weights(cfg.reward_weights)
    if cfg.use_vllm and not (gpu_available() and importable("vllm")):
        raise EvalError("--use-vllm needs a CUDA GPU and the vllm package (pip install -e '.[gpu]')")
    model_name = resolve_model(stage)
    out, eval_path, records = _open_run(stage, cfg.limit)

    if cfg.use_vllm:
        # vLLM loads the model itself: here only the tokenizer, to count prompt tokens.
        from sqlgrpo.llm.models import load_tokenizer, model_source
        from sqlgrpo.llm.vllm_generation import vllm_generator

        model, tokenizer = None, load_tokenizer(model_name)
    else:
        model, tokenizer = load_model(model_name, adapter=cfg.adapter, merge=True)
    budget = shared.max_seq_length  # prompts longer than the model's budget are dropped, as in training
    kept, dropped = prompt_records(records, tokenizer, budget, template=shared.system_prompt, backend=shared.backend,
                                   include_inserts=shared.include_inserts)
    if cfg.use_vllm:
        generate_batch = vllm_generator(model_source(model_name), cfg.adapter, num_samples=cfg.num_samples,
                                        max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature,
                                        top_p=cfg.top_p, max_model_len=budget + cfg.max_new_tokens)
    else:
        generate_batch = transformers_generator(model, tokenizer, cfg)
    start = time.perf_counter()
    with contextlib.nullcontext(None) if model is None else in_generation_precision(model, cfg.bf16) as model:
        generations = generate_all(kept, generate_batch, out / GENERATIONS_FILE, cfg.batch_size, cfg.resume,
                                   progress)
        weights = {} if model is None else {"weights_dtype": str(model.dtype).removeprefix("torch.")}
    return _finish(stage, out, eval_path, kept, [generations[str(r["id"])] for r in kept], progress,
                   {"model": model_name, "adapter": cfg.adapter, "prompts_dropped": dropped,
                    "generation_seconds": round(time.perf_counter() - start, 2), **weights})


def _open_run(stage: StageConfig, limit: int) -> tuple[Path, Path, list[dict]]:
    """The start every way of evaluating shares: the first `limit` records of the eval file
    (all for 0), refused when there is none, and the output folder with the resolved config."""
    eval_path = _eval_path(stage)
    records = read_eval_records(eval_path, limit)
    if not records:
        raise EvalError(f"eval file {eval_path} has no records")
    out = Path(stage.section.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    stage.write(out)
    return out, eval_path, records


def _finish(stage: StageConfig, out: Path, eval_path: Path, records: list[dict], generations: list[dict],
            progress: bool, facts: dict) -> dict:
    """The end every way of evaluating shares: score the answers, add what the run was (`facts`:
    model, adapter, how the answers were made), judge, write the outputs; returns the metrics."""
    shared, cfg = stage.shared, stage.section
    results, metrics = score_generations(records, generations, shared.backend, cfg.reward_weights, cfg.match,
                                         cfg.query_timeout_s)
    metrics.update({"eval_file": str(eval_path), "backend": shared.backend, **facts})
    _run_judge(stage, results, metrics, out, progress)
    write_outputs(out, results, metrics)
    return metrics


def evaluate_predictions(stage: StageConfig, *, progress: bool = True) -> dict:
    """The stage on answers read from `--predictions` instead of generated: no model, no prompt,
    every question of the eval file (the first --limit when given), the same scoring after."""
    cfg = stage.section
    if cfg.num_samples != 1:
        raise EvalError(f"--num-samples {cfg.num_samples} means nothing with --predictions: a predictions file "
                        "holds one answer per question")
    check_reward_weights(cfg.reward_weights)
    if "limit" not in stage.explicit:
        cfg.limit = 0  # the default limit is for generation's cost; a predictions file answers them all
    out, eval_path, all_records = _open_run(stage, 0)
    records = all_records[:cfg.limit] if cfg.limit else all_records
    try:
        predictions = read_predictions(cfg.predictions)
        count = source_question_count(all_records) if predictions.key == "index" else None
        found, matched_by = align_predictions(predictions, records, all_records, count)
    except PredictionsError as e:
        raise EvalError(str(e)) from None
    log.info("%d predictions read from %s (%s format), matched to the questions by %s", len(predictions.by_key),
             predictions.path, predictions.format, matched_by)
    generations = [{"outputs": [p.text], "given_sql": [p.sql]} for p in found]
    return _finish(stage, out, eval_path, records, generations, progress,
                   {"model": f"predictions: {Path(cfg.predictions).name}", "adapter": None, "prompts_dropped": 0,
                    "generation_seconds": None,
                    "predictions": {"file": str(cfg.predictions), "format": predictions.format,
                                    "matched_by": matched_by, "entries": len(predictions.by_key),
                                    "source_questions": count}})


def evaluate_served(stage: StageConfig, *, progress: bool = True) -> dict:
    """The stage with the answers generated by a running OpenAI-compatible server
    (`--generation-base-url`, `--generation-model`: `sqlgrpo.llm.served`): no model is loaded,
    only a tokenizer for the prompt budget when one is found locally. Resume, scoring and the
    judge are those of local generation. A question the server does not answer stops the run
    with an error naming it; the batches before it are saved, and --resume continues."""
    from sqlgrpo.llm.served import ServedGenerationError, ServedGenerator, served_prompt_records

    shared, cfg = stage.shared, stage.section
    if not (cfg.generation_base_url and cfg.generation_model):
        raise EvalError("served generation needs both --generation-base-url (the server's OpenAI-compatible endpoint, "
                        "e.g. http://127.0.0.1:8000/v1) and --generation-model (a name it serves, listed by GET "
                        "<base-url>/models)")
    if cfg.adapter:
        raise EvalError(f"--adapter {cfg.adapter} with --generation-base-url: the server serves the adapter, not "
                        f"sqlgrpo; serve it (vLLM: vllm serve BASE_MODEL --enable-lora --lora-modules "
                        f"NAME={cfg.adapter}) and pass --generation-model NAME without --adapter")
    for option, given in (("--use-vllm", cfg.use_vllm), ("--predictions", cfg.predictions)):
        if given:
            raise EvalError(f"{option} and --generation-base-url are two ways to get the answers (in this process, "
                            "from a file, from a server); pass one of them")
    check_reward_weights(cfg.reward_weights)
    generator = ServedGenerator(cfg.generation_base_url, cfg.generation_model, cfg.generation_api_key,
                                num_samples=cfg.num_samples, temperature=cfg.temperature, top_p=cfg.top_p,
                                max_tokens=cfg.max_new_tokens, concurrency=cfg.generation_concurrency,
                                max_attempts=cfg.generation_max_attempts, timeout_s=cfg.generation_timeout_s)
    out, eval_path, records = _open_run(stage, cfg.limit)
    # Whose tokenizer counts prompt tokens: the model named with --model, else the served name
    # (vLLM serves a model under its folder or hub id), else the default model.
    names = [shared.model] if "model" in stage.explicit else [cfg.generation_model, shared.model]
    kept, dropped, counted_by = served_prompt_records(records, names, shared.max_seq_length,
                                                      template=shared.system_prompt, backend=shared.backend,
                                                      include_inserts=shared.include_inserts)
    # A batch is what generate_all saves at once: at least one question per request slot.
    batch_size = max(cfg.batch_size, cfg.generation_concurrency)
    log.info("generating through %s (model %s), at most %d requests in flight", cfg.generation_base_url,
             cfg.generation_model, cfg.generation_concurrency)
    start = time.perf_counter()
    try:
        generations = generate_all(kept, generator.generate_batch, out / GENERATIONS_FILE, batch_size, cfg.resume,
                                   progress)
    except ServedGenerationError as error:
        raise EvalError(f"{error}. The batches before it are saved in {out / GENERATIONS_FILE}: --resume continues "
                        "from there") from None
    return _finish(stage, out, eval_path, kept, [generations[str(r["id"])] for r in kept], progress,
                   {"model": cfg.generation_model, "adapter": None, "prompts_dropped": dropped,
                    "generation_seconds": round(time.perf_counter() - start, 2),
                    "generation_server": cfg.generation_base_url, "generation_requests": generator.requests_sent,
                    "prompt_tokenizer": counted_by})


def source_question_count(records: list[dict]) -> int | None:
    """How many questions the benchmark source file of the records holds (Spider's dev.json,
    BIRD's dev.json): the lines an official predictions file has. Found from a record's
    `db_file`, `db_path` (the database relative to the benchmark folder) and `source_file`; None
    when the records do not say or the file is not there (then the eval file's last question
    bounds the lines)."""
    sources = {(r.get("db_file"), r.get("db_path"), r.get("source_file")) for r in records}
    for db_file, db_path, source_file in sources:
        if not (isinstance(db_file, str) and isinstance(db_path, str) and isinstance(source_file, str)):
            continue
        db_file_path, relative = Path(db_file), Path(db_path)
        if db_file_path.parts[-len(relative.parts):] != relative.parts:
            continue  # the database was found elsewhere (--db-root): the benchmark folder is unknown
        source = Path(*db_file_path.parts[:-len(relative.parts)]) / source_file
        try:
            questions = json.loads(source.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(questions, list):
            return len(questions)
    return None


@contextlib.contextmanager
def answer_time_limit(backend: str, seconds: float | None) -> Iterator[None]:
    """The per-query time limit of the process-wide executor set to `seconds` for a while (None:
    left as it is): BIRD's official evaluation gives a query 30 s, a rollout gets 2."""
    executor = default_executor(backend if backend in BACKENDS else "sqlite")
    before = executor.timeout_s
    if seconds is not None:
        if seconds <= 0:
            raise EvalError(f"query_timeout_s must be a positive number of seconds, got {seconds}")
        executor.timeout_s = seconds
    try:
        yield
    finally:
        executor.timeout_s = before


def score_generations(records: list[dict], generations: list[dict], backend: str,
                      weights: dict[str, float], match: str = OURS,
                      timeout_s: float | None = None) -> tuple[list[dict], dict]:
    """One result per question (every answer executed once, on its test suite too) and the
    metrics over them, `correct` under the convention `match`, including the training rewards
    of each first answer and how many questions had a suite applied (`test_suite_records`:
    none under a benchmark's convention, which judges on the shown database only). Each answer
    runs under `timeout_s` per query (None: the executor's own limit)."""
    with answer_time_limit(backend, timeout_s):
        return _score_generations(records, generations, backend, weights, match)


def _score_generations(records: list[dict], generations: list[dict], backend: str, weights: dict[str, float],
                       match: str) -> tuple[list[dict], dict]:
    results = score_questions(records, generations, backend, match)
    engine = backend if backend in BACKENDS else "sqlite"
    metrics = compute_metrics(results, engine)
    metrics["query_timeout_s"] = default_executor(engine).timeout_s
    metrics["match"], metrics["match_rule"] = match, MATCH_RULES[match]
    metrics["test_suite_records"] = sum(1 for r in records if record_suite(r)) if match == OURS else 0
    metrics.update(score_rewards(results, weights, backend))
    return results, metrics


def check_reward_weights(weights: dict[str, float]) -> None:
    unknown = [name for name in weights if name not in REWARDS]
    if unknown:
        raise EvalError(f"unknown reward {unknown[0]!r} in reward_weights; valid rewards: {', '.join(REWARDS)}")


def score_rewards(results: list[dict], weights: dict[str, float], backend: str = "sqlite") -> dict:
    """The training rewards on each result's (first) answer: sets `reward` (the weighted sum, as
    GRPO adds them up) and `rewards` (per function) on every result, and returns `mean_reward`
    and `reward_means` for metrics.json. A reward that cannot judge a sample (None) adds nothing
    to its sum, as in TRL. The execution reward is the score of the verdict each result already
    holds (`execution_score`, suite-aware: an answer right on the shown database only scores as a
    wrong result), and the executable rewards are read off it (the shaped one with the
    answer's `clause_similarity`, the result similarity with the verdict's): the answer is not
    run again. The other rewards read the answer's text and the gold and schema only."""
    check_reward_weights(weights)
    if not results:
        return {"mean_reward": None, "reward_means": {}, "reward_weights": dict(weights)}
    columns = {"sql": [r["gold"] for r in results], "sql_context": [r["context"] for r in results],
               "backend": [backend] * len(results)}
    completions = [r.get("raw_output") or "" for r in results]
    from_verdict = {EXECUTION_REWARD: lambda score: score, EXECUTABLE_REWARD: executable_score}
    scores = {name: [from_verdict[name](r["execution_score"]) for r in results] if name in from_verdict
              else get_reward(name)(completions, **columns) for name in weights
              if name not in (SHAPED_EXECUTABLE_REWARD, RESULT_SIMILARITY_REWARD)}
    if RESULT_SIMILARITY_REWARD in weights:  # the verdict's, a result written before it existed judged again
        scores[RESULT_SIMILARITY_REWARD] = [
            result_similarity_score(r["result_similarity"], r.get("extracted_sql"), r["gold"], backend)
            if "result_similarity" in r else get_reward(RESULT_SIMILARITY_REWARD)([r.get("raw_output") or ""],
                                                                                 sql=[r["gold"]], sql_context=[r["context"]],
                                                                                 backend=[backend])[0]
            for r in results]
    if SHAPED_EXECUTABLE_REWARD in weights:  # from the verdict and the answer's clauses: not run again
        structure = clause_similarity(completions, **columns)
        scores[SHAPED_EXECUTABLE_REWARD] = [shaped_executable_score(executable_score(r["execution_score"]), c)
                                            for r, c in zip(results, structure)]
    scores = {name: scores[name] for name in weights}
    means = {}
    for name, values in scores.items():
        judged = [v for v in values if v is not None]
        means[name] = round(sum(judged) / len(judged), 4) if judged else None
    for i, r in enumerate(results):
        r["rewards"] = {name: values[i] for name, values in scores.items()}
        r["reward"] = round(sum(weights[name] * v for name, v in r["rewards"].items() if v is not None), 4)
    return {"mean_reward": round(sum(r["reward"] for r in results) / len(results), 4), "reward_means": means,
            "reward_weights": dict(weights)}


def _run_judge(stage: StageConfig, results: list[dict], metrics: dict, out: Path, progress: bool) -> None:
    cfg = stage.section
    if not cfg.judge:
        metrics["judge"] = None
        return
    from sqlgrpo.scoring.judge import Judge, judge_configuration
    from sqlgrpo.scoring.judge_rubric import judge_metrics

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


# `correct` is the test-suite verdict, `shown_correct` the plain match on the shown database.
CSV_COLUMNS = ("id", "sql_complexity", "correct", "shown_correct", "suite_checked", "strict_correct", "exact_match",
               "valid_sql", "format_strict", "format_soft", "error_kind", "tokens", "latency_s", "question", "gold",
               "extracted_sql", "error", "judge_overall_score")


def write_outputs(out: Path, results: list[dict], metrics: dict) -> None:
    from sqlgrpo.report.console import eval_summary_text
    from sqlgrpo.report.eval_page import render_eval_report

    serializable = [{k: v for k, v in r.items() if k != "outcome"} for r in results]
    for r in serializable:
        for s in r.get("samples") or []:
            s.pop("outcome", None)
    write_json(out / RESULTS_FILE, serializable, indent=1)
    write_json(out / METRICS_FILE, metrics)
    atomic_write_text(out / SUMMARY_FILE, eval_summary_text(metrics))
    table = io.StringIO(newline="")
    writer = csv.DictWriter(table, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for r in serializable:
        judge = r.get("judge") or {}
        writer.writerow({**r, "judge_overall_score": judge.get("overall_score")})
    atomic_write_text(out / CSV_FILE, table.getvalue())
    render_eval_report(metrics, serializable, out / REPORT_FILE)


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
