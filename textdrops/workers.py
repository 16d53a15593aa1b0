"""A pool of worker processes for CPU-heavy batch work (cleaning, NER, date normalisation).

Prefect's task runner schedules the batch tasks; each task hands its CPU work to this pool so that a
drop uses every core of the machine while the flow process only coordinates. Workers are started with
`spawn` (never `fork` from a threaded process), live as long as the calling process, and keep what they
load (the spaCy model) between batches. With `processes=0` work runs in the calling process (a batch too
small to need a time limit); with `processes=1` it runs in one worker process when there is a time limit
to enforce, which is what each worker of a Dask cluster does, and here when there is none.

A worker that dies (a crash, an out-of-memory kill) breaks the whole pool: `run` replaces it and raises
`WorkerCrashed`; a call over its time limit (CPU seconds of its worker, so a busy machine does not make a slow
call a faulty one) has its pool killed and replaced, and raises `WorkerTimeout`.
Calls of other batches that were running in a pool killed that way are resubmitted, not failed.
Workers ignore Ctrl-C (the parent decides what stops) and exit when their parent dies.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import contextlib
import heapq
import itertools
import multiprocessing
import os
import signal
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from textdrops.stopping import watch_parent

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None
_pool_size = 0
_generation = 0  # bumped whenever the pool is replaced
_killed: set[int] = set()  # generations this process killed on purpose (a time limit), not crashes
_terminated: set[int] = set()  # generations stopped because the run was cancelled
_STARTUP_SECONDS = 300.0
# A batch of fewer documents than TEXTDROPS_POOL_MIN_DOCS and at most this many bytes runs in the calling
# process, where no time limit can stop it: every stage is linear in the text's size (benchmarks.adversarial:
# load + prepare >= 0.34 MB/s on its most hostile inputs; NER ~0.07 MB/s per core), so such a batch takes
# seconds at worst. Anything larger runs in the pool, under TEXTDROPS_BATCH_TIMEOUT.
IN_PROCESS_MAX_BYTES = 1_000_000  # a call that has not started after this long (workers cannot start) is given up


class WorkerCrashed(RuntimeError):
    """A worker process died while running the call (the pool has been replaced)."""


class WorkerTimeout(TimeoutError):
    """The call ran past its time limit; its worker was stopped (the pool has been replaced)."""


class PoolStopped(RuntimeError):
    """The pool was stopped while the call ran, because the run is being cancelled (`terminate`)."""


def _init_worker(parent_pid: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    watch_parent(parent_pid, kernel_signal=False)  # spawned from any thread: no kernel parent-death signal


def _get_pool(processes: int) -> tuple[ProcessPoolExecutor, int]:
    global _pool, _pool_size, _generation
    with _lock:
        if _pool is None or _pool_size != processes:
            if _pool is not None:
                _pool.shutdown(wait=True)
            _pool = ProcessPoolExecutor(
                max_workers=processes,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(os.getpid(),),
            )
            _pool_size = processes
            _generation += 1
        return _pool, _generation


def _discard(generation: int, kill: bool) -> None:
    """Drop the pool of `generation` (killing its workers when `kill`); the next call starts a new one."""
    global _pool
    with _lock:
        if _pool is None or generation != _generation:
            return  # already replaced by another caller
        pool, _pool = _pool, None
        if kill:
            _killed.add(generation)
            _kill_workers(pool)
    pool.shutdown(wait=False, cancel_futures=True)


def _kill_workers(pool: ProcessPoolExecutor) -> None:
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        try:
            process.kill()
        except (OSError, ValueError, AttributeError):
            pass


def runs_in_process(n_docs: int, n_bytes: int, min_docs: int) -> bool:
    """True when a batch is small enough, in documents and in bytes, to run in the calling process."""
    return n_docs < min_docs and n_bytes <= IN_PROCESS_MAX_BYTES


# Calls wait here to be handed to the pool in their turn, so that a step's batches start in batch order whichever
# of their task threads gets here first: the annotate step's small last pieces exist to end the step with both
# workers busy, and a big batch handed over after them left one worker alone with it (15-23 s of a Reuters or BBC
# run). A call's `order` is (its step run, its batch); it is handed over once every earlier batch of its step run
# has been (or `TURN_GRACE_SECONDS` have passed: a batch that runs elsewhere or failed first does not hold the
# others up for longer), and while at most `processes` + 1 calls are in the pool (one queued behind the busy ones,
# as the pool itself would). Calls without an order go straight in.
Order = tuple[str, int]
TURN_GRACE_SECONDS = 2.0
_admission = threading.Condition()
_waiting: list[tuple[Order, int]] = []  # heap of (order, arrival) of the calls waiting to be handed over
_next_turn: dict[str, int] = {}  # step run -> its first batch not handed over yet
_in_pool = 0
_arrivals = itertools.count()
_stops = 0  # times `terminate` ran: a call waiting when it runs is stopped


def pass_turn(order: Order | None) -> None:
    """The batch of `order` runs without the pool (a small one, in the calling process): later ones go on."""
    if order is not None:
        with _admission:
            _take_turn(order)
            _admission.notify_all()


def _take_turn(order: Order) -> None:
    group, batch = order
    if batch >= _next_turn.get(group, 0):
        _next_turn[group] = batch + 1  # earlier batches still missing have had their grace
        while len(_next_turn) > 64:  # step runs long finished
            del _next_turn[next(iter(_next_turn))]


@contextlib.contextmanager
def _admitted(order: Order | None, processes: int) -> Iterator[Callable[[concurrent.futures.Future], None]]:
    """Wait for this call's turn (see above); yields `handed_over`, to be called with the call's future once it
    is submitted (its place in the pool is given back when it is done)."""
    global _in_pool
    if order is None:
        yield lambda future: None
        return
    mine = (order, next(_arrivals))
    group, batch = order
    grace_ends = time.monotonic() + TURN_GRACE_SECONDS
    with _admission:
        stops = _stops
        heapq.heappush(_waiting, mine)
        while _stops == stops:
            if _waiting[0] == mine and _in_pool <= processes:
                if batch <= _next_turn.get(group, 0) or time.monotonic() >= grace_ends:
                    break
            grace = grace_ends - time.monotonic()  # woken at its end; after it, only by a place given back
            _admission.wait(timeout=grace if grace > 0 else None)
        _waiting.remove(mine)
        heapq.heapify(_waiting)
        if _stops != stops:
            _admission.notify_all()
            raise PoolStopped("the worker pool was stopped: the run is being cancelled")
        _in_pool += 1
    submitted: list[concurrent.futures.Future] = []

    def give_back(_: Any = None) -> None:
        global _in_pool
        with _admission:
            _in_pool -= 1
            _admission.notify_all()

    try:
        yield submitted.append
    finally:
        with _admission:  # the next batch's turn comes once this one is in the pool, not before
            _take_turn(order)
            _admission.notify_all()
        if submitted:
            submitted[0].add_done_callback(give_back)
        else:  # never submitted (the pool was broken): its place is free at once
            give_back()


def run(
    fn: Callable[..., Any],
    *args: Any,
    processes: int,
    timeout: float | None = None,
    setup: tuple[Callable[..., Any], tuple] | None = None,
    order: Order | None = None,
) -> Any:
    """fn(*args) in a pool of `processes` worker processes; here when processes is 0, or 1 with no timeout.

    A call given an `order` (its step run, its batch) is handed to the pool in its batch's turn (see above).

    `timeout` is CPU seconds of the worker process, counted from the moment the call starts in it: time
    spent queued behind other batches, starting a worker, importing the stage code or running `setup`
    (e.g. loading a model into a new worker) is not counted, and neither is time the worker waits for a
    core on a busy machine (a starved run is slow, not faulty). A call that waits without computing is
    stopped after `WALL_LIMIT_FACTOR` times `timeout` of wall time. A running call can only be stopped
    with its process, so a call under a time limit always runs in a worker.
    """
    if processes <= 0 or (processes == 1 and timeout is None):
        pass_turn(order)
        return fn(*args)
    while True:
        with _admitted(order, processes) as handed_over:
            pool, generation = _get_pool(processes)
            marker = os.path.join(tempfile.gettempdir(), f"textdrops-call-{os.getpid()}-{uuid.uuid4().hex}")
            try:
                future = pool.submit(_marked_call, marker, setup, fn, *args)
            except (BrokenProcessPool, RuntimeError):  # broken or shut down since we took it: take the next
                _discard(generation, kill=False)
                continue
            handed_over(future)
        try:
            return _result(future, marker, timeout)
        except concurrent.futures.TimeoutError:
            _discard(generation, kill=True)  # a running call can only be stopped with its process
            raise WorkerTimeout(f"still running after its time limit of {timeout:g} CPU seconds") from None
        except BrokenProcessPool:
            _discard(generation, kill=False)
            if generation in _terminated:
                raise PoolStopped("the worker pool was stopped: the run is being cancelled") from None
            if generation in _killed:
                continue  # stopped because another call ran out of time: not this call's fault
            raise WorkerCrashed("a worker process died while running it (crashed or was killed)") from None
        finally:
            with contextlib.suppress(OSError):
                os.unlink(marker)


def _marked_call(
    marker: str, setup: tuple[Callable[..., Any], tuple] | None, fn: Callable[..., Any], *args: Any
) -> Any:
    """In the worker: run setup, note that the call has started (its code is imported by now), run it."""
    if setup is not None:
        setup[0](*setup[1])
    with open(marker, "w") as handle:
        handle.write(f"{os.getpid()} {time.process_time()}")
    return fn(*args)


def process_cpu_seconds(pid: int) -> float | None:
    """CPU seconds (user + system, all threads) process `pid` has used; None where /proc cannot tell."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS  # utime, stime (fields 14 and 15)
    except (OSError, IndexError, ValueError):
        return None


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
# A call that has used less CPU than its limit is still stopped after this many times the limit of wall
# time: it waits on something (a lock, a stalled mount) rather than computing.
WALL_LIMIT_FACTOR = 10.0


