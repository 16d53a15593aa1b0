"""`textdrops run` as a user runs it: a fresh process, Prefect's temporary server started early, stopped at exit."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import polars as pl
import pytest

from textdrops.config import Settings
from textdrops.prestart import count_inputs, preload

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


def test_preload_loads_the_model_once_while_the_flow_may_ask_for_it():
    """`textdrops run` loads NER's model in a thread while the temporary server boots; the flow asking for it
    meanwhile waits for that load instead of loading a second copy."""
    from tasks import entities

    settings = dataclasses.replace(Settings.from_env(), run_picture=True)  # the suite turns the picture off
    entities._load_ner.cache_clear()
    thread = preload(settings)
    nlp = entities.load_ner(settings.ner_model)  # the flow's first NER call, while the thread may still load
    thread.join(timeout=120)
    assert not thread.is_alive()
    assert entities._load_ner.cache_info().misses == 1  # loaded once, by whichever thread came first
    assert entities.load_ner(settings.ner_model) is nlp
    assert [ent.label_ for ent in nlp("Angela Merkel spoke in Berlin.").ents] == ["PERSON", "GPE"]
    assert "tasks.report" in sys.modules  # the run picture's imports too


def make_deep_file(drop: Path, depth: int = 24) -> str:
    """A file `depth` folders of 200 characters deep (past the system's path limit of 4096), made through
    folder handles as a crawler can; returns its relative path."""
    names = ["x" * 200] * depth
    fd = os.open(drop, os.O_RDONLY)
    try:
        for name in names:
            os.mkdir(name, dir_fd=fd)
            inner = os.open(name, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = inner
        out = os.open("deep.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(out, b"A court in Lisbon ruled on Tuesday that the contract was void.")
        os.close(out)
    finally:
        os.close(fd)
    return "/".join([*names, "deep.txt"])


def test_files_in_folders_the_run_cannot_list_are_quarantined_not_lost(seed_texts, tmp_path):
    from tests.conftest import make_drop
    from tests.unprivileged import as_ordinary_user

    seeds = list(seed_texts.values())
    drop = make_drop(tmp_path / "raw", "2016-03-15", {"visible.txt": seeds[0], "locked/a.txt": seeds[1]})
    (drop / "locked" / "b.txt").write_text("Another article nobody will read.", encoding="utf-8")
    deep = make_deep_file(drop)
    (drop / "locked").chmod(0)
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"} | {"PREFECT_HOME": str(tmp_path / "home")}
    out = tmp_path / "out"
    try:
        done = subprocess.run(
            [sys.executable, "-m", "textdrops.cli", "run", str(drop), "--out", str(out)],
            cwd=tmp_path,
            env=env | {"PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=300,
            **as_ordinary_user(),
        )
    finally:
        (drop / "locked").chmod(0o755)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "3 files -> 1 kept, 0 exact and 0 near duplicates, 2 quarantined" in done.stdout
    quarantine = pl.read_parquet(out / "quarantine" / "drop_id=2016-03-15" / "*.parquet").sort("source_path")
    assert quarantine["reason"].to_list() == ["unreadable", "unreadable"]
    locked, too_deep = quarantine.rows(named=True)
    assert locked["source_path"] == "locked" and "Permission denied" in locked["detail"]
    assert deep.startswith(too_deep["source_path"]) and "File name too long" in too_deep["detail"]
