"""Cleansing throughput of `sqlgrpo prepare` on the 900 shared gretel rows.

    python benchmarks/bench_prepare.py [--file PATH] [--repeats 3] [--duckdb]

Measures rows/s of the cleansing step (context build, gold execution, reference check with
sqlglot scopes) over all cores and on one worker, after imports and loading, so interpreter
start-up is excluded. Worker start-up (fork) is included: a user pays it on every run.
Target on 2 cores: at least 500 rows/s with SQLite.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from sqlgrpo.data.sources import load_source
from sqlgrpo.stages.prepare import available_cores, clean_records

DEFAULT_FILE = Path(__file__).resolve().parents[2] / "shared" / "data" / "gretel_sample_train.jsonl"


def measure(records: list, backend: str, workers: int, repeats: int) -> tuple[float, int]:
    rates, kept = [], 0
    for _ in range(repeats):
        start = time.perf_counter()
        outcomes = clean_records(records, backend, workers, progress=False)
        rates.append(len(records) / (time.perf_counter() - start))
        kept = sum(1 for o in outcomes if o.record is not None)
    return statistics.median(rates), kept


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--duckdb", action="store_true", help="also measure the DuckDB backend (slow)")
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
