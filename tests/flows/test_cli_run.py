"""`textdrops run` as a user runs it: a fresh process, Prefect's temporary server started early, stopped at exit."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import polars as pl
import pytest

from textdrops.prestart import count_inputs

ROOT = Path(__file__).resolve().parents[2]


def test_run_command_starts_and_stops_its_temporary_server(seed_drop, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"} | {
        "PREFECT_HOME": str(tmp_path / "home"),
        "PREFECT_LOGGING_LEVEL": "INFO",
    }
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "textdrops.cli", "run", str(seed_drop), "--out", str(out)],
        cwd=tmp_path,  # no prefect.toml or .env here: Prefect has no server configured
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "2 files -> 2 kept" in done.stdout
    started = re.search(r"Started Prefect's temporary server on (http://127\.0\.0\.1:\d+)", done.stdout + done.stderr)
    assert started, (done.stdout + done.stderr)[-3000:]
    with pytest.raises(OSError):  # stopped when the command exited
        urllib.request.urlopen(f"{started[1]}/api/health", timeout=2)
    documents = pl.read_parquet(out / "documents" / "drop_id=2016-03-15" / "*.parquet")
    assert documents.height == 2
    runs = pl.read_parquet(out / "runs" / "drop_id=2016-03-15" / "*.parquet")
    assert runs["status"].to_list() == ["succeeded"] and runs["flow_run_id"][0]


def test_count_inputs_stops_early(tmp_path):
    for i in range(5):
        (tmp_path / f"{i}.txt").write_text("x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.txt.gz").write_bytes(b"")
    (tmp_path / "notes.md").write_text("x")
    assert count_inputs(tmp_path, 100) == 6
    assert count_inputs(tmp_path, 3) == 3
