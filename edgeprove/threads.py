"""The prover's worker threads: independent work that spends its time in numpy or BLAS with the GIL
released (Reed-Solomon encoding of row blocks, the next layer's witness and commitment while this layer is
proven) runs on a small pool.

The pool's size is the prover's ``threads`` (``prove --threads``; by default the cores this process may
run on).  With one thread nothing runs beside the caller, so no extra memory is held.  Results are
collected in submission order and nothing a worker computes depends on timing, so the proof is the same
for every thread count.  BLAS keeps its own configuration (the command line runs it single-threaded).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

MAX_THREADS = 256
"""Most threads a prover may be asked for (the pool is sized by it; more would only cost memory)."""
SWITCH_INTERVAL_S = 2e-4
"""The interpreter's thread switch interval while workers run (Python's default is 5 ms): a worker coming
back from a long numpy operation waits at most this long for the GIL held by a thread running many short
ones, instead of up to 5 ms each time."""

_state = threading.local()
"""The pool of the prover running in this thread (``using``), if any."""


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity; the machine's count where there is none)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def check_threads(threads: int) -> int:
    """``threads`` as an int in [1, MAX_THREADS], else ValueError with one line."""
    if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= MAX_THREADS:
        raise ValueError(f"threads must be an integer in [1, {MAX_THREADS}], got {threads!r}")
    return threads


def resolve(threads: int | None) -> int:
    """The prover's thread count: ``threads`` checked (``check_threads``), or the cores available."""
    return check_threads(available_cores() if threads is None else threads)


@contextlib.contextmanager
def using(threads: int) -> Iterator[None]:
    """Run the enclosed proving work with ``threads`` threads (this one and ``threads - 1`` workers); the
    workers are joined on exit, whatever happened."""
    check_threads(threads)
    executor = (
        ThreadPoolExecutor(max_workers=threads - 1, thread_name_prefix="edgeprove") if threads > 1 else None
    )
    previous = getattr(_state, "pool", None)
    interval = sys.getswitchinterval()
    _state.pool = (threads, executor)
    if executor is not None:
        sys.setswitchinterval(min(interval, SWITCH_INTERVAL_S))
    try:
        yield
    finally:
        _state.pool = previous
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
            sys.setswitchinterval(interval)


def count() -> int:
    """Threads the current prover may use (1 outside ``using``, and inside a worker)."""
    pool = getattr(_state, "pool", None)
    return 1 if pool is None else pool[0]


def submit(function: Callable[..., R], *args: object) -> Future[R] | None:
    """Start ``function(*args)`` on a worker, or None when there is none (the caller runs it itself)."""
    pool = getattr(_state, "pool", None)
    if pool is None or pool[1] is None:
        return None
    return pool[1].submit(function, *args)


def map_ordered(function: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """``[function(item) for item in items]``, this thread and the workers each taking the next item until
    none is left; results in the items' order.  Inline with one thread (and inside a worker: no nested
    waiting)."""
    items = list(items)
    pool = getattr(_state, "pool", None)
    if pool is None or pool[1] is None or len(items) < 2:
        return [function(item) for item in items]
    results: list = [None] * len(items)
    taken = itertools.count()  # next() on it is atomic: each index goes to exactly one thread

    def drain() -> None:
        while (index := next(taken)) < len(items):
            results[index] = function(items[index])

    helpers = [pool[1].submit(drain) for _ in range(min(pool[0], len(items)) - 1)]
    try:
        drain()
    finally:
        for helper in helpers:
            helper.result()
    return results
