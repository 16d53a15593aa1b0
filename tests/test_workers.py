"""The worker pool: stage code loads without Prefect, warm-up runs in the workers and never fails a run."""

from __future__ import annotations

import os
import subprocess
import sys
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
