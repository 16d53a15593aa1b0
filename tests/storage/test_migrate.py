"""`textdrops migrate FOLDER --to s3://...`: a team's local output folder moved into object storage (moto's S3
server in its own process), where runs go on from everything the folder held and readers see every drop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import SEEDS, make_drop
from textdrops.cli import main
from textdrops.faults import CRASH_ENV, FOLDER_MIGRATION_CRASH_POINTS

SEED_0 = (SEEDS / "000_f69c75c0d5ceb9f3.txt").read_text(encoding="utf-8")
SEED_1 = (SEEDS / "001_7829b123e079136c.txt").read_text(encoding="utf-8")
DELTA = ("documents", "entities", "entity_counts", "dates", "quarantine", "stories")
ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture
def s3(s3_server, aws_env, monkeypatch, tmp_path):
    monkeypatch.setenv("TEXTDROPS_CACHE_DIR", str(tmp_path / "machine"))
    monkeypatch.setenv("AWS_ALLOW_HTTP", "true")  # the README's reads of an http:// endpoint (moto)
    return s3_server


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """A local output folder of two drops (one a failed file's quarantine, one sharing a story)."""
    from flows.process_drop import process_drop

    root = tmp_path_factory.mktemp("migrate")
    drops = [
        make_drop(root / "raw", "2016-03-14", {"a.txt": SEED_0, "empty.txt": b""}),
        make_drop(root / "raw", "2016-03-15", {"b.txt": SEED_1}),
    ]
    for drop in drops:
        assert process_drop(drop=str(drop), out_dir=str(root / "local"), trigger="test")["status"] == "succeeded"
    return root / "local"


def _local(out: Path, table: str) -> pl.DataFrame:
    return pl.read_parquet(out / table / "**" / "*.parquet", hive_partitioning=True, hive_schema={"drop_id": pl.String})


def _sorted(frame: pl.DataFrame) -> pl.DataFrame:
    frame = frame.select(sorted(frame.columns))
    return frame.sort(by=[c for c, t in frame.schema.items() if not t.is_nested()])


def _files(out: Path) -> dict[str, int]:
    """Every file's modification time, but the locks' (the migration holds the folder's index lock)."""
    found = {p.relative_to(out).as_posix(): p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    return {path: mtime for path, mtime in found.items() if not path.startswith("_locks/")}


def _same_tables(folder: Path, url: str) -> None:
    for table in DELTA:
        local = _local(folder, table)
        if local.height:
            assert _sorted(pl.read_delta(f"{url}/{table}")).equals(_sorted(local)), table  # the README's read


def test_a_folder_moved_into_a_bucket_goes_on_there_and_is_left_as_it_was(s3, folder, tmp_path, capsys):
    from flows.process_drop import process_drop

    url = s3.url("migrated")
    before = _files(folder)
    assert main(["migrate", str(folder), "--to", url]) == 0
    assert "files put" in capsys.readouterr().out
    _same_tables(folder, url)
    assert _files(folder) == before  # the folder is left as it was

    # a new machine: a drop holding a copy of an article of the folder is deduplicated against it, and its
    # story joins the folder's
    later = make_drop(tmp_path / "raw", "2016-03-16", {"copy.txt": SEED_0, "new.txt": SEED_1.replace("a", "o")})
    assert process_drop(drop=str(later), out_dir=url, trigger="test")["status"] == "succeeded"
    docs = pl.read_delta(f"{url}/documents").filter(pl.col("drop_id") == "2016-03-16").sort("source_path")
    copy = docs.row(0, named=True)
    assert copy["status"] == "exact_duplicate" and copy["duplicate_of_drop"] == "2016-03-14"
    original = _local(folder, "documents").filter(pl.col("doc_id") == copy["duplicate_of"]).row(0, named=True)
    assert copy["story_id"] == original["story_id"]
    assert pl.read_delta(f"{url}/documents").filter(pl.col("drop_id") != "2016-03-16").height == (
        _local(folder, "documents").height
    )
    capsys.readouterr()
    assert main(["status", "--out", url]) == 0
    shown = capsys.readouterr().out
    assert all(drop in shown for drop in ("2016-03-14", "2016-03-15", "2016-03-16"))

    assert main(["migrate", str(folder), "--to", url]) == 1  # a store that holds anything is never filled
    assert "not empty" in capsys.readouterr().err


@pytest.mark.parametrize("point", FOLDER_MIGRATION_CRASH_POINTS)
def test_a_migration_killed_anywhere_is_finished_by_running_it_again(s3, folder, tmp_path, point, capsys):
    url = s3.url("killed")
    env = {**os.environ, CRASH_ENV: point}
    code = "import sys; from textdrops.cli import main; sys.exit(main(sys.argv[1:]))"
    killed = subprocess.run(
        [sys.executable, "-c", code, "migrate", str(folder), "--to", url], env=env, cwd=ROOT, capture_output=True
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()[-2000:]
    capsys.readouterr()
    assert main(["status", "--out", url]) == 1  # nothing may use a half-filled store
    assert "textdrops migrate" in capsys.readouterr().err
    assert main(["migrate", str(folder), "--to", url]) == 0
    _same_tables(folder, url)
    assert main(["status", "--out", url]) == 0
