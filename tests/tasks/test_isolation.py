"""Batch isolation with real worker processes: what kills a worker or hangs is found and left out."""

from __future__ import annotations

import polars as pl
import pytest

from tasks import isolation, steps
from tasks.load import InputFile
from tests.conftest import SEEDS, make_drop
from textdrops import workers
from textdrops.config import Settings
from textdrops.faults import FAULT_DOC_ENV
from textdrops.staging import RunContext

SEED_0 = (SEEDS / "000_f69c75c0d5ceb9f3.txt").read_text(encoding="utf-8")
MARKER = "FAULT-MARKER-90be"


@pytest.fixture
def fresh_pool():
    workers.shutdown()  # workers started now see this test's environment
    yield
    workers.shutdown()


def test_load_quarantines_the_files_that_crash_or_hang_a_worker_and_keeps_the_rest(tmp_path, monkeypatch, fresh_pool):
    files = {f"{i:02d}.txt": f"Article {i}.\n\n{SEED_0}" for i in range(4)}
    files["01-crash.txt"] = f"{MARKER}:crash\n\n{SEED_0}"
    files["02-hang.txt"] = f"{MARKER}:hang\n\n{SEED_0}"
    drop = make_drop(tmp_path, "faulty", files)
    monkeypatch.setenv(FAULT_DOC_ENV, MARKER)
    ctx = RunContext("run-1", str(drop), "faulty", Settings(out_dir=tmp_path / "out", batch_timeout=2.0))
    entries = [InputFile(name, (drop / name).stat().st_size) for name in sorted(files)]
    warnings: list[str] = []

    result = isolation.run_step(steps.LOAD, ctx, steps.BatchFiles(0, entries), warn=warnings.append, processes=2)

    assert result.files == 6 and result.docs == 4 and result.quarantined == 2
    assert sorted(result.quarantine_reasons.items()) == [("timeout", 1), ("worker_crash", 1)]
    loaded = pl.read_ipc(result.raw_path)
    assert "01-crash.txt" not in loaded["source_path"] and "02-hang.txt" not in loaded["source_path"]
    assert loaded.height == 4
    quarantine = pl.read_parquet(ctx.staged("quarantine") / "*.parquet")
    assert dict(quarantine.select("source_path", "reason").iter_rows()) == {
        "01-crash.txt": "worker_crash",
        "02-hang.txt": "timeout",
    }
    assert any("died" in w for w in warnings) or any("time limit" in w for w in warnings)


def test_in_process_work_is_not_isolated(tmp_path):
    isolated = isolation.run_isolating(lambda positions, part: (sum, (positions,)), [10, 20, 30], 0, 1.0, print)
    assert (isolated.whole, isolated.bad) == (3, {})


def test_a_time_limit_on_one_process_runs_the_call_in_a_worker(fresh_pool):
    import os

    assert workers.run(os.getpid, processes=1) == os.getpid()  # no limit to enforce: here
    assert workers.run(os.getpid, processes=1, timeout=60.0) != os.getpid()


def test_only_batches_small_in_documents_and_bytes_run_in_process():
    assert workers.runs_in_process(10, 50_000, min_docs=200)
    assert not workers.runs_in_process(200, 50_000, min_docs=200)
    assert not workers.runs_in_process(3, workers.IN_PROCESS_MAX_BYTES + 1, min_docs=200)
