"""The compact index of `runs` gives what reading every run file gives, whatever the history of runs."""

from __future__ import annotations

import logging
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from tasks import runs_index
from tasks.commit import index_run_record, write_run_record
from tasks.runs import kept_counts
from tasks.runs_table import latest_runs, read_runs, stored_source, successful_fingerprints, take_commit_seq
from textdrops.locking import index_lock

T0 = datetime(2016, 3, 15, tzinfo=UTC)


def _record(drop_id: str, n: int, status: str, fingerprint: str, path: str, commit_seq: int | None) -> dict:
    started = T0 + timedelta(minutes=n)
    return {
        "run_id": f"{started:%Y%m%dT%H%M%S.%f}-{n:08x}",
        "flow_run_id": None,
        "drop_id": drop_id,
        "drop_path": path,
        "drop_fingerprint": fingerprint,
        "trigger": "test",
        "started_at": started.isoformat(),
        "finished_at": (started + timedelta(seconds=30 + n % 7)).isoformat(),
        "status": status,
        "error": None if status == "succeeded" else "ValueError: boom",
        **kept_counts(n),
        "n_batches": 1,
        "versions": {"textdrops": "test"},
        "config_hash": "x",
        "config": "{}",
        "commit_seq": commit_seq,
    }


def commit_record(out: Path, drop_id: str, n: int, fingerprint: str = "f", path: str = "/raw/a") -> dict:
    """A succeeded run recorded as the commit records it: a commit_seq, the run file, the index folded."""
    with index_lock(out):
        record = _record(drop_id, n, "succeeded", fingerprint, path, take_commit_seq(out))
        write_run_record(out, record)
        index_run_record(out, record)
    return record


def fail_record(out: Path, drop_id: str, n: int, status: str = "failed") -> dict:
    """A failed run recorded as process_drop records it: without the index lock."""
    record = _record(drop_id, n, status, None, "/raw/a", None)
    write_run_record(out, record)
    return record


def answers_from_every_file(out: Path, limit: int = 10) -> dict:
    """What the readers gave before the index: every run file read whole."""
    runs = read_runs(out)
    if runs is None:
        return {"fingerprints": {}, "latest": [], "max_seq": 0, "sources": {}}
    done = runs.filter(pl.col("status") == "succeeded").sort("finished_at").group_by("drop_id").last()
    return {
        "fingerprints": {r[0]: (r[1], r[2]) for r in done.select("drop_id", "drop_fingerprint", "run_id").rows()},
        "latest": runs.sort("started_at", descending=True).head(limit)["run_id"].to_list(),
        "max_seq": int(runs["commit_seq"].max() or 0) if "commit_seq" in runs.columns else 0,
        "sources": dict(done.select("drop_id", "drop_path").rows()),
    }


def answers_from_the_index(out: Path, limit: int = 10) -> dict:
    latest = latest_runs(out, limit)
    view = runs_index.runs_view(out)
    drops = sorted(set(view["drop_id"])) if view is not None else []
    return {
        "fingerprints": successful_fingerprints(out),
        "latest": [] if latest is None else latest["run_id"].to_list(),
        "max_seq": int(view["commit_seq"].max() or 0) if view is not None else 0,
        "sources": {d: s for d in drops if (s := stored_source(out, d)) is not None},
    }


def test_the_index_gives_what_every_run_file_gives_after_any_history_of_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(runs_index, "RECENT_RUNS", 7)  # small, so the latest runs are cut as they would be at 1,000
    out = tmp_path / "out"
    rng = random.Random(26)
    assert answers_from_the_index(out) == answers_from_every_file(out)
    for n in range(1, 60):
        drop = f"2016-03-{rng.randint(1, 12):02d}"
        kind = rng.choice(["run", "run", "rerun-changed", "forced", "replaced", "failed", "cancelled"])
        if kind in ("failed", "cancelled"):
            fail_record(out, drop, n, kind if kind == "cancelled" else "failed")
        else:
            path = "/raw/b" if kind == "replaced" else "/raw/a"
            fingerprint = f"f{n}" if kind in ("rerun-changed", "replaced") else "f"
            commit_record(out, drop, n, fingerprint, path)
        limit = (3, 7)[n % 2]  # both cuts of the latest runs, in turn
        assert answers_from_the_index(out, limit) == answers_from_every_file(out, limit), (n, kind)
    assert len(list((out / runs_index.INDEX_DIR / runs_index.PENDING).iterdir())) <= 15  # folded by commits
    assert runs_index.runs_view(out).height < read_runs(out).height  # compact: not a row per run


def test_status_beyond_the_recent_runs_the_index_holds_reads_every_file(tmp_path, monkeypatch):
    monkeypatch.setattr(runs_index, "RECENT_RUNS", 3)
    out = tmp_path / "out"
    for n in range(1, 9):
        commit_record(out, "2016-03-15", n)
    assert latest_runs(out, 5)["run_id"].to_list() == answers_from_every_file(out, 5)["latest"]


def _history(out: Path) -> None:
    commit_record(out, "2016-03-14", 1)
    commit_record(out, "2016-03-15", 2)
    fail_record(out, "2016-03-15", 3)
    commit_record(out, "2016-03-16", 4, fingerprint="g")
    fail_record(out, "2016-03-16", 5)


