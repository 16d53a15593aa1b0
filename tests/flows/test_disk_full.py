"""A full disk during the commit, on a real small file system (a tmpfs mounted as the output folder's disk)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import make_drop
from tests.flows.test_reliability import SEED_0, SEED_1, TEXTDROPS, _env, _read
from textdrops.faults import CRASH_ENV, FILL_DISK_ENV, fill_disk
from textdrops.staging import COMMIT_MARKER, STAGED_RUN

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture
def small_disk(tmp_path) -> Path:
    """A 64 MB tmpfs: a file system the test can really fill."""
    mount = tmp_path / "disk"
    mount.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=True)


def _status(out: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [TEXTDROPS, "status", "--out", str(out), "--raw", str(out.parent / "no-raw")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def _live_run_ids(out: Path, table: str = "documents") -> set[str]:
    return set(_read(out, table).filter(pl.col("drop_id") == "2016-03-15")["run_id"])


def test_the_disk_fills_during_the_commit_and_the_commit_still_completes(small_disk, monkeypatch):
    """Every byte is written before the commit marker: after it, the commit only renames."""
    from flows.process_drop import process_drop

    out = small_disk / "out"
    drop = make_drop(small_disk.parent / "raw", "2016-03-15", {"a.txt": SEED_0, "b.txt": SEED_1})
    first = process_drop(drop=str(drop), out_dir=str(out), trigger="test")
    monkeypatch.setenv(FILL_DISK_ENV, f"mid_commit:{small_disk / 'ballast'}")  # after the first partition swap
    second = process_drop(drop=str(drop), out_dir=str(out), trigger="test", force=True)

    assert second["status"] == "succeeded"
    runs = _read(out, "runs").sort("commit_seq")
    assert runs.select("run_id", "status").rows() == [(first["run_id"], "succeeded"), (second["run_id"], "succeeded")]
    for table in ("documents", "entities", "stories", "entity_counts"):
        assert _live_run_ids(out, table) == {second["run_id"]}, table
    assert not (out / "_staging").exists() or list((out / "_staging").iterdir()) == []
    status = _status(out)  # the disk is still full
    assert status.returncode == 0, status.stderr
    assert "Latest runs" in status.stdout and "The disk holding" in status.stdout and "full" in status.stdout


def test_the_disk_is_full_before_the_commit_the_run_fails_cleanly_and_status_works(small_disk):
    from flows.process_drop import process_drop

    out = small_disk / "out"
    drop = make_drop(small_disk.parent / "raw", "2016-03-15", {"a.txt": SEED_0, "b.txt": SEED_1})
    process_drop(drop=str(drop), out_dir=str(out), trigger="test")
    before = _live_run_ids(out)
    command = [TEXTDROPS, "run", str(drop), "--out", str(out)]
    env = {**_env(), FILL_DISK_ENV: f"before_commit:{small_disk / 'ballast'}"}  # everything staged, no marker
    failed = subprocess.run([*command, "--force"], env=env, capture_output=True, text=True, timeout=240)

    assert failed.returncode == 1
    last = failed.stderr.strip().splitlines()[-1]  # Prefect logs the failed task above it, with its traceback
    assert last.startswith("textdrops run: the disk is full ([Errno 28] No space left"), failed.stderr[-3000:]
    assert _live_run_ids(out) == before  # the last good partitions
    runs = _read(out, "runs").sort("started_at")
    assert runs["trigger"].to_list() == ["test", "manual"] and runs["status"].to_list() == ["succeeded", "failed"]
    assert "No space left on device" in runs["error"][-1]
    assert not (out / "_staging").exists() or list((out / "_staging").iterdir()) == []
    fill_disk(small_disk / "ballast")  # the failed run's staging area was freed: full again
    status = _status(out)
    assert status.returncode == 0 and "Traceback" not in status.stderr, status.stderr
    assert "│ failed" in status.stdout.replace("┆", "│")


def test_status_on_a_full_disk_finishes_an_interrupted_commit_or_says_it_is_pending(small_disk):
    out = small_disk / "out"
    drop = make_drop(small_disk.parent / "raw", "2016-03-15", {"a.txt": SEED_0, "b.txt": SEED_1})
    command = [TEXTDROPS, "run", str(drop), "--out", str(out), "--force"]
    for attempt in ("finished", "pending"):
        killed = subprocess.run(command, env={**_env(), CRASH_ENV: "mid_commit"}, capture_output=True, timeout=240)
        assert killed.returncode == -9
        (stage,) = (out / "_staging").iterdir()
        assert (stage / COMMIT_MARKER).exists()
        ballast = small_disk / "ballast"
        if attempt == "finished":
            fill_disk(ballast)
            status = _status(out)
        else:  # a commit of an earlier version: its run record is not staged, recovery must write it
            for record in (stage / STAGED_RUN).iterdir():
                record.unlink()
            # recovery frees the replaced index segment first: the disk fills again just before the record
            status = _status(out, {FILL_DISK_ENV: f"before_run_record:{ballast}"})
        assert status.returncode == 0 and "Traceback" not in status.stderr, status.stderr
        assert "Latest runs" in status.stdout
        if attempt == "finished":  # renames only: a full disk does not stop it
            assert f"Finished or cleared interrupted runs: {stage.name}" in status.stdout
            assert _live_run_ids(out) == {stage.name}
            assert _read(out, "runs").filter(pl.col("run_id") == stage.name)["status"].to_list() == ["succeeded"]
        else:
            assert f"not finished yet (a run holds the drop, or the disk is full): {stage.name}" in status.stdout
            assert "No space left on device" in status.stderr
            (small_disk / "ballast").unlink()
            freed = _status(out)
            assert f"Finished or cleared interrupted runs: {stage.name}" in freed.stdout
            assert _live_run_ids(out) == {stage.name}
        (small_disk / "ballast").unlink(missing_ok=True)
