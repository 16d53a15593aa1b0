"""Which run is the latest: commit order, for overlapping runs and for output folders of earlier versions."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from tasks.migrations import LAYOUT
from tests.conftest import SEEDS, make_drop
from tests.flows.test_reliability import SEED_0, SEED_1, TEXTDROPS, _env
from tests.tasks.test_stories import readme_queries
from textdrops.faults import CRASH_ENV
from textdrops.locking import drop_lock

pytestmark = pytest.mark.usefixtures("prefect_harness")
SEED_0_NAME = "000_f69c75c0d5ceb9f3.txt"
assert (SEEDS / SEED_0_NAME).exists()


def _runs(out: Path) -> pl.DataFrame:
    runs = out / "runs" / "**" / "*.parquet"
    return pl.read_parquet(runs, hive_partitioning=True, hive_schema={"drop_id": pl.String})


def _story_of_seed(out: Path) -> str:
    docs = duckdb.sql(
        f"select story_id from read_parquet('{out}/documents/*/*.parquet', hive_partitioning = true, "
        f"hive_types = {{'drop_id': VARCHAR}}) where source_path = 'seed0.txt'"
    ).fetchall()
    return docs[0][0]


def test_a_run_started_first_and_committed_last_is_the_current_state(tmp_path, capsys):
    """A long drop started first commits after a short one: its rows are the stories' current state."""
    from flows.process_drop import process_drop

    out = tmp_path / "out"
    short = make_drop(tmp_path / "raw", "2016-03-14", {"seed0.txt": SEED_0})
    long_ = make_drop(tmp_path / "raw", "2016-03-16", {"seed1.txt": SEED_1})
    # a run of drop 2016-03-15 "being processed" (its lock held here) holds the later drop back before
    # dedupe; drop 2016-03-14 sorts before it and does not wait
    with drop_lock(out, "2016-03-15", timeout=10):
        started = subprocess.Popen(
            [TEXTDROPS, "run", str(long_), "--out", str(out)],
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 120
        while not any((p / "drop_id").exists() for p in (out / "_staging").glob("*")):  # its run id is taken
            assert started.poll() is None and time.monotonic() < deadline, started.communicate()
            time.sleep(0.2)
        process_drop(drop=str(short), out_dir=str(out), trigger="test")
    stdout, stderr = started.communicate(timeout=240)
    assert started.returncode == 0, stderr[-3000:]

    runs = _runs(out).sort("run_id")
    assert runs["drop_id"].to_list() == ["2016-03-16", "2016-03-14"]  # the long drop started first
    assert runs["commit_seq"].to_list() == [2, 1]  # ... and committed last

    story = _story_of_seed(out)
    _, of_day, grew = (duckdb.sql(q).pl() for q in readme_queries(out, story))
    current = of_day.filter(pl.col("story_id") == story).row(0, named=True)
    assert current["documents"] == 2  # both drops' documents, not the short drop's older state
    assert grew.select("story_id", "drop_documents", "documents").rows() == [(story, 1, 2)]

    from textdrops.cli import main

    assert main(["stories", "--out", str(out)]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if story in line)
    assert [cell.strip() for cell in row.split("┆")][3] == "2"  # docs


def _as_written_by_an_earlier_version(out: Path) -> None:
    """Turn an output folder into what versions before commit_seq wrote: no such column, no counter."""
    for path in [*(out / "runs").glob("*/*.parquet"), *(out / "stories").glob("*/*.parquet")]:
        table = pq.ParquetFile(path).read()
        pq.write_table(table.drop_columns(["commit_seq"]), path)
    (out / "_commit_seq").unlink()
    (out / LAYOUT).unlink()  # nor a record of upgrades


def test_an_output_folder_of_an_earlier_version_gets_commit_order_and_reads_stay_whole(tmp_path):
    from flows.process_drop import process_drop

    out = tmp_path / "out"
    first = make_drop(tmp_path / "raw", "2016-03-14", {"seed0.txt": SEED_0})
    second = make_drop(tmp_path / "raw", "2016-03-15", {"seed1.txt": SEED_1})
    process_drop(drop=str(first), out_dir=str(out), trigger="test")
    process_drop(drop=str(first), out_dir=str(out), trigger="test", force=True)
    _as_written_by_an_earlier_version(out)
    old_runs = _runs(out).sort("finished_at")["run_id"].to_list()
    # the upgrade killed after its first file: the next one finishes it with the same numbers
    upgrade = f"from pathlib import Path; from tasks.migrations import upgrade; upgrade(Path({str(out)!r}))"
    killed = subprocess.run([sys.executable, "-c", upgrade], env={**os.environ, CRASH_ENV: "mid_upgrade"})
    assert killed.returncode == -9
    upgraded = [p for p in (out / "stories").glob("*/*.parquet") if "commit_seq" in pq.read_schema(p).names]
    assert len(upgraded) == 1 and (out / "_commit_seq.upgrade.json").exists()

    process_drop(drop=str(second), out_dir=str(out), trigger="test")

    runs = _runs(out)
    assert dict(runs.select("run_id", "commit_seq").rows()) == {old_runs[0]: 1, old_runs[1]: 2, **{
        r: 3 for r in runs["run_id"] if r not in old_runs}}  # fmt: skip
    for path in [*(out / "runs").glob("*/*.parquet"), *(out / "stories").glob("*/*.parquet")]:
        assert "commit_seq" in pq.read_schema(path).names, path
    # the README's readers, over old and new files alike
    story = _story_of_seed(out)
    _, of_day, grew = (duckdb.sql(q).pl() for q in readme_queries(out, story))
    assert of_day.filter(pl.col("story_id") == story)["documents"].to_list() == [2]
    assert grew.select("story_id", "drop_documents", "documents").rows() == [(story, 1, 2)]
    stories = pl.scan_parquet(
        out / "stories" / "**" / "*.parquet", hive_partitioning=True, hive_schema={"drop_id": pl.String}
    ).collect()
    assert stories.sort("drop_id")["commit_seq"].to_list() == [2, 3]
    arrow = ds.dataset(out / "stories", format="parquet", partitioning="hive").to_table()
    assert sorted(arrow.column("commit_seq").to_pylist()) == [2, 3]
    assert not (out / "_commit_seq.upgrade.json").exists()
    assert (out / "_commit_seq").read_text() == "3"
