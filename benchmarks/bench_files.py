"""Query throughput and memory of the executor on database files (Spider/BIRD-style records).

    python benchmarks/bench_files.py [--mb 110] [--seconds 2] [--files 20] [--threads N]

Generates in a temporary directory (removed at the end, whatever happens) a SQLite file of at
least `--mb` MB with the standard `sqlite3` module: `customers` (200k rows) and `orders` (rows
added until the file is large enough, ~1.3M for 110 MB), primary keys, and indexes on
`orders(customer_id)` and `orders(day)`. Every query then goes through the executor
(`SQLExecutor.run` on `file_context(path)`), as rewards and evaluation send them:

- SELECTs/s on the large file: point lookups by primary key, lookups through an index, an
  aggregate over an indexed range (GROUP BY on ~0.3% of `orders`), each for `--seconds` in one
  thread and in `--threads` threads at once (the verdict's pool runs answers so), distinct
  texts each time (no cache above the executor answers them);
- DML/s: on the large file (over `MAX_FILE_COPY_BYTES`, never copied: each write runs in a
  transaction on the file that is always rolled back) UPDATEs and DELETEs without state (its whole
  state is over the snapshot cap DML is compared by); on a small file of the same schema (2k customers, 20k orders: its state
  fits the snapshot DML is compared by), UPDATEs with their state, as the verdict runs them; on a
  file just under the copy limit, UPDATEs without state (`capture_state=False`): the cost of
  the private copy alone;
- memory: with `--files` such files open at once (hard links to the large file, so each is a
  distinct file context, opened and checked on its own), the resident memory and SQLite's own
  heap right after opening them and after a lookup and an aggregate on each, measured in a fresh
  child process (the earlier passes' freed memory would hide it); once as shipped, once with idle
  connections keeping their whole page cache (`IDLE_CACHE_BYTES` lifted), for comparison.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlgrpo.sql import MAX_FILE_COPY_BYTES, SQLExecutor, file_context
from sqlgrpo.sql import file_engine

CUSTOMERS = 200_000
DAYS = 3_650  # ten years of order days: an indexed range of 10 days is ~0.3% of the orders
BATCH_ROWS = 100_000  # rows per executemany while generating
SMALL_CUSTOMERS, SMALL_ORDERS = 2_000, 20_000  # 22k rows: under MAX_STATE_ROWS (50k)
NEAR_CAP_FRACTION = 0.9  # the copy-cost file is this fraction of MAX_FILE_COPY_BYTES
COUNTRIES = ("France", "Japan", "Peru", "Chile", "Kenya", "Norway", "India", "Canada")

SELECTS = {  # the measured SELECT mixes: text of the i-th query
    "point lookup by primary key": lambda i: f"SELECT name, country FROM customers WHERE id = {i * 7919 % CUSTOMERS}",
    "lookup through an index (customer's orders)":
        lambda i: f"SELECT count(*), sum(amount) FROM orders WHERE customer_id = {i * 104729 % CUSTOMERS}",
    "aggregate over an indexed range (10 days, GROUP BY)":
        lambda i: (f"SELECT c.country, count(*), round(avg(o.amount), 2) FROM orders o JOIN customers c "
                   f"ON c.id = o.customer_id WHERE o.day BETWEEN {i % (DAYS - 10)} AND {i % (DAYS - 10) + 9} "
                   "GROUP BY c.country ORDER BY c.country"),
}


def generate(path: Path, min_bytes: int, customers: int = CUSTOMERS, max_orders: int | None = None) -> int:
    """Write the benchmark database; returns its number of orders."""
    rng = random.Random(13)
    conn = sqlite3.connect(path)
    conn.executescript(
        "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;"
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, country TEXT, signup_day INT);"
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INT REFERENCES customers, day INT,"
        " amount REAL, status TEXT, note TEXT);"
        "CREATE INDEX orders_customer ON orders (customer_id);"
        "CREATE INDEX orders_day ON orders (day);")
    conn.executemany("INSERT INTO customers VALUES (?, ?, ?, ?)",
                     ((i, f"customer {i:06d}", COUNTRIES[i % len(COUNTRIES)], rng.randrange(DAYS))
                      for i in range(customers)))
    orders = 0
    while (max_orders is None or orders < max_orders) and (
            max_orders is not None or os.path.getsize(path) < min_bytes):
        n = BATCH_ROWS if max_orders is None else min(BATCH_ROWS, max_orders - orders)
        conn.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?)",
                         ((orders + i, rng.randrange(customers), rng.randrange(DAYS), round(rng.random() * 500, 2),
                           ("open", "paid", "shipped", "returned")[i % 4], f"order note {rng.getrandbits(96):024x}")
                          for i in range(n)))
        conn.commit()
        orders += n
    conn.close()
    return orders


def rss_mb() -> float:
    """Resident memory of this process now (Linux /proc), else its peak (getrusage)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rate(ex: SQLExecutor, ctx: str, make_sql, seconds: float, threads: int, *, refused: bool = False,
         **run_kwargs) -> tuple[float, int]:
    """(queries/s, failures) of `make_sql(i)` texts run for `seconds` in `threads` threads; a
    failure is printed unless every text is expected to be refused."""
    counter = iter(range(10**12))  # distinct texts across threads (next() on it is atomic under the GIL)
    lock = threading.Lock()
    totals = {"runs": 0, "failed": 0, "first_error": ""}
    stop = time.monotonic() + seconds

    def worker() -> None:
        runs = failed = 0
        error = ""
        while time.monotonic() < stop:
            r = ex.run(make_sql(next(counter)), ctx, **run_kwargs)
            runs += 1
            if not r.ok:
                failed += 1
                error = error or f"{r.error_kind}: {r.error}"
        with lock:
            totals["runs"] += runs
            totals["failed"] += failed
            totals["first_error"] = totals["first_error"] or error

    start = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        for f in [pool.submit(worker) for _ in range(threads)]:
            f.result()
    took = time.monotonic() - start
    if totals["failed"] and not refused:
        print(f"      ({totals['failed']} failed; first: {totals['first_error'][:160]})")
    return totals["runs"] / took, totals["failed"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=110, help="size of the large file, in MB (at least 100)")
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measured query mix")
    parser.add_argument("--files", type=int, default=20, help="files open at once for the memory figure")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0))
                        if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1),
                        help="threads of the parallel passes (default: the usable cores)")
    parser.add_argument("--memory-of", nargs="+", help=argparse.SUPPRESS)  # the child process of the memory figure
    parser.add_argument("--keep-idle-cache", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.keep_idle_cache:
        file_engine.IDLE_CACHE_BYTES = 2**62
    if args.memory_of:
        memory_of(args.memory_of)
        return
    with tempfile.TemporaryDirectory(prefix="sqlgrpo-bench-files-") as tmp:
        try:
            run(Path(tmp), args)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)  # also when a run fails half-way
    print(f"temporary files removed: {not os.path.exists(tmp)}")


