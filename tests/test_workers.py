"""The worker pool: stage code loads without Prefect, warm-up runs in the workers and never fails a run."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

from textdrops import workers

ROOT = Path(__file__).resolve().parents[1]


def test_worker_side_modules_do_not_import_prefect():
    # what a worker process imports to run a batch; Prefect's import alone costs seconds per spawn
    code = "import sys, tasks.steps; print('prefect' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _record_pid(folder: str) -> None:
    Path(folder, str(os.getpid())).touch()


def _fail() -> None:
    raise RuntimeError("model missing")


def test_warm_runs_in_worker_processes_and_ignores_failures(tmp_path):
    workers.warm(_fail, processes=2)  # a failing warm-up is not an error: the real call reports it
    workers.warm(_record_pid, str(tmp_path), processes=2)
    assert workers.run(os.getpid, processes=2) != os.getpid()  # queued after the warm-ups
    workers.shutdown()  # waits for every submitted job
    pids = {int(p.name) for p in tmp_path.iterdir()}
    assert pids and os.getpid() not in pids


def test_warm_is_a_no_op_without_a_pool(tmp_path):
    workers.warm(_record_pid, str(tmp_path), processes=1)
    assert list(tmp_path.iterdir()) == []


def _spin_forever() -> None:
    while True:
        sum(range(10_000))


def _sleep(seconds: float) -> str:
    import time

    time.sleep(seconds)
    return "slept"


def test_the_time_limit_counts_the_workers_cpu_time_not_the_wait():
    import time

    import pytest

    try:
        # waiting (for a core on a busy machine, or here in a sleep) uses no CPU: 2.5 s of it is within 1 s
        assert workers.run(_sleep, 2.5, processes=1, timeout=1.0) == "slept"
        started = time.monotonic()
        with pytest.raises(workers.WorkerTimeout, match="CPU seconds"):
            workers.run(_spin_forever, processes=1, timeout=1.0)  # computing: stopped once it used 1 CPU-s
        assert time.monotonic() - started < 9.0  # long before the wall-time backstop (10 x 1 s)
        started = time.monotonic()
        with pytest.raises(workers.WorkerTimeout):
            workers.run(_sleep, 3600.0, processes=1, timeout=0.3)  # waiting forever: the wall-time backstop
        assert time.monotonic() - started >= 0.3 * workers.WALL_LIMIT_FACTOR
    finally:
        workers.shutdown()


def test_the_cpu_seconds_of_a_process_are_read_from_proc():
    import time

    sum(range(3_000_000))
    assert abs(workers.process_cpu_seconds(os.getpid()) - time.process_time()) < 0.1
    assert workers.process_cpu_seconds(2**22 + 12345) is None  # no such process


def _started_at(order: int, seconds: float) -> tuple[int, float]:
    import time

    started = time.time()
    time.sleep(seconds)
    return order, started


def test_a_steps_batches_start_in_batch_order_whichever_thread_asks_first():
    import threading
    import time

    results: list[tuple[int, float]] = []
    step_run = f"{uuid.uuid4().hex}/annotate"  # a run of its own: turns are counted per step run

    def call(batch: int) -> None:
        results.append(workers.run(_started_at, batch, 1.0, processes=2, timeout=60.0, order=(step_run, batch)))

    # the task threads of batches 7, 6, ..., 0 ask in that order, 20 ms apart, the pool empty: the last first
    threads = [threading.Thread(target=call, args=(batch,)) for batch in reversed(range(8))]
    for thread in threads:
        thread.start()
        time.sleep(0.02)
    for thread in threads:
        thread.join()
    workers.shutdown()
    started = dict(results)
    assert sorted(started) == list(range(8))
    # handed over in batch order: no batch starts after one two places later (the two workers may take two
    # neighbours at the same moment, in either order)
    assert all(started[a] <= started[b] + 0.1 for a in range(8) for b in range(a + 2, 8)), started


def test_a_batch_that_never_asks_holds_the_others_up_for_the_grace_only(monkeypatch):
    import time

    run = uuid.uuid4().hex
    monkeypatch.setattr(workers, "TURN_GRACE_SECONDS", 3.0)
    started = time.monotonic()
    # batch 0 of this step run ran elsewhere: batch 1 waits for it, but no longer than the grace
    assert workers.run(_started_at, 1, 0.0, processes=2, timeout=60.0, order=(f"{run}/load", 1))[0] == 1
    assert 3.0 <= time.monotonic() - started < 3.0 + 30  # the grace, and starting the workers on a busy machine
    monkeypatch.setattr(workers, "TURN_GRACE_SECONDS", 60.0)
    workers.pass_turn((f"{run}/prepare", 0))  # batch 0 ran in this process (a small one): batch 1 need not wait
    started = time.monotonic()
    workers.run(_started_at, 1, 0.0, processes=2, timeout=60.0, order=(f"{run}/prepare", 1))
    assert time.monotonic() - started < 30
    workers.shutdown()


def _touch_and_sleep(folder: str, seconds: float) -> None:
    import time

    Path(folder, str(os.getpid())).touch()
    time.sleep(seconds)


def test_a_call_waiting_for_its_turn_stops_when_the_pool_is_terminated(tmp_path):
    import threading
    import time

    import pytest

    outcomes: list[str] = []
    step_run = f"{uuid.uuid4().hex}/annotate"

    def call(order: int, seconds: float) -> None:
        try:
            workers.run(_touch_and_sleep, str(tmp_path), seconds, processes=2, timeout=60.0, order=(step_run, order))
            outcomes.append("ran")
        except (workers.PoolStopped, workers.WorkerCrashed):
            outcomes.append("stopped")

    threads = [threading.Thread(target=call, args=(k, 30.0)) for k in range(4)]
    for thread in threads:
        thread.start()
        time.sleep(0.05)
    deadline = time.monotonic() + 60
    while not (len(list(tmp_path.iterdir())) == 2 and workers._waiting) and time.monotonic() < deadline:
        time.sleep(0.05)  # both workers run a call, one more is queued in the pool, the fourth waits for its turn
    workers.terminate()  # a cancelled run: the three in the pool are killed, the fourth never starts
    for thread in threads:
        thread.join(timeout=10)
    assert not any(t.is_alive() for t in threads), outcomes
    assert outcomes == ["stopped"] * 4
    with pytest.raises(ZeroDivisionError):  # the pool works again afterwards
        workers.run(divmod, 1, 0, processes=2, timeout=60.0, order=(step_run, 4))
    workers.shutdown()
