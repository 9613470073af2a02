"""Work over many items in worker processes, in input order, with a progress bar.

    >>> parallel_map(len, [["a"], ["b", "c"]], workers=1, progress=False)
    [1, 2]

Used by `prepare` for cleansing and for building test suites: both are CPU-bound SQL work per
row that threads cannot spread (sqlglot holds the GIL). `run_in_child` runs one call in a forked
process, so that the memory it used goes back to the system when it returns (the demo's stages).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import traceback
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from sqlgrpo.common.errors import SqlgrpoError

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


# --------------------------------------------------------------------------------------------
# One call in a child process


class ChildCallError(SqlgrpoError, RuntimeError):
    """The call failed in its child process (the message is the child's error, prefixed with
    its type; `child_traceback` its traceback), or the child died without an answer (the
    message says how)."""

    def __init__(self, message: str, child_traceback: str = "") -> None:
        super().__init__(message)
        self.child_traceback = child_traceback


def fork_available() -> bool:
    """Whether `run_in_child` can fork here: Linux only (macOS's system libraries are not safe
    to use in a forked child, and Windows has no fork)."""
    import sys

    return sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()


def run_in_child(fn: Callable[..., R], *args: Any) -> R:
    """`fn(*args)` in a forked child process; its return value (pickled back), or its error as a
    `ChildCallError` naming the error's type and message (the child's traceback is in
    `.child_traceback`). A KeyboardInterrupt in either process stops the child and is raised
    here. Everything the call allocated is gone when it returns, whatever the allocator keeps.

    The child inherits the imported modules and `fn`'s closure (no pickling on the way in). The
    caller's process must not have run a torch operation: libgomp's thread pool does not survive
    a fork, and a child that computes on it hangs.
    """
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)

    def child() -> None:
        receive.close()
        try:
            message: tuple = ("value", fn(*args))
        except KeyboardInterrupt:
            message = ("interrupted",)
        except BaseException as error:  # noqa: BLE001 - every failure goes back to the caller
            message = ("error", f"{type(error).__name__}: {error}", traceback.format_exc())
        try:
            send.send(message)
        except Exception as error:  # noqa: BLE001 - an unpicklable value: say so instead
            send.send(("error", f"the child's result could not be sent back: {error}", ""))
        send.close()

    process = ctx.Process(target=child, name=f"sqlgrpo-{getattr(fn, '__name__', 'call')}")
    process.start()
    send.close()
    try:
        try:
            message = receive.recv()
        except EOFError:
            message = None
        process.join()
    except KeyboardInterrupt:
        process.terminate()
        process.join()
        raise
    finally:
        receive.close()
    if message is None:
        raise ChildCallError(_death(process.exitcode))
    if message[0] == "interrupted":
        raise KeyboardInterrupt
    if message[0] == "error":
        raise ChildCallError(message[1], message[2])
    return message[1]


def _death(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        name = signal.Signals(-exitcode).name if -exitcode in signal.valid_signals() else str(-exitcode)
        hint = " (most often the system running out of memory)" if -exitcode == signal.SIGKILL else ""
        return f"the child process was killed by {name}{hint} before it answered"
    return f"the child process exited with code {exitcode} before it answered"
