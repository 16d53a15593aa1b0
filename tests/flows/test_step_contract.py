"""The step contract end to end: a step declared in one place runs in the real flow and reaches `runs`, a step
that writes what it does not declare fails the run, and story counts reach the run record."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from tasks import steps
from tasks.migrations import layout_version
from tasks.run_summary import summary_markdown
from tests.conftest import SEEDS, make_drop
from textdrops.faults import CRASH_ENV
from textdrops.schema import RUNS
from textdrops.stats import StageStats

pytestmark = pytest.mark.usefixtures("prefect_harness")

SEED_0 = (SEEDS / "000_f69c75c0d5ceb9f3.txt").read_text(encoding="utf-8")
SEED_1 = (SEEDS / "001_7829b123e079136c.txt").read_text(encoding="utf-8")


@dataclasses.dataclass(frozen=True)
class LongWords:
    stats: StageStats


def count_long_words(ctx, annotated: list) -> LongWords:
    """A toy step: words of 12 letters or more in the drop's kept documents."""
    stats = StageStats()
    docs = pl.read_parquet(sorted(ctx.staged("documents").glob("*.parquet")), hive_partitioning=False)
    kept = docs.filter(pl.col("status") == "kept")
    n = int(kept["text"].str.count_matches(r"\b[A-Za-z]{12,}\b").sum())
    stats.count("long_words", [("kept_documents", n)])
    stats.lap("long_words")
    return LongWords(stats)


LONG_WORDS = steps.Step(
    name="long_words", scope="drop", run=count_long_words, inputs=lambda r: r["annotate"], reads=("documents",)
)


def _as_dict(entries: list[dict] | dict) -> dict:
    """A map column's value as polars reads it (a dict, or key/value structs) as a dict."""
    return entries if isinstance(entries, dict) else {entry["key"]: entry["value"] for entry in entries}


def _drop(root: Path) -> Path:
    return make_drop(root / "raw", "2016-03-15", {"a.txt": SEED_0, "b.txt": SEED_1, "copy.txt": SEED_0})


def _run(drop: Path, out: Path) -> dict:
    from flows.process_drop import process_drop

    return process_drop(drop=str(drop), out_dir=str(out), trigger="test")