def run(tmp: Path, args: argparse.Namespace) -> None:
    threads = max(args.threads, 1)
    big = tmp / "big.sqlite"
    start = time.monotonic()
    orders = generate(big, args.mb * 2**20)
    size_mb = os.path.getsize(big) / 2**20
    print(f"generated {big.name}: {size_mb:.0f} MB, {CUSTOMERS:,} customers, {orders:,} orders, 2 indexes "
          f"({time.monotonic() - start:.1f} s)")
    print(f"threads for the parallel passes: {threads}; {args.seconds:.0f} s per pass; "
          f"MAX_FILE_COPY_BYTES = {MAX_FILE_COPY_BYTES // 2**20} MB")

    ex = SQLExecutor()
    ctx = file_context(big)
    t0 = time.monotonic()
    db = ex.database(ctx)
    assert db.ok, db.error
    print(f"open (header, catalog; quick_check only up to {file_engine.QUICK_CHECK_MAX_BYTES // 2**20} MB): "
          f"{(time.monotonic() - t0) * 1000:.1f} ms")

    print("\nSELECTs on the large file (queries/s)")
    for name, make_sql in SELECTS.items():
        one, _ = rate(ex, ctx, make_sql, args.seconds, 1)
        many, _ = rate(ex, ctx, make_sql, args.seconds, threads)
        print(f"  {name:<52} 1 thread {one:>9,.0f}/s   {threads} threads {many:>9,.0f}/s")
    t0 = time.monotonic()
    full = ex.run("SELECT status, count(*), round(sum(amount), 2) FROM orders GROUP BY status", ctx, timeout_s=30.0)
    print(f"  {'full scan aggregate (GROUP BY over every order)':<52} {time.monotonic() - t0:.2f} s per query "
          f"(ok={full.ok})")

    print("\nDML")
    with_state = ex.run("UPDATE orders SET amount = 0 WHERE id = 1", ctx)
    print(f"  on the large file (never copied: a transaction that is always rolled back), with its state: "
          f"ok={with_state.ok}" + (f" ({with_state.error_kind}: {with_state.error[:90]})" if not with_state.ok else ""))
    per_s, failed = rate(ex, ctx, lambda i: f"UPDATE orders SET amount = amount + 1 WHERE id = {i}", args.seconds,
                         1, capture_state=False)
    print(f"  {'UPDATE by key without state, large file':<52} 1 thread {per_s:>9,.0f}/s ({failed:,} failed)")
    per_s, failed = rate(ex, ctx, lambda i: f"DELETE FROM orders WHERE customer_id = {i % 1000}", args.seconds,
                         1, capture_state=False)
    print(f"  {'DELETE of one customer orders without state, large':<52} 1 thread {per_s:>9,.0f}/s "
          f"({failed:,} failed)")

    small = tmp / "small.sqlite"
    generate(small, 0, customers=SMALL_CUSTOMERS, max_orders=SMALL_ORDERS)
    small_ctx = file_context(small)
    print(f"  small file: {os.path.getsize(small) / 2**20:.1f} MB, {SMALL_CUSTOMERS:,} customers, "
          f"{SMALL_ORDERS:,} orders")
    update = lambda i: f"UPDATE orders SET status = 'held' WHERE id = {i % SMALL_ORDERS}"  # noqa: E731
    one, _ = rate(ex, small_ctx, update, args.seconds, 1)
    many, _ = rate(ex, small_ctx, update, args.seconds, threads)
    print(f"  {'UPDATE with its state (as the verdict runs DML)':<52} 1 thread {one:>9,.1f}/s   "
          f"{threads} threads {many:>9,.1f}/s")
    one, _ = rate(ex, small_ctx, lambda i: f"SELECT status FROM orders WHERE id = {i % SMALL_ORDERS}", args.seconds, 1)
    print(f"  {'(point lookup on the same small file)':<52} 1 thread {one:>9,.0f}/s")

    near = tmp / "near_cap.sqlite"
    near_orders = generate(near, int(MAX_FILE_COPY_BYTES * NEAR_CAP_FRACTION))
    near_ctx = file_context(near)
    print(f"  near-cap file: {os.path.getsize(near) / 2**20:.0f} MB, {near_orders:,} orders")
    one, _ = rate(ex, near_ctx, lambda i: f"UPDATE orders SET amount = 0 WHERE id = {i}", args.seconds, 1,
                  capture_state=False)
    print(f"  {'UPDATE without state (the private copy alone)':<52} 1 thread {one:>9,.1f}/s")
    with_state = ex.run("UPDATE orders SET amount = 0 WHERE id = 1", near_ctx)
    print(f"  with its state there: ok={with_state.ok} ({with_state.error_kind}: {with_state.error})")

    ex.clear()
    near.unlink()
    small.unlink()
    print(f"\nmemory with {args.files} files of {size_mb:.0f} MB open (hard links to the large file; "
          "measured in a fresh process, so that the earlier passes' freed memory does not hide it)")
    links = []
    for k in range(args.files):
        link = tmp / f"copy_{k:02d}.sqlite"
        try:
            os.link(big, link)
        except OSError:
            shutil.copyfile(big, link)
        links.append(str(link))
    subprocess.run([sys.executable, __file__, "--memory-of", *links], check=True)
    print("  for comparison, idle connections keeping their whole page cache (IDLE_CACHE_BYTES lifted):")
    subprocess.run([sys.executable, __file__, "--keep-idle-cache", "--memory-of", *links], check=True)


