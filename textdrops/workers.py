"""A pool of worker processes for CPU-heavy batch work (cleaning, NER, date normalisation).

Prefect's task runner schedules the batch tasks; each task hands its CPU work to this pool so that a
drop uses every core of the machine while the flow process only coordinates. Workers are started with
`spawn` (never `fork` from a threaded process), live as long as the calling process, and keep what they
load (the spaCy model) between batches. With `processes <= 1` work runs in the calling process, which is
what each worker of a Dask cluster does.
"""

from __future__ import annotations

import atexit
import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None
_pool_size = 0


def _get_pool(processes: int) -> ProcessPoolExecutor:
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size != processes:
            if _pool is not None:
                _pool.shutdown(wait=True)
            _pool = ProcessPoolExecutor(max_workers=processes, mp_context=multiprocessing.get_context("spawn"))
            _pool_size = processes
        return _pool


def run(fn: Callable[..., Any], *args: Any, processes: int) -> Any:
    """fn(*args), in a worker process when processes > 1, else here."""
    if processes <= 1:
        return fn(*args)
    return _get_pool(processes).submit(fn, *args).result()


def warm(fn: Callable[..., Any], *args: Any, processes: int) -> None:
    """Start fn(*args) once in each worker process without waiting, e.g. to load a model while this
    process does other work. Failures are ignored here: the real call that needs it reports them."""
    if processes <= 1:
        return
    pool = _get_pool(processes)
    for _ in range(processes):
        pool.submit(_ignoring_errors, fn, *args)


def _ignoring_errors(fn: Callable[..., Any], *args: Any) -> None:
    try:
        fn(*args)
    except Exception:  # noqa: S110  (reported by the call that needs it)
        pass


def shutdown() -> None:
    """Stop the worker processes (they are started again on demand)."""
    global _pool
    with _lock:
        if _pool is not None:
            _pool.shutdown(wait=True, cancel_futures=True)
            _pool = None


atexit.register(shutdown)
