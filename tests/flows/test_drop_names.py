"""Odd drop names and output paths: glob characters are taken literally; names hive readers would
change (`=`, `%`) are refused before any work."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from tests.conftest import FIXTURES, SEEDS, make_drop

pytestmark = pytest.mark.usefixtures("prefect_harness")


def _drop_ids(out: Path, table: str) -> dict[str, int]:
    # pyarrow reads the hive partitions without any globbing: the partition values as readers see them
    table = ds.dataset(out / table, format="parquet", partitioning="hive").to_table()
    ids = table.column("drop_id").to_pylist()
    return {i: ids.count(i) for i in set(ids)}


def test_glob_characters_and_spaces_in_drop_names_and_the_output_path_round_trip(tmp_path):
    from flows.process_drop import process_drop

    out = tmp_path / "out [x] ?"
    first = tmp_path / "raw" / "2016-03-15"
    shutil.copytree(SEEDS, first)
    # a name that, read as a glob, also matches the first drop's partition: drop_id=2016-03-1*
    articles = {p.name: p.read_bytes() for p in (FIXTURES / "clean").glob("*.txt")}
    second = make_drop(tmp_path / "raw", "2016-03-1* late [v2]?", articles)
    for drop in (first, second):
        record = process_drop(drop=str(drop), out_dir=str(out), trigger="test")
        assert record["status"] == "succeeded"
    again = process_drop(drop=str(first), out_dir=str(out), trigger="test", force=True)
    assert again["docs_kept"] == 2  # not deduplicated against its own earlier copy through a glob
    assert _drop_ids(out, "documents") == {"2016-03-15": 2, "2016-03-1* late [v2]?": len(articles)}
    runs = _drop_ids(out, "runs")
    assert runs == {"2016-03-15": 2, "2016-03-1* late [v2]?": 1}


@pytest.mark.parametrize("name", ["2016-03-15=evening", "news%2Fsports"])
def test_names_hive_readers_would_change_are_refused_before_any_work(tmp_path, name):
    from flows.process_drop import process_drop

    drop = make_drop(tmp_path / "raw", name, {"a.txt": "Some news about the budget."})
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="cannot be a drop id"):
        process_drop(drop=str(drop), out_dir=str(out), trigger="test")
    assert not (out / "documents").exists()
    env = {**os.environ, "PREFECT_API_URL": "http://127.0.0.1:9/api"}  # refused before Prefect is used
    done = subprocess.run(
        [sys.executable, "-m", "textdrops.cli", "run", str(drop), "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "cannot be a drop id" in done.stderr and repr(name) in done.stderr
