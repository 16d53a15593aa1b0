"""A document that kills a worker process or never finishes costs that document, not the drop.

Real worker processes: fault injection makes a worker SIGKILL itself, or hang, on a marked document.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from tests.conftest import FIXTURES, SEEDS, make_drop
from textdrops import workers
from textdrops.faults import FAULT_DOC_ENV, FAULT_REACHED_ENV

SEED_0 = (SEEDS / "000_f69c75c0d5ceb9f3.txt").read_text(encoding="utf-8")
SEED_1 = (SEEDS / "001_7829b123e079136c.txt").read_text(encoding="utf-8")
BBC = (FIXTURES / "clean" / "bbc_business_001.txt").read_text(encoding="utf-8")
REUTERS = (FIXTURES / "clean" / "reuters_00002.txt").read_text(encoding="utf-8")
MARKER = "FAULT-MARKER-51c2"

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture
def fresh_pool():
    workers.shutdown()  # workers started now see this test's environment
    yield
    workers.shutdown()


def _read(out: Path, table: str) -> pl.DataFrame:
    return pl.read_parquet(out / table / "**" / "*.parquet", hive_partitioning=True, hive_schema={"drop_id": pl.String})


def test_documents_that_kill_workers_cost_only_themselves_in_every_stage(tmp_path, monkeypatch, fresh_pool):
    from flows.process_drop import process_drop

    files: dict[str, bytes | str] = {
        f"{i:02d}.txt": f"Story number {i} of the day.\n\n{SEED_0 if i % 2 else SEED_1}" for i in range(5)
    }
    files["03-load.txt"] = f"A poisonous file.\n\n{MARKER}:crash\n\n{SEED_0}"
    files["06-prepare.txt"] = f"A poisonous article to clean.\n\n{MARKER}:crash@prepare\n\nAbout Syria.\n\n{SEED_1}"
    files["09-annotate.txt"] = f"Poison for NER.\n\n{MARKER}:crash@annotate\n\n{BBC}"  # unlike the others: kept
    files["10-dates.txt"] = (
        f"Poison for dates, on 14 March 2016.\n\n{MARKER}:crash@dates\n\n{REUTERS}"  # kept, with entities
    )
    drop = make_drop(tmp_path, "faulty", files)
    reached = tmp_path / "reached"
    monkeypatch.setenv(FAULT_DOC_ENV, MARKER)
    monkeypatch.setenv(FAULT_REACHED_ENV, str(reached))
    monkeypatch.setenv("TEXTDROPS_POOL_MIN_DOCS", "5")  # this small batch runs in the pool
    out = tmp_path / "out"

    record = process_drop(drop=str(drop), out_dir=str(out), trigger="test", worker_processes=2)

    assert record["status"] == "succeeded"
    quarantine = _read(out, "quarantine")
    assert dict(quarantine.select("source_path", "reason").iter_rows()) == {
        "03-load.txt": "worker_crash",
        "06-prepare.txt": "worker_crash",
    }
    assert all(quarantine["detail"].str.len_chars() > 0)
    documents = _read(out, "documents")
    assert documents.height == 7  # every other file of the batch made it
    assert record["files_seen"] == 9 and record["files_quarantined"] == 2
    assert record["quarantine_reasons"] == {"worker_crash": 2}
    # the document whose annotation kills a worker is kept, without entities or dates
    poisoned = documents.filter(pl.col("source_path") == "09-annotate.txt")
    assert poisoned["status"].to_list() == ["kept"]
    annotated = set(_read(out, "entities")["doc_id"])
    dated = set(_read(out, "dates")["doc_id"])
    assert poisoned["doc_id"][0] not in annotated | dated and annotated  # the other kept documents have entities
    # the one whose date extraction kills the worker is kept with its entities, without dates
    undated = documents.filter(pl.col("source_path") == "10-dates.txt")
    assert undated["status"].to_list() == ["kept"]
    assert undated["doc_id"][0] in annotated and undated["doc_id"][0] not in dated
    kept = set(documents.filter(pl.col("status") == "kept")["doc_id"])
    assert dated == kept - {poisoned["doc_id"][0], undated["doc_id"][0]}  # every other kept document has its dates
    assert record["n_dates"] == _read(out, "dates").height
    assert len(reached.read_text().split()) >= 12  # each one killed a worker twice in its batch and once alone
    assert workers.run(sum, [1, 2], processes=2) == 3  # the pool works again afterwards


def test_a_batch_on_a_dask_worker_is_stopped_at_the_time_limit(tmp_path, monkeypatch, fresh_pool):
    from flows.process_drop import process_drop
    from textdrops.dask_runner import dask_task_runner, shared_prefect_api

    files = {"00.txt": SEED_0, "01-slow.txt": f"A slow article.\n\n{MARKER}:hang\n\n{SEED_1}"}
    drop = make_drop(tmp_path, "slow", files)
    monkeypatch.setenv(FAULT_DOC_ENV, MARKER)
    monkeypatch.setenv("TEXTDROPS_BATCH_TIMEOUT", "3")
    monkeypatch.setenv("TEXTDROPS_POOL_MIN_DOCS", "1")  # every batch runs under the limit
    out = tmp_path / "out"

    with shared_prefect_api():
        on_dask = process_drop.with_options(task_runner=dask_task_runner(n_workers=1))
        record = on_dask(drop=str(drop), out_dir=str(out), trigger="test", worker_processes=1)

    assert record["status"] == "succeeded"
    assert record["quarantine_reasons"] == {"timeout": 1}
    quarantine = _read(out, "quarantine")
    assert quarantine.select("source_path", "reason").rows() == [("01-slow.txt", "timeout")]
    assert _read(out, "documents")["source_path"].to_list() == ["00.txt"]
    assert _read(out, "entities").height > 0  # annotated in a Dask worker's own worker process


def _articles(n: int) -> dict[str, str]:
    """n distinct articles of real sentences (the fixtures'), twelve each, so none is a near-duplicate."""
    import random
    import re

    texts = [SEED_0, SEED_1, BBC, (FIXTURES / "clean" / "reuters_00002.txt").read_text(encoding="utf-8")]
    sentences = sorted({s.strip() for t in texts for s in re.split(r"(?<=\.)\s+", t) if len(s.strip()) > 40})
    articles = {}
    for i in range(n):
        picked = random.Random(i).sample(sentences, 12)
        body = "\n\n".join(" ".join(picked[j : j + 3]) for j in range(0, 12, 3))
        articles[f"{i:03d}.txt"] = f"Article {i} of the day\n\n{body}\n"
    return articles


def test_a_low_time_limit_on_real_articles_commits_every_document_and_the_rows_of_a_run_without_one(
    tmp_path, monkeypatch, capfd, caplog, fresh_pool
):
    """TEXTDROPS_BATCH_TIMEOUT far below what a batch needs, though no document needs it alone: the limit
    grows with the batch's text, so the batch runs whole; and where even that is too little (as on a machine
    much slower than the limit assumes) the batch is finished in parts. Either way the drop commits the
    rows of a run without a limit, nothing quarantined."""
    from flows.process_drop import process_drop
    from tasks import isolation

    drop = make_drop(tmp_path, "2016-03-15", _articles(20))
    unlimited = process_drop(drop=str(drop), out_dir=str(tmp_path / "unlimited"), trigger="test")  # in-process
    monkeypatch.setenv("TEXTDROPS_POOL_MIN_DOCS", "1")  # every batch runs in the pool, under the limit
    monkeypatch.setenv("TEXTDROPS_BATCH_TIMEOUT", "0.4")  # a document takes ~0.07 CPU s of it; the batch ~1.3 s
    for case in ("scaled", "parts"):
        if case == "parts":  # no time for the text at all
            monkeypatch.setattr(isolation, "MIN_BYTES_PER_SECOND", float("inf"), raising=False)
        out = tmp_path / case
        capfd.readouterr()
        caplog.clear()

        record = process_drop(drop=str(drop), out_dir=str(out), trigger="test", worker_processes=1)

        log = capfd.readouterr().err + "\n".join(r.getMessage() for r in caplog.records)  # where Prefect sends it
        assert unlimited["status"] == "succeeded" and record["status"] == "succeeded", case
        assert record["files_quarantined"] == 0 and record["quarantine_reasons"] == {}
        if case == "scaled":
            assert "time limit" not in log  # the batch's limit covers its text: it ran whole
        else:
            assert "the batch was finished in" in log  # the run log says so
        for table, key in (
            ("documents", ["doc_id"]),
            ("entities", ["doc_id", "field", "start", "end", "label"]),
            ("dates", ["doc_id", "start", "end"]),
        ):
            got, want = (_read(o, table).drop("run_id").sort(key) for o in (out, tmp_path / "unlimited"))
            assert got.height > 0 and got.equals(want), (case, table)
        documents = _read(out, "documents")
        assert documents.height == 20 and set(documents["status"]) == {"kept"}
        assert not list((out / "_staging").glob("*/parts"))  # the parts were merged and removed
