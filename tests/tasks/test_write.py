import json
import os
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.parquet as pq
import pytest

from tasks.commit import commit_partitions, recover
from tasks.write import to_arrow, write_part
from textdrops.locking import drop_lock
from textdrops.schema import QUARANTINE, RUNS, TABLES
from textdrops.staging import COMMIT_MARKER, live_partition, staged_partition, staging_dir


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


def _interrupted_commit(out, drop_id: str = "d", run_id: str = "new") -> None:
    """Drop `drop_id`'s run `run_id` killed in the middle of its commit: marker written, live partition
    moved aside, staged one not yet moved in."""
    write_part(_quarantine(3, "old"), "quarantine", live_partition(out, "quarantine", drop_id), 0)
    write_part(_quarantine(1, run_id), "quarantine", staged_partition(out, run_id, "quarantine", drop_id), 0)
    stage = staging_dir(out, run_id)
    (stage / "drop_id").write_text(drop_id)
    marker = {"drop_id": drop_id, "tables": ["quarantine"], "record": {**_record(run_id), "drop_id": drop_id}}
    (stage / COMMIT_MARKER).write_text(json.dumps(marker))
    (stage / "replaced").mkdir()
    live_partition(out, "quarantine", drop_id).rename(stage / "replaced" / "quarantine")


def test_a_run_of_any_drop_finishes_interrupted_commits_of_every_drop_first(tmp_path):
    _interrupted_commit(tmp_path, "d")
    assert recover(tmp_path, "other") == ["new"]  # the run of drop "other" finished drop d's commit
    assert pq.read_table(live_partition(tmp_path, "quarantine", "d")).column("run_id").to_pylist() == ["new"]
    assert [p.name for p in (tmp_path / "runs" / "drop_id=d").iterdir()] == ["new.parquet"]
    assert not staging_dir(tmp_path, "new").exists()


def test_an_interrupted_commit_of_a_drop_being_run_is_left_to_that_run(tmp_path):
    _interrupted_commit(tmp_path, "d")
    with drop_lock(tmp_path, "d", timeout=1):
        assert recover(tmp_path, "other") == []
    assert staging_dir(tmp_path, "new").exists()


def test_status_and_the_scheduled_survey_finish_interrupted_commits_first(tmp_path, capsys):
    from tasks.drops import survey
    from textdrops.cli import main

    _interrupted_commit(tmp_path / "out", "d", "r1")
    assert main(["status", "--out", str(tmp_path / "out"), "--raw", str(tmp_path / "raw")]) == 0
    assert "r1" in capsys.readouterr().out
    assert (tmp_path / "out" / "runs" / "drop_id=d" / "r1.parquet").exists()
    raw = tmp_path / "raw"
    (raw / "d").mkdir(parents=True)
    _interrupted_commit(tmp_path / "out2", "d", "r2")
    survey(raw, tmp_path / "out2", settle_seconds=0)
    assert (tmp_path / "out2" / "runs" / "drop_id=d" / "r2.parquet").exists()


def test_a_damaged_commit_marker_costs_only_its_own_folder_and_is_never_a_path(tmp_path, caplog):
    _interrupted_commit(tmp_path, "d", "garbled")
    (staging_dir(tmp_path, "garbled") / COMMIT_MARKER).write_text('{"drop_id": "d", "tab')  # cut short
    evil = staging_dir(tmp_path, "evil")
    evil.mkdir(parents=True)
    record = {**_record("evil"), "drop_id": "../../escaped"}
    (evil / COMMIT_MARKER).write_text(json.dumps({"drop_id": "../../escaped", "tables": ["../x"], "record": record}))
    _interrupted_commit(tmp_path, "e", "fine")
    with caplog.at_level("WARNING"):
        assert recover(tmp_path, "other") == ["fine"]  # the good one is finished, the bad ones skipped
    assert sum("damaged or invalid commit marker" in r.getMessage() for r in caplog.records) == 2
    assert not (tmp_path.parent / "escaped").exists() and not (tmp_path / "runs" / "drop_id=../../escaped").exists()
    assert (tmp_path / "runs" / "drop_id=e" / "fine.parquet").exists()


