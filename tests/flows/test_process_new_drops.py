"""Scheduled pickup of new drops, the Dask runner, and `textdrops status`."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from tests.conftest import SEEDS, make_drop

SEED_0 = (SEEDS / "000_f69c75c0d5ceb9f3.txt").read_text(encoding="utf-8")
SEED_1 = (SEEDS / "001_7829b123e079136c.txt").read_text(encoding="utf-8")

pytestmark = pytest.mark.usefixtures("prefect_harness")


def _read(out: Path, table: str) -> pl.DataFrame:
    return pl.read_parquet(out / table / "**" / "*.parquet", hive_partitioning=True, hive_schema={"drop_id": pl.String})


def test_new_drops_are_processed_oldest_first_then_left_alone(tmp_path):
    from flows.process_new_drops import process_new_drops

    raw, out = tmp_path / "raw", tmp_path / "out"
    make_drop(raw, "2016-03-16", {"b.txt": SEED_0})
    make_drop(raw, "2016-03-15", {"a.txt": SEED_0, "c.txt": SEED_1})
    make_drop(raw, "2016-03-17-partial", {"d.txt": "Still arriving."})
    (raw / "2016-03-15" / "_SUCCESS").touch()
    (raw / "2016-03-16" / "_SUCCESS").touch()

    first = process_new_drops(raw_root=str(raw), out_dir=str(out), settle_seconds=0, require_marker=True)
    assert first == {"processed": ["2016-03-15", "2016-03-16"], "failed": [], "waiting": ["2016-03-17-partial"]}
    docs = _read(out, "documents")
    later = docs.filter(pl.col("drop_id") == "2016-03-16").row(0, named=True)
    assert later["status"] == "exact_duplicate" and later["duplicate_of_drop"] == "2016-03-15"
    runs = _read(out, "runs")
    assert set(runs["trigger"]) == {"manual"}  # called directly; a run of the scheduler says "schedule" (e2e test)

    second = process_new_drops(raw_root=str(raw), out_dir=str(out), settle_seconds=0, require_marker=True)
    assert second["processed"] == []
    assert _read(out, "runs").height == 2

    (raw / "2016-03-16" / "extra.txt").write_text("A correction was published on Tuesday.", encoding="utf-8")
    third = process_new_drops(raw_root=str(raw), out_dir=str(out), settle_seconds=0, require_marker=True)
    assert third["processed"] == ["2016-03-16"]


def test_dask_runner_gives_the_same_output_as_the_default_runner(tmp_path):
    from flows.process_drop import process_drop
    from textdrops.dask_runner import dask_task_runner, shared_prefect_api

    drop = make_drop(tmp_path / "raw", "2016-03-15", {"a.txt": SEED_0, "b.txt": SEED_1, "c.txt": SEED_0 + "\nMore."})
    local, dask = tmp_path / "local", tmp_path / "dask"
    process_drop(drop=str(drop), out_dir=str(local), trigger="test", batch_size=1)
    with shared_prefect_api():
        on_dask = process_drop.with_options(task_runner=dask_task_runner(n_workers=2))
        record = on_dask(drop=str(drop), out_dir=str(dask), trigger="test", batch_size=1, worker_processes=1)
    assert record["n_batches"] == 3
    for table, key in (("documents", ["doc_id"]), ("entities", ["doc_id", "start"]), ("dates", ["doc_id", "start"])):
        a = _read(local, table).drop("run_id").sort(key)
        b = _read(dask, table).drop("run_id").sort(key)
        assert a.height > 0
        assert a.equals(b), table


def test_status_lists_runs_and_pending_drops(tmp_path, capsys):
    from flows.process_drop import process_drop
    from textdrops.cli import main

    raw, out = tmp_path / "raw", tmp_path / "out"
    done = make_drop(raw, "2016-03-15", {"a.txt": SEED_1})
    make_drop(raw, "2016-03-16", {"b.txt": SEED_0})
    process_drop(drop=str(done), out_dir=str(out), trigger="test")
    assert main(["status", "--raw", str(raw), "--out", str(out)]) == 0
    shown = capsys.readouterr().out
    assert "2016-03-15" in shown and "succeeded" in shown
    assert "2016-03-16: pending (never processed successfully)" in shown

    process_drop(drop=str(raw / "2016-03-16"), out_dir=str(out), trigger="test")
    assert main(["status", "--raw", str(raw), "--out", str(out)]) == 0
    assert "Drops under" in (shown := capsys.readouterr().out) and "2, all processed in their current state." in shown


def test_a_served_scheduled_run_skips_a_symlink_out_and_manual_runs_take_only_drops(tmp_path, monkeypatch, caplog):
    from flows.process_drop import process_drop
    from flows.process_new_drops import process_new_drops
    from textdrops.served import SERVED_OUT, SERVED_RAW, confine

    monkeypatch.setenv(SERVED_RAW, "")  # undone after the test, with what `confine` sets
    monkeypatch.setenv(SERVED_OUT, "")
    raw, out = tmp_path / "raw", tmp_path / "out"
    make_drop(raw, "2016-03-15", {"a.txt": SEED_0, "b.txt": SEED_1})
    elsewhere = make_drop(tmp_path / "elsewhere", "2016-03-16", {"c.txt": "Text from outside the raw folder."})
    (raw / "2016-03-16").symlink_to(elsewhere)
    confine(raw, out)

    # a served API caller asks for the raw folder itself, or a folder inside a drop, as a drop
    (raw / "2016-03-15" / "sub").mkdir()
    (raw / "2016-03-15" / "sub" / "c.txt").write_text(SEED_0, encoding="utf-8")
    for not_a_drop in (raw, raw / "2016-03-15" / "sub"):
        with pytest.raises(PermissionError, match="directly in"):
            process_drop(drop=str(not_a_drop), out_dir=str(out), trigger="deployment")
    assert not out.exists() or not list(out.glob("*/drop_id=*"))

    # the scheduled run skips the link with a warning instead of failing every time, and processes the rest
    outcome = process_new_drops(raw_root=str(raw), out_dir=str(out), settle_seconds=0)
    assert outcome == {"processed": ["2016-03-15"], "failed": [], "waiting": []}
    logged = caplog.text  # the run logger's records (its console stream may be another test's closed one)
    assert "2016-03-16 skipped: a symbolic link" in logged and "not followed" in logged
    docs = _read(out, "documents")
    assert set(docs["drop_id"]) == {"2016-03-15"}
    assert docs.filter(pl.col("status") == "kept").height == 2  # not duplicates of a drop `raw` or `sub`
