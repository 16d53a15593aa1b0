"""Stopping `textdrops run` as a user or a service manager would: nothing outlives the command.

Real processes and real signals: the command starts its own temporary Prefect server and worker pool,
a document makes a stage hang (fault injection), and the test stops the command there.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import psutil
import pytest

from tests.conftest import SEEDS, make_drop
from textdrops.faults import FAULT_DOC_ENV, FAULT_REACHED_ENV

pytestmark = pytest.mark.slow  # the command started and stopped as a process, ~80 s a test: make test-slow
TEXTDROPS = Path(sys.executable).parent / "textdrops"
SEED_0 = (SEEDS / "000_f69c75c0d5ceb9f3.txt").read_text(encoding="utf-8")
SEED_1 = (SEEDS / "001_7829b123e079136c.txt").read_text(encoding="utf-8")
MARKER = "FAULT-MARKER-7f3a"


def _drop(root: Path, n_files: int) -> Path:
    """n_files articles (with 5 or more, the batch runs in the worker pool) and one that hangs its stage."""
    files: dict[str, bytes | str] = {
        f"{i:04d}.txt": f"Story number {i} of the day.\n\n{SEED_0 if i % 2 else SEED_1}" for i in range(n_files)
    }
    files["zz-hang.txt"] = f"A slow article.\n\n{MARKER}:hang\n\n{SEED_0}"
    return make_drop(root / "raw", "2016-03-15", files)


def _start(drop: Path, out: Path, tmp_path: Path) -> tuple[subprocess.Popen, Path]:
    reached = tmp_path / "reached"
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"} | {
        "PREFECT_HOME": str(tmp_path / "home"),  # no server configured: the command starts its own
        "TEXTDROPS_WORKER_PROCESSES": "2",
        "TEXTDROPS_POOL_MIN_DOCS": "5",
        FAULT_DOC_ENV: MARKER,
        FAULT_REACHED_ENV: str(reached),
    }
    process = subprocess.Popen(
        [TEXTDROPS, "run", str(drop), "--out", str(out)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a command started from a terminal has
    )
    deadline = time.monotonic() + 180
    while not reached.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the run never reached the hanging document"
        time.sleep(0.2)
    time.sleep(1.0)
    return process, reached


def _descendants(pid: int) -> list[psutil.Process]:
    return psutil.Process(pid).children(recursive=True)


def _assert_all_gone(processes: list[psutil.Process], within: float) -> None:
    _, alive = psutil.wait_procs(processes, timeout=within)
    assert alive == [], [(p.pid, p.cmdline()) for p in alive]


def _runs(out: Path) -> pl.DataFrame:
    return pl.read_parquet(out / "runs" / "drop_id=2016-03-15" / "*.parquet")


@pytest.mark.parametrize(
    ("how", "n_files"),
    [
        ("SIGINT", 12),  # Ctrl-C: the whole process group gets it; the stage hangs in a worker process
        # what systemctl stop, Kubernetes and `timeout` send; a small drop: the stage hangs in a thread of
        # the command's own process, which Prefect's task runner would wait for forever
        ("SIGTERM", 3),
    ],
)
def test_a_stopped_run_exits_promptly_is_recorded_cancelled_and_leaves_no_process(tmp_path, how, n_files):
    drop = _drop(tmp_path, n_files)
    out = tmp_path / "out"
    process, _ = _start(drop, out, tmp_path)
    children = _descendants(process.pid)
    if n_files >= 5:
        assert len(children) >= 3, [c.cmdline() for c in children]  # server, workers, resource tracker
    sent = time.monotonic()
    if how == "SIGINT":
        os.killpg(process.pid, signal.SIGINT)
    else:
        process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=60)
    took = time.monotonic() - sent
    assert took < 10, f"{took:.1f} s to stop"
    assert process.returncode == 128 + getattr(signal, how), stderr[-2000:]
    assert "cancelled" in stderr
    _assert_all_gone(children, within=5)
    runs = _runs(out)
    assert runs["status"].to_list() == ["cancelled"]
    assert runs["error"][0] == f"cancelled by {how}"
    assert not list((out / "_staging").glob("*/tables"))


def test_after_sigkill_of_the_command_its_children_exit_too(tmp_path):
    drop = _drop(tmp_path, 12)
    process, _ = _start(drop, tmp_path / "out", tmp_path)
    children = _descendants(process.pid)
    assert len(children) >= 3, [c.cmdline() for c in children]
    process.kill()
    process.communicate(timeout=30)
    _assert_all_gone(children, within=10)
