"""A document that kills a worker process or never finishes costs that document, not the drop.

Real worker processes: fault injection makes a worker SIGKILL itself, or hang, on a marked document.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from tests.conftest import SEEDS, make_drop
from textdrops import workers
from textdrops.faults import FAULT_DOC_ENV, FAULT_REACHED_ENV

SEED_0 = (SEEDS / "000_f69c75c0d5ceb9f3.txt").read_text(encoding="utf-8")
SEED_1 = (SEEDS / "001_7829b123e079136c.txt").read_text(encoding="utf-8")
MARKER = "FAULT-MARKER-51c2"

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture
def fresh_pool():
    workers.shutdown()  # workers started now see this test's environment
    yield
    workers.shutdown()


def _read(out: Path, table: str) -> pl.DataFrame:
    return pl.read_parquet(out / table / "**" / "*.parquet", hive_partitioning=True, hive_schema={"drop_id": pl.String})


def test_a_document_that_kills_workers_is_quarantined_and_the_rest_of_its_batch_kept(tmp_path, monkeypatch, fresh_pool):
    from flows.process_drop import process_drop

    files: dict[str, bytes | str] = {
        f"{i:04d}.txt": f"Story number {i} of the day.\n\n{SEED_0 if i % 2 else SEED_1}" for i in range(230)
    }
    files["0100-crash.txt"] = f"A poisonous article.\n\n{MARKER}:crash\n\n{SEED_0}"
    drop = make_drop(tmp_path, "faulty", files)
    reached = tmp_path / "reached"
    monkeypatch.setenv(FAULT_DOC_ENV, MARKER)
    monkeypatch.setenv(FAULT_REACHED_ENV, str(reached))
    out = tmp_path / "out"

    record = process_drop(drop=str(drop), out_dir=str(out), trigger="test", worker_processes=2)

    assert record["status"] == "succeeded"
    quarantine = _read(out, "quarantine")
    assert dict(quarantine.select("source_path", "reason").iter_rows()) == {"0100-crash.txt": "worker_crash"}
    assert all(quarantine["detail"].str.len_chars() > 0)
    documents = _read(out, "documents")
    assert documents.height == 230  # every other file of the batch made it
    assert record["files_seen"] == 231 and record["files_quarantined"] == 1
    assert record["quarantine_reasons"] == {"worker_crash": 1}
    crashes = reached.read_text().split()
    assert len(crashes) >= 3  # the crash document killed workers at least twice in its batch and once alone
    assert workers.run(sum, [1, 2], processes=2) == 3  # the pool works again afterwards