def test_a_deleted_or_damaged_index_is_rebuilt_once_with_a_warning(tmp_path, caplog):
    out = tmp_path / "out"
    _history(out)
    expected = answers_from_every_file(out)
    index = out / runs_index.INDEX_DIR / runs_index.INDEX_FILE
    for damage in (index.unlink, lambda: index.write_bytes(b"PAR1 not a parquet file")):
        damage()
        with caplog.at_level(logging.WARNING, logger="tasks.runs_index"):
            assert answers_from_the_index(out) == expected
        assert "rebuilt from the 3 drops' run files" in caplog.text
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="tasks.runs_index"):
            assert answers_from_the_index(out) == expected
        assert caplog.text == ""  # written back: rebuilt once


def test_an_index_that_names_removed_runs_is_rebuilt_and_runs_it_never_saw_are_read(tmp_path, caplog):
    out = tmp_path / "out"
    _history(out)
    # a drop's runs deleted by hand: the index still names them
    for path in (out / "runs" / "drop_id=2016-03-14").iterdir():
        path.unlink()
    (out / "runs" / "drop_id=2016-03-14").rmdir()
    # a run of a new drop recorded by an earlier version: its run file only
    from tasks.commit import run_record_table
    from tasks.write import write_parquet

    old = _record("2016-03-17", 6, "succeeded", "h", "/raw/a", 9)
    write_parquet(run_record_table(old), out / "runs" / "drop_id=2016-03-17" / f"{old['run_id']}.parquet")
    with caplog.at_level(logging.WARNING, logger="tasks.runs_index"):
        found = answers_from_the_index(out)
    assert found == answers_from_every_file(out)
    assert "2016-03-14" not in found["fingerprints"] and found["fingerprints"]["2016-03-17"][0] == "h"
    assert "stale (the runs of drops 2016-03-14 were removed)" in caplog.text


def test_an_output_folder_of_the_previous_version_works_and_gets_its_index(tmp_path, caplog):
    out = tmp_path / "out"
    _history(out)
    expected = answers_from_every_file(out)
    import shutil

    shutil.rmtree(out / runs_index.INDEX_DIR)  # what today's main leaves: run files only
    with caplog.at_level(logging.WARNING, logger="tasks.runs_index"):
        assert answers_from_the_index(out) == expected
    assert "missing (an output folder of an earlier version)" in caplog.text
    assert (out / runs_index.INDEX_DIR / runs_index.INDEX_FILE).exists()
    commit_record(out, "2016-03-15", 7, fingerprint="k")  # and runs go on from it
    assert answers_from_the_index(out) == answers_from_every_file(out)


def test_a_folder_whose_runs_all_failed_needs_no_rebuild(tmp_path, caplog):
    out = tmp_path / "out"
    fail_record(out, "2016-03-15", 1)
    fail_record(out, "2016-03-16", 2, "cancelled")
    with caplog.at_level(logging.WARNING, logger="tasks.runs_index"):
        assert answers_from_the_index(out) == answers_from_every_file(out)
    assert caplog.text == ""


def test_a_pending_row_without_its_run_file_is_not_read_and_is_cleared(tmp_path):
    """A crash between a failed run's pending row and its run file (the pending row is written first)."""
    from tasks.commit import run_record_table

    out = tmp_path / "out"
    _history(out)
    crashed = _record("2016-03-15", 8, "failed", None, "/raw/a", None)
    runs_index.write_pending(out, run_record_table(crashed))
    assert answers_from_the_index(out) == answers_from_every_file(out)
    commit_record(out, "2016-03-18", 9)  # a commit folds the pending rows: the orphan (drop not running) goes
    assert list((out / runs_index.INDEX_DIR / runs_index.PENDING).iterdir()) == []
    assert answers_from_the_index(out) == answers_from_every_file(out)


def test_readers_use_the_index_not_the_run_files(tmp_path):
    """With every run file unreadable once the index is written, the answers stay those of the run files."""
    out = tmp_path / "out"
    _history(out)
    commit_record(out, "2016-03-17", 6)  # folds the failed runs' pending rows
    expected = answers_from_every_file(out)
    for path in (out / "runs").glob("drop_id=*/*.parquet"):
        path.write_bytes(b"")
    assert read_runs(out) is None  # the run files are useless now
    assert answers_from_the_index(out) == expected
    assert take_commit_seq_after_losing_the_counter(out) == expected["max_seq"] + 1


def take_commit_seq_after_losing_the_counter(out: Path) -> int:
    (out / "_commit_seq").write_text("garbage")
    with index_lock(out):
        return take_commit_seq(out)


@pytest.mark.parametrize("columns_of", ["today", "no_commit_seq"])
def test_run_files_of_earlier_versions_rebuild_the_index_with_nulls(tmp_path, columns_of):
    """Run files without `commit_seq` (written before it existed) rebuild an index with it null."""
    import pyarrow.parquet as pq

    out = tmp_path / "out"
    _history(out)
    if columns_of == "no_commit_seq":
        for path in (out / "runs").glob("drop_id=*/*.parquet"):
            pq.write_table(pq.read_table(path).drop_columns(["commit_seq"]), path)
    import shutil

    shutil.rmtree(out / runs_index.INDEX_DIR)
    view = runs_index.runs_view(out)
    assert successful_fingerprints(out) == answers_from_every_file(out)["fingerprints"]
    assert view["commit_seq"].null_count() == (view.height if columns_of == "no_commit_seq" else 2)
