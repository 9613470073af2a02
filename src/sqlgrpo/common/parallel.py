"""Work over many items in worker processes, in input order, with a progress bar.

    >>> parallel_map(len, [["a"], ["b", "c"]], workers=1, progress=False)
    [1, 2]

Used by `prepare` for cleansing and for building test suites: both are CPU-bound SQL work per
row that threads cannot spread (sqlglot holds the GIL).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

PARALLEL_MIN_ITEMS = 200  # below this, forking workers costs more than it saves
CHUNK_ITEMS = 16  # items per task sent to a worker: amortizes pickling, keeps the bar moving


def available_cores() -> int:
    """Cores this process may run on (respects CPU affinity and container limits)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _chunks(items: Sequence[T], size: int) -> Iterable[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _apply(task: tuple[Callable[[T], R], Sequence[T]]) -> list[R]:
    fn, chunk = task
    return [fn(item) for item in chunk]


def parallel_map(fn: Callable[[T], R], items: Sequence[T], *, workers: int | None = None,
                 initializer: Callable[..., Any] | None = None, initargs: tuple = (), desc: str = "working",
                 unit: str = "row", progress: bool = True, min_items: int = PARALLEL_MIN_ITEMS) -> list[R]:
    """`[fn(item) for item in items]` over `workers` processes (default: every available core;
    in this process below `min_items`), with a tqdm bar. `fn` must be a module-level function;
    `initializer(*initargs)` runs once per worker (and here, when no worker is forked)."""
    from tqdm.auto import tqdm

    workers = workers or available_cores()
    bar = tqdm(total=len(items), desc=desc, unit=unit, disable=not progress, mininterval=0.5)
    out: list[R] = []
    try:
        if workers <= 1 or len(items) < min_items:
            if initializer is not None:
                initializer(*initargs)
            for chunk in _chunks(items, CHUNK_ITEMS):
                out.extend(_apply((fn, chunk)))
                bar.update(len(chunk))
        else:
            # fork: workers inherit the imported modules instead of importing them again
            ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else None)
            with ctx.Pool(workers, initializer=initializer, initargs=initargs) as pool:
                for results in pool.imap(_apply, ((fn, chunk) for chunk in _chunks(items, CHUNK_ITEMS))):
                    out.extend(results)
                    bar.update(len(results))
    finally:
        bar.close()
    return out
