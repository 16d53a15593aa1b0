"""The run report (`textdrops report`): what it says about a real run, the unusual run it calls out, the bounded
sample of run records it reads, and the picture each flow run attaches in Prefect."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest

import tasks.report as report
from benchmarks.report import build_output
from tests.conftest import SEEDS, make_drop
from textdrops.cli import main


def test_an_unusual_run_is_called_out_in_words(tmp_path):
    build_output(tmp_path / "out", 40, detailed=3)
    data = report.gather(tmp_path / "out")
    spike = data.runs.row(37, named=True)  # build_output's unusual run: half its files exact duplicates
    assert data.unusual, "the run with half its files duplicates was not called out"
    assert f"Run {spike['run_id']} of drop {spike['drop_id']}: duplicate rate" in data.unusual[0]
    assert "median absolute deviation" in data.unusual[0]


def test_a_steady_feed_has_no_unusual_duplicate_rate(tmp_path):
    build_output(tmp_path / "out", 40, detailed=3, unusual=False)
    unusual = report.gather(tmp_path / "out").unusual
    # (a quarantine of 17 files where 5 is usual may still be called out: build_output's quarantines vary a lot)
    assert [text for text in unusual if "duplicate rate" in text or "documents kept" in text] == []


def test_many_runs_are_read_as_the_recent_ones_and_a_sample(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "MAX_RUN_FILES", 20)
    monkeypatch.setattr(report, "RECENT_FILES", 10)
    out = tmp_path / "out"
    build_output(out, 60, detailed=2)
    data = report.gather(out)
    assert (data.total_runs, data.runs.height) == (60, 20)
    assert data.runs["drop_id"].tail(10).to_list() == [f"2000-{m}" for m in _days(50, 60)]
    assert data.runs["run_id"].is_sorted() and data.latest["drop_id"] == _days(59, 60)[0].join(["2000-", ""])
    page = report.write_report(out, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "60 runs (the charts across runs read the last 10 and an even sample of the older ones: 20 in all)" in page


def _days(start: int, stop: int) -> list[str]:
    from datetime import date, timedelta

    return [(date(2000, 1, 1) + timedelta(days=i)).strftime("%m-%d") for i in range(start, stop)]


def test_runs_are_ordered_by_commit_seq_when_recorded(tmp_path):
    out = tmp_path / "out"
    build_output(out, 6, detailed=6)
    files = report.run_files(out)
    for path in files[:-2]:  # older runs, written by a version without commit_seq
        pl.read_parquet(path).drop("commit_seq").write_parquet(path)
    # the last two runs committed in the other order than they started: the one that committed last is latest
    for path, seq in ((files[-1], 1), (files[-2], 2)):
        pl.read_parquet(path).with_columns(commit_seq=pl.lit(seq, pl.Int64)).write_parquet(path)
    data = report.gather(out)
    assert data.latest["run_id"] == pl.read_parquet(files[-2])["run_id"][0]
    assert data.runs.height == 6  # the older files, without commit_seq, are read too


def test_report_command_names_a_missing_output_folder(tmp_path, capsys):
    assert main(["report", "--out", str(tmp_path / "nowhere")]) == 1
    assert f"output folder {tmp_path / 'nowhere'} does not exist" in capsys.readouterr().err


@pytest.mark.usefixtures("prefect_harness")
def test_report_and_run_picture_of_real_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("TEXTDROPS_RUN_PICTURE", "on")  # what this test looks at (the suite turns it off elsewhere)
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from flows.process_drop import process_drop

    out = tmp_path / "out"
    first = tmp_path / "raw" / "2016-03-15"
    shutil.copytree(SEEDS, first)
    second = make_drop(
        tmp_path / "raw", "2016-03-16", {**{p.name: p.read_bytes() for p in SEEDS.glob("*.txt")}, "empty.txt": b""}
    )
    process_drop(drop=str(first), out_dir=str(out), trigger="test")
    record = process_drop(drop=str(second), out_dir=str(out), trigger="test")

    assert main(["report", "--out", str(out)]) == 0
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "Latest run: drop 2016-03-16" in page and f"Run <code>{record['run_id']}</code>" in page
    assert "Where the 3 files of the drop went" in page and "quarantined: empty_file" in page
    assert "The largest stories" in page and "Quarantine rate by reason" in page
    assert page.count("<svg") >= 8 and "<script" not in page  # charts inline, nothing to fetch

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["run-report-2016-03-16"]))
        )
    assert len(artifacts) == 1 and str(artifacts[0].flow_run_id) == record["flow_run_id"]
    assert artifacts[0].data.count("](data:image/png;base64,") == 3
    assert "# Run report of drop 2016-03-16" in artifacts[0].data


def test_report_files_are_listed_not_globbed(tmp_path):
    out = tmp_path / "out"
    build_output(out, 3, detailed=3)
    odd = out / "runs" / "drop_id=[odd]*"
    shutil.copytree(out / "runs" / "drop_id=2000-01-01", odd)
    assert len(report.run_files(out)) == 4
    assert isinstance(report.run_files(tmp_path / "empty"), list) and report.run_files(tmp_path / "empty") == []
    assert Path(report.run_files(out)[0]).suffix == ".parquet"