def _started(marker: str) -> tuple[int, float] | None:
    """(worker pid, its CPU seconds when the call started) once the call has started."""
    try:
        with open(marker) as handle:
            pid, cpu = handle.read().split()
        return int(pid), float(cpu)
    except (OSError, ValueError):  # not there yet, or being written
        return None


def _result(future: concurrent.futures.Future, marker: str, timeout: float | None) -> Any:
    """The future's result; concurrent.futures.TimeoutError once it has used `timeout` CPU seconds (or run
    `WALL_LIMIT_FACTOR` times that long)."""
    if timeout is None:
        return future.result()
    started: tuple[int, float] | None = None
    started_at = 0.0
    give_up = time.monotonic() + _STARTUP_SECONDS
    while True:
        done, _ = concurrent.futures.wait([future], timeout=0.2)
        if done:
            return future.result()
        now = time.monotonic()
        if started is None:
            started = _started(marker)
            started_at = now
            if started is None and now > give_up:
                raise concurrent.futures.TimeoutError
            continue
        pid, cpu_at_start = started
        cpu = process_cpu_seconds(pid)
        used = now - started_at if cpu is None else cpu - cpu_at_start  # no /proc: wall time
        if used > timeout or now - started_at > WALL_LIMIT_FACTOR * timeout:
            raise concurrent.futures.TimeoutError


def warm(fn: Callable[..., Any], *args: Any, processes: int) -> None:
    """Start fn(*args) once in each worker process without waiting, e.g. to load a model while this
    process does other work. Failures are ignored here: the real call that needs it reports them."""
    if processes <= 1:
        return
    pool, generation = _get_pool(processes)
    try:
        for _ in range(processes):
            pool.submit(_ignoring_errors, fn, *args)
    except BrokenProcessPool:
        _discard(generation, kill=False)


def _ignoring_errors(fn: Callable[..., Any], *args: Any) -> None:
    try:
        fn(*args)
    except Exception:  # noqa: S110  (reported by the call that needs it)
        pass


def shutdown() -> None:
    """Stop the worker processes once their work is done (they are started again on demand)."""
    global _pool
    with _lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)


def terminate() -> None:
    """Stop the worker processes now, busy or not (a cancelled run)."""
    global _pool
    with _lock:
        pool, _pool = _pool, None
        if pool is not None:
            _terminated.add(_generation)
            _kill_workers(pool)
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)
    global _stops
    with _admission:  # calls waiting for their turn are not handed over any more
        _stops += 1
        _admission.notify_all()


atexit.register(shutdown)
