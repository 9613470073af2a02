"""Reward throughput on GRPO-shaped groups over the 900 shared gretel rows.

    python benchmarks/bench_rewards.py [--file PATH] [--limit N] [--backend sqlite] [--diagnose]
                                       [--no-suites] [--suite-repeats 2]

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

The test-suite pass (skipped with `--no-suites`) first builds every row's suite as prepare does
(`sqlgrpo.stages.suites.attach_suites`, over all cores; timed on its own, not in the reward
numbers), then scores with execution_reward called as TRL calls it on a prepared dataset (the
`test_suite` column as a keyword list), every pass cold (`clear_caches()` first):
- suites: the same groups and completions as above, with their rows' suites, against the
  one-database reward on them in the same run. Gold copies are the gold's own text and near-misses
  already differ on the shown database, so few variants run: the common case.
- worst case: every completion an equivalent rewrite of the gold that is not its text (a SELECT
  wrapped as `SELECT * FROM (<gold>) AS q<i>`; an ordered SELECT with a projection alias added; a
  DML statement, or a gold neither applies to, written back by sqlglot behind a comment), each
  verified to match the gold on the shown database, GROUP_SIZE distinct ones per row: every
  answer runs on the shown database and on every variant of its suite. Against the one-database
  reward on the same completions.
The passes run `--suite-repeats` times in alternating order (one-database first, then suites
first) and each rate is the median, so that a load change on a shared machine does not fall on
one side of a ratio only.
Targets on 2 cores: with suites at least 1,000 completions/s and at least 0.5x the one-database
reward; the worst case at least 0.15x the one-database reward on the same completions.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlglot import exp

from sqlgrpo.common.text import statement_key
from sqlgrpo.data.sources import load_source
from sqlgrpo.scoring import rewards, verdict
from sqlgrpo.scoring.answers import parse_answer, target_answer
from sqlgrpo.scoring.matching import modifies, outcomes_match
from sqlgrpo.scoring.near_misses import near_misses, parse_gold, render
from sqlgrpo.scoring.suites import TEST_SUITE_FIELD
from sqlgrpo.scoring.verdict import EXEC_FAILED, EXEC_MATCH, EXEC_RAN_WRONG
from sqlgrpo.sql import build_example_db, default_executor
from sqlgrpo.sql.analysis import is_ordered, parse_statements
from sqlgrpo.sql.dialects import FALLBACK_DIALECTS
from sqlgrpo.stages.suites import attach_suites

DEFAULT_FILE = Path(__file__).resolve().parents[2] / "shared" / "data" / "gretel_sample_train.jsonl"
GROUP_SIZE = 8  # completions per prompt, a common GRPO num_generations
GOLD_COPIES = 4  # half the group right, half near-misses: every reward sees both kinds
BROKEN_SQL = "SELECT FROM WHERE"  # a syntax error: fails as written and in every transpile attempt
WARMUP_ROWS = 5  # imports, dialect tables and the thread pool are set up before timing
SUITE_TARGET_COMPLETIONS_PER_S = 1_000
SUITE_TARGET_RATIO = 0.5  # with suites vs one database, the same completions
WORST_CASE_TARGET_RATIO = 0.15  # every answer right on the shown database, vs one database


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
    parser.add_argument("--no-suites", action="store_true", help="skip the test-suite pass")
    parser.add_argument("--suite-repeats", type=int, default=2, help="rounds of the test-suite passes (median)")
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
    if not args.no_suites:
        suite_pass(groups, args.backend, args.suite_repeats)
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


# --------------------------------------------------------------------------------------------
# Test suites

def equivalent_rewrites(gold: str, context: str, backend: str) -> tuple[list[str], Counter]:
    """GROUP_SIZE distinct texts that are not the gold's and match it on the shown database (see
    the module docstring), and how many of each style; [] when there are not enough."""
    gold_result = verdict.gold_outcome(gold, context, backend)
    trees = parse_gold(gold, backend, gold_result.dialect)
    if not trees:
        return [], Counter()
    tree = trees[0]
    single_query = len(trees) == 1 and isinstance(tree, exp.Query)
    unaliased = [i for i, p in enumerate(tree.expressions) if single_query and isinstance(tree, exp.Select)
                 and not isinstance(p, (exp.Alias, exp.Star)) and not (isinstance(p, exp.Column) and p.is_star)]
    found, styles = [], Counter()
    for i in range(GROUP_SIZE):
        options = []
        if single_query and not verdict.gold_is_ordered(gold, backend):
            options.append(("wrapped", lambda i=i: [exp.select("*").from_(tree.copy().subquery(f"q{i}"))]))
        if unaliased:
            def aliased(i: int = i) -> list:
                copy = tree.copy()
                position = unaliased[0]
                copy.expressions[position].replace(exp.alias_(copy.expressions[position].copy(), f"a{i}"))
                return [copy]
            options.append(("alias added", aliased))

        def commented(i: int = i) -> list:
            copies = [t.copy() for t in trees]
            copies[0].add_comments([f"rewrite {i}"])
            return copies
        options.append(("comment", commented))
        for style, make in options:
            text = render(make(), backend)
            if statement_key(text) != statement_key(gold) and text not in found \
                    and verdict.verdict(text, gold, context, backend).correct:
                found.append(text)
                styles[style] += 1
                break
    return (found, styles) if len(found) == GROUP_SIZE else ([], Counter())


def suite_caller(backend: str) -> Callable[[dict], list]:
    """execution_reward as TRL calls it on a prepared dataset: the test_suite column as a list."""
    def call(group: dict) -> list:
        k = len(group["completions"])
        return rewards.execution_reward(group["completions"], sql=[group["gold"]] * k,
                                        sql_context=[group["context"]] * k, backend=[backend] * k,
                                        **{TEST_SUITE_FIELD: [group["suite"]] * k})
    return call


def pass_fail(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def suite_pass(groups: list[dict], backend: str, repeats: int) -> None:
    """The test-suite measurements of the module docstring."""
    rows = [{"sql": g["gold"], "sql_context": g["context"]} for g in groups]
    cpu_before = os.times()
    start = time.perf_counter()
    section = attach_suites(rows, backend, progress=False)
    build_s = time.perf_counter() - start
    cpu_after = os.times()
    cpu_s = sum(cpu_after[:4]) - sum(cpu_before[:4])
    for group, row in zip(groups, rows):
        group["suite"] = row[TEST_SUITE_FIELD]
    variants = sum(len(g["suite"]) for g in groups)
    print(f"\ntest suites (built first, not timed below): {section['records_with_suite']} of {len(groups)} rows "
          f"got one, {variants} variants; {build_s:.1f} s ({len(groups) / build_s:.1f} rows/s, {cpu_s:.0f} cpu-s; "
          f"load average {os.getloadavg()[0]:.1f})")

    start = time.perf_counter()
    worst, styles, without = [], Counter(), 0
    for group in groups:
        texts, used = equivalent_rewrites(group["gold"], group["context"], backend)
        if not texts:
            without += 1
            continue
        styles.update(used)
        worst.append(dict(group, completions=[target_answer(t, group["context"], backend) for t in texts]))
    n_worst = sum(len(g["completions"]) for g in worst)
    print(f"worst-case groups: {len(worst)} x {GROUP_SIZE} = {n_worst} completions "
          f"({', '.join(f'{n} {style}' for style, n in styles.most_common())}; {without} rows without "
          f"{GROUP_SIZE} verified rewrites left out); {time.perf_counter() - start:.1f} s, not timed")

    one_db = reward_caller(rewards.execution_reward, backend)
    with_suite = suite_caller(backend)
    runs = {("mixed groups", "one database"): (one_db, groups), ("mixed groups", "suites"): (with_suite, groups),
            ("worst case", "one database"): (one_db, worst), ("worst case", "suites"): (with_suite, worst)}
    rates: dict[tuple, list[float]] = {key: [] for key in runs}
    p50s: dict[tuple, list[float]] = {key: [] for key in runs}
    scores: dict[tuple, list] = {}
    for round_ in range(repeats):
        order = list(runs) if round_ % 2 == 0 else [k for pair in zip(list(runs)[1::2], list(runs)[::2]) for k in pair]
        for key in order:
            call, run_groups = runs[key]
            rewards.clear_caches()
            total, latencies, run_scores = timed_pass(call, run_groups)
            rates[key].append(sum(len(g["completions"]) for g in run_groups) / total)
            p50s[key].append(1000 * statistics.median(latencies))
            scores[key] = run_scores

    print(f"\n{'execution_reward, cold':36s} {'compl/s':>12s} {'p50 ms/call':>12s}   compl/s of each round "
          f"(medians of {repeats})")
    rate = {key: statistics.median(values) for key, values in rates.items()}
    for key in runs:
        print(f"{key[0] + ', ' + key[1]:36s} {rate[key]:12.0f} {statistics.median(p50s[key]):12.2f}   "
              f"{', '.join(f'{r:.0f}' for r in rates[key])}")

    def flat(key: tuple) -> list:
        return [x for group in scores[key] for x in group]

    changed = sum(a != b for a, b in zip(flat(("mixed groups", "one database")), flat(("mixed groups", "suites"))))
    full_one = sum(x == EXEC_MATCH for x in flat(("worst case", "one database")))
    full_suite = sum(x == EXEC_MATCH for x in flat(("worst case", "suites")))
    print(f"\nmixed groups: scores that differ with suites: {changed} of {len(flat(('mixed groups', 'suites')))}")
    print(f"worst case: full credit {full_one} of {n_worst} on one database, {full_suite} of {n_worst} with "
          f"suites (every one is an equivalent rewrite: each lost is a false negative)")
    mixed_ratio = rate[("mixed groups", "suites")] / rate[("mixed groups", "one database")]
    worst_ratio = rate[("worst case", "suites")] / rate[("worst case", "one database")]
    worst_vs_mixed = rate[("worst case", "suites")] / rate[("mixed groups", "one database")]
    print(f"with suites: {rate[('mixed groups', 'suites')]:.0f} completions/s; target >= "
          f"{SUITE_TARGET_COMPLETIONS_PER_S:,}: {pass_fail(rate[('mixed groups', 'suites')] >= SUITE_TARGET_COMPLETIONS_PER_S)}")
    print(f"with suites vs one database, same completions: {mixed_ratio:.2f}x; target >= {SUITE_TARGET_RATIO}x: "
          f"{pass_fail(mixed_ratio >= SUITE_TARGET_RATIO)}")
    print(f"worst case with suites vs one database, same completions: {worst_ratio:.2f}x; target >= "
          f"{WORST_CASE_TARGET_RATIO}x: {pass_fail(worst_ratio >= WORST_CASE_TARGET_RATIO)} "
          f"(vs the mixed groups' one-database rate: {worst_vs_mixed:.2f}x)")


if __name__ == "__main__":
    sys.exit(main())