def test_a_zero_byte_run_record_costs_that_file_not_every_later_run(tmp_path, caplog):
    from tasks import runs_index
    from tasks.runs_table import read_runs, successful_fingerprints

    for run_id in ("run-1", "run-2"):
        write_part(_quarantine(1, run_id), "quarantine", staged_partition(tmp_path, run_id, "quarantine", "d"), 0)
        commit_partitions(tmp_path, run_id, "d", _record(run_id))
    (tmp_path / "runs" / "drop_id=d" / "run-2.parquet").write_bytes(b"")  # a power cut before the data hit disk
    # the index of runs, written durably after the run file, still holds run-2 (its partitions are live)
    assert successful_fingerprints(tmp_path) == {"d": ("f", "run-2")}
    with caplog.at_level("WARNING"):
        assert read_runs(tmp_path)["run_id"].to_list() == ["run-1"]  # the report's read of every run file
    assert any("run-2.parquet" in r.getMessage() for r in caplog.records)
    caplog.clear()
    shutil.rmtree(tmp_path / runs_index.INDEX_DIR)  # rebuilt from the run files: the damaged one costs itself
    with caplog.at_level("WARNING"):
        assert successful_fingerprints(tmp_path) == {"d": ("f", "run-1")}
    assert any("run-2.parquet" in r.getMessage() for r in caplog.records)


def test_every_staged_file_and_folder_is_fsynced_before_the_commit_marker(tmp_path, monkeypatch):
    import os

    from tasks import commit

    synced: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    write_part(_quarantine(2, "r"), "quarantine", staged_partition(tmp_path, "r", "quarantine", "d"), 0)
    synced.clear()  # what counts is what the commit makes durable before its marker
    monkeypatch.setattr(commit.os, "fsync", recording_fsync)
    marker_synced_at = []
    real_write_marker = commit.write_text_durably

    def note_marker(path, text):
        marker_synced_at.append(len(synced))
        real_write_marker(path, text)

    monkeypatch.setattr(commit, "write_text_durably", note_marker)
    commit_partitions(tmp_path, "r", "d", _record("r"))
    before_marker = set(synced[: marker_synced_at[0]])
    part = staged_partition(tmp_path, "r", "quarantine", "d")
    assert {str(part / "part-00000.parquet"), str(part), str(part.parent)} <= before_marker
    assert str(tmp_path / "quarantine") in synced  # the swap's rename is made durable
    assert str(tmp_path / "runs" / "drop_id=d") in synced


def _partition(folder: Path, part: str) -> Path:
    folder.mkdir(parents=True)
    (folder / f"{part}.parquet").write_text(part)
    return folder


def test_a_reader_never_sees_a_partition_missing_while_it_is_replaced(tmp_path):
    import threading

    from tasks.commit import exchange, swap_partition

    live = _partition(tmp_path / "documents" / "drop_id=d", "v0")
    probe = _partition(tmp_path / "probe-a", "a")
    if not exchange(probe, _partition(tmp_path / "probe-b", "b")):
        pytest.skip("this file system has no atomic exchange; the README documents the two-rename fallback")
    missing: list[int] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            try:
                if not any(name.endswith(".parquet") for name in os.listdir(live)):
                    missing.append(1)
            except FileNotFoundError:
                missing.append(1)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for version in range(1, 300):
            staged = _partition(tmp_path / "stage" / str(version), f"v{version}")
            swap_partition(staged, live, tmp_path / "replaced" / str(version), staged.stat().st_ino)
    finally:
        done.set()
        reader.join()
    assert missing == []
    assert os.listdir(live) == ["v299.parquet"]
    assert os.listdir(tmp_path / "replaced" / "1") == ["v0.parquet"]


def test_a_swap_resumed_after_the_exchange_is_not_undone(tmp_path):
    from tasks.commit import exchange, swap_partition

    live = _partition(tmp_path / "live", "old")
    staged = _partition(tmp_path / "staged", "new")
    inode = staged.stat().st_ino
    if not exchange(staged, live):  # killed right after the exchange: the staged path now holds the old one
        pytest.skip("this file system has no atomic exchange")
    swap_partition(staged, live, tmp_path / "replaced", inode)  # what recovery does with the marker's inode
    assert os.listdir(live) == ["new.parquet"]
    assert os.listdir(tmp_path / "replaced") == ["old.parquet"]
    assert not staged.exists()