def memory_of(paths: list[str]) -> None:
    """The memory figure, in this (fresh) process: resident memory and SQLite's own heap."""
    import apsw  # only to read SQLite's heap counter (sqlite3_memory_used); no connection is opened here

    ex = SQLExecutor()
    ex.run("SELECT 1", "CREATE TABLE warm (x INT);")  # the executor's own first-use costs, before the baseline
    before, heap_before = rss_mb(), apsw.memory_used() / 2**20
    for path in paths:
        assert ex.database(file_context(path)).ok
    opened, heap_opened = rss_mb(), apsw.memory_used() / 2**20
    for k, path in enumerate(paths):
        c = file_context(path)
        assert ex.run(SELECTS["point lookup by primary key"](k), c).ok
        assert ex.run(SELECTS["aggregate over an indexed range (10 days, GROUP BY)"](k * 97), c).ok
    queried, heap_queried = rss_mb(), apsw.memory_used() / 2**20
    n = len(paths)
    print(f"  resident before opening: {before:,.0f} MB (SQLite heap {heap_before:.1f} MB)")
    print(f"  after opening {n}: +{opened - before:,.1f} MB resident, +{heap_opened - heap_before:.1f} MB SQLite "
          f"heap ({(heap_opened - heap_before) / n * 1024:,.0f} KB per file)")
    print(f"  after a lookup and an aggregate on each: +{queried - before:,.1f} MB resident, "
          f"+{heap_queried - heap_before:.1f} MB SQLite heap ({(heap_queried - heap_before) / n:,.2f} MB per file; "
          f"idle connections: {len(file_engine.IDLE_READERS)})")
    ex.clear()


if __name__ == "__main__":
    main()
