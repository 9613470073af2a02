"""Reward throughput on GRPO-shaped groups over the 900 shared gretel rows.

    python benchmarks/bench_rewards.py [--file PATH] [--limit N] [--backend sqlite] [--diagnose]

Per row whose gold runs, one group of GROUP_SIZE = 8 completions in the training format: 4 copies
of the gold completion and 4 verified near-misses (`sqlgrpo.scoring.near_misses`), padded
with a broken-SQL completion when a row has fewer. Near-miss generation happens before any
timing. Every reward in `sqlgrpo.scoring.rewards.REWARDS` then scores the rows one group per call, as
GRPOTrainer calls a reward once per batch holding each prompt's group, and the script prints
completions/s and the p50/p99 latency of one call.

Three passes per reward, because GRPO sees each prompt's group once per step, the same prompts
again every epoch, and models repeat answers:
- cold: the first epoch. Every cache is emptied first (`sqlgrpo.scoring.rewards.clear_caches()`: gold
  outcomes, parsed golds, completion scores and analyses, the executor's pristine databases).
- new answers: the same prompts again with the databases and gold outcomes warm, but every
  completion unseen (`clear_caches(predictions_only=True)`): a later epoch with fresh samples.
- repeat: the same completions again, nothing cleared: answers the model has already given
  (the prediction score cache answers them). The most favourable case; reported, not claimed.

The naive baseline scores execution as a straightforward implementation would: for every
completion, a fresh database built from the context (`sqlgrpo.sql.build_example_db`), the gold
executed again, the gold parsed again for ORDER BY, no cache, one completion after another; and
the same comparison (`sqlgrpo.scoring.matching.outcomes_match`), so its scores must equal the execution
reward's (the script counts disagreements).

`--diagnose` adds warm execution_reward passes that take one cost away at a time: every context
resident (the executor's cache enlarged to hold them all), then also sequential scoring (no
thread pool), then also without the broken-SQL pads (which pay two failed transpile attempts).

Targets on 2 cores: execution_reward at least 10x the naive baseline and at least 1,000
completions/s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlgrpo.data.sources import load_source
from sqlgrpo.scoring import rewards, verdict
from sqlgrpo.scoring.answers import parse_answer, target_answer
from sqlgrpo.scoring.matching import modifies, outcomes_match
from sqlgrpo.scoring.near_misses import near_misses
from sqlgrpo.scoring.verdict import EXEC_FAILED, EXEC_MATCH, EXEC_RAN_WRONG
from sqlgrpo.sql import build_example_db, default_executor
from sqlgrpo.sql.analysis import is_ordered, parse_statements
from sqlgrpo.sql.dialects import FALLBACK_DIALECTS

DEFAULT_FILE = Path(__file__).resolve().parents[2] / "shared" / "data" / "gretel_sample_train.jsonl"
GROUP_SIZE = 8  # completions per prompt, a common GRPO num_generations
GOLD_COPIES = 4  # half the group right, half near-misses: every reward sees both kinds
BROKEN_SQL = "SELECT FROM WHERE"  # a syntax error: fails as written and in every transpile attempt
WARMUP_ROWS = 5  # imports, dialect tables and the thread pool are set up before timing


def build_groups(records: list, backend: str) -> tuple[list[dict], dict]:
    """One group per row whose gold runs: {"gold", "context", "completions"} and counts."""
    groups, stats = [], {"rows": len(records), "gold_failed": 0, "near_misses": 0, "pads": 0}
    for record in records:
        gold, context = record.fields["sql"], record.fields["sql_context"]
        if not default_executor(backend).run(gold, context).ok:
            stats["gold_failed"] += 1
            continue
        misses = near_misses(gold, context, backend)[:GROUP_SIZE - GOLD_COPIES]
        stats["near_misses"] += len(misses)
        stats["pads"] += GROUP_SIZE - GOLD_COPIES - len(misses)
        sqls = [gold] * GOLD_COPIES + [m["sql"] for m in misses]
        sqls += [BROKEN_SQL] * (GROUP_SIZE - len(sqls))
        groups.append({"gold": gold, "context": context, "completions": [target_answer(s, context, backend) for s in sqls]})
    return groups, stats


PASSES = ("cold", "new answers", "repeat")


def reset_caches(backend: str) -> None:
    """Empty every cache a first epoch starts without."""
    rewards.clear_caches()


def timed_pass(score_group: Callable[[dict], list], groups: list[dict]) -> tuple[float, list[float], list[list]]:
    """Total seconds, seconds per call, and the scores of each group."""
    latencies, scores = [], []
    for group in groups:
        start = time.perf_counter()
        scores.append(score_group(group))
        latencies.append(time.perf_counter() - start)
    return sum(latencies), latencies, scores


def reward_caller(fn: Callable[..., list], backend: str) -> Callable[[dict], list]:
    def call(group: dict) -> list:
        k = len(group["completions"])
        return fn(group["completions"], sql=[group["gold"]] * k, sql_context=[group["context"]] * k,
                  backend=[backend] * k)
    return call


def naive_is_ordered(gold: str, backend: str) -> bool:
    """`verdict.gold_is_ordered` without its cache: the gold parsed on every call."""
    for dialect in (backend, *FALLBACK_DIALECTS):
        trees = parse_statements(gold, dialect)
        if trees:
            return is_ordered(trees)
    return False


def naive_execution_score(completion: Any, gold: str, context: str, backend: str) -> float | None:
    """The execution reward of one completion, from scratch: fresh database, gold re-run."""
    db = build_example_db(context, backend)
    try:
        gold_result = db.run(gold) if db.ok else None
        if gold_result is None or not gold_result.ok:
            return None
        pred_sql = parse_answer(completion).sql
        if not pred_sql:
            return EXEC_FAILED
        pred = db.run(pred_sql)
        if not pred.ok or modifies(gold_result) != modifies(pred):
            return EXEC_FAILED
        if outcomes_match(gold_result, pred, order_matters=naive_is_ordered(gold, backend)):
            return EXEC_MATCH
        return EXEC_RAN_WRONG
    finally:
        db.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def line(name: str, pass_name: str, total_s: float, latencies: list[float], completions: int) -> str:
    return (f"{name:28s} {pass_name:11s} {completions / total_s:12.0f} {1000 * statistics.median(latencies):12.2f} "
            f"{1000 * percentile(latencies, 0.99):12.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--limit", type=int, default=None, help="use only the first N rows")
    parser.add_argument("--backend", default="sqlite", choices=("sqlite", "duckdb"))
    parser.add_argument("--diagnose", action="store_true", help="also the warm passes with one cost removed at a time")
    args = parser.parse_args()
    if not args.file.is_file():
        print(f"no input file at {args.file}; pass --file", file=sys.stderr)
        return 2
    records = load_source(str(args.file), limit=args.limit).records
    start = time.perf_counter()
    groups, stats = build_groups(records, args.backend)
    build_s = time.perf_counter() - start
    n = sum(len(g["completions"]) for g in groups)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"input: {args.file} ({stats['rows']} rows; {stats['gold_failed']} skipped, gold fails)")
    print(f"groups: {len(groups)} x {GROUP_SIZE} = {n} completions ({GOLD_COPIES} gold copies per group, "
          f"{stats['near_misses']} near-misses, {stats['pads']} broken-SQL pads); backend {args.backend}; "
          f"cores {cores}")
    print(f"near-miss generation (not timed below): {build_s:.1f} s")

    for fn in rewards.REWARDS.values():  # warm-up: imports, sqlglot dialects, the thread pool
        for group in groups[:WARMUP_ROWS]:
            reward_caller(fn, args.backend)(group)

    print(f"\n{'reward':28s} {'pass':11s} {'compl/s':>12s} {'p50 ms/call':>12s} {'p99 ms/call':>12s}")
    results: dict[tuple[str, str], float] = {}
    execution_scores = None
    for name, fn in rewards.REWARDS.items():
        call = reward_caller(fn, args.backend)
        reset_caches(args.backend)
        for pass_name in PASSES:
            if pass_name == "new answers":
                rewards.clear_caches(predictions_only=True)
            total, latencies, scores = timed_pass(call, groups)
            results[(name, pass_name)] = n / total
            print(line(name, pass_name, total, latencies, n))
            if name == "execution_reward" and pass_name == "cold":
                execution_scores = scores

    def naive(group: dict) -> list:
        return [naive_execution_score(c, group["gold"], group["context"], args.backend) for c in group["completions"]]

    reset_caches(args.backend)
    total, latencies, naive_scores = timed_pass(naive, groups)
    results[("naive", "cold")] = n / total
    print(line("naive execution (baseline)", "-", total, latencies, n))

    disagree = sum(a != b for ga, gb in zip(naive_scores, execution_scores or []) for a, b in zip(ga, gb))
    print(f"\nnaive scores that differ from execution_reward's: {disagree} of {n}")
    for pass_name in PASSES:
        speedup = results[("execution_reward", pass_name)] / results[("naive", "cold")]
        print(f"execution_reward {pass_name} vs naive: {speedup:.1f}x "
              f"({results[('execution_reward', pass_name)]:.0f} vs {results[('naive', 'cold')]:.0f} completions/s; "
              f"targets: >= 10x and >= 1,000 completions/s)")
    if args.diagnose:
        diagnose(groups, args.backend)
    return 0


def diagnose(groups: list[dict], backend: str) -> None:
    """Warm execution_reward passes with one cost taken away at a time (see the docstring)."""
    call = reward_caller(rewards.execution_reward, backend)
    executor = default_executor(backend)
    saved = executor.cache_size, verdict.PARALLEL_MIN_ANSWERS
    print(f"\n{'execution_reward, warm, ...':52s} {'compl/s':>12s} {'p50 ms/call':>12s}")
    try:
        executor.cache_size = len(groups) + 1  # every context stays resident
        timed_pass(call, groups)  # fills the enlarged cache
        runs = [("every context resident", groups)]
        runs.append(("... and sequential (no thread pool)", groups))
        unpadded = [dict(g, completions=[c for c in g["completions"] if BROKEN_SQL not in c]) for g in groups]
        runs.append(("... and no broken-SQL pads", [g for g in unpadded if g["completions"]]))
        for label, run_groups in runs:
            if label.startswith("... and sequential"):
                verdict.PARALLEL_MIN_ANSWERS = sys.maxsize
            total, latencies, _ = timed_pass(call, run_groups)
            count = sum(len(g["completions"]) for g in run_groups)
            print(f"{label:52s} {count / total:12.0f} {1000 * statistics.median(latencies):12.2f}")
    finally:
        executor.cache_size, verdict.PARALLEL_MIN_ANSWERS = saved


if __name__ == "__main__":
    sys.exit(main())
