"""Cleansing throughput of `sqlgrpo prepare` on the 900 shared gretel rows.

    python benchmarks/bench_prepare.py [--file PATH] [--repeats 3] [--duckdb] [--no-suites]

Measures rows/s of the cleansing step (context build, gold execution, reference check with
sqlglot scopes) over all cores and on one worker, after imports and loading, so interpreter
start-up is excluded. Worker start-up (fork) is included: a user pays it on every run.
Target on 2 cores: at least 500 rows/s with SQLite.

Then prepare's second pass, once: a test suite for every kept record
(`sqlgrpo.stages.suites.attach_suites`, over all cores, on the records cleansing kept with
duplicates dropped, as `sqlgrpo prepare` runs it). Rows/s counts the records the pass is given;
the pass works on each distinct (gold, context) once. Target on 2 cores: at least 20 rows/s with
SQLite.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from sqlgrpo.data.sources import load_source
from sqlgrpo.stages.prepare import available_cores, clean_records, drop_duplicates
from sqlgrpo.stages.suites import attach_suites

DEFAULT_FILE = Path(__file__).resolve().parents[2] / "shared" / "data" / "gretel_sample_train.jsonl"
SUITE_TARGET_ROWS_PER_S = 20  # on 2 cores with SQLite


def measure(records: list, backend: str, workers: int, repeats: int) -> tuple[float, int]:
    rates, kept = [], 0
    for _ in range(repeats):
        start = time.perf_counter()
        outcomes = clean_records(records, backend, workers, progress=False)
        rates.append(len(records) / (time.perf_counter() - start))
        kept = sum(1 for o in outcomes if o.record is not None)
    return statistics.median(rates), kept


def measure_suites(records: list, backend: str, workers: int) -> None:
    """Cleanse (not timed), then time the suite pass on the kept records and print its rate."""
    outcomes = clean_records(records, backend, workers, progress=False)
    drop_duplicates(outcomes)
    kept = [o.record for o in outcomes if o.record is not None]
    cpu_before, start = os.times(), time.perf_counter()
    section = attach_suites(kept, backend, workers=workers, progress=False)
    seconds = time.perf_counter() - start
    cpu_s = sum(os.times()[:4]) - sum(cpu_before[:4])  # this process and its reaped workers
    rate = len(kept) / seconds
    verdict = "PASS" if rate >= SUITE_TARGET_ROWS_PER_S else "FAIL"
    print(f"{backend:7s} workers={workers}: {rate:8.1f} rows/s  test suites for {len(kept)} kept records in "
          f"{seconds:.1f} s; target >= {SUITE_TARGET_ROWS_PER_S} rows/s: {verdict}")
    # On a shared machine the wall clock also counts other jobs' time; cpu-s is this pass's own.
    print(f"        {cpu_s:.0f} cpu-s ({len(kept) / cpu_s:.1f} rows per cpu-s); load average "
          f"{os.getloadavg()[0]:.1f} on {available_cores()} cores")
    no_suite = ", ".join(f"{n} {why}" for why, n in section["no_suite"].items()) or "none"
    print(f"        {section['records_with_suite']} with a suite, {section['records_without_suite']} without "
          f"({no_suite}); variants per record {section['variants_per_record']}; "
          f"{section['agreeing_neighbours_told_apart']} of {section['agreeing_neighbours']} agreeing neighbours "
          f"told apart")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--duckdb", action="store_true", help="also measure the DuckDB backend (slow)")
    parser.add_argument("--no-suites", action="store_true", help="skip the test-suite pass")
    args = parser.parse_args()
    if not args.file.is_file():
        print(f"no input file at {args.file}; pass --file", file=sys.stderr)
        return 2
    loaded = load_source(str(args.file))
    records = loaded.records
    cores = available_cores()
    print(f"input: {args.file} ({len(records)} records), cores: {cores}")
    runs = [("sqlite", cores), ("sqlite", 1)]
    if args.duckdb:
        runs += [("duckdb", cores)]
    for backend, workers in runs:
        repeats = args.repeats if backend == "sqlite" else 1
        rate, kept = measure(records, backend, workers, repeats)
        print(f"{backend:7s} workers={workers}: {rate:8.1f} rows/s  (kept {kept}/{len(records)}, "
              f"median of {repeats})")
    if not args.no_suites:
        print("\ntest-suite pass (once):")
        measure_suites(records, "sqlite", cores)
    return 0


if __name__ == "__main__":
    sys.exit(main())
