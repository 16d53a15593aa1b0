"""Real runs keep the compact index of `runs` exact, and every run, status and survey read it, not the run files."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tasks import runs_index
from tasks.drops import survey
from tests.conftest import make_drop
from tests.flows.test_reliability import SEED_0, SEED_1, TEXTDROPS, _env
from tests.tasks.test_runs_index import answers_from_every_file, answers_from_the_index
from textdrops.faults import CRASH_ENV

pytestmark = pytest.mark.usefixtures("prefect_harness")


def _statuses(raw: Path, out: Path) -> dict[str, str]:
    return {s.path.name: s.status for s in survey(raw, out, settle_seconds=0)}


def test_runs_failures_forced_runs_and_a_replaced_drop_keep_the_index_exact(tmp_path):
    from flows.process_drop import process_drop

    raw, out = tmp_path / "raw", tmp_path / "out"
    first = make_drop(raw, "2016-03-15", {"a.txt": SEED_0})
    second = make_drop(raw, "2016-03-16", {"b.txt": SEED_1})
    elsewhere = make_drop(tmp_path / "elsewhere", "2016-03-15", {"c.txt": SEED_1})

    def check() -> None:
        assert answers_from_the_index(out) == answers_from_every_file(out)

    process_drop(drop=str(first), out_dir=str(out), trigger="test")
    check()
    process_drop(drop=str(second), out_dir=str(out), trigger="test")
    check()
    assert process_drop(drop=str(first), out_dir=str(out), trigger="test")["status"] == "skipped"
    with pytest.raises(FileExistsError):  # the same drop id from another folder, without replace: a failed run
        process_drop(drop=str(elsewhere), out_dir=str(out), trigger="test")
    check()
    assert answers_from_the_index(out)["latest"][0] == answers_from_every_file(out)["latest"][0]
    process_drop(drop=str(first), out_dir=str(out), trigger="test", force=True)
    check()
    process_drop(drop=str(elsewhere), out_dir=str(out), trigger="test", replace=True)
    check()
    assert answers_from_the_index(out)["sources"]["2016-03-15"] == str(elsewhere.resolve())
    assert _statuses(raw, out) == {"2016-03-15": "pending", "2016-03-16": "processed"}  # replaced by elsewhere
    assert list((out / runs_index.INDEX_DIR / runs_index.PENDING).iterdir()) == []  # the failure was folded in


def test_status_survey_and_a_run_read_the_index_not_the_run_files(tmp_path, capsys):
    from flows.process_drop import process_drop
    from textdrops.cli import main

    raw, out = tmp_path / "raw", tmp_path / "out"
    first = make_drop(raw, "2016-03-15", {"a.txt": SEED_0})
    second = make_drop(raw, "2016-03-16", {"b.txt": SEED_1})
    for drop in (first, second):
        process_drop(drop=str(drop), out_dir=str(out), trigger="test")
    assert main(["status", "--out", str(out), "--raw", str(raw)]) == 0
    before = capsys.readouterr().out
    for path in (out / "runs").glob("drop_id=*/*.parquet"):
        path.write_bytes(b"")  # unreadable: only the index can still tell what happened

    assert main(["status", "--out", str(out), "--raw", str(raw)]) == 0
    after = capsys.readouterr().out
    assert after == before and "2016-03-16" in after and "all processed in their current state" in after
    assert _statuses(raw, out) == {"2016-03-15": "processed", "2016-03-16": "processed"}
    assert process_drop(drop=str(first), out_dir=str(out), trigger="test")["status"] == "skipped"


# (a crash at before_run_record, before the run file, is test_reliability's: the index is not touched yet)
@pytest.mark.parametrize("point", ["before_runs_index"])
def test_a_crash_between_the_run_file_and_the_index_then_the_next_run(tmp_path, point):
    """A re-run of a changed drop killed after its partitions are in place but before its record is in the
    index: the next survey finishes the commit, the drop is processed and its next run is skipped."""
    from flows.process_drop import process_drop

    raw, out = tmp_path / "raw", tmp_path / "out"
    other = make_drop(raw, "2016-03-14", {"a.txt": SEED_1})
    drop = make_drop(raw, "2016-03-15", {"a.txt": SEED_0})
    for earlier in (other, drop):
        process_drop(drop=str(earlier), out_dir=str(out), trigger="test")
    (drop / "b.txt").write_text(SEED_1, encoding="utf-8")  # changed: the index knows the drop, not this run
    crashed = subprocess.run(
        [TEXTDROPS, "run", str(drop), "--out", str(out)],
        env={**_env(), CRASH_ENV: point},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert crashed.returncode == -9, crashed.stderr[-2000:]
    assert _statuses(raw, out) == {"2016-03-14": "processed", "2016-03-15": "processed"}
    assert answers_from_the_index(out) == answers_from_every_file(out)
    assert process_drop(drop=str(drop), out_dir=str(out), trigger="test")["status"] == "skipped"
    assert answers_from_the_index(out)["max_seq"] == 3