@pytest.fixture(scope="module")
def with_toy_step(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("toy")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(steps, "STEPS", [*steps.STEPS, LONG_WORDS])  # the one line that adds a step
        record = _run(_drop(root), root / "out")
    return root / "out", record


def test_a_new_step_declared_in_one_place_reaches_the_run_record(with_toy_step):
    out, record = with_toy_step
    docs = pl.read_parquet(out / "documents" / "**" / "*.parquet").filter(pl.col("status") == "kept")
    expected = int(docs["text"].str.count_matches(r"\b[A-Za-z]{12,}\b").sum())
    assert expected > 0
    runs = pl.read_parquet(out / "runs" / "**" / "*.parquet")
    counts = _as_dict(runs.row(0, named=True)["step_counts"])
    seconds = _as_dict(runs.row(0, named=True)["stage_seconds"])
    assert counts["long_words.kept_documents"] == expected
    assert "long_words" in seconds and "wall_long_words" in seconds
    summary = summary_markdown(record, [])
    assert f"| long_words.kept_documents | {expected} |" in summary
    assert "| long_words |" in summary


def test_story_counts_reach_runs_and_the_summary(with_toy_step):
    out, record = with_toy_step
    stories = pl.read_parquet(out / "stories" / "**" / "*.parquet")
    counts = duckdb.sql(
        f"select step_counts['stories.new'] as new, step_counts['stories.joined'] as joined, "
        f"step_counts['stories.documents'] as linked, stage_seconds['stories'] as seconds, docs_kept "
        f"from read_parquet('{out}/runs/*/*.parquet', hive_partitioning = true, hive_types = {{'drop_id': VARCHAR}})"
    ).fetchall()
    new, joined, linked, seconds, kept = counts[0]
    assert (new, joined, linked) == (stories["is_new"].sum(), 0, kept)
    assert new >= 1 and seconds is not None
    summary = summary_markdown(record, [])
    steps_table = summary.split("## Seconds per step")[1].split("## Wall seconds")[0]
    walls = summary.split("## Wall seconds per phase of the flow")[1].split("## Counts per step")[0]
    assert "| stories |" in steps_table and "wall_" not in steps_table
    assert "| stories |" in walls and "| annotate.entities |" not in walls
    assert f"| stories.new | {new} |" in summary
    assert "history.candidates" in record["step_counts"]


def write_undeclared(ctx, annotated: list) -> LongWords:
    """A toy step that writes a table it does not declare."""
    (ctx.staged("entities") / "part-toy.parquet").write_bytes(b"")
    return LongWords(StageStats())


def test_a_step_that_writes_a_table_it_does_not_declare_fails_the_run(tmp_path, monkeypatch):
    rogue = steps.Step(name="rogue", scope="drop", run=write_undeclared, inputs=lambda r: r["annotate"])
    monkeypatch.setattr(steps, "STEPS", [*steps.STEPS, rogue])
    out = tmp_path / "out"

    with pytest.raises(steps.StepContractError, match="step 'rogue' wrote entities but declares writes=()"):
        _run(_drop(tmp_path), out)

    runs = pl.read_parquet(out / "runs" / "**" / "*.parquet")
    assert runs["status"].to_list() == ["failed"] and "rogue" in runs["error"][0]
    assert not (out / "entities").exists()  # nothing committed


def test_a_step_reading_a_table_no_earlier_step_writes_stops_the_run_before_it_starts(tmp_path, monkeypatch):
    early = steps.Step(name="early", scope="drop", run=count_long_words, inputs=lambda r: None, reads=("documents",))
    monkeypatch.setattr(steps, "STEPS", [early, *steps.STEPS])

    with pytest.raises(steps.StepContractError, match="step 'early' reads documents, which no earlier step writes"):
        _run(_drop(tmp_path), tmp_path / "out")
    assert not (tmp_path / "out" / "documents").exists()


def test_runs_of_an_earlier_version_and_of_this_one_read_together_as_the_readme_does(tmp_path):
    """Run records written without step_counts (as main wrote them), then a run: every reader of the README
    sees both, and the new column."""
    from tasks.commit import run_record_table
    from tasks.write import write_parquet

    out = tmp_path / "out"
    old = {
        "run_id": "20160301T000000.000000-aaaaaaaa",
        "flow_run_id": None,
        "drop_id": "2016-03-01",
        "drop_path": "/old/2016-03-01",
        "drop_fingerprint": "f",
        "trigger": "test",
        "started_at": "2016-03-01T00:00:00+00:00",
        "finished_at": "2016-03-01T00:01:00+00:00",
        "status": "succeeded",
        "error": None,
        "files_seen": 1,
        "docs_kept": 1,
        "docs_exact_duplicate": 0,
        "docs_near_duplicate": 0,
        "files_quarantined": 0,
        "quarantine_reasons": {},
        "chars_removed": {},
        "lines_removed": {},
        "n_entities": 0,
        "n_dates": 0,
        "n_batches": 1,
        "stage_seconds": {"load": 0.5, "wall_load": 0.6},
        "versions": {"textdrops": "0.1"},
        "config_hash": "h",
        "config": "{}",
        "commit_seq": 1,
    }
    for n, drop_id in enumerate(("2016-03-01", "2016-03-02")):
        row = {**old, "drop_id": drop_id, "run_id": f"2016030{n + 1}T000000.000000-aaaaaaaa", "commit_seq": n + 1}
        table = run_record_table(row).drop_columns(["step_counts"])  # the schema an earlier version wrote
        write_parquet(table, out / "runs" / f"drop_id={drop_id}" / f"{row['run_id']}.parquet")
    (out / "_commit_seq").write_text("2")
    # the upgrade killed after its first file: the next run finishes it
    upgrade = f"from pathlib import Path; from tasks.migrations import upgrade; upgrade(Path({str(out)!r}))"
    killed = subprocess.run([sys.executable, "-c", upgrade], env={**os.environ, CRASH_ENV: "mid_runs_upgrade"})
    assert killed.returncode == -9
    upgraded = [p for p in sorted((out / "runs").glob("*/*.parquet")) if "step_counts" in pq.read_schema(p).names]
    assert len(upgraded) == 1 and layout_version(out) == 2  # migration 3 (the columns) not recorded as done

    record = _run(_drop(tmp_path), out)
    new = record["step_counts"]["stories.new"]

    polars_runs = pl.scan_parquet(
        out / "runs" / "**" / "*.parquet", hive_partitioning=True, hive_schema={"drop_id": pl.String}
    ).collect()
    assert polars_runs.height == 3
    by_drop = {r["drop_id"]: r["step_counts"] for r in polars_runs.iter_rows(named=True)}
    assert by_drop["2016-03-01"] is None and by_drop["2016-03-02"] is None
    assert _as_dict(by_drop["2016-03-15"])["stories.new"] == new
    duck = duckdb.sql(
        f"select drop_id, step_counts['stories.new'], commit_seq from read_parquet('{out}/runs/*/*.parquet', "
        "hive_partitioning = true, hive_types = {'drop_id': VARCHAR}) order by drop_id"
    ).fetchall()
    assert duck == [("2016-03-01", None, 1), ("2016-03-02", None, 2), ("2016-03-15", new, record["commit_seq"])]
    latest = duckdb.sql(f"select max(commit_seq) from read_parquet('{out}/runs/*/*.parquet')").fetchall()[0]
    assert latest == (record["commit_seq"],)  # the killed upgrade took number 3: this run committed as 4
    for path in (out / "runs").glob("*/*.parquet"):
        assert pq.read_schema(path).names == RUNS.column_names, path
    arrow = ds.dataset(out / "runs", format="parquet", partitioning="hive").to_table()
    assert arrow.num_rows == 3 and "step_counts" in arrow.column_names
    assert sorted(v is not None for v in arrow.column("step_counts").to_pylist()) == [False, False, True]


def test_the_dates_step_runs_alongside_stories_on_the_other_core(tmp_path, monkeypatch):
    """The dates of the annotated batches are extracted in a worker process while the flow's process links the
    stories: on the Prefect server, the dates task run and the stories task run overlap in time."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    from textdrops import workers

    monkeypatch.setenv("TEXTDROPS_POOL_MIN_DOCS", "1")  # this small batch runs in the worker pool, as a large one
    workers.shutdown()  # workers started now see this test's environment
    out = tmp_path / "out"
    from flows.process_drop import process_drop

    record = process_drop(drop=str(_drop(tmp_path)), out_dir=str(out), trigger="test", worker_processes=2)

    dates = pl.read_parquet(out / "dates" / "**" / "*.parquet")
    assert record["n_dates"] == dates.height > 0
    kept = pl.read_parquet(out / "documents" / "**" / "*.parquet").filter(pl.col("status") == "kept")
    assert set(dates["doc_id"]) == set(kept["doc_id"])  # every kept document of the seeds has dates
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[record["flow_run_id"]])))
    by_name = {run.name.split("-2016")[0]: run for run in runs}
    dated, linked = by_name["dates"], by_name["stories"]
    assert dated.state.is_completed() and linked.state.is_completed()
    assert dated.start_time < linked.end_time and linked.start_time < dated.end_time  # at the same time
    assert by_name["annotate"].end_time <= dated.start_time  # after the NER it reads
    workers.shutdown()
