import json

import duckdb
import polars as pl
import pyarrow.parquet as pq

from tasks.write import (
    COMMIT_MARKER,
    commit_partitions,
    live_partition,
    recover,
    staged_partition,
    staging_dir,
    to_arrow,
    write_part,
)
from textdrops.locking import drop_lock
from textdrops.schema import QUARANTINE, RUNS, TABLES


def _quarantine(rows: int, run_id: str) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "drop_id": ["d"] * rows,
            "source_path": [f"{i}.txt" for i in range(rows)],
            "reason": ["empty_file"] * rows,
            "detail": ["zero bytes"] * rows,
            "size_bytes": [0] * rows,
            "run_id": [run_id] * rows,
        }
    )


def _record(run_id: str) -> dict:
    return {
        "run_id": run_id, "flow_run_id": None, "drop_id": "d", "drop_path": "/x/d",
        "drop_fingerprint": "f", "trigger": "test",
        "started_at": "2016-03-15T10:00:00+00:00", "finished_at": "2016-03-15T10:01:00+00:00",
        "status": "succeeded", "error": None, "files_seen": 2, "docs_kept": 0, "docs_exact_duplicate": 0,
        "docs_near_duplicate": 0, "files_quarantined": 2, "quarantine_reasons": {"empty_file": 2},
        "chars_removed": {}, "lines_removed": {}, "n_entities": 0, "n_dates": 0, "n_batches": 1,
        "stage_seconds": {"load": 0.5},
        "versions": {"polars": "x"}, "config_hash": "abc", "config": "{}",
    }  # fmt: skip


def test_to_arrow_casts_to_the_declared_schema_including_maps():
    docs = pl.DataFrame({"cleanup": [[{"key": "comment_section", "value": 10}]], "extra": [1]})
    columns = {c.name: None for c in TABLES["documents"].columns}
    frame = pl.DataFrame({name: [None] for name in columns}).with_columns(cleanup=docs["cleanup"])
    arrow = to_arrow(frame, TABLES["documents"])
    assert arrow.schema == TABLES["documents"].arrow_schema
    assert arrow.column("cleanup").to_pylist() == [[("comment_section", 10)]]


def test_commit_replaces_a_partition_and_appends_the_run_record(tmp_path):
    for run_id, rows in (("run-1", 3), ("run-2", 2)):
        write_part(_quarantine(rows, run_id), "quarantine", staged_partition(tmp_path, run_id, "quarantine", "d"), 0)
        assert commit_partitions(tmp_path, run_id, "d", _record(run_id)) == ["quarantine"]
        assert not staging_dir(tmp_path, run_id).exists()
    table = pq.read_table(live_partition(tmp_path, "quarantine", "d"))
    assert table.schema == QUARANTINE.arrow_schema
    assert table.column("run_id").to_pylist() == ["run-2", "run-2"]
    runs = duckdb.sql(f"select run_id, files_seen from read_parquet('{tmp_path}/runs/*/*.parquet') order by run_id")
    assert runs.fetchall() == [("run-1", 2), ("run-2", 2)]
    assert pq.read_schema(next((tmp_path / "runs").rglob("*.parquet"))) == RUNS.arrow_schema


def test_recover_finishes_a_commit_interrupted_between_renames(tmp_path):
    write_part(_quarantine(3, "old"), "quarantine", live_partition(tmp_path, "quarantine", "d"), 0)
    write_part(_quarantine(1, "new"), "quarantine", staged_partition(tmp_path, "new", "quarantine", "d"), 0)
    stage = staging_dir(tmp_path, "new")
    (stage / COMMIT_MARKER).write_text(json.dumps({"drop_id": "d", "tables": ["quarantine"], "record": _record("new")}))
    # the crash: the live partition was moved aside, the staged one not yet moved in
    (stage / "replaced").mkdir()
    live_partition(tmp_path, "quarantine", "d").rename(stage / "replaced" / "quarantine")
    assert recover(tmp_path, "d") == ["new"]
    assert pq.read_table(live_partition(tmp_path, "quarantine", "d")).column("run_id").to_pylist() == ["new"]
    assert not stage.exists()
    assert len(list((tmp_path / "runs").rglob("*.parquet"))) == 1


def test_recover_clears_abandoned_staging_of_every_drop_not_being_run(tmp_path):
    for run_id, drop in (("a", "d"), ("b", "other"), ("c", "busy")):
        staging_dir(tmp_path, run_id).mkdir(parents=True)
        (staging_dir(tmp_path, run_id) / "drop_id").write_text(drop)
    with drop_lock(tmp_path, "busy", timeout=1):  # a live run of drop "busy" owns its staging area
        assert recover(tmp_path, "d") == ["a", "b"]
    assert not staging_dir(tmp_path, "b").exists()
    assert staging_dir(tmp_path, "c").exists()
